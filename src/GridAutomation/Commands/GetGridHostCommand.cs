using System.Management.Automation;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Lists the hosts (ESXi hosts, libvirt hosts, availability zones...) workloads are placed on.</summary>
    [Cmdlet(VerbsCommon.Get, "GridHost")]
    [OutputType(typeof(GridHost))]
    public sealed class GetGridHostCommand : GridCmdlet
    {
        /// <summary>Names (wildcards).</summary>
        [Parameter(Position = 0)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(HostCompleter))]
        public string[]? Name { get; set; }

        /// <summary>Datacenter names (wildcards); all registered datacenters by default.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[]? Datacenter { get; set; }

        protected override void ProcessRecord()
        {
            Stream(ct => Engine.GetHostsAsync(Datacenter, Observer, ct), x =>
            {
                if (MatchesAny(x.Name, Name)) WriteObject(x);
            });
        }
    }
}
