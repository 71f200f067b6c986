# -AsJob across the long cmdlets: one GridJob per invocation with a child per workload, confirmation before the job,
# Get-Job / Wait-Job / Receive-Job / Stop-Job; Stop-Job cancels the work; a failed child fails the job.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name jobs
    New-SimDatacenter -Name job-1 -Parameters @{ Hosts = 3; Workloads = 12 } | Out-Null
    Start-GridWorkload -Name * -Datacenter job-1
}

AfterAll {
    Get-Job | Where-Object PSJobTypeName -eq 'GridJob' | Remove-Job -Force -ErrorAction SilentlyContinue
    Remove-GridTestDirectory $script:dir
}

Describe '-AsJob' {
    It 'one job per invocation, a child per workload, listed by Get-Job' {
        $job = Get-GridWorkload -Datacenter job-1 | Suspend-GridWorkload -AsJob -Confirm:$false
        @($job).Count | Should -Be 1
        $job.ChildJobs.Count | Should -Be 12
        (Get-Job -Id $job.Id).PSJobTypeName | Should -Be 'GridJob'
        Wait-Job $job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Completed'
        @(Get-GridWorkload -Datacenter job-1 -State Suspended).Count | Should -Be 12
        Remove-Job $job
    }

    It 'confirms before the job starts: under -WhatIf no job is made and nothing is done' {
        $n = @(Get-Job).Count
        $ev = $null
        Start-GridWorkload -Name * -Datacenter job-1 -AsJob -WhatIf -ErrorVariable ev | Should -BeNullOrEmpty
        $ev | Should -BeNullOrEmpty
        @(Get-Job).Count | Should -Be $n
        @(Get-GridWorkload -Datacenter job-1 -State Suspended).Count | Should -Be 12
    }

    It 'Stop-Job cancels the work still running, and the job ends Stopped with nothing left running' {
        Start-GridWorkload -Name * -Datacenter job-1
        # A slow datacenter for this session only: every call and state change takes 1 s.
        Connect-GridDatacenter -Provider Simulator -Name job-1 -LatencyMs 1000 -Confirm:$false | Out-Null
        $job = Stop-GridWorkload -Name * -Datacenter job-1 -AsJob -Confirm:$false
        Start-Sleep -Milliseconds 1500
        $job | Stop-Job
        $job.State | Should -Be 'Stopped'
        @(Get-GridOperation -Datacenter job-1 -State Running).Count | Should -Be 0 -Because 'every cancelled stop is journaled as finished'
        $stopped = @(Get-GridWorkload -Datacenter job-1 -State Stopped).Count
        $stopped | Should -BeLessThan 12 -Because 'Stop-Job cancelled the stops that had not run yet'
        ($job.ChildJobs | Where-Object State -eq 'Stopped').Count | Should -BeGreaterThan 0
        Connect-GridDatacenter -Provider Simulator -Name job-1 -LatencyMs 0 -Confirm:$false | Out-Null
        Remove-Job $job -Force
    }

    It 'a failed child makes the job Failed; Receive-Job returns its error and the others'' results' {
        Start-GridWorkload -Name * -Datacenter job-1
        $good = Get-GridWorkload -Datacenter job-1 | Select-Object -First 2
        $ghost = [GridAutomation.Core.Model.GridWorkload]@{ Id = 'job-1/no-such-workload'; NativeId = 'no-such-workload'; Name = 'ghost'; Datacenter = 'job-1'; Provider = 'Simulator' }
        $job = @($good) + $ghost | Restart-GridWorkload -AsJob -PassThru -Confirm:$false
        Wait-Job $job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Failed'
        ($job.ChildJobs | Where-Object State -eq 'Failed').Count | Should -Be 1
        $errs = $null
        $out = @(Receive-Job $job -ErrorVariable errs -ErrorAction SilentlyContinue)
        $out.Count | Should -Be 2
        @($errs).Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNotFound*'
        Remove-Job $job
    }
}
