using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Core.Grid
{
    /// <summary>
    /// Placement: candidates (every host of every datacenter of the pool; a cloud datacenter is one candidate without
    /// host capacity) → filter (requirement, agreement and quota, anti-affinity, capacity) → score by policy → (when
    /// creating) reserve in the store, checked against what the plan saw, then create. Planning changes nothing.
    /// </summary>
    public sealed partial class GridService
    {
        public const string AntiAffinityTag = "GridAntiAffinity";

        /// <summary>What the planner saw of one datacenter.</summary>
        internal sealed class DcView
        {
            public GridDatacenter Dc = null!;
            public List<Cand> Hosts = new List<Cand>();
            public IReadOnlyList<GridSize> Sizes = Array.Empty<GridSize>();
            public List<GridWorkload> Workloads = new List<GridWorkload>();
            public string? Error;
        }

        /// <summary>One candidate: a host with known capacity, or a cloud datacenter (Host null, unlimited within agreements).</summary>
        internal sealed class Cand
        {
            public DcView View = null!;
            public GridHost? Host;
            public double FreeCpu = double.PositiveInfinity, FreeMemMB = double.PositiveInfinity, TotalCpu, TotalMemMB;
            public bool Known => Host != null && Host.CpuCores.HasValue && Host.MemoryMB.HasValue;
            public int Placed;
            public HashSet<string> SeenKeys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            public string Label => View.Dc.Name + "/" + (Host?.Name ?? "-");
        }

        /// <summary>A computed plan: the placements, and what the reservations are checked against.</summary>
        public sealed class PlacementPlan
        {
            public IReadOnlyList<GridPlacement> Placements { get; internal set; } = Array.Empty<GridPlacement>();
            internal HashSet<string> OwnKeys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            internal Dictionary<string, HashSet<string>> Seen = new Dictionary<string, HashSet<string>>(StringComparer.OrdinalIgnoreCase);
            internal PlacementRequest Request = null!;
        }

        /// <summary>Plans every workload of the request together (largest first) without changing anything.</summary>
        public async Task<PlacementPlan> PlanAsync(PlacementRequest request, IEngineObserver observer, CancellationToken ct)
        {
            if (request.Workloads.Count == 0) throw GridException.InvalidRequest("Nothing to place: give -Name, or -Count with -NamePrefix.", "NothingToPlace");
            var requirement = string.IsNullOrWhiteSpace(request.Requirement) ? null : Requirement.Parse(request.Requirement!);
            foreach (var w in request.Workloads)
            {
                NameRules.ValidateWorkloadName(w.Name);
                NameRules.ValidateTags(w.Tags, w.Name);
                GridEngine.RefuseOwnerTag(w.Tags, w.Name);
                if (request.AntiAffinity != null) w.Tags[AntiAffinityTag] = request.AntiAffinity; // how later placements see the group
                if (string.IsNullOrEmpty(w.Owner))
                    throw GridException.InvalidRequest($"'{w.Name}': placement across datacenters needs the workload's -Owner (the company that uses and pays for it), so agreements can be applied.", "OwnerRequired", w.Name);
                if (w.Size == null && (w.Cpu == null || w.MemoryMB == null))
                    throw GridException.InvalidRequest($"'{w.Name}': give -Size, or -Cpu and -MemoryGB, so its capacity can be placed.", "InvalidSize", w.Name);
                if (w.Cpu <= 0 || w.MemoryMB <= 0) throw GridException.InvalidRequest("-Cpu and -MemoryGB must be more than 0.", "InvalidSize", w.Name);
            }
            var dupe = request.Workloads.GroupBy(w => w.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
            if (dupe != null) throw GridException.Conflict($"'{dupe.Key}' is named twice in this request: one workload is created per name.", "WorkloadNameExists", dupe.Key);

            IReadOnlyList<GridDatacenter> dcs;
            PlacementPolicy policy = request.Policy ?? PlacementPolicy.Pack;
            if (request.Pool != null)
            {
                var pool = GetPool(request.Pool);
                dcs = ResolvePool(pool);
                policy = request.Policy ?? pool.Policy;
            }
            else dcs = _engine.GetDatacenters(request.Datacenters);
            if (dcs.Count == 0) throw GridException.NotFound("The pool names no registered datacenter now (its patterns match none).", "PoolEmpty", request.Pool);

            var views = await Task.WhenAll(dcs.Select(d => ViewAsync(d, observer, ct))).ConfigureAwait(false);
            var agreements = GetAgreements();
            var reservations = Ready() ? Store.Read(s => GridData.LiveReservations(s, dcs.Select(d => d.Name))) : new List<GridData.Reservation>();
            var plan = new PlacementPlan { Request = request };

            // Pending reservations (creates of other commands not yet listed) take capacity; the plan remembers which it saw.
            var listedKeys = new HashSet<string>(views.SelectMany(v => v.Workloads).Where(w => w.State != WorkloadState.Deleted).Select(w => GridData.Key(w.Datacenter, w.Name)), StringComparer.OrdinalIgnoreCase);
            var cands = views.SelectMany(v => v.Hosts).ToList();
            foreach (var c in cands)
            {
                foreach (var r in reservations.Where(r => string.Equals(r.Datacenter, c.View.Dc.Name, StringComparison.OrdinalIgnoreCase)
                                                          && string.Equals(r.Host, c.Host?.Name, StringComparison.OrdinalIgnoreCase)))
                {
                    c.SeenKeys.Add(r.Key);
                    if (!listedKeys.Contains(r.Key) && c.Known) { c.FreeCpu -= r.Cpu; c.FreeMemMB -= r.MemoryMB; }
                }
                plan.Seen[c.Label] = c.SeenKeys;
            }

            // Quota use per (agreement, consumer): listed capacity-holding workloads in the covered datacenters + pending reservations.
            var quotaUse = new Dictionary<string, (int count, int cpu, long mem)>(StringComparer.OrdinalIgnoreCase);
            (int count, int cpu, long mem) Use(GridAgreement a)
            {
                if (quotaUse.TryGetValue(a.Id, out var u)) return u;
                var covered = views.Where(v => string.Equals(v.Dc.Owner, a.Owner, StringComparison.OrdinalIgnoreCase) && Wildcard.IsMatch(v.Dc.Name, a.Datacenter)).ToList();
                var mine = covered.SelectMany(v => v.Workloads).Where(w => HoldsCapacity(w.State) && string.Equals(w.Owner, a.Consumer, StringComparison.OrdinalIgnoreCase)).ToList();
                u = (mine.Count, mine.Sum(w => w.CpuCount ?? 0), mine.Sum(w => w.MemoryMB ?? 0));
                foreach (var r in reservations.Where(r => string.Equals(r.Consumer, a.Consumer, StringComparison.OrdinalIgnoreCase) && !listedKeys.Contains(r.Key)
                                                          && covered.Any(v => string.Equals(v.Dc.Name, r.Datacenter, StringComparison.OrdinalIgnoreCase))))
                { u.count++; u.cpu += r.Cpu; u.mem += r.MemoryMB; }
                quotaUse[a.Id] = u;
                return u;
            }

            // Anti-affinity: the group's members per host and per datacenter (existing, then planned).
            var groupHosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var groupDcs = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            if (request.AntiAffinity != null)
                foreach (var w in views.SelectMany(v => v.Workloads))
                    if (w.State != WorkloadState.Deleted && w.Tags.ContainsKey(AntiAffinityTag)
                        && string.Equals(Convert.ToString(w.Tags[AntiAffinityTag], CultureInfo.InvariantCulture), request.AntiAffinity, StringComparison.OrdinalIgnoreCase))
                    { groupDcs.Add(w.Datacenter); if (w.Host != null) groupHosts.Add(w.Datacenter + "/" + w.Host); }

            var now = DateTimeOffset.UtcNow;
            var results = new Dictionary<WorkloadSpec, GridPlacement>();
            // Largest first (CPU, then memory): bin packing over the whole request.
            Demand Size(WorkloadSpec w) => DemandIn(w, w.Size == null ? null : views.FirstOrDefault(v => v.Sizes.Any(s => string.Equals(s.Name, w.Size, StringComparison.OrdinalIgnoreCase))));
            var order = request.Workloads.Select((w, i) => (w, i, d: Size(w))).OrderByDescending(x => x.d.Cpu).ThenByDescending(x => x.d.MemoryMB).ThenBy(x => x.i).Select(x => x.w).ToList();
            foreach (var spec in order)
            {
                var p = new GridPlacement { Name = spec.Name, Owner = spec.Owner, Size = spec.Size, Policy = policy, Spec = spec };
                var feasible = new List<(Cand c, Demand d, GridAgreement? a, decimal? price)>();
                var eliminated = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
                foreach (var v in views.Where(v => v.Error != null))
                {
                    p.Rejected.Add(new GridPlacementRejection { Datacenter = v.Dc.Name, Constraint = "Unavailable", Reason = v.Error! });
                    eliminated["Unavailable"] = eliminated.TryGetValue("Unavailable", out var e0) ? e0 + 1 : 1;
                }
                foreach (var c in cands)
                {
                    var d = DemandIn(spec, c.View);
                    string? constraint = null, reason = null;
                    GridAgreement? agreement = null;
                    bool foreign = !string.IsNullOrEmpty(c.View.Dc.Owner) && !string.Equals(c.View.Dc.Owner, spec.Owner, StringComparison.OrdinalIgnoreCase);
                    if (foreign) agreement = Choose(agreements, c.View.Dc.Owner, spec.Owner, c.View.Dc.Name, now);
                    decimal? price = PriceFor(spec, c.View, d, agreement);
                    if (spec.Size != null && c.View.Sizes.Count > 0 && !c.View.Sizes.Any(s => string.Equals(s.Name, spec.Size, StringComparison.OrdinalIgnoreCase)))
                    { constraint = "Size"; reason = $"the datacenter offers no size '{spec.Size}'"; }
                    else if (requirement != null && !requirement.Evaluate(n => Property(n, c, spec, price)))
                    { constraint = "Requirement"; reason = $"does not meet {requirement.Text}"; }
                    else if (foreign && agreement == null)
                    { constraint = "Agreement"; reason = $"NoAgreement: {c.View.Dc.Owner} lends '{c.View.Dc.Name}' to {spec.Owner} under no agreement in force"; }
                    else if (agreement != null && QuotaLimit(agreement, Use(agreement), d) is string limit)
                    { constraint = "Quota"; reason = $"AgreementQuotaExceeded: agreement {agreement.Id} {limit}"; }
                    else if (request.AntiAffinity != null && (request.AntiAffinityScope == AntiAffinityScope.Datacenter ? groupDcs.Contains(c.View.Dc.Name) : c.Host != null && groupHosts.Contains(c.View.Dc.Name + "/" + c.Host.Name)))
                    { constraint = "AntiAffinity"; reason = $"a workload of group '{request.AntiAffinity}' is already on this {(request.AntiAffinityScope == AntiAffinityScope.Datacenter ? "datacenter" : "host")}"; }
                    else if (c.Known && (c.FreeCpu < d.Cpu || c.FreeMemMB < d.MemoryMB))
                    { constraint = "Capacity"; reason = $"needs {d.Cpu} CPU / {d.MemoryMB / 1024.0:0.##} GB, {Math.Max(0, c.FreeCpu):0} CPU / {Math.Max(0, c.FreeMemMB) / 1024.0:0.##} GB free"; }
                    if (constraint != null)
                    {
                        p.Rejected.Add(new GridPlacementRejection { Datacenter = c.View.Dc.Name, Host = c.Host?.Name, Constraint = constraint, Reason = reason! });
                        double cap = c.Known ? Math.Max(0, c.FreeCpu) : 1;
                        eliminated[constraint] = (eliminated.TryGetValue(constraint, out var e) ? e : 0) + Math.Max(cap, 1);
                        continue;
                    }
                    feasible.Add((c, d, agreement, price));
                }
                if (feasible.Count == 0)
                {
                    var worst = eliminated.OrderByDescending(kv => kv.Value).FirstOrDefault();
                    p.Fits = false;
                    p.Eliminated = worst.Key;
                    var example = p.Rejected.FirstOrDefault(r => r.Constraint == worst.Key);
                    p.Reason = worst.Key == null ? "no candidate" : $"fits nowhere: {worst.Key} eliminated the most capacity ({p.Rejected.Count(r => r.Constraint == worst.Key)} of {p.Rejected.Count} candidates; e.g. {example})";
                    var sample = DemandIn(spec, null);
                    p.Cpu = sample.Cpu; p.MemoryGB = sample.MemoryMB / 1024.0;
                    results[spec] = p;
                    continue;
                }
                var best = Best(feasible, policy);
                var chosen = best.c;
                p.Fits = true;
                p.Datacenter = chosen.View.Dc.Name; p.Provider = chosen.View.Dc.Provider; p.Host = chosen.Host?.Name;
                p.Cpu = best.d.Cpu; p.MemoryGB = best.d.MemoryMB / 1024.0; p.PricePerHour = best.price; p.AgreementId = best.a?.Id;
                p.Reason = Explain(policy, best, feasible.Count);
                // What this placement takes, for the ones planned after it.
                if (chosen.Known) { chosen.FreeCpu -= best.d.Cpu; chosen.FreeMemMB -= best.d.MemoryMB; }
                chosen.Placed++;
                if (best.a != null) { var u = Use(best.a); quotaUse[best.a.Id] = (u.count + 1, u.cpu + best.d.Cpu, u.mem + best.d.MemoryMB); }
                if (request.AntiAffinity != null) { groupDcs.Add(chosen.View.Dc.Name); if (chosen.Host != null) groupHosts.Add(chosen.View.Dc.Name + "/" + chosen.Host.Name); }
                plan.OwnKeys.Add(GridData.Key(chosen.View.Dc.Name, spec.Name));
                results[spec] = p;
            }
            plan.Placements = request.Workloads.Select(w => results[w]).ToList();
            return plan;
        }

        private async Task<DcView> ViewAsync(GridDatacenter dc, IEngineObserver observer, CancellationToken ct)
        {
            var v = new DcView { Dc = dc };
            try
            {
                if ((dc.Capabilities & GridCapabilities.Create) == 0 && dc.Capabilities != GridCapabilities.None)
                {
                    v.Error = $"{dc.Provider} datacenter '{dc.Name}' cannot create workloads";
                    return v;
                }
                var conn = await _engine.GetConnectionAsync(dc.Name, observer, ct).ConfigureAwait(false);
                var hosts = await _engine.Retry.ExecuteAsync(dc.Name, conn.ListHostsAsync, conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                v.Sizes = await _engine.Retry.ExecuteAsync(dc.Name, conn.ListSizesAsync, conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                v.Workloads = await _engine.ListDatacenterWorkloadsAsync(dc, observer, ct).ConfigureAwait(false);
                var known = hosts.Where(h => h.CpuCores.HasValue && h.MemoryMB.HasValue).ToList();
                foreach (var h in known)
                {
                    if (h.State != HostState.Connected) continue;
                    v.Hosts.Add(new Cand
                    {
                        View = v, Host = h, TotalCpu = h.CpuCores!.Value, TotalMemMB = h.MemoryMB!.Value,
                        FreeCpu = h.CpuCores.Value - (h.AllocatedCpu ?? 0), FreeMemMB = h.MemoryMB.Value - (h.AllocatedMemoryMB ?? 0),
                    });
                }
                // A cloud (no host capacity known): one candidate, unlimited within agreements, chosen by requirement and price.
                if (known.Count == 0) v.Hosts.Add(new Cand { View = v });
            }
            catch (OperationCanceledException) { throw; }
            catch (Exception ex) { v.Error = GridEngine.Normalize(ex, dc.Name).Message; v.Hosts.Clear(); }
            return v;
        }

        private static Demand DemandIn(WorkloadSpec spec, DcView? view)
        {
            var d = new Demand { Cpu = spec.Cpu ?? 0, MemoryMB = spec.MemoryMB ?? 0 };
            if (spec.Size != null)
            {
                GridSize? s = view?.Sizes.FirstOrDefault(x => string.Equals(x.Name, spec.Size, StringComparison.OrdinalIgnoreCase));
                if (s != null) { d.Cpu = spec.Cpu ?? s.CpuCount ?? 0; d.MemoryMB = spec.MemoryMB ?? s.MemoryMB ?? 0; }
            }
            return d;
        }

        /// <summary>The price per hour for this owner: the agreement's where it names one, else the size's (by name, or the one of this exact shape); null = unknown.</summary>
        private static decimal? PriceFor(WorkloadSpec spec, DcView v, Demand d, GridAgreement? a)
        {
            var ap = a?.PricePerHour(d.Cpu, d.MemoryMB / 1024.0);
            if (ap != null) return ap;
            var size = spec.Size != null
                ? v.Sizes.FirstOrDefault(s => string.Equals(s.Name, spec.Size, StringComparison.OrdinalIgnoreCase))
                : v.Sizes.Where(s => s.CpuCount == d.Cpu && s.MemoryMB == d.MemoryMB).OrderBy(s => s.PricePerHour ?? decimal.MaxValue).FirstOrDefault();
            return size?.PricePerHour;
        }

        private static object? Property(string name, Cand c, WorkloadSpec spec, decimal? price)
        {
            switch (name)
            {
                case "Provider": return c.View.Dc.Provider;
                case "Owner": return c.View.Dc.Owner;
                case "Site": return c.View.Dc.Site;
                case "Datacenter": return c.View.Dc.Name;
                case "Cluster": return c.Host?.Cluster;
                case "Host": return c.Host?.Name;
                case "FreeCpu": return c.Known ? Math.Max(0, c.FreeCpu) : (object?)null;
                case "FreeMemoryGB": return c.Known ? Math.Max(0, c.FreeMemMB) / 1024.0 : (object?)null;
                case "Price": return price;
            }
            if (name.StartsWith("Tag.", StringComparison.Ordinal))
            {
                string key = name.Substring(4);
                if (c.Host != null && c.Host.Properties.TryGetValue(key, out var hv) && hv != null) return Convert.ToString(hv, CultureInfo.InvariantCulture);
                if (c.View.Dc.Settings.TryGetValue(key, out var dv)) return dv;
            }
            return null;
        }

        internal static string? QuotaLimit(GridAgreement a, (int count, int cpu, long mem) use, Demand d)
        {
            if (a.MaxWorkloads is int mw && use.count + 1 > mw) return $"MaxWorkloads {mw}: {use.count} in use, this needs 1 more";
            if (a.MaxCpu is int mc && use.cpu + d.Cpu > mc) return $"MaxCpu {mc}: {use.cpu} in use, this needs {d.Cpu} more";
            if (a.MaxMemoryGB is double mm && (use.mem + d.MemoryMB) / 1024.0 > mm + 1e-9)
                return $"MaxMemoryGB {mm.ToString("0.###", CultureInfo.InvariantCulture)}: {(use.mem / 1024.0).ToString("0.###", CultureInfo.InvariantCulture)} GB in use, this needs {(d.MemoryMB / 1024.0).ToString("0.###", CultureInfo.InvariantCulture)} GB more";
            return null;
        }

        /// <summary>Ranks the feasible candidates. Pack and Spread act on hosts of known capacity (clouds after them); Cheapest by price, unknown last.</summary>
        private static (Cand c, Demand d, GridAgreement? a, decimal? price) Best(List<(Cand c, Demand d, GridAgreement? a, decimal? price)> feasible, PlacementPolicy policy)
        {
            double After(Cand c, Demand d) => !c.Known ? double.PositiveInfinity
                : Packing.Remaining(c.FreeCpu, c.FreeMemMB, c.TotalCpu, c.TotalMemMB, d.Cpu, d.MemoryMB);
            IOrderedEnumerable<(Cand c, Demand d, GridAgreement? a, decimal? price)> q;
            switch (policy)
            {
                case PlacementPolicy.Spread:
                    q = feasible.OrderBy(x => x.c.Known ? 0 : 1).ThenByDescending(x => x.c.Known ? After(x.c, x.d) : 0).ThenBy(x => x.price ?? decimal.MaxValue);
                    break;
                case PlacementPolicy.Cheapest:
                    q = feasible.OrderBy(x => x.price.HasValue ? 0 : 1).ThenBy(x => x.price ?? 0).ThenBy(x => x.c.Known ? 0 : 1).ThenBy(x => After(x.c, x.d));
                    break;
                default: // Pack: the fullest host that still fits, preferring hosts already in use
                    q = feasible.OrderBy(x => x.c.Known ? 0 : 1).ThenBy(x => IsUsed(x.c) ? 0 : 1).ThenBy(x => After(x.c, x.d)).ThenBy(x => x.price ?? decimal.MaxValue);
                    break;
            }
            return q.ThenBy(x => x.c.Label, StringComparer.OrdinalIgnoreCase).First();
        }

        private static bool IsUsed(Cand c) => c.Placed > 0 || (c.Known && c.FreeCpu < c.TotalCpu);

        private static string Explain(PlacementPolicy policy, (Cand c, Demand d, GridAgreement? a, decimal? price) best, int feasible)
        {
            string under = best.a != null ? $" under agreement {best.a.Id}" : " (own datacenter)";
            string price = best.price.HasValue ? best.price.Value.ToString("0.####", CultureInfo.InvariantCulture) + "/h" : "price unknown";
            if (!best.c.Known) return $"{policy}: cloud datacenter, no host capacity to pack; {price}{under}; {feasible} candidates fit";
            switch (policy)
            {
                case PlacementPolicy.Spread: return $"Spread: least loaded host ({best.c.FreeCpu:0} CPU free before); {price}{under}; {feasible} candidates fit";
                case PlacementPolicy.Cheapest: return $"Cheapest: {price}{under}; {feasible} candidates fit";
                default: return $"Pack: fullest host that fits ({best.c.FreeCpu:0} CPU free before); {price}{under}; {feasible} candidates fit";
            }
        }
    }
}
