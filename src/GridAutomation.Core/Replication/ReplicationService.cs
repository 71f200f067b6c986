using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;

namespace GridAutomation.Core.Replication
{
    /// <summary>
    /// Replication (issue 17): protects a workload into another datacenter. Its replica is a series of recovery points,
    /// each taken through the source's <see cref="IRunningDiskExport"/> (running) or <see cref="IDiskTransfer.ExportDiskAsync"/>
    /// (stopped) and imported at the destination with <see cref="IDiskTransfer.ImportDiskAsync"/>; nothing runs (or is billed
    /// for compute) at the destination before a failover. Every change is journaled under the item's replication lock.
    /// </summary>
    public sealed partial class ReplicationService
    {
        public const string EnableKind = "EnableReplication";
        public const string SyncKind = "ReplicationSync";
        public const string DisableKind = "DisableReplication";

        private readonly GridEngine _engine;
        private bool _ready;
        private bool _absent;

        internal ReplicationService(GridEngine engine) { _engine = engine; }

        private IStateStore Store => _engine.Store;

        /// <summary>Creates the tables on first use; a read-only store without them reads as empty.</summary>
        private bool Ready()
        {
            if (_ready) return true;
            try { ReplicationData.EnsureSchema(Store); _ready = true; _absent = false; }
            catch (GridException g) when (g.ErrorId == "StateStoreReadOnly" || g.ErrorId == "StateStoreNotWritable") { _absent = true; }
            return !_absent;
        }

        private void EnsureWritable() { _engine.EnsureWritable(); Ready(); }

        /// <summary>The lock a sync, failover or disable of one protected workload takes (not the workload's own: a start or stop of the primary goes on while a point is taken).</summary>
        internal static string LockKey(string sourceId) => "replication:" + GridEngine.WorkloadLockKey(sourceId).Substring("workload:".Length);

        // ---- reads -------------------------------------------------------------------------------------------------

        /// <summary>Every protected workload, filtered by name or source id patterns (wildcards), with health and lag computed now.</summary>
        public IReadOnlyList<GridReplication> Get(IReadOnlyList<string>? names = null, IReadOnlyList<string>? sourceIds = null)
        {
            var n = Wildcard.CompileAll(names);
            if (!Ready()) return Array.Empty<GridReplication>();
            var all = Store.Read(ReplicationData.ListItems);
            foreach (var i in all) i.Health = HealthOf(i);
            return all.Where(i => Wildcard.MatchesAny(i.Name, n)
                && (sourceIds == null || sourceIds.Count == 0 || sourceIds.Any(s => string.Equals(s, i.SourceId, StringComparison.OrdinalIgnoreCase)))).ToList();
        }

        /// <summary>The item protecting <paramref name="sourceId"/> (any state), or null.</summary>
        public GridReplication? Find(string sourceId) => Get(sourceIds: new[] { sourceId }).FirstOrDefault();

        /// <summary>The item protecting <paramref name="w"/>, or NotFound "NotProtected".</summary>
        public GridReplication Require(GridWorkload w) => Require(w, Find(w.Id));

        /// <summary>As above, with the item already looked up (a run of many workloads reads the items once).</summary>
        internal static GridReplication Require(GridWorkload w, GridReplication? i)
        {
            if (i == null || i.State == ReplicationState.Disabled)
                throw GridException.NotFound($"'{w.Name}' ({w.Id}) is not protected: Enable-GridReplication -DestinationDatacenter <name> protects it first.", "NotProtected", w.Id);
            return i;
        }

        /// <summary>Recovery points, oldest first (of one item, or all).</summary>
        public IReadOnlyList<GridRecoveryPoint> GetPoints(GridReplication? item = null)
            => !Ready() ? Array.Empty<GridRecoveryPoint>() : Store.Read(s => ReplicationData.ListPoints(s, item?.Id));

        internal static ReplicationHealth HealthOf(GridReplication i)
        {
            if (i.LastError != null) return ReplicationHealth.Stalled;
            if (i.State is ReplicationState.Protected or ReplicationState.InitialSync && (i.LastRecoveryPoint == null || i.Lag > TimeSpan.FromMinutes(i.RpoMinutes)))
                return ReplicationHealth.Lagging;
            return ReplicationHealth.Healthy;
        }

