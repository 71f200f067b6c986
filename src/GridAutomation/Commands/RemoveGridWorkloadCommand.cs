using System.Collections.Generic;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Removes workloads. Their disks are kept unless -RemoveStorage (as PowerCLI's Remove-VM).</summary>
    [Cmdlet(VerbsCommon.Remove, "GridWorkload", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(Job))]
    public sealed class RemoveGridWorkloadCommand : WorkloadChangeCmdlet
    {
        /// <summary>Also delete the workload's disks.</summary>
        [Parameter]
        public SwitchParameter RemoveStorage { get; set; }

        protected override string ActionName => "Remove";
        protected override bool ReturnsWorkload => false;

        protected override string DescribeAction(GridWorkload target)
            => RemoveStorage ? "Remove, with its disks" : "Remove (disks kept)";

        protected override IReadOnlyList<WorkloadActionRequest> CreateRequests(GridWorkload target)
            => new[] { new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = RemoveStorage.IsPresent } };
    }
}
