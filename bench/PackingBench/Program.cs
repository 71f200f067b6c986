using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using GridAutomation.Core.Grid;

namespace GridAutomation.Bench
{
    /// <summary>
    /// Packing quality of the core's Pack choice (GridAutomation.Core.Grid.Packing) against first-fit and random, on the
    /// VMs of the huawei-azure-derived trace (Azure Public Dataset V1, processed), in the same run:
    ///  static:  the VMs alive at one instant, packed onto identical hosts (Pack sorted largest first, as the placement
    ///           service plans a request; first-fit and random in arrival order) vs the lower bound
    ///           max over CPU and memory of ceil(sum of demand / host capacity);
    ///  dynamic: arrivals and departures replayed in order (durations: the middle of each duration bin; censored ones run
    ///           to the end), each arrival placed online: time-weighted hosts in use vs the time-weighted bound;
    ///  speed:   10,000 workloads chosen onto 2,000 hosts.
    /// </summary>
    public static class Program
    {
        private sealed class Vm { public double Cpu, Mem; public long Start, End; }

        public static int Main(string[] args)
        {
            string dir = args.Length > 0 ? args[0] : Path.Combine("..", "shared", "fixtures", "traces", "huawei-azure-derived");
            double hostCpu = 48, hostMem = 384;
            string split = args.Length > 1 ? args[1] : "dev";
            var flavours = File.ReadAllLines(Path.Combine(dir, "maps", "flav_map.txt")).Where(l => l.Trim().Length > 0)
                .Select(l => l.Trim().Split(' ')).ToDictionary(p => p[1], p => (cpu: double.Parse(p[0].Split(',')[0], CultureInfo.InvariantCulture), mem: double.Parse(p[0].Split(',')[1], CultureInfo.InvariantCulture)));
            var bins = new Dictionary<int, (long min, long max)>();
            foreach (var l in File.ReadAllLines(Path.Combine(dir, "maps", "v1.interval_map.txt")))
            {
                var p = l.Trim().Split(' '); if (p.Length < 2) continue;
                long d = long.Parse(p[0], CultureInfo.InvariantCulture); int b = int.Parse(p[1], CultureInfo.InvariantCulture);
                bins[b] = bins.TryGetValue(b, out var r) ? (Math.Min(r.min, d), Math.Max(r.max, d)) : (d, d);
            }
            string flavFile = Directory.GetFiles(Path.Combine(dir, "traces"), $"v1.{split}.txt").Single();
            string durFile = Directory.GetFiles(Path.Combine(dir, "traces"), $"v1.{split}.c*.txt").Single();
            long censor = long.Parse(Path.GetFileNameWithoutExtension(durFile).Split('.').Last().Substring(1), CultureInfo.InvariantCulture);
            var vms = new List<Vm>();
            var fl = File.ReadAllLines(flavFile); var dl = File.ReadAllLines(durFile);
            for (int i = 0; i < fl.Length; i++)
            {
                var fp = fl[i].Split(' '); var dp = dl[i].Split(' ');
                long t = long.Parse(fp[0], CultureInfo.InvariantCulture);
                var ft = fp.Length > 1 ? fp[1].Split(',') : new string[0];
                var dt = dp.Length > 1 ? dp[1].Split(',') : new string[0];
                for (int k = 0; k < ft.Length; k++)
                {
                    if (ft[k] == "|" || ft[k].Length == 0) continue;
                    var f = flavours[ft[k]];
                    string d = dt[k];
                    long end = d[0] == 'C' ? censor : t + Math.Max(1, (bins[int.Parse(d.Substring(1), CultureInfo.InvariantCulture)].min + bins[int.Parse(d.Substring(1), CultureInfo.InvariantCulture)].max) / 2);
                    vms.Add(new Vm { Cpu = f.cpu, Mem = f.mem, Start = t, End = Math.Min(end, censor) });
                }
            }
            Console.WriteLine($"trace: {split} split, {vms.Count} VMs, censored at {censor} s; hosts {hostCpu} vCPU / {hostMem} GB");

            // ---- static -------------------------------------------------------------------------------------------
            long instant = vms.Max(v => v.Start);
            var alive = vms.Where(v => v.Start <= instant && v.End > instant).ToList();
            int bound = Bound(alive.Sum(v => v.Cpu), alive.Sum(v => v.Mem), hostCpu, hostMem);
            var sorted = alive.OrderByDescending(v => v.Cpu).ThenByDescending(v => v.Mem).ToList();
            var sw = Stopwatch.StartNew();
            int pack = StaticPack(sorted, hostCpu, hostMem, Policy.Pack, null);
            double packMs = sw.Elapsed.TotalMilliseconds;
            int ff = StaticPack(alive, hostCpu, hostMem, Policy.FirstFit, null);
            int rnd = StaticPack(alive, hostCpu, hostMem, Policy.Random, new Random(42));
            Console.WriteLine($"static @ t={instant}: {alive.Count} VMs alive, bound {bound} hosts");
            Console.WriteLine($"  Pack (core, largest first) {pack} hosts = {(double)pack / bound:0.000} x bound   ({packMs:0} ms)");
            Console.WriteLine($"  first-fit (arrival order)  {ff} hosts = {(double)ff / bound:0.000} x bound");
            Console.WriteLine($"  random (arrival order)     {rnd} hosts = {(double)rnd / bound:0.000} x bound");

            // ---- dynamic ------------------------------------------------------------------------------------------
            foreach (var p in new[] { Policy.Pack, Policy.FirstFit, Policy.Random })
            {
                var (used, lower) = Dynamic(vms, hostCpu, hostMem, p, new Random(42));
                Console.WriteLine($"dynamic {p,-8}: time-weighted hosts {used:0.0} vs bound {lower:0.0} = {used / lower:0.000} x bound");
            }

            // ---- speed --------------------------------------------------------------------------------------------
            var rng = new Random(7);
            var items = Enumerable.Range(0, 10000).Select(_ => vms[rng.Next(vms.Count)]).OrderByDescending(v => v.Cpu).ThenByDescending(v => v.Mem).ToList();
            int hosts = 2000;
            var freeC = Enumerable.Repeat(hostCpu, hosts).ToArray(); var freeM = Enumerable.Repeat(hostMem, hosts).ToArray(); var use = new bool[hosts];
            sw.Restart();
            int placed = 0;
            foreach (var v in items)
            {
                int h = Packing.ChooseHost(freeC, freeM, hostCpu, hostMem, use, v.Cpu, v.Mem);
                if (h < 0) continue;
                freeC[h] -= v.Cpu; freeM[h] -= v.Mem; use[h] = true; placed++;
            }
            Console.WriteLine($"speed: {placed} of 10000 workloads chosen onto 2000 hosts by Packing.ChooseHost in {sw.Elapsed.TotalMilliseconds:0} ms");
            return 0;
        }

