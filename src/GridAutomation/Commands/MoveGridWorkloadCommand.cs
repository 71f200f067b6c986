using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Collections;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Moves;
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

    /// <summary>
    /// Moves workloads to another host of the same datacenter (live where the provider can), or with
    /// -DestinationDatacenter to another registered datacenter (one journaled, resumable operation per workload).
    /// </summary>
    [Cmdlet(VerbsCommon.Move, "GridWorkload", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridWorkload), typeof(Job))]
    public sealed class MoveGridWorkloadCommand : WorkloadChangeCmdlet
    {
        /// <summary>
        /// The host to move to: of the workload's own datacenter, or with -DestinationDatacenter of that one. A name, or a
        /// GridHost object (Get-GridHost output), also from the pipeline: Get-GridHost -Datacenter ams-1 -Name host-02 | Move-GridWorkload -Name web-01.
        /// </summary>
        [Parameter(ParameterSetName = ByName, ValueFromPipeline = true)]
        [Parameter(ParameterSetName = ById, ValueFromPipeline = true)]
        [Parameter(ParameterSetName = ByObject)]
        [ValidateNotNullOrEmpty]
        [GridHostName]
        [ArgumentCompleter(typeof(HostCompleter))]
        public string? DestinationHost { get; set; }

        /// <summary>Another registered datacenter to move to (Test-GridMove shows how it would go).</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DestinationDatacenterCompleter))]
        public string? DestinationDatacenter { get; set; }

        /// <summary>With -DestinationDatacenter: the destination size (default: the smallest that fits).</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DestinationSizeCompleter))]
        public string? Size { get; set; }

        /// <summary>With -DestinationDatacenter: destination settings, e.g. @{ Network = 'lan' } (default: the destination's -MoveDefaults).</summary>
        [Parameter]
        public Hashtable? Option { get; set; }

        /// <summary>With -DestinationDatacenter: remove the source after the destination runs (its disks are kept unless -RemoveStorage).</summary>
        [Parameter]
        public SwitchParameter RemoveSource { get; set; }

        /// <summary>With -RemoveSource: also delete the source's disks.</summary>
        [Parameter]
        public SwitchParameter RemoveStorage { get; set; }

        /// <summary>With -DestinationDatacenter: on a failure after the source stopped, leave things as they are (no restart of the source, no removal at the destination).</summary>
        [Parameter]
        public SwitchParameter NoRollback { get; set; }

        /// <summary>
        /// With -DestinationDatacenter: a running source is turned off (a hard power-off, as Stop-GridWorkload -TurnOff)
        /// instead of asked to shut down, e.g. a guest that does not answer ACPI. Unsaved guest state is lost.
        /// </summary>
        [Parameter]
        public SwitchParameter TurnOff { get; set; }

        /// <summary>Write the moved workload when done.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override string ActionName => "Move";
        protected override bool ReturnsWorkload => PassThru.IsPresent;
        private bool CrossDatacenter => !string.IsNullOrEmpty(DestinationDatacenter);

        protected override void ProcessRecord()
        {
            // checked per record: -DestinationHost may come from the pipeline (a GridHost)
            if (string.IsNullOrEmpty(DestinationHost) && !CrossDatacenter)
                ThrowTerminatingError(ErrorMapping.Create("DestinationMissing", ErrorCategory.InvalidArgument,
                    "Give -DestinationHost (a host of the same datacenter) or -DestinationDatacenter (another datacenter).", null, GridErrorKind.InvalidRequest));
            base.ProcessRecord();
        }

        protected override void ValidateParameters()
        {
            if (!CrossDatacenter && (Size != null || Option != null || RemoveSource || RemoveStorage || NoRollback || TurnOff))
                ThrowTerminatingError(ErrorMapping.Create("ParameterNeedsDestinationDatacenter", ErrorCategory.InvalidArgument,
                    "-Size, -Option, -RemoveSource, -RemoveStorage, -NoRollback and -TurnOff apply only with -DestinationDatacenter.", null, GridErrorKind.InvalidRequest));
            if (RemoveStorage && !RemoveSource)
                ThrowTerminatingError(ErrorMapping.Create("ParameterNeedsRemoveSource", ErrorCategory.InvalidArgument,
                    "-RemoveStorage applies only with -RemoveSource.", null, GridErrorKind.InvalidRequest));
        }

        protected override string DescribeAction(GridWorkload target)
            => CrossDatacenter
                ? "Move from datacenter '" + target.Datacenter + "' to datacenter '" + DestinationDatacenter + "'" + (string.IsNullOrEmpty(DestinationHost) ? "" : " (host '" + DestinationHost + "')")
                  + (target.State == WorkloadState.Running ? (TurnOff ? ", turning the running source off (hard power-off) first" : ", stopping the running source (shut down) first") : "")
                  + (RemoveSource ? ", then remove the source" + (RemoveStorage ? " and its disks" : "") : ", keeping the source stopped")
                : "Move from host '" + (target.Host ?? "?") + "' to host '" + DestinationHost + "'";

        protected override IReadOnlyList<WorkloadActionRequest> CreateRequests(GridWorkload target)
            => new[] { new WorkloadActionRequest { Action = WorkloadAction.Move, DestinationHost = DestinationHost } };

        protected override Func<IEngineObserver, CancellationToken, Task<GridWorkload?>>? CustomWork(GridWorkload target)
        {
            if (!CrossDatacenter) return null;
            var request = new MoveRequest { DestinationDatacenter = DestinationDatacenter!, DestinationHost = DestinationHost, Size = Size, TurnOff = TurnOff };
            if (Option != null)
                foreach (DictionaryEntry e in Option)
                    request.Options[e.Key?.ToString() ?? ""] = e.Value is PSObject p ? p.BaseObject?.ToString() ?? "" : e.Value?.ToString() ?? "";
            // the overall bar starts from the disks' sizes (export + import), replaced by each move's own bytes as it reports them
            Bytes.Plan(target.Id, 2 * (long)(target.Disks.Sum(d => d.SizeGB ?? 0) * 1024 * 1024 * 1024));
            var engine = Engine;
            var batch = BatchId;
            bool removeSource = RemoveSource, removeStorage = RemoveStorage, noRollback = NoRollback;
            return async (observer, ct) => await new MoveOrchestrator(engine).MoveAsync(target, request, removeSource, removeStorage, noRollback, batch, observer, ct).ConfigureAwait(false);
        }

        /// <summary>A running workload moved to another datacenter stops for a while: asked even at the default $ConfirmPreference, unless -Force.</summary>
        protected override bool ConfirmMore(GridWorkload target)
        {
            if (!CrossDatacenter || Force.IsPresent || target.State != WorkloadState.Running) return true;
            if (MyInvocation.BoundParameters.TryGetValue("Confirm", out var c) && c is SwitchParameter sp && !sp.IsPresent) return true;
            if (SessionState.PSVariable.GetValue("ConfirmPreference") is ConfirmImpact pref && pref == ConfirmImpact.None) return true;
            return ShouldContinue($"'{target.Name}' is running and has no live path to datacenter '{DestinationDatacenter}': it is " + (TurnOff ? "turned off (hard power-off, unsaved guest state is lost)" : "stopped (shut down)") + " while its disks are copied (Test-GridMove shows the estimated downtime). Move it?",
                "Move with downtime");
        }
    }
}
