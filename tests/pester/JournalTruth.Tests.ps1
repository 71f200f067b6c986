# Issue 9: the journal tells the truth under concurrency and cancellation.
# Tags merge, names are unique per datacenter on create (also across processes), a stopped bulk change records what
# the simulator really did (Cancelled / Interrupted / Succeeded) and says so, and Resume -BatchId finishes it.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name journal
    $script:modulePath = Get-GridModulePath
    New-SimDatacenter -Name lu -Parameters @{ Hosts = 3; Workloads = 4 } | Out-Null

    # Runs $Script in $Count child processes that all start their work at the same moment; returns their output lines.
    # Each child, once started (module imported), says so with a file and waits for the go file; when every child is
    # ready the test writes that file with a start time 500 ms ahead, and all begin at that tick. (It was a start time
    # fixed 25 s ahead, waited out in full even when the children were ready in a few seconds.)
    function Invoke-Racing([int] $Count, [string] $Script) {
        $tag = [guid]::NewGuid().ToString('N').Substring(0, 6)
        $go = Join-Path $script:dir "go-$tag.txt"
        $procs = foreach ($i in 1..$Count) {
            $out = Join-Path $script:dir "race-$i-$tag.txt"
            $ready = Join-Path $script:dir "ready-$i-$tag"
            $body = "New-Item -ItemType File -Path '$ready' | Out-Null`n" +
                "while (-not (Test-Path '$go')) { Start-Sleep -Milliseconds 10 }`n" +
                "`$t = [long](Get-Content -Raw '$go'); while ([DateTime]::UtcNow.Ticks -lt `$t) { Start-Sleep -Milliseconds 5 }`n" + $Script
            $p = Start-ChildPwsh -Script "`$ErrorActionPreference = 'Continue'`n& { $body } *>&1 | ForEach-Object { `"`$_`" } | Set-Content -Path '$out'"
            [pscustomobject]@{ Process = $p; Out = $out; Ready = $ready }
        }
        $deadline = [DateTime]::UtcNow.AddSeconds(120)
        while (@($procs | Where-Object { -not (Test-Path $_.Ready) -and -not $_.Process.HasExited }).Count -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
        @($procs | Where-Object { -not (Test-Path $_.Ready) }).Count | Should -Be 0 -Because 'every racing child started'
        # Written aside and renamed, so no child reads half a number.
        Set-Content -Path "$go.tmp" -Value ([DateTime]::UtcNow.AddMilliseconds(500).Ticks) -NoNewline
        Move-Item "$go.tmp" $go
        foreach ($x in $procs) { if (-not $x.Process.WaitForExit(120000)) { $x.Process.Kill($true) } }
        foreach ($x in $procs) { if (Test-Path $x.Out) { Get-Content $x.Out } }
    }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Set-GridWorkload -Tag merges' {
    It 'a stale object never reverts a newer tag (only the named keys are sent)' {
        $w = Get-GridWorkload -Datacenter lu | Select-Object -First 1
        Set-GridWorkload -Id $w.Id -Tag @{ env = 'test' } -Confirm:$false
        $stale = Get-GridWorkload -Id $w.Id
        Set-GridWorkload -Id $stale.Id -Tag @{ env = 'prod' } -Confirm:$false
        $stale | Set-GridWorkload -Tag @{ team = 'bob' } -Confirm:$false   # (not 'owner': that tag is reserved for -Owner)
        $now = Get-GridWorkload -Id $w.Id
        $now.Tags['env'] | Should -Be 'prod'
        $now.Tags['team'] | Should -Be 'bob'
        $op = Get-GridOperation -Kind SetTags | Select-Object -Last 1
        $op.Request | Should -Match 'team'
        $op.Request | Should -Not -Match 'env' -Because 'the journal records the change, not the stale object'
    }
}

