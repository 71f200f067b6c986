<#
.SYNOPSIS
    Bulk moves between two simulator datacenters with a simulated latency per API call: wall time of
    Move-GridWorkload -DestinationDatacenter -AsJob against the critical path at the configured concurrency,
    measured in the same run. Prints figures; not a test.

.DESCRIPTION
    Creates -Count stopped workloads in datacenter bench-a (LatencyMs -LatencyMs on both datacenters), times ONE move
    alone (its steps are sequential: that is the per-workload critical path), then moves the rest with -AsJob.
    The critical path of the bulk is ceil(rest / MaxConcurrencyPerDatacenter) x the single move's time if one slot
    pool served every step; but each step runs in ITS datacenter's slots (stop/export/verify/cutover at the source,
    import/create/verify/start at the destination), so two datacenters keep up to 2 x the limit in flight and the
    second figure, ceil(rest / (2 x limit)) x single, is the tighter bound. wall / critical path near 1.0 = the engine
    adds nothing. Temporary state only (never the user's).

    Measured 2026-12-07 (issue-13 branch, full run: -Count 500 -LatencyMs 100, MaxConcurrencyPerDatacenter 4; 2 cores
    shared with other engineers' builds, tests and a 1 GiB disk bench, load average 20-40): one move alone 3.03 s;
    the other 499 with -AsJob 220.8 s wall, all 500 at the destination. Critical path with one slot pool
    ceil(499/4) x 3.03 = 378.2 s (wall/critical 0.58); with each step in its own datacenter's slots
    ceil(499/8) x 3.03 = 190.6 s (wall/critical 1.16): the bulk runs 16% above the tighter bound, i.e. the engine's
    own cost (journal writes of 500 parents and 4,500 children on SQLite, job bookkeeping) under that load.
#>
param([int] $Count = 500, [int] $LatencyMs = 100)
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
$temp = Join-Path ([IO.Path]::GetTempPath()) ("ga-bench-mv-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
$null = New-Item -ItemType Directory -Force $temp
$env:GRIDAUTOMATION_STATE = Join-Path $temp 'bench.db'
$env:GRIDAUTOMATION_CONFIG = Join-Path $temp 'config.json'
try {
    Import-Module (Join-Path $root 'GridAutomation.psd1') -WarningAction SilentlyContinue
    $null = Connect-GridDatacenter -Provider Simulator -Name bench-a -Hosts 50 -BandwidthMBps 1048576 -Confirm:$false
    $null = Connect-GridDatacenter -Provider Simulator -Name bench-b -Hosts 50 -BandwidthMBps 1048576 -Confirm:$false
    $names = 1..$Count | ForEach-Object { 'm{0:00000}' -f $_ }
    $null = New-GridWorkload -Datacenter bench-a -Name $names -Image debian-12 -NoStart -Confirm:$false
    # the latency applies to these connections from here on
    $null = Connect-GridDatacenter -Provider Simulator -Name bench-a -LatencyMs $LatencyMs -Confirm:$false
    $null = Connect-GridDatacenter -Provider Simulator -Name bench-b -LatencyMs $LatencyMs -Confirm:$false
    $conc = [int](Get-GridConfiguration MaxConcurrencyPerDatacenter).Value
    $single = Measure-Command { $null = Move-GridWorkload -Name $names[0] -Datacenter bench-a -DestinationDatacenter bench-b -Force }
    $rest = $names | Select-Object -Skip 1
    $wall = Measure-Command {
        $job = Move-GridWorkload -Name $rest -Datacenter bench-a -DestinationDatacenter bench-b -AsJob -Force
        $null = $job | Wait-Job
        if ($job.State -ne 'Completed') { throw "the bulk job ended $($job.State)" }
    }
    $moved = @(Get-GridWorkload -Datacenter bench-b).Count
    $critical = [math]::Ceiling($rest.Count / $conc) * $single.TotalSeconds
    $critical2 = [math]::Ceiling($rest.Count / (2 * $conc)) * $single.TotalSeconds
    [pscustomobject]@{
        Workloads = $Count; LatencyMs = $LatencyMs; Concurrency = $conc
        SingleMoveSeconds = [math]::Round($single.TotalSeconds, 2)
        BulkWallSeconds = [math]::Round($wall.TotalSeconds, 1)
        CriticalPathSeconds = [math]::Round($critical, 1)
        WallOverCriticalPath = [math]::Round($wall.TotalSeconds / $critical, 2)
        CriticalPathBothDatacentersSeconds = [math]::Round($critical2, 1)
        WallOverCriticalPathBothDatacenters = [math]::Round($wall.TotalSeconds / $critical2, 2)
        AtDestination = $moved
    } | Format-List
}
finally {
    Remove-Module GridAutomation -ErrorAction SilentlyContinue
    Remove-Item -Recurse -Force $temp -ErrorAction SilentlyContinue
}
