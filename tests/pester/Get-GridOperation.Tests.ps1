# Get-GridOperation: the journal, with its filters.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name getop
    New-SimDatacenter -Name go-1 | Out-Null
    New-SimDatacenter -Name go-2 | Out-Null
    New-GridWorkload -Name o01, o02 -Datacenter go-1 -Cpu 1 -MemoryGB 1 -Confirm:$false | Out-Null
    New-GridWorkload -Name o03 -Datacenter go-2 -Cpu 1 -MemoryGB 1 -Confirm:$false | Out-Null
    Stop-GridWorkload -Name o0* -Confirm:$false
    Move-GridWorkload -Name o03 -DestinationHost no-such-host -Confirm:$false -ErrorAction SilentlyContinue
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Get-GridOperation' {
    It 'lists every journaled change with kind, target, state, times' {
        $ops = @(Get-GridOperation)
        $ops.Count | Should -BeGreaterOrEqual 7
        $ops[0] | Should -BeOfType GridAutomation.Core.Model.GridOperation
        foreach ($o in $ops) {
            $o.Id | Should -Not -Be ([guid]::Empty)
            $o.Kind | Should -Not -BeNullOrEmpty
            $o.Started | Should -Not -BeNullOrEmpty
        }
        @($ops | Where-Object { $_.State -eq 'Succeeded' -and -not $_.Finished }).Count | Should -Be 0
    }
    It 'filters by kind, state, datacenter and -Last' {
        @(Get-GridOperation -Kind Create).Count | Should -Be 3
        @(Get-GridOperation -Kind Stop -Datacenter go-1).Count | Should -Be 2
        @(Get-GridOperation -Last 2).Count | Should -Be 2
        $failed = @(Get-GridOperation -State Failed)
        $failed.Count | Should -BeGreaterOrEqual 0
    }
    It 'filters by the batch of one call' {
        $stop = Get-GridOperation -Kind Stop -Last 1
        @(Get-GridOperation -BatchId $stop.BatchId).Count | Should -Be 3
    }
    It 'gets one operation by id, also by property name; OperationNotFound otherwise' {
        $op = Get-GridOperation -Last 1
        (Get-GridOperation -Id $op.Id).Id | Should -Be $op.Id
        ($op | Get-GridOperation).Id | Should -Be $op.Id
        $ev = $null
        Get-GridOperation -Id ([guid]::NewGuid()) -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'OperationNotFound,*'
    }
    It 'shows the default table view, with the target''s name' {
        (Get-GridOperation -Last 1 | Out-String -Width 200) | Should -Match 'Started\s+Kind\s+Target\s+State\s+ErrorId\s+Id'
        $table = Get-GridOperation -Kind Stop -Datacenter go-2 | Out-String -Width 80
        $table | Should -Match '\d\d:\d\d:\d\d\s+Stop\s+o03\s+Succeeded\b' -Because 'the name and state fit in 80 columns'
    }
    It 'filters by target name (wildcards) or workload id' {
        $ops = @(Get-GridOperation -Target 'o0[12]')
        $ops.Count | Should -Be 4 -Because 'two creates and two stops'
        @($ops.TargetName | Sort-Object -Unique) | Should -Be @('o01', 'o02')
        $w = Get-GridWorkload -Name o03
        $byId = @(Get-GridOperation -Target $w.Id)
        $byId.Kind | Should -Be @('Stop') -Because 'the create was journaled before the workload had its id'
        $byId[0].Target | Should -Be $w.Id
        @(Get-GridOperation -Target 'nothing-like-this*').Count | Should -Be 0
    }
}
