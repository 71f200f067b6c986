using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.VSphere;
using GridAutomation.Providers.VSphere.Vim25;

// Benchmark (not a test): lists the VMs of a simulated vCenter with N VMs through our provider (and through the
// engine that Get-GridWorkload calls), and with govmomi's view.Manager + property.Collector (our Go peer), in the
// same run against the same simulator. Prints times, the ratio ours/peer, our HTTP round trips and time to first object.
//   dotnet run -c Release -- --vms 10000 --runs 5 --root <repo>
internal static class Program
{
    private const string User = "bench", Password = "bench-pass";

    private static async Task<int> Main(string[] args)
    {
        int vms = IntArg(args, "--vms", 10000), runs = IntArg(args, "--runs", 5);
        string root = StrArg(args, "--root") ?? FindRoot();
        string sim = Path.Combine(root, "tests", "vcsim", "bin", "gridvcsim");
        string peer = Path.Combine(root, "tests", "vcsim", "bin", "vsphere-inventory-peer");
        if (!File.Exists(sim) || !File.Exists(peer)) { Console.Error.WriteLine("Build the simulator and the peer first: tests/GridAutomation.Provider.VSphere.Tests/setup.sh"); return 2; }

        Console.WriteLine($"Starting the simulator with {vms} VMs (1 cluster of 4 hosts)...");
        var sw = Stopwatch.StartNew();
        using var simProc = StartSimulator(sim, vms, out var url);
        Console.WriteLine($"Simulator ready at {url} after {sw.Elapsed.TotalSeconds:0.0} s");

        // --- ours, provider level ---
        var req = new ProviderConnectRequest
        {
            Datacenter = new GridDatacenter { Name = "bench", Provider = "VSphere" },
            Secrets = new Dictionary<string, object> { ["Credential"] = new NetworkCredential(User, Password) },
            Services = null!,
        };
        req.Datacenter.Settings["Server"] = url;
        using var conn = (VSphereConnection)await new VSphereProvider().ConnectAsync(req, CancellationToken.None);
        var cold = await ListOnce(conn);
        Console.WriteLine($"ours, first (cold) listing: {cold.Item1:0.0} ms, {cold.Item3} HTTP round trips (VM pages + host inventory + tagging: category and tag lists, associations)");
        for (int i = 0; i < 2; i++) await ListOnce(conn); // more warm-up (JIT tiers), as in a warm session
        // Interleaved with the peer (its own process: login and a warm-up listing untimed, then one timed listing),
        // so both see the same load on this shared machine.
        var ours = new List<(double Total, double First, long Trips, int Count)>();
        var peerTimes = new List<double>(); int peerCount = 0;
        for (int i = 0; i < runs; i++)
        {
            var (pc, pBest, _) = RunPeer(peer, url, 1);
            peerCount = pc; peerTimes.Add(pBest);
            ours.Add(await ListOnce(conn));
        }
        double peerBest = peerTimes.Min(), peerMedian = Median(peerTimes);
        Console.WriteLine($"peer (govmomi view.Manager + property.Collector, CreateContainerView + RetrievePropertiesEx + DestroyView): {peerCount} VMs, best {peerBest:0.0} ms, median {peerMedian:0.0} ms");
        Console.WriteLine("  peer runs (ms): " + string.Join(", ", peerTimes.Select(t => t.ToString("0"))));
        Console.WriteLine("  ours runs (total/first ms): " + string.Join(", ", ours.Select(r => $"{r.Total:0}/{r.First:0}")));
        double oursBest = ours.Min(r => r.Total), oursMedian = Median(ours.Select(r => r.Total));
        Console.WriteLine($"ours (VSphereConnection.ListWorkloadsAsync, page 1000): {ours[0].Count} VMs, best {oursBest:0.0} ms, median {oursMedian:0.0} ms, " +
                          $"first object after {Median(ours.Select(r => r.First)):0.0} ms (median), HTTP round trips per listing {ours[0].Trips}");

        // --- ours, through the engine (what Get-GridWorkload -Datacenter calls) ---
        double engineBest = double.NaN, engineMedian = double.NaN, engineFirst = double.NaN;
        string stateDir = Directory.CreateTempSubdirectory("vsphere-bench-").FullName;
        try
        {
            ProviderRegistry.Register(new VSphereProvider());
            var cfg = new GridConfiguration { StatePath = Path.Combine(stateDir, "state.db") };
            var engine = GridEngine.Get(cfg, false);
            await engine.ConnectDatacenterAsync("VSphere", "bench", null, null, new Dictionary<string, string> { ["Server"] = url },
                new Dictionary<string, object> { ["Credential"] = new NetworkCredential(User, Password) }, NullObserver.Instance, CancellationToken.None);
            await EngineOnce(engine);
            var er = new List<(double Total, double First, int Count)>();
            for (int i = 0; i < runs; i++) er.Add(await EngineOnce(engine));
            engineBest = er.Min(r => r.Total); engineMedian = Median(er.Select(r => r.Total)); engineFirst = Median(er.Select(r => r.First));
            Console.WriteLine($"ours through GridEngine.GetWorkloadsAsync (Get-GridWorkload's path, no PowerShell): {er[0].Count} VMs, best {engineBest:0.0} ms, median {engineMedian:0.0} ms, first object after {engineFirst:0.0} ms");
            await engine.DisconnectDatacenterAsync("bench", CancellationToken.None);
            GridEngine.Reset();
        }
        catch (Exception ex) { Console.WriteLine("engine run skipped: " + ex.GetBaseException().Message); }
        finally { try { Directory.Delete(stateDir, true); } catch { } }

        // --- where our time goes: the server's answer (one page here: the simulator ignores maxObjects) vs our parse + mapping ---
        {
            var view = await conn.Vim.CreateContainerViewAsync(conn.Vim.Content.RootFolder, new[] { "VirtualMachine" }, CancellationToken.None);
            var paths = GridAutomation.Providers.VSphere.VSphereMapping.VmPaths(conn.Vim.Content.ApiVersion, false);
            var hosts = new Dictionary<GridAutomation.Providers.VSphere.Vim25.MoRef, GridAutomation.Providers.VSphere.HostInfo>();
            var server = new List<double>(); var parse = new List<double>();
            for (int i = 0; i < runs; i++)
            {
                var t0 = Stopwatch.StartNew();
                var reader = await conn.Vim.RetrievePropertiesExAsync(new GridAutomation.Providers.VSphere.Vim25.FilterSpec { Root = view, ViaView = true }.Add("VirtualMachine", paths), 1000, CancellationToken.None);
                server.Add(t0.Elapsed.TotalMilliseconds);
                var t1 = Stopwatch.StartNew();
                int n = 0;
                using (reader) while (reader.Next(out var oc)) { GridAutomation.Providers.VSphere.VSphereMapping.ToWorkload(oc, "bench", hosts, null); n++; }
                parse.Add(t1.Elapsed.TotalMilliseconds);
            }
            // The same answer parsed again from memory (CPU only, best of the runs).
            var raw = await conn.Vim.PostAsync("RetrievePropertiesEx", conn.Vim.Content.PropertyCollector, w =>
            {
                new FilterSpec { Root = view, ViaView = true }.Add("VirtualMachine", paths).Write(w);
                w.WriteStartElement("options"); w.WriteElementString("maxObjects", "1000"); w.WriteEndElement();
            }, CancellationToken.None);
            byte[] bytes = raw.ToArray();
            var mem = new List<double>();
            for (int i = 0; i < Math.Max(runs, 5); i++)
            {
                var t = Stopwatch.StartNew();
                using var rr = new RetrieveResultReader(new System.IO.MemoryStream(bytes), "RetrievePropertiesEx");
                while (rr.Next(out var oc)) GridAutomation.Providers.VSphere.VSphereMapping.ToWorkload(oc, "bench", hosts, null);
                mem.Add(t.Elapsed.TotalMilliseconds);
            }
            try { await conn.Vim.DestroyViewAsync(view, CancellationToken.None); } catch (GridException) { }
            Console.WriteLine($"  breakdown (median): server answer + transfer {Median(server):0.0} ms, our XML parse + mapping {Median(parse):0.0} ms ({Median(parse) * 1000 / vms:0.0} us per VM); " +
                              $"from memory, best: {mem.Min():0.0} ms for {bytes.Length / 1048576.0:0.0} MB of XML");
        }

        // --- Get-GridWorkload in a warm pwsh session, when the module's cmdlets exist ---
        string? module = FindModule(root);
        if (module == null) Console.WriteLine("Get-GridWorkload: skipped (no built module: GridAutomation.psd1 at the repo root or under out/, or GRIDAUTOMATION_TEST_MODULE)");
        double pwshBest = module == null ? double.NaN : RunPwsh(root, module, url, runs);

        Console.WriteLine();
        Console.WriteLine($"RESULT vms={vms} peer_ms={peerBest:0.0} ours_ms={oursBest:0.0} ratio_ours_over_peer={oursBest / peerBest:0.00} (median ratio {oursMedian / peerMedian:0.00}) " +
                          $"round_trips={ours[0].Trips} first_object_ms={Median(ours.Select(r => r.First)):0.0} engine_ms={engineBest:0.0} engine_ratio={engineBest / peerBest:0.00} " +
                          $"pwsh_ms={pwshBest:0.0} pwsh_ratio={pwshBest / peerBest:0.00}");
        return 0;
    }

