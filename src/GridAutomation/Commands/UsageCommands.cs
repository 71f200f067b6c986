using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text;
using GridAutomation.Core.Ledger;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Observes datacenters and records in the usage ledger the state changes made outside this module.</summary>
    [Cmdlet(VerbsData.Update, "GridUsage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(GridUsageObservation))]
    public sealed class UpdateGridUsageCommand : ChangeCmdlet
    {
        /// <summary>Datacenter names (wildcards); all registered datacenters by default.</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[]? Datacenter { get; set; }

        protected override void ProcessRecord()
        {
            string target = Datacenter == null ? "every registered datacenter" : string.Join(", ", Datacenter);
            if (!Approve(target, "Observe the workloads and record their state changes in the usage ledger")) return;
            Stream(ct => Engine.UpdateUsageAsync(Datacenter, Observer, ct), WriteObject);
        }
    }

    /// <summary>Usage and cost from the ledger: vCPU-hours, GB-hours, billed hours, cost and currency, grouped, with a total.</summary>
    [Cmdlet(VerbsCommon.Get, "GridUsage")]
    [OutputType(typeof(GridUsage))]
    public sealed class GetGridUsageCommand : UsageQueryCmdlet
    {
        /// <summary>Group rows by Owner, Consumer, Datacenter, Workload and/or Day; a total row (IsTotal) follows.</summary>
        [Parameter(Position = 0)]
        public UsageGroupBy[]? GroupBy { get; set; }

        protected override void ProcessRecord()
        {
            var g = UsageGroupBy.None;
            foreach (var x in GroupBy ?? Array.Empty<UsageGroupBy>()) g |= x;
            try
            {
                var q = Query(g);
                foreach (var row in Run(ct => System.Threading.Tasks.Task.FromResult(Engine.GetUsage(q)))) WriteObject(row);
            }
            catch (PipelineStoppedException) { throw; }
            catch (Exception ex) { ThrowGridError(ex, null); }
        }
    }

    public enum UsageExportFormat { Csv, Html }

    /// <summary>Writes the ledger's usage as FOCUS 1.2 CSV, or as one self-contained HTML report (chart and totals).</summary>
    [Cmdlet(VerbsData.Export, "GridUsage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(FileInfo))]
    public sealed class ExportGridUsageCommand : UsageQueryCmdlet
    {
        /// <summary>The file to write (replaced if it exists, unless -NoClobber).</summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = "";

        /// <summary>Csv (FOCUS 1.2, default) or Html (chart of cost per day per owner and consumer, and totals).</summary>
        [Parameter]
        public UsageExportFormat Format { get; set; } = UsageExportFormat.Csv;

        /// <summary>Do not replace an existing file.</summary>
        [Parameter]
        public SwitchParameter NoClobber { get; set; }

        /// <summary>Do not ask for confirmation (-WhatIf still only shows what would be written).</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>Write the file written (a FileInfo) to the pipeline.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            string path = GetUnresolvedProviderPathFromPSPath(Path);
            try
            {
                if (NoClobber && File.Exists(path))
                    throw GridException.Conflict($"'{path}' exists and -NoClobber was given.", "FileExists", path);
                string action = $"Write usage as {(Format == UsageExportFormat.Csv ? "FOCUS 1.2 CSV" : "an HTML report")}";
                bool whatIf = MyInvocation.BoundParameters.ContainsKey("WhatIf") && ((SwitchParameter)MyInvocation.BoundParameters["WhatIf"]).IsPresent;
                if (whatIf || !Force.IsPresent || MyInvocation.BoundParameters.ContainsKey("Confirm"))
                {
                    if (!ShouldProcess(path, action)) return;
                }
                var charges = Run(ct => System.Threading.Tasks.Task.FromResult(Engine.GetUsageCharges(Query(UsageGroupBy.Day))));
                using (var w = new StreamWriter(path, false, new UTF8Encoding(false)))
                {
                    if (Format == UsageExportFormat.Csv) FocusExport.WriteCsv(w, charges);
                    else
                    {
                        var totals = Engine.GetUsage(Query(UsageGroupBy.Owner | UsageGroupBy.Consumer));
                        HtmlUsageReport.Write(w, charges, totals, "Grid usage: who owes whom", DateTimeOffset.UtcNow);
                    }
                }
                if (PassThru) WriteObject(new FileInfo(path));
            }
            catch (PipelineStoppedException) { throw; }
            catch (IOException ex) { ThrowGridError(new GridException(GridErrorKind.InvalidRequest, $"Cannot write '{path}': {ex.Message}", "ExportFileError", ex) { Target = path }, path); }
            catch (UnauthorizedAccessException ex) { ThrowGridError(new GridException(GridErrorKind.InvalidRequest, $"Cannot write '{path}': {ex.Message}", "ExportFileError", ex) { Target = path }, path); }
            catch (Exception ex) { ThrowGridError(ex, path); }
        }
    }

    /// <summary>Sets an owner's prices per CPU-hour and per GB-hour of memory, from a time on.</summary>
    [Cmdlet(VerbsCommon.Set, "GridRateCard", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridRateCard))]
    public sealed class SetGridRateCardCommand : ChangeCmdlet
    {
        /// <summary>The owner whose capacity these prices are for (a datacenter's Owner).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(OwnerCompleter))]
        public string Owner { get; set; } = "";

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
        public decimal PricePerCpuHour { get; set; }

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
        public decimal PricePerGBHour { get; set; }

        /// <summary>ISO 4217 code (default USD).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string Currency { get; set; } = "USD";

        /// <summary>From when the prices apply (default: always). A time without a zone is UTC.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        public DateTime? EffectiveFrom { get; set; }

        /// <summary>Write the rate card to the pipeline.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            var card = new GridRateCard
            {
                Owner = Owner, PricePerCpuHour = PricePerCpuHour, PricePerGBHour = PricePerGBHour, Currency = Currency,
                EffectiveFrom = UsageQueryCmdlet.Utc(EffectiveFrom) ?? new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero),
            };
            try { UsageLedger.ValidateCard(card); }
            catch (GridException ex) { WriteGridError(ex, Owner); return; }
            if (!Approve(Owner, $"Set rate card: {PricePerCpuHour} {Currency} per CPU-hour, {PricePerGBHour} {Currency} per GB-hour from {card.EffectiveFrom:u}")) return;
            if (TryRun(ct => System.Threading.Tasks.Task.FromResult(Engine.SetRateCard(card)), Owner, out var r) && PassThru) WriteObject(r);
        }
    }

    /// <summary>Lists rate cards.</summary>
    [Cmdlet(VerbsCommon.Get, "GridRateCard")]
    [OutputType(typeof(GridRateCard))]
    public sealed class GetGridRateCardCommand : GridCmdlet
    {
        /// <summary>Owners (wildcards).</summary>
        [Parameter(Position = 0)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(OwnerCompleter))]
        public string[]? Owner { get; set; }

        protected override void ProcessRecord()
        {
            try { foreach (var c in Engine.GetRateCards(Owner)) WriteObject(c); }
            catch (PipelineStoppedException) { throw; }
            catch (Exception ex) { ThrowGridError(ex, Owner); }
        }
    }

    /// <summary>Removes an owner's rate cards (all of them, or the one from -EffectiveFrom).</summary>
    [Cmdlet(VerbsCommon.Remove, "GridRateCard", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(void))]
    public sealed class RemoveGridRateCardCommand : ChangeCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(OwnerCompleter))]
        public string Owner { get; set; } = "";

        /// <summary>Only the card from this time (as Get-GridRateCard shows it).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        public DateTimeOffset? EffectiveFrom { get; set; }

        protected override void ProcessRecord()
        {
            var existing = Engine.GetRateCards(new[] { WildcardPattern.Escape(Owner) })
                .Where(c => !EffectiveFrom.HasValue || c.EffectiveFrom == EffectiveFrom.Value.ToUniversalTime()).ToList();
            if (existing.Count == 0)
            {
                WriteError(ErrorMapping.Create("RateCardNotFound", ErrorCategory.ObjectNotFound,
                    $"No rate card of '{Owner}'{(EffectiveFrom.HasValue ? $" from {EffectiveFrom.Value.ToUniversalTime():u}" : "")}. Get-GridRateCard lists them.", Owner, GridErrorKind.NotFound));
                return;
            }
            if (!Approve(Owner, EffectiveFrom.HasValue ? $"Remove the rate card from {EffectiveFrom.Value.ToUniversalTime():u}" : $"Remove {existing.Count} rate card(s)")) return;
            TryRun(ct => System.Threading.Tasks.Task.FromResult(Engine.RemoveRateCard(Owner, EffectiveFrom?.ToUniversalTime())), Owner, out _);
        }
    }
}
