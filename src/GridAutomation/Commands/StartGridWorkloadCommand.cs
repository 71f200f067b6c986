using System.Collections.Generic;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Starts workloads (also resumes suspended or paused ones).</summary>
    [Cmdlet(VerbsLifecycle.Start, "GridWorkload", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(GridWorkload), typeof(Job))]
    public sealed class StartGridWorkloadCommand : WorkloadChangeCmdlet
    {
        /// <summary>Write the updated workload when done.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override string ActionName => "Start";
        protected override bool ReturnsWorkload => PassThru.IsPresent;

        protected override IReadOnlyList<WorkloadActionRequest> CreateRequests(GridWorkload target)
            => new[] { new WorkloadActionRequest { Action = WorkloadAction.Start } };
    }
}
