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
            /// <summary>A cloud region's provider quotas (IQuotaCapacity); empty = unlimited within agreements.</summary>
            public IReadOnlyList<GridQuota> Quotas = Array.Empty<GridQuota>();
            public string? Error;
        }

        /// <summary>One candidate: a host with known capacity, or a cloud datacenter (Host null, unlimited within agreements).</summary>
        internal sealed class Cand
        {
            public DcView View = null!;
            public GridHost? Host;
            public double FreeCpu = double.PositiveInfinity, FreeMemMB = double.PositiveInfinity, TotalCpu, TotalMemMB;
            public bool Known => Host != null && Host.CpuCores.HasValue && Host.MemoryMB.HasValue;
            public int ViewIndex;
            private string? _label;
            public string Label => _label ??= View.Dc.Name + "/" + (Host?.Name ?? "-");
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

            var phase = System.Diagnostics.Stopwatch.StartNew();
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

            // The workloads of a datacenter are listed only where a filter reads them (WorkloadsNeeded): listing every
            // workload of a pool on every call was most of the time of a one-workload plan.
            var agreements = GetAgreements();
            var now = DateTimeOffset.UtcNow;
            var reservations = Ready() ? Store.Read(s => GridData.LiveReservations(s, dcs.Select(d => d.Name))) : new List<GridData.Reservation>();
            var needed = WorkloadsNeeded(request, dcs, agreements, reservations, now);
            var tStore = phase.Elapsed; phase.Restart();
            // Each datacenter on its own task: a provider that answers synchronously (the simulator reads the store
            // in-process) would otherwise be listed one datacenter after the other.
            var views = await Task.WhenAll(dcs.Select(d => Task.Run(() => ViewAsync(d, needed.Contains(d.Name), observer, ct), ct))).ConfigureAwait(false);
            var tList = phase.Elapsed; phase.Restart();
            var plan = new PlacementPlan { Request = request };
            var pl = new Planner { Views = views, Request = request, Requirement = requirement, Agreements = agreements, Now = now };
            pl.Prepare();
            var cands = new List<Cand>();
            pl.ViewStart = new int[views.Length]; pl.ViewEnd = new int[views.Length];
            for (int vi = 0; vi < views.Length; vi++)
            {
                pl.ViewStart[vi] = cands.Count;
                foreach (var c in views[vi].Hosts) { c.ViewIndex = vi; cands.Add(c); }
                pl.ViewEnd[vi] = cands.Count;
            }
            pl.Cands = cands.ToArray();

            // Pending reservations (creates of other commands not yet listed) take capacity; the plan remembers which it saw.
            var listedKeys = new HashSet<string>(views.SelectMany(v => v.Workloads).Where(w => w.State != WorkloadState.Deleted).Select(w => GridData.Key(w.Datacenter, w.Name)), StringComparer.OrdinalIgnoreCase);
            // Only hosts with reservations are looked at (and remembered in plan.Seen; a host missing there saw none).
            if (reservations.Count > 0)
            {
                var byHost = reservations.ToLookup(r => r.Datacenter + "/" + (r.Host ?? "-"), StringComparer.OrdinalIgnoreCase);
                foreach (var c in pl.Cands)
                {
                    if (!byHost.Contains(c.Label)) continue;
                    var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                    foreach (var r in byHost[c.Label])
                    {
                        seen.Add(r.Key);
                        if (!listedKeys.Contains(r.Key) && c.Known) { c.FreeCpu -= r.Cpu; c.FreeMemMB -= r.MemoryMB; }
                    }
                    plan.Seen[c.Label] = seen;
                }
            }

            // Quota use per agreement before this plan: listed capacity-holding workloads in the covered datacenters + pending reservations.
            var baseUse = new Dictionary<string, (int count, int cpu, long mem)>(StringComparer.OrdinalIgnoreCase);
            pl.BaseUse = a =>
            {
                if (baseUse.TryGetValue(a.Id, out var u)) return u;
                var covered = views.Where(v => string.Equals(v.Dc.Owner, a.Owner, StringComparison.OrdinalIgnoreCase) && Wildcard.IsMatch(v.Dc.Name, a.Datacenter)).ToList();
                var mine = covered.SelectMany(v => v.Workloads).Where(w => HoldsCapacity(w.State) && string.Equals(w.Owner, a.Consumer, StringComparison.OrdinalIgnoreCase)).ToList();
                u = (mine.Count, mine.Sum(w => w.CpuCount ?? 0), mine.Sum(w => w.MemoryMB ?? 0));
                foreach (var r in reservations.Where(r => string.Equals(r.Consumer, a.Consumer, StringComparison.OrdinalIgnoreCase) && !listedKeys.Contains(r.Key)
                                                          && covered.Any(v => string.Equals(v.Dc.Name, r.Datacenter, StringComparison.OrdinalIgnoreCase))))
                { u.count++; u.cpu += r.Cpu; u.mem += r.MemoryMB; }
                baseUse[a.Id] = u;
                return u;
            };

            var st = new PlanState
            {
                FreeCpu = pl.Cands.Select(c => c.FreeCpu).ToArray(), FreeMemMB = pl.Cands.Select(c => c.FreeMemMB).ToArray(),
                Placed = new int[pl.Cands.Length], TakenCpu = new double[pl.Cands.Length], GroupHost = new bool[pl.Cands.Length],
            };
            // Anti-affinity: the group's existing members per host and per datacenter (planned ones are added as they are placed).
            if (request.AntiAffinity != null)
            {
                var groupHosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                foreach (var w in views.SelectMany(v => v.Workloads))
                    if (w.State != WorkloadState.Deleted && w.Tags.ContainsKey(AntiAffinityTag)
                        && string.Equals(Convert.ToString(w.Tags[AntiAffinityTag], CultureInfo.InvariantCulture), request.AntiAffinity, StringComparison.OrdinalIgnoreCase))
                    { st.GroupDcs.Add(w.Datacenter); if (w.Host != null) groupHosts.Add(w.Datacenter + "/" + w.Host); }
                for (int i = 0; i < pl.Cands.Length; i++) st.GroupHost[i] = pl.Cands[i].Host != null && groupHosts.Contains(pl.Cands[i].Label);
            }
            pl.Initial = st.Clone();
            pl.Index(st);
            var tIndex = phase.Elapsed; phase.Restart();

            var results = new Dictionary<WorkloadSpec, GridPlacement>();
            int unavailable = views.Count(v => v.Error != null);
            var facts = new ViewFacts[views.Length];
            int kinds = Enum.GetValues(typeof(Constraint)).Length;
            var counted = new int[kinds]; var capacity = new double[kinds]; var firstRejected = new int[kinds];
            // Largest first (CPU, then memory): bin packing over the whole request.
            Demand Size(WorkloadSpec w) => DemandIn(w, w.Size == null ? null : views.FirstOrDefault(v => v.Sizes.Any(s => string.Equals(s.Name, w.Size, StringComparison.OrdinalIgnoreCase))));
            var order = request.Workloads.Select((w, i) => (w, i, d: Size(w))).OrderByDescending(x => x.d.Cpu).ThenByDescending(x => x.d.MemoryMB).ThenBy(x => x.i).Select(x => x.w).ToList();
            foreach (var spec in order)
            {
                var p = new GridPlacement { Name = spec.Name, Owner = spec.Owner, Size = spec.Size, Policy = policy, Spec = spec };
                int choicesBefore = pl.Choices.Count;
                var specForReasons = spec;
                p.RejectedSource = () => pl.Rejections(specForReasons, choicesBefore);
                Array.Clear(counted, 0, counted.Length); Array.Clear(capacity, 0, capacity.Length);
                for (int k = 0; k < firstRejected.Length; k++) firstRejected[k] = -1;
                if (unavailable > 0) { counted[(int)Constraint.Unavailable] = unavailable; capacity[(int)Constraint.Unavailable] = unavailable; }
                int best = -1, feasible = 0; double bestAfter = 0; decimal? bestPrice = null; ViewFacts? bestFacts = null;
                for (int vi = 0; vi < views.Length; vi++)
                {
                    if (pl.ViewStart[vi] == pl.ViewEnd[vi]) continue;
                    var f = facts[vi] = pl.Facts(spec, vi, st);
                    // One evaluation per bucket of alike hosts, represented by its host first in label order.
                    foreach (var b in pl.Buckets[vi].Values)
                    {
                        int i = pl.CandOfRank(b.ByRank.Min), n = b.ByIndex.Count;
                        var k = pl.Check(i, f, st);
                        if (k != Constraint.None)
                        {
                            int ki = (int)k, first = b.ByIndex.Min;
                            counted[ki] += n;
                            if (firstRejected[ki] < 0 || first < firstRejected[ki]) firstRejected[ki] = first;
                            capacity[ki] += n * Math.Max(pl.Cands[i].Known ? Math.Max(0, st.FreeCpu[i]) : 1, 1);
                            continue;
                        }
                        feasible += n;
                        double after = pl.After(i, f.D, st);
                        if (best < 0 || pl.Compare(policy, i, after, f.Price, best, bestAfter, bestPrice, st) < 0)
                        { best = i; bestAfter = after; bestPrice = f.Price; bestFacts = f; }
                    }
                }
                if (best < 0)
                {
                    // The constraint that eliminated the most capacity (a tie goes to the one met first: Unavailable, then candidate order).
                    Constraint worst = Constraint.None;
                    var seenOrder = Enumerable.Range(0, kinds).Where(k => counted[k] > 0)
                        .OrderBy(k => k == (int)Constraint.Unavailable ? -1 : firstRejected[k]).Select(k => (Constraint)k);
                    foreach (var k in seenOrder) if (worst == Constraint.None || capacity[(int)k] > capacity[(int)worst]) worst = k;
                    int total = counted.Sum();
                    p.Fits = false;
                    if (worst == Constraint.None) p.Reason = "no candidate";
                    else
                    {
                        p.Eliminated = worst.ToString();
                        string example;
                        if (worst == Constraint.Unavailable)
                        {
                            var down = views.First(v => v.Error != null);
                            example = new GridPlacementRejection { Datacenter = down.Dc.Name, Constraint = p.Eliminated, Reason = down.Error! }.ToString();
                        }
                        else example = pl.Rejection(firstRejected[(int)worst], worst, facts[pl.ViewOf(firstRejected[(int)worst])], st).ToString();
                        p.Reason = $"fits nowhere: {worst} eliminated the most capacity ({counted[(int)worst]} of {total} candidates; e.g. {example})";
                    }
                    var sample = DemandIn(spec, null);
                    p.Cpu = sample.Cpu; p.MemoryGB = sample.MemoryMB / 1024.0;
                    results[spec] = p;
                    continue;
                }
                var chosen = pl.Cands[best];
                p.Fits = true;
                p.Datacenter = chosen.View.Dc.Name; p.Provider = chosen.View.Dc.Provider; p.Host = chosen.Host?.Name;
                p.Cpu = bestFacts!.D.Cpu; p.MemoryGB = bestFacts.D.MemoryMB / 1024.0; p.PricePerHour = bestPrice; p.AgreementId = bestFacts.A?.Id;
                p.Reason = Explain(policy, chosen.Known, st.FreeCpu[best], bestPrice, bestFacts.A, feasible);
                // What this placement takes, for the ones planned after it.
                var choice = new Choice { Cand = best, D = bestFacts.D, A = bestFacts.A };
                pl.Choices.Add(choice);
                pl.Apply(st, choice);
                pl.Rebucket(best, st);
                plan.OwnKeys.Add(GridData.Key(chosen.View.Dc.Name, spec.Name));
                results[spec] = p;
            }
            plan.Placements = request.Workloads.Select(w => results[w]).ToList();
            observer.Verbose(FormattableString.Invariant(
                $"Placement timings: pool, agreements and reservations {tStore.TotalMilliseconds:0} ms, listing {views.Length} datacenters ({needed.Count} with their workloads) {tList.TotalMilliseconds:0} ms, candidates {pl.Cands.Length} {tIndex.TotalMilliseconds:0} ms, planning {request.Workloads.Count} workloads {phase.Elapsed.TotalMilliseconds:0} ms."));
            return plan;
        }

        /// <summary>
        /// The datacenters whose workloads the planner must read, by name: every one for anti-affinity (the group's
        /// members); those an agreement with quotas covers when a workload of the request is its consumer there (the
        /// quota counts the consumer's workloads over every datacenter the agreement covers); and those with pending
        /// reservations (a reservation whose workload is already listed is not subtracted twice). Every other
        /// datacenter's capacity comes from its host listing alone, which already counts what its workloads hold.
        /// </summary>
        internal static HashSet<string> WorkloadsNeeded(PlacementRequest request, IReadOnlyList<GridDatacenter> dcs, IReadOnlyList<GridAgreement> agreements,
            IReadOnlyList<GridData.Reservation> reservations, DateTimeOffset now)
        {
            var needed = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            if (request.AntiAffinity != null) { foreach (var d in dcs) needed.Add(d.Name); return needed; }
            foreach (var r in reservations) needed.Add(r.Datacenter);
            var owners = request.Workloads.Select(w => w.Owner).Where(o => !string.IsNullOrEmpty(o)).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            var counted = new List<GridAgreement>();
            foreach (var d in dcs)
                foreach (var o in owners)
                {
                    if (string.Equals(o, d.Owner, StringComparison.OrdinalIgnoreCase)) continue;
                    var a = Choose(agreements, d.Owner, o, d.Name, now);
                    if (a != null && (a.MaxCpu.HasValue || a.MaxMemoryGB.HasValue || a.MaxWorkloads.HasValue)) counted.Add(a);
                }
            foreach (var d in dcs)
                if (counted.Any(a => string.Equals(d.Owner, a.Owner, StringComparison.OrdinalIgnoreCase) && Wildcard.IsMatch(d.Name, a.Datacenter)))
                    needed.Add(d.Name);
            return needed;
        }

        private async Task<DcView> ViewAsync(GridDatacenter dc, bool listWorkloads, IEngineObserver observer, CancellationToken ct)
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
                if (listWorkloads) v.Workloads = await _engine.ListDatacenterWorkloadsAsync(dc, observer, ct).ConfigureAwait(false);
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
                // Its capacity is the provider's quota where the API says it.
                if (known.Count == 0)
                {
                    v.Hosts.Add(new Cand { View = v });
                    if (conn is IQuotaCapacity quota)
                        v.Quotas = await _engine.Retry.ExecuteAsync(dc.Name, quota.GetQuotasAsync, conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                }
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

        internal static string? QuotaLimit(GridAgreement a, (int count, int cpu, long mem) use, Demand d)
        {
            if (a.MaxWorkloads is int mw && use.count + 1 > mw) return $"MaxWorkloads {mw}: {use.count} in use, this needs 1 more";
            if (a.MaxCpu is int mc && use.cpu + d.Cpu > mc) return $"MaxCpu {mc}: {use.cpu} in use, this needs {d.Cpu} more";
            if (a.MaxMemoryGB is double mm && (use.mem + d.MemoryMB) / 1024.0 > mm + 1e-9)
                return $"MaxMemoryGB {mm.ToString("0.###", CultureInfo.InvariantCulture)}: {(use.mem / 1024.0).ToString("0.###", CultureInfo.InvariantCulture)} GB in use, this needs {(d.MemoryMB / 1024.0).ToString("0.###", CultureInfo.InvariantCulture)} GB more";
            return null;
        }

        private static string Explain(PlacementPolicy policy, bool known, double freeCpuBefore, decimal? price, GridAgreement? a, int feasible)
        {
            string under = a != null ? $" under agreement {a.Id}" : " (own datacenter)";
            string priceText = price.HasValue ? price.Value.ToString("0.####", CultureInfo.InvariantCulture) + "/h" : "price unknown";
            if (!known) return $"{policy}: cloud datacenter, no host capacity to pack; {priceText}{under}; {feasible} candidates fit";
            switch (policy)
            {
                case PlacementPolicy.Spread: return $"Spread: least loaded host ({freeCpuBefore:0} CPU free before); {priceText}{under}; {feasible} candidates fit";
                case PlacementPolicy.Cheapest: return $"Cheapest: {priceText}{under}; {feasible} candidates fit";
                default: return $"Pack: fullest host that fits ({freeCpuBefore:0} CPU free before); {priceText}{under}; {feasible} candidates fit";
            }
        }
    }
}
