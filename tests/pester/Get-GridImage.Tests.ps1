# Get-GridImage: images, name filter, provider filter keys.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name getimage
    New-SimDatacenter -Name gi-1 | Out-Null
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Get-GridImage' {
    It 'lists the images of a datacenter' {
        $i = @(Get-GridImage -Datacenter gi-1)
        $i.Count | Should -BeGreaterThan 0
        $i.Datacenter | Sort-Object -Unique | Should -Be 'gi-1'
        $i[0] | Should -BeOfType GridAutomation.Core.Model.GridImage
    }
    It 'filters by name with wildcards' {
        $first = (Get-GridImage -Datacenter gi-1 | Select-Object -First 1).Name
        (Get-GridImage -Name $first).Name | Should -Be $first
        @(Get-GridImage -Name 'zz-none*').Count | Should -Be 0
    }
    It 'passes -Publisher/-Offer/-Sku to the provider as a filter without failing' {
        { Get-GridImage -Datacenter gi-1 -Publisher Canonical -Offer ubuntu -Sku 24_04 -ErrorAction Stop } | Should -Not -Throw
    }
    It 'an image name works with New-GridWorkload -Image' {
        $img = (Get-GridImage -Datacenter gi-1 | Select-Object -First 1).Name
        (New-GridWorkload -Name i01 -Datacenter gi-1 -Image $img -Cpu 1 -MemoryGB 1 -Confirm:$false).Image | Should -Be $img
    }
}
