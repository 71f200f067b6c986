# Bad input gives the documented error id (the start of FullyQualifiedErrorId) and category, and changes nothing.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name badinput
    $script:state = $env:GRIDAUTOMATION_STATE
    New-SimDatacenter -Name bad-1 -Parameters @{ Hosts = 2; HostCpu = 8; HostMemoryGB = 16 } | Out-Null
    $script:create = Get-SimCreateArgs -Datacenter bad-1
    $script:w = New-GridWorkload -Name keep01 @script:create -Confirm:$false

    # Captures every table (optionally without the journal) through a connection of the test's own.
    function Get-StateDump([switch] $WithoutJournal) {
        $c = Open-SqliteConnection -Path $script:state -NoPooling
        try {
            # The journal: its operations and the per-workload locks (with their fencing tokens) it takes.
            $exclude = if ($WithoutJournal) { @(Get-JournalTable $c) + 'workload_locks' } else { @() }
            @(Get-SqliteDump $c -ExcludeTable $exclude)
        }
        finally { $c.Dispose() }
    }
    # Runs a command expecting errors; returns every ErrorRecord it produced (terminating or not).
    function Get-Errors([scriptblock] $Command) {
        $ev = $null
        try { & $Command -ErrorVariable +ev -ErrorAction SilentlyContinue | Out-Null }
        catch { return @($_) + @($ev) }
        return @($ev)
    }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Unknown datacenter' {
    It 'New-GridWorkload: DatacenterNotFound (ObjectNotFound), nothing changed' {
        $before = Get-StateDump
        $ev = $null
        New-GridWorkload -Name x -Datacenter nowhere -Cpu 1 -MemoryGB 1 -ErrorVariable ev -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $ev.Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'DatacenterNotFound,*'
        $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $ev[0].TargetObject | Should -Be 'nowhere'
        Compare-Object $before (Get-StateDump) | Should -BeNullOrEmpty
    }
    It 'Get-GridWorkload -Datacenter: DatacenterNotFound' {
        $ev = $null
        Get-GridWorkload -Datacenter nowhere -ErrorVariable ev -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'DatacenterNotFound,*'
    }
    It 'Stop-GridWorkload -Datacenter: DatacenterNotFound, nothing changed' {
        $before = Get-StateDump
        $ev = $null
        Stop-GridWorkload -Name keep01 -Datacenter nowhere -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev.FullyQualifiedErrorId | Should -BeLike 'DatacenterNotFound,*'
        Compare-Object $before (Get-StateDump) | Should -BeNullOrEmpty
    }
    It 'Unregister-GridDatacenter: DatacenterNotFound' {
        $ev = $null
        Unregister-GridDatacenter -Name nowhere -Force -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev.FullyQualifiedErrorId | Should -BeLike 'DatacenterNotFound,*'
    }
}

Describe 'Unknown size' {
    It 'New-GridWorkload: SizeNotFound (ObjectNotFound), nothing changed' {
        $before = Get-StateDump
        $ev = $null
        New-GridWorkload -Name x -Datacenter bad-1 -Size no.such.size -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $ev.Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'SizeNotFound,*'
        $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        Compare-Object $before (Get-StateDump) | Should -BeNullOrEmpty
    }
    It 'Set-GridWorkload -Size: SizeNotFound, nothing changed' {
        $before = Get-StateDump
        $ev = $null
        Set-GridWorkload -Name keep01 -Size no.such.size -Restart -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'SizeNotFound,*'
        Compare-Object $before (Get-StateDump) | Should -BeNullOrEmpty
    }
}

Describe 'Impossible capacity' {
    It 'New-GridWorkload: InsufficientCapacity (QuotaExceeded); no workload, no allocation; only a Failed journal entry' {
        $before = Get-StateDump -WithoutJournal
        $opsBefore = @(Get-GridOperation).Count
        $ev = $null
        New-GridWorkload -Name huge -Datacenter bad-1 -Cpu 64 -MemoryGB 8 -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $ev.Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'InsufficientCapacity,*'
        $ev[0].CategoryInfo.Category | Should -Be 'QuotaExceeded'
        $ev[0].Exception.Message | Should -Match 'CPU'
        Compare-Object $before (Get-StateDump -WithoutJournal) | Should -BeNullOrEmpty
        Get-GridWorkload -Name huge -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $new = @(Get-GridOperation | Select-Object -Skip $opsBefore)
        foreach ($op in $new) { $op.State | Should -Be 'Failed'; $op.ErrorId | Should -Be 'InsufficientCapacity' }
    }
}

