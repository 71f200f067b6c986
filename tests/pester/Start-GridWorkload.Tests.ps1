# Start-GridWorkload: powers on, resumes suspended workloads, -PassThru, -AsJob, pipeline input.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name start
    New-SimDatacenter -Name st-1 -Parameters @{ Hosts = 3 } | Out-Null
    $script:create = Get-SimCreateArgs -Datacenter st-1
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Start-GridWorkload' {
    BeforeAll {
        $script:w = New-GridWorkload -Name s01, s02, s03 @script:create -NoStart -Confirm:$false
    }

    It 'creates stopped with -NoStart, then starts by name and writes nothing without -PassThru' {
        (Get-GridWorkload -Name s01).State | Should -Be 'Stopped'
        Start-GridWorkload -Name s01 | Should -BeNullOrEmpty
        (Get-GridWorkload -Name s01).State | Should -Be 'Running'
    }

    It 'starts workloads from the pipeline and writes them with -PassThru' {
        $r = @(Get-GridWorkload -Name s02, s03 | Start-GridWorkload -PassThru)
        $r.Count | Should -Be 2
        $r.State | Sort-Object -Unique | Should -Be 'Running'
        $r[0] | Should -BeOfType GridAutomation.Core.Model.GridWorkload
    }

    It 'resumes a suspended workload' {
        Suspend-GridWorkload -Name s01 -Confirm:$false
        (Get-GridWorkload -Name s01).State | Should -Be 'Suspended'
        (Start-GridWorkload -Name s01 -PassThru).State | Should -Be 'Running'
    }

    It 'journals each start with one batch id per call' {
        Stop-GridWorkload -Name s0* -Force
        Start-GridWorkload -Name s0*
        $last = @(Get-GridOperation -Kind Start -Last 3)
        $last.Count | Should -Be 3
        @($last.BatchId | Sort-Object -Unique).Count | Should -Be 1
        $last.State | Sort-Object -Unique | Should -Be 'Succeeded'
    }

    It 'binds -Id by property name' {
        Stop-GridWorkload -Name s03 -Force
        [pscustomobject]@{ Id = (Get-GridWorkload -Name s03).Id } | Start-GridWorkload
        (Get-GridWorkload -Name s03).State | Should -Be 'Running'
    }

    It 'runs as one job with a child job per workload (-AsJob)' {
        Stop-GridWorkload -Name s0* -Force
        $job = Start-GridWorkload -Name s0* -AsJob -PassThru
        $job.PSJobTypeName | Should -Be 'GridJob'
        $job.ChildJobs.Count | Should -Be 3
        $job | Wait-Job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Completed'
        $out = @(Receive-Job $job)
        $out.Count | Should -Be 3
        $out.State | Sort-Object -Unique | Should -Be 'Running'
        Remove-Job $job
    }

    It 'gives WorkloadNotFound for a name that matches nothing' {
        $ev = $null
        Start-GridWorkload -Name no-such -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNotFound,*'
    }
}
