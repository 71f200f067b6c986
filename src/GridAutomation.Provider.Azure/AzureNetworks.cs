using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Core;
using Azure.ResourceManager;
using Azure.ResourceManager.Resources;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Azure
{
    /// <summary>
    /// The networks of an Azure datacenter a VM's NIC can be placed in: the subnets of the virtual networks of its
    /// location (in its resource group when it has one, else in the subscription), named "vnet/subnet" and, where only
    /// one virtual network has it, by the subnet's name alone. Read through the generic resource API (the resource
    /// list filtered by type, then a GET of each virtual network, api-version <see cref="VnetApiVersion"/>), so the
    /// module needs no Network SDK. The create option Network takes such a name as well as a subnet or NIC id.
    /// </summary>
    public sealed partial class AzureConnection : INetworkCatalog
    {
        internal const string VnetApiVersion = "2024-05-01";
        internal static readonly ResourceType VnetType = new ResourceType("Microsoft.Network/virtualNetworks");

        private sealed class AzureSubnet
        {
            public string Vnet = "";
            public string Name = "";
            public ResourceIdentifier Id = null!;
            public string Full => Vnet + "/" + Name;
        }

        public async Task<IReadOnlyList<string>> GetNetworksAsync(CancellationToken cancellationToken)
        {
            var subnets = await ListSubnetsAsync(cancellationToken).ConfigureAwait(false);
            var names = subnets.Select(s => s.Full).ToList();
            names.AddRange(subnets.GroupBy(s => s.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() == 1).Select(g => g.First().Name));
            return names.Distinct(StringComparer.OrdinalIgnoreCase).OrderBy(n => n, StringComparer.Ordinal).ToList();
        }

        private Task<List<AzureSubnet>> ListSubnetsAsync(CancellationToken ct) => Guard(async () =>
        {
            const string filter = "resourceType eq 'Microsoft.Network/virtualNetworks'";
            var pages = _s.ResourceGroup != null
                ? _arm.GetResourceGroupResource(ResourceGroupResource.CreateResourceIdentifier(_s.SubscriptionId, _s.ResourceGroup)).GetGenericResourcesAsync(filter, cancellationToken: ct)
                : _subscription.GetGenericResourcesAsync(filter, cancellationToken: ct);
            var vnets = new List<ResourceIdentifier>();
            await foreach (var r in pages.ConfigureAwait(false))
                if (r.Data.Location is AzureLocation loc && string.Equals(loc.Name, new AzureLocation(_s.Location).Name, StringComparison.OrdinalIgnoreCase))
                    vnets.Add(r.Id);
            var result = new List<AzureSubnet>();
            foreach (var id in vnets)
            {
                var vnet = (await _arm.GetGenericResource(id).GetAsync(ct).ConfigureAwait(false)).Value;
                if (vnet.Data.Properties == null) continue;
                using var doc = JsonDocument.Parse(vnet.Data.Properties.ToMemory());
                if (!doc.RootElement.TryGetProperty("subnets", out var subs) || subs.ValueKind != JsonValueKind.Array) continue;
                foreach (var s in subs.EnumerateArray())
                {
                    string? name = s.TryGetProperty("name", out var n) ? n.GetString() : null;
                    string? sid = s.TryGetProperty("id", out var i) ? i.GetString() : null;
                    if (string.IsNullOrEmpty(name) || string.IsNullOrEmpty(sid)) continue;
                    result.Add(new AzureSubnet { Vnet = id.Name, Name = name!, Id = new ResourceIdentifier(sid!) });
                }
            }
            return result;
        }, null, ct);

        /// <summary>The subnet id the create option Network names ("vnet/subnet" or a subnet name one virtual network has; its own case first).</summary>
        private async Task<string> ResolveSubnetAsync(string network, string target, CancellationToken ct)
        {
            var subnets = await ListSubnetsAsync(ct).ConfigureAwait(false);
            foreach (var cmp in new[] { StringComparison.Ordinal, StringComparison.OrdinalIgnoreCase })
            {
                var full = subnets.FirstOrDefault(s => string.Equals(s.Full, network, cmp));
                if (full != null) return full.Id.ToString();
                var named = subnets.Where(s => string.Equals(s.Name, network, cmp)).ToList();
                if (named.Count == 1) return named[0].Id.ToString();
                if (named.Count > 1)
                    throw GridException.InvalidRequest($"{named.Count} virtual networks of Azure '{Datacenter.Name}' have a subnet '{network}' ({string.Join(", ", named.Select(s => s.Full))}): name it as vnet/subnet.", "NetworkAmbiguous", target);
            }
            throw GridException.NotFound($"No subnet '{network}' in the virtual networks of Azure '{Datacenter.Name}' ({_s.Location}). Subnets: {string.Join(", ", subnets.Select(s => s.Full))}.", "NetworkNotFound", target);
        }
    }
}
