using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Core.Engine
{
    /// <summary>The engine's side of the grid services: owners, and admission under agreements on every path into a datacenter.</summary>
    public sealed partial class GridEngine
    {
        private GridService? _grid;

        /// <summary>Agreements, pools, admission and placement over this engine's store.</summary>
        public GridService Grid => _grid ??= new GridService(this);

        public const string OwnerTag = "Owner";

        /// <summary>Every workload a datacenter lists now (owners completed), through the retry policy.</summary>
        internal async Task<List<GridWorkload>> ListDatacenterWorkloadsAsync(GridDatacenter dc, IEngineObserver observer, CancellationToken ct)
        {
            var conn = await GetConnectionAsync(dc.Name, observer, ct).ConfigureAwait(false);
            var list = new List<GridWorkload>();
            await foreach (var page in ListWithRetryAsync(dc.Name, conn, new WorkloadQuery { PageSize = Configuration.PageSize }, ct).ConfigureAwait(false))
                foreach (var w in page) { Complete(w, dc); list.Add(w); }
            return list;
        }

        /// <summary>Completes a workload a provider returned (datacenter, provider, id, Owner from its tag else the datacenter's).</summary>
        internal static void CompleteWorkload(GridWorkload w, GridDatacenter dc) => Complete(w, dc);

        /// <summary>InvalidRequest "OwnerTagReserved" when tags name the Owner tag: ownership changes only through -Owner.</summary>
        internal static void RefuseOwnerTag<T>(IEnumerable<KeyValuePair<string, T>>? tags, object? target)
        {
            if (tags == null) return;
            if (tags.Any(kv => string.Equals(kv.Key, OwnerTag, StringComparison.OrdinalIgnoreCase)))
                throw GridException.InvalidRequest("The Owner tag is not changed through -Tag: use -Owner (New-GridWorkload -Owner, Set-GridWorkload -Owner), which is checked against the agreements of the datacenter.", "OwnerTagReserved", target);
        }

        private static void ValidateOwnerName(string owner, object? target)
        {
            var why = NameRules.WhyInvalidName(owner, datacenter: true);
            if (why != null) throw GridException.InvalidRequest($"-Owner '{NameRules.Show(owner)}' is not valid: {why}.", "InvalidOwner", target);
        }

        /// <summary>The CPU and memory a create or resize asks for: explicit -Cpu/-MemoryGB, else the size's catalog shape.</summary>
        private async Task<Demand> DemandOfAsync(GridDatacenter dc, IGridConnection conn, string? size, int? cpu, long? memoryMB, GridWorkload? current, CancellationToken ct)
        {
            var d = new Demand { Cpu = cpu ?? current?.CpuCount ?? 0, MemoryMB = memoryMB ?? current?.MemoryMB ?? 0 };
            if (size != null)
            {
                var sizes = await _retry.ExecuteAsync(dc.Name, conn.ListSizesAsync, conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                var s = sizes.FirstOrDefault(x => string.Equals(x.Name, size, StringComparison.OrdinalIgnoreCase));
                if (s != null) { d.Cpu = s.CpuCount ?? d.Cpu; d.MemoryMB = s.MemoryMB ?? d.MemoryMB; }
            }
            return d;
        }

        /// <summary>Before a create is journaled: the Owner tag rule, and admission of the owner into the datacenter.</summary>
        private async Task<Admission?> AdmitCreateAsync(GridDatacenter dc, IGridConnection conn, CreateWorkloadRequest request, IEngineObserver observer, CancellationToken ct)
        {
            string? owner = request.Owner ?? dc.Owner;
            if (!Foreign(dc, owner)) return null; // no provider call when there is nothing to check
            var demand = await DemandOfAsync(dc, conn, request.Size, request.CpuCount, request.MemoryMB, null, ct).ConfigureAwait(false);
            return await Grid.AdmitAsync(dc, owner, demand, request.Name, null, observer, ct).ConfigureAwait(false);
        }

        /// <summary>Before a resize or an owner change is journaled: the workload, as changed, must be admitted where it is.</summary>
        private async Task<Admission?> AdmitActionAsync(GridDatacenter dc, IGridConnection conn, GridWorkload target, WorkloadActionRequest request, IEngineObserver observer, CancellationToken ct)
        {
            if (request.Action == WorkloadAction.Resize && request.Resize != null)
            {
                if (!Foreign(dc, string.IsNullOrEmpty(target.Owner) ? dc.Owner : target.Owner)) return null;
                var current = await _retry.ExecuteAsync(dc.Name, t => conn.GetWorkloadAsync(target.NativeId, t), conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                Complete(current, dc);
                var demand = await DemandOfAsync(dc, conn, request.Resize.Size, request.Resize.CpuCount, request.Resize.MemoryMB, current, ct).ConfigureAwait(false);
                return await Grid.AdmitAsync(dc, current.Owner, demand, current.Name, current.Id, observer, ct).ConfigureAwait(false);
            }
            if (request.Action == WorkloadAction.SetTags && request.Owner != null)
            {
                if (!Foreign(dc, request.Owner)) return null;
                var current = await _retry.ExecuteAsync(dc.Name, t => conn.GetWorkloadAsync(target.NativeId, t), conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                Complete(current, dc);
                var demand = new Demand { Cpu = current.CpuCount ?? 0, MemoryMB = current.MemoryMB ?? 0 };
                if (!HoldsCapacityNow(current))
                {
                    // Holding no capacity it takes no quota, but another company's datacenter still needs an agreement.
                    if (!string.IsNullOrEmpty(dc.Owner) && !string.Equals(dc.Owner, request.Owner, StringComparison.OrdinalIgnoreCase))
                        Grid.CheckAgreement(dc, request.Owner, current.Name);
                    return null;
                }
                return await Grid.AdmitAsync(dc, request.Owner, demand, current.Name, current.Id, observer, ct).ConfigureAwait(false);
            }
            return null;
        }

        /// <summary>True when <paramref name="owner"/> is another company than the datacenter's owner (an agreement applies).</summary>
        private static bool Foreign(GridDatacenter dc, string? owner)
            => !string.IsNullOrEmpty(owner) && !string.IsNullOrEmpty(dc.Owner) && !string.Equals(owner, dc.Owner, StringComparison.OrdinalIgnoreCase);

        private static bool HoldsCapacityNow(GridWorkload w) => GridService.HoldsCapacity(w.State);

        /// <summary>Turns Set-GridWorkload -Owner into the Owner tag change (the only way that tag changes).</summary>
        private static void PrepareOwnerChange(WorkloadActionRequest request, object? target)
        {
            if (request.Action != WorkloadAction.SetTags) return;
            RefuseOwnerTag(request.Tags, target);
            if (request.Owner == null) return;
            ValidateOwnerName(request.Owner, target);
            var tags = request.Tags == null ? new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase) : new Dictionary<string, string?>(request.Tags, StringComparer.OrdinalIgnoreCase);
            tags[OwnerTag] = request.Owner;
            request.Tags = tags;
        }

        /// <summary>Admission of many workloads moving (a failover run's copies): as <see cref="AdmitMoveAsync"/> per workload,
        /// but each covered datacenter is listed once for the batch and the reservations are taken in one transaction
        /// (<see cref="GridService.AdmitBatchAsync"/>).</summary>
        internal Task<IReadOnlyList<AdmissionOutcome>> AdmitMovesAsync(IReadOnlyList<(GridDatacenter destination, GridWorkload workload)> moves, bool allOrNothing, IEngineObserver observer, CancellationToken ct)
        {
            var requests = new List<AdmissionRequest>(moves.Count);
            foreach (var (destination, workload) in moves)
            {
                if (string.IsNullOrEmpty(workload.Owner)) Complete(workload, GetDatacenter(workload.Datacenter));
                requests.Add(new AdmissionRequest
                {
                    Destination = destination, Consumer = workload.Owner, WorkloadName = workload.Name,
                    Demand = new Demand { Cpu = workload.CpuCount ?? 0, MemoryMB = workload.MemoryMB ?? 0 },
                });
            }
            return Grid.AdmitBatchAsync(requests, allOrNothing, observer, ct);
        }

        /// <summary>Admission of a workload moving into another datacenter (its owner, its shape there). <paramref name="dryRun"/>:
        /// the same checks (NoAgreement, AgreementQuotaExceeded) without taking a reservation (Test-GridMove).</summary>
        internal Task<Admission?> AdmitMoveAsync(GridDatacenter destination, GridWorkload workload, int? cpu, long? memoryMB, IEngineObserver observer, CancellationToken ct, bool dryRun = false)
        {
            var owner = workload.Owner;
            if (string.IsNullOrEmpty(owner))
            {
                var src = GetDatacenter(workload.Datacenter);
                Complete(workload, src);
                owner = workload.Owner;
            }
            var demand = new Demand { Cpu = cpu ?? workload.CpuCount ?? 0, MemoryMB = memoryMB ?? workload.MemoryMB ?? 0 };
            return Grid.AdmitAsync(destination, owner, demand, workload.Name, null, observer, ct, dryRun);
        }
    }
}
