using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Xen.Xapi;

namespace GridAutomation.Providers.Xen
{
    /// <summary>
    /// The pool's networks (XAPI <c>network</c> objects, by name_label; the host-internal management network left out)
    /// for Start-GridFailover -TestNetwork, and a create's option <c>Network</c> (name_label or uuid): the VM's card 0
    /// (VIF device 0) is put on that network before it starts.
    /// </summary>
    internal sealed partial class XenConnection : INetworkCatalog
    {
        public async Task<IReadOnlyList<string>> GetNetworksAsync(CancellationToken cancellationToken)
        {
            var all = await XapiAsync(() => _x.GetAllRecordsAsync("network", cancellationToken), "Listing networks").ConfigureAwait(false);
            return Usable(all).Select(kv => XapiValue.Str(kv.Value, "name_label")!).Distinct(StringComparer.Ordinal).OrderBy(n => n, StringComparer.Ordinal).ToList();
        }

        private static IEnumerable<KeyValuePair<string, Dictionary<string, object?>>> Usable(IDictionary<string, Dictionary<string, object?>> all)
            => all.Where(kv => !string.IsNullOrEmpty(XapiValue.Str(kv.Value, "name_label"))
                && !(XapiValue.Map(kv.Value, "other_config").TryGetValue("is_host_internal_management_network", out var m) && XapiValue.AsString(m) == "true"));

        /// <summary>The network a create names (name_label, else uuid); NetworkNotFound lists the pool's networks.</summary>
        private async Task<string> FindNetworkAsync(string name, string target, CancellationToken ct)
        {
            var all = await XapiAsync(() => _x.GetAllRecordsAsync("network", ct), "Listing networks", target).ConfigureAwait(false);
            var usable = Usable(all).ToList();
            var byName = usable.Where(kv => string.Equals(XapiValue.Str(kv.Value, "name_label"), name, StringComparison.Ordinal)).ToList();
            if (byName.Count == 1) return byName[0].Key;
            if (byName.Count > 1)
                throw GridException.InvalidRequest($"{byName.Count} networks of pool '{PoolName}' ({Datacenter.Name}) are named '{name}': give the uuid of one ({string.Join(", ", byName.Select(kv => XapiValue.Str(kv.Value, "uuid")))}).", "NetworkAmbiguous", target);
            var byUuid = usable.FirstOrDefault(kv => string.Equals(XapiValue.Str(kv.Value, "uuid"), name, StringComparison.OrdinalIgnoreCase)).Key;
            return byUuid ?? throw GridException.NotFound(
                $"No network '{name}' in pool '{PoolName}' ({Datacenter.Name}). Networks: {string.Join(", ", usable.Select(kv => XapiValue.Str(kv.Value, "name_label")).Distinct(StringComparer.Ordinal))}.", "NetworkNotFound", target);
        }

        /// <summary>Card 0 of a halted VM on <paramref name="network"/>: kept if it is there, else replaced or made (VIF.create).</summary>
        private async Task EnsureCardAsync(string vm, string network, string name, CancellationToken ct)
        {
            var vifs = await XapiAsync(() => _x.GetAllRecordsAsync("VIF", ct), "Listing network cards", name).ConfigureAwait(false);
            var card0 = vifs.Where(kv => XapiValue.Str(kv.Value, "VM") == vm && XapiValue.Str(kv.Value, "device") == "0").ToList();
            if (card0.Any(kv => XapiValue.Str(kv.Value, "network") == network)) return;
            foreach (var old in card0)
                await XapiAsync(() => _x.CallAsync("VIF.destroy", ct, old.Key), $"Removing card 0 of '{name}' from its template's network", name).ConfigureAwait(false);
            var record = new Dictionary<string, object?>
            {
                ["VM"] = vm, ["network"] = network, ["device"] = "0", ["MAC"] = "", ["MTU"] = 1500L,
                ["other_config"] = new Dictionary<string, object?>(), ["qos_algorithm_type"] = "", ["qos_algorithm_params"] = new Dictionary<string, object?>(),
            };
            await XapiAsync(() => _x.CallAsync("VIF.create", ct, record), $"Putting card 0 of '{name}' on its network", name).ConfigureAwait(false);
        }
    }
}
