using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Changes workloads: tags (merged into the existing ones; a $null value removes a tag) and/or size
    /// (-Size, or -Cpu/-MemoryGB). A resize that needs the workload stopped is refused unless -Restart.
    /// </summary>
    [Cmdlet(VerbsCommon.Set, "GridWorkload", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridWorkload), typeof(Job))]
    public sealed class SetGridWorkloadCommand : WorkloadChangeCmdlet
    {
        /// <summary>Tags to set; a $null value removes that tag. Other tags are kept.</summary>
        [Parameter]
        public Hashtable? Tag { get; set; }

        /// <summary>New size (instance type / VM size) of the datacenter.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(SizeCompleter))]
        public string? Size { get; set; }

        /// <summary>New number of virtual CPUs.</summary>
        [Parameter]
        [ValidateRange(1, 4096)]
        public int? Cpu { get; set; }

        /// <summary>New memory, in GiB.</summary>
        [Parameter]
        [ValidateRange(0.125, 65536)]
        public double? MemoryGB { get; set; }

        /// <summary>
        /// The new owner (the company that uses and pays for it). Checked like a placement: in another company's
        /// datacenter it needs an agreement in force with room in its quotas. The Owner tag changes only this way.
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? Owner { get; set; }

        /// <summary>Allow a stop and start where the provider needs one for this resize.</summary>
        [Parameter]
        public SwitchParameter Restart { get; set; }

        /// <summary>Write the updated workload when done.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        private Dictionary<string, string?>? _tagChanges;

        protected override string ActionName => "Set";
        protected override bool ReturnsWorkload => PassThru.IsPresent;

        private bool Resizing => Size != null || Cpu.HasValue || MemoryGB.HasValue;

        protected override void ValidateParameters()
        {
            if (Size != null && (Cpu.HasValue || MemoryGB.HasValue))
                ThrowTerminatingError(ErrorMapping.Create("SizeConflict", ErrorCategory.InvalidArgument,
                    "Give either -Size or -Cpu/-MemoryGB, not both.", Size));
            if (Tag == null && !Resizing && Owner == null)
                ThrowTerminatingError(ErrorMapping.Create("NothingToChange", ErrorCategory.InvalidArgument,
                    "Give -Tag, -Owner, -Size, -Cpu or -MemoryGB.", null));
            if (Tag != null)
            {
                try { _tagChanges = ConvertTags(Tag, allowNullValues: true); }
                catch (GridException ex) { ThrowGridError(ex, Tag); }
                if (_tagChanges!.ContainsKey(Core.Engine.GridEngine.OwnerTag))
                    ThrowTerminatingError(ErrorMapping.Create("OwnerTagReserved", ErrorCategory.InvalidArgument,
                        "The Owner tag is not changed through -Tag: use Set-GridWorkload -Owner, which is checked against the agreements of the datacenter.", Tag));
            }
        }

        protected override string DescribeAction(GridWorkload target)
        {
            var parts = new List<string>();
            if (_tagChanges != null)
            {
                var t = new List<string>();
                foreach (var kv in _tagChanges) t.Add(kv.Value == null ? "remove tag " + kv.Key : "tag " + kv.Key + "=" + kv.Value);
                parts.Add(string.Join(", ", t));
            }
            if (Owner != null) parts.Add("owner " + Owner);
            if (Size != null) parts.Add("resize to " + Size);
            if (Cpu.HasValue) parts.Add(Cpu + " CPU");
            if (MemoryGB.HasValue) parts.Add(MemoryGB.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) + " GB memory");
            if (Resizing && Restart) parts.Add("restarting it if needed");
            return "Set " + string.Join("; ", parts);
        }

        protected override IReadOnlyList<WorkloadActionRequest> CreateRequests(GridWorkload target)
        {
            var list = new List<WorkloadActionRequest>();
            if (_tagChanges != null || Owner != null)
            {
                // Only the keys the user named (a $null value removes that key): providers merge them into the tags the
                // workload has when the change runs, so a stale input object can never revert another change.
                list.Add(new WorkloadActionRequest
                {
                    Action = WorkloadAction.SetTags, Owner = Owner,
                    Tags = _tagChanges == null ? null : new Dictionary<string, string?>(_tagChanges, StringComparer.OrdinalIgnoreCase),
                });
            }
            if (Resizing)
            {
                list.Add(new WorkloadActionRequest
                {
                    Action = WorkloadAction.Resize,
                    Resize = new ResizeRequest
                    {
                        Size = Size,
                        CpuCount = Cpu,
                        MemoryMB = MemoryGB.HasValue ? (long)Math.Round(MemoryGB.Value * 1024) : (long?)null,
                        AllowRestart = Restart.IsPresent,
                    },
                });
            }
            return list;
        }
    }
}
