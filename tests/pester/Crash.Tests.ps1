# A crash in the middle of bulk work: a child pwsh is killed while it stops (or creates) workloads on a slow simulated
# datacenter. The operations it had begun read as Interrupted; Resume-GridOperation finishes them; nothing is lost
# and nothing is done twice.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name crash
    New-SimDatacenter -Name crash-1 -Parameters @{ Hosts = 4; Workloads = 50 } | Out-Null
    New-SimDatacenter -Name crash-2 -Parameters @{ Hosts = 4 } | Out-Null
    $script:size = (Get-GridSize -Datacenter crash-2 | Sort-Object CpuCount | Select-Object -First 1).Name
    # The simulator pre-populates workloads in various states: remember which were running.
    $script:initiallyRunning = @(Get-GridWorkload -Datacenter crash-1 -State Running).Id

    # Runs the script in a child pwsh and kills it (SIGKILL) once $Ready says enough has happened.
    function Invoke-AndKill([string] $Script, [scriptblock] $Ready, [int] $TimeoutSeconds = 120) {
        $p = Start-ChildPwsh -Script $Script
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
            while (-not $p.HasExited -and [DateTime]::UtcNow -lt $deadline) {
                if (& $Ready) { break }
                Start-Sleep -Milliseconds 100
            }
            $exitedBeforeKill = $p.HasExited
            if (-not $p.HasExited) { $p.Kill($true) }
            $p.WaitForExit()
            return -not $exitedBeforeKill
        }
        finally { $p.Dispose() }
    }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Killed in the middle of a bulk stop' {
    It 'the child is killed while some stops are done and others running' {
        $killed = Invoke-AndKill -Script @'
Connect-GridDatacenter -Provider Simulator -Name crash-1 -LatencyMs 400 -Confirm:$false | Out-Null
Get-GridWorkload -Datacenter crash-1 | Stop-GridWorkload -Force
'DONE'
'@ -Ready {
            $ops = @(Get-GridOperation -Datacenter crash-1 -Kind Stop)
            @($ops | Where-Object State -eq 'Succeeded').Count -ge 5 -and @($ops | Where-Object State -eq 'Running').Count -ge 1
        }
        $killed | Should -BeTrue -Because 'the child must die in the middle of the work, not after it'
    }

    It 'Get-GridOperation shows the interrupted stops' {
        $script:interrupted = @(Get-GridOperation -Datacenter crash-1 -Kind Stop -State Interrupted)
        $script:interrupted.Count | Should -BeGreaterThan 0
        @(Get-GridOperation -Datacenter crash-1 -State Running).Count | Should -Be 0 -Because 'the lease holder is dead'
        $script:batch = $script:interrupted[0].BatchId
        $script:batch | Should -Not -BeNullOrEmpty
    }

    It 'Resume-GridOperation finishes every one of them' {
        $done = @($script:interrupted | Resume-GridOperation -Force -PassThru)
        $done.Count | Should -Be $script:interrupted.Count
        $done.State | Sort-Object -Unique | Should -Be 'Succeeded'
        @(Get-GridOperation -Datacenter crash-1 -State Interrupted, Running).Count | Should -Be 0
    }

    It 'every workload whose stop was begun is stopped, none is lost or doubled' {
        $all = @(Get-GridWorkload -Datacenter crash-1)
        $all.Count | Should -Be 50
        @($all.Id | Sort-Object -Unique).Count | Should -Be 50
        @($all.Name | Sort-Object -Unique).Count | Should -Be 50
        $begun = @(Get-GridOperation -BatchId $script:batch | ForEach-Object Target | Sort-Object -Unique)
        $begun.Count | Should -BeGreaterThan 0
        foreach ($w in $all | Where-Object { $begun -contains $_.Id }) { $w.State | Should -Be 'Stopped' -Because "$($w.Name) was being stopped" }
        # One operation per workload in the batch: the resume finished the same operation, it did not add one.
        @(Get-GridOperation -BatchId $script:batch).Count | Should -Be $begun.Count
    }

    It 'running the stop again finishes the rest; no workload is stopped twice' {
        $script:initiallyRunning.Count | Should -BeGreaterThan 10
        Get-GridWorkload -Datacenter crash-1 -State Running | Stop-GridWorkload -Force
        @(Get-GridWorkload -Datacenter crash-1 | Where-Object State -ne 'Stopped').Count | Should -Be 0
        $stops = @(Get-GridOperation -Datacenter crash-1 -Kind Stop -State Succeeded)
        $perTarget = $stops | Group-Object Target
        @($perTarget | Where-Object Count -gt 1).Count | Should -Be 0 -Because 'no workload was stopped by two operations'
        foreach ($id in $script:initiallyRunning) { $stops.Target | Should -Contain $id }
        @(Get-GridOperation -Datacenter crash-1 -Kind Stop | Where-Object State -ne 'Succeeded').Count | Should -Be 0
    }
}

Describe 'Killed in the middle of a bulk create' {
    BeforeAll {
        $script:createScript = @"
1..12 | ForEach-Object { [pscustomobject]@{ Name = 'c{0:00}' -f `$_; IdempotencyKey = 'crash-test-key-' + `$_ } } |
    New-GridWorkload -Datacenter crash-2 -Size '$($script:size)' -Force | Out-Null
'DONE'
"@
    }

    It 'the child is killed while some creates are done and others running' {
        $killed = Invoke-AndKill -Script ("Connect-GridDatacenter -Provider Simulator -Name crash-2 -LatencyMs 500 -Confirm:`$false | Out-Null`n" + $script:createScript) -Ready {
            $ops = @(Get-GridOperation -Datacenter crash-2 -Kind Create)
            @($ops | Where-Object State -eq 'Succeeded').Count -ge 1 -and @($ops | Where-Object State -eq 'Running').Count -ge 1
        }
        $killed | Should -BeTrue
        $script:interrupted = @(Get-GridOperation -Datacenter crash-2 -Kind Create -State Interrupted)
        $script:interrupted.Count | Should -BeGreaterThan 0
    }

    It 'Resume-GridOperation finishes the interrupted creates without making a second workload' {
        $before = @(Get-GridWorkload -Datacenter crash-2)
        $done = @($script:interrupted | Resume-GridOperation -Force -PassThru)
        $done.State | Sort-Object -Unique | Should -Be 'Succeeded'
        $after = @(Get-GridWorkload -Datacenter crash-2)
        @($after.Name | Group-Object | Where-Object Count -gt 1).Count | Should -Be 0 -Because 'no name is doubled'
        $after.Count | Should -BeLessOrEqual 12
        $after.Count | Should -BeGreaterOrEqual $before.Count
    }

    It 're-running the same script creates only what is missing: each of the 12 names exactly once' {
        $r = Invoke-ChildPwsh -Script $script:createScript
        $r.Error | Should -BeNullOrEmpty
        $all = @(Get-GridWorkload -Datacenter crash-2)
        $all.Count | Should -Be 12
        @($all.Name | Sort-Object -Unique).Count | Should -Be 12
        @(Get-GridOperation -Datacenter crash-2 -State Interrupted, Running).Count | Should -Be 0
    }
}
