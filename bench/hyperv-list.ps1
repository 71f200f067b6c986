<#
.SYNOPSIS
    Listing the VMs of two Hyper-V hosts through Get-GridWorkload against the same remoting done by hand
    (Invoke-Command of `Hyper-V\Get-VM | Select-Object ...` on two sessions). Prints figures; not a test.

.DESCRIPTION
    Starts the Pester tests' two test sshds with the stand-in Hyper-V module (tests/pester/HyperV.TestHosts.ps1;
    needs openssh-server and root), writes -Count VMs per host straight into the stand-in's state files, connects a
    datacenter of both hosts and opens two PSSessions of its own to them. Both sides then ask the same hosts for the
    same properties over the same kind of session; the peer just leaves the objects deserialized. Each is timed
    -Runs times after a warm-up; the medians are compared. Temporary state only (never the user's).
#>
param([int] $Count = 500, [int] $Runs = 5)
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
. (Join-Path $root 'tests/pester/HyperV.TestHosts.ps1')
if ($p = Get-HyperVTestPrerequisiteProblem) { Write-Warning "hyperv-list: not run: $p"; return }
$temp = Join-Path ([IO.Path]::GetTempPath()) ("ga-bench-hv-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
$null = New-Item -ItemType Directory -Force $temp
$env:GRIDAUTOMATION_STATE = Join-Path $temp 'bench.db'
$env:GRIDAUTOMATION_CONFIG = Join-Path $temp 'config.json'

function Get-Median([double[]] $Values) { $s = @($Values | Sort-Object); $s[[int][math]::Floor($s.Count / 2)] }

$lab = $null; $sessions = @()
try {
    $lab = Start-HyperVTestHosts -Root $temp
    Import-Module (Join-Path $root 'GridAutomation.psd1')
    $addresses = @($lab.Hosts | ForEach-Object Address)
    $null = Connect-GridDatacenter -Name bench -Provider HyperV -HostName $addresses -KeyFilePath $lab.KeyFile -KnownHostsFile $lab.KnownHosts
    foreach ($h in $lab.Hosts) {
        $file = Join-Path $lab.Fabric "$($h.Name).json"
        $s = Get-Content $file -Raw | ConvertFrom-Json -AsHashtable
        $s.VMs = @(for ($i = 0; $i -lt $Count; $i++) {
                [ordered]@{ Id = [guid]::NewGuid().ToString(); Name = "$($h.Name)-vm$i"; State = if ($i % 3) { 'Running' } else { 'Off' }
                    ProcessorCount = 2; MemoryStartup = 2GB; Generation = 2; Version = '11.0'; Notes = ''; CreationTime = [DateTime]::UtcNow.ToString('o')
                    Path = "/vms/vm$i"; HardDrives = @("/vhd/vm$i.vhdx"); SwitchName = 'lan'; MacAddress = '00155D000000'; IPAddress = '10.0.0.1'; StartedAt = [DateTime]::UtcNow.ToString('o') }
            })
        $s | ConvertTo-Json -Depth 6 | Set-Content $file
    }
    $opt = @{ UserKnownHostsFile = $lab.KnownHosts; StrictHostKeyChecking = 'yes' }
    $sessions = @($lab.Hosts | ForEach-Object { New-PSSession -HostName 127.0.0.1 -Port $_.Port -UserName root -KeyFilePath $lab.KeyFile -Options $opt })
    $peer = {
        @(Invoke-Command -Session $sessions -ScriptBlock {
                Hyper-V\Get-VM | Select-Object -Property Name, Id, State, Status, ProcessorCount, MemoryStartup, MemoryAssigned, DynamicMemoryEnabled, Uptime, ComputerName, Generation, Version, Notes, CreationTime, Path, IsClustered,
                @{ Name = 'HardDrivePaths'; Expression = { , @($_.HardDrives | ForEach-Object Path) } }, @{ Name = 'IPAddresses'; Expression = { , @($_.NetworkAdapters | ForEach-Object IPAddresses) } }
            }).Count
    }
    $null = @(Get-GridWorkload -Datacenter bench).Count; $null = & $peer   # warm-up
    $grid = @(); $hand = @()
    for ($i = 0; $i -lt $Runs; $i++) {
        $grid += (Measure-Command { $script:n1 = @(Get-GridWorkload -Datacenter bench).Count }).TotalSeconds
        $hand += (Measure-Command { $script:n2 = & $peer }).TotalSeconds
    }
    $g = Get-Median $grid; $p = Get-Median $hand
    Write-Host ("@(Get-GridWorkload) over 2 hosts            : {0:n0} workloads, median {1:n3} s" -f $script:n1, $g)
    Write-Host ("Invoke-Command Get-VM | Select, 2 sessions  : {0:n0} objects,   median {1:n3} s" -f $script:n2, $p)
    Write-Host ("ratio Get-GridWorkload / Invoke-Command     : {0:n2}" -f ($g / $p))
}
finally {
    $sessions | Remove-PSSession -ErrorAction SilentlyContinue
    Get-GridDatacenter -ErrorAction SilentlyContinue | Disconnect-GridDatacenter -Confirm:$false -ErrorAction SilentlyContinue
    Stop-HyperVTestHosts $lab
    Remove-Module GridAutomation -ErrorAction SilentlyContinue
    Remove-Item $temp -Recurse -Force -ErrorAction SilentlyContinue
}
