using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using Xunit;
using Xunit.Abstractions;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// Az.Accounts and GridAutomation in ONE pwsh session, all the way to successful calls: another Azure.Core is loaded
    /// first (into the default load context, as Az.Accounts does), then the built module is imported and the Azure
    /// provider connects, lists with power state and deallocates a VM over loopback HTTPS. The pwsh child inherits this
    /// process's SSL_CERT_FILE, so it trusts the test CA exactly as the SDK here does.
    /// </summary>
    public sealed class CoexistenceTests
    {
        private readonly ITestOutputHelper _out;
        public CoexistenceTests(ITestOutputHelper output) { _out = output; }

        [ChildModuleFact]
        public async Task AnotherAzureCoreLoadedFirst_OneSession_ConnectsListsAndDeallocates()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using (var c = await Harness.ConnectAsync(sim))
            {
                foreach (var name in new[] { "coex-a", "coex-b" })
                    await c.CreateWorkloadAsync(Harness.Create(name), new TestScope(name), Harness.Ct());
            }
            int before = server.Requests.Count;

            string other = ModuleLayout.OtherAzureCore();
            string root = ModuleLayout.RepoRoot!;
            string temp = Path.Combine(Path.GetTempPath(), "gridaz-coex-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(temp);
            try
            {
                string script = $@"
$ErrorActionPreference = 'Stop'
$other = [Reflection.Assembly]::LoadFrom('{other}')
Import-Module '{Path.Combine(root, "GridAutomation.psd1")}'
Connect-GridDatacenter -Provider Azure -Name coex -SubscriptionId {ArmSimulator.Subscription} -Location {ArmSimulator.Location} -ResourceGroupName {Harness.Rg} -ArmEndpoint '{sim.ArmEndpoint}' -AccessToken '{ArmSimulator.CallerToken}' | Out-Null
$w = @(Get-GridWorkload -Datacenter coex | Sort-Object Name)
'LISTED=' + (($w | ForEach-Object {{ $_.Name + ':' + $_.State }}) -join ',')
Get-GridWorkload -Datacenter coex -Name coex-a | Stop-GridWorkload -Confirm:$false
'AFTER=' + (Get-GridWorkload -Datacenter coex -Name coex-a).State
'OTHER=' + $other.GetName().Version + '|' + [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($other).Name
foreach ($a in [AppDomain]::CurrentDomain.GetAssemblies()) {{
    if ($a.GetName().Name -eq 'Azure.Core' -and -not [object]::ReferenceEquals($a, $other)) {{
        'OURS=' + $a.GetName().Version + '|' + [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($a).Name + '|' + $a.Location
    }}
}}
'DONE'
";
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = root };
                foreach (var a in new[] { "pwsh", "-NoProfile", "-NonInteractive", "-Command", script }) psi.ArgumentList.Add(a);
                psi.Environment["GRIDAUTOMATION_STATE"] = Path.Combine(temp, "state.db");
                psi.Environment["GRIDAUTOMATION_CONFIG"] = Path.Combine(temp, "config.json");
                psi.Environment["NO_COLOR"] = "1";
                psi.Environment["POWERSHELL_TELEMETRY_OPTOUT"] = "1";
                psi.Environment["POWERSHELL_UPDATECHECK"] = "Off";
                foreach (var v in new[] { "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID" })
                    psi.Environment.Remove(v);
                var output = new StringBuilder();
                using var p = new Process { StartInfo = psi };
                p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
                p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
                p.Start(); p.BeginOutputReadLine(); p.BeginErrorReadLine();
                if (!p.WaitForExit((int)TimeSpan.FromMinutes(3).TotalMilliseconds)) { p.Kill(true); Assert.Fail("pwsh did not finish in 3 minutes:\n" + output); }
                p.WaitForExit();
                string text; lock (output) text = output.ToString();
                _out.WriteLine(text);

                Assert.True(p.ExitCode == 0, "pwsh exited " + p.ExitCode + ":\n" + text);
                Assert.DoesNotMatch("FileLoadException|MissingMethodException|TypeLoadException|InvalidCastException", text);
                Assert.Contains("LISTED=coex-a:Running,coex-b:Running", text);
                Assert.Contains("AFTER=Deallocated", text);
                Assert.Matches(@"OTHER=1\.36\.0\.0\|Default", text);
                Assert.Contains("|GridAutomation|" + Path.Combine(root, "Dependencies", "Azure.Core.dll"), text);
                Assert.Contains("DONE", text);
                // The session's calls reached our server with the caller's token (nothing else answered them).
                var session = server.Requests.Skip(before).ToList();
                Assert.Contains(session, r => r.Method == "POST" && r.Path.EndsWith("/virtualMachines/coex-a/deallocate", StringComparison.OrdinalIgnoreCase));
                Assert.All(session, r => Assert.Equal("Bearer " + ArmSimulator.CallerToken, r.Authorization));
                Assert.Equal("deallocated", sim.PowerOf(ArmSimulator.VmId(Harness.Rg, "coex-a")));
            }
            finally
            {
                try { Directory.Delete(temp, true); } catch (IOException) { }
            }
        }
    }

    /// <summary>Where the built module and "Az.Accounts' Azure.Core" are.</summary>
    internal static class ModuleLayout
    {
        /// <summary>The repository root holding the built module (GridAutomation.dll and Dependencies/ beside the manifest), or null.</summary>
        public static string? RepoRoot
        {
            get
            {
                for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
                    if (File.Exists(Path.Combine(d.FullName, "GridAutomation.psd1")) && Directory.Exists(Path.Combine(d.FullName, "src", "GridAutomation.Core")))
                        return d.FullName;
                return null;
            }
        }

        public static string? MissingReason
        {
            get
            {
                var root = RepoRoot;
                if (root == null) return "the repository root was not found above " + AppContext.BaseDirectory;
                foreach (var f in new[] { "GridAutomation.dll", "GridAutomation.Loader.dll", Path.Combine("Dependencies", "Azure.Core.dll") })
                    if (!File.Exists(Path.Combine(root, f))) return "the module is not built (" + Path.Combine(root, f) + " is missing): run ./build.ps1 -Task Build";
                return null;
            }
        }

        /// <summary>Azure.Core 1.36.0 from the NuGet cache (this project downloads it; never referenced).</summary>
        public static string OtherAzureCore()
        {
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env ? env
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            string dll = Path.Combine(cache, "azure.core", "1.36.0", "lib", "net6.0", "Azure.Core.dll");
            Assert.True(File.Exists(dll), "Azure.Core 1.36.0 is not in the NuGet cache: " + dll);
            return dll;
        }
    }

    /// <summary>A child-process fact that needs the built module: skipped with the reason without it, failed under GRIDAUTOMATION_REQUIRE_ALL=1.</summary>
    public sealed class ChildModuleFactAttribute : FactAttribute
    {
        public ChildModuleFactAttribute()
        {
            if (!ChildEnvironment.IsChild)
                Skip = "Runs only in the HTTPS child process started by GridAutomation.Provider.Azure.Tests (needs SSL_CERT_FILE at process start).";
            else if (ModuleLayout.MissingReason is string why && Environment.GetEnvironmentVariable("GRIDAUTOMATION_REQUIRE_ALL") != "1")
                Skip = why + "; set GRIDAUTOMATION_REQUIRE_ALL=1 to make this a failure.";
        }
    }
}
