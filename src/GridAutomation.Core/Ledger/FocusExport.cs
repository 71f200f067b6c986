using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;

namespace GridAutomation.Core.Ledger
{
    /// <summary>
    /// Writes charges as FOCUS 1.2 (FinOps Open Cost and Usage Specification) CSV: every column the specification
    /// makes Mandatory, the Conditional ones that apply to compute usage, and our own x_ columns. Mapping in docs/usage.md.
    /// </summary>
    public static class FocusExport
    {
        /// <summary>The columns, in order, with their FOCUS data type and requirement level.</summary>
        public static readonly IReadOnlyList<(string Name, string Type, string Level)> Columns = new[]
        {
            ("BilledCost", "Decimal", "Mandatory"),
            ("BillingAccountId", "String", "Mandatory"),
            ("BillingAccountName", "String", "Mandatory"),
            ("BillingAccountType", "String", "Conditional"),
            ("BillingCurrency", "String", "Mandatory"),
            ("BillingPeriodEnd", "Date/Time", "Mandatory"),
            ("BillingPeriodStart", "Date/Time", "Mandatory"),
            ("ChargeCategory", "String", "Mandatory"),
            ("ChargeClass", "String", "Mandatory"),
            ("ChargeDescription", "String", "Mandatory"),
            ("ChargeFrequency", "String", "Recommended"),
            ("ChargePeriodEnd", "Date/Time", "Mandatory"),
            ("ChargePeriodStart", "Date/Time", "Mandatory"),
            ("ConsumedQuantity", "Decimal", "Conditional"),
            ("ConsumedUnit", "String", "Conditional"),
            ("ContractedCost", "Decimal", "Mandatory"),
            ("ContractedUnitPrice", "Decimal", "Conditional"),
            ("EffectiveCost", "Decimal", "Mandatory"),
            ("InvoiceIssuerName", "String", "Mandatory"),
            ("ListCost", "Decimal", "Mandatory"),
            ("ListUnitPrice", "Decimal", "Conditional"),
            ("PricingCategory", "String", "Conditional"),
            ("PricingCurrency", "String", "Conditional"),
            ("PricingQuantity", "Decimal", "Mandatory"),
            ("PricingUnit", "String", "Mandatory"),
            ("ProviderName", "String", "Mandatory"),
            ("PublisherName", "String", "Mandatory"),
            ("RegionId", "String", "Conditional"),
            ("RegionName", "String", "Conditional"),
            ("ResourceId", "String", "Conditional"),
            ("ResourceName", "String", "Conditional"),
            ("ResourceType", "String", "Conditional"),
            ("ServiceCategory", "String", "Mandatory"),
            ("ServiceName", "String", "Mandatory"),
            ("SkuId", "String", "Conditional"),
            ("SubAccountId", "String", "Conditional"),
            ("SubAccountName", "String", "Conditional"),
            ("SubAccountType", "String", "Conditional"),
            ("Tags", "JSON", "Conditional"),
            ("x_WorkloadState", "String", "Custom"),
            ("x_ComputeBilled", "Boolean", "Custom"),
            ("x_BillingRule", "String", "Custom"),
            ("x_PriceSource", "String", "Custom"),
            ("x_Hours", "Decimal", "Custom"),
            ("x_VCpuHours", "Decimal", "Custom"),
            ("x_GBHours", "Decimal", "Custom"),
            ("x_Estimated", "Boolean", "Custom"),
        };

        public static void WriteCsv(TextWriter w, IEnumerable<UsageCharge> charges)
        {
            w.Write(string.Join(",", Columns.Select(c => c.Name)));
            w.Write("\r\n");
            foreach (var c in charges)
            {
                var i = c.Interval;
                string currency = c.Currency ?? UsageLedger.DefaultCurrency;
                string cost = Dec(c.Cost);
                decimal? listUnit = i.ListPricePerHour;
                decimal listCost = listUnit.HasValue ? listUnit.Value * (decimal)c.BilledHours : c.Cost;
                var monthStart = new DateTimeOffset(c.Start.UtcDateTime.Year, c.Start.UtcDateTime.Month, 1, 0, 0, 0, TimeSpan.Zero);
                string consumer = i.WorkloadOwner ?? "";
                string owner = i.DatacenterOwner ?? "";
                var row = new string?[]
                {
                    cost,
                    consumer,
                    consumer,
                    "Consumer",
                    currency,
                    Time(monthStart.AddMonths(1)),
                    Time(monthStart),
                    "Usage",
                    null,
                    $"{i.WorkloadName ?? i.WorkloadId} {i.State} in {i.Datacenter} ({i.CpuCount} vCPU, {i.MemoryMB / 1024.0:0.###} GB{(i.Size != null ? ", " + i.Size : "")}), {i.BillingRule} rule",
                    "Usage-Based",
                    Time(c.End),
                    Time(c.Start),
                    Dec((decimal)c.VCpuHours),
                    "vCPU-Hours",
                    cost,
                    c.PricePerHour.HasValue ? Dec(c.PricePerHour.Value) : null,
                    cost,
                    owner,
                    Dec(listCost),
                    listUnit.HasValue ? Dec(listUnit.Value) : (c.PricePerHour.HasValue ? Dec(c.PricePerHour.Value) : null),
                    "Standard",
                    currency,
                    Dec((decimal)c.BilledHours),
                    "Hours",
                    owner,
                    i.Provider,
                    i.Datacenter,
                    i.Datacenter,
                    i.WorkloadId,
                    i.WorkloadName,
                    "Virtual Machine",
                    "Compute",
                    "Virtual Machines",
                    i.Size,
                    consumer,
                    consumer,
                    "Owner",
                    "{}",
                    i.State,
                    i.ComputeBilled ? "true" : "false",
                    i.BillingRule,
                    c.PriceSource,
                    Dec((decimal)c.Hours),
                    Dec((decimal)c.VCpuHours),
                    Dec((decimal)c.GBHours),
                    i.Estimated ? "true" : "false",
                };
                w.Write(string.Join(",", row.Select(Csv)));
                w.Write("\r\n");
            }
        }

        internal static string Dec(decimal d) => Math.Round(d, 10).ToString("0.##########", CultureInfo.InvariantCulture);
        internal static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

        private static string Csv(string? v)
        {
            if (v == null) return "";
            if (v.IndexOfAny(new[] { ',', '"', '\r', '\n' }) < 0) return v;
            return "\"" + v.Replace("\"", "\"\"") + "\"";
        }
    }
}
