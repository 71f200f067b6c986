# Stand-in for Microsoft's Hyper-V PowerShell module, for the GridAutomation tests on Linux (no Hyper-V here).
#
# It runs on the "host" side of a real PowerShell remoting session (the tests' sshd starts pwsh -sshs with a
# PSModulePath that finds this folder), keeps each host's VMs in a JSON file, and returns objects of the types in
# HyperVTypes.cs, which copy Microsoft's type names, enum names/values and property names/types:
#   Get-VM        https://learn.microsoft.com/en-us/powershell/module/hyper-v/get-vm         (VirtualMachine)
#   Get-VMHost    https://learn.microsoft.com/en-us/powershell/module/hyper-v/get-vmhost     (VMHost)
#   New-VM        https://learn.microsoft.com/en-us/powershell/module/hyper-v/new-vm         (-Name -MemoryStartupBytes -Generation -VHDPath -NoVHD -SwitchName)
#   Start-VM / Stop-VM (-TurnOff, -Force) / Restart-VM / Save-VM / Suspend-VM / Resume-VM / Remove-VM / Remove-VMSavedState
#                 https://learn.microsoft.com/en-us/powershell/module/hyper-v/<cmdlet>
#   Set-VM (-Notes) / Set-VMProcessor (-Count) / Set-VMMemory (-StartupBytes)
#   Compare-VM    https://learn.microsoft.com/en-us/powershell/module/hyper-v/compare-vm     (VMCompatibilityReport)
#   Get-VHD       https://learn.microsoft.com/en-us/powershell/module/hyper-v/get-vhd        (-Path; VirtualHardDisk). The
#                 stand-in reads the file with qemu-img info (format, virtual size), as Hyper-V reads the VHD(X) header.
#   Move-VM       https://learn.microsoft.com/en-us/powershell/module/hyper-v/move-vm        (-DestinationHost, -IncludeStorage, -DestinationStoragePath)
#   IsClustered   true when the FailoverClusters stand-in (../FailoverClusters) has a VM role for the VM.
# Disk files are real files (tests make VHDX files with qemu-img); New-VM -VHDPath takes one as it is, which is how a
# move's import attaches the disk it wrote. The provider reads and writes them through the session itself.
# Errors use Hyper-V's categories (ObjectNotFound for an unknown VM, InvalidOperation for a VM in the wrong state).
#
# Environment (set by the sshd subsystem wrapper of the tests):
#   GRID_HYPERV_STANDIN_FABRIC  folder shared by all stand-in hosts: <host>.json per host, .lock, .types/
#   GRID_HYPERV_STANDIN_HOST    the name of the host this session plays (Get-VMHost).Name
#
# Transitions are immediate (Start-VM returns with the VM Running, as the real cmdlet waits for it). A VM's state can
# be forced by editing the JSON (the tests set RunningCritical that way). Move-VM moves the VM's record to the
# destination host's file, keeping its state: a live migration between two stand-in hosts of one fabric.

Set-StrictMode -Version 3.0

$script:Fabric = $env:GRID_HYPERV_STANDIN_FABRIC
$script:HostName = $env:GRID_HYPERV_STANDIN_HOST
if (-not $script:Fabric -or -not $script:HostName) { throw 'The Hyper-V stand-in needs GRID_HYPERV_STANDIN_FABRIC and GRID_HYPERV_STANDIN_HOST.' }

function Use-StandInLock([scriptblock] $LockedScript) {
    $lockPath = Join-Path $script:Fabric '.lock'
    $deadline = [DateTime]::UtcNow.AddSeconds(60)
    while ($true) {
        try { $lock = [IO.File]::Open($lockPath, 'OpenOrCreate', 'ReadWrite', 'None'); break }
        catch [IO.IOException] { if ([DateTime]::UtcNow -gt $deadline) { throw } ; Start-Sleep -Milliseconds 50 }
    }
    try { & $LockedScript } finally { $lock.Dispose() }
}

