using System.Management.Automation;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Lists the sizes (instance types, VM sizes, CPU/memory shapes) datacenters offer.</summary>
    [Cmdlet(VerbsCommon.Get, "GridSize")]
    [OutputType(typeof(GridSize))]
    public sealed class GetGridSizeCommand : GridCmdlet
    {
        /// <summary>Names (wildcards).</summary>
        [Parameter(Position = 0)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(SizeCompleter))]
        public string[]? Name { get; set; }

        /// <summary>Datacenter names (wildcards); all registered datacenters by default.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[]? Datacenter { get; set; }

        protected override void ProcessRecord()
        {
            Stream(ct => Engine.GetSizesAsync(Datacenter, Observer, ct), x =>
            {
                if (MatchesAny(x.Name, Name)) WriteObject(x);
            });
        }
    }
}
