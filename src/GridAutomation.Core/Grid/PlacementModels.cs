using System;
using System.Collections.Generic;

namespace GridAutomation.Core.Grid
{
    /// <summary>One workload to place: its name and shape (and what New-GridWorkload then creates).</summary>
    public sealed class WorkloadSpec
    {
        public string Name { get; set; } = "";
        public int? Cpu { get; set; }
        public long? MemoryMB { get; set; }
        public string? Size { get; set; }
        public string? Image { get; set; }
        public string? Owner { get; set; }
        public IDictionary<string, string> Tags { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        public bool PowerOn { get; set; } = true;
        /// <summary>Provider options of the create (-Network, -SshPublicKey, -Option), handed to the chosen datacenter's provider, which validates them.</summary>
        public IDictionary<string, string> Options { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        /// <summary>Secrets of the create (-AdminCredential): handed to the provider for this create only, never journaled or stored.</summary>
        public IDictionary<string, object> Secrets { get; set; } = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>A placement request: where (a pool or datacenter patterns), what, and the rules.</summary>
    public sealed class PlacementRequest
    {
        public string? Pool { get; set; }
        public IReadOnlyList<string>? Datacenters { get; set; }
        public IList<WorkloadSpec> Workloads { get; set; } = new List<WorkloadSpec>();
        public string? Requirement { get; set; }
        /// <summary>Null = the pool's default policy (Pack without a pool).</summary>
        public PlacementPolicy? Policy { get; set; }
        public string? AntiAffinity { get; set; }
        public AntiAffinityScope AntiAffinityScope { get; set; } = AntiAffinityScope.Host;
    }

    /// <summary>A candidate that was not chosen, and why (the first constraint it failed).</summary>
    public sealed class GridPlacementRejection
    {
        public string Datacenter { get; set; } = "";
        public string? Host { get; set; }
        /// <summary>Requirement, Agreement, Quota, AntiAffinity, Capacity, Size, Unavailable.</summary>
        public string Constraint { get; set; } = "";
        public string Reason { get; set; } = "";
        public override string ToString() => $"{Datacenter}/{Host ?? "-"}: {Constraint}: {Reason}";
    }

    /// <summary>Where one workload goes (or why it fits nowhere): the plan of Get-GridPlacement and New-GridWorkload -Pool.</summary>
    public sealed class GridPlacement
    {
        public string Name { get; set; } = "";
        public string? Owner { get; set; }
        public int Cpu { get; set; }
        public double MemoryGB { get; set; }
        public string? Size { get; set; }
        public bool Fits { get; set; }
        public string? Datacenter { get; set; }
        public string? Provider { get; set; }
        /// <summary>The host chosen; null in a cloud datacenter (the provider places it).</summary>
        public string? Host { get; set; }
        /// <summary>Price per hour for this owner (the agreement's, else the size's); null = unknown.</summary>
        public decimal? PricePerHour { get; set; }
        public string Price => PricePerHour.HasValue ? PricePerHour.Value.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture) : "unknown";
        public PlacementPolicy Policy { get; set; }
        public string? AgreementId { get; set; }
        /// <summary>Why this candidate won, or (Fits = false) the constraint that eliminated the most capacity.</summary>
        public string Reason { get; set; } = "";
        public string? Eliminated { get; set; }
        /// <summary>
        /// Every candidate that was not chosen, with the first constraint it failed and why, as the planner saw it when
        /// it planned this workload. Built on first read (the plan replays the choices made before this workload), so a
        /// plan of thousands of workloads does not write a reason per host per workload that nobody reads.
        /// </summary>
        public IList<GridPlacementRejection> Rejected
        {
            get
            {
                if (_rejected == null) { _rejected = RejectedSource?.Invoke() ?? new List<GridPlacementRejection>(); RejectedSource = null; }
                return _rejected;
            }
            set { _rejected = value; RejectedSource = null; }
        }
        private IList<GridPlacementRejection>? _rejected;
        internal Func<IList<GridPlacementRejection>>? RejectedSource { get; set; }
        internal WorkloadSpec Spec { get; set; } = new WorkloadSpec();
        public override string ToString() => Fits ? $"{Name} -> {Datacenter}/{Host ?? "(provider)"}" : $"{Name}: fits nowhere ({Eliminated})";

        /// <summary>The error id of a workload that fits nowhere: ProviderQuotaExceeded when a cloud's provider quota eliminated the most, else NoPlacement.</summary>
        public static string NoPlacementErrorId(GridPlacement p) => p.Eliminated == "ProviderQuota" ? "ProviderQuotaExceeded" : "NoPlacement";
    }
}
