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
    public sealed partial class GridService
    {
        /// <summary>How often a placement whose host changed under it re-plans before giving up.</summary>
        internal const int MaxReplans = 3;

        /// <summary>
        /// Creates one planned workload: reserves its host in the store, checked against what the plan saw there
        /// (another command's reservation since then means the host may be full: this workload is re-planned instead of
        /// overbooking), then creates it through the engine (which journals it and admits it under its agreement).
        /// </summary>
        public async Task<GridWorkload> PlaceAsync(PlacementPlan plan, GridPlacement placement, Guid? batchId, IEngineObserver observer, CancellationToken ct)
        {
            if (!placement.Fits)
                throw new GridException(GridErrorKind.ResourceUnavailable, $"'{placement.Name}' fits nowhere: {placement.Reason}. See Get-GridPlacement for every rejected candidate.", GridPlacement.NoPlacementErrorId(placement)) { Target = placement.Name };
            EnsureWritable();
            var p = placement;
            for (int attempt = 0; ; attempt++)
            {
                string key = GridData.Key(p.Datacenter!, p.Name);
                if (TryReserve(plan, p, key))
                {
                    bool ok = false;
                    try
                    {
                        var w = await _engine.CreateWorkloadAsync(p.Datacenter!, ToCreate(p), batchId, observer, ct).ConfigureAwait(false);
                        ok = true;
                        return w;
                    }
                    finally { Release(key, ok); }
                }
                if (attempt >= MaxReplans)
                    throw GridException.Conflict($"'{p.Name}': the hosts it was planned on kept filling up under other placements ({MaxReplans} re-plans). Try again.", "PlacementConflict", p.Name);
                observer.Verbose($"'{p.Name}': host {p.Datacenter}/{p.Host} took other reservations since planning; re-planning.");
                var again = await PlanAsync(new PlacementRequest
                {
                    Pool = plan.Request.Pool, Datacenters = plan.Request.Datacenters, Requirement = plan.Request.Requirement, Policy = p.Policy,
                    AntiAffinity = plan.Request.AntiAffinity, AntiAffinityScope = plan.Request.AntiAffinityScope, Workloads = { p.Spec },
                }, observer, ct).ConfigureAwait(false);
                foreach (var kv in again.Seen) plan.Seen[kv.Key] = kv.Value;
                p = again.Placements[0];
                if (!p.Fits)
                    throw new GridException(GridErrorKind.ResourceUnavailable, $"'{p.Name}' no longer fits anywhere: {p.Reason}.", GridPlacement.NoPlacementErrorId(p)) { Target = p.Name };
                plan.OwnKeys.Add(GridData.Key(p.Datacenter!, p.Name));
            }
        }

        private bool TryReserve(PlacementPlan plan, GridPlacement p, string key)
            => Store.Write(s =>
            {
                var live = GridData.LiveReservations(s, new[] { p.Datacenter! });
                if (p.Host != null)
                {
                    plan.Seen.TryGetValue(p.Datacenter + "/" + p.Host, out var seen);
                    foreach (var r in live)
                        if (string.Equals(r.Host, p.Host, StringComparison.OrdinalIgnoreCase) && !string.Equals(r.Key, key, StringComparison.OrdinalIgnoreCase)
                            && (seen == null || !seen.Contains(r.Key)) && !plan.OwnKeys.Contains(r.Key))
                            return false;
                }
                GridData.PutReservation(s, new GridData.Reservation { Key = key, Consumer = p.Owner, Datacenter = p.Datacenter!, Host = p.Host, Cpu = p.Cpu, MemoryMB = (long)Math.Round(p.MemoryGB * 1024) }, PendingTtl);
                return true;
            });

        private static CreateWorkloadRequest ToCreate(GridPlacement p)
        {
            var spec = p.Spec;
            var r = new CreateWorkloadRequest
            {
                Name = spec.Name, Size = spec.Size, CpuCount = spec.Size == null ? spec.Cpu : null, MemoryMB = spec.Size == null ? spec.MemoryMB : null,
                Image = spec.Image, TargetHost = p.Host, PowerOn = spec.PowerOn, Owner = spec.Owner,
            };
            foreach (var kv in spec.Tags) r.Tags[kv.Key] = kv.Value;
            foreach (var kv in spec.Options) r.Options[kv.Key] = kv.Value;
            if (spec.Secrets.Count > 0) r.Secrets = new Dictionary<string, object>(spec.Secrets, StringComparer.OrdinalIgnoreCase);
            return r;
        }
    }
}
