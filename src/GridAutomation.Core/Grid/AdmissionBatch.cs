using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Grid
{
    /// <summary>One workload of a batch admission: where it goes, whose it is, what it takes there.</summary>
    internal sealed class AdmissionRequest
    {
        public GridDatacenter Destination = null!;
        public string? Consumer;
        public Demand Demand = new Demand();
        public string WorkloadName = "";
    }

    /// <summary>The outcome of one request of a batch: its reservation (null when no agreement applies) or its refusal.</summary>
    internal readonly struct AdmissionOutcome
    {
        public AdmissionOutcome(Admission? admission, GridException? refused) { Admission = admission; Refused = refused; }
        public Admission? Admission { get; }
        public GridException? Refused { get; }
    }

    public sealed partial class GridService
    {
        /// <summary>
        /// Admits many workloads at once (a failover run's copies): the same checks as <see cref="AdmitAsync"/> (agreement in
        /// force, quotas over the consumer's listed use plus the live reservations), but every datacenter an agreement with
        /// quotas covers is listed ONCE for the whole batch (not once per workload), and every reservation is checked and
        /// taken in ONE store transaction, counting the batch's own earlier requests. Nothing is kept between calls: each
        /// batch lists again, and the live reservations are read inside the transaction (writers are serialized), so two
        /// concurrent batches never overrun a quota. <paramref name="allOrNothing"/>: the first refusal is thrown and nothing
        /// is reserved (the transaction rolls back); else each refusal is returned in its request's place and the rest are reserved.
        /// </summary>
        internal async Task<IReadOnlyList<AdmissionOutcome>> AdmitBatchAsync(IReadOnlyList<AdmissionRequest> requests, bool allOrNothing, IEngineObserver observer, CancellationToken ct)
        {
            var outcomes = new AdmissionOutcome[requests.Count];
            var sw = Stopwatch.StartNew();
            var agreements = GetAgreements();
            var datacenters = _engine.GetDatacenters(null);
            var now = DateTimeOffset.UtcNow;
            var pending = new List<(int index, GridAgreement agreement, HashSet<string> covered)>();
            for (int i = 0; i < requests.Count; i++)
            {
                var r = requests[i];
                var dc = r.Destination;
                if (string.IsNullOrEmpty(r.Consumer) || string.IsNullOrEmpty(dc.Owner) || string.Equals(r.Consumer, dc.Owner, StringComparison.OrdinalIgnoreCase))
                    continue;
                var a = Choose(agreements, dc.Owner, r.Consumer, dc.Name, now);
                if (a == null)
                {
                    var refused = NoAgreement(dc, r.Consumer!, r.WorkloadName);
                    if (allOrNothing) throw refused;
                    outcomes[i] = new AdmissionOutcome(null, refused);
                    continue;
                }
                var covered = new HashSet<string>(datacenters
                    .Where(d => string.Equals(d.Owner, a.Owner, StringComparison.OrdinalIgnoreCase) && Wildcard.IsMatch(d.Name, a.Datacenter))
                    .Select(d => d.Name), StringComparer.OrdinalIgnoreCase) { dc.Name };
                pending.Add((i, a, covered));
            }
            if (pending.Count == 0) return outcomes;

            // Usage as the providers list it now, each covered datacenter once (outside the transaction: provider calls never hold the store's lock).
            static bool HasQuota(GridAgreement a) => a.MaxCpu.HasValue || a.MaxMemoryGB.HasValue || a.MaxWorkloads.HasValue;
            var byName = datacenters.ToDictionary(d => d.Name, StringComparer.OrdinalIgnoreCase);
            foreach (var p in pending) if (!byName.ContainsKey(requests[p.index].Destination.Name)) byName[requests[p.index].Destination.Name] = requests[p.index].Destination;
            var toList = pending.Where(p => HasQuota(p.agreement)).SelectMany(p => p.covered).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            var listings = await Task.WhenAll(toList.Select(async name =>
            {
                var t = Stopwatch.StartNew();
                var l = await _engine.ListDatacenterWorkloadsAsync(byName[name], observer, ct).ConfigureAwait(false);
                return (name, list: l, ms: t.Elapsed.TotalMilliseconds);
            })).ConfigureAwait(false);
            foreach (var l in listings)
                observer.Verbose(FormattableString.Invariant($"Admission: listed '{l.name}' once for {pending.Count} workload(s) under agreement ({l.list.Count} workload(s), {l.ms:0} ms)."));
            var listed = listings.ToDictionary(l => l.name, l => l.list, StringComparer.OrdinalIgnoreCase);

            var batchKeys = new HashSet<string>(pending.Select(p => GridData.Key(requests[p.index].Destination.Name, requests[p.index].WorkloadName)), StringComparer.OrdinalIgnoreCase);
            var allCovered = pending.SelectMany(p => p.covered).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            var made = new List<(int index, string key)>();
            Store.Write(s =>
            {
                made.Clear();
                var live = GridData.LiveReservations(s, allCovered);
                // the use each (agreement, consumer) starts from: listed workloads plus reservations the listing does not show yet
                var start = new Dictionary<string, (int count, int cpu, long mem)>(StringComparer.OrdinalIgnoreCase);
                (int count, int cpu, long mem) Base(GridAgreement a, HashSet<string> covered, string consumer)
                {
                    string k = a.Id + "|" + consumer;
                    if (start.TryGetValue(k, out var u)) return u;
                    var mine = covered.Where(listed.ContainsKey).SelectMany(d => listed[d])
                        .Where(w => HoldsCapacity(w.State) && string.Equals(w.Owner, consumer, StringComparison.OrdinalIgnoreCase)).ToList();
                    var listedKeys = new HashSet<string>(mine.Select(w => GridData.Key(w.Datacenter, w.Name)), StringComparer.OrdinalIgnoreCase);
                    u = (mine.Count, mine.Sum(w => w.CpuCount ?? 0), mine.Sum(w => w.MemoryMB ?? 0));
                    foreach (var res in live)
                    {
                        if (!covered.Contains(res.Datacenter) || !string.Equals(res.Consumer, consumer, StringComparison.OrdinalIgnoreCase)
                            || listedKeys.Contains(res.Key) || batchKeys.Contains(res.Key)) continue;
                        u.count++; u.cpu += res.Cpu; u.mem += res.MemoryMB;
                    }
                    start[k] = u;
                    return u;
                }
                var taken = new List<(string consumer, string datacenter, Demand demand)>(); // this batch's reservations so far
                foreach (var p in pending)
                {
                    var r = requests[p.index];
                    var use = Base(p.agreement, p.covered, r.Consumer!);
                    foreach (var t in taken)
                        if (p.covered.Contains(t.datacenter) && string.Equals(t.consumer, r.Consumer, StringComparison.OrdinalIgnoreCase))
                        { use.count++; use.cpu += t.demand.Cpu; use.mem += t.demand.MemoryMB; }
                    var limit = QuotaLimit(p.agreement, use, r.Demand);
                    if (limit != null)
                    {
                        var refused = QuotaExceeded(p.agreement, limit, r.WorkloadName);
                        if (allOrNothing) throw refused; // the transaction rolls back: nothing of the batch is reserved
                        outcomes[p.index] = new AdmissionOutcome(null, refused);
                        continue;
                    }
                    string key = GridData.Key(r.Destination.Name, r.WorkloadName);
                    GridData.PutReservation(s, new GridData.Reservation { Key = key, Consumer = r.Consumer, Datacenter = r.Destination.Name, Cpu = r.Demand.Cpu, MemoryMB = r.Demand.MemoryMB }, PendingTtl);
                    taken.Add((r.Consumer!, r.Destination.Name, r.Demand));
                    made.Add((p.index, key));
                }
                return 0;
            });
            var agreementOf = pending.ToDictionary(p => p.index, p => p.agreement);
            foreach (var (index, key) in made) outcomes[index] = new AdmissionOutcome(new Admission(this, key, agreementOf[index]), null);
            observer.Verbose(FormattableString.Invariant($"Admission: {made.Count} of {pending.Count} workload(s) admitted under agreements ({listings.Length} datacenter listing(s)) in {sw.Elapsed.TotalMilliseconds:0} ms."));
            return outcomes;
        }
    }
}
