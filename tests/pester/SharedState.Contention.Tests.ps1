# Issue 12: clients that share one store, each with its own client id (GRIDAUTOMATION_CLIENT_ID), on PostgreSQL and
# on SQLite.
# - 4 pwsh processes contend for the same 200 creates (the same names, each process in its own order): each name is
#   created exactly once, checked in the simulated server's own table (it allows duplicate names, so a double create
#   would show as two rows) and in the journal; every other attempt is refused with WorkloadNameExists.
# - A lease holder killed with kill -9: another client's Resume-GridOperation is refused while the dead one's lease
#   (heartbeat) is younger than the lease timeout (shortened to 10 s here), and takes over after it. Nothing takes over
#   by itself.
# - A lease holder frozen (SIGSTOP) past the timeout, taken over by Resume, then let go (SIGCONT): its late result is
#   refused with LeaseLost and the journal keeps the resumer's.
# PostgreSQL: a fresh PostgreSQL 15 cluster for this file (tests/GridAutomation.Core.Tests/setup.sh installs it).

BeforeDiscovery {
    $script:backends = @(@{ Backend = 'PostgreSql' }, @{ Backend = 'Sqlite' })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name contention
    . (Join-Path $PSScriptRoot 'PostgresTestCluster.ps1')
    $script:pg = if (-not (Get-PgTestPrerequisiteProblem)) { Start-PgTestCluster -Root $script:dir }
    $script:sqlitePath = $env:GRIDAUTOMATION_STATE

    # Points this process (and the children it starts, which inherit the environment) at one backend's store.
    function Use-Backend([string] $Backend, [string] $ClientId) {
        if ($Backend -eq 'PostgreSql') {
            if (-not $script:pg) {
                $why = 'Prerequisite missing: ' + (Get-PgTestPrerequisiteProblem)
                if (Test-RequireAll) { throw $why }
                Set-ItResult -Skipped -Because $why
                return $false
            }
            $env:GRIDAUTOMATION_STATE_STORE = 'PostgreSql'
            $env:GRIDAUTOMATION_STATE_CONNECTION = $script:pg.ConnectionString
            $env:PGPASSWORD = $script:pg.Password
        }
        else {
            Remove-Item Env:GRIDAUTOMATION_STATE_STORE, Env:GRIDAUTOMATION_STATE_CONNECTION, Env:PGPASSWORD -ErrorAction SilentlyContinue
            $env:GRIDAUTOMATION_STATE = $script:sqlitePath
        }
        $env:GRIDAUTOMATION_LEASE_TIMEOUT = '10'
        $env:GRIDAUTOMATION_CLIENT_ID = $ClientId
        Reset-GridEngine
        $true
    }

    # The simulated server's own rows: how many workloads of each name it holds.
    function Get-SimNameCounts([string] $Datacenter) {
        $rows = @(Get-GridWorkload -Datacenter $Datacenter)
        $h = @{}; foreach ($w in $rows) { $h[$w.Name] = 1 + [int]$h[$w.Name] }
        $h
    }

    # Starts a child pwsh whose output lines go to a file; returns the process and the file.
    function Start-Client([string] $Name, [string] $Script) {
        $out = Join-Path $script:dir "$Name-$([guid]::NewGuid().ToString('N').Substring(0, 6)).txt"
        $p = Start-ChildPwsh -Script "& { $Script } *>&1 | ForEach-Object { `"`$_`" } | Set-Content -Path '$out'"
        [pscustomobject]@{ Process = $p; Out = $out }
    }

    function Wait-Client($Client, [int] $Seconds = 300) {
        if (-not $Client.Process.WaitForExit($Seconds * 1000)) { $Client.Process.Kill($true); throw "client did not finish in $Seconds s" }
        if (Test-Path $Client.Out) { @(Get-Content $Client.Out) } else { @() }
    }

    # A datacenter with one running workload, and a child client (its own client id) stopping it over a slow connection
    # (each simulated call and transition takes 4 s), so the stop stays in flight. Returns the client and its operation.
    function Start-SlowStop([string] $Datacenter, [string] $Workload, [string] $ClientId) {
        New-SimDatacenter -Name $Datacenter -Parameters @{ Hosts = 2 } | Out-Null
        $create = Get-SimCreateArgs -Datacenter $Datacenter
        New-GridWorkload -Name $Workload @create -Confirm:$false | Out-Null
        $env:GA_DC = $Datacenter; $env:GA_WL = $Workload
        $env:GRIDAUTOMATION_CLIENT_ID = $ClientId
        $client = Start-Client $ClientId @'
Connect-GridDatacenter -Name $env:GA_DC -Provider Simulator -LatencyMs 4000 -Confirm:$false | Out-Null
try { Stop-GridWorkload -Name $env:GA_WL -Datacenter $env:GA_DC -Confirm:$false -ErrorAction Stop | Out-Null; 'LATE-RESULT-RECORDED' }
catch { "LATE-ERROR $($_.FullyQualifiedErrorId) :: $($_.Exception.Message)" }
'@
        $env:GRIDAUTOMATION_CLIENT_ID = 'runner-resume'
        $op = Wait-RunningBy $Datacenter $ClientId 'Stop'
        [pscustomobject]@{ Client = $client; Operation = $op }
    }

    # Waits until the journal shows an operation of the datacenter Running under the given client id.
    function Wait-RunningBy([string] $Datacenter, [string] $ClientId, [string] $Kind) {
        $script:found = $null
        Wait-Until -TimeoutSeconds 120 -Because "a $Kind in '$Datacenter' running under client $ClientId" -Condition {
            $script:found = Get-GridOperation -Datacenter $Datacenter -Kind $Kind | Where-Object { $_.State -eq 'Running' -and $_.LeaseClientId -eq $ClientId } | Select-Object -First 1
            $null -ne $script:found
        }
        $script:found
    }
}

