<#
.SYNOPSIS
    Live move of a running guest between two real libvirt daemons: Move-GridWorkload against `virsh migrate --live`
    of the same guest in the same run. Goal: time ratio <= 1.2 (and the guest downtime ratio). Prints figures; not a test.

.DESCRIPTION
    Starts two private root libvirt daemons (tests/GridAutomation.Provider.Libvirt.Tests/daemon-pair.sh; needs root
    and the packages of that folder's setup.sh), defines a 128 MiB TCG guest whose 1 MiB raw disk (a boot sector that
    halts in a loop) is a volume of kvm-a's pool, and starts it through the module. Then, $Runs times:
      module: Move-GridWorkload -DestinationHost kvm-b                           (kvm-a -> kvm-b, disk copied)
      peer:   virsh vol-create-as on kvm-a; virsh migrate --live --p2p --persistent --undefinesource
              --copy-storage-all --xml <disk path rewritten> to kvm-a; virsh vol-delete on kvm-b   (kvm-b -> kvm-a)
    Both do the same work: pre-create the target volume, migrate live with the disk copied, remove the source disk.
    Downtime: the module's journaled statistics (move.live.3.migrated) and `virsh domjobinfo --completed` on the
    target. Medians are compared. The state and config files are temporary (never the user's).
#>
param([int] $Runs = 5)
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
$script = Join-Path $root 'tests/GridAutomation.Provider.Libvirt.Tests/daemon-pair.sh'
$dir = '/tmp/gb-' + [guid]::NewGuid().ToString('n').Substring(0, 6)
$temp = Join-Path ([IO.Path]::GetTempPath()) ('ga-bench-live-' + [guid]::NewGuid().ToString('n').Substring(0, 12))
$null = New-Item -ItemType Directory -Force $temp
$env:GRIDAUTOMATION_STATE = Join-Path $temp 'bench.db'
$env:GRIDAUTOMATION_CONFIG = Join-Path $temp 'config.json'

function Get-Median([double[]] $Values) { $s = @($Values | Sort-Object); $s[[int][math]::Floor($s.Count / 2)] }
function Invoke-Virsh([string] $Uri) {
    $out = & virsh -q -c $Uri @args 2>&1
    if ($LASTEXITCODE -ne 0) { throw "virsh $($args -join ' '): $out" }
    $out
}

try {
    # The guest's disk: a boot sector that halts forever (hlt; jmp back), in kvm-a's pool folder before the pool starts.
    $images = Join-Path $dir 'kvm-a/images'
    $null = New-Item -ItemType Directory -Force $images
    $disk = [byte[]]::new(1MB); $disk[0] = 0xF4; $disk[1] = 0xEB; $disk[2] = 0xFD; $disk[510] = 0x55; $disk[511] = 0xAA
    [IO.File]::WriteAllBytes((Join-Path $images 'bench.img'), $disk)
    $uris = @(& bash $script start $dir 49900)
    if ($LASTEXITCODE -ne 0 -or $uris.Count -ne 2) { throw "daemon-pair.sh start failed: $uris" }
    $uriA, $uriB = $uris
    Import-Module (Join-Path $root 'GridAutomation.psd1')
    $null = Connect-GridDatacenter -Name livebench -Provider Libvirt -Uri $uriA, $uriB
    $w = New-GridWorkload -Datacenter livebench -Name lm1 -Image bench.img -Size micro -TargetHost kvm-a -Option @{ DiskBus = 'ide' }
    Write-Host ("guest {0} running on {1}, disk {2}" -f $w.Name, $w.Host, $w.Disks[0].NativeId)
    $diskA = Join-Path $dir 'kvm-a/images/lm1-disk0.img'; $diskB = Join-Path $dir 'kvm-b/images/lm1-disk0.img'

    $modT = @(); $modD = @(); $peerT = @(); $peerD = @()
    for ($i = 0; $i -le $Runs; $i++) {
        # module: kvm-a -> kvm-b
        $t = Measure-Command { Move-GridWorkload -Datacenter livebench -Name lm1 -DestinationHost kvm-b -Confirm:$false }
        $op = Get-GridOperation -Datacenter livebench -Kind Move -Last 1
        $stats = $op.Checkpoints['move.live.3.migrated'] | ConvertFrom-Json
        if (-not $op.Checkpoints['move.done'].StartsWith('finished (live')) { throw "the module did not move live: $($op.Checkpoints['move.done'])" }
        # peer: kvm-b -> kvm-a, same work done by hand with virsh
        $xml = Join-Path $temp 'lm1-dest.xml'
        $tp = Measure-Command {
            $null = Invoke-Virsh $uriA vol-create-as default lm1-disk0.img 1M --format raw
            (Invoke-Virsh $uriB dumpxml --migratable lm1) -join "`n" -replace [regex]::Escape($diskB), $diskA | Set-Content -NoNewline $xml
            $null = Invoke-Virsh $uriB migrate --live --p2p --persistent --undefinesource --copy-storage-all --xml $xml lm1 $uriA
            $null = Invoke-Virsh $uriB vol-delete $diskB
        }
        $info = (Invoke-Virsh $uriA domjobinfo --completed lm1) -join "`n"
        $peerDown = if ($info -match 'Total downtime:\s+(\d+)') { [double]$Matches[1] } else { [double]::NaN }
        if ($i -eq 0) { Write-Host 'warm-up round done'; continue }   # the first round pays the daemons' QEMU capability probes
        $modT += $t.TotalMilliseconds; $modD += [double]$stats.DowntimeMs
        $peerT += $tp.TotalMilliseconds; $peerD += $peerDown
        Write-Host ("round {0}: module {1:n0} ms (downtime {2} ms, {3:n0} bytes)   virsh {4:n0} ms (downtime {5} ms)" -f $i, $t.TotalMilliseconds, $stats.DowntimeMs, $stats.DataTotalBytes, $tp.TotalMilliseconds, $peerDown)
    }
    $mt = Get-Median $modT; $pt = Get-Median $peerT; $md = Get-Median $modD; $pd = Get-Median $peerD
    Write-Host ("Move-GridWorkload (live, disk copied)  : median {0:n0} ms, downtime {1:n0} ms" -f $mt, $md)
    Write-Host ("virsh migrate --live (same work)       : median {0:n0} ms, downtime {1:n0} ms" -f $pt, $pd)
    Write-Host ("ratio time     module / virsh          : {0:n2}   (goal <= 1.20) {1}" -f ($mt / $pt), $(if ($mt / $pt -le 1.2) { 'MET' } else { 'NOT MET' }))
    Write-Host ("ratio downtime module / virsh          : {0:n2}   (goal <= 1.20) {1}" -f ($md / $pd), $(if ($md / $pd -le 1.2) { 'MET' } else { 'NOT MET' }))
}
finally {
    Remove-Module GridAutomation -ErrorAction SilentlyContinue
    & bash $script stop $dir
    Remove-Item $temp -Recurse -Force -ErrorAction SilentlyContinue
}
