using System;
using System.Linq;
using System.Management.Automation;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Records that a datacenter owner lends capacity to a consumer: in the owner's datacenters matching -Datacenter,
    /// workloads owned by the consumer may be created, moved or resized, within the quotas, at the prices given.
    /// </summary>
    [Cmdlet(VerbsCommon.New, "GridAgreement", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(GridAgreement))]
    public sealed class NewGridAgreementCommand : ChangeCmdlet
    {
        /// <summary>The company that owns the datacenters and lends them.</summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string Owner { get; set; } = "";

        /// <summary>The company whose workloads may use them.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNullOrEmpty]
        public string Consumer { get; set; } = "";

        /// <summary>The datacenters covered (a name or a wildcard, resolved each time the agreement is used).</summary>
        [Parameter(Mandatory = true, Position = 2)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string Datacenter { get; set; } = "";

        /// <summary>At most this many vCPUs of the consumer's workloads that hold capacity, over all covered datacenters.</summary>
        [Parameter] [ValidateRange(0, int.MaxValue)] public int? MaxCpu { get; set; }
        /// <summary>At most this much memory (GiB).</summary>
        [Parameter] [ValidateRange(0, double.MaxValue)] public double? MaxMemoryGB { get; set; }
        /// <summary>At most this many workloads.</summary>
        [Parameter] [ValidateRange(0, int.MaxValue)] public int? MaxWorkloads { get; set; }
        /// <summary>Price per vCPU per hour charged to the consumer.</summary>
        [Parameter] [ValidateRange(0, double.MaxValue)] public decimal? PricePerCpuHour { get; set; }
        /// <summary>Price per GiB of memory per hour charged to the consumer.</summary>
        [Parameter] [ValidateRange(0, double.MaxValue)] public decimal? PricePerGBHour { get; set; }
        /// <summary>When it comes into force (default: now).</summary>
        [Parameter] public DateTimeOffset? Start { get; set; }
        /// <summary>When it ends (exclusive; default: never).</summary>
        [Parameter] public DateTimeOffset? End { get; set; }

        protected override void ProcessRecord()
        {
            var a = new GridAgreement
            {
                Owner = Owner, Consumer = Consumer, Datacenter = Datacenter, MaxCpu = MaxCpu, MaxMemoryGB = MaxMemoryGB, MaxWorkloads = MaxWorkloads,
                PricePerCpuHour = PricePerCpuHour, PricePerGBHour = PricePerGBHour, Start = Start, End = End,
            };
            if (!Approve($"{Owner} -> {Consumer} in {Datacenter}", "Create agreement")) return;
            if (TryRun(ct => Task.FromResult(Engine.Grid.NewAgreement(a)), Owner, out var made)) WriteObject(made);
        }
    }

    /// <summary>Lists agreements, by owner, consumer (wildcards), id, or the datacenter they cover.</summary>
    [Cmdlet(VerbsCommon.Get, "GridAgreement")]
    [OutputType(typeof(GridAgreement))]
    public sealed class GetGridAgreementCommand : GridCmdlet
    {
        /// <summary>Owners (wildcards).</summary>
        [Parameter(Position = 0)] [SupportsWildcards] public string[]? Owner { get; set; }
        /// <summary>Consumers (wildcards).</summary>
        [Parameter] [SupportsWildcards] public string[]? Consumer { get; set; }
        /// <summary>Only agreements covering a datacenter of this name.</summary>
        [Parameter] [ArgumentCompleter(typeof(DatacenterCompleter))] public string? Datacenter { get; set; }
        /// <summary>Agreement ids.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)] public string[]? Id { get; set; }
        /// <summary>Only those in force now.</summary>
        [Parameter] public SwitchParameter InForce { get; set; }

        protected override void ProcessRecord()
        {
            System.Collections.Generic.IReadOnlyList<GridAgreement> list;
            try { list = Engine.Grid.GetAgreements(Owner, Consumer, Id); }
            catch (PipelineStoppedException) { throw; }
            catch (Exception ex) { ThrowGridError(ex, Owner); return; }
            var now = DateTimeOffset.UtcNow;
            foreach (var a in list)
            {
                if (Datacenter != null && !Wildcard.IsMatch(Datacenter, a.Datacenter)) continue;
                if (InForce.IsPresent && !a.InForceAt(now)) continue;
                WriteObject(a);
            }
            if (Id != null)
                foreach (var id in Id)
                    if (!list.Any(a => string.Equals(a.Id, id, StringComparison.OrdinalIgnoreCase)))
                        WriteError(ErrorMapping.Create("AgreementNotFound", ErrorCategory.ObjectNotFound, $"No agreement with id '{id}'.", id, GridErrorKind.NotFound));
        }
    }

    /// <summary>Changes an agreement's datacenters, quotas, prices or dates (by -Id, or piped from Get-GridAgreement).</summary>
    [Cmdlet(VerbsCommon.Set, "GridAgreement", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridAgreement))]
    public sealed class SetGridAgreementCommand : ChangeCmdlet
    {
        /// <summary>The agreement's id.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)] [ValidateNotNullOrEmpty] public string Id { get; set; } = "";
        /// <summary>The datacenters covered (name or wildcard).</summary>
        [Parameter] [SupportsWildcards] [ValidateNotNullOrEmpty] public string? Datacenter { get; set; }
        [Parameter] [ValidateRange(0, int.MaxValue)] public int? MaxCpu { get; set; }
        [Parameter] [ValidateRange(0, double.MaxValue)] public double? MaxMemoryGB { get; set; }
        [Parameter] [ValidateRange(0, int.MaxValue)] public int? MaxWorkloads { get; set; }
        [Parameter] [ValidateRange(0, double.MaxValue)] public decimal? PricePerCpuHour { get; set; }
        [Parameter] [ValidateRange(0, double.MaxValue)] public decimal? PricePerGBHour { get; set; }
        [Parameter] public DateTimeOffset? Start { get; set; }
        [Parameter] public DateTimeOffset? End { get; set; }
        /// <summary>Write the changed agreement.</summary>
        [Parameter] public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            if (!TryRun(ct => Task.FromResult(Engine.Grid.GetAgreement(Id)), Id, out var a)) return;
            if (Datacenter != null) a.Datacenter = Datacenter;
            if (MaxCpu.HasValue) a.MaxCpu = MaxCpu;
            if (MaxMemoryGB.HasValue) a.MaxMemoryGB = MaxMemoryGB;
            if (MaxWorkloads.HasValue) a.MaxWorkloads = MaxWorkloads;
            if (PricePerCpuHour.HasValue) a.PricePerCpuHour = PricePerCpuHour;
            if (PricePerGBHour.HasValue) a.PricePerGBHour = PricePerGBHour;
            if (Start.HasValue) a.Start = Start;
            if (End.HasValue) a.End = End;
            if (!Approve($"agreement {a.Id} ({a.Owner} -> {a.Consumer})", "Change agreement")) return;
            if (TryRun(ct => Task.FromResult(Engine.Grid.SetAgreement(a)), Id, out var changed) && PassThru.IsPresent) WriteObject(changed);
        }
    }

    /// <summary>Ends an agreement: no new placement, move or resize under it; running workloads are not touched.</summary>
    [Cmdlet(VerbsCommon.Remove, "GridAgreement", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(void))]
    public sealed class RemoveGridAgreementCommand : ChangeCmdlet
    {
        /// <summary>The agreement's id.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)] [ValidateNotNullOrEmpty] public string[] Id { get; set; } = null!;

        protected override void ProcessRecord()
        {
            foreach (var id in Id)
            {
                if (!TryRun(ct => Task.FromResult(Engine.Grid.GetAgreement(id)), id, out var a)) continue;
                if (!Approve($"agreement {a.Id} ({a.Owner} -> {a.Consumer} in {a.Datacenter})", "Remove agreement")) continue;
                TryRun(ct => { Engine.Grid.RemoveAgreement(a.Id); return Task.FromResult(true); }, id, out _);
            }
        }
    }
}
