# Issue 9: one change at a time per workload, across processes.
# 4 processes run conflicting stops, starts, moves and tag writes (from stale objects) on the same 200 workloads.
# Checked against the simulated server's own action log (sim_actions, -ActionLog), not only against the journal:
# no two actions on one workload overlap, lock refusals are WorkloadLocked, and every confirmed tag write survives
# unless a later confirmed write of the same key replaced it.
# Scaled for CI: 4 processes x 30 s (the issue asks 60 s; GRIDAUTOMATION_TEST_CONCURRENCY_SECONDS overrides).

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name concurrency
    $script:seconds = if ($env:GRIDAUTOMATION_TEST_CONCURRENCY_SECONDS) { [int]$env:GRIDAUTOMATION_TEST_CONCURRENCY_SECONDS } else { 30 }
    New-SimDatacenter -Name cc -Parameters @{ Hosts = 4; HostCpu = 4096; HostMemoryGB = 65536; Workloads = 200; LatencyMs = 20; ActionLog = $true } | Out-Null
    $script:ids = @(Get-GridWorkload -Datacenter cc | ForEach-Object Id)
    $script:hosts = @(Get-GridHost -Datacenter cc | ForEach-Object Name)

    # Overlapping actions of one workload in a server log ordered by workload, then start time.
    function Find-Overlaps($Actions) {
        $prev = $null
        foreach ($a in $Actions) {
            if ($prev -and $prev.native_id -eq $a.native_id -and [long]$a.started_ticks -lt [long]$prev.ended_ticks) {
                "$($a.native_id): $($prev.action) by $($prev.pid) until $($prev.ended_ticks) overlaps $($a.action) by $($a.pid) from $($a.started_ticks)"
            }
            $prev = $a
        }
    }

    $worker = @'