# Every call of a Hyper-V cmdlet is logged to <fabric>/calls.log ("<host> <cmdlet> <parameter names>"), so the tests
# can count round trips (one Get-VM per host per listing) and check the order of calls (Compare-VM before Move-VM).
function Write-StandInCall([string] $Command, $Bound) {
    $line = "$script:HostName $Command $(@($Bound.Keys | Sort-Object) -join ',')`n"
    $path = Join-Path $script:Fabric 'calls.log'
    for ($i = 0; $i -lt 100; $i++) {
        try { [IO.File]::AppendAllText($path, $line); return } catch [IO.IOException] { Start-Sleep -Milliseconds 20 }
    }
}

# The types are compiled once per fabric (Add-Type with Roslyn is slow) and loaded by every session.
if (-not ('Microsoft.HyperV.PowerShell.VMState' -as [type])) {
    $typesDir = Join-Path $script:Fabric '.types'
    $dll = Join-Path $typesDir 'Microsoft.HyperV.PowerShell.StandIn.dll'
    Use-StandInLock {
        if (-not (Test-Path $dll)) {
            $null = New-Item -ItemType Directory -Path $typesDir -Force
            Add-Type -Path (Join-Path $PSScriptRoot 'HyperVTypes.cs') -OutputAssembly $dll -OutputType Library
        }
    }
    if (-not ('Microsoft.HyperV.PowerShell.VMState' -as [type])) { Add-Type -Path $dll }
}

function Get-HostFile([string] $Name) { Join-Path $script:Fabric ($Name.ToLowerInvariant() + '.json') }

function Read-HostState([string] $Name = $script:HostName) {
    $file = Get-HostFile $Name
    if (-not (Test-Path $file)) { return $null }
    $s = Get-Content -LiteralPath $file -Raw | ConvertFrom-Json -AsHashtable
    if (-not $s.VMs) { $s.VMs = @() }
    $s.VMs = [Collections.Generic.List[object]]@($s.VMs)
    return $s
}

function Write-HostState($State, [string] $Name = $script:HostName) {
    $file = Get-HostFile $Name
    $tmp = "$file.tmp"
    $State | ConvertTo-Json -Depth 6 | Set-Content -LiteralPath $tmp -Encoding utf8
    Move-Item -LiteralPath $tmp -Destination $file -Force
}

function New-HostState {
    $root = Join-Path $script:Fabric $script:HostName
    @{
        Name = $script:HostName; LogicalProcessorCount = 16; MemoryCapacity = 64GB
        VirtualHardDiskPath = (Join-Path $root 'Virtual Hard Disks'); VirtualMachinePath = $root
        VirtualMachineMigrationEnabled = $true; VMs = [Collections.Generic.List[object]]::new()
    }
}

# Reads (or creates) this host's state, runs $Script with it under the fabric lock, writes it back if $Script returns $true.
function Update-HostState([scriptblock] $ChangeScript) {
    Use-StandInLock {
        $s = Read-HostState
        if (-not $s) { $s = New-HostState; Write-HostState $s }
        $result = & $ChangeScript $s
        Write-HostState $s
        $result
    }
}