        /// <summary>A point is due when the last one is older than half the RPO (a schedule every RPO/2 keeps the lag under the RPO).</summary>
        internal static bool IsDue(GridReplication i)
            => i.State is ReplicationState.InitialSync or ReplicationState.Protected
               && (i.LastRecoveryPoint == null || DateTimeOffset.UtcNow - i.LastRecoveryPoint.Value >= TimeSpan.FromMinutes(i.RpoMinutes / 2.0));

        /// <summary>Text of every replication table (tests: nothing changed by a refused call).</summary>
        public string DumpTables() => !Ready() ? "" : Store.Read(ReplicationData.Dump);

        // ---- enable ------------------------------------------------------------------------------------------------

        /// <summary>
        /// Protects <paramref name="w"/>: checks the pair with Test-GridMove's report (errors refuse), the destination
        /// owner's agreement, the running-copy capability; journals EnableReplication, records the item (InitialSync)
        /// and takes the first full point (then Protected). Everything is refused before anything is journaled.
        /// </summary>
        public async Task<GridReplication> EnableAsync(GridWorkload w, ReplicationRequest request, IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            if (request.RpoMinutes < 1 || request.RpoMinutes > 10080)
                throw GridException.InvalidRequest($"-RpoMinutes must be 1 to 10080 (a week); got {request.RpoMinutes}.", "InvalidRpo", w.Id);
            if (request.RecoveryPointCount < 1 || request.RecoveryPointCount > 1000)
                throw GridException.InvalidRequest($"-RecoveryPointCount must be 1 to 1000; got {request.RecoveryPointCount}.", "InvalidRecoveryPointCount", w.Id);
            var dstDc = _engine.GetDatacenter(request.DestinationDatacenter);
            if (string.Equals(dstDc.Name, w.Datacenter, StringComparison.OrdinalIgnoreCase))
                throw GridException.InvalidRequest($"'{w.Name}' is in datacenter '{w.Datacenter}' already: replicate it to another datacenter.", "SameDatacenter", w.Id);
            var existing = Find(w.Id);
            if (existing != null && existing.State != ReplicationState.Disabled)
                throw GridException.Conflict($"'{w.Name}' is already protected to '{existing.DestinationDatacenter}' ({existing.State}). Disable-GridReplication first to change its destination.", "AlreadyProtected", w.Id);
            var report = await new MoveService(_engine).TestAsync(w, new MoveRequest
            {
                DestinationDatacenter = dstDc.Name, DestinationHost = request.DestinationHost, Size = request.Size,
                Options = new Dictionary<string, string>(request.Options, StringComparer.OrdinalIgnoreCase),
            }, observer, ct).ConfigureAwait(false);
            var src = await _engine.GetConnectionAsync(w.Datacenter, observer, ct).ConfigureAwait(false);
            // ExportNotAllowed/ExportBucket* are rules of the cold export a move uses (AWS: only imported instances, through
            // an S3 bucket); a running workload's points come through IRunningDiskExport instead, which they do not limit
            bool runningCopy = w.State == WorkloadState.Running && src is IRunningDiskExport;
            var errors = report.Incompatibilities.Where(i => i.Severity == MoveSeverity.Error && !(runningCopy && MovePlanner.ExportRefusalCodes.Contains(i.Code))).ToList();
            if (errors.Count > 0)
                throw GridException.InvalidRequest($"'{w.Name}' cannot be protected to datacenter '{dstDc.Name}': " + string.Join(" ", errors.Select(e => e.Code + ": " + e.Message)), "ReplicationIncompatible", w.Id);
            var dst = await _engine.GetConnectionAsync(dstDc.Name, observer, ct).ConfigureAwait(false);
            if (src is not IDiskTransfer || dst is not IDiskTransfer)
                throw GridException.Unsupported($"Replicating disks from {w.Provider} datacenter '{w.Datacenter}' to datacenter '{dstDc.Name}' is not implemented yet.", "ReplicationNotImplemented", w.Id);
            if (w.State == WorkloadState.Running && src is not IRunningDiskExport)
                throw GridException.Unsupported($"Datacenter '{w.Datacenter}' ({w.Provider}) cannot copy the disks of a running workload, so it protects only stopped workloads: stop '{w.Name}' first.", "RunningExportNotSupported", w.Id);
            // a replica in another owner's datacenter needs an agreement now; it counts against the quota when it runs (failover)
            string? owner = string.IsNullOrEmpty(w.Owner) ? _engine.GetDatacenter(w.Datacenter).Owner : w.Owner;
            if (!string.IsNullOrEmpty(owner) && !string.IsNullOrEmpty(dstDc.Owner) && !string.Equals(owner, dstDc.Owner, StringComparison.OrdinalIgnoreCase))
                _engine.Grid.CheckAgreement(dstDc, owner!, w.Name);

            var item = existing ?? new GridReplication { Id = Guid.NewGuid().ToString("N").Substring(0, 16) };
            item.SourceId = w.Id; item.Name = w.Name; item.SourceDatacenter = w.Datacenter; item.DestinationDatacenter = dstDc.Name;
            item.DestinationHost = request.DestinationHost; item.Size = report.Size ?? request.Size; item.RpoMinutes = request.RpoMinutes;
            item.RecoveryPointCount = request.RecoveryPointCount; item.State = ReplicationState.InitialSync; item.Created = DateTimeOffset.UtcNow;
            item.Fenced = false; item.LastError = null; item.FailoverWorkloadId = null; item.TestWorkloadIds.Clear();
            var op = await _engine.BeginLockedAsync(new OperationIntent
            {
                Kind = EnableKind, Datacenter = w.Datacenter, Target = w.Id, TargetName = w.Name, DestinationDatacenter = dstDc.Name, Coordinator = "core",
                RequestJson = JsonUtil.Serialize(new { item.Id, request.DestinationDatacenter, request.DestinationHost, item.Size, request.RpoMinutes, request.RecoveryPointCount }),
                LockKey = LockKey(w.Id),
            }, observer, ct).ConfigureAwait(false);
            try
            {
                Store.Write(s =>
                {
                    if (existing != null) ReplicationData.DeleteItem(s, existing.Id);
                    ReplicationData.InsertItem(s, item, JsonUtil.Serialize(report.Options));
                    return 0;
                });
                _engine.Journal.Complete(op.Id, JsonUtil.Serialize(new { item.Id, State = item.State.ToString() }));
            }
            catch (Exception ex) { var g = GridEngine.Normalize(ex, w.Id); _engine.Journal.Fail(op.Id, g.ErrorId, g.Message); throw g; }
            // the first full copy (InitialSync -> Protected); a failure leaves the item Stalled with its error
            await SyncItemAsync(item, force: true, parentId: op.Id, observer, ct).ConfigureAwait(false);
            return Find(w.Id)!;
        }

