# Failover from PowerShell (issue 17): Start-GridFailover in its three modes, Stop-GridFailover -Test, fencing,
# Complete-GridFailover and Enable-GridReplication -Reverse, on two simulated datacenters of one owner; bad input
# refused with its id and nothing changed. The core service itself is tested in the simulator's xunit tests
# (ReplicationTests, FailoverTests) and with a real guest on libvirt (FailoverDisasterTests).

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name failover
    New-SimDatacenter -Name fo-a -Parameters @{ Hosts = 2 } | Out-Null
    New-SimDatacenter -Name fo-b -Parameters @{ Hosts = 2; Networks = 'lan', 'isolated' } | Out-Null
    $create = Get-SimCreateArgs -Datacenter fo-a
    'fo-db', 'fo-web', 'fo-spare' | ForEach-Object { New-GridWorkload -Name $_ @create -Confirm:$false | Out-Null }
    Get-GridWorkload -Datacenter fo-a -Name fo-db, fo-web | Enable-GridReplication -DestinationDatacenter fo-b -Force
    function Get-OperationCount { @(Get-GridOperation -Last 100000).Count }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Start-GridFailover' {
    It '-WhatIf says what it would do and changes nothing' {
        $before = Get-OperationCount
        Start-GridFailover -Name fo-db -Mode Planned -WhatIf
        Get-OperationCount | Should -Be $before
        (Get-GridWorkload -Datacenter fo-a -Name fo-db).State | Should -Be 'Running'
        @(Get-GridWorkload -Datacenter fo-b).Count | Should -Be 0
    }

    It 'bad input is refused with its id, and nothing is journaled' {
        $before = Get-OperationCount
        { Start-GridFailover -Name fo-spare -Mode Test -Force -ErrorAction Stop } | Should -Throw -ErrorId 'NotProtected,*'
        { Start-GridFailover -Name fo-db -Mode Test -RecoveryPoint 'yesterday-ish' -Force -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidRecoveryPoint,*'
        { Start-GridFailover -Name fo-db -Mode Test -RecoveryPoint '2000-01-01' -Force -ErrorAction Stop } | Should -Throw -ErrorId 'RecoveryPointNotFound,*'
        $db = Get-GridWorkload -Datacenter fo-a -Name fo-db
        { @($db, $db) | Start-GridFailover -Mode Test -Force -ErrorAction Stop } | Should -Throw -ErrorId 'WorkloadGivenTwice,*'
        { Complete-GridFailover -Name fo-db -Force -ErrorAction Stop } | Should -Throw -ErrorId 'NotFailedOver,*'
        { Stop-GridFailover -Name fo-db -Test -Force -ErrorAction Stop } | Should -Throw -ErrorId 'NoTestFailover,*'
        Get-OperationCount | Should -Be $before
    }

    It 'Test: copies boot beside the running primaries; Stop-GridFailover -Test removes every trace' {
        $r = @(Start-GridFailover -Name fo-db, fo-web -Mode Test -Force)
        $r.Count | Should -Be 2
        $r | ForEach-Object { $_.Status | Should -Be 'Running'; $_.DestinationId | Should -BeLike 'fo-b/*'; $_.Rto | Should -BeOfType ([timespan]) }
        @(Get-GridWorkload -Datacenter fo-a -Name fo-db, fo-web | Where-Object State -eq 'Running').Count | Should -Be 2
        @(Get-GridWorkload -Datacenter fo-b | Where-Object { $_.Tags['GridFailoverTest'] }).Count | Should -Be 2
        Stop-GridFailover -Test -Force
        @(Get-GridWorkload -Datacenter fo-b).Count | Should -Be 0
        (Get-GridReplication -Name fo-db).State | Should -Be 'Protected'
    }

    It 'Test -TestNetwork: refused before the journal unless Test mode and a network of the destination; the copies run on it' {
        $before = Get-OperationCount
        { Start-GridFailover -Name fo-db -Mode Planned -TestNetwork isolated -Force -ErrorAction Stop } | Should -Throw -ErrorId 'TestNetworkNeedsTestMode,*'
        { Start-GridFailover -Name fo-db -Mode Test -TestNetwork dmz -Force -ErrorAction Stop } | Should -Throw -ErrorId 'NetworkNotFound,*'
        Get-OperationCount | Should -Be $before
        # tab completion names the networks the destination lists, and journals nothing
        $line = 'Start-GridFailover -Name fo-db -Mode Test -TestNetwork '
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('isolated', 'lan')
        $line = 'Start-GridFailover -Name fo-db -Mode Test -TestNetwork is'
        $m = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches
        $m.CompletionText | Should -Be 'isolated'
        $m.ToolTip | Should -Be 'isolated (network of fo-b)'
        Get-OperationCount | Should -Be $before
        @(Get-GridWorkload -Datacenter fo-b).Count | Should -Be 0
        $r = @(Start-GridFailover -Name fo-db, fo-web -Mode Test -TestNetwork isolated -Force)
        $r.Count | Should -Be 2
        $r | ForEach-Object { $_.Status | Should -Be 'Running' }
        $copies = @(Get-GridWorkload -Datacenter fo-b | Where-Object { $_.Tags['GridFailoverTest'] })
        $copies.Count | Should -Be 2
        $copies | ForEach-Object { $_.Properties['Network'] | Should -Be 'isolated' }
        @(Get-GridWorkload -Datacenter fo-a -Name fo-db, fo-web | Where-Object State -eq 'Running').Count | Should -Be 2
        Stop-GridFailover -Test -Force
        @(Get-GridWorkload -Datacenter fo-b).Count | Should -Be 0
        (Get-GridReplication -Name fo-db, fo-web).State | Sort-Object -Unique | Should -Be 'Protected'
    }

    It 'Planned: the source stops, the copy runs; the old primary is fenced; Complete, then -Reverse lifts the fence' {
        $r = Start-GridFailover -Name fo-db -Mode Planned -Force
        $r.Status | Should -Be 'Running'
        $r.DataLoss | Should -Be ([timespan]::Zero) -Because 'a planned failover ships a last point after the source stopped'
        (Get-GridWorkload -Datacenter fo-a -Name fo-db).State | Should -Be 'Stopped'
        (Get-GridWorkload -Id $r.DestinationId).State | Should -Be 'Running'
        $item = Get-GridReplication -Name fo-db
        $item.State | Should -Be 'FailedOver'
        $item.Fenced | Should -BeTrue
        { Get-GridWorkload -Datacenter fo-a -Name fo-db | Start-GridWorkload -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'FencedAfterFailover,*'
        (Complete-GridFailover -Name fo-db -Force -PassThru).State | Should -Be 'Committed'
        # reprotect names the protected item, i.e. the old primary: its copy becomes the primary, replicated back to fo-a
        Get-GridWorkload -Datacenter fo-a -Name fo-db | Enable-GridReplication -Reverse -Force
        (Get-GridReplication | Where-Object SourceId -eq $r.DestinationId).State | Should -Be 'Protected'
        Get-GridWorkload -Datacenter fo-a -Name fo-db | Start-GridWorkload -Confirm:$false | Out-Null
        (Get-GridWorkload -Datacenter fo-a -Name fo-db).State | Should -Be 'Running'
    }

    It 'Unplanned: the source is not asked; the report gives each one''s data loss' {
        $r = Start-GridFailover -Name fo-web -Mode Unplanned -Force
        $r.Status | Should -Be 'Running'
        $r.DataLoss | Should -BeGreaterThan ([timespan]::Zero)
        (Get-GridWorkload -Datacenter fo-a -Name fo-web).State | Should -Be 'Running' -Because 'an unplanned failover never calls the source'
        (Get-GridReplication -Name fo-web).Fenced | Should -BeTrue
    }
}
