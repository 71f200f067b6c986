using System.Linq;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>
    /// The scripts run on a Hyper-V host. Every Hyper-V cmdlet is module-qualified (Hyper-V\Get-VM), so PowerCLI's
    /// Get-VM on the same host can never answer. Errors the scripts raise themselves carry the id "Grid.&lt;ErrorId&gt;"
    /// and an ErrorCategory (see HyperVErrors.FromRemote).
    /// </summary>
    internal static partial class RemoteScripts
    {
        private const string Prologue = "$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\n";

        /// <summary>The VM properties selected for the inventory (only what the model needs crosses the wire).</summary>
        private static readonly string Select =
            "Select-Object -Property " + string.Join(", ", VmMapper.SelectedProperties) +
            ", @{ Name = 'HardDrivePaths'; Expression = { , @($_.HardDrives | ForEach-Object Path) } }" +
            ", @{ Name = 'IPAddresses'; Expression = { , @($_.NetworkAdapters | ForEach-Object IPAddresses) } }";

        /// <summary>Finds the VM of $Id on this host or raises Grid.WorkloadNotFound (ObjectNotFound).</summary>
        private const string FindVm =
            "$vm = Hyper-V\\Get-VM -Id $Id -ErrorAction SilentlyContinue\n" +
            "if (-not $vm) { Write-Error -Message \"No virtual machine with id $Id on host $env:COMPUTERNAME.\" -ErrorId 'Grid.WorkloadNotFound' -Category ObjectNotFound }\n" +
            "$state = $vm.State.ToString()\n";

        /// <summary>The host itself, once per connect: name, capacity, default paths.</summary>
        public const string DescribeHost = Prologue +
            "Import-Module Hyper-V -ErrorAction Stop\n" +
            "Hyper-V\\Get-VMHost | Select-Object -Property Name, ComputerName, FullyQualifiedDomainName, LogicalProcessorCount, MemoryCapacity, VirtualHardDiskPath, VirtualMachinePath, VirtualMachineMigrationEnabled";

        /// <summary>One call per host: the host and what its running VMs hold.</summary>
        public const string HostUsage = Prologue +
            "$h = Hyper-V\\Get-VMHost\n" +
            "$on = @(Hyper-V\\Get-VM | Where-Object { $_.State.ToString() -notin 'Off', 'Saved', 'OffCritical', 'SavedCritical' })\n" +
            "[pscustomobject]@{ Name = $h.Name; LogicalProcessorCount = $h.LogicalProcessorCount; MemoryCapacity = $h.MemoryCapacity;" +
            " AllocatedCpu = [int](($on | Measure-Object -Property ProcessorCount -Sum).Sum); AllocatedMemory = [long](($on | Measure-Object -Property MemoryAssigned -Sum).Sum); RunningVMs = $on.Count;" +
            " VirtualMachineMigrationEnabled = $h.VirtualMachineMigrationEnabled }";

        /// <summary>ONE Get-VM per host for every VM, only the needed properties.</summary>
        public static readonly string ListVms = Prologue + "Hyper-V\\Get-VM | " + Select;

        public static readonly string GetVm = "param([string] $Id)\n" + Prologue + FindVm + "$vm | " + Select;

        public const string ListImages = "param([string] $Path)\n" + Prologue +
            "if (-not (Test-Path -LiteralPath $Path -PathType Container)) { return }\n" +
            "Get-ChildItem -LiteralPath $Path -File | Where-Object { $_.Extension -in '.vhdx', '.vhd' } | Select-Object -Property Name, FullName, Length";

        /// <summary>True when the image file is a file on this host (the catalog check before a create is journaled).</summary>
        public const string TestImage = "param([string] $ImageFile)\n" + Prologue +
            "[pscustomobject]@{ Exists = [bool](Test-Path -LiteralPath $ImageFile -PathType Leaf) }";

        public static readonly string Create =
            "param([string] $Name, [long] $MemoryBytes, [int] $Cpu, [string] $Notes, [string] $ImageFile, [int] $Generation, [string] $SwitchName, [bool] $PowerOn, [string] $VhdPath, [string] $Cluster)\n" + Prologue +
            "$vmHost = Hyper-V\\Get-VMHost\n" +
            "$new = @{ Name = $Name; MemoryStartupBytes = $MemoryBytes; Generation = $Generation }\n" +
            // a move's create: the disk its import copied to this host is attached as it is (New-VM -VHDPath)
            "if ($VhdPath) {\n" +
            "  if (-not (Test-Path -LiteralPath $VhdPath -PathType Leaf)) { Write-Error -Message \"The imported disk '$VhdPath' does not exist on $($vmHost.Name).\" -ErrorId 'Grid.DiskNotFound' -Category ObjectNotFound }\n" +
            "  $new.VHDPath = $VhdPath\n" +
            "} elseif ($ImageFile) {\n" +
            "  if (-not (Test-Path -LiteralPath $ImageFile -PathType Leaf)) { Write-Error -Message \"Image file '$ImageFile' does not exist on $($vmHost.Name).\" -ErrorId 'Grid.ImageNotFound' -Category ObjectNotFound }\n" +
            "  $dir = Join-Path $vmHost.VirtualHardDiskPath $Name\n" +
            "  $null = New-Item -ItemType Directory -Path $dir -Force\n" +
            "  $disk = Join-Path $dir ($Name + '-disk0' + [IO.Path]::GetExtension($ImageFile))\n" +
            "  if (-not (Test-Path -LiteralPath $disk)) { Copy-Item -LiteralPath $ImageFile -Destination $disk }\n" +
            "  $new.VHDPath = $disk\n" +
            "} else { $new.NoVHD = $true }\n" +
            "if ($SwitchName) { $new.SwitchName = $SwitchName }\n" +
            "$vm = Hyper-V\\New-VM @new\n" +
            "Hyper-V\\Set-VMProcessor -VM $vm -Count $Cpu\n" +
            "Hyper-V\\Set-VM -VM $vm -Notes $Notes\n" +
            // in a cluster datacenter the VM becomes a clustered role (highly available) on the node it was made on
            "if ($Cluster) { $null = FailoverClusters\\Add-ClusterVirtualMachineRole -VMId $vm.Id -Cluster $Cluster }\n" +
            "if ($PowerOn) { Hyper-V\\Start-VM -VM $vm }\n" +
            "Hyper-V\\Get-VM -Id $vm.Id | " + Select;

        public const string Start = "param([string] $Id)\n" + Prologue + FindVm +
            "switch ($state) {\n" +
            "  'Running' { return }\n" +
            "  'Paused' { Hyper-V\\Resume-VM -VM $vm; return }\n" +
            "  default { Hyper-V\\Start-VM -VM $vm }\n" +
            "}";

        public const string Stop = "param([string] $Id, [string] $Mode)\n" + Prologue + FindVm +
            "if ($state -eq 'Off') { return }\n" +
            "if ($state -eq 'Saved') {\n" +
            "  if ($Mode -ne 'TurnOff') { Write-Error -Message 'The workload is saved (memory on disk). Start it, or stop it with -TurnOff to discard the saved state.' -ErrorId 'Grid.WorkloadSuspended' -Category InvalidOperation }\n" +
            "  Hyper-V\\Remove-VMSavedState -VM $vm; return\n" +
            "}\n" +
            "if ($Mode -eq 'TurnOff') { Hyper-V\\Stop-VM -VM $vm -TurnOff -Force -Confirm:$false; return }\n" +
            "if ($state -eq 'Paused') { Write-Error -Message 'A paused VM cannot shut down gracefully: start (resume) it first, or use -TurnOff.' -ErrorId 'Grid.WorkloadPaused' -Category InvalidOperation }\n" +
            "Hyper-V\\Stop-VM -VM $vm -Force -Confirm:$false";

        public const string Restart = "param([string] $Id)\n" + Prologue + FindVm +
            "if ($state -eq 'Off') { Hyper-V\\Start-VM -VM $vm; return }\n" +
            "if ($state -ne 'Running') { Write-Error -Message \"The VM is $state; only a running VM can be restarted.\" -ErrorId 'Grid.WorkloadNotRunning' -Category InvalidOperation }\n" +
            "Hyper-V\\Restart-VM -VM $vm -Force -Confirm:$false";

        public const string Save = "param([string] $Id)\n" + Prologue + FindVm +
            "if ($state -eq 'Saved') { return }\n" +
            "if ($state -eq 'Off') { Write-Error -Message 'The VM is off; only a running or paused VM can be saved.' -ErrorId 'Grid.WorkloadNotRunning' -Category InvalidOperation }\n" +
            "Hyper-V\\Save-VM -VM $vm";

        /// <summary>Suspend-GridWorkload -Pause: Hyper-V's Suspend-VM (memory held in the host); Start runs Resume-VM.</summary>
        public const string Pause = "param([string] $Id)\n" + Prologue + FindVm +
            "if ($state -eq 'Paused') { return }\n" +
            "if ($state -ne 'Running') { Write-Error -Message \"The VM is $state; only a running VM can be paused.\" -ErrorId 'Grid.WorkloadNotRunning' -Category InvalidOperation }\n" +
            "Hyper-V\\Suspend-VM -VM $vm";

        /// <summary>The VM's disks for a move between datacenters: one Get-VHD per attached disk (format, type, virtual and file size) and its generation.</summary>
        public const string DescribeDisks = "param([string] $Id)\n" + Prologue + FindVm +
            "foreach ($d in @($vm.HardDrives)) {\n" +
            "  if (-not $d.Path) { continue }\n" +
            "  $v = Hyper-V\\Get-VHD -Path $d.Path\n" +
            "  [pscustomobject]@{ Path = $v.Path; VhdFormat = $v.VhdFormat.ToString(); VhdType = $v.VhdType.ToString(); Size = [long]$v.Size; FileSize = [long]$v.FileSize;" +
            " ControllerType = $d.ControllerType.ToString(); ControllerNumber = $d.ControllerNumber; ControllerLocation = $d.ControllerLocation; Generation = $vm.Generation }\n" +
            "}";

        public const string Remove = "param([string] $Id, [bool] $RemoveStorage, [string] $Cluster)\n" + Prologue + FindVm +
            "$disks = @($vm.HardDrives | ForEach-Object Path)\n" +
            // a clustered VM leaves the cluster first (its role, named after the VM), then Hyper-V removes it
            "if ($Cluster -and $vm.IsClustered) { $g = @(FailoverClusters\\Get-ClusterGroup -Cluster $Cluster | Where-Object { $_.GroupType.ToString() -eq 'VirtualMachine' -and $_.Name -eq $vm.Name }); if ($g) { FailoverClusters\\Remove-ClusterGroup -Name $g[0].Name -RemoveResources -Force -Cluster $Cluster -Confirm:$false } }\n" +
            "if ($state -eq 'Saved') { Hyper-V\\Remove-VMSavedState -VM $vm }\n" +
            "elseif ($state -ne 'Off') { Hyper-V\\Stop-VM -VM $vm -TurnOff -Force -Confirm:$false }\n" +
            "Hyper-V\\Remove-VM -VM $vm -Force -Confirm:$false\n" +
            "if ($RemoveStorage) { foreach ($d in $disks) { if ($d -and (Test-Path -LiteralPath $d)) { Remove-Item -LiteralPath $d -Force } } }";

        public const string Resize = "param([string] $Id, [int] $Cpu, [long] $MemoryBytes, [string] $Notes, [bool] $AllowRestart)\n" + Prologue + FindVm +
            "if ($state -eq 'Saved') { Write-Error -Message 'The VM is saved; a resize would discard its saved memory. Start and stop it first.' -ErrorId 'Grid.WorkloadSuspended' -Category InvalidOperation }\n" +
            "$wasOn = $state -ne 'Off'\n" +
            "if ($wasOn -and -not $AllowRestart) { Write-Error -Message 'Hyper-V changes the processor count of a VM that is off: stop it first or allow a restart.' -ErrorId 'Grid.ResizeNeedsRestart' -Category InvalidOperation }\n" +
            "if ($wasOn) { Hyper-V\\Stop-VM -VM $vm -Force -Confirm:$false }\n" +
            "if ($Cpu -gt 0) { Hyper-V\\Set-VMProcessor -VM $vm -Count $Cpu }\n" +
            "if ($MemoryBytes -gt 0) { Hyper-V\\Set-VMMemory -VM $vm -StartupBytes $MemoryBytes }\n" +
            "Hyper-V\\Set-VM -VM $vm -Notes $Notes\n" +
            "if ($wasOn) { Hyper-V\\Start-VM -VM $vm }";

        public const string SetNotes = "param([string] $Id, [string] $Notes)\n" + Prologue + FindVm +
            "Hyper-V\\Set-VM -VM $vm -Notes $Notes";

        /// <summary>Compare-VM first (its incompatibilities refuse the move), then a live Move-VM run on the source host.</summary>
        public const string Move = "param([string] $Id, [string] $DestinationHost, [bool] $IncludeStorage, [string] $DestinationStoragePath)\n" + Prologue + FindVm +
            "$opt = @{ DestinationHost = $DestinationHost }\n" +
            "if ($IncludeStorage) { $opt.IncludeStorage = $true; if ($DestinationStoragePath) { $opt.DestinationStoragePath = $DestinationStoragePath } }\n" +
            "$report = Hyper-V\\Compare-VM -VM $vm @opt\n" +
            "$bad = @($report.Incompatibilities)\n" +
            "if ($bad.Count -gt 0) { Write-Error -Message ('Hyper-V refuses the move to ' + $DestinationHost + ': ' + (($bad | ForEach-Object { '[' + $_.MessageId + '] ' + $_.Message }) -join '; ')) -ErrorId 'Grid.MoveIncompatible' -Category InvalidOperation }\n" +
            "Hyper-V\\Move-VM -VM $vm @opt";
    }
}
