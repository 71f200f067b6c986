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
        public int? Last { get; set; }
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
        void Checkpoint(Guid id, string key, string value);
        /// <summary>Refreshes the lease heartbeat (the engine calls it periodically while an operation runs).</summary>
        void Heartbeat(Guid id);
        void Complete(Guid id, string? resultJson);
        void Fail(Guid id, string errorId, string message);
        void MarkRolledBack(Guid id, string? message);
        GridOperation? Get(Guid id);
        /// <summary>The unfinished (Running or Interrupted) operation with this idempotency key, or the succeeded one with it, newest first.</summary>
        GridOperation? FindByIdempotencyKey(string kind, string idempotencyKey);
        IReadOnlyList<GridOperation> List(OperationFilter filter);
        /// <summary>Takes the lease of an Interrupted operation for this process (for Resume). False if it is still running elsewhere or finished.</summary>
        bool TryTakeOver(Guid id);
    }
}
