using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>A node of the datacenter's Failover Cluster as Get-ClusterNode reported it at connect.</summary>
    internal sealed class ClusterNodeInfo
    {
        public string Name { get; set; } = "";
        /// <summary>ClusterNodeState by name: Up, Down, Paused, Joining, Unknown.</summary>
        public string State { get; set; } = "";
        /// <summary>Why no session reaches the node (it is Down, or opening one failed); null when one does.</summary>
        public string? Unreachable { get; set; }
    }

    /// <summary>
    /// A Failover Cluster as one datacenter (-Cluster): the hosts are the cluster's nodes (Get-ClusterNode, asked
    /// through a node at connect); each node that is Up or Paused is reached by its own remoting session (the
    /// -HostName entry whose host is that node, else the node's own name with the same user, key and port); a Down
    /// node is listed as a Down host and gets no session. VMs that are clustered roles move between nodes with
    /// Move-ClusterVirtualMachineRole; new VMs become clustered roles (Add-ClusterVirtualMachineRole).
    /// </summary>
    internal sealed partial class HyperVConnection
    {
        private string? _cluster;
        private IReadOnlyList<ClusterNodeInfo> _nodes = Array.Empty<ClusterNodeInfo>();

        /// <summary>Set once by the provider right after construction, for a -Cluster datacenter.</summary>
        internal void SetCluster(string cluster, IReadOnlyList<ClusterNodeInfo> nodes) { _cluster = cluster; _nodes = nodes; }

        internal string? Cluster => _cluster;

        /// <summary>ClusterNodeState → the host's state: Paused is maintenance (it hosts no roles), Up is connected, the rest Down.</summary>
        internal static HostState NodeHostState(string nodeState) => nodeState switch
        {
            "Up" => HostState.Connected,
            "Paused" => HostState.Maintenance,
            "Down" => HostState.Down,
            _ => HostState.Unknown,
        };

        /// <summary>The cluster's say on a host that has a session (its node state), on top of what the host itself reported.</summary>
        private void ApplyClusterState(GridHost gh)
        {
            if (_cluster == null) return;
            gh.Properties["Cluster"] = _cluster;
            var node = _nodes.FirstOrDefault(n => string.Equals(n.Name, gh.Name, StringComparison.OrdinalIgnoreCase));
            if (node == null) return;
            gh.Properties["ClusterNodeState"] = node.State;
            if (gh.State == HostState.Connected && node.State != "Up") { gh.State = NodeHostState(node.State); gh.NativeState = node.State; }
        }

        /// <summary>The cluster's nodes no session reaches (Down, or not reachable at connect), as hosts.</summary>
        private IEnumerable<GridHost> UnreachableNodes()
        {
            foreach (var n in _nodes.Where(n => n.Unreachable != null && !_hosts.Any(h => string.Equals(h.Name, n.Name, StringComparison.OrdinalIgnoreCase))))
            {
                var gh = new GridHost
                {
                    Datacenter = Datacenter.Name, Name = n.Name, NativeId = n.Name,
                    State = n.State == "Unknown" ? HostState.Unknown : HostState.Down, // Up/Paused/Joining without a session count as Down too
                    NativeState = n.Unreachable,
                };
                gh.Properties["Cluster"] = _cluster;
                gh.Properties["ClusterNodeState"] = n.State;
                yield return gh;
            }
        }

        /// <summary>A clustered VM of a cluster datacenter moves by the cluster; any other VM by Move-VM.</summary>
        private bool MovesByCluster(GridWorkload w) => _cluster != null && w.Properties.TryGetValue("IsClustered", out var c) && c is bool b && b;
    }
}