$ErrorActionPreference = 'Continue'
$me = [int]$env:GA_WORKER
$rng = [Random]::new(1000 + $me)
$ids = @(Get-GridWorkload -Datacenter cc | ForEach-Object Id)
$hosts = @(Get-GridHost -Datacenter cc | ForEach-Object Name)
$end = [DateTime]::UtcNow.AddSeconds([int]$env:GA_SECONDS)
$seq = 0
while ([DateTime]::UtcNow -lt $end) {
    # A small hot set makes the processes collide on the same workloads often.
    $pick = @(1..6 | ForEach-Object { $ids[$rng.Next(0, 40)] } | Select-Object -Unique)
    $stale = @(Get-GridWorkload -Id $pick)
    $ev = $null
    switch ($rng.Next(0, 4)) {
        0 { Stop-GridWorkload -Id $pick -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue | Out-Null; "OPS Stop $($pick.Count)" }
        1 { Start-GridWorkload -Id $pick -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue | Out-Null; "OPS Start $($pick.Count)" }
        2 { Move-GridWorkload -Id $pick -DestinationHost $hosts[$rng.Next(0, $hosts.Count)] -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue | Out-Null; "OPS Move $($pick.Count)" }
        3 {
            $seq++
            # From objects read before: a stale object must not revert what another process wrote meanwhile.
            $stale | Set-GridWorkload -Tag @{ "p$me" = "$seq"; k = "$me-$seq" } -PassThru -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue |
                ForEach-Object { "TAG $($_.Id) p$me $seq" }
            "OPS SetTags $($pick.Count)"
        }
    }
    foreach ($e in @($ev)) { if ($e) { "ERR $($e.FullyQualifiedErrorId) :: $($e.Exception.Message)" } }
}
'@
    $env:GRIDAUTOMATION_LOCK_WAIT = '1'
    $env:GA_SECONDS = "$($script:seconds)"
    $procs = foreach ($i in 1..4) {
        $env:GA_WORKER = "$i"
        $out = Join-Path $script:dir "worker-$i.txt"
        $p = Start-ChildPwsh -Script "& { $worker } *>&1 | ForEach-Object { `"`$_`" } | Set-Content -Path '$out'"
        [pscustomobject]@{ Process = $p; Out = $out }
    }
    Remove-Item Env:GA_WORKER, Env:GA_SECONDS, Env:GRIDAUTOMATION_LOCK_WAIT -ErrorAction SilentlyContinue
    foreach ($x in $procs) { if (-not $x.Process.WaitForExit(($script:seconds + 240) * 1000)) { $x.Process.Kill($true) } }
    $script:lines = @(foreach ($x in $procs) { if (Test-Path $x.Out) { Get-Content $x.Out } })
    Reset-GridEngine
    $c = Open-SqliteConnection -Path $env:GRIDAUTOMATION_STATE -NoPooling
    try { $script:actions = @(Invoke-SqliteQuery $c "SELECT native_id, action, pid, started_ticks, ended_ticks, outcome, detail FROM sim_actions WHERE datacenter = 'cc' ORDER BY native_id, started_ticks") }
    finally { $c.Dispose() }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe '4 processes, conflicting changes on the same workloads' {
    It 'the workers ran and collided' {
        $ops = @($script:lines | Where-Object { $_ -like 'OPS *' })
        Write-Host "$($ops.Count) bulk calls, $($script:actions.Count) server actions, $(@($script:lines | Where-Object { $_ -like 'ERR *' }).Count) refusals, $(@($script:lines | Where-Object { $_ -like 'TAG *' }).Count) confirmed tag writes in $($script:seconds) s"
        $ops.Count | Should -BeGreaterThan 20 -Because ($script:lines | Select-Object -First 20 | Out-String)
        $script:actions.Count | Should -BeGreaterThan 100
    }

    It 'no two actions on one workload overlap (the simulated server''s own log)' {
        foreach ($a in $script:actions) { $a.ended_ticks | Should -Not -BeNullOrEmpty -Because "every action the server received finished ($($a.native_id) $($a.action))" }
        @(Find-Overlaps $script:actions) | Should -BeNullOrEmpty
        @($script:actions | Select-Object -ExpandProperty pid -Unique).Count | Should -Be 4 -Because 'all four processes acted'
    }

    It 'the overlap check finds an overlap when there is one (the test can fail)' {
        $fake = @(
            [pscustomobject]@{ native_id = 'a'; action = 'Stop'; pid = 1; started_ticks = 100; ended_ticks = 200 }
            [pscustomobject]@{ native_id = 'a'; action = 'Start'; pid = 2; started_ticks = 150; ended_ticks = 250 }
            [pscustomobject]@{ native_id = 'b'; action = 'Move'; pid = 2; started_ticks = 160; ended_ticks = 170 })
        @(Find-Overlaps $fake).Count | Should -Be 1
    }

    It 'every refusal is WorkloadLocked, naming the holder''s operation' {
        $errs = @($script:lines | Where-Object { $_ -like 'ERR *' })
        foreach ($e in $errs) { $e | Should -Match '^ERR WorkloadLocked,.* :: .*locked by operation [0-9a-f-]{36}' }
    }

    It 'every confirmed tag write survives unless a later confirmed write of the same key replaced it' {
        $last = @{}
        foreach ($t in $script:lines | Where-Object { $_ -like 'TAG *' }) {
            $null, $id, $key, $seq = $t -split ' '
            $k = "$id|$key"
            if (-not $last.ContainsKey($k) -or [int]$seq -gt $last[$k]) { $last[$k] = [int]$seq }
        }
        $last.Count | Should -BeGreaterThan 0
        $byId = @{}; foreach ($w in Get-GridWorkload -Datacenter cc) { $byId[$w.Id] = $w }
        $lost = foreach ($k in $last.Keys) {
            $id, $key = $k -split '\|'
            $now = $byId[$id].Tags[$key]
            if ("$now" -ne "$($last[$k])") { "$id $key = '$now', last confirmed '$($last[$k])'" }
        }
        $lost | Should -BeNullOrEmpty
    }

    It 'the journal agrees: nothing left running, every change Succeeded or refused before journaling' {
        $ops = @(Get-GridOperation -Datacenter cc | Where-Object Kind -in 'Start', 'Stop', 'Move', 'SetTags')
        @($ops | Where-Object State -in 'Running', 'Interrupted').Count | Should -Be 0
        foreach ($o in $ops) { $o.State | Should -Be 'Succeeded' -Because "$($o.Kind) $($o.Target): $($o.ErrorId) $($o.Error)" }
    }
}
