using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Says, per workload, how a move to another datacenter would go (method, disk formats, size, bytes, downtime)
    /// and what stands in the way (Incompatibilities with stable codes), like Hyper-V's Compare-VM. Changes nothing.
    /// </summary>
    [Cmdlet(VerbsDiagnostic.Test, "GridMove", DefaultParameterSetName = ByName)]
    [OutputType(typeof(GridMoveReport))]
    public sealed class TestGridMoveCommand : GridCmdlet
    {
        private const string ByName = "ByName";
        private const string ById = "ById";
        private const string ByObject = "ByObject";

        /// <summary>Workload names (wildcards: every match is reported).</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByName, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(WorkloadNameCompleter))]
        public string[] Name { get; set; } = null!;

        /// <summary>Datacenters to look for -Name in (wildcards); all registered ones by default.</summary>
        [Parameter(ParameterSetName = ByName, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[]? Datacenter { get; set; }

        /// <summary>Workload ids ("&lt;datacenter&gt;/&lt;native id&gt;").</summary>
        [Parameter(Mandatory = true, ParameterSetName = ById, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(WorkloadIdCompleter))]
        public string[] Id { get; set; } = null!;

        /// <summary>Workload objects (from Get-GridWorkload).</summary>
        [Parameter(Mandatory = true, ParameterSetName = ByObject, ValueFromPipeline = true)]
        [Alias("Workload")]
        [ValidateNotNull]
        public GridWorkload[] InputObject { get; set; } = null!;

        /// <summary>The registered datacenter to move to.</summary>
        [Parameter(Mandatory = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DestinationDatacenterCompleter))]
        public string DestinationDatacenter { get; set; } = "";

        /// <summary>A host of the destination datacenter (default: the destination places it).</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [GridHostName]
        [ArgumentCompleter(typeof(DestinationHostCompleter))]
        public string? DestinationHost { get; set; }

        /// <summary>The destination size; by default the smallest that fits the workload's CPU and memory.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DestinationSizeCompleter))]
        public string? Size { get; set; }

        /// <summary>Destination settings: @{ Network = 'lan'; Datastore = 'ds1' }; defaults come from the destination's -MoveDefaults.</summary>
        [Parameter]
        public Hashtable? Option { get; set; }

        private readonly HashSet<string> _seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        protected override void ProcessRecord()
        {
            var request = new MoveRequest { DestinationDatacenter = DestinationDatacenter, DestinationHost = DestinationHost, Size = Size };
            if (Option != null)
                foreach (DictionaryEntry e in Option)
                    request.Options[e.Key?.ToString() ?? ""] = e.Value is PSObject p ? p.BaseObject?.ToString() ?? "" : e.Value?.ToString() ?? "";
            var service = new MoveService(Engine);
            foreach (var w in Targets())
            {
                if (!_seen.Add(w.Id)) continue;
                if (TryRun(ct => service.TestAsync(w, request, Observer, ct, checkAdmission: true), w, out var report)) WriteObject(report);
            }
        }

        private IEnumerable<GridWorkload> Targets()
        {
            switch (ParameterSetName)
            {
                case ByObject:
                    return InputObject.Where(w => w != null);
                case ById:
                    var byId = new List<GridWorkload>();
                    foreach (var id in Id) if (TryRun(ct => Engine.GetWorkloadAsync(id, ct), id, out var w)) byId.Add(w);
                    return byId;
                default:
                    return FindWorkloadsByName(Name, Datacenter).Select(t => t.Workload);
            }
        }
    }

    /// <summary>Registered datacenters (for -DestinationDatacenter).</summary>
    public sealed class DestinationDatacenterCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => OpenEngine().GetDatacenters(null).Select(d => d.Name);
    }

    /// <summary>Hosts of the bound -DestinationDatacenter.</summary>
    public sealed class DestinationHostCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => bound["DestinationDatacenter"] is string dc
                ? Collect(OpenEngine().GetHostsAsync(new[] { dc }, NullObserver.Instance, ct), 5000, ct).Select(h => h.Name)
                : Enumerable.Empty<string>();
    }

    /// <summary>Sizes of the bound -DestinationDatacenter.</summary>
    public sealed class DestinationSizeCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => bound["DestinationDatacenter"] is string dc
                ? Collect(OpenEngine().GetSizesAsync(new[] { dc }, NullObserver.Instance, ct), 5000, ct).Select(s => s.Name)
                : Enumerable.Empty<string>();
    }
}
