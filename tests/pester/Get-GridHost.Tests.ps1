# Get-GridHost: hosts of every datacenter with capacity; filters.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name gethost
    New-SimDatacenter -Name gh-1 -Parameters @{ Hosts = 3; HostCpu = 16; HostMemoryGB = 64; Clusters = 1 } | Out-Null
    New-SimDatacenter -Name gh-2 -Parameters @{ Hosts = 2 } | Out-Null
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Get-GridHost' {
    It 'lists the hosts of every datacenter' {
        $h = @(Get-GridHost)
        $h.Count | Should -Be 5
        @($h | Where-Object Datacenter -eq 'gh-1').Count | Should -Be 3
    }
    It 'reports capacity and allocation, which a create changes' {
        $h = Get-GridHost -Datacenter gh-1
        $h.CpuCores | Sort-Object -Unique | Should -Be 16
        $h.MemoryGB | Sort-Object -Unique | Should -Be 64
        $before = ($h | Measure-Object AllocatedCpu -Sum).Sum
        New-GridWorkload -Name h01 -Datacenter gh-1 -Cpu 2 -MemoryGB 2 -Confirm:$false | Out-Null
        (Get-GridHost -Datacenter gh-1 | Measure-Object AllocatedCpu -Sum).Sum | Should -Be ($before + 2)
    }
    It 'filters by name with wildcards' {
        $first = (Get-GridHost -Datacenter gh-1 | Select-Object -First 1).Name
        (Get-GridHost -Datacenter gh-1 -Name $first).Name | Should -Be $first
        @(Get-GridHost -Name 'no-such-*').Count | Should -Be 0
    }
    It 'gives DatacenterNotFound for an unknown datacenter' {
        $ev = $null
        Get-GridHost -Datacenter nowhere -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'DatacenterNotFound,*'
    }
}
