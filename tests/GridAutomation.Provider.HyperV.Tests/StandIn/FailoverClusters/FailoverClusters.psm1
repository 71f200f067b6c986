# Stand-in for Microsoft's FailoverClusters PowerShell module, for the GridAutomation tests on Linux (no cluster here).
#
# Loaded next to the stand-in Hyper-V module on the "host" side of a real PowerShell remoting session. The fabric's
# cluster.json describes ONE cluster: { Name, Nodes: [ { Name, State } ], Groups: [ { Name, VMId, OwnerNode } ] }; the
# nodes are stand-in Hyper-V hosts of the same fabric (their VMs stay in <node>.json). Output types are in
# ClusterTypes.cs. The cmdlets and the parameters modelled, from Microsoft's documentation:
#   Get-Cluster                     https://learn.microsoft.com/en-us/powershell/module/failoverclusters/get-cluster      (-Name)
#   Get-ClusterNode                 https://learn.microsoft.com/en-us/powershell/module/failoverclusters/get-clusternode  (-Name, -Cluster)
#   Get-ClusterGroup                https://learn.microsoft.com/en-us/powershell/module/failoverclusters/get-clustergroup (-Name, -Cluster)
#   Add-ClusterVirtualMachineRole   https://learn.microsoft.com/en-us/powershell/module/failoverclusters/add-clustervirtualmachinerole
#                                   (-VMId, -VMName, -Name, -Cluster; the role is named after the VM)
#   Move-ClusterVirtualMachineRole  https://learn.microsoft.com/en-us/powershell/module/failoverclusters/move-clustervirtualmachinerole
#                                   (-Name, -VMId, -Node, -MigrationType Live|Quick|Shutdown|ShutdownForce|TurnOff, -Cluster;
#                                   live: the VM keeps its state on the new owner node)
#   Remove-ClusterGroup             https://learn.microsoft.com/en-us/powershell/module/failoverclusters/remove-clustergroup
#                                   (-Name, -RemoveResources, -Force, -Cluster; the VM stays on its node, no longer clustered)
# A cluster name other than the file's fails like a cluster that cannot be reached. Not modelled: CredSSP/Kerberos
# delegation the real Move-ClusterVirtualMachineRole needs when run in a remote session (see docs/providers/hyperv.md).

Set-StrictMode -Version 3.0

$script:Hv = Get-Module Hyper-V
if (-not $script:Hv) { $script:Hv = Import-Module Hyper-V -PassThru }

# Runs a script block inside the Hyper-V stand-in (its lock, call log, host files, error helper).
function Invoke-InHyperV([scriptblock] $Block, [object[]] $ArgumentList = @()) { & $script:Hv $Block @ArgumentList }

if (-not ('Microsoft.FailoverClusters.PowerShell.ClusterNode' -as [type])) {
    $dll = Join-Path $env:GRID_HYPERV_STANDIN_FABRIC '.types/Microsoft.FailoverClusters.PowerShell.StandIn.dll'
    $src = Join-Path $PSScriptRoot 'ClusterTypes.cs'
    Invoke-InHyperV { param($d, $s) Use-StandInLock { if (-not (Test-Path $d)) { $null = New-Item -ItemType Directory -Path (Split-Path $d) -Force; Add-Type -Path $s -OutputAssembly $d -OutputType Library } } } @($dll, $src)
    if (-not ('Microsoft.FailoverClusters.PowerShell.ClusterNode' -as [type])) { Add-Type -Path $dll }
}

function Get-ClusterFile { Join-Path $env:GRID_HYPERV_STANDIN_FABRIC 'cluster.json' }

# The cluster's state (or a ConnectionError like a node that is in no cluster / a name that does not answer).
function Read-Cluster($Cmdlet, [string] $Cluster) {
    $file = Get-ClusterFile
    $c = if (Test-Path $file) { Get-Content -LiteralPath $file -Raw | ConvertFrom-Json -AsHashtable } else { $null }
    if (-not $c -or ($Cluster -and $Cluster -ne '.' -and $Cluster -ne $c.Name)) {
        $what = if ($Cluster) { "cluster '$Cluster'" } else { 'the local cluster' }
        $ex = [InvalidOperationException]::new("Failed to connect to $what. The cluster service is not running or the cluster name cannot be resolved.")
        $Cmdlet.ThrowTerminatingError([Management.Automation.ErrorRecord]::new($ex, 'ClusterCmdletConnectionError', 'ConnectionError', $Cluster))
    }
    if (-not $c.Groups) { $c.Groups = @() }
    $c.Groups = [Collections.Generic.List[object]]@($c.Groups)
    $c
}