function ConvertTo-VMObject($r, [string] $ComputerName = $script:HostName) {
    $vm = [Microsoft.HyperV.PowerShell.VirtualMachine]::new()
    $vm.Name = $r.Name; $vm.VMName = $r.Name
    $vm.Id = [guid]$r.Id; $vm.VMId = $vm.Id
    $vm.State = [Microsoft.HyperV.PowerShell.VMState]$r.State
    $vm.Status = if ($r.State -like '*Critical') { 'Unable to access the virtual machine configuration or storage' } else { 'Operating normally' }
    $vm.ProcessorCount = [long]$r.ProcessorCount
    $vm.MemoryStartup = [long]$r.MemoryStartup
    $vm.MemoryMinimum = 512MB; $vm.MemoryMaximum = 1TB
    $on = $r.State -in 'Running', 'Paused', 'RunningCritical', 'PausedCritical'
    $vm.MemoryAssigned = if ($on) { [long]$r.MemoryStartup } else { 0 }
    $vm.CPUUsage = 0
    $vm.Uptime = if ($r.State -in 'Running', 'RunningCritical' -and $r.StartedAt) { [DateTime]::UtcNow - ([DateTime]$r.StartedAt).ToUniversalTime() } else { [TimeSpan]::Zero }
    $vm.ComputerName = $ComputerName
    $vm.Generation = [int]$r.Generation
    $vm.Version = $r.Version
    $vm.Notes = [string]$r.Notes
    $vm.CreationTime = ([DateTime]$r.CreationTime).ToLocalTime()
    $vm.Path = $r.Path; $vm.ConfigurationLocation = $r.Path
    # clustered: a VM role of the fabric's cluster (FailoverClusters stand-in, cluster.json) holds this VM
    $clusterFile = Join-Path $script:Fabric 'cluster.json'
    $vm.IsClustered = (Test-Path $clusterFile) -and @((Get-Content -LiteralPath $clusterFile -Raw | ConvertFrom-Json).Groups | Where-Object { $_ -and $_.VMId -eq $r.Id }).Count -gt 0
    $vm.HardDrives = @(for ($i = 0; $i -lt @($r.HardDrives).Count; $i++) {
            $d = [Microsoft.HyperV.PowerShell.HardDiskDrive]::new()
            $d.Name = 'Hard Drive'; $d.Path = @($r.HardDrives)[$i]; $d.ControllerType = 'SCSI'; $d.ControllerNumber = 0; $d.ControllerLocation = $i
            $d.VMName = $r.Name; $d.VMId = $vm.Id; $d.ComputerName = $ComputerName
            $d
        })
    $nic = [Microsoft.HyperV.PowerShell.VMNetworkAdapter]::new()
    $nic.Name = 'Network Adapter'; $nic.SwitchName = $r.SwitchName; $nic.MacAddress = $r.MacAddress; $nic.VMName = $r.Name; $nic.VMId = $vm.Id
    $nic.IPAddresses = if ($on -and $r.SwitchName) { @($r.IPAddress) } else { @() }
    $vm.NetworkAdapters = @($nic)
    $vm
}

function Stop-WithError($Cmdlet, [string] $Message, [string] $ErrorId, [Management.Automation.ErrorCategory] $Category, $Target) {
    $ex = if ($Category -eq 'ObjectNotFound') { [Management.Automation.ItemNotFoundException]::new($Message) } else { [InvalidOperationException]::new($Message) }
    $Cmdlet.ThrowTerminatingError([Management.Automation.ErrorRecord]::new($ex, $ErrorId, $Category, $Target))
}

# Finds the record of -VM / -Name / -Id in a host's state, or fails like Hyper-V (ObjectNotFound).
function Find-VMRecord($State, $Cmdlet, $VM, [string] $Name, $Id) {
    $key = if ($VM) { [string]$VM.Id } elseif ($Id) { [string]$Id } else { $null }
    $r = if ($key) { $State.VMs | Where-Object { $_.Id -eq $key } | Select-Object -First 1 } else { $State.VMs | Where-Object { $_.Name -eq $Name } | Select-Object -First 1 }
    if (-not $r) {
        $what = if ($key) { "id '$key'" } else { "name '$Name'" }
        Stop-WithError $Cmdlet "Hyper-V was unable to find a virtual machine with $what." 'InvalidParameter' ObjectNotFound $what
    }
    $r
}

function Set-RecordState($r, [string] $State) {
    if ($State -eq 'Running' -and $r.State -notin 'Running', 'Paused') { $r.StartedAt = [DateTime]::UtcNow.ToString('o') }
    $r.State = $State
}

