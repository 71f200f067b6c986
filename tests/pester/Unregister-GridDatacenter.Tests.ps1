# Unregister-GridDatacenter: the registration goes (journaled); the workloads in the provider are not touched.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name unregister
    New-SimDatacenter -Name un-1 | Out-Null
    New-SimDatacenter -Name un-2 | Out-Null
    New-SimDatacenter -Name un-3 | Out-Null
    $script:w = New-GridWorkload -Name keep -Datacenter un-1 -Cpu 1 -MemoryGB 1 -Confirm:$false
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Unregister-GridDatacenter' {
    It 'has a High impact (asks by default)' {
        (Get-Command Unregister-GridDatacenter).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $true)[0].ConfirmImpact |
            Should -Be 'High'
    }
    It 'asks by default: a non-interactive session cannot answer, so nothing is unregistered' {
        $r = Invoke-ChildPwsh -Script "Unregister-GridDatacenter -Name un-3; 'UNREGISTERED'"
        $r.Output | Should -Not -Match 'UNREGISTERED'
        (Get-GridDatacenter -Name un-3).Name | Should -Be 'un-3'
    }
    It 'unregisters with -Force, journals it, writes nothing' {
        Unregister-GridDatacenter -Name un-1 -Force | Should -BeNullOrEmpty
        Get-GridDatacenter -Name un-1 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $op = Get-GridOperation -Kind Unregister -Last 1
        $op.Target | Should -Be 'un-1'
        $op.State | Should -Be 'Succeeded'
    }
    It 'leaves the workloads alone: registering the same simulated datacenter again brings them back' {
        Connect-GridDatacenter -Provider Simulator -Name un-1 | Out-Null
        (Get-GridWorkload -Datacenter un-1).Id | Should -Be $script:w.Id
    }
    It 'acts on every wildcard match and on piped datacenters' {
        Unregister-GridDatacenter -Name un-2, un-3 -Confirm:$false
        @(Get-GridDatacenter).Name | Should -Be 'un-1'
        Get-GridDatacenter | Unregister-GridDatacenter -Force
        @(Get-GridDatacenter).Count | Should -Be 0
    }
}