Describe 'Names are unique per datacenter on create' {
    BeforeAll { New-SimDatacenter -Name race -Parameters @{ Hosts = 2; LatencyMs = 200 } | Out-Null }

    It '8 concurrent creates of one name across 4 processes make one workload; the others are WorkloadNameExists' {
        $lines = Invoke-Racing -Count 4 -Script @"
1..2 | ForEach-Object -ThrottleLimit 2 -Parallel {
    Import-Module '$($script:modulePath)' -WarningAction SilentlyContinue
    try { `$w = New-GridWorkload -Name race-01 -Datacenter race -NoStart -Confirm:`$false -ErrorAction Stop; "OK `$(`$w.Id)" }
    catch { "ERR `$(`$_.FullyQualifiedErrorId) `$(`$_.CategoryInfo.Category)" }
}
"@
        $ok = @($lines | Where-Object { $_ -like 'OK *' })
        $err = @($lines | Where-Object { $_ -like 'ERR *' })
        $ok.Count | Should -Be 1 -Because ($lines -join "`n")
        $err.Count | Should -Be 7 -Because ($lines -join "`n")
        foreach ($e in $err) { $e | Should -Match '^ERR WorkloadNameExists,.* ResourceExists$' }
        @(Get-GridWorkload -Name race-01 -Datacenter race).Count | Should -Be 1
    }

    It 'a re-run of the create is WorkloadNameExists naming the existing id' {
        $existing = Get-GridWorkload -Name race-01 -Datacenter race
        New-GridWorkload -Name race-01 -Datacenter race -NoStart -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNameExists,*'
        $ev[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        $ev[0].Exception.Message | Should -Match ([regex]::Escape($existing.Id))
        @(Get-GridWorkload -Name race-01 -Datacenter race).Count | Should -Be 1
    }

    It 'the same -IdempotencyKey returns the same workload, also from 4 processes at once' {
        $lines = Invoke-Racing -Count 4 -Script @"
for (`$i = 0; `$i -lt 5; `$i++) {
    try { `$w = New-GridWorkload -Name keyed-01 -Datacenter race -NoStart -IdempotencyKey race-key-1 -Confirm:`$false -ErrorAction Stop; "OK `$(`$w.Id)"; break }
    catch { "ERR `$(`$_.FullyQualifiedErrorId)"; Start-Sleep -Milliseconds 700 }
}
"@
        $ids = @($lines | Where-Object { $_ -like 'OK *' } | ForEach-Object { $_.Substring(3) } | Sort-Object -Unique)
        $ids.Count | Should -Be 1 -Because ($lines -join "`n")
        foreach ($e in @($lines | Where-Object { $_ -like 'ERR *' })) { $e | Should -Match '^ERR (OperationStillRunning|WorkloadNameExists),' }
        (New-GridWorkload -Name keyed-01 -Datacenter race -NoStart -IdempotencyKey race-key-1 -Confirm:$false).Id | Should -Be $ids[0]
        @(Get-GridWorkload -Name keyed-01 -Datacenter race).Count | Should -Be 1
    }

    It 'the same name twice in one call is refused once; -AllowDuplicateName (simulator) allows it' {
        $made = New-GridWorkload -Name twin, twin -Datacenter lu -NoStart -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        @($made).Count | Should -Be 1
        @($ev).Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNameExists,*'
        New-GridWorkload -Name twin -Datacenter lu -NoStart -AllowDuplicateName -Confirm:$false | Should -Not -BeNullOrEmpty
        @(Get-GridWorkload -Name twin -Datacenter lu).Count | Should -Be 2
    }
}

Describe 'Cancellation is recorded as what happened' {
    BeforeAll {
        New-SimDatacenter -Name cx -Parameters @{ Hosts = 4; HostCpu = 256; HostMemoryGB = 4096; Workloads = 50 } | Out-Null
        Start-GridWorkload -Name * -Datacenter cx -Confirm:$false
        $script:rng = [Random]::new(9)
        $script:runs = [Collections.Generic.List[object]]::new()

        # Checks one stopped batch against what the simulator reports for every workload, then resumes it.
        function Assert-BatchTruth([guid] $Batch, [string] $Mode) {
            Connect-GridDatacenter -Provider Simulator -Name cx -LatencyMs 0 -Confirm:$false | Out-Null
            Start-Sleep -Milliseconds 800 # a transition the simulated server started finishes on its own
            $ops = @(Get-GridOperation -Datacenter cx -Kind Stop | Where-Object BatchId -eq $Batch)
            $byId = @{}; foreach ($w in Get-GridWorkload -Datacenter cx) { $byId[$w.Id] = $w }
            $byId.Count | Should -Be 50
            foreach ($o in $ops) {
                $o.State | Should -BeIn @('Succeeded', 'Cancelled', 'Interrupted') -Because "$Mode : $($o.Target) $($o.State) $($o.ErrorId) $($o.Error)"
                switch ($o.State) {
                    'Succeeded' { $byId[$o.Target].State | Should -Be 'Stopped' -Because "$Mode : a Succeeded stop left $($o.Target) stopped" }
                    'Cancelled' { $byId[$o.Target].State | Should -Be 'Running' -Because "$Mode : a Cancelled stop never reached the simulator" }
                }
            }
            # Nothing changed without a journal record.
            $recorded = @($ops | Where-Object State -in 'Succeeded', 'Interrupted' | ForEach-Object Target)
            foreach ($w in $byId.Values) {
                if ($w.State -ne 'Running') { $recorded | Should -Contain $w.Id -Because "$Mode : $($w.Name) is $($w.State) but no stop of it is recorded" }
            }
            $interrupted = @($ops | Where-Object State -eq 'Interrupted')
            Resume-GridOperation -BatchId $Batch -Confirm:$false
            foreach ($o in $interrupted) {
                (Get-GridOperation -Id $o.Id).State | Should -Be 'Succeeded'
                (Get-GridWorkload -Id $o.Target).State | Should -Be 'Stopped'
            }
            $script:runs.Add([pscustomobject]@{ Mode = $Mode; Done = @($ops | Where-Object State -eq 'Succeeded').Count; Cancelled = 50 - @($ops | Where-Object State -ne 'Cancelled').Count; Interrupted = $interrupted.Count })
            Start-GridWorkload -Name * -Datacenter cx -Confirm:$false
            @(Get-GridWorkload -Datacenter cx -State Running).Count | Should -Be 50
        }

        function Get-BatchFromWarning([string[]] $Warnings) {
            $m = @($Warnings | Where-Object { $_ -match 'was stopped: \d+ done, \d+ cancelled, \d+ interrupted .* Resume-GridOperation -BatchId ([0-9a-f-]{36})' })
            $m.Count | Should -Be 1 -Because "one warning says what was left: $($Warnings -join ' | ')"
            $null = $m[0] -match '-BatchId ([0-9a-f-]{36})'
            [guid]$Matches[1]
        }
    }

    It 'Ctrl+C, Stop-Job and Select -First at random points of a 50-workload stop: journal = simulator, Resume -BatchId finishes (<runs> runs)' -TestCases @(@{ runs = 18 }) {
        for ($run = 0; $run -lt $runs; $run++) {
            $mode = @('CtrlC', 'StopJob', 'SelectFirst')[$run % 3]
            $delay = $script:rng.Next(300, 2500)
            switch ($mode) {
                'CtrlC' {
                    $rs = [runspacefactory]::CreateRunspace(); $rs.Open()
                    $ps = [powershell]::Create(); $ps.Runspace = $rs
                    try {
                        $null = $ps.AddScript(@"
Import-Module '$($script:modulePath)' -WarningAction SilentlyContinue
Connect-GridDatacenter -Provider Simulator -Name cx -LatencyMs 150 -Confirm:`$false | Out-Null
Stop-GridWorkload -Name * -Datacenter cx -Confirm:`$false
"@)
                        $async = $ps.BeginInvoke()
                        Start-Sleep -Milliseconds $delay
                        $ps.Stop()
                        $ps.Streams.Warning.Count | Should -Be 0 -Because 'PowerShell takes no output after Ctrl+C'
                        # The next GridAutomation command of that session says it, once.
                        $ps.Commands.Clear(); $null = $ps.AddScript('Get-GridDatacenter -Name cx | Out-Null'); $null = $ps.Invoke()
                        $first = @($ps.Streams.Warning | ForEach-Object Message)
                        $ps.Streams.Warning.Clear(); $null = $ps.Invoke()
                        $ps.Streams.Warning.Count | Should -Be 0 -Because 'the notice is given once'
                        $batch = Get-BatchFromWarning $first
                    }
                    finally { $ps.Dispose(); $rs.Dispose() }
                }
                'StopJob' {
                    Connect-GridDatacenter -Provider Simulator -Name cx -LatencyMs 150 -Confirm:$false | Out-Null
                    $job = Stop-GridWorkload -Name * -Datacenter cx -AsJob -Confirm:$false
                    Start-Sleep -Milliseconds $delay
                    Stop-Job $job
                    $job.State | Should -Be 'Stopped'
                    $warnings = @($job | Receive-Job -Keep 3>&1 2>$null | Where-Object { $_ -is [Management.Automation.WarningRecord] } | ForEach-Object Message)
                    $batch = Get-BatchFromWarning $warnings
                    Remove-Job $job -Force
                }
                'SelectFirst' {
                    Connect-GridDatacenter -Provider Simulator -Name cx -LatencyMs 150 -Confirm:$false | Out-Null
                    $n = 1 + ($delay % 8)
                    $got = @(Stop-GridWorkload -Name * -Datacenter cx -PassThru -Confirm:$false -WarningVariable wv -WarningAction SilentlyContinue | Select-Object -First $n)
                    $got.Count | Should -Be $n
                    $null = Get-GridDatacenter -Name cx -WarningVariable wv2 -WarningAction SilentlyContinue
                    $batch = Get-BatchFromWarning (@($wv) + @($wv2) | ForEach-Object { "$_" })
                }
            }
            Assert-BatchTruth -Batch $batch -Mode "$mode run $run after $delay ms"
        }
        $script:runs | Format-Table | Out-String | Write-Host
        ($script:runs | Measure-Object Interrupted -Sum).Sum + ($script:runs | Measure-Object Cancelled -Sum).Sum | Should -BeGreaterThan 0 -Because 'the runs did stop work in flight'
    }
}
