using System;
using System.Collections.Generic;

namespace GridAutomation.Core.Replication
{
    /// <summary>Where a protected workload is in its life (issue 17); the names are the ones docs/failover.md explains.</summary>
    public enum ReplicationState { Enabling, InitialSync, Protected, FailingOver, FailedOver, Committed, Reprotecting, FailingBack, Disabled }

    /// <summary>Healthy; Lagging = the last point is older than the RPO; Stalled = the last sync failed (LastError says why).</summary>
    public enum ReplicationHealth { Healthy, Lagging, Stalled }

    /// <summary>Test: copies boot beside the running primaries. Planned: stop, last sync, start at the destination. Unplanned: the source may be gone.</summary>
    public enum FailoverMode { Test, Planned, Unplanned }

    /// <summary>One protected workload (a row of rep_items): its replica is the recovery points imported at the destination.</summary>
    public sealed class GridReplication
    {
        public string Id { get; set; } = "";
        /// <summary>The protected workload's id (datacenter/native id).</summary>
        public string SourceId { get; set; } = "";
        public string Name { get; set; } = "";
        public string SourceDatacenter { get; set; } = "";
        public string DestinationDatacenter { get; set; } = "";
        public string? DestinationHost { get; set; }
        public string? Size { get; set; }
        public int RpoMinutes { get; set; } = 15;
        public int RecoveryPointCount { get; set; } = 24;
        public ReplicationState State { get; set; }
        public ReplicationHealth Health { get; set; }
        public string? LastError { get; set; }
        /// <summary>True after a failover: the old primary refuses Start (FencedAfterFailover) until failback or -Reverse.</summary>
        public bool Fenced { get; set; }
        /// <summary>The workload a failover made at the destination (the new primary), when there is one.</summary>
        public string? FailoverWorkloadId { get; set; }
        /// <summary>Test failover copies (ids), removed by Stop-GridFailover -Test.</summary>
        public IList<string> TestWorkloadIds { get; set; } = new List<string>();
        public DateTimeOffset Created { get; set; }
        public DateTimeOffset? LastRecoveryPoint { get; set; }
        public int PointCount { get; set; }
        /// <summary>How old the last point is (null: none yet).</summary>
        public TimeSpan? Lag => LastRecoveryPoint is DateTimeOffset t ? DateTimeOffset.UtcNow - t : (TimeSpan?)null;
    }

    /// <summary>One recovery point (a row of rep_points): the disks as they were at <see cref="Time"/>, imported at the destination.</summary>
    public sealed class GridRecoveryPoint
    {
        public string ReplicationId { get; set; } = "";
        public string SourceId { get; set; } = "";
        public string Name { get; set; } = "";
        /// <summary>1, 2, 3... per protected workload: two runners can never record the same number (unique key).</summary>
        public long Sequence { get; set; }
        public DateTimeOffset Time { get; set; }
        public long SizeBytes { get; set; }
        /// <summary>True when taken from a running workload (what a power cut would leave); false: the workload was stopped.</summary>
        public bool CrashConsistent { get; set; }
        public string DestinationDatacenter { get; set; } = "";
        /// <summary>The destination's imported disk references, one per disk (what a create takes as Options["ImportedDisk"]).</summary>
        public IList<string> ImportedDisks { get; set; } = new List<string>();
        /// <summary>The journaled sync operation that took it (its scope finds the imports to discard).</summary>
        public Guid OperationId { get; set; }
        public TimeSpan Age => DateTimeOffset.UtcNow - Time;
    }

    /// <summary>What Enable-GridReplication asks for.</summary>
    public sealed class ReplicationRequest
    {
        public string DestinationDatacenter { get; set; } = "";
        public string? DestinationHost { get; set; }
        public string? Size { get; set; }
        public int RpoMinutes { get; set; } = 15;
        public int RecoveryPointCount { get; set; } = 24;
        public IDictionary<string, string> Options { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>One workload's outcome in a failover: where it runs now, from which point, its data loss and time to recover.</summary>
    public sealed class GridFailoverResult
    {
        public string Name { get; set; } = "";
        public string SourceId { get; set; } = "";
        public FailoverMode Mode { get; set; }
        public string? DestinationId { get; set; }
        public DateTimeOffset? RecoveryPointTime { get; set; }
        /// <summary>Age of the point used when the failover started (what was lost).</summary>
        public TimeSpan? DataLoss { get; set; }
        public TimeSpan Rto { get; set; }
        public string Status { get; set; } = "";
        public string? ErrorId { get; set; }
        public string? Error { get; set; }
        public Guid OperationId { get; set; }
    }
}
