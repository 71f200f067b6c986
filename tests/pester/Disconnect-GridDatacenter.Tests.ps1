# Disconnect-GridDatacenter: the live connection goes, the registration stays, and the next use reconnects.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name disconnect
    New-SimDatacenter -Name dis-1 | Out-Null
    New-SimDatacenter -Name dis-2 | Out-Null
    New-GridWorkload -Name d01 -Datacenter dis-1 -Cpu 1 -MemoryGB 1 -Confirm:$false | Out-Null
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Disconnect-GridDatacenter' {
    It 'disconnects, keeping the registration, and writes nothing' {
        Disconnect-GridDatacenter -Name dis-1 | Should -BeNullOrEmpty
        $dc = Get-GridDatacenter -Name dis-1
        $dc | Should -Not -BeNullOrEmpty
        $dc.Status | Should -Be 'Disconnected'
    }
    It 'the next command reconnects with the stored settings' {
        (Get-GridWorkload -Datacenter dis-1).Name | Should -Be 'd01'
        (Get-GridDatacenter -Name dis-1).Status | Should -Be 'Connected'
    }
    It 'disconnects every datacenter piped in, or every wildcard match' {
        Get-GridDatacenter | Disconnect-GridDatacenter
        (Get-GridDatacenter).Status | Sort-Object -Unique | Should -Be 'Disconnected'
        Disconnect-GridDatacenter -Name dis-*
        @(Get-GridDatacenter).Count | Should -Be 2
    }
    It 'gives DatacenterNotFound for an unknown name' {
        $ev = $null
        Disconnect-GridDatacenter -Name nowhere -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'DatacenterNotFound,*'
    }
}