Describe 'Malformed tag' {
    It 'a tag key with a forbidden character: InvalidTag (InvalidArgument), nothing changed' {
        $before = Get-StateDump
        $ev = $null
        New-GridWorkload -Name x -Datacenter bad-1 -Cpu 1 -MemoryGB 1 -Tag @{ 'a/b' = 'x' } -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'InvalidTag,*'
        $ev[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        Compare-Object $before (Get-StateDump) | Should -BeNullOrEmpty
    }
    It 'a tag value that is not a single value: InvalidTag, nothing changed' {
        $before = Get-StateDump
        $ev = $null
        New-GridWorkload -Name x -Datacenter bad-1 -Cpu 1 -MemoryGB 1 -Tag @{ k = @(1, 2) } -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'InvalidTag,*'
        Compare-Object $before (Get-StateDump) | Should -BeNullOrEmpty
    }
    It 'Set-GridWorkload with an empty tag name: InvalidTag (terminating: the whole call is meaningless), nothing changed' {
        $before = Get-StateDump
        { Set-GridWorkload -Name keep01 -Tag @{ ' ' = 'x' } -Confirm:$false } | Should -Throw -ErrorId 'InvalidTag,*'
        { Set-GridWorkload -Name keep01 -Tag @{ 'a?b' = 'x' } -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidTag,*'
        Compare-Object $before (Get-StateDump) | Should -BeNullOrEmpty
    }
    It 'Get-GridWorkload -Tag with a list value: InvalidTag' {
        { Get-GridWorkload -Tag @{ k = @('a', 'b') } } | Should -Throw -ErrorId 'InvalidTag,*'
    }
}

Describe 'Locked state file' {
    It 'a change while another process holds the write lock: StateStoreLocked (terminating), nothing changed' {
        $before = Get-StateDump
        $lock = Open-SqliteConnection -Path $script:state -NoPooling
        try {
            $null = Invoke-SqliteQuery $lock 'BEGIN IMMEDIATE'
            $err = $null
            try { New-GridWorkload -Name locked01 @script:create -Confirm:$false -ErrorAction Stop | Out-Null }
            catch { $err = $_ }
            $err | Should -Not -BeNullOrEmpty
            $err.FullyQualifiedErrorId | Should -BeLike 'StateStoreLocked,*'
            $err.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
            $null = Invoke-SqliteQuery $lock 'ROLLBACK'
        }
        finally { $lock.Dispose() }
        Compare-Object $before (Get-StateDump) | Should -BeNullOrEmpty
    }
}

Describe 'Corrupt state file' {
    BeforeAll {
        $script:corrupt = Join-Path $script:dir 'corrupt.db'
        $bytes = [byte[]]::new(8192); (New-Object Random 42).NextBytes($bytes)
        [IO.File]::WriteAllBytes($script:corrupt, $bytes)
        $script:hash = (Get-FileHash $script:corrupt).Hash
    }
    AfterAll { Use-GridState $script:state }

    It 'every command gives StateStoreCorrupt (terminating, ReadError), and the file is neither reset nor deleted' {
        Use-GridState $script:corrupt
        $err = $null
        try { Get-GridWorkload -ErrorAction Stop | Out-Null } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'StateStoreCorrupt,*'
        $err.CategoryInfo.Category | Should -Be 'ReadError'
        $err = $null
        try { New-GridWorkload -Name x -Datacenter bad-1 -Cpu 1 -MemoryGB 1 -Confirm:$false -ErrorAction Stop | Out-Null } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'StateStoreCorrupt,*'
        $err = $null
        try { Connect-GridDatacenter -Provider Simulator -Name again -Confirm:$false -ErrorAction Stop | Out-Null } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'StateStoreCorrupt,*'
        Reset-GridEngine
        (Get-FileHash $script:corrupt).Hash | Should -Be $script:hash
        Test-Path "$($script:corrupt)-wal" | Should -BeFalse
    }

    It 'the error message says what is wrong and where, without a stack trace' {
        Use-GridState $script:corrupt
        $err = $null
        try { Get-GridDatacenter -ErrorAction Stop | Out-Null } catch { $err = $_ }
        $err.Exception.Message | Should -Match ([regex]::Escape($script:corrupt))
        $err.Exception.Message | Should -Not -Match '   at '
    }
}
