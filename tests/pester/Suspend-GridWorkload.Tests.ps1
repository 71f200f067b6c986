# Suspend-GridWorkload: memory to disk (Suspended), resumed by Start-GridWorkload.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name suspend
    New-SimDatacenter -Name su-1 -Parameters @{ Hosts = 3 } | Out-Null
    $script:create = Get-SimCreateArgs -Datacenter su-1
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Suspend-GridWorkload' {
    BeforeAll { New-GridWorkload -Name u01, u02 @script:create -Confirm:$false | Out-Null }

    It 'suspends: state Suspended' {
        Suspend-GridWorkload -Name u01 -Confirm:$false
        (Get-GridWorkload -Name u01).State | Should -Be 'Suspended'
        (Get-GridOperation -Kind Suspend -Last 1).State | Should -Be 'Succeeded'
    }

    It 'is resumed by Start-GridWorkload' {
        Start-GridWorkload -Name u01
        (Get-GridWorkload -Name u01).State | Should -Be 'Running'
    }

    It 'suspends by id and writes the workload with -PassThru' {
        $id = (Get-GridWorkload -Name u02).Id
        (Suspend-GridWorkload -Id $id -PassThru -Confirm:$false).State | Should -Be 'Suspended'
    }

    It '-State Suspended selects it' {
        (Get-GridWorkload -State Suspended).Name | Should -Be 'u02'
    }

    It '-Pause pauses: state Paused, capacity still held, journaled as Pause; Start resumes' {
        New-GridWorkload -Name p01 @script:create -Confirm:$false | Out-Null
        $p = Suspend-GridWorkload -Name p01 -Pause -Confirm:$false -PassThru
        $p.State | Should -Be 'Paused'
        $p.NativeState | Should -Be 'paused'
        (Get-GridOperation -Kind Pause -Last 1).State | Should -Be 'Succeeded'
        (Get-GridWorkload -State Paused).Name | Should -Be 'p01'
        (Start-GridWorkload -Name p01 -PassThru).State | Should -Be 'Running'
    }

    It '-Pause refuses a stopped workload (WorkloadNotRunning) and a paused one refuses a graceful stop (WorkloadPaused)' {
        Suspend-GridWorkload -Name p01 -Pause -Confirm:$false
        $ev = $null
        Stop-GridWorkload -Name p01 -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadPaused,*'
        Stop-GridWorkload -Name p01 -TurnOff -Confirm:$false
        (Get-GridWorkload -Name p01).State | Should -Be 'Stopped'
        $ev = $null
        Suspend-GridWorkload -Name p01 -Pause -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNotRunning,*'
        $ev[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
    }

    It '-Pause -WhatIf changes and journals nothing' {
        Start-GridWorkload -Name p01
        $before = @(Get-GridOperation).Count
        Suspend-GridWorkload -Name p01 -Pause -WhatIf
        (Get-GridWorkload -Name p01).State | Should -Be 'Running'
        @(Get-GridOperation).Count | Should -Be $before
    }
}