function Get-VM {
    [CmdletBinding(DefaultParameterSetName = 'Name')]
    [OutputType('Microsoft.HyperV.PowerShell.VirtualMachine')]
    param([Parameter(ParameterSetName = 'Name', Position = 0)] [string[]] $Name, [Parameter(ParameterSetName = 'Id', Mandatory)] [Guid] $Id)
    Write-StandInCall 'Get-VM' $PSBoundParameters
    $s = Use-StandInLock { Read-HostState }
    if (-not $s) { return }
    if ($PSCmdlet.ParameterSetName -eq 'Id') {
        $r = $s.VMs | Where-Object { $_.Id -eq [string]$Id } | Select-Object -First 1
        if (-not $r) {
            $PSCmdlet.WriteError([Management.Automation.ErrorRecord]::new([Management.Automation.ItemNotFoundException]::new("Hyper-V was unable to find a virtual machine with id '$Id'."), 'InvalidParameter', 'ObjectNotFound', $Id))
            return
        }
        return ConvertTo-VMObject $r
    }
    foreach ($r in $s.VMs) {
        if (-not $Name -or @($Name | Where-Object { $r.Name -like $_ }).Count -gt 0) { ConvertTo-VMObject $r }
    }
}

function Get-VMHost {
    [CmdletBinding()]
    [OutputType('Microsoft.HyperV.PowerShell.VMHost')]
    param()
    Write-StandInCall 'Get-VMHost' $PSBoundParameters
    $s = Use-StandInLock { $x = Read-HostState; if (-not $x) { $x = New-HostState; Write-HostState $x }; $x }
    $h = [Microsoft.HyperV.PowerShell.VMHost]::new()
    $h.Name = $s.Name; $h.ComputerName = $s.Name; $h.FullyQualifiedDomainName = $s.Name + '.standin.test'
    $h.LogicalProcessorCount = $s.LogicalProcessorCount; $h.MemoryCapacity = $s.MemoryCapacity
    $h.VirtualHardDiskPath = $s.VirtualHardDiskPath; $h.VirtualMachinePath = $s.VirtualMachinePath
    $h.VirtualMachineMigrationEnabled = $s.VirtualMachineMigrationEnabled
    $h
}

function New-VM {
    [CmdletBinding(SupportsShouldProcess)]
    [OutputType('Microsoft.HyperV.PowerShell.VirtualMachine')]
    param([Parameter(Mandatory, Position = 0)] [string] $Name, [long] $MemoryStartupBytes = 1GB, [int16] $Generation = 1,
        [string] $VHDPath, [switch] $NoVHD, [string] $NewVHDPath, [uint64] $NewVHDSizeBytes, [string] $SwitchName, [string] $Path)
    Write-StandInCall 'New-VM' $PSBoundParameters
    $cmdlet = $PSCmdlet
    # Test hook: while <fabric>/.fail-New-VM exists, New-VM fails as Hyper-V does when it cannot create the VM (the
    # tests use it to make a move fail after its import, so its roll-back runs).
    if (Test-Path (Join-Path $script:Fabric '.fail-New-VM')) { Stop-WithError $cmdlet "Failed to create the virtual machine '$Name': the operation failed (test hook)." 'OperationFailed' InvalidOperation $Name }
    $r = Update-HostState {
        param($s)
        if ($VHDPath -and -not (Test-Path -LiteralPath $VHDPath)) { Stop-WithError $cmdlet "The file '$VHDPath' does not exist." 'ObjectNotFound' ObjectNotFound $VHDPath }
        $id = [guid]::NewGuid().ToString()
        $disks = @()
        if ($VHDPath) { $disks = @($VHDPath) }
        elseif ($NewVHDPath) { $null = New-Item -ItemType File -Path $NewVHDPath -Force; $disks = @($NewVHDPath) }
        $mac = '00155D' + (Get-Random -Minimum 0x100000 -Maximum 0xFFFFFF).ToString('X6')
        $rec = [ordered]@{
            Id = $id; Name = $Name; State = 'Off'; ProcessorCount = 1; MemoryStartup = $MemoryStartupBytes; Generation = [int]$Generation
            Version = '11.0'; Notes = ''; CreationTime = [DateTime]::UtcNow.ToString('o')
            Path = (Join-Path ($(if ($Path) { $Path } else { $s.VirtualMachinePath })) $Name); HardDrives = $disks
            SwitchName = $SwitchName; MacAddress = $mac; IPAddress = ('10.0.0.' + (Get-Random -Minimum 2 -Maximum 250)); StartedAt = $null
        }
        $s.VMs.Add($rec)
        $rec
    }
    ConvertTo-VMObject $r
}

