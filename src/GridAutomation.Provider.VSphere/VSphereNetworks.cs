using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.VSphere.Vim25;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>A network a VM's card can be backed by: a standard port group (Network) or a distributed port group (its key and switch).</summary>
    internal readonly struct VimNetwork
    {
        public VimNetwork(MoRef obj, string name, string? portgroupKey, string? switchUuid) { Obj = obj; Name = name; PortgroupKey = portgroupKey; SwitchUuid = switchUuid; }
        public MoRef Obj { get; }
        public string Name { get; }
        public string? PortgroupKey { get; }
        public string? SwitchUuid { get; }
        public bool IsDistributed => SwitchUuid != null;
    }

    /// <summary>
    /// The networks of the datacenter a VM's card can be attached to (create option Network, e.g. Start-GridFailover
    /// -TestNetwork): standard port groups (Network objects) and distributed port groups (DistributedVirtualPortgroup,
    /// not the uplink port groups of their switch), read through one container view of the datacenter and the
    /// property collector, as the inventory reads VMs. An imported VM (moves, failover copies) gets a vmxnet3 card
    /// backed by the network (VirtualEthernetCardNetworkBackingInfo) or the distributed port group
    /// (VirtualEthernetCardDistributedVirtualPortBackingInfo: the switch's uuid and the port group's key).
    /// </summary>
    public sealed partial class VSphereConnection : INetworkCatalog
    {
        private static readonly HashSet<string> NicTypes = new HashSet<string>(StringComparer.Ordinal)
        { "VirtualVmxnet3", "VirtualVmxnet2", "VirtualVmxnet", "VirtualE1000", "VirtualE1000e", "VirtualPCNet32", "VirtualSriovEthernetCard", "VirtualVmxnet3Vrdma" };

        public Task<IReadOnlyList<string>> GetNetworksAsync(CancellationToken cancellationToken)
            => WithSessionAsync<IReadOnlyList<string>>(async () =>
                (await ListNetworksAsync(cancellationToken).ConfigureAwait(false)).Select(n => n.Name).Distinct(StringComparer.Ordinal).OrderBy(n => n, StringComparer.Ordinal).ToList(),
                cancellationToken);

        /// <summary>The attachable networks of the datacenter (standard and distributed port groups; no uplink port group, no opaque network).</summary>
        private async Task<List<VimNetwork>> ListNetworksAsync(CancellationToken ct)
        {
            var view = await _vim.CreateContainerViewAsync(_dc, new[] { "Network", "DistributedVirtualPortgroup" }, ct).ConfigureAwait(false);
            List<ObjectContent> all;
            try
            {
                all = await _vim.RetrieveAllAsync(new FilterSpec { Root = view, ViaView = true }
                    .Add("Network", "name")
                    .Add("DistributedVirtualPortgroup", "name", "key", "config.distributedVirtualSwitch"), ct).ConfigureAwait(false);
            }
            finally { try { await _vim.DestroyViewAsync(view, CancellationToken.None).ConfigureAwait(false); } catch (GridException) { } }

            var switches = new Dictionary<string, (string? Uuid, HashSet<string> Uplinks)>(StringComparer.Ordinal);
            var result = new List<VimNetwork>();
            foreach (var o in all.GroupBy(o => o.Obj.Type + ":" + o.Obj.Value).Select(g => g.First()))
            {
                string? name = o.Text("name");
                if (string.IsNullOrEmpty(name)) continue;
                if (o.Obj.Type == "Network") { result.Add(new VimNetwork(o.Obj, name!, null, null)); continue; }
                if (o.Obj.Type != "DistributedVirtualPortgroup") continue; // an opaque (NSX) network: no backing written here
                var sw = o.Ref("config.distributedVirtualSwitch");
                if (sw == null) continue;
                if (!switches.TryGetValue(sw.Value.Value, out var s))
                {
                    var so = await _vim.GetPropertiesAsync(sw.Value, new[] { "uuid", "config.uplinkPortgroup" }, ct).ConfigureAwait(false);
                    var uplinks = new HashSet<string>(StringComparer.Ordinal);
                    var up = so?.Get("config.uplinkPortgroup");
                    if (up != null)
                    {
                        foreach (var c in up.Children) if (!string.IsNullOrEmpty(c.Text)) uplinks.Add(c.Text!);
                        if (up.Children.Count == 0 && !string.IsNullOrEmpty(up.Text)) uplinks.Add(up.Text!);
                    }
                    switches[sw.Value.Value] = s = (so?.Text("uuid"), uplinks);
                }
                if (s.Uuid == null || s.Uplinks.Contains(o.Obj.Value)) continue;
                result.Add(new VimNetwork(o.Obj, name!, o.Text("key") ?? o.Obj.Value, s.Uuid));
            }
            return result;
        }

        /// <summary>A network of the datacenter by name (its own spelling first, then any case); NotFound lists those that exist.</summary>
        private async Task<VimNetwork> FindNetworkAsync(string name, string target, CancellationToken ct)
        {
            var all = await ListNetworksAsync(ct).ConfigureAwait(false);
            foreach (var cmp in new[] { StringComparison.Ordinal, StringComparison.OrdinalIgnoreCase })
                foreach (var n in all)
                    if (string.Equals(n.Name, name, cmp)) return n;
            throw GridException.NotFound($"No network '{name}' in vSphere datacenter '{_dcName}'. Networks: {string.Join(", ", all.Select(o => o.Name).Distinct(StringComparer.Ordinal))}.", "NetworkNotFound", target);
        }

        /// <summary>Adds a vmxnet3 card on the network unless the VM already has a network card (an imported VM has none).</summary>
        private async Task EnsureNicAsync(MoRef vm, string vmName, string networkName, VimNetwork network, string activity, IOperationScope? scope, CancellationToken ct)
        {
            var oc = await _vim.GetPropertiesAsync(vm, new[] { "config.hardware.device" }, ct).ConfigureAwait(false);
            if ((oc?.Get("config.hardware.device")?.Children ?? new List<VimNode>()).Any(d => d.XsiType != null && NicTypes.Contains(d.XsiType))) return;
            await RunTaskAsync("ReconfigVM_Task", vm, w =>
            {
                VimClient.StartTyped(w, "spec", "VirtualMachineConfigSpec");
                w.WriteStartElement("deviceChange");
                w.WriteElementString("operation", "add");
                VimClient.StartTyped(w, "device", "VirtualVmxnet3");
                w.WriteElementString("key", "-1");
                if (network.IsDistributed)
                {
                    VimClient.StartTyped(w, "backing", "VirtualEthernetCardDistributedVirtualPortBackingInfo");
                    w.WriteStartElement("port");
                    w.WriteElementString("switchUuid", network.SwitchUuid);
                    w.WriteElementString("portgroupKey", network.PortgroupKey);
                    w.WriteEndElement();
                }
                else
                {
                    VimClient.StartTyped(w, "backing", "VirtualEthernetCardNetworkBackingInfo");
                    w.WriteElementString("deviceName", network.Name);
                    VimClient.WriteMoRef(w, "network", network.Obj);
                }
                w.WriteEndElement();
                w.WriteStartElement("connectable");
                w.WriteElementString("startConnected", "true");
                w.WriteElementString("allowGuestControl", "true");
                w.WriteElementString("connected", "false");
                w.WriteEndElement();
                w.WriteElementString("addressType", "generated");
                w.WriteEndElement();
                w.WriteEndElement();
                w.WriteEndElement();
            }, activity + " (network card on " + networkName + ")", vmName, scope, ct).ConfigureAwait(false);
        }
    }
}
