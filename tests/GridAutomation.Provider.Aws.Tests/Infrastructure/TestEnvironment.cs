using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>
    /// Process-wide guard rails, set before any SDK code runs: the instance metadata service is disabled, and the
    /// SDK's environment/shared-file credential and endpoint sources are pointed away from the developer's own, so
    /// every request this test process makes goes to a loopback server of ours with dummy credentials.
    /// </summary>
    internal static class TestEnvironment
    {
        public const string AccessKey = "AKIDEXAMPLELOOPBACK1";
        public const string SecretKey = "loopbackSecretKey/DoNotLog+0123456789abcd";

        [ModuleInitializer]
        internal static void Init()
        {
            NetworkGuard.Install();
            Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
            foreach (var v in new[] { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                                      "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                      "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN" })
                Environment.SetEnvironmentVariable(v, null);
            // The SDK fixes the metadata endpoint the first time it looks at it, for the whole process: point it at a
            // loopback server of ours from the start, so even an enabled lookup never leaves the machine, and the one
            // test of the instance-role path answers there.
            MetadataService = new LoopbackEc2Server(r => MetadataHandler?.Invoke(r) ?? new Ec2Response { Status = 404 });
            Environment.SetEnvironmentVariable("AWS_EC2_METADATA_SERVICE_ENDPOINT", MetadataService.Url.TrimEnd('/'));
            string empty = Path.Combine(Path.GetTempPath(), "ga-aws-tests-no-such-dir", "none");
            Environment.SetEnvironmentVariable("AWS_SHARED_CREDENTIALS_FILE", empty);
            Environment.SetEnvironmentVariable("AWS_CONFIG_FILE", empty);
        }

        /// <summary>The process's instance metadata service (loopback); answers 404 unless a test sets <see cref="MetadataHandler"/>.</summary>
        public static LoopbackEc2Server MetadataService { get; private set; } = null!;
        public static volatile Func<Ec2Request, Ec2Response>? MetadataHandler;

        public static bool RequireAll => Environment.GetEnvironmentVariable("GRIDAUTOMATION_REQUIRE_ALL") == "1";

        /// <summary>The repository root: the first parent holding src/GridAutomation.Core.</summary>
        public static string RepoRoot()
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !Directory.Exists(Path.Combine(dir.FullName, "src", "GridAutomation.Core"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Repository root not found above " + AppContext.BaseDirectory);
        }

        /// <summary>
        /// ../shared/fixtures relative to the repository root (never copied into the repo). GRIDAUTOMATION_FIXTURES
        /// overrides; a worktree nested one level deeper (e.g. /work/wt/aws) finds the nearest parent's shared/fixtures.
        /// </summary>
        public static string FixturesDir
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
                    if (Directory.Exists(candidate)) return candidate;
                }
                return first;
            }
        }

        public static string Fixture(string relative) => Path.Combine(FixturesDir, relative);

        public static async Task<AwsConnection> ConnectAsync(string url, string datacenter = "aws-test", string region = "us-east-1",
            IRetryPolicy? retry = null, IDictionary<string, string>? settings = null, bool credentials = true, List<string>? verbose = null, NetworkCredential? credential = null)
        {
            var dc = new GridDatacenter { Name = datacenter, Provider = "Aws" };
            dc.Settings["Region"] = region;
            if (url != null) dc.Settings["Endpoint"] = url;
            if (settings != null) foreach (var kv in settings) dc.Settings[kv.Key] = kv.Value;
            var secrets = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
            if (credentials) secrets["Credential"] = credential ?? new NetworkCredential(AccessKey, SecretKey);
            var req = new ProviderConnectRequest
            {
                Datacenter = dc,
                Secrets = secrets,
                Services = new ProviderServices(null!, retry ?? new NoRetry(), m => { if (verbose != null) lock (verbose) verbose.Add(m); }),
            };
            var c = (AwsConnection)await new AwsProvider().ConnectAsync(req, CancellationToken.None);
            c.PollInterval = TimeSpan.FromMilliseconds(40);
            c.LaunchVisibilityGrace = TimeSpan.FromSeconds(5);
            c.WaitTimeout = TimeSpan.FromSeconds(60);
            return c;
        }
    }

    /// <summary>A [Fact] that needs ../shared/fixtures: skipped with a reason when absent, failed under GRIDAUTOMATION_REQUIRE_ALL=1.</summary>
    public sealed class FixtureFactAttribute : FactAttribute
    {
        public FixtureFactAttribute()
        {
            string dir;
            try { dir = TestEnvironment.FixturesDir; } catch { dir = ""; }
            if (!Directory.Exists(Path.Combine(dir, "libcloud-ec2")) && !TestEnvironment.RequireAll)
                Skip = "shared/fixtures not found beside the repository (" + dir + "); set GRIDAUTOMATION_REQUIRE_ALL=1 to make this a failure.";
        }
    }

    /// <summary>The engine's stand-in when a test wants no retries at all.</summary>
    public sealed class NoRetry : IRetryPolicy
    {
        public Task<T> ExecuteAsync<T>(string datacenter, Func<CancellationToken, Task<T>> call, bool sdkRetries, CancellationToken cancellationToken) => call(cancellationToken);
    }

    /// <summary>
    /// A minimal stand-in for the engine's retry policy (the real one lives in the core/state branch): retries
    /// transient GridExceptions up to <see cref="MaxRetries"/> times unless the connection says its SDK retries.
    /// Used to prove there is exactly one retry layer.
    /// </summary>
    public sealed class CountingRetry : IRetryPolicy
    {
        public int MaxRetries { get; set; } = 4;
        public int Retries;
        public async Task<T> ExecuteAsync<T>(string datacenter, Func<CancellationToken, Task<T>> call, bool sdkRetries, CancellationToken cancellationToken)
        {
            for (int attempt = 0; ; attempt++)
            {
                try { return await call(cancellationToken); }
                catch (GridException ex) when (!sdkRetries && ex.IsTransient && attempt < MaxRetries)
                {
                    Interlocked.Increment(ref Retries);
                    await Task.Delay(10, cancellationToken);
                }
            }
        }
    }
}
