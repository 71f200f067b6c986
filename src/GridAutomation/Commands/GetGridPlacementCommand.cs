using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Plans where workloads would go in a pool, without creating or reserving anything: per workload the datacenter,
    /// host, price and why, and every rejected candidate with its reason. Takes the parameters of New-GridWorkload -Pool.
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "GridPlacement")]
    [OutputType(typeof(GridPlacement))]
    public sealed class GetGridPlacementCommand : GridCmdlet
    {
        /// <summary>The pool to place in.</summary>
        [Parameter(Mandatory = true)] [ValidateNotNullOrEmpty] public string Pool { get; set; } = "";
        /// <summary>Names of the workloads (or -Count with -NamePrefix).</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)] [ValidateNotNullOrEmpty] public string[]? Name { get; set; }
        /// <summary>How many workloads (named &lt;NamePrefix&gt;-001...).</summary>
        [Parameter] [ValidateRange(1, 100000)] public int? Count { get; set; }
        [Parameter] [ValidateNotNullOrEmpty] public string? NamePrefix { get; set; }
        [Parameter(ValueFromPipelineByPropertyName = true)] [ValidateRange(1, 4096)] public int? Cpu { get; set; }
        [Parameter(ValueFromPipelineByPropertyName = true)] [ValidateRange(0.125, 65536)] public double? MemoryGB { get; set; }
        [Parameter(ValueFromPipelineByPropertyName = true)] [ValidateNotNullOrEmpty] public string? Size { get; set; }
        [Parameter(ValueFromPipelineByPropertyName = true)] public string? Image { get; set; }
        [Parameter(ValueFromPipelineByPropertyName = true)] public Hashtable? Tag { get; set; }
        /// <summary>The company that uses and pays for the workloads (agreements apply in other companies' datacenters).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)] [ValidateNotNullOrEmpty] public string? Owner { get; set; }
        /// <summary>A requirement expression (docs/grid.md), e.g. "Site -in ('Amsterdam','Dublin') and FreeCpu -ge 8".</summary>
        [Parameter] public string? Requirement { get; set; }
        /// <summary>Pack, Spread or Cheapest (default: the pool's policy).</summary>
        [Parameter] public PlacementPolicy? Placement { get; set; }
        /// <summary>A group name: no two workloads of the group share a host (or datacenter, by -AntiAffinityScope).</summary>
        [Parameter] public string? AntiAffinity { get; set; }
        [Parameter] public AntiAffinityScope AntiAffinityScope { get; set; } = AntiAffinityScope.Host;

        private readonly List<WorkloadSpec> _specs = new List<WorkloadSpec>();
        private bool _failed;

        protected override void ProcessRecord()
        {
            try { _specs.AddRange(PlacementSpecs.Build(Name, Count, NamePrefix, Cpu, MemoryGB, Size, Image, ConvertTags(Tag, allowNullValues: false), Owner, true)); }
            catch (GridException ex) { WriteGridError(ex, Name); _failed = true; }
        }

        protected override void EndProcessing()
        {
            if (_failed || _specs.Count == 0) return;
            var request = new PlacementRequest { Pool = Pool, Requirement = Requirement, Policy = Placement, AntiAffinity = AntiAffinity, AntiAffinityScope = AntiAffinityScope };
            foreach (var s in _specs) request.Workloads.Add(s);
            if (!TryRun(ct => Engine.Grid.PlanAsync(request, Observer, ct), Pool, out var plan)) return;
            foreach (var p in plan.Placements) WriteObject(p);
        }
    }
}
