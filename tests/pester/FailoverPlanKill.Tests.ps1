# Issue 17, test 4: a child pwsh running a planned failover of a recovery plan is killed (kill -9) at a random point,
# 20 times; after each, Resume-GridOperation finishes the run, and every workload runs at exactly one site with nothing
# left half-done (no interrupted operation, no second copy). The child's connections answer every call after 40 ms
# (LatencyMs given at connect time applies to that connection only) so the kills land inside the run (stop phase, last
# sync, create, start, fence); the 60 workloads are protected beforehand without latency.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name fokill
    New-SimDatacenter -Name ka-a -Parameters @{ Hosts = 4; Workloads = 90; BandwidthMBps = 16000000 } | Out-Null
    New-SimDatacenter -Name ka-b -Parameters @{ Hosts = 4; HostCpu = 4096; HostMemoryGB = 65536; BandwidthMBps = 16000000 } | Out-Null
    $script:ws = @(Get-GridWorkload -Datacenter ka-a | Where-Object State -eq 'Running' | Sort-Object Name | Select-Object -First 60)
    $script:ws | Enable-GridReplication -DestinationDatacenter ka-b -Force | Out-Null
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'A planned failover killed at random points' {
    It 'after Resume-GridOperation every workload runs at exactly one site, 20 runs' {
        $script:ws.Count | Should -Be 60
        $rng = [Random]::new(17)
        $interrupted = 0
        for ($run = 0; $run -lt 20; $run++) {
            $mine = $script:ws[($run * 3)..($run * 3 + 2)]
            $plan = "kill-$run"
            New-GridRecoveryPlan -Name $plan -Group @($mine[0].Name, $mine[1].Name), @($mine[2].Name) -Force | Out-Null
            $child = Start-ChildPwsh -Script ("'ka-a', 'ka-b' | ForEach-Object { Connect-GridDatacenter -Provider Simulator -Name `$_ -LatencyMs 40 -Confirm:`$false | Out-Null }`n" +
                "Start-GridFailover -RecoveryPlan '$plan' -Mode Planned -Force | Out-Null")
            # wait until the run is journaled (or the child ended), then kill it after a random delay
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (-not $child.HasExited -and [DateTime]::UtcNow -lt $deadline -and -not (Get-GridOperation -Kind Failover -Target "plan:$plan" -ErrorAction SilentlyContinue)) { Start-Sleep -Milliseconds 20 }
            Start-Sleep -Milliseconds ($rng.Next(0, 1800))
            if (-not $child.HasExited) { $child.Kill(); $child.WaitForExit() }   # SIGKILL: no finally, no lease released

            $parent = Get-GridOperation -Kind Failover -Target "plan:$plan" -ErrorAction SilentlyContinue | Select-Object -Last 1
            if ($parent -and $parent.State -eq 'Interrupted') {
                $interrupted++
                Resume-GridOperation -Id $parent.Id -Force
                (Get-GridOperation -Id $parent.Id).State | Should -Be 'Succeeded' -Because "run $run was resumed"
            }
            # exactly one site per workload, one copy at most, nothing half-done
            $copies = @(Get-GridWorkload -Datacenter ka-b | Where-Object { $_.Tags['GridReplicaOf'] -in $mine.Id })
            foreach ($w in $mine) {
                $src = Get-GridWorkload -Id $w.Id
                $dst = @($copies | Where-Object { $_.Tags['GridReplicaOf'] -eq $w.Id })
                $dst.Count | Should -BeLessOrEqual 1 -Because "run $run never makes two copies of $($w.Name)"
                $runningAt = @(@($src) + $dst | Where-Object State -eq 'Running').Count
                $runningAt | Should -Be 1 -Because "run $run leaves $($w.Name) running at exactly one site"
                $item = Get-GridReplication -Name $w.Name
                if ($parent) { $item.State | Should -Be 'FailedOver'; $item.Fenced | Should -BeTrue; $src.State | Should -Be 'Stopped' }
                else { $item.State | Should -Be 'Protected' }
            }
            @(Get-GridOperation -State Interrupted, Waiting, Running).Count | Should -Be 0 -Because "run $run leaves nothing interrupted"
            if ($parent) { @(Get-GridOperation -Parent $parent.Id | Where-Object State -ne 'Succeeded').Count | Should -Be 0 -Because "every step of run $run finished" }
        }
        Write-Host "20 planned failovers, $interrupted killed mid-run and resumed."
        $interrupted | Should -BeGreaterOrEqual 8 -Because 'most kills must land inside the run for the test to mean something'
    }
}