# The cmdlets that change one VM share this: find it, check, change, write back.
function Invoke-VMChange($Cmdlet, $VM, [string] $Name, [scriptblock] $VMChange) {
    $r = Update-HostState { param($s) $rec = Find-VMRecord $s $Cmdlet $VM $Name; $null = & $VMChange $rec $s; $rec }
    $r
}

function Start-VM {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $Name, [switch] $Passthru)
    process {
        Write-StandInCall 'Start-VM' $PSBoundParameters
        $cmdlet = $PSCmdlet
        $r = Invoke-VMChange $cmdlet $VM $Name {
            param($rec)
            if ($rec.State -eq 'Running') { Stop-WithError $cmdlet "'$($rec.Name)' failed to change state. The operation cannot be performed while the object is in its current state." 'InvalidState' InvalidOperation $rec.Name }
            if ($rec.State -like '*Critical') { Stop-WithError $cmdlet "'$($rec.Name)' failed to start: the virtual machine's configuration or storage cannot be accessed." 'InvalidState' InvalidOperation $rec.Name }
            Set-RecordState $rec 'Running'   # from Off, or from Saved (restores the saved memory)
        }
        if ($Passthru) { ConvertTo-VMObject $r }
    }
}

function Stop-VM {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $Name, [switch] $TurnOff, [switch] $Force, [switch] $Save, [switch] $Passthru)
    process {
        Write-StandInCall 'Stop-VM' $PSBoundParameters
        $cmdlet = $PSCmdlet
        $r = Invoke-VMChange $cmdlet $VM $Name {
            param($rec)
            if ($rec.State -eq 'Off') { return }
            if ($rec.State -eq 'Saved') { Stop-WithError $cmdlet "'$($rec.Name)' is saved; use Remove-VMSavedState or Start-VM." 'InvalidState' InvalidOperation $rec.Name }
            if ($Save) { Set-RecordState $rec 'Saved'; return }
            if (-not $TurnOff -and $rec.State -ne 'Running') { Stop-WithError $cmdlet "'$($rec.Name)' failed to shut down: the guest is not running ($($rec.State))." 'InvalidState' InvalidOperation $rec.Name }
            Set-RecordState $rec 'Off'
        }
        if ($Passthru) { ConvertTo-VMObject $r }
    }
}

function Restart-VM {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $Name, [switch] $Force)
    process {
        Write-StandInCall 'Restart-VM' $PSBoundParameters
        $cmdlet = $PSCmdlet
        $null = Invoke-VMChange $cmdlet $VM $Name {
            param($rec)
            if ($rec.State -ne 'Running') { Stop-WithError $cmdlet "'$($rec.Name)' failed to restart: it is $($rec.State)." 'InvalidState' InvalidOperation $rec.Name }
            $rec.StartedAt = [DateTime]::UtcNow.ToString('o')
        }
    }
}

function Save-VM {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $Name)
    process {
        Write-StandInCall 'Save-VM' $PSBoundParameters
        $cmdlet = $PSCmdlet
        $null = Invoke-VMChange $cmdlet $VM $Name {
            param($rec)
            if ($rec.State -notin 'Running', 'Paused') { Stop-WithError $cmdlet "'$($rec.Name)' failed to save: it is $($rec.State)." 'InvalidState' InvalidOperation $rec.Name }
            Set-RecordState $rec 'Saved'
        }
    }
}

function Suspend-VM {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $Name)
    process {
        Write-StandInCall 'Suspend-VM' $PSBoundParameters
        $cmdlet = $PSCmdlet
        $null = Invoke-VMChange $cmdlet $VM $Name {
            param($rec)
            if ($rec.State -ne 'Running') { Stop-WithError $cmdlet "'$($rec.Name)' failed to pause: it is $($rec.State)." 'InvalidState' InvalidOperation $rec.Name }
            Set-RecordState $rec 'Paused'
        }
    }
}

