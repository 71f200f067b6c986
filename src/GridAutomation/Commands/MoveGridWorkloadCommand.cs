using System;
using System.Collections.Generic;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Turns a GridHost (Get-GridHost output) into its name, so -DestinationHost takes either.</summary>
    [AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
    public sealed class GridHostNameAttribute : ArgumentTransformationAttribute
    {
        public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
        {
            var value = inputData is PSObject p ? p.BaseObject : inputData;
            if (value is GridHost h) return h.Name;
            if (value is object[] a && a.Length == 1) return Transform(engineIntrinsics, a[0]);
            return inputData;
        }
    }

    /// <summary>Moves workloads to another host of the same datacenter (live where the provider can).</summary>
    [Cmdlet(VerbsCommon.Move, "GridWorkload", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridWorkload), typeof(Job))]
    public sealed class MoveGridWorkloadCommand : WorkloadChangeCmdlet
    {
        /// <summary>
        /// The host (of the workload's own datacenter) to move to: a name, or a GridHost object (Get-GridHost output),
        /// also from the pipeline: Get-GridHost -Datacenter ams-1 -Name host-02 | Move-GridWorkload -Name web-01.
        /// </summary>
        [Parameter(Mandatory = true, ParameterSetName = ByName, ValueFromPipeline = true)]
        [Parameter(Mandatory = true, ParameterSetName = ById, ValueFromPipeline = true)]
        [Parameter(Mandatory = true, ParameterSetName = ByObject)]
        [ValidateNotNullOrEmpty]
        [GridHostName]
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