    private static async Task<(double, double, long, int)> ListOnce(VSphereConnection c)
    {
        long trips = c.RoundTrips;
        var sw = Stopwatch.StartNew();
        double first = -1; int count = 0;
        await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery { PageSize = 1000 }, CancellationToken.None))
        {
            if (first < 0 && page.Count > 0) first = sw.Elapsed.TotalMilliseconds;
            count += page.Count;
        }
        return (sw.Elapsed.TotalMilliseconds, first, c.RoundTrips - trips, count);
    }

    private static async Task<(double, double, int)> EngineOnce(GridEngine e)
    {
        var sw = Stopwatch.StartNew();
        double first = -1; int count = 0;
        await foreach (var r in e.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { "bench" } }, NullObserver.Instance, CancellationToken.None))
        {
            if (r.IsError) throw r.Error!;
            if (first < 0) first = sw.Elapsed.TotalMilliseconds;
            count++;
        }
        return (sw.Elapsed.TotalMilliseconds, first, count);
    }

    private static Process StartSimulator(string path, int vms, out string url)
    {
        var psi = new ProcessStartInfo(path) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-cluster", "1", "-host", "4", "-standalone-host", "0", "-vm", vms.ToString(CultureInfo.InvariantCulture), "-templates", "0", "-username", User, "-password", Password })
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        string? line;
        while ((line = p.StandardOutput.ReadLine()) != null && !line.StartsWith("URL ", StringComparison.Ordinal)) { }
        if (line == null) throw new InvalidOperationException("the simulator did not start");
        url = line.Substring(4).Trim();
        return p;
    }

    private static (int, double, double) RunPeer(string peer, string url, int runs)
    {
        var psi = new ProcessStartInfo(peer) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-url", url, "-user", User, "-pass", Password, "-warmup", "1", "-repeat", runs.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var line = output.Split('\n').First(l => l.StartsWith("PEER "));
        var kv = line.Substring(5).Split(' ').Select(x => x.Split('=')).ToDictionary(x => x[0], x => x[1]);
        return (int.Parse(kv["count"]), double.Parse(kv["ms"], CultureInfo.InvariantCulture), double.Parse(kv["median"], CultureInfo.InvariantCulture));
    }

    private static double RunPwsh(string root, string module, string url, int runs)
    {
        string script = $@"
$ErrorActionPreference = 'Stop'
$env:GRIDAUTOMATION_STATE = Join-Path ([IO.Path]::GetTempPath()) ('vsphere-bench-' + [guid]::NewGuid() + '.db')
Import-Module '{module}'
if ('{module}'.EndsWith('.dll')) {{ Update-FormatData -PrependPath '{Path.Combine(root, "GridAutomation.Format.ps1xml")}' -ErrorAction SilentlyContinue }}
$cred = [pscredential]::new('{User}', (ConvertTo-SecureString '{Password}' -AsPlainText -Force))
$null = Connect-GridDatacenter -Provider VSphere -Name bench -Server '{url}' -Credential $cred
$null = (Get-GridWorkload -Datacenter bench | Measure-Object).Count
$times = foreach ($i in 1..{runs}) {{ (Measure-Command {{ $script:n = (Get-GridWorkload -Datacenter bench | Measure-Object).Count }}).TotalMilliseconds }}
$first = foreach ($i in 1..{runs}) {{ $sw = [Diagnostics.Stopwatch]::StartNew(); $null = Get-GridWorkload -Datacenter bench | Select-Object -First 1; $sw.Elapsed.TotalMilliseconds }}
'PWSH count={{0}} best={{1:0.0}} median={{2:0.0}} first={{3:0.0}}' -f $n, ($times | Measure-Object -Minimum).Minimum, (($times | Sort-Object)[[int]($times.Count/2)]), (($first | Sort-Object)[[int]($first.Count/2)])
";
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = root };
        foreach (var a in new[] { "pwsh", "-NoProfile", "-NonInteractive", "-Command", script }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd(), err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("PWSH "));
        Console.WriteLine(line != null ? "Get-GridWorkload -Datacenter (warm pwsh, count only): " + line.Substring(5).Trim() + " (ms)" : "Get-GridWorkload: failed: " + (err + output).Trim());
        if (line == null) return double.NaN;
        var best = line.Split(' ').FirstOrDefault(x => x.StartsWith("best="));
        return best != null && double.TryParse(best.Substring(5), NumberStyles.Float, CultureInfo.InvariantCulture, out var b) ? b : double.NaN;
    }

    private static string? FindModule(string root)
    {
        string? given = Environment.GetEnvironmentVariable("GRIDAUTOMATION_TEST_MODULE");
        if (!string.IsNullOrEmpty(given) && File.Exists(given)) return given;
        if (File.Exists(Path.Combine(root, "GridAutomation.psd1"))) return Path.Combine(root, "GridAutomation.psd1");
        foreach (var dir in new[] { Path.Combine(root, "out"), Path.Combine(root, "src", "GridAutomation", "bin") })
        {
            if (!Directory.Exists(dir)) continue;
            var psd1 = Directory.GetFiles(dir, "GridAutomation.psd1", SearchOption.AllDirectories).OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
            if (psd1 != null) return psd1;
        }
        return null;
    }

    private static double Median(IEnumerable<double> xs) { var a = xs.OrderBy(x => x).ToArray(); return a[a.Length / 2]; }
    private static int IntArg(string[] a, string n, int d) { int i = Array.IndexOf(a, n); return i >= 0 && i + 1 < a.Length ? int.Parse(a[i + 1], CultureInfo.InvariantCulture) : d; }
    private static string? StrArg(string[] a, string n) { int i = Array.IndexOf(a, n); return i >= 0 && i + 1 < a.Length ? a[i + 1] : null; }
    private static string FindRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d != null && !Directory.Exists(Path.Combine(d.FullName, "tests", "vcsim"))) d = d.Parent;
        return d?.FullName ?? Directory.GetCurrentDirectory();
    }
}
