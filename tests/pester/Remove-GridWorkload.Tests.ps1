# Remove-GridWorkload: High impact, -Force, -RemoveStorage, nothing written, pipeline.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name remove
    New-SimDatacenter -Name rm-1 -Parameters @{ Hosts = 3 } | Out-Null
    $script:create = Get-SimCreateArgs -Datacenter rm-1
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Remove-GridWorkload' {
    BeforeAll { New-GridWorkload -Name x01, x02, x03, x04 @script:create -Confirm:$false | Out-Null }

    It 'has a High impact, so it would ask by default' {
        (Get-Command Remove-GridWorkload).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $true)[0].ConfirmImpact |
            Should -Be 'High'
    }

    It 'removes with -Force (no prompt) and writes nothing' {
        Remove-GridWorkload -Name x01 -Force | Should -BeNullOrEmpty
        Get-GridWorkload -Name x01 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        (Get-GridOperation -Kind Remove -Last 1).State | Should -Be 'Succeeded'
    }

    It 'removes with -RemoveStorage and journals it' {
        Remove-GridWorkload -Name x02 -RemoveStorage -Confirm:$false
        Get-GridWorkload -Name x02 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        (Get-GridOperation -Kind Remove -Last 1).Request | Should -Match '"RemoveStorage":\s*true'
    }

    It 'removes every workload piped in' {
        Get-GridWorkload -Name x03, x04 | Remove-GridWorkload -Force
        @(Get-GridWorkload -Datacenter rm-1).Count | Should -Be 0
    }

    It 'has no -PassThru (a removed workload is gone)' {
        (Get-Command Remove-GridWorkload).Parameters.Keys | Should -Not -Contain 'PassThru'
    }
}
