<#
.SYNOPSIS
    The usage ledger at scale. Prints figures; not a test.
    1. Get-GridUsage over a month of 10,000 workloads with hourly state changes (7.2 million intervals): goal < 2 s,
       shown with the ratio to its peer, one SQL aggregate over the same table on the same connection type.
    2. Update-GridUsage over 100,000 simulated workloads against a plain listing of them (@(Get-GridWorkload).Count):
       goal <= 1.5x. The first observation (opening 100,000 intervals) is shown apart; the steady state (nothing
       changed) and a run after 1,000 changes made outside the module are compared with the listing.

.NOTES
    2026-12-07 (issue-1516, daily roll-ups + light Update compare), 2 cores shared with other runs (load ~50), -Runs 1:
      Get-GridUsage over the month: 2.15 s (was 63 s), 0.03x the one-SQL-aggregate-over-intervals peer (66.9 s
      in the same run) - the goal < 2 s missed by 0.15 s under that load.
      Update-GridUsage, nothing changed: 3.80 s vs listing 2.31 s = 1.64x (was 2.25x) - NOT MET (goal <= 1.5x);
      after outside changes 1.97x.

    2026-12-07 (issue-16, batched observation writes, covering index of open intervals, usage_daily_totals), load ~50
    on 2 shared cores. The full script could not finish here in the time left (seeding 7.2 million intervals had not
    ended after 19 minutes under that load), so these come from the same steps run apart, each with its peer in the run:
      Update-GridUsage over 100,000 simulated workloads, nothing changed: 11.06 / 10.99 / 4.51 s vs listing
      8.35 / 8.77 / 8.53 s = 1.32x / 1.25x / 0.53x, median 1.25x - MET (goal <= 1.5x). Where it went (-Verbose):
      listing 2.8-7.4 s, ledger read 0.9-2.9 s, compare 0.5-1.4 s, writes 0, commit 0. After outside changes (19 that
      run): 5.57 s = 0.65x the listing (writes 33 ms, commit 14 ms). The first observation (opening 100,000 intervals)
      took 481 s, 461 s of it writes: SQLite binds parameters by a linear name lookup, and 200-row statements carry
      4,400; SQLite now gets 16 rows per statement (PostgreSQL 200). After that change, at 20,000 workloads (same
      load): first observation 39 s (writes 32 s: still ~1.6 ms per opened interval - NOT fixed, see below);
      nothing changed 3.67 / 2.53 / 3.10 s vs listing 2.69 / 1.81 / 1.93 s = 1.37x / 1.40x / 1.61x, median 1.40x.
      Get-GridUsage over the month of 10,000 workloads (roll-ups of 300,000 workload-days seeded as the closes leave
      them, the intervals not seeded - the report reads none for whole days): -GroupBy Owner, Consumer 0.011 /
      0.004 / 0.004 s, -GroupBy Day 0.024 / 0.039 / 0.025 s - MET (goal < 2 s); peer in the same run, the
      schema-v2 query (GROUP BY over usage_daily): 8.42 / 4.05 / 4.41 s. usage_daily_totals is what removed it.
      Left open: what the first observation spends per opened interval (price resolution per workload is suspected).

    2026-12-07 08:14-08:35 UTC (branch perf: bulk seeding; opens as one JSON parameter per 2,000 rows), the whole
    script end to end with its defaults (-Runs 3), SQLite, load 30-55 on 2 shared cores:
      seeding: 7,200,000 intervals in 378 s (did not end in 20 min before), daily roll-ups (300,000 rows) in 312 s.
      Get-GridUsage -GroupBy Owner, Consumer over the month: median 0.006 s - MET (goal < 2 s); total 4,800,000 billed
        hours, 480,000.00 USD; peer (one SQL aggregate over the 7.2 million intervals) median 55.3 s in the same run.
      first Update-GridUsage over 100,000 simulated workloads (opens 100,000 intervals): 18.2 s (was 481 s).
      Update-GridUsage, nothing changed (16-row statements for closes, JSON opens): 9.107 / 8.347 / 10.108 s vs listing
        5.766 / 6.332 / 7.786 s = 1.58x / 1.32x / 1.30x per run; medians 9.107 s / 6.332 s = 1.44x - MET (goal <= 1.5x),
        with little margin under this load. Where it goes: listing 5.7-7.7 s (the same as the plain listing), ledger
        read 1.1-2.3 s (100,000 open keys from ix_usage_open_keys), compare 0.9-1.2 s, writes 0.
      after 19 outside changes: 8.791 s, 1.39x the listing (writes 41 ms).
    Again 08:48 UTC at load ~9, part 2 only (-Workloads 10 -Hours 24, so the month is trivial; 100,000 simulated):
      first Update-GridUsage (opens 100,000 intervals): 8.5 s.
      nothing changed: 1.994 / 2.574 / 1.814 s vs listing 2.177 / 1.575 / 1.230 s (0.92x / 1.63x / 1.47x per run);
        medians 1.994 s / 1.575 s = 1.27x - MET (goal <= 1.5x): the 16-row statements re-measured (was 1.25x at 200).
      after 19 outside changes: 1.993 s, 1.27x the listing.
    Again 08:55 UTC on an idle machine (load ~1), part 2 only: first Update-GridUsage over 100,000: 4.5 s; nothing
      changed 2.346 / 1.693 / 1.870 s vs listing 1.928 / 1.595 / 1.420 s, medians 1.870 / 1.595 s = 1.17x - MET;
      after 19 outside changes 1.14x. First observation of 20,000 with main's core and this one swapped in the same
      minute (writes phase of -Verbose): 2,751 ms -> 993 ms.
    PostgreSQL: the script opens the SQLite file itself to seed, so it measures SQLite only.