        // ---- sync --------------------------------------------------------------------------------------------------

        /// <summary>
        /// Takes a recovery point of every given (or every) protected workload that is due (or all with <paramref name="force"/>),
        /// ships it and keeps the newest N. Safe from a schedule: an item another runner holds is skipped, and one that is no
        /// longer due once its lock is held is left alone, so two runners never ship the same point. Errors of one item are
        /// recorded on it (Stalled) and reported; the others go on.
        /// </summary>
        public async Task<IReadOnlyList<(GridReplication Item, GridRecoveryPoint? Point, GridException? Error)>> SyncAsync(IReadOnlyList<GridReplication>? items, bool force,
            IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            var list = (items ?? Get()).Where(i => force ? i.State is ReplicationState.InitialSync or ReplicationState.Protected : IsDue(i)).ToList();
            int parallel = Math.Max(1, _engine.Configuration.MaxConcurrencyPerDatacenter);
            var results = new (GridReplication, GridRecoveryPoint?, GridException?)[list.Count];
            using var gate = new SemaphoreSlim(parallel);
            await Task.WhenAll(list.Select(async (item, k) =>
            {
                await gate.WaitAsync(ct).ConfigureAwait(false);
                try { results[k] = (item, await SyncItemAsync(item, force, null, observer, ct).ConfigureAwait(false), null); }
                catch (Exception ex) when (!(ex is OperationCanceledException && ct.IsCancellationRequested)) { results[k] = (item, null, GridEngine.Normalize(ex, item.SourceId)); }
                finally { gate.Release(); }
            })).ConfigureAwait(false);
            return results;
        }

