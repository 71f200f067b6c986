namespace GridAutomation.Providers.HyperV
{
    /// <summary>
    /// The host-side scripts of a Failover Cluster as one datacenter (-Cluster): run on a node, with the
    /// FailoverClusters module (module-qualified, like Hyper-V's cmdlets). Clustered VMs move between nodes with
    /// Move-ClusterVirtualMachineRole (a live migration the cluster runs), not Move-VM.
    /// </summary>
    internal static partial class RemoteScripts
    {
        private const string ClusterModule =
            "try { Import-Module FailoverClusters -ErrorAction Stop } catch { Write-Error -Message ('The FailoverClusters PowerShell module is not available on the host: ' + $_.Exception.Message) -ErrorId 'Grid.HyperVClusterModuleMissing' -Category NotInstalled }\n";

        /// <summary>The cluster (its name checked) and its nodes with their states, asked once at connect through one node.</summary>
        public const string ClusterNodes = "param([string] $Cluster)\n" + Prologue + ClusterModule +
            "try { $c = FailoverClusters\\Get-Cluster -Name $Cluster } catch { Write-Error -Message (\"Cluster '$Cluster' cannot be reached from $env:COMPUTERNAME\" + ': ' + $_.Exception.Message) -ErrorId 'Grid.HyperVClusterNotFound' -Category ObjectNotFound }\n" +
            "FailoverClusters\\Get-ClusterNode -Cluster $Cluster | Select-Object -Property Name, @{ Name = 'State'; Expression = { $_.State.ToString() } }, @{ Name = 'ClusterName'; Expression = { $c.Name } }";

        /// <summary>A live migration of a clustered VM to another node by the cluster (Move-ClusterVirtualMachineRole -MigrationType Live).</summary>
        public const string ClusterMove = "param([string] $Id, [string] $DestinationHost, [string] $Cluster)\n" + Prologue + FindVm + ClusterModule +
            "$g = FailoverClusters\\Move-ClusterVirtualMachineRole -VMId $vm.Id -Node $DestinationHost -MigrationType Live -Cluster $Cluster\n" +
            "[pscustomobject]@{ Role = $g.Name; OwnerNode = $g.OwnerNode.Name; State = $g.State.ToString() }";
    }
}
