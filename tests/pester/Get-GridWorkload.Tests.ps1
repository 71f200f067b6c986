# Get-GridWorkload: fan-out over datacenters, -Name wildcards, -Id, -State, -Tag, errors, pipeline binding.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name getwl
    New-SimDatacenter -Name gw-1 -Owner Contoso | Out-Null
    New-SimDatacenter -Name gw-2 -Owner Fabrikam | Out-Null
    New-GridWorkload -Name web01, web02 -Datacenter gw-1 -Cpu 1 -MemoryGB 1 -Tag @{ tier = 'web'; env = 'prod' } -Confirm:$false | Out-Null
    New-GridWorkload -Name db01 -Datacenter gw-1 -Cpu 1 -MemoryGB 1 -Tag @{ tier = 'db'; env = 'prod' } -Confirm:$false | Out-Null
    New-GridAgreement -Owner Fabrikam -Consumer TeamX -Datacenter gw-2 -Confirm:$false | Out-Null # another owner runs here under an agreement
    New-GridWorkload -Name web03 -Datacenter gw-2 -Cpu 1 -MemoryGB 1 -Tag @{ tier = 'web'; env = 'test' } -Owner TeamX -Confirm:$false | Out-Null
    Stop-GridWorkload -Name web02 -Confirm:$false
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Get-GridWorkload' {
    It 'lists the workloads of every datacenter as GridWorkload objects with the common shape' {
        $all = @(Get-GridWorkload)
        $all.Count | Should -Be 4
        $all[0] | Should -BeOfType GridAutomation.Core.Model.GridWorkload
        foreach ($w in $all) {
            $w.Id | Should -Be "$($w.Datacenter)/$($w.NativeId)"
            $w.Provider | Should -Be 'Simulator'
            $w.NativeState | Should -Not -BeNullOrEmpty
            $w.Host | Should -Not -BeNullOrEmpty
        }
    }
    It 'takes the owner from the datacenter unless an Owner tag says otherwise' {
        (Get-GridWorkload -Name web01).Owner | Should -Be 'Contoso'
        (Get-GridWorkload -Name web03).Owner | Should -Be 'TeamX'
    }
    It 'filters by name with wildcards, case-insensitively' {
        (Get-GridWorkload -Name WEB*).Name | Sort-Object | Should -Be @('web01', 'web02', 'web03')
        (Get-GridWorkload -Name db01).Name | Should -Be 'db01'
    }
    It 'filters by datacenter' {
        (Get-GridWorkload -Datacenter gw-2).Name | Should -Be 'web03'
        @(Get-GridWorkload -Datacenter gw-*).Count | Should -Be 4
    }
    It 'filters by state' {
        (Get-GridWorkload -State Stopped).Name | Should -Be 'web02'
        @(Get-GridWorkload -State Running).Count | Should -Be 3
        @(Get-GridWorkload -State Deallocated).Count | Should -Be 0 -Because '-State Stopped never includes Deallocated, and the reverse'
    }
    It 'filters by tags (all must match; * means present; values take wildcards)' {
        (Get-GridWorkload -Tag @{ tier = 'web'; env = 'prod' }).Name | Sort-Object | Should -Be @('web01', 'web02')
        @(Get-GridWorkload -Tag @{ env = '*' }).Count | Should -Be 4
        @(Get-GridWorkload -Tag @{ env = 'pr*' }).Count | Should -Be 3
        @(Get-GridWorkload -Tag @{ missing = '*' }).Count | Should -Be 0
    }
    It 'gets workloads by id, also from objects with an Id property' {
        $w = Get-GridWorkload -Name db01
        (Get-GridWorkload -Id $w.Id).Name | Should -Be 'db01'
        ([pscustomobject]@{ Id = $w.Id } | Get-GridWorkload).Name | Should -Be 'db01'
    }
    It 'gives WorkloadNotFound for an unknown id, and for a name without wildcards that matches nothing' {
        $ev = $null
        Get-GridWorkload -Id 'gw-1/no-such-id' -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNotFound,*'
        $ev = $null
        Get-GridWorkload -Name nothing-here -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNotFound,*'
        $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $ev = $null
        Get-GridWorkload -Name nothing* -ErrorVariable ev | Should -BeNullOrEmpty
        $ev | Should -BeNullOrEmpty
    }
    It 'gives InvalidWorkloadId for something that is not an id' {
        $ev = $null
        Get-GridWorkload -Id 'not-an-id' -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'InvalidWorkloadId,*'
    }
    It 'a failing datacenter gives a non-terminating error and the others still answer' {
        $ev = $null
        $r = @(Get-GridWorkload -Datacenter gw-1, nowhere -ErrorVariable ev -ErrorAction SilentlyContinue)
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'DatacenterNotFound,*'
    }
    It 'stops cleanly when downstream has enough (Select-Object -First)' {
        $r = @(Get-GridWorkload | Select-Object -First 1)
        $r.Count | Should -Be 1
        # The cmdlet is usable again right away (the cancelled listing left nothing behind).
        @(Get-GridWorkload).Count | Should -Be 4
    }
    It 'shows the default table view' {
        $text = Get-GridWorkload -Name web01 | Out-String -Width 200
        $text | Should -Match 'Name\s+Datacenter\s+Host\s+State\s+CpuCount\s+MemoryGB\s+Size\s+Owner'
        $text | Should -Match 'web01\s+gw-1'
    }
}