function Resume-VM {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $Name)
    process {
        Write-StandInCall 'Resume-VM' $PSBoundParameters
        $cmdlet = $PSCmdlet
        $null = Invoke-VMChange $cmdlet $VM $Name {
            param($rec)
            if ($rec.State -ne 'Paused') { Stop-WithError $cmdlet "'$($rec.Name)' failed to resume: it is $($rec.State)." 'InvalidState' InvalidOperation $rec.Name }
            Set-RecordState $rec 'Running'
        }
    }
}

function Remove-VMSavedState {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $VMName)
    process {
        Write-StandInCall 'Remove-VMSavedState' $PSBoundParameters
        $cmdlet = $PSCmdlet
        $null = Invoke-VMChange $cmdlet $VM $VMName {
            param($rec)
            if ($rec.State -ne 'Saved') { Stop-WithError $cmdlet "'$($rec.Name)' has no saved state." 'InvalidState' InvalidOperation $rec.Name }
            Set-RecordState $rec 'Off'
        }
    }
}

function Remove-VM {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $Name, [switch] $Force)
    process {
        Write-StandInCall 'Remove-VM' $PSBoundParameters
        $cmdlet = $PSCmdlet
        $null = Update-HostState {
            param($s)
            $rec = Find-VMRecord $s $cmdlet $VM $Name
            if ($rec.State -ne 'Off' -and $rec.State -ne 'Saved' -and $rec.State -ne 'OffCritical') { Stop-WithError $cmdlet "'$($rec.Name)' must be turned off before it is removed." 'InvalidState' InvalidOperation $rec.Name }
            $null = $s.VMs.Remove($rec)
        }
    }
}

function Set-VM {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $Name, [AllowEmptyString()] [string] $Notes,
        [long] $ProcessorCount, [long] $MemoryStartupBytes, [switch] $Passthru)
    process {
        Write-StandInCall 'Set-VM' $PSBoundParameters
        $cmdlet = $PSCmdlet; $bound = $PSBoundParameters
        $r = Invoke-VMChange $cmdlet $VM $Name {
            param($rec)
            if ($bound.ContainsKey('Notes')) { $rec.Notes = $Notes }
            if ($bound.ContainsKey('ProcessorCount')) {
                if ($rec.State -ne 'Off') { Stop-WithError $cmdlet "'$($rec.Name)': the processor count can only be changed while the virtual machine is off." 'InvalidState' InvalidOperation $rec.Name }
                $rec.ProcessorCount = $ProcessorCount
            }
            if ($bound.ContainsKey('MemoryStartupBytes')) {
                if ($rec.State -ne 'Off') { Stop-WithError $cmdlet "'$($rec.Name)': the startup memory can only be changed while the virtual machine is off." 'InvalidState' InvalidOperation $rec.Name }
                $rec.MemoryStartup = $MemoryStartupBytes
            }
        }
        if ($Passthru) { ConvertTo-VMObject $r }
    }
}

function Set-VMProcessor {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $VMName, [long] $Count)
    process {
        Write-StandInCall 'Set-VMProcessor' $PSBoundParameters
        $cmdlet = $PSCmdlet
        $null = Invoke-VMChange $cmdlet $VM $VMName {
            param($rec)
            if ($rec.State -ne 'Off') { Stop-WithError $cmdlet "'$($rec.Name)': the processor count can only be changed while the virtual machine is off." 'InvalidState' InvalidOperation $rec.Name }
            if ($Count -lt 1 -or $Count -gt 240) { Stop-WithError $cmdlet "The processor count $Count is out of range (1-240)." 'InvalidParameter' InvalidArgument $Count }
            $rec.ProcessorCount = $Count
        }
    }
}