function Write-Cluster($State) { $State | ConvertTo-Json -Depth 6 | Set-Content -LiteralPath (Get-ClusterFile) -Encoding utf8 }

function ConvertTo-ClusterObject($c) { [Microsoft.FailoverClusters.PowerShell.Cluster]@{ Name = $c.Name; Domain = 'standin.test'; Id = [guid]::new(($c.Name.GetHashCode() -band 0x7fffffff), 0, 0, [byte[]]::new(8)).ToString() } }

function ConvertTo-NodeObject($c, $n, [int] $Index) {
    [Microsoft.FailoverClusters.PowerShell.ClusterNode]@{ Name = $n.Name; Id = [string]($Index + 1); State = $n.State; Cluster = (ConvertTo-ClusterObject $c); NodeWeight = 1; DynamicWeight = 1 }
}

function ConvertTo-GroupObject($c, $g) {
    $i = [array]::IndexOf(@($c.Nodes.Name), $g.OwnerNode)
    $vmState = Invoke-InHyperV { param($node, $id) $s = Read-HostState $node; if ($s) { ($s.VMs | Where-Object { $_.Id -eq $id } | Select-Object -First 1).State } } @($g.OwnerNode, $g.VMId)
    [Microsoft.FailoverClusters.PowerShell.ClusterGroup]@{
        Name = $g.Name; Id = $g.VMId; OwnerNode = (ConvertTo-NodeObject $c @($c.Nodes)[$i] $i); GroupType = 'VirtualMachine'
        State = $(if ($vmState -in 'Running', 'Paused') { 'Online' } elseif ($vmState -like '*Critical') { 'Failed' } else { 'Offline' })
        Cluster = (ConvertTo-ClusterObject $c); IsCoreGroup = $false; Priority = 2000
    }
}

function Write-Call([string] $Command, $Bound) { Invoke-InHyperV { param($c, $b) Write-StandInCall $c $b } @($Command, $Bound) }

function Get-Cluster {
    [CmdletBinding()]
    [OutputType('Microsoft.FailoverClusters.PowerShell.Cluster')]
    param([Parameter(Position = 0)] [string] $Name)
    Write-Call 'Get-Cluster' $PSBoundParameters
    ConvertTo-ClusterObject (Read-Cluster $PSCmdlet $Name)
}

function Get-ClusterNode {
    [CmdletBinding()]
    [OutputType('Microsoft.FailoverClusters.PowerShell.ClusterNode')]
    param([Parameter(Position = 0)] [string[]] $Name, [string] $Cluster)
    Write-Call 'Get-ClusterNode' $PSBoundParameters
    $c = Read-Cluster $PSCmdlet $Cluster
    for ($i = 0; $i -lt @($c.Nodes).Count; $i++) {
        $n = @($c.Nodes)[$i]
        if (-not $Name -or @($Name | Where-Object { $n.Name -like $_ }).Count -gt 0) { ConvertTo-NodeObject $c $n $i }
    }
}

function Get-ClusterGroup {
    [CmdletBinding()]
    [OutputType('Microsoft.FailoverClusters.PowerShell.ClusterGroup')]
    param([Parameter(Position = 0)] [string[]] $Name, [string] $Cluster)
    Write-Call 'Get-ClusterGroup' $PSBoundParameters
    $c = Read-Cluster $PSCmdlet $Cluster
    foreach ($g in $c.Groups) { if (-not $Name -or @($Name | Where-Object { $g.Name -like $_ }).Count -gt 0) { ConvertTo-GroupObject $c $g } }
}

function Add-ClusterVirtualMachineRole {
    [CmdletBinding()]
    [OutputType('Microsoft.FailoverClusters.PowerShell.ClusterGroup')]
    param([string] $VMName, [Guid] $VMId, [string] $Name, [string] $Cluster)
    Write-Call 'Add-ClusterVirtualMachineRole' $PSBoundParameters
    $cmdlet = $PSCmdlet
    $me = $env:GRID_HYPERV_STANDIN_HOST
    Invoke-InHyperV { param($block) Use-StandInLock $block } @({
            $c = Read-Cluster $cmdlet $Cluster
            $rec = Invoke-InHyperV { param($id, $n) $s = Read-HostState; if ($s) { $s.VMs | Where-Object { ($id -and $_.Id -eq $id) -or (-not $id -and $_.Name -eq $n) } | Select-Object -First 1 } } @($(if ($VMId -ne [Guid]::Empty) { [string]$VMId } else { $null }), $VMName)
            if (-not $rec) { $cmdlet.ThrowTerminatingError([Management.Automation.ErrorRecord]::new([Management.Automation.ItemNotFoundException]::new("No virtual machine '$VMName$VMId' on node '$me'."), 'ClusterCmdletObjectNotFound', 'ObjectNotFound', $VMName)) }
            if (@($c.Groups | Where-Object { $_.VMId -eq $rec.Id }).Count -eq 0) { $c.Groups.Add([ordered]@{ Name = $(if ($Name) { $Name } else { $rec.Name }); VMId = $rec.Id; OwnerNode = $me }) }
            Write-Cluster $c
            ConvertTo-GroupObject $c ($c.Groups | Where-Object { $_.VMId -eq $rec.Id } | Select-Object -First 1)
        })
}

