using System;
using System.Collections.Generic;
using System.Management.Automation;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Lists the images (templates, AMIs, marketplace images, volumes) datacenters offer.</summary>
    [Cmdlet(VerbsCommon.Get, "GridImage")]
    [OutputType(typeof(GridImage))]
    public sealed class GetGridImageCommand : GridCmdlet
    {
        /// <summary>Image names (wildcards).</summary>
        [Parameter(Position = 0)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ImageCompleter))]
        public string[]? Name { get; set; }

        /// <summary>Datacenter names (wildcards); all registered datacenters by default.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[]? Datacenter { get; set; }

        /// <summary>Image publisher (marketplace providers such as Azure); passed to the provider as the "Publisher" filter.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? Publisher { get; set; }

        /// <summary>Image offer; passed to the provider as the "Offer" filter.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? Offer { get; set; }

        /// <summary>Image SKU; passed to the provider as the "Sku" filter.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? Sku { get; set; }

        protected override void ProcessRecord()
        {
            var filter = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (Publisher != null) filter["Publisher"] = Publisher;
            if (Offer != null) filter["Offer"] = Offer;
            if (Sku != null) filter["Sku"] = Sku;
            Stream(ct => Engine.GetImagesAsync(Datacenter, filter, Observer, ct), x =>
            {
                if (MatchesAny(x.Name, Name)) WriteObject(x);
            });
        }
    }
}
