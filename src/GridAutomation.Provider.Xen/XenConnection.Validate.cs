using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Xen.Xapi;

namespace GridAutomation.Providers.Xen
{
    /// <summary>
    /// The catalog checks of a create, asked by the engine before it journals (issue 10): a missing or unknown
    /// template (ImageNotFound / ImageAmbiguous), an unknown size, an unknown host. Two reads (VM and host records),
    /// nothing changed; CreateWorkloadAsync makes the same checks again for a resumed create.
    /// </summary>
    internal sealed partial class XenConnection : IValidatesCreate
    {
        public async Task ValidateCreateAsync(CreateWorkloadRequest request, CancellationToken cancellationToken)
        {
            if (string.IsNullOrWhiteSpace(request.Name)) throw GridException.InvalidRequest("A workload name is required.", "NameRequired");
            string image = TemplateOf(request);
            if (!string.IsNullOrEmpty(request.Size) && SizeCatalog.Find(request.Size!) == null)
                throw GridException.NotFound($"Size '{request.Size}' is not offered. Sizes: {string.Join(", ", SizeCatalog.Shapes.Select(x => x.Name))}.", "SizeNotFound", request.Size);
            var vms = await XapiAsync(() => _x.GetAllRecordsAsync("VM", cancellationToken), "Listing templates").ConfigureAwait(false);
            FindTemplate(vms, image);
            if (!string.IsNullOrEmpty(request.TargetHost)) await FindHostAsync(request.TargetHost!, cancellationToken).ConfigureAwait(false);
        }
    }
}
