using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using GridAutomation.Provider.Xen.Tests.Server;
using Xunit;

namespace GridAutomation.Provider.Xen.Tests
{
    /// <summary>A [Fact] that needs node and npm xen-api 4.7.6 (installed by setup.sh): skipped with the reason when absent, failed under GRIDAUTOMATION_REQUIRE_ALL=1.</summary>
    public sealed class XenApiNodeFactAttribute : FactAttribute
    {
        public XenApiNodeFactAttribute()
        {
            Skip = new XapiFactAttribute().Skip;
            if (Skip != null || Fixtures.RequireAll) return;
            string module = Path.Combine(NodeConformanceTests.NodeDir, "node_modules", "xen-api", "package.json");
            if (!File.Exists(module))
                Skip = "npm xen-api 4.7.6 not installed at " + module + ": run tests/GridAutomation.Provider.Xen.Tests/setup.sh (build.ps1 -Task Test does, as root).";
        }
    }

    /// <summary>
    /// Keeps the fake XAPI honest about the wire protocol: Xen Orchestra's own client (npm xen-api, by Vates) logs in,
    /// introspects (system.listMethods), runs its event loop (event.inject / event.from), lists VMs and follows an
    /// Async.VM.start task to completion through events — all against the server our provider tests use.
    /// </summary>
    public class NodeConformanceTests
    {
        public static string NodeDir => Path.Combine(Fixtures.RepoRoot(), "tests", "GridAutomation.Provider.Xen.Tests", "node");

        [XenApiNodeFact]
        public Task XenOrchestraClient_LogsIn_Lists_AndRunsAsyncStart_AgainstOurServer() => RunAsync(json: true);

        /// <summary>A pool without /jsonrpc: the client's auto transport falls back to XML-RPC (at /xmlrpc) and does it all again.</summary>
        [XenApiNodeFact]
        public Task XenOrchestraClient_OverXmlRpc_WhenThePoolHasNoJsonRpc() => RunAsync(json: false);

        private static async Task RunAsync(bool json)
        {
            string module = Path.Combine(NodeDir, "node_modules", "xen-api", "package.json");
            Assert.True(File.Exists(module), "npm xen-api is not installed at " + module + " (tests/GridAutomation.Provider.Xen.Tests/setup.sh installs it)");
            using (var pkg = JsonDocument.Parse(File.ReadAllText(module))) Assert.Equal("4.7.6", pkg.RootElement.GetProperty("version").GetString());

            using var server = FakeXapi.FromFixture("small_vms.xml"); // one host of 8 GiB, two Halted guests
            server.JsonRpcEnabled = json;
            var psi = new ProcessStartInfo("node")
            {
                WorkingDirectory = NodeDir,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { "conformance.mjs", server.Url, server.User, server.Password }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            var exited = await Task.WhenAny(p.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(90)));
            if (!p.HasExited) { p.Kill(true); Assert.Fail("node did not finish in 90 s: " + await stderr); }
            string line = (await stdout).Trim().Split('\n').Last();
            Assert.True(p.ExitCode == 0, $"node exited {p.ExitCode}: {line}\n{await stderr}");

            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            Assert.True(r.GetProperty("connected").GetBoolean());
            Assert.Equal("", r.GetProperty("pool").GetString()); // small_vms.xml: pool name_label '(empty)'
            Assert.Equal(2, r.GetProperty("vmCount").GetInt32()); // SOURCES.md: guest VMs 2: 2 Halted
            Assert.Equal(2, r.GetProperty("cachedVmCount").GetInt32()); // the same through the event-fed cache
            Assert.Equal(new[] { "Halted", "Halted" }, r.GetProperty("states").EnumerateArray().Select(e => e.GetString()).ToArray());
            Assert.Equal("Running", r.GetProperty("powerState").GetString());
            Assert.Equal("VM_BAD_POWER_STATE", r.GetProperty("secondStartError").GetString());
            Assert.Equal(new[] { "halted", "running" }, r.GetProperty("secondStartParams").EnumerateArray().Skip(1).Select(e => e.GetString()).ToArray());

            string uuid = r.GetProperty("started").GetString()!;
            var vm = server.Db["VM"].Values.Single(v => (string?)v["uuid"] == uuid);
            Assert.Equal("Running", vm["power_state"]);
            foreach (var m in new[] { "session.login_with_password", "pool.get_all_records", "system.listMethods", "event.inject", "event.from", "Async.VM.start", "VM.get_all_records", "task.destroy" })
                Assert.True(server.Count(m) > 0, m + " was not called; calls: " + string.Join(", ", server.Calls.Distinct()));
            if (json) Assert.All(server.Protocols, pr => Assert.Equal("json", pr));
            else
            {
                Assert.Equal(new[] { "json-refused" }, server.Protocols.Where(pr => pr != "xml").Distinct().ToArray());
                Assert.True(server.Protocols.Count(pr => pr == "xml") > 60, "the XO client did not go on in XML-RPC");
            }
        }
    }
}
