using System;
using System.Collections.Generic;
using System.Linq;

namespace GridAutomation.Core.Replication
{
    /// <summary>
    /// A recovery plan (a row of rep_plans): ordered groups of protected workloads (SRM's priority groups). Group N starts
    /// when every workload of group N-1 runs; inside a group the workloads fail over in parallel (bounded by the engine's
    /// concurrency). A group may have a pre and a post script FILE (path + SHA-256 checked at run time) and a manual step
    /// (the run pauses, Waiting, until Resume-GridOperation).
    /// </summary>
    public sealed class GridRecoveryPlan
    {
        public string Name { get; set; } = "";
        public string? Description { get; set; }
        public IList<GridRecoveryPlanGroup> Groups { get; set; } = new List<GridRecoveryPlanGroup>();
        public DateTimeOffset Created { get; set; }
        public DateTimeOffset Modified { get; set; }
        public int GroupCount => Groups.Count;
        /// <summary>The groups as one line (table view): "db-* | app-* | web-*".</summary>
        public string Summary => string.Join(" | ", Groups.Select(g => string.Join(",", g.Workloads)));
    }

    /// <summary>One ordered group of a plan: workload name patterns (wildcards) and its actions.</summary>
    public sealed class GridRecoveryPlanGroup
    {
        /// <summary>1, 2, 3... (run order).</summary>
        public int Number { get; set; }
        /// <summary>Names (wildcards) of protected workloads, as Get-GridReplication lists them.</summary>
        public IList<string> Workloads { get; set; } = new List<string>();
        /// <summary>Runs before the group's workloads fail over.</summary>
        public GridPlanScript? PreScript { get; set; }
        /// <summary>Runs after every workload of the group runs at the destination.</summary>
        public GridPlanScript? PostScript { get; set; }
        /// <summary>After the group (and its post script): the run pauses (Waiting) until Resume-GridOperation.</summary>
        public string? ManualStep { get; set; }
    }

    /// <summary>A script FILE of a plan, with the SHA-256 it had when the plan recorded it (a run refuses another).</summary>
    public sealed class GridPlanScript
    {
        public string Path { get; set; } = "";
        public string Sha256 { get; set; } = "";
        public override string ToString() => Path;
    }

    /// <summary>What New-/Set-GridRecoveryPlan give for one group (script paths absolute; hashes are taken by the core).</summary>
    public sealed class RecoveryPlanGroupSpec
    {
        public IList<string> Workloads { get; set; } = new List<string>();
        public string? PreScript { get; set; }
        public string? PostScript { get; set; }
        public string? ManualStep { get; set; }
    }

    /// <summary>What a plan script is given (like ASR's $RecoveryPlanContext).</summary>
    public sealed class RecoveryPlanContext
    {
        public string RecoveryPlanName { get; set; } = "";
        public Guid OperationId { get; set; }
        /// <summary>Test, Planned or Unplanned.</summary>
        public string FailoverType { get; set; } = "";
        /// <summary>"PrimaryToRecovery" (the only direction: a failback is a planned failover of the reversed items).</summary>
        public string FailoverDirection { get; set; } = "PrimaryToRecovery";
        public int GroupId { get; set; }
        /// <summary>"Pre" or "Post".</summary>
        public string Stage { get; set; } = "";
        /// <summary>Per workload of the group, by name: source id, destination id (after the group ran), status.</summary>
        public IList<RecoveryPlanContextWorkload> Workloads { get; set; } = new List<RecoveryPlanContextWorkload>();
    }

    public sealed class RecoveryPlanContextWorkload
    {
        public string Name { get; set; } = "";
        public string SourceId { get; set; } = "";
        public string SourceDatacenter { get; set; } = "";
        public string DestinationDatacenter { get; set; } = "";
        public string? DestinationId { get; set; }
        public string? Status { get; set; }
    }

    /// <summary>The report of a plan run (or a failover of given workloads: one group): per group and total RTO, per workload results.</summary>
    public sealed class GridRecoveryPlanRun
    {
        public string? RecoveryPlan { get; set; }
        public FailoverMode Mode { get; set; }
        public Guid OperationId { get; set; }
        /// <summary>Succeeded, Failed or Waiting (paused at a manual step: Resume-GridOperation -Id OperationId goes on).</summary>
        public string State { get; set; } = "";
        /// <summary>The manual step the run waits for (State Waiting).</summary>
        public string? WaitingFor { get; set; }
        public IList<GridRecoveryGroupResult> Groups { get; set; } = new List<GridRecoveryGroupResult>();
        public IList<GridFailoverResult> Results { get; set; } = new List<GridFailoverResult>();
        /// <summary>From the run's start until the last workload ran (includes manual-step waits).</summary>
        public TimeSpan Rto { get; set; }
        public int Workloads => Results.Count;
        public int Failed => Results.Count(r => r.ErrorId != null);
    }

    public sealed class GridRecoveryGroupResult
    {
        public int Number { get; set; }
        public int Workloads { get; set; }
        public int Failed { get; set; }
        /// <summary>From the run's start until the last workload of the group ran.</summary>
        public TimeSpan? Rto { get; set; }
        /// <summary>From the group's start until its last workload ran.</summary>
        public TimeSpan? Duration { get; set; }
        public string Status { get; set; } = "";
    }
}
