using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;

namespace GridAutomation.Core.Replication
{
    /// <summary>
    /// Failover of protected workloads (Start-GridFailover -InputObject): Test boots copies of the chosen points beside
    /// the running primaries; Planned stops the source, takes a last point and starts it at the destination; Unplanned
    /// starts the chosen point without asking the source. Planned and Unplanned fence the old primary. Everything a
    /// failover can refuse (not protected, no such point, no agreement or quota) is refused before anything is journaled;
    /// then ONE parent operation (Failover) with one child per workload (FailoverWorkload, the item's replication lock),
    /// each step checkpointed before it acts.
    /// </summary>
    public sealed partial class ReplicationService
    {
        public const string FailoverKind = "Failover";
        public const string FailoverChildKind = "FailoverWorkload";
        public const string ReplicaOfTag = "GridReplicaOf";
        public const string TestTag = "GridFailoverTest";

        /// <summary>The point a failover uses: the newest (null = Latest), or the newest taken at or before <paramref name="at"/>; NotFound "RecoveryPointNotFound".</summary>
        public GridRecoveryPoint ChoosePoint(GridReplication item, DateTimeOffset? at) => ChoosePoint(item, at, GetPoints(item));

        /// <summary>As above, from the item's points (oldest first) already read.</summary>
        internal static GridRecoveryPoint ChoosePoint(GridReplication item, DateTimeOffset? at, IReadOnlyList<GridRecoveryPoint> points)
        {
            var p = at == null ? points.LastOrDefault() : points.LastOrDefault(x => x.Time <= at.Value);
            return p ?? throw GridException.NotFound(at == null
                ? $"'{item.Name}' has no recovery point yet: Sync-GridReplication takes one."
                : $"'{item.Name}' has no recovery point taken at or before {at.Value.UtcDateTime:u}; its points: {string.Join(", ", points.Select(x => x.Time.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)))}.", "RecoveryPointNotFound", item.SourceId);
        }

        private void SetState(GridReplication item, ReplicationState state)
            => Store.Write(s => { var i = Find(item.SourceId)!; i.State = state; ReplicationData.UpdateItem(s, i); return 0; });

        /// <summary>Stop-GridFailover -Test: removes every test copy (with its storage); the items stay Protected.</summary>
        public async Task StopTestAsync(IReadOnlyList<GridReplication> items, IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            foreach (var item in items.Where(i => i.TestWorkloadIds.Count > 0))
            {
                var op = await _engine.BeginLockedAsync(new OperationIntent
                {
                    Kind = "StopTestFailover", Datacenter = item.SourceDatacenter, Target = item.SourceId, TargetName = item.Name, DestinationDatacenter = item.DestinationDatacenter,
                    Coordinator = "core", LockKey = LockKey(item.SourceId), RequestJson = JsonUtil.Serialize(new { Replication = item.Id, item.TestWorkloadIds }),
                }, observer, ct).ConfigureAwait(false);
                try
                {
                    var dst = await _engine.GetConnectionAsync(item.DestinationDatacenter, observer, ct).ConfigureAwait(false);
                    var scope = new JournalScope(_engine.Journal, op, op.Id.ToString("N"), false, observer);
                    foreach (var id in item.TestWorkloadIds)
                    {
                        if (!WorkloadId.TryParse(id, out _, out var native)) continue;
                        try { await _engine.Retry.ExecuteAsync(dst.Datacenter.Name, async t => { await dst.RemoveAsync(native, true, scope, t).ConfigureAwait(false); return true; }, dst.HandlesOwnRetries, ct).ConfigureAwait(false); }
                        catch (GridException g) when (g.Kind == GridErrorKind.NotFound) { }
                    }
                    Store.Write(s => { var i = Find(item.SourceId)!; i.TestWorkloadIds.Clear(); ReplicationData.UpdateItem(s, i); return 0; });
                    _engine.Journal.Complete(op.Id, null);
                }
                catch (Exception ex) { var g = GridEngine.Normalize(ex, item.SourceId); _engine.Journal.Fail(op.Id, g.ErrorId, g.Message); throw g; }
            }
        }

        /// <summary>Complete-GridFailover: commits a FailedOver item (Committed); the old primary stays fenced.</summary>
        public GridReplication Complete(GridReplication item)
        {
            EnsureWritable();
            if (item.State != ReplicationState.FailedOver)
                throw GridException.Conflict($"'{item.Name}' is {item.State}: only a failed-over workload is committed.", "NotFailedOver", item.SourceId);
            var op = _engine.Journal.TryBegin(new OperationIntent { Kind = "CompleteFailover", Datacenter = item.SourceDatacenter, Target = item.SourceId, TargetName = item.Name, Coordinator = "core", LockKey = LockKey(item.SourceId) }).Operation
                ?? throw GridException.Conflict($"'{item.Name}' is locked by another replication operation.", "WorkloadLocked", item.SourceId);
            SetState(item, ReplicationState.Committed);
            _engine.Journal.Complete(op.Id, null);
            return Find(item.SourceId)!;
        }

        /// <summary>
        /// Enable-GridReplication -Reverse: the failed-over (or committed) copy becomes the protected primary, replicated
        /// back to the old primary's datacenter; the old item (and its points) goes, which lifts the fence.
        /// </summary>
        public async Task<GridReplication> ReverseAsync(GridReplication item, ReplicationRequest request, IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            if (item.State is not (ReplicationState.FailedOver or ReplicationState.Committed) || item.FailoverWorkloadId == null)
                throw GridException.Conflict($"'{item.Name}' is {item.State}: -Reverse reprotects a failed-over workload.", "NotFailedOver", item.SourceId);
            var primary = await _engine.GetWorkloadAsync(item.FailoverWorkloadId, ct).ConfigureAwait(false);
            await DisableAsync(item, false, observer, ct).ConfigureAwait(false);
            request.DestinationDatacenter = string.IsNullOrEmpty(request.DestinationDatacenter) ? item.SourceDatacenter : request.DestinationDatacenter;
            return await EnableAsync(primary, request, observer, ct).ConfigureAwait(false);
        }

        /// <summary>Conflict "FencedAfterFailover" when <paramref name="workloadId"/> is an old primary that failed over (reads only; no tables: not fenced).</summary>
        public void RefuseFenced(string workloadId)
        {
            bool fenced = Store.Read(s =>
            {
                if (s.Scalar("SELECT version FROM schema_version WHERE component = @c", ("c", ReplicationData.Component)) == null) return false;
                return s.ScalarInt64("SELECT COUNT(*) FROM rep_items WHERE source_id = @id AND fenced = 1", ("id", workloadId)) > 0;
            });
            if (fenced)
                throw GridException.Conflict($"'{workloadId}' failed over to another datacenter and is fenced: starting it would run it at two sites. Fail back (Start-GridFailover -Mode Planned from the new primary after Enable-GridReplication -Reverse), or reprotect with Enable-GridReplication -Reverse.", "FencedAfterFailover", workloadId);
        }
    }
}
