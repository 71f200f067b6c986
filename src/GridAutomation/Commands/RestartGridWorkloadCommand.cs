using System.Collections.Generic;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Restarts workloads.</summary>
    [Cmdlet(VerbsLifecycle.Restart, "GridWorkload", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridWorkload), typeof(Job))]
    public sealed class RestartGridWorkloadCommand : WorkloadChangeCmdlet
    {
        /// <summary>Write the updated workload when done.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override string ActionName => "Restart";
        protected override bool ReturnsWorkload => PassThru.IsPresent;

        protected override IReadOnlyList<WorkloadActionRequest> CreateRequests(GridWorkload target)
            => new[] { new WorkloadActionRequest { Action = WorkloadAction.Restart } };
    }
}
