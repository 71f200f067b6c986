# Stop-GridWorkload: graceful / -TurnOff / -StayProvisioned, capability refusal, switch conflict, -AsJob with Receive-Job.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name stop
    New-SimDatacenter -Name sp-1 -Parameters @{ Hosts = 3 } | Out-Null
    $script:create = Get-SimCreateArgs -Datacenter sp-1
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Stop-GridWorkload' {
    BeforeAll { New-GridWorkload -Name p01, p02, p03 @script:create -Confirm:$false | Out-Null }

    It 'stops by name and writes nothing without -PassThru' {
        Stop-GridWorkload -Name p01 | Should -BeNullOrEmpty
        (Get-GridWorkload -Name p01).State | Should -Be 'Stopped'
    }

    It 'powers off hard with -TurnOff and journals the mode' {
        $w = Stop-GridWorkload -Name p02 -TurnOff -PassThru
        $w.State | Should -Be 'Stopped'
        (Get-GridOperation -Kind Stop -Last 1).Request | Should -Match 'TurnOff'
    }

    It 'accepts -StayProvisioned' {
        (Stop-GridWorkload -Name p03 -StayProvisioned -PassThru).State | Should -Be 'Stopped'
    }

    It 'refuses -Deallocate where the provider cannot, before anything is journaled' {
        Start-GridWorkload -Name p0*
        $n = @(Get-GridOperation).Count
        $ev = $null
        Stop-GridWorkload -Name p01 -Deallocate -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'CapabilityNotSupported,*'
        $ev[0].CategoryInfo.Category | Should -Be 'NotImplemented'
        @(Get-GridOperation).Count | Should -Be $n
        (Get-GridWorkload -Name p01).State | Should -Be 'Running'
    }

    It 'refuses two stop modes at once (StopModeConflict)' {
        { Stop-GridWorkload -Name p01 -TurnOff -StayProvisioned } | Should -Throw -ErrorId 'StopModeConflict,*'
    }

    It 'acts on every match of a wildcard name' {
        Stop-GridWorkload -Name p* -Force
        @(Get-GridWorkload -Name p* -State Running).Count | Should -Be 0
    }

    It 'as a job: Wait-Job, Receive-Job -Keep, and the child jobs' {
        Start-GridWorkload -Name p0*
        $job = Get-GridWorkload -Name p0* | Stop-GridWorkload -AsJob -PassThru
        $job | Wait-Job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Completed'
        @(Receive-Job $job -Keep).Count | Should -Be 3
        @(Receive-Job $job).Count | Should -Be 3
        $job.HasMoreData | Should -BeFalse
        $job.ChildJobs.State | Sort-Object -Unique | Should -Be 'Completed'
    }
}
