using System.Collections.Generic;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Suspends workloads (memory saved to disk, as PowerCLI's Suspend-VM); -Pause pauses them instead (memory held in
    /// the host, vCPUs stopped, as Hyper-V's Suspend-VM). Start-GridWorkload resumes either.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Suspend, "GridWorkload", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridWorkload), typeof(Job))]
    public sealed class SuspendGridWorkloadCommand : WorkloadChangeCmdlet
    {
        /// <summary>Pause (memory stays in the host, vCPUs stop; state Paused) instead of saving the memory to disk.</summary>
        [Parameter]
        public SwitchParameter Pause { get; set; }

        /// <summary>Write the updated workload when done.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override string ActionName => "Suspend";
        protected override bool ReturnsWorkload => PassThru.IsPresent;

        protected override string DescribeAction(GridWorkload target) => Pause ? "Pause" : "Suspend";

        protected override IReadOnlyList<WorkloadActionRequest> CreateRequests(GridWorkload target)
            => new[] { new WorkloadActionRequest { Action = Pause ? WorkloadAction.Pause : WorkloadAction.Suspend } };
    }
}