AfterAll {
    Remove-Item Env:GRIDAUTOMATION_STATE_STORE, Env:GRIDAUTOMATION_STATE_CONNECTION, Env:PGPASSWORD, Env:GRIDAUTOMATION_LEASE_TIMEOUT, Env:GRIDAUTOMATION_CLIENT_ID, Env:GA_* -ErrorAction SilentlyContinue
    Reset-GridEngine
    Stop-PgTestCluster $script:pg
    Remove-GridTestDirectory $script:dir
}

Describe 'Clients sharing one store (<Backend>)' -ForEach $script:backends {
    It '4 clients contend for the same 200 creates: each is done exactly once' {
        if (-not (Use-Backend $Backend 'runner-setup')) { return }
        $dc = "race-$($Backend.ToLowerInvariant())"
        New-SimDatacenter -Name $dc -Parameters @{ Hosts = 4; HostCpu = 4096; HostMemoryGB = 65536 } | Out-Null
        $create = Get-SimCreateArgs -Datacenter $dc
        $env:GA_DC = $dc; $env:GA_SIZE = $create.Size; $env:GA_IMAGE = $create.Image
        $worker = @'
$names = @(0..199 | ForEach-Object { 'race-{0:d3}' -f $_ })
$rng = [Random]::new([int]$env:GA_SEED)
$names = @($names | Sort-Object { $rng.Next() })
foreach ($n in $names) {
    try { New-GridWorkload -Name $n -Datacenter $env:GA_DC -Size $env:GA_SIZE -Image $env:GA_IMAGE -Confirm:$false -ErrorAction Stop | Out-Null; "MADE $n" }
    catch { "REFUSED $n $($_.FullyQualifiedErrorId)" }
}
'@
        $clients = foreach ($i in 1..4) {
            $env:GRIDAUTOMATION_CLIENT_ID = "runner-$i"; $env:GA_SEED = "$i"
            Start-Client "race-$i" $worker
        }
        $env:GRIDAUTOMATION_CLIENT_ID = 'runner-setup'
        $lines = @(foreach ($c in $clients) { Wait-Client $c })
        $made = @($lines | Where-Object { $_ -like 'MADE *' } | ForEach-Object { ($_ -split ' ')[1] })
        $refused = @($lines | Where-Object { $_ -like 'REFUSED *' })
        # A refused create ends its command (-ErrorAction Stop), which says so in one warning line each.
        $stopped = @($lines | Where-Object { $_ -like 'New-GridWorkload was stopped: 0 done, *' })
        $other = @($lines | Where-Object { $_ -notlike 'MADE *' -and $_ -notlike 'REFUSED *' -and $_ -notlike 'New-GridWorkload was stopped: 0 done, *' })
        Write-Host "$Backend : $($made.Count) made, $($refused.Count) refused by 4 clients"
        $other | Should -BeNullOrEmpty
        $made.Count | Should -Be 200 -Because (($lines | Select-Object -First 10) -join "`n")
        @($made | Sort-Object -Unique).Count | Should -Be 200
        $refused.Count | Should -Be 600
        $stopped.Count | Should -BeLessOrEqual 600
        # SQLite on a loaded machine: a writer may wait past the 30 s busy timeout; that refusal (StateStoreLocked,
        # transient) is before anything was journaled or created, and the name is still made once by another client.
        $allowed = if ($Backend -eq 'Sqlite') { 'WorkloadNameExists|StateStoreLocked' } else { 'WorkloadNameExists' }
        foreach ($r in $refused) { $r | Should -Match "^REFUSED race-\d{3} ($allowed)," }
        # The server's truth: one workload per name (the simulator would keep a duplicate).
        $counts = Get-SimNameCounts $dc
        $counts.Count | Should -Be 200
        @($counts.Values | Where-Object { $_ -ne 1 }) | Should -BeNullOrEmpty
        # The journal's: 200 succeeded creates, one per name, each under the client that made it; none left running.
        $ops = @(Get-GridOperation -Datacenter $dc -Kind Create)
        $ok = @($ops | Where-Object State -eq 'Succeeded')
        $ok.Count | Should -Be 200
        @($ok | ForEach-Object TargetName | Sort-Object -Unique).Count | Should -Be 200
        @($ok | Where-Object { $_.LeaseClientId -notmatch '^runner-[1-4]$' }) | Should -BeNullOrEmpty
        @($ok | ForEach-Object LeaseClientId | Sort-Object -Unique).Count | Should -BeGreaterThan 1 -Because 'the clients really contended'
        @($ops | Where-Object State -in 'Running', 'Interrupted').Count | Should -Be 0
    }

    It 'a killed lease holder: Resume from another client is refused until its lease times out, then takes over' {
        if (-not (Use-Backend $Backend 'runner-resume')) { return }
        $dc = "kill-$($Backend.ToLowerInvariant())"
        $started = Start-SlowStop $dc 'victim' 'runner-dead'
        $slow = $started.Client; $op = $started.Operation
        kill -9 $slow.Process.Id
        $slow.Process.WaitForExit(10000) | Out-Null
        # The registration kept the child's latency: this client connects without it.
        Connect-GridDatacenter -Provider Simulator -Name $dc -LatencyMs 0 -Confirm:$false | Out-Null
        # Same machine, but another client: its lease lives by its heartbeat until the timeout. No takeover yet.
        $err = $null
        try { Resume-GridOperation -Id $op.Id -Confirm:$false -ErrorAction Stop | Out-Null } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty -Because 'the dead holder''s lease has not timed out yet'
        $err.FullyQualifiedErrorId | Should -BeLike 'OperationStillRunning*'
        "$err" | Should -Match 'client runner-dead'
        (Get-GridOperation -Id $op.Id).LeaseClientId | Should -Be 'runner-dead'
        # After the lease timeout it reads Interrupted (nobody took it over by reading), and Resume takes it over.
        Wait-Until -TimeoutSeconds 30 -Because 'the dead lease to time out' -Condition { (Get-GridOperation -Id $op.Id).State -eq 'Interrupted' }
        (Get-GridOperation -Id $op.Id).LeaseClientId | Should -Be 'runner-dead'
        $r = Resume-GridOperation -Id $op.Id -Confirm:$false
        $done = Get-GridOperation -Id $op.Id
        $done.State | Should -Be 'Succeeded'
        $done.LeaseClientId | Should -Be 'runner-resume'
        (Get-GridWorkload -Name victim -Datacenter $dc).State | Should -Be 'Stopped'
    }

    It 'a frozen lease holder taken over by Resume: its late writes are refused (LeaseLost)' {
        if (-not (Use-Backend $Backend 'runner-resume')) { return }
        $dc = "late-$($Backend.ToLowerInvariant())"
        $started = Start-SlowStop $dc 'sleeper' 'runner-late'
        $late = $started.Client; $op = $started.Operation
        kill -STOP $late.Process.Id
        Connect-GridDatacenter -Provider Simulator -Name $dc -LatencyMs 0 -Confirm:$false | Out-Null
        try {
            Wait-Until -TimeoutSeconds 30 -Because 'the frozen lease to time out' -Condition { (Get-GridOperation -Id $op.Id).State -eq 'Interrupted' }
            Resume-GridOperation -Id $op.Id -Confirm:$false | Out-Null
            $resumed = Get-GridOperation -Id $op.Id
            $resumed.State | Should -Be 'Succeeded'
            $resumed.LeaseClientId | Should -Be 'runner-resume'
            $resumed.FencingToken | Should -BeGreaterThan $op.FencingToken
        }
        finally { kill -CONT $late.Process.Id }
        $lines = Wait-Client $late 120
        ($lines -join "`n") | Should -Match 'LATE-ERROR LeaseLost,' -Because ($lines -join "`n")
        ($lines -join "`n") | Should -Not -Match 'LATE-RESULT-RECORDED'
        $after = Get-GridOperation -Id $op.Id
        $after.State | Should -Be 'Succeeded'
        $after.LeaseClientId | Should -Be 'runner-resume'
        $after.FencingToken | Should -Be $resumed.FencingToken
    }
}
