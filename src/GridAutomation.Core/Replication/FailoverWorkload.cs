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

namespace GridAutomation.Core.Replication
{
    /// <summary>
    /// The per-workload children of a failover run: FailoverStop (planned: the graceful stop of the source, in reverse
    /// group order before anything starts) and FailoverWorkload (last sync, create from the point, start, verify Running,
    /// fence). Each step is checkpointed before it acts; an interrupted child is taken over on Resume and goes on from
    /// its checkpoints (the create reuses the child's idempotency key, so it never makes a second copy).
    /// </summary>
    public sealed partial class ReplicationService
    {
        public const string FailoverStopKind = "FailoverStop";

        /// <summary>One workload of a run.</summary>
        private sealed class RunEntry
        {
            public GridWorkload W = null!;
            public GridReplication Item = null!;
            public GridRecoveryPoint Point = null!;
            public Admission? Admission;
            public int Group;
            /// <summary>Test mode: the destination network of the copy (-TestNetwork), given to the create as its option "Network".</summary>
            public string? TestNetwork;
            /// <summary>Resume of an unplanned run: the admission refused this workload (it fails with this, the others go on).</summary>
            public GridException? Refused;
        }

        /// <summary>
        /// -TestNetwork, before anything is journaled: Test mode only (TestNetworkNeedsTestMode); every destination must
        /// list its networks (INetworkCatalog, else TestNetworkUnsupported) and have this one (NetworkNotFound).
        /// </summary>
        private async Task CheckTestNetworkAsync(List<RunEntry> entries, FailoverMode mode, string? network, IEngineObserver observer, CancellationToken ct)
        {
            if (network == null) return;
            if (string.IsNullOrWhiteSpace(network))
                throw GridException.InvalidRequest("-TestNetwork is empty: give the name of a network of the destination datacenter.", "InvalidTestNetwork");
            if (mode != FailoverMode.Test)
                throw GridException.InvalidRequest($"-TestNetwork '{network}' is for -Mode Test only: a {mode} failover starts the replicas on the networks they were protected with.", "TestNetworkNeedsTestMode", network);
            foreach (var dc in entries.Select(e => e.Item.DestinationDatacenter).Distinct(StringComparer.OrdinalIgnoreCase))
            {
                var conn = await _engine.GetConnectionAsync(dc, observer, ct).ConfigureAwait(false);
                if (conn is not INetworkCatalog catalog)
                    throw GridException.Unsupported($"Destination datacenter '{dc}' ({conn.Datacenter.Provider}) cannot name a network for its test copies: -TestNetwork is supported where the provider lists its networks (simulator, libvirt, vSphere, AWS, Azure, Xen). Leave -TestNetwork out to use the replica's own network.", "TestNetworkUnsupported", dc);
                var names = await _engine.Retry.ExecuteAsync(dc, t => catalog.GetNetworksAsync(t), conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                // the provider's own spelling (libvirt's names are case-sensitive), so the create names the network it listed
                string? found = names.FirstOrDefault(n => string.Equals(n, network, StringComparison.Ordinal)) ?? names.FirstOrDefault(n => string.Equals(n, network, StringComparison.OrdinalIgnoreCase))
                    ?? throw GridException.NotFound($"No network '{network}' in destination datacenter '{dc}'. Networks: {string.Join(", ", names)}.", "NetworkNotFound", network);
                foreach (var e in entries.Where(x => string.Equals(x.Item.DestinationDatacenter, dc, StringComparison.OrdinalIgnoreCase))) e.TestNetwork = found;
            }
        }

        private const string RetryStatus = "Retry";

        /// <summary>Records a child cut off by a transient error as Interrupted, so the run takes it over again (false when even that cannot be written).</summary>
        private bool TryInterrupt(Guid id, GridException g)
        {
            for (int k = 0; k < 5; k++)
            {
                try { _engine.Journal.Interrupt(id, "Transient error, taken over again: " + g.Message); return true; }
                catch (GridException w) when (w.IsTransient) { Thread.Sleep(200 * (k + 1)); }
            }
            return false;
        }

        /// <summary>FailOneAsync, taking a child cut off by a transient error over again (up to 5 times) from its checkpoints.</summary>
        private async Task<GridFailoverResult> FailOneWithRetryAsync(Guid parentId, RunEntry e, FailoverMode mode, DateTimeOffset started, GridOperation? interrupted,
            IEngineObserver observer, CancellationToken ct)
        {
            var r = await FailOneAsync(parentId, e, mode, started, interrupted, observer, ct).ConfigureAwait(false);
            for (int attempt = 1; r.Status == RetryStatus && attempt <= 5 && !ct.IsCancellationRequested; attempt++)
            {
                await Task.Delay(250 * attempt, ct).ConfigureAwait(false);
                var prev = r.OperationId == Guid.Empty ? null : _engine.Journal.Get(r.OperationId);
                if (prev != null && prev.State != OperationState.Interrupted) break;
                r = await FailOneAsync(parentId, e, mode, started, prev, observer, ct).ConfigureAwait(false);
            }
            if (r.Status == RetryStatus) r.Status = "Failed";
            return r;
        }

        /// <summary>Running, or in a transition a cut-off call left (a resumed stop finishes it; Stopped needs nothing).</summary>
        private static bool NeedsStop(WorkloadState s) => s is WorkloadState.Running or WorkloadState.Stopping or WorkloadState.Starting;

        private static string NativeOf(GridWorkload w) => WorkloadId.TryParse(w.Id, out _, out var n) ? n : w.NativeId;

        /// <summary>Begins a child of the run under the item's replication lock, or takes over its interrupted one (Resume).</summary>
        private async Task<GridOperation> ChildAsync(Guid parentId, string kind, RunEntry e, FailoverMode mode, GridOperation? interrupted, IEngineObserver observer, CancellationToken ct)
        {
            if (interrupted != null)
            {
                if (!_engine.Journal.TryTakeOver(interrupted.Id))
                    throw GridException.Conflict($"Step {interrupted.Id} of '{e.W.Name}' was taken over by another process.", "OperationStillRunning", e.W.Id);
                return _engine.Journal.Get(interrupted.Id)!;
            }
            return await _engine.BeginLockedAsync(new OperationIntent
            {
                Kind = kind, Datacenter = e.Item.SourceDatacenter, Target = e.W.Id, TargetName = e.W.Name, DestinationDatacenter = e.Item.DestinationDatacenter,
                Coordinator = "core", ParentId = parentId, LockKey = LockKey(e.W.Id),
                RequestJson = JsonUtil.Serialize(new { Replication = e.Item.Id, Mode = mode.ToString(), Point = e.Point.Sequence }),
            }, observer, ct).ConfigureAwait(false);
        }

        /// <summary>Planned: the graceful stop of the source (nothing else), a child FailoverStop. Null when it stopped; the error otherwise.</summary>
        private async Task<GridException?> StopSourceAsync(Guid parentId, RunEntry e, GridOperation? interrupted, IEngineObserver observer, CancellationToken ct)
        {
            // a transient error (the store busy under load, a provider's throttling) is taken over again, up to 5 times
            Guid? lastChild = null;
            for (int attempt = 0; ; attempt++)
            {
                var err = await StopSourceOnceAsync(parentId, e, interrupted, observer, ct, id => lastChild = id).ConfigureAwait(false);
                if (err == null || !err.IsTransient || attempt >= 5 || ct.IsCancellationRequested) return err;
                await Task.Delay(250 * (attempt + 1), ct).ConfigureAwait(false);
                interrupted = lastChild is Guid c ? _engine.Journal.Get(c) : null;
                if (interrupted != null && interrupted.State != OperationState.Interrupted) return err;
            }
        }

        private async Task<GridException?> StopSourceOnceAsync(Guid parentId, RunEntry e, GridOperation? interrupted, IEngineObserver observer, CancellationToken ct, Action<Guid> began)
        {
            GridOperation op;
            try { op = await ChildAsync(parentId, FailoverStopKind, e, FailoverMode.Planned, interrupted, observer, ct).ConfigureAwait(false); }
            catch (GridException g) { return g; }
            began(op.Id);
            var scope = new JournalScope(_engine.Journal, op, op.Id.ToString("N"), interrupted != null, observer);
            using var heartbeat = _engine.StartHeartbeat(op.Id);
            try
            {
                var src = await _engine.GetConnectionAsync(e.Item.SourceDatacenter, observer, ct).ConfigureAwait(false);
                string native = NativeOf(e.W);
                scope.Checkpoint("step", "stop");
                var now = await src.GetWorkloadAsync(native, ct).ConfigureAwait(false);
                if (NeedsStop(now.State))
                    await _engine.Retry.ExecuteAsync(src.Datacenter.Name, async t => { await src.StopAsync(native, StopMode.Graceful, scope, t).ConfigureAwait(false); return true; }, src.HandlesOwnRetries, ct).ConfigureAwait(false);
                _engine.Journal.Complete(op.Id, null);
                return null;
            }
            catch (Exception ex)
            {
                var g = GridEngine.Normalize(ex, e.W.Id);
                if (ct.IsCancellationRequested && GridEngine.IsCancellation(ex)) { _engine.Journal.Interrupt(op.Id, "Cancelled during failover."); throw g; }
                if (g.IsTransient && TryInterrupt(op.Id, g)) return g;
                _engine.Journal.Fail(op.Id, g.ErrorId, g.Message);
                return g;
            }
        }

        /// <summary>One workload's failover, a child FailoverWorkload (or its interrupted one, going on from its checkpoints).</summary>
        private async Task<GridFailoverResult> FailOneAsync(Guid parentId, RunEntry e, FailoverMode mode, DateTimeOffset started, GridOperation? interrupted,
            IEngineObserver observer, CancellationToken ct)
        {
            var w = e.W; var item = e.Item; var point = e.Point;
            var result = new GridFailoverResult { Name = w.Name, SourceId = w.Id, Mode = mode };
            var sw = Stopwatch.StartNew();
            GridOperation op;
            try { op = await ChildAsync(parentId, FailoverChildKind, e, mode, interrupted, observer, ct).ConfigureAwait(false); }
            catch (GridException g) { result.Status = g.IsTransient && !ct.IsCancellationRequested ? RetryStatus : "Failed"; result.ErrorId = g.ErrorId; result.Error = g.Message; return result; }
            result.OperationId = op.Id;
            var done = new Dictionary<string, string>(op.Checkpoints, StringComparer.Ordinal);
            var scope = new JournalScope(_engine.Journal, op, op.Id.ToString("N"), interrupted != null, observer);
            using var heartbeat = _engine.StartHeartbeat(op.Id);
            string nativeId = NativeOf(w);
            try
            {
                var dst = await _engine.GetConnectionAsync(item.DestinationDatacenter, observer, ct).ConfigureAwait(false);
                                if (mode == FailoverMode.Planned)
                {
                    if (!done.ContainsKey("done:stop"))
                    {
                        // graceful stop of the source (a plan run stopped it already, in reverse group order: then this only checks)
                        var src = await _engine.GetConnectionAsync(item.SourceDatacenter, observer, ct).ConfigureAwait(false);
                        scope.Checkpoint("step", "stop");
                        var now = await src.GetWorkloadAsync(nativeId, ct).ConfigureAwait(false);
                        if (NeedsStop(now.State))
                            await _engine.Retry.ExecuteAsync(src.Datacenter.Name, async t => { await src.StopAsync(nativeId, StopMode.Graceful, scope, t).ConfigureAwait(false); return true; }, src.HandlesOwnRetries, ct).ConfigureAwait(false);
                        scope.Checkpoint("done:stop", "stopped");
                    }
                    GridRecoveryPoint? last = null;
                    if (done.TryGetValue("done:last-sync", out var seqText))
                        last = GetPoints(item).FirstOrDefault(p => p.Sequence == long.Parse(seqText, CultureInfo.InvariantCulture));
                    if (last == null)
                    {
                        // a last point of the stopped disks: nothing is lost
                        var src = await _engine.GetConnectionAsync(item.SourceDatacenter, observer, ct).ConfigureAwait(false);
                        scope.Checkpoint("step", "last-sync");
                        last = await TakePointAsync(item, src, dst, scope, ct).ConfigureAwait(false);
                        last.OperationId = op.Id;
                        last.Sequence = Store.Write(s => ReplicationData.InsertPoint(s, last));
                        scope.Checkpoint("done:last-sync", last.Sequence.ToString(CultureInfo.InvariantCulture));
                    }
                    point = last;
                }
                result.RecoveryPointTime = point.Time;
                result.DataLoss = mode == FailoverMode.Planned ? TimeSpan.Zero : started - point.Time;
                string madeNative;
                if (!done.TryGetValue("done:create", out madeNative!))
                {
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
                        // the child's own key: a resumed create returns the copy the interrupted one made
                        PowerOn = false, AllowDuplicateName = true, IdempotencyKey = "failover:" + op.Id.ToString("N"),
                    };
                    if (mode == FailoverMode.Test && e.TestNetwork != null) req.Options["Network"] = e.TestNetwork; // the test copy's isolated network
                    var made = await _engine.Retry.ExecuteAsync(dst.Datacenter.Name, t => dst.CreateWorkloadAsync(req, scope, t), dst.HandlesOwnRetries, ct).ConfigureAwait(false);
                    madeNative = made.NativeId;
                    scope.Checkpoint("done:create", madeNative);
                }
                string destId = WorkloadId.Format(item.DestinationDatacenter, madeNative);
                if (mode == FailoverMode.Test)
                    Store.Write(s => { var i = Find(item.SourceId)!; if (!i.TestWorkloadIds.Contains(destId)) i.TestWorkloadIds.Add(destId); ReplicationData.UpdateItem(s, i); return 0; });
                if (!done.ContainsKey("done:start"))
                {
                    scope.Checkpoint("step", "start");
                    if ((await dst.GetWorkloadAsync(madeNative, ct).ConfigureAwait(false)).State != WorkloadState.Running)
                        await _engine.Retry.ExecuteAsync(dst.Datacenter.Name, async t => { await dst.StartAsync(madeNative, scope, t).ConfigureAwait(false); return true; }, dst.HandlesOwnRetries, ct).ConfigureAwait(false);
                    var deadline = DateTime.UtcNow.AddMinutes(10);
                    while ((await dst.GetWorkloadAsync(madeNative, ct).ConfigureAwait(false)).State != WorkloadState.Running)
                    {
                        if (DateTime.UtcNow > deadline) throw GridException.ResourceUnavailable($"'{w.Name}' did not reach Running at '{item.DestinationDatacenter}' within 10 minutes.", "FailoverStartTimeout", w.Id);
                        await Task.Delay(100, ct).ConfigureAwait(false);
                    }
                    scope.Checkpoint("done:start", destId);
                }
                if (mode != FailoverMode.Test)
                {
                    // the old primary is fenced: it refuses Start until failback or Enable-GridReplication -Reverse
                    Store.Write(s => { var i = Find(item.SourceId)!; i.State = ReplicationState.FailedOver; i.Fenced = true; i.FailoverWorkloadId = destId; ReplicationData.UpdateItem(s, i); return 0; });
                    scope.Checkpoint("done:fence", "fenced");
                }
                result.DestinationId = destId;
                result.Rto = DateTimeOffset.UtcNow - started;
                result.Status = "Running";
                _engine.Journal.Complete(op.Id, JsonUtil.Serialize(new ChildResult { Destination = destId, Point = point.Sequence, PointTime = point.Time, DataLossSeconds = result.DataLoss?.TotalSeconds, RtoSeconds = result.Rto.TotalSeconds }));
            }
            catch (Exception ex)
            {
                var g = GridEngine.Normalize(ex, w.Id);
                if (ct.IsCancellationRequested && GridEngine.IsCancellation(ex)) { _engine.Journal.Interrupt(op.Id, "Cancelled during failover."); throw g; }
                if (g.IsTransient && TryInterrupt(op.Id, g)) { result.Status = RetryStatus; result.ErrorId = g.ErrorId; result.Error = g.Message; return result; }
                _engine.Journal.Fail(op.Id, g.ErrorId, g.Message);
                try { Store.Write(s => { ReplicationData.SetError(s, item.Id, g.ErrorId + ": " + g.Message); return 0; }); } catch (GridException) { }
                result.Status = "Failed"; result.ErrorId = g.ErrorId; result.Error = g.Message; result.Rto = sw.Elapsed;
            }
            return result;
        }

        /// <summary>What a finished FailoverWorkload child recorded (a resumed run reports it without repeating it).</summary>
        private sealed class ChildResult
        {
            public string? Destination { get; set; }
            public long Point { get; set; }
            public DateTimeOffset? PointTime { get; set; }
            public double? DataLossSeconds { get; set; }
            public double RtoSeconds { get; set; }
        }

        private static GridFailoverResult FromChild(GridOperation child, GridWorkload w, FailoverMode mode)
        {
            var r = JsonUtil.Deserialize<ChildResult>(child.Result ?? "{}") ?? new ChildResult();
            return new GridFailoverResult
            {
                Name = w.Name, SourceId = w.Id, Mode = mode, DestinationId = r.Destination, RecoveryPointTime = r.PointTime, Status = "Running", OperationId = child.Id,
                DataLoss = r.DataLossSeconds is double d ? TimeSpan.FromSeconds(d) : (TimeSpan?)null, Rto = TimeSpan.FromSeconds(r.RtoSeconds),
            };
        }
    }
}
