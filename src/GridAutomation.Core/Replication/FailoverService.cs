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
        public GridRecoveryPoint ChoosePoint(GridReplication item, DateTimeOffset? at)
        {
            var points = GetPoints(item);
            var p = at == null ? points.LastOrDefault() : points.LastOrDefault(x => x.Time <= at.Value);
            return p ?? throw GridException.NotFound(at == null
                ? $"'{item.Name}' has no recovery point yet: Sync-GridReplication takes one."
                : $"'{item.Name}' has no recovery point taken at or before {at.Value.UtcDateTime:u}; its points: {string.Join(", ", points.Select(x => x.Time.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)))}.", "RecoveryPointNotFound", item.SourceId);
        }

        /// <summary>Start-GridFailover -InputObject: validates all, then runs each workload as a child of one parent operation.</summary>
        public async Task<IReadOnlyList<GridFailoverResult>> FailoverAsync(IReadOnlyList<GridWorkload> workloads, FailoverMode mode, DateTimeOffset? pointTime,
            IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            if (workloads.Count == 0) throw GridException.InvalidRequest("Give the protected workloads to fail over.", "NothingToFailOver");
            var dup = workloads.GroupBy(w => w.Id, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
            if (dup != null) throw GridException.InvalidRequest($"'{dup.First().Name}' is given twice.", "WorkloadGivenTwice", dup.Key);
            var plan = new List<(GridWorkload w, GridReplication item, GridRecoveryPoint point)>();
            foreach (var w in workloads)
            {
                var item = Require(w);
                if (item.State != ReplicationState.Protected)
                    throw GridException.Conflict($"'{w.Name}' is {item.State}: only a Protected workload fails over (Complete-GridFailover, Stop-GridFailover -Test or Enable-GridReplication -Reverse first).", "NotFailoverReady", w.Id);
                if (mode == FailoverMode.Test && item.TestWorkloadIds.Count > 0)
                    throw GridException.Conflict($"'{w.Name}' has a test failover running: Stop-GridFailover -Test removes it first.", "TestFailoverRunning", w.Id);
                plan.Add((w, item, ChoosePoint(item, pointTime)));
            }
            // a replica that runs counts against its owner's agreement in the destination: admitted (reserved) before journaling
            var admissions = new List<Admission>();
            try
            {
                foreach (var (w, item, _) in plan)
                {
                    var a = await _engine.AdmitMoveAsync(_engine.GetDatacenter(item.DestinationDatacenter), w, null, null, observer, ct).ConfigureAwait(false);
                    if (a != null) admissions.Add(a);
                }
            }
            catch (Exception) { foreach (var a in admissions) a.Failed(); throw; }

            var started = DateTimeOffset.UtcNow;
            var parent = _engine.Journal.TryBegin(new OperationIntent
            {
                Kind = FailoverKind, Datacenter = plan[0].item.SourceDatacenter, Target = "failover:" + plan[0].item.Id, TargetName = mode + " failover of " + plan.Count + " workload(s)",
                DestinationDatacenter = plan[0].item.DestinationDatacenter, Coordinator = "core",
                RequestJson = JsonUtil.Serialize(new { Mode = mode.ToString(), Items = plan.Select(p => p.item.Id).ToList(), Points = plan.Select(p => p.point.Sequence).ToList() }),
            }).Operation!;
            using var heartbeat = _engine.StartHeartbeat(parent.Id);
            var results = new GridFailoverResult[plan.Count];
            using var gate = new SemaphoreSlim(Math.Max(1, _engine.Configuration.MaxConcurrencyPerDatacenter));
            bool stop = false;
            await Task.WhenAll(plan.Select(async (x, k) =>
            {
                await gate.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    if (Volatile.Read(ref stop)) { results[k] = new GridFailoverResult { Name = x.w.Name, SourceId = x.w.Id, Mode = mode, Status = "NotStarted" }; return; }
                    results[k] = await FailOneAsync(parent.Id, x.w, x.item, x.point, mode, started, observer, ct).ConfigureAwait(false);
                    if (results[k].ErrorId != null && mode == FailoverMode.Planned) Volatile.Write(ref stop, true); // planned stops at the first error
                }
                finally { gate.Release(); }
            })).ConfigureAwait(false);
            for (int k = 0; k < plan.Count; k++)
                if (k < admissions.Count) { if (results[k].ErrorId == null) admissions[k].Succeeded(); else admissions[k].Failed(); }
            var failed = results.Where(r => r.ErrorId != null).ToList();
            string summary = JsonUtil.Serialize(new { Mode = mode.ToString(), RtoSeconds = (DateTimeOffset.UtcNow - started).TotalSeconds, Failed = failed.Count, Workloads = results.Length });
            if (failed.Count == 0) _engine.Journal.Complete(parent.Id, summary);
            else _engine.Journal.Fail(parent.Id, failed[0].ErrorId!, $"{failed.Count} of {results.Length} workload(s) failed: " + string.Join(" ", failed.Select(f => f.Name + ": " + f.Error)));
            return results;
        }

        private async Task<GridFailoverResult> FailOneAsync(Guid parentId, GridWorkload w, GridReplication item, GridRecoveryPoint point, FailoverMode mode, DateTimeOffset started,
            IEngineObserver observer, CancellationToken ct)
        {
            var result = new GridFailoverResult { Name = w.Name, SourceId = w.Id, Mode = mode };
            var sw = Stopwatch.StartNew();
            GridOperation op;
            try
            {
                op = await _engine.BeginLockedAsync(new OperationIntent
                {
                    Kind = FailoverChildKind, Datacenter = item.SourceDatacenter, Target = w.Id, TargetName = w.Name, DestinationDatacenter = item.DestinationDatacenter,
                    Coordinator = "core", ParentId = parentId, LockKey = LockKey(w.Id),
                    RequestJson = JsonUtil.Serialize(new { Replication = item.Id, Mode = mode.ToString(), Point = point.Sequence }),
                }, observer, ct).ConfigureAwait(false);
            }
            catch (GridException g) { result.Status = "Failed"; result.ErrorId = g.ErrorId; result.Error = g.Message; return result; }
            result.OperationId = op.Id;
            var scope = new JournalScope(_engine.Journal, op, op.Id.ToString("N"), false, observer);
            using var heartbeat = _engine.StartHeartbeat(op.Id);
            if (!WorkloadId.TryParse(w.Id, out _, out var nativeId)) nativeId = w.NativeId;
            try
            {
                var dst = await _engine.GetConnectionAsync(item.DestinationDatacenter, observer, ct).ConfigureAwait(false);
                if (mode != FailoverMode.Test) SetState(item, ReplicationState.FailingOver);
                if (mode == FailoverMode.Planned)
                {
                    // graceful stop of the source, then a last point of the stopped disks: nothing is lost
                    var src = await _engine.GetConnectionAsync(item.SourceDatacenter, observer, ct).ConfigureAwait(false);
                    scope.Checkpoint("step", "stop");
                    var now = await src.GetWorkloadAsync(nativeId, ct).ConfigureAwait(false);
                    if (now.State == WorkloadState.Running)
                        await _engine.Retry.ExecuteAsync(src.Datacenter.Name, async t => { await src.StopAsync(nativeId, StopMode.Graceful, scope, t).ConfigureAwait(false); return true; }, src.HandlesOwnRetries, ct).ConfigureAwait(false);
                    scope.Checkpoint("done:stop", "stopped");
                    scope.Checkpoint("step", "last-sync");
                    var last = await TakePointAsync(item, src, dst, scope, ct).ConfigureAwait(false);
                    last.OperationId = op.Id;
                    last.Sequence = Store.Write(s => ReplicationData.InsertPoint(s, last));
                    point = last;
                    scope.Checkpoint("done:last-sync", point.Sequence.ToString(CultureInfo.InvariantCulture));
                }
                result.RecoveryPointTime = point.Time;
                result.DataLoss = mode == FailoverMode.Planned ? TimeSpan.Zero : started - point.Time;
                scope.Checkpoint("step", "create");
                var opts = JsonUtil.Deserialize<Dictionary<string, string>>(Store.Read(s => ReplicationData.OptionsJson(s, item.Id)) ?? "{}") ?? new Dictionary<string, string>();
                var tags = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { [ReplicaOfTag] = w.Id };
                if (mode == FailoverMode.Test) tags[TestTag] = item.Id;
                var dstDc = _engine.GetDatacenter(item.DestinationDatacenter);
                string? owner = string.IsNullOrEmpty(w.Owner) ? _engine.GetDatacenter(w.Datacenter).Owner : w.Owner;
                if (!string.IsNullOrEmpty(owner) && !string.Equals(owner, dstDc.Owner, StringComparison.OrdinalIgnoreCase)) tags[GridEngine.OwnerTag] = owner!;
                var req = new CreateWorkloadRequest
                {
                    Name = item.Name, Size = item.Size, TargetHost = item.DestinationHost, Tags = tags,
                    Options = new Dictionary<string, string>(opts, StringComparer.OrdinalIgnoreCase) { ["ImportedDisk"] = point.ImportedDisks[0] },
                    PowerOn = false, AllowDuplicateName = true, IdempotencyKey = "failover:" + op.Id.ToString("N"),
                };
                var made = await _engine.Retry.ExecuteAsync(dst.Datacenter.Name, t => dst.CreateWorkloadAsync(req, scope, t), dst.HandlesOwnRetries, ct).ConfigureAwait(false);
                string destId = WorkloadId.Format(item.DestinationDatacenter, made.NativeId);
                scope.Checkpoint("done:create", made.NativeId);
                if (mode == FailoverMode.Test)
                    Store.Write(s => { var i = Find(item.SourceId)!; i.TestWorkloadIds.Add(destId); ReplicationData.UpdateItem(s, i); return 0; });
                scope.Checkpoint("step", "start");
                await _engine.Retry.ExecuteAsync(dst.Datacenter.Name, async t => { await dst.StartAsync(made.NativeId, scope, t).ConfigureAwait(false); return true; }, dst.HandlesOwnRetries, ct).ConfigureAwait(false);
                var deadline = DateTime.UtcNow.AddMinutes(10);
                while ((await dst.GetWorkloadAsync(made.NativeId, ct).ConfigureAwait(false)).State != WorkloadState.Running)
                {
                    if (DateTime.UtcNow > deadline) throw GridException.ResourceUnavailable($"'{w.Name}' did not reach Running at '{item.DestinationDatacenter}' within 10 minutes.", "FailoverStartTimeout", w.Id);
                    await Task.Delay(100, ct).ConfigureAwait(false);
                }
                scope.Checkpoint("done:start", destId);
                if (mode != FailoverMode.Test)
                {
                    // the old primary is fenced: it refuses Start until failback or Enable-GridReplication -Reverse
                    Store.Write(s => { var i = Find(item.SourceId)!; i.State = ReplicationState.FailedOver; i.Fenced = true; i.FailoverWorkloadId = destId; ReplicationData.UpdateItem(s, i); return 0; });
                    scope.Checkpoint("done:fence", "fenced");
                }
                result.DestinationId = destId;
                result.Rto = DateTimeOffset.UtcNow - started;
                result.Status = "Running";
                _engine.Journal.Complete(op.Id, JsonUtil.Serialize(new { Destination = destId, Point = point.Sequence, DataLossSeconds = result.DataLoss?.TotalSeconds, RtoSeconds = result.Rto.TotalSeconds }));
            }
            catch (Exception ex)
            {
                var g = GridEngine.Normalize(ex, w.Id);
                if (ct.IsCancellationRequested && GridEngine.IsCancellation(ex)) { _engine.Journal.Interrupt(op.Id, "Cancelled during failover."); throw g; }
                _engine.Journal.Fail(op.Id, g.ErrorId, g.Message);
                try { Store.Write(s => { ReplicationData.SetError(s, item.Id, g.ErrorId + ": " + g.Message); return 0; }); } catch (GridException) { }
                result.Status = "Failed"; result.ErrorId = g.ErrorId; result.Error = g.Message; result.Rto = sw.Elapsed;
            }
            return result;
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
