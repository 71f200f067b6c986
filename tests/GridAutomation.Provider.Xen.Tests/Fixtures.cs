using System;
using System.IO;
using Xunit;

namespace GridAutomation.Provider.Xen.Tests
{
    /// <summary>Where the recorded XAPI data lives: ../shared/fixtures/xapi beside the repository (never copied into it).</summary>
    public static class Fixtures
    {
        public static bool RequireAll => Environment.GetEnvironmentVariable("GRIDAUTOMATION_REQUIRE_ALL") == "1";

        /// <summary>The repository root: the first parent holding src/GridAutomation.Core.</summary>
        public static string RepoRoot()
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !Directory.Exists(Path.Combine(dir.FullName, "src", "GridAutomation.Core"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Repository root not found above " + AppContext.BaseDirectory);
        }

        /// <summary>../shared/fixtures relative to the repository root; GRIDAUTOMATION_FIXTURES overrides; a deeper worktree finds the nearest parent's.</summary>
        public static string Dir
        {
            get
            {
                var env = Environment.GetEnvironmentVariable("GRIDAUTOMATION_FIXTURES");
                if (!string.IsNullOrEmpty(env)) return Path.GetFullPath(env);
                string root = RepoRoot();
                string first = Path.GetFullPath(Path.Combine(root, "..", "shared", "fixtures"));
                for (var dir = new DirectoryInfo(root).Parent; dir != null; dir = dir.Parent)
                {
                    string candidate = Path.Combine(dir.FullName, "shared", "fixtures");
                    if (Directory.Exists(Path.Combine(candidate, "xapi"))) return candidate;
                }
                return first;
            }
        }

        public static string Xapi(string relative) => Path.Combine(Dir, "xapi", relative);
        public static string Datamodel => Xapi(Path.Combine("xen-api", "datamodel", "xenapi.json"));
        public static string Dump(string name) => name.StartsWith("interesting-", StringComparison.Ordinal)
            ? Xapi(Path.Combine("xenadmin", "sample-dbs", name)) : Xapi(Path.Combine("xenadmin", "dbs", name));
    }

    /// <summary>A [Fact] that needs ../shared/fixtures/xapi: skipped, naming the folder, when absent; failed under GRIDAUTOMATION_REQUIRE_ALL=1.</summary>
    public sealed class XapiFactAttribute : FactAttribute
    {
        public XapiFactAttribute()
        {
            string dir;
            try { dir = Path.Combine(Fixtures.Dir, "xapi"); } catch { dir = "../shared/fixtures/xapi"; }
            if (!Directory.Exists(dir) && !Fixtures.RequireAll)
                Skip = "XAPI fixtures not found: " + dir + " (../shared/fixtures/xapi beside the repository); set GRIDAUTOMATION_REQUIRE_ALL=1 to make this a failure.";
        }
    }

    public sealed class XapiTheoryAttribute : TheoryAttribute
    {
        public XapiTheoryAttribute() { Skip = new XapiFactAttribute().Skip; }
    }
}
