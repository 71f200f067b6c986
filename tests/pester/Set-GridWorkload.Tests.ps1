# Set-GridWorkload: tags merged ($null removes), resize with -Restart, input checks.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name set
    New-SimDatacenter -Name se-1 -Parameters @{ Hosts = 3 } | Out-Null
    $script:create = Get-SimCreateArgs -Datacenter se-1
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Set-GridWorkload' {
    BeforeAll { New-GridWorkload -Name t01, t02 @script:create -Tag @{ env = 'test'; temp = 'yes' } -Confirm:$false | Out-Null }

    It 'merges tags: sets, removes with $null, keeps the others' {
        $w = Set-GridWorkload -Name t01 -Tag @{ env = 'prod'; temp = $null; team = 'blue' } -PassThru -Confirm:$false
        $w.Tags['env'] | Should -Be 'prod'
        $w.Tags['team'] | Should -Be 'blue'
        $w.Tags.ContainsKey('temp') | Should -BeFalse
        (Get-GridWorkload -Name t01).Tags['team'] | Should -Be 'blue'
    }

    It 'resizes by CPU and memory, with -Restart where the provider needs it' {
        $w = Set-GridWorkload -Name t02 -Cpu 2 -MemoryGB 4 -Restart -PassThru -Confirm:$false
        $w.CpuCount | Should -Be 2
        $w.MemoryGB | Should -Be 4
        (Get-GridOperation -Kind Resize -Last 1).State | Should -Be 'Succeeded'
    }

    It 'resizes to a named size' {
        $size = (Get-GridSize -Datacenter se-1 | Sort-Object CpuCount | Select-Object -Last 1)
        $w = Set-GridWorkload -Name t02 -Size $size.Name -Restart -PassThru -Confirm:$false
        $w.Size | Should -Be $size.Name
        $w.CpuCount | Should -Be $size.CpuCount
    }

    It 'changes tags and size in one call, tags first' {
        Set-GridWorkload -Name t01 -Tag @{ phase = '2' } -Cpu 2 -MemoryGB 2 -Restart -Confirm:$false
        $ops = @(Get-GridOperation -Last 2)
        $ops[0].Kind | Should -Be 'SetTags'
        $ops[1].Kind | Should -Be 'Resize'
        $ops[0].BatchId | Should -Be $ops[1].BatchId
    }

    It 'needs something to change (NothingToChange) and refuses -Size with -Cpu (SizeConflict)' {
        { Set-GridWorkload -Name t01 -Confirm:$false } | Should -Throw -ErrorId 'NothingToChange,*'
        { Set-GridWorkload -Name t01 -Size x -Cpu 2 -Confirm:$false } | Should -Throw -ErrorId 'SizeConflict,*'
    }
}
