using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Http;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// Virtual networks of the loopback ARM, in the shapes of the Network REST API (VirtualNetworks_Get: id, name,
    /// type, location, properties.addressSpace and properties.subnets[] with id, name, properties.addressPrefix) and
    /// the generic resource list (Resources_List / Resources_ListByResourceGroup with $filter=resourceType eq '…':
    /// value[] of id, name, type, location). Seeded: in resource group "grid" vnet1 (westeurope: default) and vnet-dr
    /// (westeurope: isolated and default); in "grid2" vnet-neu (northeurope: default and dr-test).
    /// </summary>
    public sealed partial class ArmSimulator
    {
        public static string VnetId(string rg, string vnet) => RgId(rg) + "/providers/Microsoft.Network/virtualNetworks/" + vnet;
        public static string SubnetIdOf(string rg, string vnet, string subnet) => VnetId(rg, vnet) + "/subnets/" + subnet;

        /// <summary>Virtual networks by id: location and subnet names.</summary>
        public Dictionary<string, (string Location, string[] Subnets)> VirtualNetworks { get; } = new Dictionary<string, (string, string[])>(StringComparer.OrdinalIgnoreCase)
        {
            [VnetId("grid", "vnet1")] = ("westeurope", new[] { "default" }),
            [VnetId("grid", "vnet-dr")] = ("westeurope", new[] { "isolated", "default" }),
            [VnetId("grid2", "vnet-neu")] = ("northeurope", new[] { "default", "dr-test" }),
        };

        /// <summary>The subnet ids of a VM's NIC configurations (as the create sent them).</summary>
        public IReadOnlyList<string> SubnetsOf(string vmId)
        {
            lock (_gate)
            {
                if (!_vms.TryGetValue(vmId, out var vm)) return Array.Empty<string>();
                var cfgs = vm.Model["properties"]?["networkProfile"]?["networkInterfaceConfigurations"] as JsonArray;
                return (cfgs ?? new JsonArray()).SelectMany(c => (c?["properties"]?["ipConfigurations"] as JsonArray ?? new JsonArray()))
                    .Select(ip => ip?["properties"]?["subnet"]?["id"]?.GetValue<string>()).Where(s => s != null).Select(s => s!).ToList();
            }
        }

        /// <summary>GET of the resource lists (virtual networks only) and of a virtual network; false when the path is not one of them.</summary>
        private async Task<bool> HandleNetworkAsync(HttpContext ctx, SeenRequest req, string[] seg)
        {
            if (req.Method != "GET") return false;
            bool subList = seg.Length == 3 && Is(seg[2], "resources");
            bool rgList = seg.Length == 5 && Is(seg[2], "resourceGroups") && Is(seg[4], "resources");
            if (subList || rgList)
            {
                string filter = ctx.Request.Query["$filter"].ToString();
                var arr = new JsonArray();
                if (filter.Contains("Microsoft.Network/virtualNetworks", StringComparison.OrdinalIgnoreCase) || filter.Length == 0)
                    foreach (var kv in VirtualNetworks.Where(v => subList || v.Key.StartsWith(RgId(seg[3]) + "/", StringComparison.OrdinalIgnoreCase)))
                        arr.Add(new JsonObject { ["id"] = kv.Key, ["name"] = kv.Key.Split('/').Last(), ["type"] = "Microsoft.Network/virtualNetworks", ["location"] = kv.Value.Location });
                await Json(ctx, 200, new JsonObject { ["value"] = arr });
                return true;
            }
            if (seg.Length == 8 && Is(seg[2], "resourceGroups") && Is(seg[4], "providers") && Is(seg[5], "Microsoft.Network") && Is(seg[6], "virtualNetworks"))
            {
                string id = VnetId(seg[3], seg[7]);
                if (!VirtualNetworks.TryGetValue(id, out var v))
                {
                    await CloudError(ctx, 404, "ResourceNotFound", $"The Resource 'Microsoft.Network/virtualNetworks/{seg[7]}' under resource group '{seg[3]}' was not found.");
                    return true;
                }
                var subnets = new JsonArray();
                int k = 0;
                foreach (var s in v.Subnets)
                    subnets.Add(new JsonObject
                    {
                        ["name"] = s, ["id"] = id + "/subnets/" + s, ["type"] = "Microsoft.Network/virtualNetworks/subnets",
                        ["properties"] = new JsonObject { ["addressPrefix"] = $"10.{k++}.0.0/24", ["provisioningState"] = "Succeeded" },
                    });
                await Json(ctx, 200, new JsonObject
                {
                    ["id"] = id, ["name"] = seg[7], ["type"] = "Microsoft.Network/virtualNetworks", ["location"] = v.Location,
                    ["properties"] = new JsonObject
                    {
                        ["provisioningState"] = "Succeeded",
                        ["addressSpace"] = new JsonObject { ["addressPrefixes"] = new JsonArray("10.0.0.0/8") },
                        ["subnets"] = subnets,
                    },
                });
                return true;
            }
            return false;
        }
    }
}