function Set-VMMemory {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $VMName, [long] $StartupBytes)
    process {
        Write-StandInCall 'Set-VMMemory' $PSBoundParameters
        $cmdlet = $PSCmdlet
        $null = Invoke-VMChange $cmdlet $VM $VMName {
            param($rec)
            if ($rec.State -ne 'Off') { Stop-WithError $cmdlet "'$($rec.Name)': the startup memory can only be changed while the virtual machine is off." 'InvalidState' InvalidOperation $rec.Name }
            if ($StartupBytes % 2MB -ne 0) { Stop-WithError $cmdlet 'The startup memory must be a multiple of 2 MB.' 'InvalidParameter' InvalidArgument $StartupBytes }
            $rec.MemoryStartup = $StartupBytes
        }
    }
}

# The checks a migration to $DestinationHost would fail, as VMCompatibilityError objects.
function Get-MoveIncompatibility($rec, [string] $DestinationHost) {
    $dest = Read-HostState $DestinationHost
    if (-not $dest) { return }
    if (-not $dest.VirtualMachineMigrationEnabled) {
        $e = [Microsoft.HyperV.PowerShell.VMCompatibilityError]::new()
        $e.Message = "Virtual machine migration is not enabled on the destination host '$DestinationHost'."; $e.MessageId = 21024; $e.Source = $DestinationHost
        $e
    }
    if ([long]$rec.MemoryStartup -gt [long]$dest.MemoryCapacity) {
        $e = [Microsoft.HyperV.PowerShell.VMCompatibilityError]::new()
        $e.Message = "The destination host '$DestinationHost' does not have enough memory for '$($rec.Name)'."; $e.MessageId = 24008; $e.Source = $rec.Name
        $e
    }
    if (@($dest.VMs | Where-Object { $_.Id -eq $rec.Id }).Count -gt 0) {
        $e = [Microsoft.HyperV.PowerShell.VMCompatibilityError]::new()
        $e.Message = "A virtual machine with id '$($rec.Id)' already exists on '$DestinationHost'."; $e.MessageId = 20408; $e.Source = $rec.Id
        $e
    }
}

function Compare-VM {
    [CmdletBinding()]
    [OutputType('Microsoft.HyperV.PowerShell.VMCompatibilityReport')]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $Name, [Parameter(Mandatory)] [string] $DestinationHost,
        [switch] $IncludeStorage, [string] $DestinationStoragePath)
    Write-StandInCall 'Compare-VM' $PSBoundParameters
    $cmdlet = $PSCmdlet
    Use-StandInLock {
        $s = Read-HostState
        $rec = Find-VMRecord $s $cmdlet $VM $Name
        if (-not (Test-Path (Get-HostFile $DestinationHost))) { Stop-WithError $cmdlet "Failed to establish a connection with host '$DestinationHost'." 'ObjectNotFound' ObjectNotFound $DestinationHost }
        $report = [Microsoft.HyperV.PowerShell.VMCompatibilityReport]::new()
        $report.VM = ConvertTo-VMObject $rec
        $report.OperationType = if ($IncludeStorage) { 'MoveStorage' } else { 'Move' }
        $report.Destination = $DestinationHost
        $report.VhdDestinationPath = $DestinationStoragePath
        $report.Incompatibilities = @(Get-MoveIncompatibility $rec $DestinationHost)
        $report
    }
}

