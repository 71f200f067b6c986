using System.Collections.Generic;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Moves workloads to another host of the same datacenter (live where the provider can).</summary>
    [Cmdlet(VerbsCommon.Move, "GridWorkload", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridWorkload), typeof(Job))]
    public sealed class MoveGridWorkloadCommand : WorkloadChangeCmdlet
    {
        /// <summary>The host (of the workload's own datacenter) to move to.</summary>
        [Parameter(Mandatory = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(HostCompleter))]
        public string DestinationHost { get; set; } = "";

        /// <summary>Write the updated workload when done.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override string ActionName => "Move";
        protected override bool ReturnsWorkload => PassThru.IsPresent;

        protected override string DescribeAction(GridWorkload target)
            => "Move from host '" + (target.Host ?? "?") + "' to host '" + DestinationHost + "'";

        protected override IReadOnlyList<WorkloadActionRequest> CreateRequests(GridWorkload target)
            => new[] { new WorkloadActionRequest { Action = WorkloadAction.Move, DestinationHost = DestinationHost } };
    }
}