        /// <summary>One point of one item under its replication lock; null when another runner holds it or took it first.</summary>
        internal async Task<GridRecoveryPoint?> SyncItemAsync(GridReplication item, bool force, Guid? parentId, IEngineObserver observer, CancellationToken ct)
        {
            var outcome = _engine.Journal.TryBegin(new OperationIntent
            {
                Kind = SyncKind, Datacenter = item.SourceDatacenter, Target = item.SourceId, TargetName = item.Name, DestinationDatacenter = item.DestinationDatacenter,
                Coordinator = "core", ParentId = parentId, LockKey = LockKey(item.SourceId), RequestJson = JsonUtil.Serialize(new { Replication = item.Id, Force = force }),
            });
            if (outcome.Operation == null)
            {
                observer.Verbose($"'{item.Name}': operation {outcome.LockHolder?.Id} ({outcome.LockHolder?.Kind}) holds its replication; this run leaves it.");
                return null;
            }
            var op = outcome.Operation;
            var now = Find(item.SourceId);
            if (now == null || now.Id != item.Id || !(force ? now.State is ReplicationState.InitialSync or ReplicationState.Protected : IsDue(now)))
            {
                _engine.Journal.Cancel(op.Id, "Not due any more (another runner took the point, or the item changed): nothing was done.");
                return null;
            }
            var scope = new JournalScope(_engine.Journal, op, op.Id.ToString("N"), false, observer);
            using var heartbeat = _engine.StartHeartbeat(op.Id);
            try
            {
                var src = await _engine.GetConnectionAsync(item.SourceDatacenter, observer, ct).ConfigureAwait(false);
                var dst = await _engine.GetConnectionAsync(item.DestinationDatacenter, observer, ct).ConfigureAwait(false);
                var point = await TakePointAsync(now, src, dst, scope, ct).ConfigureAwait(false);
                point.OperationId = op.Id;
                point.Sequence = Store.Write(s =>
                {
                    long seq = ReplicationData.InsertPoint(s, point);
                    ReplicationData.SetError(s, item.Id, null);
                    if (now.State == ReplicationState.InitialSync) { now.State = ReplicationState.Protected; now.LastError = null; ReplicationData.UpdateItem(s, now); }
                    return seq;
                });
                scope.Checkpoint("point", point.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture));
                await PruneAsync(now, dst, observer, ct).ConfigureAwait(false);
                DiskFiles.RemoveStaging(DiskFiles.StagingFolder(op.Id));
                _engine.Journal.Complete(op.Id, JsonUtil.Serialize(new { Replication = item.Id, point.Sequence, Time = StateStore.FormatTime(point.Time), point.SizeBytes, point.CrashConsistent }));
                return point;
            }
            catch (Exception ex)
            {
                var g = GridEngine.Normalize(ex, item.SourceId);
                DiskFiles.RemoveStaging(DiskFiles.StagingFolder(op.Id));
                try { Store.Write(s => { ReplicationData.SetError(s, item.Id, g.ErrorId + ": " + g.Message); return 0; }); } catch (GridException) { }
                if (ct.IsCancellationRequested && GridEngine.IsCancellation(ex)) _engine.Journal.Interrupt(op.Id, "Cancelled while taking a recovery point; the next Sync-GridReplication takes a new one.");
                else _engine.Journal.Fail(op.Id, g.ErrorId, g.Message);
                throw new GridException(g.Kind, $"Recovery point of '{item.Name}' to '{item.DestinationDatacenter}' failed: {g.Message}", g.ErrorId, g) { Target = item.SourceId };
            }
        }

