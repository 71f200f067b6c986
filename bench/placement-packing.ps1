<#
.SYNOPSIS
    Packing quality and speed of the placement service's Pack choice (GridAutomation.Core.Grid.Packing) against
    first-fit and random, measured in the same run on the huawei-azure-derived trace (Azure Public Dataset V1,
    processed; see ../shared/fixtures/SOURCES.md). Prints figures; not a test.

.DESCRIPTION
    Static: the VMs alive at the last arrival instant of the split, on identical 48 vCPU / 384 GB hosts; goal Pack
    <= 1.03 x the lower bound max(ceil(sum vCPU / 48), ceil(sum GB / 384)). Dynamic: arrivals and departures replayed in
    order (durations: the middle of each duration bin; censored VMs run to the end), each arrival placed online;
    time-weighted hosts in use vs the time-weighted bound, goal <= 1.10. Speed: 10,000 workloads onto 2,000 hosts.
#>
param([ValidateSet('dev', 'test')] [string] $Split = 'dev')
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
$fixtures = if ($env:GRIDAUTOMATION_FIXTURES) { $env:GRIDAUTOMATION_FIXTURES } else {
    $d = $root; $found = $null
    while ($d -and -not $found) { $c = Join-Path $d 'shared/fixtures'; if (Test-Path $c) { $found = $c }; $d = Split-Path -Parent $d }
    $found
}
$trace = if ($fixtures) { Join-Path $fixtures 'traces/huawei-azure-derived' }
if (-not $trace -or -not (Test-Path $trace)) { Write-Warning "placement-packing: not run: shared/fixtures/traces/huawei-azure-derived not found (set GRIDAUTOMATION_FIXTURES)"; return }
& dotnet run -c Release --project (Join-Path $PSScriptRoot 'PackingBench/PackingBench.csproj') -- $trace $Split
if ($LASTEXITCODE -ne 0) { throw "placement-packing failed ($LASTEXITCODE)" }
