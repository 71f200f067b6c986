using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>
    /// The catalog checks of a create, asked by the engine before it journals (issue 10): the named host
    /// (HostNotFound), the image (ImageNotFound: no -ImagePath, or no such file under it on the host that may receive
    /// the VM — the named host, or every host when the create may choose any), the shape. One small remote call per host.
    /// </summary>
    internal sealed partial class HyperVConnection : IValidatesCreate
    {
        public Task ValidateCreateAsync(CreateWorkloadRequest request, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            if (request == null) throw new ArgumentNullException(nameof(request));
            if (string.IsNullOrWhiteSpace(request.Name)) throw GridException.InvalidRequest("A workload name is required.", "NameRequired");
            if (!string.IsNullOrEmpty(request.Size) && SizeCatalog.Find(request.Size!) == null)
                throw GridException.NotFound($"Size '{request.Size}' is not offered. Sizes: {string.Join(", ", SizeCatalog.Shapes.Select(x => x.Name))}.", "SizeNotFound", request.Size);
            var candidates = !string.IsNullOrEmpty(request.TargetHost) ? new[] { HostByName(request.TargetHost!) } : _hosts.ToArray();
            string? imageFile = ImageFileOf(request);
            if (imageFile == null) return Task.CompletedTask;
            return Run(() =>
            {
                foreach (var h in candidates)
                {
                    var r = h.Invoke(RemoteScripts.TestImage, new Dictionary<string, object?> { ["ImageFile"] = imageFile }, cancellationToken, request.Image).SingleOrDefault();
                    if (r == null || !(r.TryGetValue("Exists", out var e) && e is bool b && b))
                        throw GridException.NotFound($"Image '{request.Image}' ({imageFile}) does not exist on host '{h.Name}'. Get-GridImage -Datacenter {Datacenter.Name} lists the images.", "ImageNotFound", request.Image);
                }
            }, cancellationToken);
        }

        /// <summary>The file of -Image under the datacenter's -ImagePath (in the host's path style); null without -Image.</summary>
        private string? ImageFileOf(CreateWorkloadRequest request)
        {
            if (string.IsNullOrEmpty(request.Image)) return null;
            if (_imagePath == null)
                throw GridException.NotFound($"Image '{request.Image}': this datacenter has no -ImagePath, so it offers no images.", "ImageNotFound", request.Image);
            if (request.Image!.IndexOfAny(new[] { '/', '\\' }) >= 0 || request.Image == ".." || request.Image == ".")
                throw GridException.InvalidRequest($"Image '{request.Image}' must be a file name under -ImagePath ({_imagePath}), as Get-GridImage lists it.", "InvalidImageName", request.Image);
            string sep = _imagePath.Contains('\\') && !_imagePath.Contains('/') ? "\\" : "/";
            return _imagePath.TrimEnd('/', '\\') + sep + request.Image;
        }
    }
}
