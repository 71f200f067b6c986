using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Engine
{
    public sealed partial class GridEngine
    {
        /// <summary>What is journaled for a workload change (never a secret).</summary>
        private sealed class ActionRecord
        {
            public WorkloadAction Action { get; set; }
            public string NativeId { get; set; } = "";
            public StopMode StopMode { get; set; }
            public bool RemoveStorage { get; set; }
            public ResizeRequest? Resize { get; set; }
            public Dictionary<string, string?>? Tags { get; set; }
            public string? DestinationHost { get; set; }
        }

        /// <summary>What is journaled for a create (secrets are left out: a resume that needs them asks for a re-run).</summary>
        private sealed class CreateRecord
        {
            public string Name { get; set; } = "";
            public string? Size { get; set; }
            public int? CpuCount { get; set; }
            public long? MemoryMB { get; set; }
            public string? Image { get; set; }
            public string? TargetHost { get; set; }
            public Dictionary<string, string> Tags { get; set; } = new Dictionary<string, string>();
            public Dictionary<string, string> Options { get; set; } = new Dictionary<string, string>();
            public bool PowerOn { get; set; } = true;
            public bool HadSecrets { get; set; }
            /// <summary>The key the provider saw (ClientToken etc.). Stable across resumes.</summary>
            public string ProviderKey { get; set; } = "";
        }

        private static GridCapabilities Needed(WorkloadActionRequest r)
        {
            switch (r.Action)
            {
                case WorkloadAction.Start: return GridCapabilities.Start;
                case WorkloadAction.Stop:
                    return r.StopMode == StopMode.TurnOff ? GridCapabilities.TurnOff
                         : r.StopMode == StopMode.Deallocate ? GridCapabilities.Deallocate
                         : GridCapabilities.Stop;
                case WorkloadAction.Restart: return GridCapabilities.Restart;
                case WorkloadAction.Suspend: return GridCapabilities.Suspend;
                case WorkloadAction.Pause: return GridCapabilities.Pause;
                case WorkloadAction.Remove: return r.RemoveStorage ? GridCapabilities.Remove | GridCapabilities.RemoveStorage : GridCapabilities.Remove;
                case WorkloadAction.Resize: return GridCapabilities.Resize;
                case WorkloadAction.SetTags: return GridCapabilities.Tags;
                case WorkloadAction.Move: return GridCapabilities.Move;
                default: return GridCapabilities.None;
            }
        }

        /// <summary>Throws Unsupported "CapabilityNotSupported" if the datacenter of <paramref name="target"/> cannot do the action (used by cmdlets before ShouldProcess/AsJob, so nothing half-acts).</summary>
        public void EnsureCapable(GridWorkload target, WorkloadActionRequest request)
        {
            var dc = GetDatacenter(target.Datacenter);
            var needed = Needed(request);
            var have = dc.Capabilities;
            if (request.Action == WorkloadAction.Move && (have & (GridCapabilities.Move | GridCapabilities.LiveMove)) != 0) return;
            if (request.Action == WorkloadAction.Pause && (have & GridCapabilities.Pause) == 0)
                throw GridException.Unsupported($"Datacenter '{dc.Name}' ({dc.Provider}) cannot pause a workload (keep its memory in the host with its vCPUs stopped); Suspend-GridWorkload without -Pause saves its memory to disk where the provider can (docs/states.md).", "PauseNotSupported", target.Id);
            if ((have & needed) != needed)
            {
                string what = request.Action == WorkloadAction.Stop && request.StopMode != StopMode.Graceful ? $"Stop -{request.StopMode}" : request.Action == WorkloadAction.Remove && request.RemoveStorage ? "Remove -RemoveStorage" : request.Action.ToString();
                throw GridException.Unsupported($"Datacenter '{dc.Name}' ({dc.Provider}) cannot {what}: its provider does not support {needed & ~have}.", "CapabilityNotSupported", target.Id);
            }
            if (request.Action == WorkloadAction.Resize && request.Resize != null && request.Resize.Size == null && request.Resize.CpuCount == null && request.Resize.MemoryMB == null)
                throw GridException.InvalidRequest("Nothing to resize: give -Size, -Cpu or -MemoryGB.", "NothingToChange", target.Id);
        }

        /// <summary>
        /// Checks that the datacenter's capabilities allow the action, journals it, runs it through the retry policy,
        /// and returns the updated workload (null after Remove).
        /// </summary>
        public async Task<GridWorkload?> InvokeAsync(GridWorkload target, WorkloadActionRequest request, Guid? batchId, IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            CallObserver.Value = observer;
            EnsureCapable(target, request);
            var dc = GetDatacenter(target.Datacenter);
            var conn = await GetConnectionAsync(dc.Name, observer, ct).ConfigureAwait(false);
            PrepareOwnerChange(request, target.Id); // OwnerTagReserved; -Owner becomes the Owner tag
            if (request.Action == WorkloadAction.Start) Replication.RefuseFenced(target.Id); // an old primary after failover (issue 17)
            if (request.Tags != null)
            {
                NameRules.ValidateTags(request.Tags, target.Id, allowNullValues: true);
                NameRules.ValidateMergedTags(target.Tags.Cast<System.Collections.DictionaryEntry>().ToDictionary(e => (string)e.Key, e => (object?)e.Value, NameRules.Comparer), request.Tags, target.Id);
            }
            if (request.Action == WorkloadAction.Move)
                await EnsureHostAsync(dc, conn, request.DestinationHost, ct).ConfigureAwait(false);
            if (request.Action == WorkloadAction.Resize && request.Resize?.Size != null)
                await EnsureSizeAsync(dc, conn, request.Resize.Size, ct).ConfigureAwait(false);

            var record = new ActionRecord
            {
                Action = request.Action, NativeId = target.NativeId, StopMode = request.StopMode, RemoveStorage = request.RemoveStorage,
                Resize = request.Resize, Tags = request.Tags == null ? null : new Dictionary<string, string?>(request.Tags, StringComparer.OrdinalIgnoreCase),
                DestinationHost = request.DestinationHost,
            };
            // A resize or an owner change must fit the agreement it runs under (NoAgreement, AgreementQuotaExceeded).
            var admission = await AdmitActionAsync(dc, conn, target, request, observer, ct).ConfigureAwait(false);
            try
            {
                var op = await BeginLockedAsync(new OperationIntent
                {
                    Kind = request.Kind, Datacenter = dc.Name, Target = target.Id, TargetName = string.IsNullOrEmpty(target.Name) ? null : target.Name,
                    RequestJson = JsonUtil.Serialize(record), BatchId = batchId, LockKey = WorkloadLockKey(target.Id),
                }, observer, ct).ConfigureAwait(false);
                var done = await RunActionAsync(op, dc, conn, record, isResume: false, observer, ct).ConfigureAwait(false);
                admission?.Succeeded();
                return done;
            }
            catch (Exception) { admission?.Failed(); throw; }
        }

        /// <summary>The key of a workload's lock: its id, with the datacenter part (and an Azure resource id) case-folded.</summary>
        internal static string WorkloadLockKey(string workloadId)
        {
            if (!WorkloadId.TryParse(workloadId, out var dc, out var native)) return "workload:" + workloadId;
            if (native.StartsWith("/subscriptions/", StringComparison.OrdinalIgnoreCase)) native = native.ToLowerInvariant();
            return "workload:" + dc.ToLowerInvariant() + "/" + native;
        }

        /// <summary>
        /// Begins an operation under its workload lock: waits (polling, never holding a transaction) while another live
        /// operation holds it, up to LockWaitSeconds, then fails with Conflict "WorkloadLocked" naming the holder.
        /// Cancellation while waiting journals nothing (the operation never began).
        /// </summary>
        internal async Task<GridOperation> BeginLockedAsync(OperationIntent intent, IEngineObserver observer, CancellationToken ct)
        {
            var wait = TimeSpan.FromSeconds(Configuration.LockWaitSeconds);
            var deadline = DateTime.UtcNow + wait;
            int delayMs = 20;
            bool told = false;
            var rnd = new Random(Guid.NewGuid().GetHashCode());
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                var outcome = Journal.TryBegin(intent);
                if (outcome.Operation != null) return outcome.Operation;
                var h = outcome.LockHolder!;
                string name = intent.TargetName ?? intent.Target;
                if (DateTime.UtcNow >= deadline)
                    throw new GridException(GridErrorKind.Conflict,
                        $"Workload '{name}' ({intent.Target}) is locked by operation {h.Id} ({h.Kind}, started {h.Started:u} by {h.DescribeLeaseHolder()}); waited {wait.TotalSeconds:0.#} s (LockWaitSeconds). Try again when it has finished (Get-GridOperation -Id {h.Id}).",
                        "WorkloadLocked") { Target = intent.Target };
                if (!told) { observer.Verbose($"Workload '{name}' is locked by operation {h.Id} ({h.Kind}); waiting up to {wait.TotalSeconds:0.#} s."); told = true; }
                await Task.Delay(delayMs + rnd.Next(delayMs), ct).ConfigureAwait(false);
                delayMs = Math.Min(delayMs * 2, 400);
            }
        }

        private async Task<GridWorkload?> RunActionAsync(GridOperation op, GridDatacenter dc, IGridConnection conn, ActionRecord r, bool isResume, IEngineObserver observer, CancellationToken ct)
        {
            var scope = new JournalScope(Journal, op, op.Id.ToString("N"), isResume, observer);
            using var heartbeat = StartHeartbeat(op.Id);
            int reached = 0; // set when the provider call is made: decides Cancelled (never asked) from Interrupted (asked)
            try
            {
                await _retry.ExecuteAsync(dc.Name, t => { Volatile.Write(ref reached, 1); return Act(conn, r, scope, t); }, conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                GridWorkload? result = null;
                if (r.Action != WorkloadAction.Remove)
                {
                    result = await _retry.ExecuteAsync(dc.Name, t => conn.GetWorkloadAsync(r.NativeId, t), conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                    Complete(result, dc);
                }
                Journal.Complete(op.Id, result == null ? null : JsonUtil.Serialize(new { result.Id, State = result.State.ToString(), result.Host }));
                RecordUsage(dc, result, result == null ? WorkloadId.Format(dc.Name, r.NativeId) : null, op.Id, observer);
                return result;
            }
            catch (Exception ex) when (ct.IsCancellationRequested && IsCancellation(ex))
            {
                var g = Normalize(ex, op.Target);
                if (Volatile.Read(ref reached) == 0)
                {
                    Journal.Cancel(op.Id, "Cancelled before the provider was asked: nothing was changed.");
                    throw g;
                }
                // The call was in flight: what happened is what the provider reports now, not which task saw the token.
                var (done, after) = await ProbeAsync(dc, conn, r).ConfigureAwait(false);
                if (done)
                {
                    Journal.Complete(op.Id, after == null ? null : JsonUtil.Serialize(new { after.Id, State = after.State.ToString(), after.Host }));
                    RecordUsage(dc, after, after == null ? WorkloadId.Format(dc.Name, r.NativeId) : null, op.Id, observer);
                    return after;
                }
                Journal.Interrupt(op.Id, "Cancelled while the provider call was in flight; the provider reports it unfinished. Resume-GridOperation finishes it.");
                throw g;
            }
            catch (Exception ex)
            {
                var g = Normalize(ex, op.Target);
                if (g.Kind == GridErrorKind.NotFound && g.ErrorId == "NotFound") g = new GridException(GridErrorKind.NotFound, $"Workload '{op.Target}' was not found: {g.Message}", "WorkloadNotFound", g) { Target = op.Target, NativeCode = g.NativeCode };
                Journal.Fail(op.Id, g.ErrorId, g.Message);
                throw g;
            }
        }

        internal static bool IsCancellation(Exception ex)
        {
            while (ex is AggregateException agg && agg.InnerExceptions.Count == 1) ex = agg.InnerExceptions[0];
            return ex is OperationCanceledException || (ex is GridException g && g.Kind == GridErrorKind.Cancelled);
        }

        /// <summary>
        /// After a cancelled in-flight call: asks the provider (not cancellable by the caller, bounded to 30 s) whether
        /// the action's effect is there. Unknown (Restart, a failed read) counts as not done: the operation is then
        /// Interrupted and Resume-GridOperation repeats the idempotent step.
        /// </summary>
        private async Task<(bool done, GridWorkload? workload)> ProbeAsync(GridDatacenter dc, IGridConnection conn, ActionRecord r)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            GridWorkload w;
            try
            {
                w = await conn.GetWorkloadAsync(r.NativeId, cts.Token).ConfigureAwait(false);
                Complete(w, dc);
            }
            catch (GridException g) when (g.Kind == GridErrorKind.NotFound) { return (r.Action == WorkloadAction.Remove, null); }
            catch (Exception) { return (false, null); }
            bool done;
            switch (r.Action)
            {
                case WorkloadAction.Start: done = w.State == WorkloadState.Running; break;
                case WorkloadAction.Stop: done = w.State == WorkloadState.Stopped || w.State == WorkloadState.Deallocated; break;
                case WorkloadAction.Suspend: done = w.State == WorkloadState.Suspended || w.State == WorkloadState.Paused; break;
                case WorkloadAction.Pause: done = w.State == WorkloadState.Paused; break;
                case WorkloadAction.Remove: done = w.State == WorkloadState.Deleted; break;
                case WorkloadAction.Move: done = string.Equals(w.Host, r.DestinationHost, StringComparison.OrdinalIgnoreCase) && w.State != WorkloadState.Unknown; break;
                case WorkloadAction.SetTags:
                    done = r.Tags != null && r.Tags.All(kv => kv.Value == null
                        ? !w.Tags.ContainsKey(kv.Key)
                        : w.Tags.ContainsKey(kv.Key) && string.Equals(Convert.ToString(w.Tags[kv.Key], System.Globalization.CultureInfo.InvariantCulture), kv.Value, StringComparison.Ordinal));
                    break;
                default: done = false; break; // Restart, Resize: not decidable from the state alone
            }
            return (done, done ? w : null);
        }

        private static async Task<bool> Act(IGridConnection conn, ActionRecord r, IOperationScope scope, CancellationToken ct)
        {
            switch (r.Action)
            {
                case WorkloadAction.Start: await conn.StartAsync(r.NativeId, scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Stop: await conn.StopAsync(r.NativeId, r.StopMode, scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Restart: await conn.RestartAsync(r.NativeId, scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Suspend: await conn.SuspendAsync(r.NativeId, scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Pause:
                    if (!(conn is IPausesWorkloads pauses))
                        throw GridException.Unsupported($"Datacenter '{conn.Datacenter.Name}' cannot pause a workload.", "PauseNotSupported", WorkloadId.Format(conn.Datacenter.Name, r.NativeId));
                    await pauses.PauseAsync(r.NativeId, scope, ct).ConfigureAwait(false);
                    break;
                case WorkloadAction.Remove: await conn.RemoveAsync(r.NativeId, r.RemoveStorage, scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Resize: await conn.ResizeAsync(r.NativeId, r.Resize ?? new ResizeRequest(), scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.SetTags: await conn.SetTagsAsync(r.NativeId, r.Tags ?? new Dictionary<string, string?>(), scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Move: await conn.MoveAsync(r.NativeId, r.DestinationHost ?? "", scope, ct).ConfigureAwait(false); break;
            }
            return true;
        }

        internal IDisposable StartHeartbeat(Guid id)
        {
            var period = TimeSpan.FromSeconds(Math.Max(1, Configuration.LeaseTimeoutSeconds / 4));
            return new Timer(_ => { try { Journal.Heartbeat(id); } catch (Exception) { /* a missed beat is retried next period */ } }, null, period, period);
        }

        private async Task EnsureHostAsync(GridDatacenter dc, IGridConnection conn, string? host, CancellationToken ct)
        {
            if (string.IsNullOrEmpty(host))
                throw GridException.InvalidRequest("Give the destination host (-DestinationHost).", "HostNotFound");
            var hosts = await _retry.ExecuteAsync(dc.Name, conn.ListHostsAsync, conn.HandlesOwnRetries, ct).ConfigureAwait(false);
            if (!hosts.Any(h => string.Equals(h.Name, host, StringComparison.OrdinalIgnoreCase)))
                throw GridException.NotFound($"Datacenter '{dc.Name}' has no host named '{host}'. Hosts: {string.Join(", ", hosts.Select(h => h.Name))}.", "HostNotFound", host);
        }

        private async Task EnsureSizeAsync(GridDatacenter dc, IGridConnection conn, string size, CancellationToken ct)
        {
            var sizes = await _retry.ExecuteAsync(dc.Name, conn.ListSizesAsync, conn.HandlesOwnRetries, ct).ConfigureAwait(false);
            if (sizes.Count > 0 && !sizes.Any(s => string.Equals(s.Name, size, StringComparison.OrdinalIgnoreCase)))
            {
                var some = sizes.Take(12).Select(s => s.Name);
                throw GridException.NotFound($"Datacenter '{dc.Name}' offers no size named '{size}'. Sizes include: {string.Join(", ", some)}{(sizes.Count > 12 ? ", ..." : "")} (Get-GridSize -Datacenter {dc.Name}).", "SizeNotFound", size);
            }
        }

        /// <summary>The tag rules of <see cref="NameRules.ValidateTags(IEnumerable{KeyValuePair{string, string}}, object?)"/> (InvalidRequest "InvalidTag").</summary>
        public static void ValidateTags(IDictionary<string, string> tags, object? target) => NameRules.ValidateTags(tags, target);

        /// <summary>
        /// Creates a workload. Validates the datacenter, size and tags before acting. IdempotencyKey defaults to
        /// "&lt;datacenter&gt;/&lt;name&gt;" while a create of that name is unfinished: a re-run after a crash
        /// takes over the interrupted create (the provider sees the same key) instead of making a second workload.
        /// </summary>
        public async Task<GridWorkload> CreateWorkloadAsync(string datacenter, CreateWorkloadRequest request, Guid? batchId, IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            CallObserver.Value = observer;
            NameRules.ValidateWorkloadName(request.Name);
            var dc = GetDatacenter(datacenter);
            if ((dc.Capabilities & GridCapabilities.Create) == 0)
                throw GridException.Unsupported($"Datacenter '{dc.Name}' ({dc.Provider}) cannot create workloads.", "CapabilityNotSupported", dc.Name);
            ValidateTags(request.Tags, request.Name);
            RefuseOwnerTag(request.Tags, request.Name);
            if (request.Owner != null)
            {
                ValidateOwnerName(request.Owner, request.Name);
                request.Tags[OwnerTag] = request.Owner;
            }
            if (request.CpuCount.HasValue && request.CpuCount <= 0) throw GridException.InvalidRequest("-Cpu must be at least 1.", "InvalidSize", request.Name);
            if (request.MemoryMB.HasValue && request.MemoryMB <= 0) throw GridException.InvalidRequest("-MemoryGB must be more than 0.", "InvalidSize", request.Name);
            var conn = await GetConnectionAsync(dc.Name, observer, ct).ConfigureAwait(false);
            await ValidateCreateAsync(dc, conn, request, ct).ConfigureAwait(false); // size, image, host: refused before the journal

            bool userKey = !string.IsNullOrEmpty(request.IdempotencyKey);
            string nameKey = dc.Name + "/" + request.Name;
            string lookupKey = userKey ? request.IdempotencyKey : nameKey;
            var previous = Journal.FindByIdempotencyKey("Create", lookupKey);
            if (previous != null)
            {
                if (previous.State == OperationState.Running)
                {
                    if (!userKey) throw NameBeingCreated(request.Name, dc.Name, previous);
                    throw GridException.Conflict($"A create of '{request.Name}' with key '{lookupKey}' is still running (operation {previous.Id}, {previous.DescribeLeaseHolder()}).", "OperationStillRunning", previous.Id);
                }
                if (previous.State == OperationState.Succeeded && userKey)
                {
                    observer.Verbose($"Create with idempotency key '{lookupKey}' already succeeded (operation {previous.Id}); returning that workload.");
                    var done = JsonUtil.Deserialize<Dictionary<string, string>>(previous.Result);
                    if (done != null && done.TryGetValue("Id", out var id)) return await GetWorkloadAsync(id, ct).ConfigureAwait(false);
                }
                if (previous.State == OperationState.Interrupted && Journal.TryTakeOver(previous.Id))
                {
                    observer.Warning($"Finishing the interrupted create of '{request.Name}' (operation {previous.Id}) instead of starting another.");
                    var rec = JsonUtil.Deserialize<CreateRecord>(previous.Request) ?? new CreateRecord();
                    request.IdempotencyKey = rec.ProviderKey;
                    return await RunCreateAsync(previous, dc, conn, request, isResume: true, observer, ct).ConfigureAwait(false);
                }
            }

            // Names are unique per datacenter: as the provider lists them, and among the creates of this store.
            bool allowDuplicate = request.AllowDuplicateName;
            if (allowDuplicate && (dc.Capabilities & GridCapabilities.DuplicateNames) == 0)
                throw GridException.InvalidRequest($"Datacenter '{dc.Name}' ({dc.Provider}) does not allow two workloads of one name: -AllowDuplicateName is only for providers that do (EC2, the simulator).", "DuplicateNameNotAllowed", request.Name);
            DateTimeOffset? listedAt = null;
            if (!allowDuplicate)
            {
                listedAt = DateTimeOffset.UtcNow;
                var existing = await FindByNameAsync(dc, conn, request.Name, ct).ConfigureAwait(false);
                if (existing != null) throw NameExists(request.Name, dc.Name, existing.Id);
            }

            // The owner must be allowed in this datacenter, within the agreement's quotas: one store transaction
            // counts and reserves, so two concurrent creates never both take the last unit.
            var admission = await AdmitCreateAsync(dc, conn, request, observer, ct).ConfigureAwait(false);
            try
            {
                var created = await BeginCreateAsync(dc, conn, request, batchId, userKey, lookupKey, nameKey, allowDuplicate, listedAt, observer, ct).ConfigureAwait(false);
                admission?.Succeeded();
                return created;
            }
            catch (Exception) { admission?.Failed(); throw; }
        }

        private async Task<GridWorkload> BeginCreateAsync(GridDatacenter dc, IGridConnection conn, CreateWorkloadRequest request, Guid? batchId, bool userKey,
            string lookupKey, string nameKey, bool allowDuplicate, DateTimeOffset? listedAt, IEngineObserver observer, CancellationToken ct)
        {
            var opId = Guid.NewGuid();
            string providerKey = userKey ? lookupKey : lookupKey + "#" + opId.ToString("N");
            request.IdempotencyKey = providerKey;
            var record = new CreateRecord
            {
                Name = request.Name, Size = request.Size, CpuCount = request.CpuCount, MemoryMB = request.MemoryMB, Image = request.Image,
                TargetHost = request.TargetHost, Tags = new Dictionary<string, string>(request.Tags, StringComparer.OrdinalIgnoreCase),
                Options = new Dictionary<string, string>(request.Options, StringComparer.OrdinalIgnoreCase), PowerOn = request.PowerOn,
                HadSecrets = request.Secrets.Count > 0, ProviderKey = providerKey,
            };
            // One transaction: the name lock (refused, not awaited, while another create of the name runs), the check
            // that no create of the name succeeded since the listing above, and the intent.
            var outcome = Journal.TryBegin(new OperationIntent
            {
                Kind = "Create", Datacenter = dc.Name, Target = nameKey, TargetName = request.Name, IdempotencyKey = lookupKey,
                RequestJson = JsonUtil.Serialize(record), BatchId = batchId,
                LockKey = allowDuplicate ? null : NameLockKey(dc.Name, request.Name), RefuseCreatesSucceededAfter = listedAt,
            });
            if (outcome.LockHolder != null) throw NameBeingCreated(request.Name, dc.Name, outcome.LockHolder);
            if (outcome.NewerCreate != null)
            {
                var made = JsonUtil.Deserialize<Dictionary<string, string>>(outcome.NewerCreate.Result);
                throw NameExists(request.Name, dc.Name, made != null && made.TryGetValue("Id", out var mid) ? mid : "(created by operation " + outcome.NewerCreate.Id + ")");
            }
            return await RunCreateAsync(outcome.Operation!, dc, conn, request, isResume: false, observer, ct).ConfigureAwait(false);
        }

        internal static string NameLockKey(string datacenter, string name) => "name:" + datacenter.ToLowerInvariant() + "/" + name.ToLowerInvariant();

        private static GridException NameExists(string name, string datacenter, string id)
            => new GridException(GridErrorKind.Conflict, $"A workload named '{name}' already exists in datacenter '{datacenter}' ({id}). Choose another name" +
                   " (names are unique per datacenter; -AllowDuplicateName where the provider allows duplicates).", "WorkloadNameExists") { Target = id };

        private static GridException NameBeingCreated(string name, string datacenter, GridOperation op)
            => new GridException(GridErrorKind.Conflict, $"A workload named '{name}' is being created in datacenter '{datacenter}' by operation {op.Id} ({op.DescribeLeaseHolder()}). Choose another name.", "WorkloadNameExists") { Target = op.Id };

        /// <summary>The workload of this name (case-insensitive) the provider lists in the datacenter, if any.</summary>
        private async Task<GridWorkload?> FindByNameAsync(GridDatacenter dc, IGridConnection conn, string name, CancellationToken ct)
        {
            var q = new WorkloadQuery { NamePatterns = Wildcard.HasWildcards(name) ? null : new[] { name }, PageSize = Configuration.PageSize };
            await foreach (var page in ListWithRetryAsync(dc.Name, conn, q, ct).ConfigureAwait(false))
                foreach (var w in page)
                    if (w.State != WorkloadState.Deleted && string.Equals(w.Name, name, StringComparison.OrdinalIgnoreCase)) { Complete(w, dc); return w; }
            return null;
        }

        private async Task<GridWorkload> RunCreateAsync(GridOperation op, GridDatacenter dc, IGridConnection conn, CreateWorkloadRequest request, bool isResume, IEngineObserver observer, CancellationToken ct)
        {
            var scope = new JournalScope(Journal, op, request.IdempotencyKey, isResume, observer);
            using var heartbeat = StartHeartbeat(op.Id);
            int reached = 0;
            try
            {
                var w = await _retry.ExecuteAsync(dc.Name, t => { Volatile.Write(ref reached, 1); return conn.CreateWorkloadAsync(request, scope, t); }, conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                Complete(w, dc);
                Journal.Complete(op.Id, JsonUtil.Serialize(new Dictionary<string, string> { ["Id"] = w.Id, ["NativeId"] = w.NativeId }));
                RecordUsage(dc, w, null, op.Id, observer);
                return w;
            }
            catch (Exception ex) when (ct.IsCancellationRequested && IsCancellation(ex))
            {
                var g = Normalize(ex, request.Name);
                if (Volatile.Read(ref reached) == 0) Journal.Cancel(op.Id, "Cancelled before the provider was asked: nothing was created.");
                // The provider may have made it: the same provider key finishes it (a re-run, or Resume-GridOperation) without a second workload.
                else Journal.Interrupt(op.Id, "Cancelled while the create was in flight; Resume-GridOperation (or the same New-GridWorkload) finishes it with the same key.");
                throw g;
            }
            catch (Exception ex)
            {
                var g = Normalize(ex, request.Name);
                // Providers that refuse a duplicate natively (vSphere, libvirt, Azure) answer under their own ids: one id for all.
                if (g.Kind == GridErrorKind.Conflict && (g.ErrorId == "WorkloadExists" || g.ErrorId == "LibvirtObjectExists" || g.ErrorId == "DuplicateName" || g.ErrorId == "AlreadyExists"))
                    g = new GridException(GridErrorKind.Conflict, g.Message, "WorkloadNameExists", g) { Target = g.Target, NativeCode = g.NativeCode };
                Journal.Fail(op.Id, g.ErrorId, g.Message);
                throw g;
            }
        }

        // ---- journal -------------------------------------------------------------------------------------------

        public IReadOnlyList<GridOperation> GetOperations(OperationFilter filter) => Journal.List(filter);

        /// <summary>Finishes (or with <paramref name="rollback"/> rolls back) an Interrupted operation. Conflict "OperationStillRunning" if its lease holder is alive.</summary>
        public async Task<GridOperation> ResumeOperationAsync(Guid id, bool rollback, IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            CallObserver.Value = observer;
            var op = Journal.Get(id) ?? throw GridException.NotFound($"No operation with id {id} is in the journal.", "OperationNotFound", id);
            // A child (a step of a move) is never resumed alone: its parent is, which takes the child over.
            if (op.ParentId is Guid parent && Journal.Get(parent) is GridOperation p && p.Coordinator == "core")
            {
                if (p.State != OperationState.Interrupted && p.State != OperationState.Waiting)
                    throw GridException.Conflict($"Operation {id} is a step ({op.Kind}) of operation {parent}, which is {p.State}; only an interrupted parent is resumed.", "OperationNotInterrupted", id);
                return await ResumeOperationAsync(parent, rollback, observer, ct).ConfigureAwait(false);
            }
            if (op.State == OperationState.Running)
                throw GridException.Conflict($"Operation {id} is still running ({op.DescribeLeaseHolder()}, last heartbeat {op.LeaseHeartbeat:u}).", "OperationStillRunning", id);
            bool waiting = op.State == OperationState.Waiting && op.Kind == GridAutomation.Core.Replication.ReplicationService.FailoverKind; // a plan run paused at a manual step
            if (op.State != OperationState.Interrupted && !waiting)
                throw GridException.Conflict($"Operation {id} is {op.State}; only interrupted operations can be resumed.", "OperationNotInterrupted", id);
            if (!Journal.TryTakeOver(id))
                throw GridException.Conflict($"Operation {id} was taken over by another process.", "OperationStillRunning", id);
            if (op.Kind == GridAutomation.Core.Replication.ReplicationService.FailoverKind)
                return await Replication.ResumeRunAsync(Journal.Get(id)!, waiting, rollback, observer, ct).ConfigureAwait(false);

            op = Journal.Get(id)!;
            op.RollbackRequested = rollback;
            // A move between datacenters is coordinated by the core (both datacenters), not by one provider.
            if (op.Kind == Moves.MoveOrchestrator.Kind)
                return await new Moves.MoveOrchestrator(this).ResumeAsync(op, rollback, observer, ct).ConfigureAwait(false);
            var dc = GetDatacenter(op.Datacenter);
            IGridConnection conn;
            try { conn = await GetConnectionAsync(dc.Name, observer, ct).ConfigureAwait(false); }
            catch (GridException g) { Journal.Fail(id, g.ErrorId, "Resume could not connect: " + g.Message); throw; }

            // A provider with its own multi-step resume (e.g. a save/restore move) decides first.
            var scope = new JournalScope(Journal, op, op.Id.ToString("N"), true, observer);
            try
            {
                bool finished;
                using (StartHeartbeat(id))
                    finished = await conn.ResumeAsync(op, scope, ct).ConfigureAwait(false);
                if (finished) Journal.Complete(id, op.Result);
                else Journal.MarkRolledBack(id, "Rolled back by the provider.");
                return Journal.Get(id)!;
            }
            catch (GridException g) when (g.Kind == GridErrorKind.Unsupported)
            {
                // Single-step operations: run the same (idempotent) step again, or record the roll-back.
            }
            catch (Exception ex)
            {
                var g = Normalize(ex, op.Target);
                Journal.Fail(id, g.ErrorId, g.Message);
                throw g;
            }

            if (rollback)
            {
                Journal.MarkRolledBack(id, "Rolled back on request: the interrupted step was not repeated; the workload is left as the provider reports it.");
                return Journal.Get(id)!;
            }
            if (op.Kind == "Create")
            {
                var rec = JsonUtil.Deserialize<CreateRecord>(op.Request) ?? throw GridException.InvalidRequest($"Operation {id} has no recorded request to resume.", "OperationNotResumable", id);
                if (rec.HadSecrets)
                {
                    Journal.Fail(id, "OperationNeedsSecrets", "This create needs the credential it was given; run the same New-GridWorkload command again to finish it.");
                    throw GridException.InvalidRequest($"Operation {id} needs the secret it was given (admin credential); run the same New-GridWorkload command again: it finishes this create instead of starting another.", "OperationNeedsSecrets", id);
                }
                var req = new CreateWorkloadRequest
                {
                    Name = rec.Name, Size = rec.Size, CpuCount = rec.CpuCount, MemoryMB = rec.MemoryMB, Image = rec.Image, TargetHost = rec.TargetHost,
                    Tags = rec.Tags, Options = rec.Options, PowerOn = rec.PowerOn, IdempotencyKey = rec.ProviderKey,
                };
                await RunCreateAsync(op, dc, conn, req, true, observer, ct).ConfigureAwait(false);
                return Journal.Get(id)!;
            }
            var action = JsonUtil.Deserialize<ActionRecord>(op.Request);
            if (action == null)
            {
                Journal.Fail(id, "OperationNotResumable", "No recorded request to resume.");
                throw GridException.InvalidRequest($"Operation {id} ({op.Kind}) has no recorded request to resume.", "OperationNotResumable", id);
            }
            await RunActionAsync(op, dc, conn, action, true, observer, ct).ConfigureAwait(false);
            return Journal.Get(id)!;
        }
    }
}
