using System;
using System.Collections.Generic;

namespace GridAutomation.Core.Grid
{
    /// <summary>
    /// A datacenter owner lends capacity to a consumer: in the datacenters matching <see cref="Datacenter"/> (a
    /// wildcard) that <see cref="Owner"/> owns, workloads whose Owner is <see cref="Consumer"/> may run, within the
    /// quotas (counted over all those datacenters together), at the prices given, between Start and End.
    /// </summary>
    public sealed class GridAgreement
    {
        public string Id { get; set; } = "";
        public string Owner { get; set; } = "";
        public string Consumer { get; set; } = "";
        /// <summary>Datacenter name or wildcard pattern, resolved each time the agreement is used.</summary>
        public string Datacenter { get; set; } = "";
        public int? MaxCpu { get; set; }
        public double? MaxMemoryGB { get; set; }
        public int? MaxWorkloads { get; set; }
        public decimal? PricePerCpuHour { get; set; }
        public decimal? PricePerGBHour { get; set; }
        public DateTimeOffset? Start { get; set; }
        public DateTimeOffset? End { get; set; }
        public DateTimeOffset Created { get; set; }

        /// <summary>True when the agreement is in force at <paramref name="at"/> (Start inclusive, End exclusive).</summary>
        public bool InForceAt(DateTimeOffset at) => (Start == null || Start <= at) && (End == null || at < End);

        /// <summary>The price per hour of a workload of this shape under the agreement; null when the agreement names no price.</summary>
        public decimal? PricePerHour(int cpu, double memoryGB)
        {
            if (PricePerCpuHour == null && PricePerGBHour == null) return null;
            return (PricePerCpuHour ?? 0m) * cpu + (PricePerGBHour ?? 0m) * (decimal)memoryGB;
        }

        public override string ToString() => $"{Owner} -> {Consumer} ({Datacenter})";
    }

    /// <summary>How placement ranks the hosts and datacenters that passed the filters.</summary>
    public enum PlacementPolicy
    {
        /// <summary>Fill the fullest host that still fits (fewest hosts in use).</summary>
        Pack,
        /// <summary>The least loaded host.</summary>
        Spread,
        /// <summary>The lowest price per hour for this owner (the agreement's price, else the size's); unknown prices last.</summary>
        Cheapest,
    }

    /// <summary>Where anti-affinity applies: two workloads of one group never share a host (or a datacenter).</summary>
    public enum AntiAffinityScope
    {
        Host,
        Datacenter,
    }

    /// <summary>A named set of datacenters (names or wildcards of any provider and owner, resolved each time it is used).</summary>
    public sealed class GridPool
    {
        public string Name { get; set; } = "";
        public IList<string> Datacenter { get; set; } = new List<string>();
        public PlacementPolicy Policy { get; set; } = PlacementPolicy.Pack;
        public DateTimeOffset Created { get; set; }
        public override string ToString() => Name;
    }
}
