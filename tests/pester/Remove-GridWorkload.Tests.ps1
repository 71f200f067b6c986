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

    It 'asks by default: in a non-interactive session nobody can answer, so nothing is removed; -Force does not ask' {
        New-GridWorkload -Name y01 @script:create -Confirm:$false | Out-Null
        $r = Invoke-ChildPwsh -Script "Remove-GridWorkload -Name y01 -Datacenter rm-1; 'REMOVED'"
        $r.Output | Should -Not -Match 'REMOVED'
        "$($r.Error)$($r.Output)" | Should -Match 'NonInteractive|prompt'
        (Get-GridWorkload -Name y01).Name | Should -Be 'y01'
        $r = Invoke-ChildPwsh -Script "Remove-GridWorkload -Name y01 -Datacenter rm-1 -Force; 'REMOVED'"
        $r.Error | Should -BeNullOrEmpty
        $r.Output | Should -Match 'REMOVED'
        Get-GridWorkload -Name y01 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'has no -PassThru (a removed workload is gone)' {
        (Get-Command Remove-GridWorkload).Parameters.Keys | Should -Not -Contain 'PassThru'
    }
}
