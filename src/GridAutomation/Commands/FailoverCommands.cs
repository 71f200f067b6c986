using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Replication;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Fails protected workloads over to their replicas' datacenter: Test (copies boot beside the running primaries),
    /// Planned (sources stopped, a last point, started at the destination) or Unplanned (the source is not asked).
    /// All given workloads are one journaled parent operation with a child per workload; the output is the report
    /// (RTO and data loss per workload).
    /// </summary>
    [Cmdlet(VerbsLifecycle.Start, "GridFailover", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = ByName)]
    [OutputType(typeof(GridFailoverResult), typeof(GridRecoveryPlanRun))]
    public sealed class StartGridFailoverCommand : ReplicationTargetCmdlet
    {
        private const string ByName = "ByName";
        private const string ByPlan = "ByPlan";
        private readonly List<GridWorkload> _targets = new List<GridWorkload>();
        private readonly List<GridRecoveryPlan> _plans = new List<GridRecoveryPlan>();

        /// <summary>A recovery plan (its name, or a piped plan from Get-GridRecoveryPlan): its groups fail over in order.</summary>
        [Parameter(Mandatory = true, ParameterSetName = ByPlan, ValueFromPipeline = true)]
        [RecoveryPlanTransformation] [ArgumentCompleter(typeof(RecoveryPlanCompleter))] [ValidateNotNull]
        public GridRecoveryPlan RecoveryPlan { get; set; } = null!;

        /// <summary>Names of protected workloads (wildcards), as Get-GridReplication lists them.</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByName, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards] [ValidateNotNullOrEmpty]
        public string[] Name { get; set; } = null!;

        /// <summary>Test, Planned or Unplanned.</summary>
        [Parameter(Mandatory = true)]
        public FailoverMode Mode { get; set; }

        /// <summary>"Latest" (default) or a time: the newest recovery point taken at or before it.</summary>
        [Parameter] [ValidateNotNullOrEmpty]
        public string RecoveryPoint { get; set; } = "Latest";

        /// <summary>
        /// -Mode Test only: the destination network the test copies are attached to (isolated from production). The
        /// destination provider must list its networks (simulator, libvirt, vSphere, AWS, Azure, Xen); refused before anything is journaled otherwise.
        /// </summary>
        [Parameter] [ValidateNotNullOrEmpty] [ArgumentCompleter(typeof(TestNetworkCompleter))]
        public string? TestNetwork { get; set; }

        protected override void BeginProcessing()
        {
            base.BeginProcessing();
            PlanScriptHostInitializer.Install();
        }

        protected override void ProcessRecord()
        {
            if (ParameterSetName == ByPlan) { if (!_plans.Any(p => string.Equals(p.Name, RecoveryPlan.Name, StringComparison.OrdinalIgnoreCase))) _plans.Add(RecoveryPlan); return; }
            if (ParameterSetName != ByName) { _targets.AddRange(Targets()); return; }
            if (!TryRun(ct => Task.FromResult(Engine.Replication.Get(Name)), Name, out var items)) return;
            foreach (var n in Name)
                if (!WildcardPattern.ContainsWildcardCharacters(n) && !items.Any(i => string.Equals(i.Name, n, StringComparison.OrdinalIgnoreCase)))
                    WriteError(ErrorMapping.Create("NotProtected", ErrorCategory.ObjectNotFound, $"No protected workload named '{n}' (Get-GridReplication lists them).", n, GridErrorKind.NotFound));
            foreach (var i in items)
            {
                // An unplanned failover must not depend on the source answering: the item says enough.
                if (Mode == FailoverMode.Unplanned)
                {
                    try { _targets.Add(Engine.GetWorkloadAsync(i.SourceId, default).GetAwaiter().GetResult()); }
                    catch (Exception) { _targets.Add(new GridWorkload { Id = i.SourceId, Name = i.Name, Datacenter = i.SourceDatacenter }); }
                }
                else if (TryRun(ct => Engine.GetWorkloadAsync(i.SourceId, ct), i.SourceId, out var w)) _targets.Add(w);
            }
        }

        protected override void EndProcessing()
        {
            if (_targets.Count == 0 && _plans.Count == 0) return;
            DateTimeOffset? at = null;
            if (!string.Equals(RecoveryPoint, "Latest", StringComparison.OrdinalIgnoreCase))
            {
                if (!DateTimeOffset.TryParse(RecoveryPoint, CultureInfo.CurrentCulture, DateTimeStyles.AssumeLocal, out var t))
                {
                    WriteError(ErrorMapping.Create("InvalidRecoveryPoint", ErrorCategory.InvalidArgument, $"-RecoveryPoint '{RecoveryPoint}' is neither 'Latest' nor a time.", RecoveryPoint));
                    return;
                }
                at = t;
            }
            string what = Mode switch
            {
                FailoverMode.Test => "Test failover (copies start beside the running primaries" + (TestNetwork != null ? ", on network " + TestNetwork : "") + ")",
                FailoverMode.Planned => "Planned failover (the sources are stopped, then started at the destination)",
                _ => "Unplanned failover (the sources are not asked; the old primaries are fenced)",
            };
            foreach (var plan in _plans)
            {
                if (!Approve($"recovery plan {plan.Name}", what)) continue;
                if (!TryRun(ct => Engine.Replication.RunPlanAsync(plan, Mode, at, TestNetwork, Observer, ct), plan.Name, out var run)) continue;
                foreach (var r in run.Results.Where(r => r.ErrorId != null))
                    WriteError(ErrorMapping.Create(r.ErrorId!, ErrorCategory.OperationStopped, $"Recovery plan '{plan.Name}', '{r.Name}': {r.Error}", r.SourceId, GridErrorKind.Conflict));
                if (run.State == "Waiting")
                    WriteWarning($"Recovery plan '{plan.Name}' waits for a manual step: {run.WaitingFor} When it is done: Resume-GridOperation -Id {run.OperationId}");
                WriteObject(run);
            }
            if (_targets.Count == 0) return;
            var approved = _targets.Where(w => Approve($"{w.Name} ({w.Id})", what)).ToList();
            if (approved.Count == 0) return;
            if (!TryRun(ct => Engine.Replication.FailoverAsync(approved, Mode, at, TestNetwork, Observer, ct), null, out var results)) return;
            foreach (var r in results)
            {
                if (r.ErrorId != null)
                    WriteError(ErrorMapping.Create(r.ErrorId, ErrorCategory.OperationStopped, $"Failover of '{r.Name}': {r.Error}", r.SourceId, GridErrorKind.Conflict));
                WriteObject(r);
            }
        }
    }

    /// <summary>Ends a test failover: removes every test copy (with its storage); the workloads stay protected.</summary>
    [Cmdlet(VerbsLifecycle.Stop, "GridFailover", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridReplication))]
    public sealed class StopGridFailoverCommand : ChangeCmdlet
    {
        /// <summary>Names of protected workloads (wildcards); default all with a test failover running.</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)] [SupportsWildcards] public string[]? Name { get; set; }
        /// <summary>End a test failover (the only kind that is stopped: a planned or unplanned one is completed, or reversed).</summary>
        [Parameter(Mandatory = true)] public SwitchParameter Test { get; set; }
        /// <summary>Write the items.</summary>
        [Parameter] public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            if (!TryRun(ct => Task.FromResult(Engine.Replication.Get(Name)), Name, out var items)) return;
            var running = items.Where(i => i.TestWorkloadIds.Count > 0).ToList();
            if (Name != null)
                foreach (var n in Name.Where(x => !WildcardPattern.ContainsWildcardCharacters(x)))
                    if (!running.Any(i => string.Equals(i.Name, n, StringComparison.OrdinalIgnoreCase)))
                        WriteError(ErrorMapping.Create("NoTestFailover", ErrorCategory.ObjectNotFound, $"'{n}' has no test failover running.", n, GridErrorKind.NotFound));
            foreach (var i in running)
            {
                if (!Approve($"{i.Name} ({i.SourceId})", $"Remove {i.TestWorkloadIds.Count} test copy(ies) at {i.DestinationDatacenter}")) continue;
                if (TryRun(async ct => { await Engine.Replication.StopTestAsync(new[] { i }, Observer, ct).ConfigureAwait(false); return Engine.Replication.Find(i.SourceId)!; }, i.SourceId, out var done) && PassThru.IsPresent)
                    WriteObject(done);
            }
        }
    }

    /// <summary>Commits a failover: the item reads Committed and the old primary stays fenced until Enable-GridReplication -Reverse.</summary>
    [Cmdlet(VerbsLifecycle.Complete, "GridFailover", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridReplication))]
    public sealed class CompleteGridFailoverCommand : ChangeCmdlet
    {
        /// <summary>Names of failed-over workloads (wildcards).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)] [SupportsWildcards] [ValidateNotNullOrEmpty] public string[] Name { get; set; } = null!;
        /// <summary>Write the items.</summary>
        [Parameter] public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            if (!TryRun(ct => Task.FromResult(Engine.Replication.Get(Name)), Name, out var items)) return;
            foreach (var n in Name.Where(x => !WildcardPattern.ContainsWildcardCharacters(x)))
                if (!items.Any(i => string.Equals(i.Name, n, StringComparison.OrdinalIgnoreCase)))
                    WriteError(ErrorMapping.Create("NotProtected", ErrorCategory.ObjectNotFound, $"No protected workload named '{n}'.", n, GridErrorKind.NotFound));
            foreach (var i in items)
            {
                if (!Approve($"{i.Name} ({i.SourceId})", "Commit the failover")) continue;
                if (TryRun(ct => Task.FromResult(Engine.Replication.Complete(i)), i.SourceId, out var done) && PassThru.IsPresent) WriteObject(done);
            }
        }
    }
}
