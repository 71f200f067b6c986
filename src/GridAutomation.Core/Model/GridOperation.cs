using System;
using System.Collections.Generic;

namespace GridAutomation.Core.Model
{
    /// <summary>One change the module made (or is making), as journaled in the state store.</summary>
    public sealed class GridOperation
    {
        public Guid Id { get; set; }
        /// <summary>Create, Start, Stop, Restart, Suspend, Remove, Resize, SetTags, Move, Register, Unregister...</summary>
        public string Kind { get; set; } = "";
        public string Datacenter { get; set; } = "";
        /// <summary>Workload id (or name for a create) the operation acts on.</summary>
        public string Target { get; set; } = "";
        /// <summary>The workload's (or datacenter's) name when the operation began; null in journals older than schema v2.</summary>
        public string? TargetName { get; set; }
        public OperationState State { get; set; }
        public DateTimeOffset Started { get; set; }
        public DateTimeOffset? Finished { get; set; }
        public string? Error { get; set; }
        public string? ErrorId { get; set; }
        public string? IdempotencyKey { get; set; }
        /// <summary>Bulk invocation this operation belongs to (all operations of one cmdlet call share it).</summary>
        public Guid? BatchId { get; set; }
        /// <summary>The request, as JSON (never a secret).</summary>
        public string? Request { get; set; }
        /// <summary>The result (e.g. the created workload's native id).</summary>
        public string? Result { get; set; }
        /// <summary>Checkpoints recorded by multi-step operations, in order.</summary>
        public IDictionary<string, string> Checkpoints { get; set; } = new Dictionary<string, string>(StringComparer.Ordinal);
        public int? LeaseProcessId { get; set; }
        public string? LeaseMachine { get; set; }
        /// <summary>The lease holder's client id (configuration ClientId / GRIDAUTOMATION_CLIENT_ID; null when none was set). Schema v4.</summary>
        public string? LeaseClientId { get; set; }
        public DateTimeOffset? LeaseHeartbeat { get; set; }
        /// <summary>The per-workload lock this operation holds while it runs (null for operations that lock nothing). Schema v3.</summary>
        public string? LockKey { get; set; }
        /// <summary>The fencing token it got with its lock: grows with every holder of that lock, so a writer whose lease was taken over is refused.</summary>
        public long? FencingToken { get; set; }
        /// <summary>The parent operation (a move or failover plan is one operation with children). Schema v3.</summary>
        public Guid? ParentId { get; set; }
        /// <summary>The second datacenter of an operation that spans two (e.g. a move between datacenters). Schema v3.</summary>
        public string? DestinationDatacenter { get; set; }
        /// <summary>Who resumes it: "provider" (its ResumeAsync) or "core" (the engine drives its children). Schema v3.</summary>
        public string? Coordinator { get; set; }
        /// <summary>Set by the engine when Resume-GridOperation -Rollback asks a provider's ResumeAsync to undo rather than finish. Not persisted.</summary>
        public bool RollbackRequested { get; set; }
        public TimeSpan? Duration => Finished.HasValue ? Finished - Started : null;
        public override string ToString() => Kind + " " + (TargetName ?? Target) + " (" + State + ")";

        /// <summary>The lease holder in words: "process 123 on host1 (client runner-a)".</summary>
        public string DescribeLeaseHolder()
            => "process " + (LeaseProcessId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?") + " on " + (LeaseMachine ?? "?")
               + (string.IsNullOrEmpty(LeaseClientId) ? "" : " (client " + LeaseClientId + ")");
    }
}