        private enum Policy { Pack, FirstFit, Random }

        private static int Bound(double cpu, double mem, double hc, double hm) => (int)Math.Max(Math.Ceiling(cpu / hc - 1e-9), Math.Ceiling(mem / hm - 1e-9));

        private static int Choose(List<double> fc, List<double> fm, List<bool> used, double hc, double hm, Vm v, Policy p, Random? rnd)
        {
            switch (p)
            {
                case Policy.Pack: return Packing.ChooseHost(fc, fm, hc, hm, used, v.Cpu, v.Mem);
                case Policy.FirstFit:
                    for (int i = 0; i < fc.Count; i++) if (used[i] && fc[i] >= v.Cpu && fm[i] >= v.Mem) return i;
                    for (int i = 0; i < fc.Count; i++) if (fc[i] >= v.Cpu && fm[i] >= v.Mem) return i;
                    return -1;
                default:
                    var fits = new List<int>();
                    for (int i = 0; i < fc.Count; i++) if (used[i] && fc[i] >= v.Cpu && fm[i] >= v.Mem) fits.Add(i);
                    if (fits.Count > 0) return fits[rnd!.Next(fits.Count)];
                    for (int i = 0; i < fc.Count; i++) if (fc[i] >= v.Cpu && fm[i] >= v.Mem) return i;
                    return -1;
            }
        }

        private static int StaticPack(List<Vm> list, double hc, double hm, Policy p, Random? rnd)
        {
            var fc = new List<double>(); var fm = new List<double>(); var used = new List<bool>();
            foreach (var v in list)
            {
                int h = Choose(fc, fm, used, hc, hm, v, p, rnd);
                if (h < 0) { fc.Add(hc); fm.Add(hm); used.Add(false); h = fc.Count - 1; }
                fc[h] -= v.Cpu; fm[h] -= v.Mem; used[h] = true;
            }
            return used.Count(u => u);
        }

        /// <summary>Online replay: each arrival placed by the policy (a new host opened when none fits), departures free capacity.</summary>
        private static (double used, double bound) Dynamic(List<Vm> vms, double hc, double hm, Policy p, Random rnd)
        {
            var events = new List<(long t, int kind, int vm)>(); // kind 0 = departure first at equal times, 1 = arrival
            for (int i = 0; i < vms.Count; i++) { events.Add((vms[i].Start, 1, i)); events.Add((vms[i].End, 0, i)); }
            events.Sort((a, b) => a.t != b.t ? a.t.CompareTo(b.t) : a.kind != b.kind ? a.kind.CompareTo(b.kind) : a.vm.CompareTo(b.vm));
            var fc = new List<double>(); var fm = new List<double>(); var used = new List<bool>(); var count = new List<int>();
            var where = new int[vms.Count];
            double sumC = 0, sumM = 0, areaUsed = 0, areaBound = 0;
            int inUse = 0;
            long last = events[0].t;
            foreach (var e in events)
            {
                if (e.t > last) { areaUsed += inUse * (double)(e.t - last); areaBound += Bound(sumC, sumM, hc, hm) * (double)(e.t - last); last = e.t; }
                var v = vms[e.vm];
                if (e.kind == 1)
                {
                    int h = Choose(fc, fm, used, hc, hm, v, p, rnd);
                    if (h < 0) { h = used.IndexOf(false); if (h < 0) { fc.Add(hc); fm.Add(hm); used.Add(false); count.Add(0); h = fc.Count - 1; } }
                    fc[h] -= v.Cpu; fm[h] -= v.Mem; if (!used[h]) { used[h] = true; inUse++; } count[h]++;
                    where[e.vm] = h; sumC += v.Cpu; sumM += v.Mem;
                }
                else
                {
                    int h = where[e.vm];
                    fc[h] += v.Cpu; fm[h] += v.Mem; sumC -= v.Cpu; sumM -= v.Mem;
                    if (--count[h] == 0) { used[h] = false; inUse--; fc[h] = hc; fm[h] = hm; }
                }
            }
            return (areaUsed / 3600.0, areaBound / 3600.0);
        }
    }
}
