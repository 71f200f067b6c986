# Get-GridDatacenter: listing, filters, DatacenterNotFound, and binding to -Datacenter of the other Get- cmdlets.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name getdc
    New-SimDatacenter -Name gd-ams -Owner Contoso -Site Amsterdam | Out-Null
    New-SimDatacenter -Name gd-dub -Owner Contoso -Site Dublin | Out-Null
    New-SimDatacenter -Name gd-nyc -Owner Fabrikam -Site 'New York' | Out-Null
    New-GridWorkload -Name a01 -Datacenter gd-ams -Cpu 1 -MemoryGB 1 -Confirm:$false | Out-Null
    New-GridWorkload -Name n01 -Datacenter gd-nyc -Cpu 1 -MemoryGB 1 -Confirm:$false | Out-Null
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Get-GridDatacenter' {
    It 'lists every registered datacenter' {
        (Get-GridDatacenter).Name | Sort-Object | Should -Be @('gd-ams', 'gd-dub', 'gd-nyc')
    }
    It 'filters by name (wildcards), owner, site and provider' {
        (Get-GridDatacenter -Name gd-a*).Name | Should -Be 'gd-ams'
        (Get-GridDatacenter -Owner Contoso).Name | Sort-Object | Should -Be @('gd-ams', 'gd-dub')
        (Get-GridDatacenter -Site 'New*').Name | Should -Be 'gd-nyc'
        @(Get-GridDatacenter -Provider Simulator).Count | Should -Be 3
        @(Get-GridDatacenter -Provider Nothing*).Count | Should -Be 0
    }
    It 'gives DatacenterNotFound for a name without wildcards that is not registered, none for a pattern' {
        $ev = $null
        Get-GridDatacenter -Name nowhere -ErrorVariable ev -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'DatacenterNotFound,*'
        $ev = $null
        Get-GridDatacenter -Name nowhere* -ErrorVariable ev | Should -BeNullOrEmpty
        $ev | Should -BeNullOrEmpty
    }
    It 'shows the connection status of this session' {
        (Get-GridDatacenter -Name gd-ams).Status | Should -BeIn @('Connected', 'Disconnected')
        (Get-GridDatacenter -Name gd-ams).Endpoint | Should -Not -BeNullOrEmpty
    }
    It 'pipes into Get-GridWorkload, Get-GridHost and Get-GridSize (by the Datacenter property)' {
        (Get-GridDatacenter -Owner Fabrikam | Get-GridWorkload).Name | Should -Be 'n01'
        (Get-GridDatacenter -Name gd-dub | Get-GridHost).Datacenter | Sort-Object -Unique | Should -Be 'gd-dub'
        (Get-GridDatacenter -Name gd-dub | Get-GridSize).Datacenter | Sort-Object -Unique | Should -Be 'gd-dub'
    }
}
