using System;
using System.Collections.Generic;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.State
{
    public sealed class OperationFilter
    {
        public Guid? Id { get; set; }
        public IReadOnlyList<string>? Datacenters { get; set; }
        public IReadOnlyCollection<OperationState>? States { get; set; }
        public string? Kind { get; set; }
        /// <summary>Several kinds (any of them), case-insensitive; combined with <see cref="Kind"/> when both are given.</summary>
        public IReadOnlyList<string>? Kinds { get; set; }
        /// <summary>Wildcard patterns matched against the target's name (as it was when the operation began) and its id.</summary>
        public IReadOnlyList<string>? Targets { get; set; }
        public Guid? BatchId { get; set; }
        /// <summary>Only the children of this operation (e.g. the steps of a move between datacenters).</summary>
        public Guid? ParentId { get; set; }
        /// <summary>
        /// Children (operations with a parent) are listed only with <see cref="ParentId"/>, <see cref="Id"/> or this set:
        /// a listing shows each move once, as its parent.
        /// </summary>
        public bool IncludeChildren { get; set; }
        public int? Last { get; set; }
    }

    /// <summary>What an operation is about to do, for <see cref="IOperationJournal.TryBegin"/>.</summary>
    public sealed class OperationIntent
    {
        public string Kind { get; set; } = "";
        public string Datacenter { get; set; } = "";
        public string Target { get; set; } = "";
        public string? TargetName { get; set; }
        public string? IdempotencyKey { get; set; }
        /// <summary>The request as JSON (never a secret).</summary>
        public string? RequestJson { get; set; }
        public Guid? BatchId { get; set; }
        public Guid? ParentId { get; set; }
        public string? DestinationDatacenter { get; set; }
        /// <summary>"provider" (default) or "core".</summary>
        public string? Coordinator { get; set; }
        /// <summary>The per-workload lock to take with the lease (null: none). Taken only if free or its holder is dead.</summary>
        public string? LockKey { get; set; }
        /// <summary>
        /// For a create: refuse when a Create of the same target succeeded after this time (the caller listed the
        /// provider at that time, so it may not have seen that workload). Checked in the same transaction as the intent.
        /// </summary>
        public DateTimeOffset? RefuseCreatesSucceededAfter { get; set; }
    }

    /// <summary>What TryBegin did: the operation (begun, lock held), or who holds the lock, or the create that got there first.</summary>
    public sealed class BeginOutcome
    {
        public GridOperation? Operation { get; set; }
        /// <summary>The live operation holding the wanted lock (Operation is null).</summary>
        public GridOperation? LockHolder { get; set; }
        /// <summary>A create of the same target that succeeded after the caller's listing (Operation is null).</summary>
        public GridOperation? NewerCreate { get; set; }
    }

    /// <summary>
    /// The operation journal in the state store. Intent is written (Begin) before a change acts and the result
    /// after (Complete/Fail). A Running operation holds a lease (process id, machine, process start time,
    /// heartbeat); when the lease holder is gone (same machine, process dead) or its heartbeat is older than the
    /// lease timeout, the operation reads as Interrupted. All writes go through IStateStore.Write.
    /// </summary>
    public interface IOperationJournal
    {
        /// <summary>Records the intent and takes the lease. Request JSON must not contain a secret.</summary>
        GridOperation Begin(string kind, string datacenter, string target, string? idempotencyKey, string? requestJson, Guid? batchId, string? targetName = null);
        /// <summary>
        /// In one transaction: takes the intent's per-workload lock (free, released, or held by a dead operation) with
        /// a fencing token one higher than the lock's last, checks the create rule, and records the intent as Running
        /// with this process's lease ("Started" is when the lock was taken). Nothing is written when it cannot begin.
        /// </summary>
        BeginOutcome TryBegin(OperationIntent intent);
        /// <summary>Records an operation that never reached its provider as Cancelled (final) and releases its lock.</summary>
        void Cancel(Guid id, string message);
        /// <summary>Records an operation whose provider call was cut off as Interrupted (Resume-GridOperation finishes it) and releases its lock.</summary>
        void Interrupt(Guid id, string message);
        /// <summary>Records a run paused at a manual step as Waiting (no lease, not finished; Resume-GridOperation goes on) and releases its lock.</summary>
        void Pause(Guid id, string message);
        void Checkpoint(Guid id, string key, string value);
        /// <summary>
        /// In one transaction: records a checkpoint of the parent (fenced like <see cref="Checkpoint"/>) and begins a child
        /// operation of it (Running, this process's lease, no lock of its own). A step of a move costs no extra write.
        /// </summary>
        GridOperation CheckpointAndBeginChild(Guid parentId, string key, string value, OperationIntent child);
        /// <summary>In one transaction: records a checkpoint of the parent and completes one of its children with its result.</summary>
        void CheckpointAndCompleteChild(Guid parentId, string key, string value, Guid childId, string? childResult);
        /// <summary>Refreshes the lease heartbeat (the engine calls it periodically while an operation runs).</summary>
        void Heartbeat(Guid id);
        void Complete(Guid id, string? resultJson);
        void Fail(Guid id, string errorId, string message);
        void MarkRolledBack(Guid id, string? message);
        GridOperation? Get(Guid id);
        /// <summary>The unfinished (Running or Interrupted) operation with this idempotency key, or the succeeded one with it, newest first.</summary>
        GridOperation? FindByIdempotencyKey(string kind, string idempotencyKey);
        IReadOnlyList<GridOperation> List(OperationFilter filter);
        /// <summary>
        /// Takes the lease of an Interrupted (or Waiting) operation for this process (for Resume), with its workload lock (a new
        /// fencing token). False if it is still running elsewhere or finished; GridException Conflict "WorkloadLocked"
        /// if another live operation holds the workload's lock.
        /// </summary>
        bool TryTakeOver(Guid id);
    }
}
