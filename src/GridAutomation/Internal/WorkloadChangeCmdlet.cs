using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;

namespace GridAutomation.Internal
{
    /// <summary>
    /// Base of Start/Stop/Restart/Suspend/Remove/Set/Move-GridWorkload. Targets come by name (wildcards: every match
    /// is acted on, and each prompt says so), by id, or as workload objects from the pipeline. Each target is checked
    /// against its datacenter's capabilities and confirmed one by one; the work starts when all input is in.
    /// </summary>
    public abstract class WorkloadChangeCmdlet : ChangeCmdlet
    {
        protected const string ByName = "ByName";
        protected const string ById = "ById";
        protected const string ByObject = "ByObject";

        /// <summary>Workload names; wildcards act on every match.</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByName, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(WorkloadNameCompleter))]
        public string[] Name { get; set; } = null!;

        /// <summary>Datacenters to look for -Name in (wildcards); all registered ones by default.</summary>
        [Parameter(ParameterSetName = ByName, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[]? Datacenter { get; set; }

        /// <summary>Workload ids ("&lt;datacenter&gt;/&lt;native id&gt;").</summary>
        [Parameter(Mandatory = true, ParameterSetName = ById, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(WorkloadIdCompleter))]
        public string[] Id { get; set; } = null!;

        /// <summary>Workload objects (from Get-GridWorkload).</summary>
        [Parameter(Mandatory = true, ParameterSetName = ByObject, ValueFromPipeline = true)]
        [Alias("Workload")]
        [ValidateNotNull]
        public GridWorkload[] InputObject { get; set; } = null!;

        /// <summary>Runs the work as a background job (one child job per workload); confirmation happens first.</summary>
        [Parameter]
        public SwitchParameter AsJob { get; set; }

        private readonly HashSet<string> _seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        /// <summary>The verb shown in prompts and progress ("Stop", "Remove"...).</summary>
        protected abstract string ActionName { get; }

        /// <summary>What to do with one target (more than one request runs them in order, e.g. tags then resize).</summary>
        protected abstract IReadOnlyList<WorkloadActionRequest> CreateRequests(GridWorkload target);

        /// <summary>The prompt text for one target (without the match note).</summary>
        protected virtual string DescribeAction(GridWorkload target) => ActionName;

        /// <summary>Write the updated workload when done (-PassThru); Remove-GridWorkload never does.</summary>
        protected abstract bool ReturnsWorkload { get; }

        /// <summary>
        /// Work that is not a list of engine actions (a move between datacenters): when non-null it replaces
        /// <see cref="CreateRequests"/> for this target; it is approved the same way and runs in the same batch.
        /// </summary>
        protected virtual Func<IEngineObserver, CancellationToken, Task<GridWorkload?>>? CustomWork(GridWorkload target) => null;

        /// <summary>A second question after ShouldProcess (ShouldContinue-style, e.g. a move with downtime); true = go on.</summary>
        protected virtual bool ConfirmMore(GridWorkload target) => true;

        /// <summary>Validates cmdlet-wide parameters once (terminating on a bad combination).</summary>
        protected virtual void ValidateParameters() { }

        protected override void BeginProcessing()
        {
            base.BeginProcessing();
            ValidateParameters();
        }

        protected override void ProcessRecord()
        {
            var targets = ResolveTargets();
            foreach (var (target, note) in targets)
            {
                if (!_seen.Add(target.Id)) continue; // the same workload twice in one call is acted on once
                var custom = CustomWork(target);
                if (custom != null)
                {
                    var customLabel = target.Name + " (" + target.Id + ")";
                    if (!Approve(customLabel, DescribeAction(target) + note) || !ConfirmMore(target)) continue;
                    bool pass = ReturnsWorkload;
                    Approved.Add(new WorkItem(customLabel, target, async (observer, ct) =>
                    {
                        var result = await custom(observer, ct).ConfigureAwait(false);
                        return pass ? result : null;
                    }));
                    continue;
                }
                IReadOnlyList<WorkloadActionRequest> requests;
                try
                {
                    requests = CreateRequests(target);
                    foreach (var r in requests) Engine.EnsureCapable(target, r);
                }
                catch (PipelineStoppedException) { throw; }
                catch (Exception ex) { WriteGridError(ex, target); continue; }
                if (requests.Count == 0) continue;

                var label = target.Name + " (" + target.Id + ")";
                if (!Approve(label, DescribeAction(target) + note)) continue;

                var engine = Engine;
                var batch = BatchId;
                bool passThru = ReturnsWorkload;
                Approved.Add(new WorkItem(label, target, async (observer, ct) =>
                {
                    GridWorkload? current = target;
                    foreach (var req in requests)
                    {
                        var updated = await engine.InvokeAsync(current ?? target, req, batch, observer, ct).ConfigureAwait(false);
                        current = updated ?? current;
                    }
                    return passThru ? current : null;
                }));
            }
        }

        protected override void EndProcessing()
        {
            Execute(AsJob.IsPresent, ActionName + " workloads");
        }

        /// <summary>The workloads this record names, each with the note shown in its prompt (how -Name matched it).</summary>
        private List<(GridWorkload, string)> ResolveTargets()
        {
            var list = new List<(GridWorkload, string)>();
            switch (ParameterSetName)
            {
                case ByObject:
                    foreach (var w in InputObject) if (w != null) list.Add((w, ""));
                    break;
                case ById:
                    foreach (var id in Id)
                    {
                        if (TryRun(ct => Engine.GetWorkloadAsync(id, ct), id, out var w)) list.Add((w, ""));
                    }
                    break;
                default:
                    list.AddRange(FindWorkloadsByName(Name, Datacenter));
                    break;
            }
            return list;
        }
    }
}
