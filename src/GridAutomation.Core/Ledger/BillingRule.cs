using System;
using System.Collections.Generic;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Ledger
{
    /// <summary>
    /// How a datacenter bills compute: in which normalized states, in which unit of time (granularity) and with which
    /// minimum per start. The one table of rules (docs/usage.md, docs/states.md "ComputeBilled").
    /// </summary>
    public sealed class BillingRule
    {
        private readonly HashSet<WorkloadState> _billed;

        private BillingRule(string name, int granularitySeconds, int minimumSeconds, string source, params WorkloadState[] billed)
        {
            Name = name;
            GranularitySeconds = granularitySeconds;
            MinimumSecondsPerStart = minimumSeconds;
            Source = source;
            _billed = new HashSet<WorkloadState>(billed);
        }

        public string Name { get; }
        /// <summary>Billed time is counted in whole units of this many seconds (a started unit counts whole).</summary>
        public int GranularitySeconds { get; }
        /// <summary>The least billed time of one run of billed states (from a start until compute is no longer billed).</summary>
        public int MinimumSecondsPerStart { get; }
        /// <summary>The provider's published page this rule follows.</summary>
        public string Source { get; }
        public IReadOnlyCollection<WorkloadState> BilledStates => _billed;

        public bool IsBilled(WorkloadState state) => _billed.Contains(state);

        /// <summary>Billed seconds of a run of <paramref name="seconds"/> billed seconds (granularity, then minimum).</summary>
        public long Round(double seconds)
        {
            if (seconds <= 0) return 0;
            long units = (long)Math.Ceiling(Math.Round(seconds, 6) / GranularitySeconds);
            return Math.Max(units * GranularitySeconds, MinimumSecondsPerStart);
        }

        /// <summary>EC2: running, and stopping into hibernation (Suspending); per second, 60 s minimum per start.</summary>
        public static readonly BillingRule Ec2 = new BillingRule("Ec2", 1, 60,
            "https://aws.amazon.com/ec2/pricing/on-demand/ (per-second billing, 60 s minimum); https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html (instance states and billing)",
            WorkloadState.Running, WorkloadState.Suspending);

        /// <summary>Azure: every state except Deallocating/Deallocated (and not before it exists or after it is gone); per minute.</summary>
        public static readonly BillingRule Azure = new BillingRule("Azure", 60, 60,
            "https://learn.microsoft.com/azure/virtual-machines/states-billing (States and billing status of Azure Virtual Machines)",
            WorkloadState.Starting, WorkloadState.Running, WorkloadState.Stopping, WorkloadState.Stopped, WorkloadState.Paused, WorkloadState.Suspending);

        /// <summary>On-premises (vSphere, libvirt, Hyper-V, Xen, the simulator): the owner's rate card, while the workload holds CPU and memory; per second.</summary>
        public static readonly BillingRule RateCard = new BillingRule("RateCard", 1, 0,
            "the owner's rate card (Set-GridRateCard): billed while the workload holds CPU and memory on its host",
            WorkloadState.Starting, WorkloadState.Running, WorkloadState.Stopping, WorkloadState.Suspending, WorkloadState.Paused);

        public static IReadOnlyList<BillingRule> All { get; } = new[] { Ec2, Azure, RateCard };

        /// <summary>The rule by name (case-insensitive), or null.</summary>
        public static BillingRule? Find(string? name)
        {
            if (string.IsNullOrEmpty(name)) return null;
            foreach (var r in All) if (string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase)) return r;
            return null;
        }

        /// <summary>The rule of a provider: Aws follows EC2, Azure follows Azure, every other provider the rate card; a datacenter setting may name another.</summary>
        public static BillingRule For(string provider, string? datacenterRule)
        {
            var chosen = Find(datacenterRule);
            if (chosen != null) return chosen;
            if (string.Equals(provider, "Aws", StringComparison.OrdinalIgnoreCase)) return Ec2;
            if (string.Equals(provider, "Azure", StringComparison.OrdinalIgnoreCase)) return Azure;
            return RateCard;
        }
    }
}
