using System;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>New-GridWorkload -Pool: placement without naming a datacenter (planned together, then confirmed, then created).</summary>
    public sealed partial class NewGridWorkloadCommand
    {
        /// <summary>The pool to place in (see New-GridPool): no -Datacenter; the placement service chooses datacenter and host.</summary>
        [Parameter(Mandatory = true, ParameterSetName = InPool)]
        [ValidateNotNullOrEmpty]
        public string Pool { get; set; } = "";

        /// <summary>How many workloads to create (named &lt;NamePrefix&gt;-001, -002...).</summary>
        [Parameter(ParameterSetName = InPool)]
        [ValidateRange(1, 100000)]
        public int? Count { get; set; }

        /// <summary>The prefix of the names made by -Count.</summary>
        [Parameter(ParameterSetName = InPool)]
        [ValidateNotNullOrEmpty]
        public string? NamePrefix { get; set; }

        /// <summary>A requirement expression every chosen host must meet (docs/grid.md).</summary>
        [Parameter(ParameterSetName = InPool)]
        public string? Requirement { get; set; }

        /// <summary>Pack (fewest hosts), Spread (least loaded) or Cheapest (lowest price for the owner); default: the pool's policy.</summary>
        [Parameter(ParameterSetName = InPool)]
        public PlacementPolicy? Placement { get; set; }

        /// <summary>A group name: no two workloads of the group share a host (or a datacenter, with -AntiAffinityScope Datacenter).</summary>
        [Parameter(ParameterSetName = InPool)]
        public string? AntiAffinity { get; set; }

        [Parameter(ParameterSetName = InPool)]
        public AntiAffinityScope AntiAffinityScope { get; set; } = AntiAffinityScope.Host;

        private readonly List<WorkloadSpec> _poolSpecs = new List<WorkloadSpec>();
        private bool _poolInputFailed;

        private void CollectForPool()
        {
            try
            {
                var tags = ConvertTags(Tag, allowNullValues: false);
                var options = ConvertTags(Option, allowNullValues: false, parameterName: "Option");
                var specs = PlacementSpecs.Build(MyInvocation.BoundParameters.ContainsKey("Name") ? Name : null, Count, NamePrefix, Cpu, MemoryGB, Size, Image, tags, Owner, !NoStart.IsPresent);
                // Options and secrets ride with each spec to the chosen datacenter's create (its provider validates them there, before journaling).
                foreach (var spec in specs)
                {
                    foreach (var kv in options) spec.Options[kv.Key] = kv.Value!;
                    if (!string.IsNullOrEmpty(Network)) spec.Options["Network"] = Network!;
                    if (!string.IsNullOrEmpty(SshPublicKey)) spec.Options["SshPublicKey"] = SshPublicKey!;
                    if (AdminCredential != null) spec.Secrets["AdminCredential"] = AdminCredential.GetNetworkCredential();
                }
                _poolSpecs.AddRange(specs);
            }
            catch (GridException ex) { WriteGridError(ex, Name); _poolInputFailed = true; }
        }

        /// <summary>Plans every piped spec together, then asks once per workload naming its datacenter and host.</summary>
        private bool PlanPool()
        {
            if (_poolInputFailed || _poolSpecs.Count == 0) return false;
            var request = new PlacementRequest { Pool = Pool, Requirement = Requirement, Policy = Placement, AntiAffinity = AntiAffinity, AntiAffinityScope = AntiAffinityScope };
            foreach (var s in _poolSpecs) request.Workloads.Add(s);
            if (!TryRun(ct => Engine.Grid.PlanAsync(request, Observer, ct), Pool, out var plan)) return false;
            var engine = Engine;
            var batch = BatchId;
            foreach (var p in plan.Placements)
            {
                if (!p.Fits)
                {
                    WriteError(ErrorMapping.Create(GridPlacement.NoPlacementErrorId(p), ErrorCategory.ResourceUnavailable,
                        $"'{p.Name}' fits nowhere in pool '{Pool}': {p.Reason}. Get-GridPlacement shows every rejected candidate.", p.Name, GridErrorKind.ResourceUnavailable));
                    continue;
                }
                var label = $"{p.Name} in datacenter {p.Datacenter}" + (p.Host != null ? " on host " + p.Host : "");
                var what = $"Create ({p.Cpu} CPU, {p.MemoryGB.ToString("0.##", CultureInfo.InvariantCulture)} GB, owner {p.Owner}, {p.Price}/h): {p.Reason}";
                if (!Approve(label, what)) continue;
                var placement = p;
                Approved.Add(new WorkItem(label, p.Name, async (observer, ct) => await engine.Grid.PlaceAsync(plan, placement, batch, observer, ct).ConfigureAwait(false)));
            }
            return true;
        }
    }
}
