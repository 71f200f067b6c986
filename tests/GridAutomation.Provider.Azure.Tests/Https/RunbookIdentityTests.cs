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
    /// Issue 18: the example runbooks run as Azure Automation runs them (`pwsh -NonInteractive -NoProfile -File`, stdin
    /// closed, the module imported by name from a folder on PSModulePath) against the loopback ARM endpoint, logging in
    /// with the Automation account's managed identity: IDENTITY_ENDPOINT / IDENTITY_HEADER point at the simulator's
    /// token endpoint, as Automation sets them in a job's sandbox. The datacenter is registered beforehand with a
    /// caller-held token, which is never stored, so the runbook's process can reach ARM only through -ManagedIdentity.
    /// </summary>
    public sealed class RunbookIdentityTests
    {
        private readonly ITestOutputHelper _out;
        public RunbookIdentityTests(ITestOutputHelper output) { _out = output; }

        [ChildModuleFact]
        public async Task Runbooks_WithManagedIdentity_StopTheDevWorkloads_AndExportTheShowback()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using (var c = await Harness.ConnectAsync(sim))
            {
                foreach (var (name, env) in new[] { ("rb-dev-a", "dev"), ("rb-dev-b", "dev"), ("rb-prod", "prod") })
                {
                    var req = Harness.Create(name);
                    req.Tags["env"] = env;
                    await c.CreateWorkloadAsync(req, new TestScope(name), Harness.Ct());
                }
            }

            string root = ModuleLayout.RepoRoot!;
            string temp = Path.Combine(Path.GetTempPath(), "gridaz-rb-" + Guid.NewGuid().ToString("N"));
            string modules = Path.Combine(temp, "modules"), showback = Path.Combine(temp, "showback");
            Directory.CreateDirectory(modules);
            Directory.CreateDirectory(showback);
            // The module folder named as the module, as Automation extracts an imported package.
            Directory.CreateSymbolicLink(Path.Combine(modules, "GridAutomation"), root);
            try
            {
                var reg = RunPwsh(root, temp, modules, identityEndpoint: null, "-Command",
                    $"Import-Module GridAutomation; Connect-GridDatacenter -Provider Azure -Name az-rb -Owner Contoso -SubscriptionId {ArmSimulator.Subscription} -Location {ArmSimulator.Location} -ResourceGroupName {Harness.Rg} -ArmEndpoint '{sim.ArmEndpoint}' -AccessToken '{ArmSimulator.CallerToken}' | Out-Null; 'REGISTERED'");
                Assert.True(reg.ExitCode == 0 && reg.Output.Contains("REGISTERED"), "registration failed:\n" + reg.Output + reg.Error);
                int before = server.Requests.Count;

                var stop = RunPwsh(root, temp, modules, identityEndpoint: server.BaseUrl + "/msi/token", "-File", Path.Combine(root, "docs", "runbooks", "Stop-GridDevWorkloads.ps1"), "-ManagedIdentity", "-DetailedLog");
                Assert.True(stop.ExitCode == 0, "Stop-GridDevWorkloads.ps1 exited " + stop.ExitCode + ":\n" + stop.Output + stop.Error);
                Assert.True(string.IsNullOrWhiteSpace(stop.Error), stop.Error);
                Assert.Contains("VERBOSE: Reconnecting 'az-rb' with the managed identity.", stop.Output);
                Assert.Contains("VERBOSE: 2 running workload(s) tagged env=dev", stop.Output);
                Assert.Contains("rb-dev-a", stop.Output);
                Assert.DoesNotContain("rb-prod", stop.Output);
                // Stop-GridWorkload's default stop deallocates on Azure.
                Assert.Equal("deallocated", sim.PowerOf(ArmSimulator.VmId(Harness.Rg, "rb-dev-a")));
                Assert.Equal("deallocated", sim.PowerOf(ArmSimulator.VmId(Harness.Rg, "rb-dev-b")));
                Assert.Equal("running", sim.PowerOf(ArmSimulator.VmId(Harness.Rg, "rb-prod")));

                string month = DateTime.UtcNow.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
                var show = RunPwsh(root, temp, modules, identityEndpoint: server.BaseUrl + "/msi/token", "-File", Path.Combine(root, "docs", "runbooks", "Send-GridShowback.ps1"),
                    "-ManagedIdentity", "-Month", month, "-OutputDirectory", showback, "-DetailedLog");
                Assert.True(show.ExitCode == 0, "Send-GridShowback.ps1 exited " + show.ExitCode + ":\n" + show.Output + show.Error);
                Assert.Contains("VERBOSE: Observed 'az-rb': 3 workload(s)", show.Output);
                string csv = Path.Combine(showback, "showback-" + month + ".csv");
                Assert.True(File.Exists(csv), "no " + csv + ":\n" + show.Output);
                Assert.Contains("BilledCost", File.ReadLines(csv).First());
                Assert.True(File.Exists(Path.Combine(showback, "showback-" + month + ".html")));

                // Every ARM call of the two runbooks carried a managed-identity token, got from the identity
                // endpoint with Automation's header; the caller's token of the registration was not kept anywhere.
                var calls = server.Requests.Skip(before).ToList();
                Assert.Contains(calls, r => r.Path == "/msi/token");
                Assert.Contains(calls, r => r.Method == "POST" && r.Path.EndsWith("/virtualMachines/rb-dev-a/deallocate", StringComparison.OrdinalIgnoreCase));
                Assert.All(calls.Where(r => r.Path.StartsWith("/subscriptions", StringComparison.OrdinalIgnoreCase)), r => Assert.StartsWith("Bearer tok-mi", r.Authorization));
                Assert.Contains(sim.TokenRequests, t => t.StartsWith("mi", StringComparison.Ordinal));
                foreach (var f in Directory.GetFiles(temp, "*", SearchOption.TopDirectoryOnly))
                    Assert.DoesNotContain(ArmSimulator.CallerToken, File.ReadAllText(f));
            }
            finally
            {
                try { Directory.Delete(Path.Combine(modules, "GridAutomation")); } catch (IOException) { }
                try { Directory.Delete(temp, true); } catch (IOException) { }
            }
        }

        /// <summary>A fresh pwsh (the repository's local tool) with stdin closed and the sandbox's environment.</summary>
        private (int ExitCode, string Output, string Error) RunPwsh(string root, string temp, string modules, string? identityEndpoint, params string[] args)
        {
            var psi = new ProcessStartInfo("dotnet")
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = root,
            };
            foreach (var a in new[] { "pwsh", "-NonInteractive", "-NoProfile" }.Concat(args)) psi.ArgumentList.Add(a);
            psi.Environment["GRIDAUTOMATION_STATE"] = Path.Combine(temp, "state.db");
            psi.Environment["GRIDAUTOMATION_CONFIG"] = Path.Combine(temp, "config.json");
            psi.Environment["PSModulePath"] = modules;
            psi.Environment["NO_COLOR"] = "1";
            psi.Environment["POWERSHELL_TELEMETRY_OPTOUT"] = "1";
            psi.Environment["POWERSHELL_UPDATECHECK"] = "Off";
            foreach (var v in new[] { "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID" })
                psi.Environment.Remove(v);
            if (identityEndpoint != null)
            {
                // What Azure Automation sets in a job's sandbox (the App Service managed-identity protocol).
                psi.Environment["IDENTITY_ENDPOINT"] = identityEndpoint;
                psi.Environment["IDENTITY_HEADER"] = ArmSimulator.IdentityHeader;
            }
            var output = new StringBuilder();
            var error = new StringBuilder();
            using var p = new Process { StartInfo = psi };
            p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
            p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (error) error.AppendLine(e.Data); };
            p.Start();
            p.StandardInput.Close();
            p.BeginOutputReadLine(); p.BeginErrorReadLine();
            if (!p.WaitForExit((int)TimeSpan.FromMinutes(4).TotalMilliseconds)) { p.Kill(true); Assert.Fail("pwsh did not finish in 4 minutes (a prompt?):\n" + output + error); }
            p.WaitForExit();
            string o, e2;
            lock (output) o = output.ToString();
            lock (error) e2 = error.ToString();
            _out.WriteLine("> pwsh " + string.Join(" ", args.Select(a => a.Length > 80 ? a.Substring(0, 80) + "..." : a)));
            _out.WriteLine(o);
            _out.WriteLine(e2);
            return (p.ExitCode, o, e2);
        }
    }
}
