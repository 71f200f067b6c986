using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Simulator
{
    /// <summary>
    /// Simulated networks (setting -Networks, default one network named "default"): a create attaches the workload to
    /// its option Network, else to the first network, and the workload shows it as the property Network. A network
    /// not in the list is refused (NetworkNotFound) only when -Networks is set, so datacenters registered before (whose
    /// moves name networks freely, e.g. -MoveDefaults Network=lan) keep working.
    /// </summary>
    public sealed partial class SimulatorConnection
    {
        public const string DefaultNetwork = "default";

        /// <summary>The datacenter's networks: the setting Networks, else one network "default".</summary>
        public IReadOnlyList<string> Networks
            => SettingArray("Networks") is { Length: > 0 } n ? n.Select(x => x.Trim()).Where(x => x.Length > 0).ToArray() : new[] { DefaultNetwork };

        public Task<IReadOnlyList<string>> GetNetworksAsync(CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Task.FromResult(Networks);
        }

        /// <summary>The network a create attaches to (NetworkNotFound when -Networks is set and does not list it).</summary>
        private string CreateNetwork(CreateWorkloadRequest request)
        {
            var nets = Networks;
            if (!request.Options.TryGetValue("Network", out var net) || string.IsNullOrWhiteSpace(net)) return nets[0];
            net = net.Trim();
            var known = nets.FirstOrDefault(n => string.Equals(n, net, StringComparison.OrdinalIgnoreCase));
            if (known != null) return known;
            if (SettingArray("Networks") is { Length: > 0 })
                throw GridException.NotFound($"No network '{net}' in simulated datacenter '{Datacenter.Name}'. Networks: {string.Join(", ", nets)}.", "NetworkNotFound", net);
            return net;
        }
    }
}