.DESCRIPTION
    Works in a temporary state file (never the user's). The month of intervals is written straight into the ledger's
    table (as many recorded changes would leave it), after the ledger's schema was made by the module: one
    INSERT ... SELECT per day of the month, each its own transaction, with the two indexes of closed intervals dropped
    before and made again after with their own DDL. Each timing is the median of -Runs runs after a warm-up.
#>
param([int] $Workloads = 10000, [int] $Hours = 720, [int] $Simulated = 100000, [int] $Runs = 3)
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
$temp = Join-Path ([IO.Path]::GetTempPath()) ("ga-bench-usage-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
$null = New-Item -ItemType Directory -Force $temp
$env:GRIDAUTOMATION_STATE = Join-Path $temp 'bench.db'
$env:GRIDAUTOMATION_CONFIG = Join-Path $temp 'config.json'

function Get-Median([double[]] $Values) { $s = @($Values | Sort-Object); $s[[int][math]::Floor($s.Count / 2)] }
function Open-Sqlite {
    $asm = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Microsoft.Data.Sqlite' } | Select-Object -First 1
    $c = [Activator]::CreateInstance($asm.GetType('Microsoft.Data.Sqlite.SqliteConnection', $true), @("Data Source=$($env:GRIDAUTOMATION_STATE);Pooling=False"))
    $c.Open(); $c
}
function Invoke-Sql($c, [string] $Sql) { $cmd = $c.CreateCommand(); $cmd.CommandTimeout = 0; $cmd.CommandText = $Sql; try { $cmd.ExecuteScalar() } finally { $cmd.Dispose() } }

try {
    Import-Module (Join-Path $root 'GridAutomation.psd1')

    # ---- 1. Get-GridUsage over a month ----------------------------------------------------------------------
    $null = Set-GridRateCard -Owner Fabrikam -PricePerCpuHour 0.04 -PricePerGBHour 0.005 -Confirm:$false   # makes the ledger's tables
    [GridAutomation.Core.Engine.GridEngine]::Reset()
    $c = Open-Sqlite
    # Bulk seeding: the two indexes every closed interval goes into (start time; workload and start time) are dropped
    # and made again afterwards with their own DDL (one sort each instead of 7.2 million random inserts into B-trees
    # far larger than SQLite's page cache, which is what kept the earlier seeding from finishing), and the rows go in
    # a day (240,000 rows) per transaction in start-time order, so the write-ahead log is checkpointed as it goes.
    # The partial indexes of open intervals take no closed row. The schema afterwards is the module's own.
    $null = Invoke-Sql $c 'PRAGMA cache_size = -262144'
    $null = Invoke-Sql $c 'PRAGMA synchronous = OFF'
    $indexDdl = @()
    foreach ($ix in 'ix_usage_start', 'ix_usage_workload') {
        $indexDdl += Invoke-Sql $c "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = '$ix'"
        $null = Invoke-Sql $c "DROP INDEX $ix"
    }
    $seed = Measure-Command {
        for ($day = 0; $day -lt [math]::Ceiling($Hours / 24); $day++) {
            $h0 = $day * 24; $h1 = [math]::Min($Hours, $h0 + 24)
            Invoke-Sql $c @"
BEGIN;
WITH RECURSIVE w(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM w WHERE i + 1 < $Workloads),
               h(j) AS (SELECT $h0 UNION ALL SELECT j + 1 FROM h WHERE j + 1 < $h1)
INSERT INTO usage_intervals(workload_id, workload_name, datacenter, provider, state, native_state, start_time, end_time, cpu, memory_mb, size,
    datacenter_owner, workload_owner, billed, billing_rule, run_before_s, list_price_per_hour, price_per_hour, price_source, currency, estimated, source,
    operation_id, duration_s, billed_s)
SELECT 'dc' || (i % 4) || '/vm-' || i, 'vm-' || i, 'dc' || (i % 4), 'Simulator',
       CASE WHEN (i + j) % 3 = 0 THEN 'Stopped' ELSE 'Running' END, NULL,
       strftime('%Y-%m-%dT%H:%M:%S.0000000Z', '2026-11-01', '+' || j || ' hours'),
       strftime('%Y-%m-%dT%H:%M:%S.0000000Z', '2026-11-01', '+' || (j + 1) || ' hours'),
       2, 4096, NULL, CASE WHEN i % 4 < 2 THEN 'Fabrikam' ELSE 'Contoso' END, CASE i % 3 WHEN 0 THEN 'Contoso' WHEN 1 THEN 'Fabrikam' ELSE 'Northwind' END,
       CASE WHEN (i + j) % 3 = 0 THEN 0 ELSE 1 END, 'RateCard', 0, NULL, 0.1, 'RateCard', 'USD', 0, 'Journal', NULL,
       3600, CASE WHEN (i + j) % 3 = 0 THEN 0 ELSE 3600 END
FROM h, w ORDER BY j, i;
COMMIT;
"@
        }
        foreach ($ddl in $indexDdl) { $null = Invoke-Sql $c $ddl }
    }
    # The daily roll-ups those closes would have written (hourly intervals never cross midnight and the rate-card rule
    # bills by the second, so a day's roll-up is the plain sum of its intervals); UsageRollupTests proves the module's own.
    $rollup = Measure-Command {
        Invoke-Sql $c @"
INSERT INTO usage_daily(day, workload_id, datacenter, datacenter_owner, workload_owner, currency, duration_s, billed_s, cpu_s, mem_s, cost_s, unpriced_s, priced_n, estimated, min_start, max_end)
SELECT substr(start_time, 1, 10), workload_id, datacenter, datacenter_owner, workload_owner, currency, SUM(duration_s), SUM(billed_s), SUM(billed_s * cpu), SUM(billed_s * memory_mb),
       SUM(billed_s * price_per_hour), 0, COUNT(*), 0, MIN(start_time), MAX(end_time)
FROM usage_intervals GROUP BY substr(start_time, 1, 10), workload_id, datacenter, datacenter_owner, workload_owner, currency;
INSERT INTO usage_daily_totals(day, datacenter, datacenter_owner, workload_owner, currency, duration_s, billed_s, cpu_s, mem_s, cost_s, unpriced_s, priced_n, estimated, min_start, max_end)
SELECT day, datacenter, datacenter_owner, workload_owner, currency, SUM(duration_s), SUM(billed_s), SUM(cpu_s), SUM(mem_s), SUM(cost_s), SUM(unpriced_s), SUM(priced_n), MAX(estimated), MIN(min_start), MAX(max_end)
FROM usage_daily GROUP BY day, datacenter, datacenter_owner, workload_owner, currency;
UPDATE usage_rollup_state SET built = 1 WHERE id = 1;
"@
    }
    Write-Host ("daily roll-ups seeded ({0:n0} rows) in {1:n1} s" -f (Invoke-Sql $c 'SELECT COUNT(*) FROM usage_daily'), $rollup.TotalSeconds)
    $rows = Invoke-Sql $c 'SELECT COUNT(*) FROM usage_intervals'
    Write-Host ("ledger seeded with {0:n0} intervals ({1:n0} workloads x {2} hours) in {3:n1} s" -f $rows, $Workloads, $Hours, $seed.TotalSeconds)
    $peerSql = "SELECT datacenter_owner, workload_owner, SUM(billed_s), SUM(billed_s * cpu), SUM(billed_s * price_per_hour) FROM usage_intervals WHERE start_time >= '2026-11-01' AND end_time <= '2026-12-01' GROUP BY datacenter_owner, workload_owner"
    $null = Invoke-Sql $c $peerSql
    $null = Get-GridUsage -From 2026-11-01 -To 2026-12-01 -GroupBy Owner, Consumer   # warm-up
    $g = @(); $p = @()
    for ($i = 0; $i -lt $Runs; $i++) {
        $g += (Measure-Command { $script:u = Get-GridUsage -From 2026-11-01 -To 2026-12-01 -GroupBy Owner, Consumer }).TotalSeconds
        $p += (Measure-Command { $null = Invoke-Sql $c $peerSql }).TotalSeconds
    }
    $c.Dispose()
    $gm = Get-Median $g; $pm = Get-Median $p
    $total = $script:u | Where-Object IsTotal
    Write-Host ("Get-GridUsage -GroupBy Owner, Consumer over the month: median {0:n3} s (goal < 2 s) {1}; total {2:n0} billed hours, cost {3:n2} {4}" -f $gm, $(if ($gm -lt 2) { 'MET' } else { 'NOT MET' }), $total.BilledHours, $total.Cost, $total.Currency)
    Write-Host ("peer: one SQL aggregate of the same rows          : median {0:n3} s; ratio {1:n2}" -f $pm, ($gm / $pm))

    # ---- 2. Update-GridUsage over 100,000 workloads -------------------------------------------------------------
    $setup = Measure-Command { $null = Connect-GridDatacenter -Provider Simulator -Name bench -Owner Fabrikam -Workloads $Simulated -Hosts 100 }
    Write-Host ("simulator datacenter with {0:n0} workloads made in {1:n1} s" -f $Simulated, $setup.TotalSeconds)
    $null = @(Get-GridWorkload -Datacenter bench).Count   # warm-up
    $first = Measure-Command { $script:o = Update-GridUsage -Datacenter bench -Confirm:$false }
    Write-Host ("first Update-GridUsage (opens {0:n0} intervals)   : {1:n3} s" -f $script:o.Opened, $first.TotalSeconds)
    $list = @(); $upd = @()
    for ($i = 0; $i -lt $Runs; $i++) {
        $list += (Measure-Command { $script:n = @(Get-GridWorkload -Datacenter bench).Count }).TotalSeconds
        $upd += (Measure-Command { $script:o = Update-GridUsage -Datacenter bench -Confirm:$false -Verbose 4>&1 | Where-Object { -not ($_ -is [System.Management.Automation.VerboseRecord] -and ($script:timing = $_.Message) -like '*timings*') } }).TotalSeconds
        $script:o = @($script:o | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] })[0]
        Write-Host ("  run {0}: listing {1:n3} s, Update-GridUsage {2:n3} s ({3})" -f ($i + 1), $list[-1], $upd[-1], ($script:timing -replace '^.*timings: ', ''))
    }
    $lm = Get-Median $list; $um = Get-Median $upd
    Write-Host ("@(Get-GridWorkload -Datacenter bench).Count     : {0:n0} workloads, median {1:n3} s" -f $script:n, $lm)
    Write-Host ("Update-GridUsage, nothing changed               : median {0:n3} s; ratio {1:n2} (goal <= 1.5) {2}" -f $um, ($um / $lm), $(if ($um / $lm -le 1.5) { 'MET' } else { 'NOT MET' }))
    [GridAutomation.Core.Engine.GridEngine]::Reset()
    $c = Open-Sqlite
    $null = Invoke-Sql $c "UPDATE sim_workloads SET state = 'poweredOff', consumes = 0 WHERE datacenter = 'bench' AND seq % 100 = 0 AND state = 'poweredOn'"
    $c.Dispose()
    $changed = Measure-Command { $script:o = Update-GridUsage -Datacenter bench -Confirm:$false -Verbose 4>&1 | Where-Object { -not ($_ -is [System.Management.Automation.VerboseRecord] -and ($script:timing = $_.Message) -like '*timings*') } }
    $script:o = @($script:o | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] })[0]
    Write-Host ("  ({0})" -f ($script:timing -replace '^.*timings: ', ''))
    Write-Host ("Update-GridUsage after {0:n0} outside changes      : {1:n3} s; ratio {2:n2} to the listing" -f $script:o.Closed, $changed.TotalSeconds, ($changed.TotalSeconds / $lm))
}
finally {
    Remove-Module GridAutomation -ErrorAction SilentlyContinue
    Remove-Item $temp -Recurse -Force -ErrorAction SilentlyContinue
}
