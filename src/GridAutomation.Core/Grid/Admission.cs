using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Core.Grid
{
    /// <summary>What a workload takes from a datacenter: the shape counted against an agreement's quotas.</summary>
    internal sealed class Demand
    {
        public int Cpu;
        public long MemoryMB;
    }

    /// <summary>
    /// A unit of quota (and host capacity) held in the store while its workload is being made: kept briefly after a
    /// success (until the provider lists the workload), dropped after a failure.
    /// </summary>
    public sealed class Admission
    {
        private readonly GridService _svc;
        internal Admission(GridService svc, string key, GridAgreement? agreement) { _svc = svc; Key = key; Agreement = agreement; }
        public string Key { get; }
        /// <summary>The agreement the workload runs under (null: its owner owns the datacenter).</summary>
        public GridAgreement? Agreement { get; }
        public void Succeeded() => _svc.Release(Key, success: true);
        public void Failed() => _svc.Release(Key, success: false);
    }

    public sealed partial class GridService
    {
        /// <summary>A reservation lives this long while its create runs; a crashed process's reservation then expires.</summary>
        internal static readonly TimeSpan PendingTtl = TimeSpan.FromMinutes(10);
        /// <summary>After success it is kept this long, covering listings made before the provider showed the workload.</summary>
        internal static readonly TimeSpan SettleTtl = TimeSpan.FromMinutes(2);

        internal static bool HoldsCapacity(WorkloadState s)
            => s != WorkloadState.Deallocated && s != WorkloadState.Deleted && s != WorkloadState.Failed;

        internal void Release(string key, bool success)
        {
            try
            {
                Store.Write(s =>
                {
                    if (success) GridData.ShortenReservation(s, key, SettleTtl);
                    else GridData.DropReservation(s, key);
                    return 0;
                });
            }
            catch (Exception) { /* it expires on its own */ }
        }

        /// <summary>
        /// Admits a workload of <paramref name="consumer"/> into <paramref name="dc"/>: nothing to check when the consumer
        /// owns the datacenter (or either is unnamed); else the agreement in force (NoAgreement) and its quotas, counted
        /// over the consumer's capacity-holding workloads in every datacenter the agreement covers plus the reservations
        /// of creates still running, in ONE store transaction that also takes this reservation
        /// (AgreementQuotaExceeded naming the limit). <paramref name="excludeWorkloadId"/>: the workload being resized
        /// or re-owned (its current use is replaced by <paramref name="demand"/>).
        /// </summary>
        internal async Task<Admission?> AdmitAsync(GridDatacenter dc, string? consumer, Demand demand, string workloadName, string? excludeWorkloadId,
            IEngineObserver observer, CancellationToken ct, bool dryRun = false)
        {
            if (string.IsNullOrEmpty(consumer) || string.IsNullOrEmpty(dc.Owner) || string.Equals(consumer, dc.Owner, StringComparison.OrdinalIgnoreCase))
                return null;
            var agreement = CheckAgreement(dc, consumer!, workloadName);
            var covered = _engine.GetDatacenters(null)
                .Where(d => string.Equals(d.Owner, agreement.Owner, StringComparison.OrdinalIgnoreCase) && Wildcard.IsMatch(d.Name, agreement.Datacenter))
                .ToList();
            if (!covered.Any(d => string.Equals(d.Name, dc.Name, StringComparison.OrdinalIgnoreCase))) covered.Add(dc);

            // Usage as the providers list it now (outside the transaction: provider calls never hold the store's lock).
            var listed = new List<GridWorkload>();
            if (agreement.MaxCpu.HasValue || agreement.MaxMemoryGB.HasValue || agreement.MaxWorkloads.HasValue)
            {
                var lists = await Task.WhenAll(covered.Select(d => _engine.ListDatacenterWorkloadsAsync(d, observer, ct))).ConfigureAwait(false);
                foreach (var l in lists)
                    listed.AddRange(l.Where(w => HoldsCapacity(w.State) && string.Equals(w.Owner, consumer, StringComparison.OrdinalIgnoreCase)
                                                 && !string.Equals(w.Id, excludeWorkloadId, StringComparison.OrdinalIgnoreCase)));
            }
            var listedKeys = new HashSet<string>(listed.Select(w => GridData.Key(w.Datacenter, w.Name)), StringComparer.OrdinalIgnoreCase);
            string key = GridData.Key(dc.Name, workloadName);
            var use = (listed.Count, listed.Sum(w => w.CpuCount ?? 0), listed.Sum(w => w.MemoryMB ?? 0));
            ReserveUnderQuota(Store, agreement, consumer!, covered.Select(d => d.Name).ToList(), use, listedKeys, demand, dc.Name, key, workloadName, reserve: !dryRun);
            if (dryRun) return null;
            observer.Verbose($"'{workloadName}' admitted into '{dc.Name}' under agreement {agreement.Id} ({agreement.Owner} -> {agreement.Consumer}).");
            return new Admission(this, key, agreement);
        }

        /// <summary>
        /// The quota check and the reservation, in ONE store transaction (writers are serialized on both backends): the
        /// listed use plus every live reservation of the consumer in the covered datacenters that the listing does not
        /// show yet, plus this demand, must fit every limit; else ResourceUnavailable "AgreementQuotaExceeded" naming it.
        /// Without <paramref name="reserve"/> (Test-GridMove) it only checks, in a read.
        /// </summary>
        internal static void ReserveUnderQuota(State.IStateStore store, GridAgreement agreement, string consumer, IReadOnlyList<string> covered,
            (int count, int cpu, long mem) listed, ISet<string> listedKeys, Demand demand, string datacenter, string key, string workloadName, bool reserve = true)
        {
            Func<State.IStateSession, int> work = s =>
            {
                var use = listed;
                foreach (var r in GridData.LiveReservations(s, covered))
                {
                    if (!string.Equals(r.Consumer, consumer, StringComparison.OrdinalIgnoreCase) || listedKeys.Contains(r.Key)
                        || string.Equals(r.Key, key, StringComparison.OrdinalIgnoreCase)) continue;
                    use.count++; use.cpu += r.Cpu; use.mem += r.MemoryMB;
                }
                var limit = QuotaLimit(agreement, use, demand);
                if (limit != null) throw QuotaExceeded(agreement, limit, workloadName);
                if (reserve) GridData.PutReservation(s, new GridData.Reservation { Key = key, Consumer = consumer, Datacenter = datacenter, Cpu = demand.Cpu, MemoryMB = demand.MemoryMB }, PendingTtl);
                return 0;
            };
            if (reserve) store.Write(work); else store.Read(work);
        }

        /// <summary>The agreement in force for a consumer in another company's datacenter, or PermissionDenied "NoAgreement".</summary>
        internal GridAgreement CheckAgreement(GridDatacenter dc, string consumer, string workloadName)
        {
            return Choose(GetAgreements(), dc.Owner, consumer, dc.Name, DateTimeOffset.UtcNow) ?? throw NoAgreement(dc, consumer, workloadName);
        }

        /// <summary>PermissionDenied "NoAgreement": the consumer may not use another company's datacenter, and which New-GridAgreement would allow it.</summary>
        internal static GridException NoAgreement(GridDatacenter dc, string consumer, string workloadName)
            => new GridException(GridErrorKind.PermissionDenied,
                $"'{workloadName}' is owned by {consumer}, but datacenter '{dc.Name}' belongs to {dc.Owner} and no agreement in force lets {consumer} use it. " +
                $"{dc.Owner} can lend it: New-GridAgreement -Owner {dc.Owner} -Consumer {consumer} -Datacenter {dc.Name}.", "NoAgreement") { Target = workloadName };

        /// <summary>ResourceUnavailable "AgreementQuotaExceeded" naming the limit (from <see cref="QuotaLimit"/>).</summary>
        internal static GridException QuotaExceeded(GridAgreement agreement, string limit, string workloadName)
            => new GridException(GridErrorKind.ResourceUnavailable,
                $"'{workloadName}' does not fit the agreement {agreement.Id} ({agreement.Owner} lends {agreement.Datacenter} to {agreement.Consumer}): {limit}. " +
                $"Free capacity under it, or raise the quota with Set-GridAgreement -Id {agreement.Id}.", "AgreementQuotaExceeded") { Target = workloadName };
    }
}
