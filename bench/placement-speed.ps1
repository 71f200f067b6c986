<#
.SYNOPSIS
    Placement speed (issue 15). Prints figures; not a test.
    1. 10,000 workloads planned onto 2,000 hosts (Get-GridPlacement -Count 10000 over a pool of four simulated
       datacenters of 500 hosts each, 48 vCPU / 384 GB): goal < 2 s.
    2. Get-GridPlacement for one workload on the same 2,000 hosts: goal < 50 ms.
    Each is shown with its ratio to a peer measured in the same run: a plain first-fit loop (compiled C#) over arrays
    of the same hosts' free CPU and memory, placing the same demands — the least any planner has to do.

.NOTES
    2026-12-07, 2 cores shared with five other builds/test runs (load ~50), -Runs 3:
      10,000 onto 2,000 hosts: 166.6 s, 2,160x the first-fit peer (0.077 s) - NOT MET (goal < 2 s)
      one workload on 2,000 hosts: 213 ms, 1,482x the peer - NOT MET (goal < 50 ms)
    The 2.07 s figure quoted before was PackingBench's Packing.ChooseHost loop alone, not the planner
    (candidates, filters, rejection reasons per candidate, reservations): the planner's hot path is what misses.
    After the planner change (filters once per datacenter, alike hosts evaluated once as a bucket, rejections counted
    and each workload's Rejected rebuilt on first read), 2026-12-07 05:05 UTC, same machine under a heavier load
    (~50-60 on 2 cores; the same first-fit peer took 2x its earlier time), -Runs 3:
      10,000 onto 2,000 hosts: 3.793 s, 24.8x the first-fit peer (0.153 s) - was 2,160x; absolute goal < 2 s NOT MET
        under this load (scaled by the peer's slowdown it is ~1.9 s of the earlier run's machine time)
      one workload on 2,000 hosts: 770.5 ms, 10x the peer (74.8 ms) - was 1,482x; goal < 50 ms NOT MET under this load
    Again at 05:25 UTC on the full build, load ~19 (lighter), -Runs 3:
      10,000 onto 2,000 hosts: 1.559 s, 31.4x the first-fit peer (0.0497 s) - MET (goal < 2 s)
      one workload on 2,000 hosts: 157.3 ms, 1,280x the peer (0.123 ms) - NOT MET (goal < 50 ms)
    (The 10x figure of the loaded run above compared with a 74.8 ms peer, itself inflated by that load; 1,280x is the
    fair ratio.) A separate timing in the loaded session put Get-GridHost over the same 2,000 hosts at ~190 ms: the
    single-workload time is the provider listing every host and workload of the pool on each call, not the planning;
    meeting 50 ms needs an inventory cache of hosts between calls (not done here).
    Issue 15 follow-up (branch perf), 2026-12-07 08:13 UTC, load ~30 on 2 cores (a full test run and other builds),
    -ExistingPerDatacenter 2500 (10,000 workloads already in the pool, as a pool in use has), -Runs 3, old and new
    GridAutomation.Core.dll swapped in the same session one after the other:
      one workload on 2,000 hosts: 1,150.0 ms (9,259x the peer) before -> 199.3 ms (1,091x the peer) after: the plan no
        longer lists the pool's workloads unless a filter reads them (anti-affinity, agreement quotas, reservations).
        Goal < 50 ms NOT MET under that load; -Verbose phases of single runs in the same session: listing hosts and
        sizes 34-435 ms, candidates 4-73 ms, planning 0 ms; the fastest run took 41.4 ms.
      10,000 onto 2,000 hosts: 3.494 s (70.7x the peer) before -> 3.154 s (43.0x) after - the 1.559 s of the lighter
        run above is not reproduced under this load (the peer itself varied 0.049-0.073 s).
    After the datacenters are also listed in parallel (commit "Placement lists the pool's datacenters in parallel"),
    2026-12-07 08:46-08:47 UTC, load ~10 (lighter), -Runs 3, old (main's) and new GridAutomation.Core.dll swapped in
    the same minutes:
                                          main (13eb0ab)             perf branch
      empty pool, one workload            122.7 ms (1,064x peer)  -> 44.8 ms (499x peer)      - MET (goal < 50 ms)
      empty pool, 10,000 workloads        0.819 s (38.7x)         -> 0.556 s (30.4x)          - MET (goal < 2 s)
      2,500 in each dc, one workload      412.5 ms (3,256x)       -> 132.2 / 74.4 ms (1,532x / 715x) - NOT MET
      2,500 in each dc, 10,000 workloads  1.559 s (53.3x)         -> 1.184 / 1.053 s (38.0x / 37.7x) - MET
    Again 08:54 UTC on an idle machine (load < 1), same swap:
      empty pool, one workload            24.6 ms (193x peer)     -> 13.1 ms (149x peer)      - MET
      empty pool, 10,000 workloads        0.247 s (23.2x)         -> 0.266 s (30.2x)          - MET
      2,500 in each dc, one workload      156.1 ms (824x)         -> 44.9 ms (418x)           - MET (goal < 50 ms)
      2,500 in each dc, 10,000 workloads  0.706 s (74.0x)         -> 0.449 s (36.1x)          - MET
    With workloads on the hosts, what is left of the single plan is the simulator's host listing: its allocation query
    (below) reads every consuming workload of the datacenter.
    The simulator's host listing does per host one row read, one dictionary look-up of its allocation (one GROUP BY
    per datacenter over ix_sim_workloads_alloc, which is not covering: a table look-up per workload) and one object.

.DESCRIPTION
    Works in a temporary state file (never the user's). Each timing is the median of -Runs runs after a warm-up.
#>
param([int] $Workloads = 10000, [int] $HostsPerDatacenter = 500, [int] $Datacenters = 4, [int] $Runs = 3, [int] $ExistingPerDatacenter = 0)
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
$temp = Join-Path ([IO.Path]::GetTempPath()) ("ga-bench-place-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
$null = New-Item -ItemType Directory -Force $temp
$env:GRIDAUTOMATION_STATE = Join-Path $temp 'bench.db'
$env:GRIDAUTOMATION_CONFIG = Join-Path $temp 'config.json'

function Get-Median([double[]] $Values) { $s = @($Values | Sort-Object); $s[[int][math]::Floor($s.Count / 2)] }

Add-Type -TypeDefinition @'
public static class FirstFitPeer
{
    /// <summary>Places n demands of (cpu, mem) on the first host with room; returns how many were placed.</summary>
    public static int Run(double[] freeCpu, double[] freeMem, int n, double cpu, double mem)
    {
        var c = (double[])freeCpu.Clone(); var m = (double[])freeMem.Clone();
        int placed = 0;
        for (int k = 0; k < n; k++)
            for (int i = 0; i < c.Length; i++)
                if (c[i] >= cpu && m[i] >= mem) { c[i] -= cpu; m[i] -= mem; placed++; break; }
        return placed;
    }
}
'@

try {
    Import-Module (Join-Path $root 'GridAutomation.psd1')
    $names = 1..$Datacenters | ForEach-Object { "ps-$_" }
    foreach ($n in $names) {
        $null = Connect-GridDatacenter -Provider Simulator -Name $n -Owner Contoso -Hosts $HostsPerDatacenter -HostCpu 48 -HostMemoryGB 384 -Workloads $ExistingPerDatacenter
    }
    $null = New-GridPool -Name speed -Datacenter 'ps-*' -Confirm:$false
    $hosts = @(Get-GridHost -Datacenter 'ps-*')
    $freeCpu = [double[]]@($hosts | ForEach-Object { $_.CpuCores - $_.AllocatedCpu })
    $freeMem = [double[]]@($hosts | ForEach-Object { $_.MemoryMB - $_.AllocatedMemoryMB })
    Write-Host ("{0:n0} hosts in {1} simulated datacenters, {2:n0} workloads already in each" -f $hosts.Count, $Datacenters, $ExistingPerDatacenter)

    $null = Get-GridPlacement -Pool speed -Count 100 -NamePrefix warm -Cpu 2 -MemoryGB 4 -Owner Contoso   # warm-up
    $null = [FirstFitPeer]::Run($freeCpu, $freeMem, 100, 2, 4096)
    $bulk = @(); $one = @(); $peerBulk = @(); $peerOne = @()
    for ($i = 0; $i -lt $Runs; $i++) {
        $bulk += (Measure-Command { $script:plan = Get-GridPlacement -Pool speed -Count $Workloads -NamePrefix w -Cpu 2 -MemoryGB 4 -Owner Contoso }).TotalSeconds
        $peerBulk += (Measure-Command { $script:ff = [FirstFitPeer]::Run($freeCpu, $freeMem, $Workloads, 2, 4096) }).TotalSeconds
        $one += (Measure-Command { $script:single = Get-GridPlacement -Pool speed -Name single -Cpu 2 -MemoryGB 4 -Owner Contoso }).TotalSeconds
        $peerOne += (Measure-Command { $null = [FirstFitPeer]::Run($freeCpu, $freeMem, 1, 2, 4096) }).TotalSeconds
    }
    $fits = @($script:plan | Where-Object Fits).Count
    $bm = Get-Median $bulk; $pb = Get-Median $peerBulk; $om = Get-Median $one; $po = Get-Median $peerOne
    Write-Host ("Get-GridPlacement, {0:n0} workloads onto {1:n0} hosts: median {2:n3} s (goal < 2 s) {3}; {4:n0} fit" -f $Workloads, $hosts.Count, $bm, $(if ($bm -lt 2) { 'MET' } else { 'NOT MET' }), $fits)
    Write-Host ("peer: first-fit loop over the same arrays       : median {0:n4} s ({1:n0} placed); ratio {2:n1}" -f $pb, $script:ff, ($bm / $pb))
    Write-Host ("Get-GridPlacement, one workload on {0:n0} hosts  : median {1:n1} ms (goal < 50 ms) {2}; host {3}" -f $hosts.Count, ($om * 1000), $(if ($om -lt 0.05) { 'MET' } else { 'NOT MET' }), $script:single.Host)
    Write-Host ("peer: first-fit of one demand                   : median {0:n3} ms; ratio {1:n0}" -f ($po * 1000), ($om / [math]::Max($po, 1e-7)))
}
finally {
    Remove-Module GridAutomation -ErrorAction SilentlyContinue
    Remove-Item $temp -Recurse -Force -ErrorAction SilentlyContinue
}
