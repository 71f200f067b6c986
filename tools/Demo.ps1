<#
.SYNOPSIS
    The main job of GridAutomation, on the embedded simulator: datacenters of two companies, workloads deployed across
    them, the whole grid in one table, a bulk stop/start, a live move between hosts, the two companies' datacenters
    pooled under an agreement with 30 workloads placed by the pool (and one refused for lack of an agreement), the
    operations journal, and a day of simulated time ending with the usage table of who owes whom.

.DESCRIPTION
    Run by `dotnet pwsh ./build.ps1 -Task Demo` (which builds first). It always works on its OWN state file: the one
    in GRIDAUTOMATION_STATE when build.ps1 set it to a temporary file, else a new temporary file made here; the
    user's state and configuration are never touched.
#>
[CmdletBinding()]
param(
    # Pause between the steps (seconds), to watch the demo.
    [double] $Pause = 0
)
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot

# Own state and config, always in a temporary folder.
$temp = $null
if (-not $env:GRIDAUTOMATION_STATE -or -not $env:GRIDAUTOMATION_STATE.StartsWith([IO.Path]::GetTempPath())) {
    $temp = Join-Path ([IO.Path]::GetTempPath()) ("gridautomation-demo-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    $null = New-Item -ItemType Directory -Force $temp
    $env:GRIDAUTOMATION_STATE = Join-Path $temp 'demo.db'
    $env:GRIDAUTOMATION_CONFIG = Join-Path $temp 'config.json'
}

function Show-Step([string] $Title) {
    Write-Host ''
    Write-Host "=== $Title ===" -ForegroundColor Cyan
    if ($Pause -gt 0) { Start-Sleep -Seconds $Pause }
}
# Shows a command and then runs exactly that text, so what follows a "PS>" line is what the command prints.
function Invoke-Shown([string] $Text) {
    Write-Host "PS> $Text" -ForegroundColor DarkGray
    Invoke-Expression $Text | Out-Host
}

try {
    Import-Module (Join-Path $root 'GridAutomation.psd1') -Force
    Write-Host "GridAutomation $((Get-Module GridAutomation).Version) - demo state: $($env:GRIDAUTOMATION_STATE)"

    Show-Step 'Four datacenters of two companies, all simulated (no account needed)'
    $datacenters = @(
        @{ Name = 'ams-1'; Owner = 'Contoso'; Site = 'Amsterdam'; Hosts = 3 }
        @{ Name = 'fra-1'; Owner = 'Contoso'; Site = 'Frankfurt'; Hosts = 2 }
        @{ Name = 'dub-1'; Owner = 'Fabrikam'; Site = 'Dublin'; Hosts = 2 }
        @{ Name = 'sea-1'; Owner = 'Fabrikam'; Site = 'Seattle'; Hosts = 2 }
    )
    foreach ($dc in $datacenters) {
        Invoke-Shown "Connect-GridDatacenter -Provider Simulator -Name $($dc.Name) -Owner $($dc.Owner) -Site $($dc.Site) -Hosts $($dc.Hosts)"
    }
    Invoke-Shown 'Get-GridDatacenter'

    Show-Step 'What ams-1 offers'
    Invoke-Shown 'Get-GridHost -Datacenter ams-1'
    Invoke-Shown 'Get-GridSize -Datacenter ams-1'

    Show-Step 'Workloads deployed across the grid'
    $plan = @(
        @{ Name = 'web-01'; Datacenter = 'ams-1'; Size = 'sim.small'; Image = 'ubuntu-22.04'; Tag = @{ Role = 'web'; CostCenter = 'Shop' } }
        @{ Name = 'web-02'; Datacenter = 'ams-1'; Size = 'sim.small'; Image = 'ubuntu-22.04'; Tag = @{ Role = 'web'; CostCenter = 'Shop' } }
        @{ Name = 'api-01'; Datacenter = 'ams-1'; Size = 'sim.medium'; Image = 'debian-12'; Tag = @{ Role = 'api'; CostCenter = 'Shop' } }
        @{ Name = 'db-01'; Datacenter = 'fra-1'; Size = 'sim.large'; Image = 'debian-12'; Tag = @{ Role = 'db'; CostCenter = 'Shop' } }
        @{ Name = 'batch-01'; Datacenter = 'fra-1'; Cpu = 2; MemoryGB = 4; Image = 'ubuntu-22.04'; Tag = @{ Role = 'batch' } }
        @{ Name = 'erp-01'; Datacenter = 'dub-1'; Size = 'sim.xlarge'; Image = 'windows-2022'; Tag = @{ Role = 'erp'; CostCenter = 'Finance' } }
        @{ Name = 'erp-02'; Datacenter = 'dub-1'; Size = 'sim.large'; Image = 'windows-2022'; Tag = @{ Role = 'erp'; CostCenter = 'Finance' } }
        @{ Name = 'ci-01'; Datacenter = 'sea-1'; Size = 'sim.medium'; Image = 'ubuntu-22.04'; Tag = @{ Role = 'ci'; CostCenter = 'R&D' } }
    )
    foreach ($w in $plan) {
        $shape = if ($w.ContainsKey('Size')) { "-Size $($w.Size)" } else { "-Cpu $($w.Cpu) -MemoryGB $($w.MemoryGB)" }
        $tags = ($w.Tag.GetEnumerator() | Sort-Object Key | ForEach-Object { "$($_.Key) = '$($_.Value)'" }) -join '; '
        # New-GridWorkload writes the workload it made: that row is what is shown under the command.
        Invoke-Shown "New-GridWorkload -Name $($w.Name) -Datacenter $($w.Datacenter) $shape -Image $($w.Image) -Tag @{ $tags } -Confirm:`$false"
    }

    Show-Step 'The whole grid, one table'
    Invoke-Shown 'Get-GridWorkload | Sort-Object Datacenter, Name | Format-Table'
    Invoke-Shown 'Get-GridWorkload | Group-Object Owner -NoElement | Format-Table Name, Count'

    Show-Step 'Bulk stop and start of every workload in ams-1 (progress is shown when interactive)'
    # Stop/Start write nothing unless -PassThru: with it, the table is what the command itself returns.
    Invoke-Shown 'Get-GridWorkload -Datacenter ams-1 | Stop-GridWorkload -PassThru -Confirm:$false | Format-Table Name, Host, State, NativeState'
    Invoke-Shown 'Get-GridWorkload -Datacenter ams-1 | Start-GridWorkload -PassThru -Confirm:$false | Format-Table Name, Host, State, NativeState'

    Show-Step 'A live move between two hosts of ams-1'
    Invoke-Shown 'Get-GridWorkload -Datacenter ams-1 -Name web-01 | Format-Table Name, Host, State'
    $web = Get-GridWorkload -Datacenter ams-1 -Name web-01
    $destination = Get-GridHost -Datacenter ams-1 | Where-Object Name -ne $web.Host | Select-Object -First 1
    Invoke-Shown "Get-GridWorkload -Datacenter ams-1 -Name web-01 | Move-GridWorkload -DestinationHost $($destination.Name) -PassThru -Confirm:`$false | Format-Table Name, Host, State"

    Show-Step 'One grid across two companies: Fabrikam lends its Dublin capacity to Contoso; 30 workloads placed by a pool'
    Invoke-Shown "New-GridAgreement -Owner Fabrikam -Consumer Contoso -Datacenter 'dub-*' -MaxCpu 24 -MaxWorkloads 20 -PricePerCpuHour 0.01 -PricePerGBHour 0.001 -Confirm:`$false"
    Invoke-Shown "New-GridPool -Name eu -Datacenter 'ams-*', 'fra-*', 'dub-*', 'sea-*' -Confirm:`$false"
    # 30 specs, planned together (largest first): Cheapest puts them where Contoso pays least, within the agreement's quota.
    $specs = "1..30 | ForEach-Object { [pscustomobject]@{ Name = 'job-{0:d2}' -f `$_; Size = ('sim.small', 'sim.medium', 'sim.large')[`$_ % 3]; Owner = 'Contoso' } }"
    Invoke-Shown "$specs | Get-GridPlacement -Pool eu -Placement Cheapest | Sort-Object Name | Format-Table Name, Size, Datacenter, Host, Price, Reason -Wrap"
    Invoke-Shown "$specs | New-GridWorkload -Pool eu -Placement Cheapest -Image ubuntu-22.04 -Confirm:`$false | Group-Object Datacenter, Owner -NoElement | Format-Table Name, Count"
    Invoke-Shown "Get-GridAgreement | Format-Table"
    # A company without an agreement is refused before anything is journaled.
    Invoke-Shown "try { New-GridWorkload -Name tailspin-01 -Datacenter dub-1 -Size sim.small -Owner Tailspin -Confirm:`$false -ErrorAction Stop } catch { 'Refused: ' + `$_.FullyQualifiedErrorId.Split(',')[0] + ' - ' + `$_.Exception.Message }"

    Show-Step 'The operations journal: every change, with its state'
    Invoke-Shown 'Get-GridOperation -Last 20 | Format-Table Kind, Datacenter, TargetName, State, Duration -AutoSize'
    Invoke-Shown 'Get-GridOperation -Target web-01'
    Show-Step 'A day of simulated time, and who owes whom'
    # The simulator's clock is a setting of its datacenter: connecting it again with -Clock moves it. Every change and
    # observation in that datacenter is dated by it, so the ledger below holds a whole day played in a few seconds.
    function Set-DayClock([string] $Time) { $null = Connect-GridDatacenter -Provider Simulator -Name day-1 -Owner Fabrikam -Site Dublin -Clock "2026-11-02T$($Time)Z" }
    Set-DayClock '00:00:00'
    Invoke-Shown 'Set-GridRateCard -Owner Fabrikam -PricePerCpuHour 0.04 -PricePerGBHour 0.005 -EffectiveFrom 2026-11-01 -Confirm:$false'
    # Contoso uses Fabrikam's capacity under an agreement, at the agreed price (the rate card prices Fabrikam's own use).
    Invoke-Shown "New-GridAgreement -Owner Fabrikam -Consumer Contoso -Datacenter day-1 -PricePerCpuHour 0.03 -PricePerGBHour 0.004 -Start 2026-11-01 -Confirm:`$false | Out-Null"
    Write-Host '00:00  Contoso runs a batch server and Fabrikam its own database in day-1 (owned by Fabrikam)'
    $batch = New-GridWorkload -Name batch-01 -Datacenter day-1 -Cpu 8 -MemoryGB 24 -Owner Contoso -Confirm:$false
    $null = New-GridWorkload -Name db-01 -Datacenter day-1 -Cpu 4 -MemoryGB 12 -Confirm:$false
    Set-DayClock '08:00:00'
    Write-Host '08:00  Contoso adds two web servers'
    $webs = foreach ($n in 'web-01', 'web-02') { New-GridWorkload -Name $n -Datacenter day-1 -Cpu 2 -MemoryGB 3 -Owner Contoso -Confirm:$false }
    Set-DayClock '12:00:00'
    Write-Host '12:00  the batch is done: batch-01 is stopped'
    $batch | Stop-GridWorkload -Confirm:$false
    Set-DayClock '18:00:00'
    Write-Host '18:00  the web servers are stopped for the night'
    $webs | Stop-GridWorkload -Confirm:$false
    Set-DayClock '23:59:59'
    Invoke-Shown 'Update-GridUsage -Datacenter day-1 -Confirm:$false | Format-Table'
    Invoke-Shown "Get-GridUsage -Datacenter day-1 -From 2026-11-02 -To 2026-11-03 -GroupBy Owner, Consumer | Format-Table Owner, Consumer, VCpuHours, GBHours, BilledHours, Cost, Currency"

    Write-Host ''
    Write-Host "Demo done. Nothing outside $(Split-Path $env:GRIDAUTOMATION_STATE) was touched." -ForegroundColor Green
}
finally {
    if ($temp) {
        Remove-Module GridAutomation -ErrorAction SilentlyContinue
        Remove-Item $temp -Recurse -Force -ErrorAction SilentlyContinue
    }
}
