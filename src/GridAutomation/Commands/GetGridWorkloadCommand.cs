using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Lists workloads of all (or the chosen) datacenters, streamed as each datacenter's pages arrive.</summary>
    [Cmdlet(VerbsCommon.Get, "GridWorkload", DefaultParameterSetName = Filter)]
    [OutputType(typeof(GridWorkload))]
    public sealed class GetGridWorkloadCommand : GridCmdlet
    {
        private const string Filter = "Filter";
        private const string ById = "ById";

        /// <summary>Workload names (wildcards).</summary>
        [Parameter(Position = 0, ParameterSetName = Filter)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(WorkloadNameCompleter))]
        public string[]? Name { get; set; }

        /// <summary>Workload ids ("&lt;datacenter&gt;/&lt;native id&gt;").</summary>
        [Parameter(Mandatory = true, ParameterSetName = ById, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(WorkloadIdCompleter))]
        public string[] Id { get; set; } = null!;

        /// <summary>Datacenter names (wildcards); all registered datacenters by default.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[]? Datacenter { get; set; }

        /// <summary>Normalized states wanted. Stopped never includes Deallocated; Deleted only when asked for.</summary>
        [Parameter(ParameterSetName = Filter)]
        public WorkloadState[]? State { get; set; }

        /// <summary>Tags that must all match: @{ env = 'prod'; team = '*' } (value '*' or $null: the tag is present; values take wildcards).</summary>
        [Parameter(ParameterSetName = Filter)]
        public Hashtable? Tag { get; set; }

        /// <summary>Host names (wildcards): only workloads placed on a matching host. (Not -Host: that collides with PowerShell's automatic $Host.)</summary>
        [Parameter(ParameterSetName = Filter)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(HostCompleter))]
        public string[]? HostName { get; set; }

        /// <summary>Owners (wildcards): an Owner tag, else the datacenter's owner.</summary>
        [Parameter(ParameterSetName = Filter)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        public string[]? Owner { get; set; }

        /// <summary>Sites (wildcards) of the workloads' datacenters.</summary>
        [Parameter(ParameterSetName = Filter)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        public string[]? Site { get; set; }

        protected override void ProcessRecord()
        {
            if (ParameterSetName == ById)
            {
                foreach (var id in Id)
                {
                    if (Datacenter != null && WorkloadId.TryParse(id, out var dc, out _) && !MatchesAny(dc, Datacenter)) continue;
                    if (TryRun(ct => Engine.GetWorkloadAsync(id, ct), id, out var w)) WriteObject(w);
                }
                return;
            }

            Dictionary<string, string?>? tags = null;
            if (Tag != null)
            {
                try { tags = ConvertTags(Tag, allowNullValues: true); }
                catch (GridException ex) { ThrowGridError(ex, Tag); }
            }
            var filter = new WorkloadFilter
            {
                Names = Name,
                Datacenters = Datacenter,
                States = State,
                Tags = tags,
                Hosts = HostName,
                Owners = Owner,
                Sites = Site,
            };
            // Names given without wildcards must each exist (as Get-Process -Name does), unless other filters narrow the result.
            var exact = Name != null && State == null && tags == null && HostName == null && Owner == null && Site == null ? Name.Where(n => !HasWildcard(n)).ToList() : null;
            HashSet<string>? seen = exact != null && exact.Count > 0 ? new HashSet<string>(StringComparer.OrdinalIgnoreCase) : null;
            bool complete = Stream(ct => Engine.GetWorkloadsAsync(filter, Observer, ct), w =>
            {
                seen?.Add(w.Name); // compared with each exact -Name unescaped ('web`*' is the name 'web*')
                WriteObject(w);
            });
            if (seen != null && complete)
                foreach (var n in exact!)
                    if (!seen.Contains(Wildcard.Unescape(n)))
                        WriteError(ErrorMapping.Create("WorkloadNotFound", ErrorCategory.ObjectNotFound,
                            $"No workload named '{n}'" + (Datacenter != null ? " in datacenter " + string.Join(", ", Datacenter) : "") + ".",
                            n, GridErrorKind.NotFound));
        }
    }
}
