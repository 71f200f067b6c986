using System;

namespace GridAutomation.Core.Ledger
{
    /// <summary>One period of one workload in one state, as the ledger keeps it.</summary>
    public sealed class UsageInterval
    {
        public long Id { get; set; }
        public string WorkloadId { get; set; } = "";
        public string? WorkloadName { get; set; }
        public string Datacenter { get; set; } = "";
        public string Provider { get; set; } = "";
        public string State { get; set; } = "";
        public string? NativeState { get; set; }
        public DateTimeOffset Start { get; set; }
        /// <summary>Null while the interval is open (the workload is still in this state as far as the ledger knows).</summary>
        public DateTimeOffset? End { get; set; }
        public int CpuCount { get; set; }
        public long MemoryMB { get; set; }
        public string? Size { get; set; }
        /// <summary>The datacenter's owner: who is owed (FOCUS InvoiceIssuer).</summary>
        public string? DatacenterOwner { get; set; }
        /// <summary>The workload's owner: who owes (FOCUS SubAccount, the consumer).</summary>
        public string? WorkloadOwner { get; set; }
        /// <summary>Whether compute is billed in this state by the datacenter's billing rule.</summary>
        public bool ComputeBilled { get; set; }
        public string BillingRule { get; set; } = "";
        /// <summary>Billed seconds of the same run before this interval (for the minimum per start and the rounding).</summary>
        public double RunBeforeSeconds { get; set; }
        public decimal? ListPricePerHour { get; set; }
        /// <summary>The price per hour in effect when the interval was recorded, and where it came from (Agreement, ListPrice, RateCard).</summary>
        public decimal? PricePerHour { get; set; }
        public string? PriceSource { get; set; }
        public string? Currency { get; set; }
        /// <summary>True when the end was not seen: the change happened outside the module and was closed at the next observation.</summary>
        public bool Estimated { get; set; }
        /// <summary>"Journal" (a change this module made) or "Observation" (Update-GridUsage).</summary>
        public string Source { get; set; } = "";
        public string? OperationId { get; set; }
    }

    /// <summary>Usage and cost of one group (or the total) for a period.</summary>
    public sealed class GridUsage
    {
        /// <summary>Who is owed: the datacenter's owner.</summary>
        public string? Owner { get; set; }
        /// <summary>Who owes: the workload's owner.</summary>
        public string? Consumer { get; set; }
        public string? Datacenter { get; set; }
        public string? Workload { get; set; }
        public DateTime? Day { get; set; }
        public DateTimeOffset From { get; set; }
        public DateTimeOffset To { get; set; }
        /// <summary>Hours in any state.</summary>
        public double Hours { get; set; }
        /// <summary>Hours in which compute was billed (after the rule's rounding and minimum).</summary>
        public double BilledHours { get; set; }
        public double VCpuHours { get; set; }
        public double GBHours { get; set; }
        public decimal Cost { get; set; }
        public string? Currency { get; set; }
        /// <summary>Billed hours that had no price (no agreement, list price or rate card).</summary>
        public double UnpricedHours { get; set; }
        public bool Estimated { get; set; }
        /// <summary>True on the last row: the total of the rows before it.</summary>
        public bool IsTotal { get; set; }
    }

    /// <summary>An owner's prices from a time on.</summary>
    public sealed class GridRateCard
    {
        public string Owner { get; set; } = "";
        public DateTimeOffset EffectiveFrom { get; set; }
        public decimal PricePerCpuHour { get; set; }
        public decimal PricePerGBHour { get; set; }
        public string Currency { get; set; } = "USD";
        public DateTimeOffset SetAt { get; set; }
    }

    /// <summary>What one Update-GridUsage observed in one datacenter.</summary>
    public sealed class GridUsageObservation
    {
        public string Datacenter { get; set; } = "";
        public DateTimeOffset Time { get; set; }
        public int Workloads { get; set; }
        public int Opened { get; set; }
        public int Closed { get; set; }
        /// <summary>Intervals closed at this observation because their end was not seen.</summary>
        public int Estimated { get; set; }
        /// <summary>Where the recording spent its time (verbose output and the benchmark; not part of the output's table).</summary>
        internal UsageRecordTimings? Timings { get; set; }
    }

    [Flags]
    public enum UsageGroupBy
    {
        None = 0,
        Owner = 1,
        Consumer = 2,
        Datacenter = 4,
        Workload = 8,
        Day = 16,
    }
}