function Move-VM {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(ValueFromPipeline)] [Microsoft.HyperV.PowerShell.VirtualMachine] $VM, [string] $Name, [Parameter(Mandatory)] [string] $DestinationHost,
        [switch] $IncludeStorage, [string] $DestinationStoragePath, [switch] $Passthru)
    Write-StandInCall 'Move-VM' $PSBoundParameters
    # Test hook: while <fabric>/.hold-Move-VM exists the migration waits before it acts (the tests kill the client
    # meanwhile); the waiting process writes its id to .holding-Move-VM.
    $hold = Join-Path $script:Fabric '.hold-Move-VM'
    if (Test-Path $hold) {
        Set-Content -Path (Join-Path $script:Fabric '.holding-Move-VM') -Value $PID
        $until = [DateTime]::UtcNow.AddSeconds(120)
        while ((Test-Path $hold) -and [DateTime]::UtcNow -lt $until) { Start-Sleep -Milliseconds 100 }
    }
    $cmdlet = $PSCmdlet
    $moved = Use-StandInLock {
        $s = Read-HostState
        $rec = Find-VMRecord $s $cmdlet $VM $Name
        $dest = Read-HostState $DestinationHost
        if (-not $dest) { Stop-WithError $cmdlet "Virtual machine migration operation for '$($rec.Name)' failed: failed to establish a connection with host '$DestinationHost'." 'ObjectNotFound' ObjectNotFound $DestinationHost }
        $bad = @(Get-MoveIncompatibility $rec $DestinationHost)
        if ($bad.Count -gt 0) { Stop-WithError $cmdlet ("Virtual machine migration operation for '$($rec.Name)' failed: " + ($bad.Message -join ' ')) 'OperationFailed' InvalidOperation $rec.Name }
        if ($IncludeStorage) {
            $target = if ($DestinationStoragePath) { $DestinationStoragePath } else { Join-Path $dest.VirtualHardDiskPath $rec.Name }
            $null = New-Item -ItemType Directory -Path $target -Force
            $rec.HardDrives = @(foreach ($d in @($rec.HardDrives)) {
                    $to = Join-Path $target (Split-Path $d -Leaf)
                    if (Test-Path -LiteralPath $d) { Move-Item -LiteralPath $d -Destination $to -Force }
                    $to
                })
        }
        $null = $s.VMs.Remove($rec)
        $dest.VMs.Add($rec)
        Write-HostState $dest $DestinationHost   # the destination holds it first: a crash here leaves it on both, never on none
        Write-HostState $s
        $rec
    }
    if ($Passthru) { ConvertTo-VMObject $moved $DestinationHost }
}

function Get-VHD {
    [CmdletBinding()]
    param([Parameter(Mandatory, ValueFromPipelineByPropertyName)] [Alias('FullName')] [string[]] $Path)
    process {
        Write-StandInCall 'Get-VHD' $PSBoundParameters
        foreach ($p in $Path) {
            if (-not (Test-Path -LiteralPath $p -PathType Leaf)) { Stop-WithError $PSCmdlet "Getting the virtual hard disk '$p' failed: the system cannot find the file specified." 'ObjectNotFound' ObjectNotFound $p }
            $qemu = Get-Command qemu-img -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
            if (-not $qemu) { Stop-WithError $PSCmdlet "The Hyper-V stand-in reads disks with qemu-img (apt-get install qemu-utils)." 'NotInstalled' NotInstalled $p }
            $info = & $qemu.Source info --output=json -- $p | ConvertFrom-Json
            $format = switch ($info.format) { 'vhdx' { 'VHDX' } 'vpc' { 'VHD' } default { $null } }
            if (-not $format) { Stop-WithError $PSCmdlet "'$p' is not a virtual hard disk: its format is $($info.format)." 'InvalidVhd' InvalidArgument $p }
            $file = (Get-Item -LiteralPath $p).Length
            # A fixed VHD is its data plus a 512-byte footer; every VHDX here counts as dynamic (qemu-img's default).
            $type = if ($format -eq 'VHD' -and $file -eq [long]$info.'virtual-size' + 512) { 'Fixed' } else { 'Dynamic' }
            [Microsoft.Vhd.PowerShell.VirtualHardDisk]@{
                ComputerName = $script:HostName; Path = (Resolve-Path -LiteralPath $p).ProviderPath; VhdFormat = $format; VhdType = $type
                FileSize = [ulong]$file; Size = [ulong]$info.'virtual-size'; MinimumSize = [ulong]$info.'virtual-size'
                LogicalSectorSize = 512; PhysicalSectorSize = 4096; BlockSize = $(if ($format -eq 'VHDX') { 33554432 } else { 2097152 }); Attached = $false
            }
        }
    }
}

Export-ModuleMember -Function Get-VM, Get-VMHost, New-VM, Start-VM, Stop-VM, Restart-VM, Save-VM, Suspend-VM, Resume-VM, Remove-VM,
    Remove-VMSavedState, Set-VM, Set-VMProcessor, Set-VMMemory, Compare-VM, Move-VM, Get-VHD
