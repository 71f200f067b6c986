<#
.SYNOPSIS
    Listing 100,000 simulated workloads against a plain PowerShell loop emitting 100,000 [pscustomobject]s with the
    same property names and values. Goal: ratio <= 1.0. Prints figures; not a test.

.DESCRIPTION
    Makes a simulator datacenter with -Workloads 100000 in a temporary state file (never the user's), then times
    `@(Get-GridWorkload).Count` and a loop that emits the same number of [pscustomobject]s built from a hashtable
    literal with the workload's property names and the same values (prepared beforehand, outside the timing).
    Each is timed 3 times after a warm-up; the medians are compared.
#>
param([int] $Count = 100000, [int] $Runs = 3)
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
$temp = Join-Path ([IO.Path]::GetTempPath()) ("ga-bench-list-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
$null = New-Item -ItemType Directory -Force $temp
$env:GRIDAUTOMATION_STATE = Join-Path $temp 'bench.db'
$env:GRIDAUTOMATION_CONFIG = Join-Path $temp 'config.json'

function Get-Median([double[]] $Values) { $s = @($Values | Sort-Object); $s[[int][math]::Floor($s.Count / 2)] }

try {
    Import-Module (Join-Path $root 'GridAutomation.psd1')
    $setup = Measure-Command { $null = Connect-GridDatacenter -Provider Simulator -Name bench -Workloads $Count -Hosts 100 }
    Write-Host ("simulator datacenter with {0:n0} workloads made in {1:n1} s" -f $Count, $setup.TotalSeconds)

    $all = @(Get-GridWorkload)   # warm-up, and the values for the baseline
    if ($all.Count -ne $Count) { Write-Warning "Get-GridWorkload returned $($all.Count) workloads, expected $Count." }
    $names = @($all[0].PSObject.Properties | Where-Object MemberType -eq 'Property' | ForEach-Object Name)
    $rows = [object[]]::new($all.Count)
    for ($i = 0; $i -lt $all.Count; $i++) { $o = $all[$i]; $rows[$i] = [object[]]@(foreach ($n in $names) { $o.$n }) }
    # The baseline: a plain loop emitting a [pscustomobject] from a hashtable literal with the same names and values.
    $literal = ($names | ForEach-Object -Begin { $k = 0 } -Process { "'$_' = `$r[$k]"; $k++ }) -join '; '
    $baseline = [scriptblock]::Create("@(foreach (`$r in `$rows) { [pscustomobject]@{ $literal } }).Count")
    $all = $null; [GC]::Collect()
    $null = & $baseline   # warm-up

    $grid = @(); $loop = @()
    for ($i = 0; $i -lt $Runs; $i++) {
        $grid += (Measure-Command { $script:n1 = @(Get-GridWorkload).Count }).TotalSeconds
        $loop += (Measure-Command { $script:n2 = & $baseline }).TotalSeconds
    }
    $g = Get-Median $grid; $l = Get-Median $loop
    Write-Host ("@(Get-GridWorkload).Count             : {0:n0} objects, median {1:n3} s" -f $script:n1, $g)
    Write-Host ("plain loop of [pscustomobject] ({0} properties): {1:n0} objects, median {2:n3} s" -f $names.Count, $script:n2, $l)
    Write-Host ("ratio Get-GridWorkload / loop          : {0:n2}   (goal <= 1.00) {1}" -f ($g / $l), $(if ($g / $l -le 1.0) { 'MET' } else { 'NOT MET' }))
}
finally {
    Remove-Module GridAutomation -ErrorAction SilentlyContinue
    Remove-Item $temp -Recurse -Force -ErrorAction SilentlyContinue
}
