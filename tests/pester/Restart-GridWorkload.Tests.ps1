# Restart-GridWorkload: restarts, journals, -PassThru, -AsJob.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name restart
    New-SimDatacenter -Name rs-1 -Parameters @{ Hosts = 3 } | Out-Null
    $script:create = Get-SimCreateArgs -Datacenter rs-1
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Restart-GridWorkload' {
    BeforeAll { New-GridWorkload -Name r01, r02 @script:create -Confirm:$false | Out-Null }

    It 'restarts a running workload, which is running afterwards' {
        Restart-GridWorkload -Name r01 -Confirm:$false | Should -BeNullOrEmpty
        (Get-GridWorkload -Name r01).State | Should -Be 'Running'
        $op = Get-GridOperation -Kind Restart -Last 1
        $op.State | Should -Be 'Succeeded'
        $op.Target | Should -Be (Get-GridWorkload -Name r01).Id
    }

    It 'writes the workload with -PassThru, from pipeline objects' {
        $r = @(Get-GridWorkload -Name r0* | Restart-GridWorkload -PassThru -Confirm:$false)
        $r.Count | Should -Be 2
        $r.State | Sort-Object -Unique | Should -Be 'Running'
    }

    It 'runs as a job' {
        $job = Restart-GridWorkload -Name r0* -AsJob -Confirm:$false
        $job | Wait-Job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Completed'
        $job.ChildJobs.Count | Should -Be 2
    }
}
