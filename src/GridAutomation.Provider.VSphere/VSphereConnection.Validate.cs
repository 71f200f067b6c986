using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>
    /// The catalog checks of a create, asked by the engine before it journals (issue 10): no template of that
    /// name (ImageNotFound), no host, cluster or resource pool of that name (HostNotFound), a size that is no shape.
    /// Reads only. A host that exists but is in maintenance or disconnected is a refusal of the moment: it stays in
    /// CreateWorkloadAsync (a Failed row).
    /// </summary>
    public sealed partial class VSphereConnection : IValidatesCreate
    {
        public Task ValidateCreateAsync(CreateWorkloadRequest request, CancellationToken cancellationToken)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            if (!Capabilities.HasFlag(GridCapabilities.Create))
                throw GridException.Unsupported($"{Endpoint} is not a vCenter: VMs cannot be cloned from templates there.", "CapabilityNotSupported", request.Name);
            if (string.IsNullOrWhiteSpace(request.Image))
                throw GridException.InvalidRequest("vSphere creates workloads by cloning a template: give -Image <template name> (Get-GridImage lists them).", "ImageRequired", request.Name);
            Shape(request.Size, request.CpuCount, request.MemoryMB, request.Name);
            return WithSessionAsync(async () =>
            {
                await FindTemplateAsync(request.Image!, cancellationToken).ConfigureAwait(false);
                string? target = request.TargetHost;
                if (string.IsNullOrWhiteSpace(target)) return true;
                var hosts = await LoadHostsAsync(false, cancellationToken).ConfigureAwait(false);
                bool known = hosts.Values.Any(h => string.Equals(h.Name, target, StringComparison.OrdinalIgnoreCase) || h.Ref.Value == target
                                                   || string.Equals(h.Cluster, target, StringComparison.OrdinalIgnoreCase)
                                                   || string.Equals(h.Grid.Properties["ComputeResource"] as string, target, StringComparison.OrdinalIgnoreCase));
                if (!known && !(await FindResourcePoolAsync(target!, cancellationToken).ConfigureAwait(false)).HasValue)
                    throw GridException.NotFound($"No host, cluster or resource pool '{target}' in vSphere datacenter '{_dcName}'. Hosts: {string.Join(", ", hosts.Values.Select(h => h.Name))}.", "HostNotFound", target);
                return true;
            }, cancellationToken);
        }
    }
}
