# Get-GridSize: sizes with CPU, memory and price.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name getsize
    New-SimDatacenter -Name gs-1 | Out-Null
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Get-GridSize' {
    It 'lists the sizes of a datacenter with CPU, memory and price' {
        $s = @(Get-GridSize -Datacenter gs-1)
        $s.Count | Should -BeGreaterThan 0
        foreach ($x in $s) {
            $x.Datacenter | Should -Be 'gs-1'
            $x.CpuCount | Should -BeGreaterThan 0
            $x.MemoryGB | Should -BeGreaterThan 0
        }
        ($s | Where-Object { $null -ne $_.PricePerHour }).Count | Should -BeGreaterThan 0
    }
    It 'filters by name with wildcards' {
        $first = (Get-GridSize -Datacenter gs-1 | Select-Object -First 1).Name
        (Get-GridSize -Name $first).Name | Should -Be $first
        @(Get-GridSize -Name 'zz-none*').Count | Should -Be 0
    }
    It 'a size name works with New-GridWorkload -Size' {
        $s = Get-GridSize -Datacenter gs-1 | Select-Object -First 1
        $w = New-GridWorkload -Name z01 -Datacenter gs-1 -Size $s.Name -Confirm:$false
        $w.Size | Should -Be $s.Name
        $w.CpuCount | Should -Be $s.CpuCount
    }
}
