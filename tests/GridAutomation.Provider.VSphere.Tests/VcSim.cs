using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.VSphere;
using GridAutomation.Providers.VSphere.Vim25;
using Xunit;

namespace GridAutomation.Provider.VSphere.Tests
{
    /// <summary>
    /// Our govmomi-based vCenter simulator (tests/vcsim, built by setup.sh), started per test on 127.0.0.1 with a
    /// random port and stopped on Dispose (its stdin is closed; killed if it lingers).
    /// </summary>
    public sealed class VcSim : IDisposable
    {
        public const string User = "grid-admin";
        public const string Password = "S3cret-Pa55!";
        private readonly Process _p;

        private VcSim(Process p, Uri url) { _p = p; Url = url; }
        public Uri Url { get; }

        public static string RepoRoot
        {
            get
            {
                var d = new DirectoryInfo(AppContext.BaseDirectory);
                while (d != null && !Directory.Exists(Path.Combine(d.FullName, "tests", "vcsim"))) d = d.Parent;
                return d?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
            }
        }

        public static string BinaryPath => Path.Combine(RepoRoot, "tests", "vcsim", "bin", "gridvcsim");
        public static string PeerPath => Path.Combine(RepoRoot, "tests", "vcsim", "bin", "vsphere-inventory-peer");

        /// <summary>Why the simulator cannot run here (null when it can).</summary>
        public static string? MissingReason =>
            File.Exists(BinaryPath) ? null : $"the vCenter simulator is not built ({BinaryPath}): run tests/GridAutomation.Provider.VSphere.Tests/setup.sh";

        public static VcSim Start(params string[] args)
        {
            if (MissingReason != null) throw new InvalidOperationException(MissingReason);
            var psi = new ProcessStartInfo(BinaryPath)
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            psi.ArgumentList.Add("-username"); psi.ArgumentList.Add(User);
            psi.ArgumentList.Add("-password"); psi.ArgumentList.Add(Password);
            foreach (var a in args) psi.ArgumentList.Add(a);
            var p = Process.Start(psi)!;
            var stderr = new System.Text.StringBuilder();
            p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) stderr.AppendLine(e.Data); };
            p.BeginErrorReadLine();
            var lineTask = Task.Run(() =>
            {
                string? line;
                while ((line = p.StandardOutput.ReadLine()) != null)
                    if (line.StartsWith("URL ", StringComparison.Ordinal)) return line.Substring(4).Trim();
                return null;
            });
            if (!lineTask.Wait(TimeSpan.FromSeconds(120)) || lineTask.Result == null)
            {
                try { p.Kill(true); } catch { }
                throw new InvalidOperationException("the simulator did not start: " + stderr);
            }
            return new VcSim(p, new Uri(lineTask.Result));
        }

        public static ProviderConnectRequest Request(Uri url, string name = "vs", string user = User, string password = Password, IDictionary<string, string>? settings = null, ProviderServices? services = null)
        {
            var dc = new GridDatacenter { Name = name, Provider = "VSphere" };
            dc.Settings["Server"] = url.ToString();
            if (url.Scheme == "http") dc.Settings["AllowInsecureHttp"] = "True"; // the loopback simulator speaks plain http
            if (settings != null) foreach (var kv in settings) dc.Settings[kv.Key] = kv.Value;
            return new ProviderConnectRequest
            {
                Datacenter = dc,
                Secrets = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase) { ["Credential"] = new NetworkCredential(user, password) },
                Services = services!,
            };
        }

        public async Task<VSphereConnection> ConnectAsync(string name = "vs", IDictionary<string, string>? settings = null)
            => (VSphereConnection)await new VSphereProvider().ConnectAsync(Request(Url, name, settings: settings), new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);

        /// <summary>The local folders behind the simulator's datastores (where imports land as files).</summary>
        internal static async Task<List<string>> DatastoreFoldersAsync(VSphereConnection c)
        {
            var ct = new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;
            var view = await c.Vim.CreateContainerViewAsync(c.Vim.Content.RootFolder, new[] { "Datastore" }, ct);
            var all = await c.Vim.RetrieveAllAsync(new FilterSpec { Root = view, ViaView = true }.Add("Datastore", "info.url"), ct);
            return all.Select(o => o.Text("info.url")!).Where(Directory.Exists).ToList();
        }

        public void Dispose()
        {
            try { _p.StandardInput.Close(); } catch { }
            if (!_p.WaitForExit(5000)) { try { _p.Kill(true); } catch { } }
            _p.Dispose();
        }
    }

    /// <summary>A fact that needs the simulator: skipped with the reason when it is not built, FAILS instead when GRIDAUTOMATION_REQUIRE_ALL=1.</summary>
    public sealed class SimulatorFactAttribute : FactAttribute
    {
        public SimulatorFactAttribute()
        {
            if (VcSim.MissingReason != null && Environment.GetEnvironmentVariable("GRIDAUTOMATION_REQUIRE_ALL") != "1")
                Skip = VcSim.MissingReason;
        }
    }
}