        /// <summary>Copies the disks (running: at one instant through IRunningDiskExport; stopped: per disk) and imports them at the destination.</summary>
        internal async Task<GridRecoveryPoint> TakePointAsync(GridReplication item, IGridConnection src, IGridConnection dst, JournalScope scope, CancellationToken ct)
        {
            if (!WorkloadId.TryParse(item.SourceId, out _, out var nativeId)) nativeId = item.SourceId;
            var w = await _engine.Retry.ExecuteAsync(src.Datacenter.Name, t => src.GetWorkloadAsync(nativeId, t), src.HandlesOwnRetries, ct).ConfigureAwait(false);
            var info = await ((IDiskTransport)src).DescribeAsync(nativeId, ct).ConfigureAwait(false);
            string staging = DiskFiles.StagingFolder(scope.OperationId);
            var taken = DateTimeOffset.UtcNow;
            bool running = w.State == WorkloadState.Running;
            IReadOnlyList<DiskImage> images;
            if (running)
            {
                if (src is not IRunningDiskExport live)
                    throw GridException.Unsupported($"Datacenter '{item.SourceDatacenter}' cannot copy the disks of a running workload: '{item.Name}' is protected only while stopped.", "RunningExportNotSupported", item.SourceId);
                images = await live.ExportRunningDisksAsync(nativeId, info.Disks.ToList(), staging, scope, ct).ConfigureAwait(false);
            }
            else if (w.State is WorkloadState.Stopped or WorkloadState.Deallocated)
            {
                var list = new List<DiskImage>();
                foreach (var d in info.Disks) list.Add(await ((IDiskTransfer)src).ExportDiskAsync(nativeId, d, staging, scope, ct).ConfigureAwait(false));
                images = list;
            }
            else throw GridException.Conflict($"'{item.Name}' is {w.State}: a recovery point is taken of a running or stopped workload.", "WorkloadNotExportable", item.SourceId);
            foreach (var img in images) img.Firmware ??= info.Firmware;
            scope.Checkpoint("exported", JsonUtil.Serialize(images));
            var refs = new List<string>();
            var dstX = (IDiskTransfer)dst;
            foreach (var img in images)
                refs.Add(await _engine.Retry.ExecuteAsync(dst.Datacenter.Name, t => dstX.ImportDiskAsync(img, scope.IdempotencyKey, scope, t), dst.HandlesOwnRetries, ct).ConfigureAwait(false));
            scope.Checkpoint("imported", string.Join("\n", refs));
            return new GridRecoveryPoint
            {
                ReplicationId = item.Id, SourceId = item.SourceId, Name = item.Name, DestinationDatacenter = item.DestinationDatacenter, Time = taken,
                SizeBytes = images.Sum(i => i.CapacityBytes), CrashConsistent = running, ImportedDisks = refs,
            };
        }

        /// <summary>Keeps the newest N points: older ones are discarded at the destination (IDiskImportCleanup with the scope of the sync that imported them) and forgotten.</summary>
        private async Task PruneAsync(GridReplication item, IGridConnection dst, IEngineObserver observer, CancellationToken ct)
        {
            var points = GetPoints(item);
            foreach (var p in points.Take(Math.Max(0, points.Count - item.RecoveryPointCount)))
                await DiscardPointAsync(p, dst, observer, ct).ConfigureAwait(false);
        }

        private async Task DiscardPointAsync(GridRecoveryPoint p, IGridConnection dst, IEngineObserver observer, CancellationToken ct)
        {
            if (dst is IDiskImportCleanup cleanup && _engine.Journal.Get(p.OperationId) is GridOperation made)
                await cleanup.DiscardImportsAsync(new JournalScope(_engine.Journal, made, made.Id.ToString("N"), true, observer), ct).ConfigureAwait(false);
            Store.Write(s => { ReplicationData.DeletePoint(s, p.ReplicationId, p.Sequence); return 0; });
        }

        // ---- disable -----------------------------------------------------------------------------------------------

        /// <summary>Stops protecting: removes the replica's points (and their imported disks) unless <paramref name="keepReplica"/>, which keeps them and marks the item Disabled.</summary>
        public async Task DisableAsync(GridReplication item, bool keepReplica, IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            var op = await _engine.BeginLockedAsync(new OperationIntent
            {
                Kind = DisableKind, Datacenter = item.SourceDatacenter, Target = item.SourceId, TargetName = item.Name, DestinationDatacenter = item.DestinationDatacenter,
                Coordinator = "core", LockKey = LockKey(item.SourceId), RequestJson = JsonUtil.Serialize(new { Replication = item.Id, KeepReplica = keepReplica }),
            }, observer, ct).ConfigureAwait(false);
            using var heartbeat = _engine.StartHeartbeat(op.Id);
            try
            {
                if (keepReplica)
                {
                    var now = Find(item.SourceId) ?? item;
                    now.State = ReplicationState.Disabled;
                    Store.Write(s => { ReplicationData.UpdateItem(s, now); return 0; });
                }
                else
                {
                    var dst = await _engine.GetConnectionAsync(item.DestinationDatacenter, observer, ct).ConfigureAwait(false);
                    foreach (var p in GetPoints(item)) await DiscardPointAsync(p, dst, observer, ct).ConfigureAwait(false);
                    Store.Write(s => { ReplicationData.DeleteItem(s, item.Id); return 0; });
                }
                _engine.Journal.Complete(op.Id, JsonUtil.Serialize(new { Replication = item.Id, KeepReplica = keepReplica }));
            }
            catch (Exception ex) { var g = GridEngine.Normalize(ex, item.SourceId); _engine.Journal.Fail(op.Id, g.ErrorId, g.Message); throw g; }
        }
    }
}
