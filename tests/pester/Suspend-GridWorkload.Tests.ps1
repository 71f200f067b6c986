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
}
