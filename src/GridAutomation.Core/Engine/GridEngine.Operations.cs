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
            var op = Journal.Begin(request.Kind, dc.Name, target.Id, null, JsonUtil.Serialize(record), batchId, string.IsNullOrEmpty(target.Name) ? null : target.Name);
            return await RunActionAsync(op, dc, conn, record, isResume: false, observer, ct).ConfigureAwait(false);
        }

        private async Task<GridWorkload?> RunActionAsync(GridOperation op, GridDatacenter dc, IGridConnection conn, ActionRecord r, bool isResume, IEngineObserver observer, CancellationToken ct)
        {
            var scope = new JournalScope(Journal, op, op.Id.ToString("N"), isResume, observer);
            using var heartbeat = StartHeartbeat(op.Id);
            try
            {
                await _retry.ExecuteAsync(dc.Name, t => Act(conn, r, scope, t), conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                GridWorkload? result = null;
                if (r.Action != WorkloadAction.Remove)
                {
                    result = await _retry.ExecuteAsync(dc.Name, t => conn.GetWorkloadAsync(r.NativeId, t), conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                    Complete(result, dc);
                }
                Journal.Complete(op.Id, result == null ? null : JsonUtil.Serialize(new { result.Id, State = result.State.ToString(), result.Host }));
                return result;
            }
            catch (Exception ex)
            {
                var g = Normalize(ex, op.Target);
                if (g.Kind == GridErrorKind.NotFound && g.ErrorId == "NotFound") g = new GridException(GridErrorKind.NotFound, $"Workload '{op.Target}' was not found: {g.Message}", "WorkloadNotFound", g) { Target = op.Target, NativeCode = g.NativeCode };
                Journal.Fail(op.Id, g.ErrorId, g.Message);
                throw g;
            }
        }

        private static async Task<bool> Act(IGridConnection conn, ActionRecord r, IOperationScope scope, CancellationToken ct)
        {
            switch (r.Action)
            {
                case WorkloadAction.Start: await conn.StartAsync(r.NativeId, scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Stop: await conn.StopAsync(r.NativeId, r.StopMode, scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Restart: await conn.RestartAsync(r.NativeId, scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Suspend: await conn.SuspendAsync(r.NativeId, scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Remove: await conn.RemoveAsync(r.NativeId, r.RemoveStorage, scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Resize: await conn.ResizeAsync(r.NativeId, r.Resize ?? new ResizeRequest(), scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.SetTags: await conn.SetTagsAsync(r.NativeId, r.Tags ?? new Dictionary<string, string?>(), scope, ct).ConfigureAwait(false); break;
                case WorkloadAction.Move: await conn.MoveAsync(r.NativeId, r.DestinationHost ?? "", scope, ct).ConfigureAwait(false); break;
            }
            return true;
        }

        private IDisposable StartHeartbeat(Guid id)
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
            if (request.CpuCount.HasValue && request.CpuCount <= 0) throw GridException.InvalidRequest("-Cpu must be at least 1.", "InvalidSize", request.Name);
            if (request.MemoryMB.HasValue && request.MemoryMB <= 0) throw GridException.InvalidRequest("-MemoryGB must be more than 0.", "InvalidSize", request.Name);
            var conn = await GetConnectionAsync(dc.Name, observer, ct).ConfigureAwait(false);
            await ValidateCreateAsync(dc, conn, request, ct).ConfigureAwait(false); // size, image, host: refused before the journal

            bool userKey = !string.IsNullOrEmpty(request.IdempotencyKey);
            string lookupKey = userKey ? request.IdempotencyKey : dc.Name + "/" + request.Name;
            var previous = Journal.FindByIdempotencyKey("Create", lookupKey);
            if (previous != null)
            {
                if (previous.State == OperationState.Running)
                    throw GridException.Conflict($"A create of '{request.Name}' with key '{lookupKey}' is still running (operation {previous.Id}, process {previous.LeaseProcessId} on {previous.LeaseMachine}).", "OperationStillRunning", previous.Id);
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
            var op = Journal.Begin("Create", dc.Name, dc.Name + "/" + request.Name, lookupKey, JsonUtil.Serialize(record), batchId, request.Name);
            return await RunCreateAsync(op, dc, conn, request, isResume: false, observer, ct).ConfigureAwait(false);
        }

        private async Task<GridWorkload> RunCreateAsync(GridOperation op, GridDatacenter dc, IGridConnection conn, CreateWorkloadRequest request, bool isResume, IEngineObserver observer, CancellationToken ct)
        {
            var scope = new JournalScope(Journal, op, request.IdempotencyKey, isResume, observer);
            using var heartbeat = StartHeartbeat(op.Id);
            try
            {
                var w = await _retry.ExecuteAsync(dc.Name, t => conn.CreateWorkloadAsync(request, scope, t), conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                Complete(w, dc);
                Journal.Complete(op.Id, JsonUtil.Serialize(new Dictionary<string, string> { ["Id"] = w.Id, ["NativeId"] = w.NativeId }));
                return w;
            }
            catch (Exception ex)
            {
                var g = Normalize(ex, request.Name);
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
            if (op.State == OperationState.Running)
                throw GridException.Conflict($"Operation {id} is still running (process {op.LeaseProcessId} on {op.LeaseMachine}, last heartbeat {op.LeaseHeartbeat:u}).", "OperationStillRunning", id);
            if (op.State != OperationState.Interrupted)
                throw GridException.Conflict($"Operation {id} is {op.State}; only interrupted operations can be resumed.", "OperationNotInterrupted", id);
            if (!Journal.TryTakeOver(id))
                throw GridException.Conflict($"Operation {id} was taken over by another process.", "OperationStillRunning", id);

            op = Journal.Get(id)!;
            op.RollbackRequested = rollback;
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