function Move-ClusterVirtualMachineRole {
    [CmdletBinding()]
    [OutputType('Microsoft.FailoverClusters.PowerShell.ClusterGroup')]
    param([Parameter(Position = 0)] [string] $Name, [Parameter(Position = 1)] [string] $Node, [Guid] $VMId,
        [ValidateSet('Live', 'Quick', 'Shutdown', 'ShutdownForce', 'TurnOff')] [string] $MigrationType = 'Live', [int] $Wait = -1, [string] $Cluster)
    Write-Call 'Move-ClusterVirtualMachineRole' $PSBoundParameters
    $cmdlet = $PSCmdlet
    Invoke-InHyperV { param($block) Use-StandInLock $block } @({
            $c = Read-Cluster $cmdlet $Cluster
            $g = $c.Groups | Where-Object { ($VMId -ne [Guid]::Empty -and $_.VMId -eq [string]$VMId) -or ($Name -and $_.Name -eq $Name) } | Select-Object -First 1
            if (-not $g) { $cmdlet.ThrowTerminatingError([Management.Automation.ErrorRecord]::new([Management.Automation.ItemNotFoundException]::new("The cluster group '$Name$VMId' was not found."), 'ClusterCmdletObjectNotFound', 'ObjectNotFound', "$Name$VMId")) }
            $dest = @($c.Nodes) | Where-Object { $_.Name -eq $Node } | Select-Object -First 1
            if (-not $dest -or $dest.State -ne 'Up') {
                $cmdlet.ThrowTerminatingError([Management.Automation.ErrorRecord]::new([InvalidOperationException]::new("The node '$Node' is not an Up node of cluster '$($c.Name)'; the role '$($g.Name)' cannot be moved there."), 'ClusterCmdletInvalidOperation', 'InvalidOperation', $Node))
            }
            if ($g.OwnerNode -ne $Node) {
                Invoke-InHyperV { param($from, $to, $id, $type)
                    $s = Read-HostState $from; $d = Read-HostState $to
                    $rec = $s.VMs | Where-Object { $_.Id -eq $id } | Select-Object -First 1
                    if ($type -in 'Shutdown', 'ShutdownForce', 'TurnOff' -and $rec.State -ne 'Off') { $rec.State = 'Off' }
                    $null = $s.VMs.Remove($rec); $d.VMs.Add($rec)
                    Write-HostState $d $to; Write-HostState $s $from
                } @($g.OwnerNode, $Node, $g.VMId, $MigrationType)
                $g.OwnerNode = $Node
                Write-Cluster $c
            }
            ConvertTo-GroupObject $c $g
        })
}

function Remove-ClusterGroup {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    param([Parameter(Position = 0)] [string[]] $Name, [switch] $RemoveResources, [switch] $Force, [string] $Cluster)
    Write-Call 'Remove-ClusterGroup' $PSBoundParameters
    $cmdlet = $PSCmdlet
    Invoke-InHyperV { param($block) Use-StandInLock $block } @({
            $c = Read-Cluster $cmdlet $Cluster
            foreach ($n in $Name) {
                $g = $c.Groups | Where-Object { $_.Name -eq $n } | Select-Object -First 1
                if (-not $g) { $cmdlet.ThrowTerminatingError([Management.Automation.ErrorRecord]::new([Management.Automation.ItemNotFoundException]::new("The cluster group '$n' was not found."), 'ClusterCmdletObjectNotFound', 'ObjectNotFound', $n)) }
                $null = $c.Groups.Remove($g)
            }
            Write-Cluster $c
        })
}

Export-ModuleMember -Function Get-Cluster, Get-ClusterNode, Get-ClusterGroup, Add-ClusterVirtualMachineRole, Move-ClusterVirtualMachineRole, Remove-ClusterGroup
