using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Lists registered datacenters with this session's connection status.</summary>
    [Cmdlet(VerbsCommon.Get, "GridDatacenter")]
    [OutputType(typeof(GridDatacenter))]
    public sealed class GetGridDatacenterCommand : GridCmdlet
    {
        /// <summary>Datacenter names (wildcards).</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[]? Name { get; set; }

        /// <summary>Only datacenters of these providers (wildcards).</summary>
        [Parameter]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(ProviderCompleter))]
        public string[]? Provider { get; set; }

        /// <summary>Only datacenters owned by these companies (wildcards).</summary>
        [Parameter]
        [SupportsWildcards]
        public string[]? Owner { get; set; }

        /// <summary>Only datacenters at these sites (wildcards).</summary>
        [Parameter]
        [SupportsWildcards]
        public string[]? Site { get; set; }

        protected override void ProcessRecord()
        {
            IReadOnlyList<GridDatacenter> all;
            try { all = Engine.GetDatacenters(Name); }
            catch (PipelineStoppedException) { throw; }
            catch (Exception ex) { ThrowGridError(ex, Name); return; }
            foreach (var d in all)
            {
                if (!MatchesAny(d.Provider, Provider) || !MatchesAny(d.Owner, Owner) || !MatchesAny(d.Site, Site)) continue;
                WriteObject(d);
            }
            if (Name != null)
                foreach (var n in Name)
                    if (!HasWildcard(n) && !all.Any(d => IsLiteralMatch(d.Name, n)))
                        WriteError(ErrorMapping.Create("DatacenterNotFound", ErrorCategory.ObjectNotFound,
                            $"No datacenter named '{n}' is registered. Register it with Connect-GridDatacenter.", n, GridErrorKind.NotFound));
        }
    }
}
