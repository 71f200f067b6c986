<#
.SYNOPSIS
    Failover of the counting guest after the loss of its host (issue 17): seconds from "failover start" to the first
    serial line of the recovery point booted on the other daemon, through the module (Start-GridWorkload of the
    replica) against `virsh start` of an identical replica in the same run. Prints figures; not a test.

.DESCRIPTION
    Starts two private root libvirt daemons (tests/GridAutomation.Provider.Libvirt.Tests/daemon-pair.sh; needs root
    and the packages of that folder's setup.sh) and the counting TCG guest on kvm-a through the module. A recovery
    point is taken while it runs with the libvirt call the provider uses (a push-mode backup job, `virsh backup-begin`:
    no cmdlet takes points before the replication service lands), shipped into kvm-b's pool, and two stopped replicas
    are made from it on kvm-b: one by New-GridWorkload -NoStart (module), one by virsh vol-clone + define (peer).
    Then the disaster: kill -9 of the guest's QEMU on kvm-a and daemon A stopped. $Runs times, alternating order:
      module: Start-GridWorkload of the replica, until its serial log shows its first line
      peer:   virsh start of the twin, until its serial log shows its first line
    each powered off again after (serial logs deleted). Medians and the ratio module/peer (goal <= 1.2) are printed.

    Measured 2026-12-07 (2 cores shared with other builds and test runs, load average ~45; -Runs 2): module 4.01 and
    4.02 s, virsh start 3.58 and 2.88 s; medians 4.02 s vs 3.58 s, ratio 1.12 (goal <= 1.2 met, on a noisy machine).
#>
param([int] $Runs = 3)
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
$script = Join-Path $root 'tests/GridAutomation.Provider.Libvirt.Tests/daemon-pair.sh'
$dir = '/tmp/gf-' + [guid]::NewGuid().ToString('n').Substring(0, 6)
$temp = Join-Path ([IO.Path]::GetTempPath()) ('ga-bench-failover-' + [guid]::NewGuid().ToString('n').Substring(0, 12))
$null = New-Item -ItemType Directory -Force $temp
$env:GRIDAUTOMATION_STATE = Join-Path $temp 'bench.db'
$env:GRIDAUTOMATION_CONFIG = Join-Path $temp 'config.json'

function Get-Median([double[]] $Values) { $s = @($Values | Sort-Object); $s[[int][math]::Floor($s.Count / 2)] }
function Invoke-Native([string] $Exe) {
    $out = & $Exe @args 2>&1
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($args -join ' '): $out" }
    $out
}
function Get-LineCount([string] $Log) {
    if (-not (Test-Path $Log)) { return 0 }
    $fs = [IO.FileStream]::new($Log, 'Open', 'Read', 'ReadWrite')
    try { $text = [IO.StreamReader]::new($fs).ReadToEnd() } finally { $fs.Dispose() }
    [regex]::Matches($text, 'GRIDCOUNT ([0-9A-F]{4})\r?\n').Count
}
function Wait-FirstLine([string] $Log, [int] $AtLeast = 1) {
    $deadline = [DateTime]::UtcNow.AddSeconds(120)
    while ((Get-LineCount $Log) -lt $AtLeast) {
        if ([DateTime]::UtcNow -gt $deadline) { throw "no serial line in $Log within 120 s" }
        Start-Sleep -Milliseconds 20
    }
}

try {
    # The counting boot sector of tests/GridAutomation.Provider.Libvirt.Tests/BootSector.cs (as in tests/pester/Provider.Libvirt.LiveMove.Tests.ps1).
    $hex = 'FAFC31C08ED88ED0BC007CFB31DBBE607CE8290089D8E82F00B00DE80E00B00AE8090043B90900F4E2FDEBE25250BAFD03ECA82074FB58BAF803EE5AC3AC84C07405E8E7FFEBF6C3B90400C1C00450240F04303C3976020407E8D0FF58E2ECC347524944434F554E5420'
    $disk = [byte[]]::new(1MB)
    [Convert]::FromHexString($hex).CopyTo($disk, 0)
    $disk[510] = 0x55; $disk[511] = 0xAA
    $images = Join-Path $dir 'kvm-a/images'
    $serial = Join-Path $dir 'serial'
    $null = New-Item -ItemType Directory -Force $images, $serial
    [IO.File]::WriteAllBytes((Join-Path $images 'counter.img'), $disk)
    $uris = @(& bash $script start $dir 49860)
    if ($LASTEXITCODE -ne 0 -or $uris.Count -ne 2) { throw "daemon-pair.sh start failed: $uris" }
    $uriA, $uriB = $uris
    Import-Module (Join-Path $root 'GridAutomation.psd1')
    $null = Connect-GridDatacenter -Name fo-a -Provider Libvirt -Uri $uriA -Confirm:$false
    $null = Connect-GridDatacenter -Name fo-b -Provider Libvirt -Uri $uriB -Confirm:$false
    $logA = Join-Path $serial 'fo1.a.log'
    $null = New-GridWorkload -Datacenter fo-a -Name fo1 -Image counter.img -Size micro -Option @{ DiskBus = 'ide'; SerialLog = $logA } -Confirm:$false
    Wait-FirstLine $logA 3

    # The recovery point: a push-mode backup job of the running guest, into kvm-a's pool, then shipped to kvm-b's pool.
    $point = Join-Path $images 'fo1-point.img'
    Set-Content -Path (Join-Path $temp 'backup.xml') -Value "<domainbackup><disks><disk name='hda' type='file'><target file='$point'/><driver type='raw'/></disk></disks></domainbackup>"
    Invoke-Native virsh -q -c $uriA backup-begin fo1 (Join-Path $temp 'backup.xml') | Out-Null
    while (((Invoke-Native virsh -q -c $uriA domjobinfo fo1) -join "`n") -notmatch 'Job type:\s+None') { Start-Sleep -Milliseconds 100 }
    Invoke-Native virsh -q -c $uriA pool-refresh default | Out-Null
    $staged = Join-Path $temp 'point.img'
    Invoke-Native virsh -q -c $uriA vol-download --pool default fo1-point.img $staged | Out-Null
    Invoke-Native virsh -q -c $uriB vol-create-as default fo1-point.img (Get-Item $staged).Length --format raw | Out-Null
    Invoke-Native virsh -q -c $uriB vol-upload --pool default fo1-point.img $staged | Out-Null
    $pointB = Join-Path $dir 'kvm-b/images/fo1-point.img'

    # Two stopped replicas on kvm-b from the same point.
    $logMod = Join-Path $serial 'fo1.mod.log'; $logPeer = Join-Path $serial 'fo1.peer.log'
    $replica = New-GridWorkload -Datacenter fo-b -Name fo1 -Image $pointB -Size micro -NoStart -Option @{ DiskBus = 'ide'; SerialLog = $logMod } -Confirm:$false
    Invoke-Native virsh -q -c $uriB vol-clone --pool default fo1-point.img peer-fo1.img | Out-Null
    $xml = "<domain type='qemu'><name>peer-fo1</name><memory unit='MiB'>128</memory><os><type>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$dir/kvm-b/images/peer-fo1.img'/><target dev='hda' bus='ide'/></disk><serial type='file'><source path='$logPeer' append='on'/></serial></devices></domain>"
    Set-Content -Path (Join-Path $temp 'peer.xml') -Value $xml
    Invoke-Native virsh -q -c $uriB define (Join-Path $temp 'peer.xml') | Out-Null

    # The disaster: the guest's QEMU killed -9, daemon A stopped.
    $qemuPid = [int](Get-Content (Join-Path $dir 'kvm-a/run/libvirt/qemu/fo1.pid'))
    Stop-Process -Id $qemuPid -Force
    Invoke-Native bash $script stop-one $dir kvm-a | Out-Null
    Write-Host "kvm-a lost (QEMU $qemuPid killed, daemon stopped); failing over to kvm-b"

    $mod = @(); $peer = @()
    for ($i = 0; $i -lt $Runs; $i++) {
        $order = if ($i % 2 -eq 0) { 'module', 'peer' } else { 'peer', 'module' }
        foreach ($who in $order) {
            if ($who -eq 'module') {
                Remove-Item $logMod -ErrorAction SilentlyContinue
                $sw = [Diagnostics.Stopwatch]::StartNew()
                Start-GridWorkload -Id $replica.Id -Confirm:$false
                Wait-FirstLine $logMod
                $mod += $sw.Elapsed.TotalSeconds
                Write-Host ("module {0}: {1:0.00} s from failover start to the first serial line on kvm-b" -f $i, $sw.Elapsed.TotalSeconds)
                Stop-GridWorkload -Id $replica.Id -TurnOff -Force -Confirm:$false
            }
            else {
                Remove-Item $logPeer -ErrorAction SilentlyContinue
                $sw = [Diagnostics.Stopwatch]::StartNew()
                Invoke-Native virsh -q -c $uriB start peer-fo1 | Out-Null
                Wait-FirstLine $logPeer
                $peer += $sw.Elapsed.TotalSeconds
                Write-Host ("peer   {0}: {1:0.00} s (virsh start)" -f $i, $sw.Elapsed.TotalSeconds)
                Invoke-Native virsh -q -c $uriB destroy peer-fo1 | Out-Null
            }
        }
    }
    $m = Get-Median $mod; $p = Get-Median $peer
    Write-Host ("median: module {0:0.00} s, virsh {1:0.00} s; ratio module/virsh = {2:0.00} (goal <= 1.2)" -f $m, $p, ($m / $p))
}
finally {
    Remove-Module GridAutomation -ErrorAction SilentlyContinue
    & bash $script stop $dir | Out-Null
    Remove-Item -Recurse -Force $temp -ErrorAction SilentlyContinue
}
