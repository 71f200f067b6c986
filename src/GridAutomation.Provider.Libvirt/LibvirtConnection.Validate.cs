using System;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>
    /// The catalog checks of a create, asked by the engine before it journals (issue 10): the shape, the named host
    /// (HostNotFound), the image on that host or on any host (ImageNotFound; an absolute path is an image when it
    /// exists on the host, see Images.FindByPath). The same resolution CreateWorkloadAsync then uses; reads only.
    /// </summary>
    internal sealed partial class LibvirtConnection : IValidatesCreate
    {
        public Task ValidateCreateAsync(CreateWorkloadRequest request, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            if (request == null) throw new ArgumentNullException(nameof(request));
            if (string.IsNullOrWhiteSpace(request.Name)) throw GridException.InvalidRequest("A workload name is required.", "NameRequired");
            return Run(() => { CreateShape(request); CreatePlacement(request); }, cancellationToken, request.Name);
        }
    }
}
