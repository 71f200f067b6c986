using System.Collections.Generic;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Stops workloads: a guest shutdown by default (on Azure this also deallocates, as Stop-AzVM does);
    /// -TurnOff powers off hard; -Deallocate releases the compute allocation; -StayProvisioned keeps it.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Stop, "GridWorkload", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridWorkload), typeof(Job))]
    public sealed class StopGridWorkloadCommand : WorkloadChangeCmdlet
    {
        /// <summary>Hard power-off instead of a guest shutdown.</summary>
        [Parameter]
        public SwitchParameter TurnOff { get; set; }

        /// <summary>Stop and release the compute allocation (compute is no longer billed).</summary>
        [Parameter]
        public SwitchParameter Deallocate { get; set; }

        /// <summary>Guest shutdown that keeps the compute allocation (Azure: stopped but still billed).</summary>
        [Parameter]
        public SwitchParameter StayProvisioned { get; set; }

        /// <summary>Write the updated workload when done.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override string ActionName => "Stop";
        protected override bool ReturnsWorkload => PassThru.IsPresent;

        internal StopMode Mode
            => TurnOff ? StopMode.TurnOff : Deallocate ? StopMode.Deallocate : StayProvisioned ? StopMode.StayProvisioned : StopMode.Graceful;

        protected override void ValidateParameters()
        {
            int n = (TurnOff ? 1 : 0) + (Deallocate ? 1 : 0) + (StayProvisioned ? 1 : 0);
            if (n > 1)
                ThrowTerminatingError(ErrorMapping.Create("StopModeConflict", ErrorCategory.InvalidArgument,
                    "Use only one of -TurnOff, -Deallocate and -StayProvisioned.", null));
        }

        protected override string DescribeAction(GridWorkload target)
            => Mode == StopMode.Graceful ? "Stop" : "Stop (" + Mode + ")";

        protected override IReadOnlyList<WorkloadActionRequest> CreateRequests(GridWorkload target)
            => new[] { new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = Mode } };
    }
}
