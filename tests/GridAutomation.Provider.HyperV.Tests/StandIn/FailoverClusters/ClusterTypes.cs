// The stand-in's copies of the FailoverClusters module's output types, shaped like Microsoft's: namespace, type
// names, enum names and values, property names. Sources (Microsoft documentation):
//  - Get-ClusterNode (Microsoft.FailoverClusters.PowerShell.ClusterNode; State as CLUSTER_NODE_STATE: Unknown -1,
//    Up 0, Down 1, Paused 2, Joining 3): https://learn.microsoft.com/en-us/powershell/module/failoverclusters/get-clusternode
//    and https://learn.microsoft.com/en-us/windows/win32/api/clusapi/ne-clusapi-cluster_node_state
//  - Get-ClusterGroup (Microsoft.FailoverClusters.PowerShell.ClusterGroup: Name, OwnerNode, State as
//    CLUSTER_GROUP_STATE: Unknown -1, Online 0, Offline 1, Failed 2, PartialOnline 3, Pending 4; GroupType as
//    CLUSGROUP_TYPE, VirtualMachine 111): https://learn.microsoft.com/en-us/powershell/module/failoverclusters/get-clustergroup,
//    https://learn.microsoft.com/en-us/windows/win32/api/clusapi/ne-clusapi-cluster_group_state and
//    https://learn.microsoft.com/en-us/windows/win32/api/clusapi/ne-clusapi-clusgroup_type
//  - Get-Cluster (Microsoft.FailoverClusters.PowerShell.Cluster: Name, Domain, Id):
//    https://learn.microsoft.com/en-us/powershell/module/failoverclusters/get-cluster
// Only the members the provider (and an admin reading the objects) uses are modelled. Nothing here ever ran against
// a real cluster; see docs/providers/hyperv.md.
using System;

namespace Microsoft.FailoverClusters.PowerShell
{
    public enum ClusterNodeState { Unknown = -1, Up = 0, Down = 1, Paused = 2, Joining = 3 }

    public enum ClusterGroupState { Unknown = -1, Online = 0, Offline = 1, Failed = 2, PartialOnline = 3, Pending = 4 }

    public enum GroupType
    {
        Cluster = 1, AvailableStorage = 2, Temporary = 3, ClusterSharedVolume = 4, ClusterStoragePool = 5,
        FileServer = 100, PrintServer = 101, DhcpServer = 102, Dtc = 103, Msmq = 104, Wins = 105, StandAloneDfs = 106,
        GenericApplication = 107, GenericService = 108, GenericScript = 109, IScsiNameService = 110,
        VirtualMachine = 111, TsSessionBroker = 112, IScsiTarget = 113, ScaleoutFileServer = 114, VMReplicaBroker = 115,
        TaskScheduler = 116, Unknown = 9999,
    }

    public class Cluster
    {
        public string Name { get; set; }
        public string Domain { get; set; }
        public string Id { get; set; }
        public override string ToString() => Name;
    }

    public class ClusterNode
    {
        public string Name { get; set; }
        public string Id { get; set; }
        public ClusterNodeState State { get; set; }
        public Cluster Cluster { get; set; }
        public uint NodeWeight { get; set; }
        public uint DynamicWeight { get; set; }
        public override string ToString() => Name;
    }

    public class ClusterGroup
    {
        public string Name { get; set; }
        public string Id { get; set; }
        public ClusterNode OwnerNode { get; set; }
        public ClusterGroupState State { get; set; }
        public GroupType GroupType { get; set; }
        public Cluster Cluster { get; set; }
        public bool IsCoreGroup { get; set; }
        public uint Priority { get; set; }
        public override string ToString() => Name;
    }
}
