# Issue 13, "Tests that must exist" 5: bad input to Move-GridWorkload -DestinationDatacenter on the simulator pair.
# An unknown destination, the source's own datacenter and a disk larger than the destination takes are refused before
# anything is journaled; a workload that vanishes while its move runs (deleted behind the module's back, as an
# administrator could delete a VM in the hypervisor's own console) fails the move with WorkloadNotFound and rolls
# back. Each time: a clear error, and nothing changed at the destination. (The temp folder without space needs file
# disks: tests/GridAutomation.Provider.Libvirt.Tests/MoveBadInputTests.cs.)

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name dcmovebad
    New-SimDatacenter -Name bi-src -Parameters @{ BandwidthMBps = 65536 } | Out-Null
    New-SimDatacenter -Name bi-dst -Parameters @{ BandwidthMBps = 65536 } | Out-Null
    # takes disks of at most 1 GB: a simulator workload's disk is larger
    New-SimDatacenter -Name bi-small -Parameters @{ MaxDiskGB = 1 } | Out-Null
    # refuses a UEFI guest, and wants a Network setting nobody gives
    New-SimDatacenter -Name bi-strict -Parameters @{ BootFirmware = 'BIOS'; RequiredMoveOptions = 'Network' } | Out-Null
    function Get-SimRows([string] $Table, [string] $Datacenter) {
        $c = Open-SqliteConnection -Path $env:GRIDAUTOMATION_STATE
        try {
            $cmd = $c.CreateCommand(); $cmd.CommandText = "SELECT count(*) FROM $Table WHERE datacenter = `$dc"
            $null = $cmd.Parameters.AddWithValue('$dc', $Datacenter)
            [int]$cmd.ExecuteScalar()
        }
        finally { $c.Dispose() }
    }
    # what "nothing changed" means: no new operation, the source as it was, nothing (workload or detached disk) at the destinations
    function Assert-NothingChanged([int] $Operations, [string] $SourceId) {
        @(Get-GridOperation).Count | Should -Be $Operations
        (Get-GridWorkload -Id $SourceId).State | Should -Be 'Running'
        (Get-GridWorkload -Id $SourceId).Tags.ContainsKey('GridMovedTo') | Should -BeFalse
        foreach ($dc in 'bi-dst', 'bi-small', 'bi-strict') {
            Get-SimRows sim_workloads $dc | Should -Be 0
            Get-SimRows sim_detached_disks $dc | Should -Be 0
        }
    }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Move-GridWorkload -DestinationDatacenter: bad input changes nothing' {
    It 'bad input <Case>: <ErrorId> (<Category>), nothing changed' -ForEach @(
        @{ Case = 'an unknown destination'; Destination = 'nowhere'; ErrorId = 'DatacenterNotFound'; Category = 'ObjectNotFound' },
        @{ Case = 'the source''s own datacenter'; Destination = 'bi-src'; ErrorId = 'MoveSameDatacenter'; Category = 'InvalidArgument' }
    ) {
        $w = New-GridWorkload -Datacenter bi-src -Name ('b-' + $ErrorId.ToLower()) -Image debian-12 -Confirm:$false
        $ops = @(Get-GridOperation).Count
        $ev = $null
        Move-GridWorkload -Id $w.Id -DestinationDatacenter $Destination -Force -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike "$ErrorId,*"
        $ev[0].CategoryInfo.Category | Should -Be $Category
        $ev[0].Exception.Message | Should -BeLike "*$Destination*"
        Assert-NothingChanged $ops $w.Id
    }

    It 'a disk larger than the destination takes: MoveIncompatible naming DiskTooLarge, refused before anything is journaled' {
        $w = New-GridWorkload -Datacenter bi-src -Name b-big -Image debian-12 -Confirm:$false
        (Test-GridMove -Id $w.Id -DestinationDatacenter bi-small).Incompatibilities.Code | Should -Contain 'DiskTooLarge'
        $ops = @(Get-GridOperation).Count
        $ev = $null
        Move-GridWorkload -Id $w.Id -DestinationDatacenter bi-small -Force -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'MoveIncompatible,*'
        $ev[0].Exception.Message | Should -BeLike '*DiskTooLarge*up to 1 GiB*'
        Assert-NothingChanged $ops $w.Id
    }

    It 'Move refuses an Error of the report (<Code>) before anything is journaled, nothing changed' -ForEach @(
        @{ Code = 'NoMatchingSize'; Destination = 'bi-dst'; Image = 'debian-12'; Move = @{ Size = 'no-such' } },
        @{ Code = 'FirmwareMismatch'; Destination = 'bi-strict'; Image = 'windows-2022'; Move = @{ Option = @{ Network = 'lan' } } },
        @{ Code = 'DestinationOptionMissing'; Destination = 'bi-strict'; Image = 'debian-12'; Move = @{} }
    ) {
        $w = New-GridWorkload -Datacenter bi-src -Name ('b-' + $Code.ToLower()) -Image $Image -Confirm:$false
        (Test-GridMove -Id $w.Id -DestinationDatacenter $Destination @Move).Incompatibilities | Where-Object Severity -eq 'Error' |
            ForEach-Object Code | Should -Be @($Code)
        $ops = @(Get-GridOperation).Count
        $ev = $null
        Move-GridWorkload -Id $w.Id -DestinationDatacenter $Destination @Move -Force -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'MoveIncompatible,*'
        $ev[0].Exception.Message | Should -BeLike "*$($Code):*"
        Assert-NothingChanged $ops $w.Id
    }

    It 'a workload that vanishes while its move runs: the move fails with WorkloadNotFound and rolls back, nothing at the destination' {
        $w = New-GridWorkload -Datacenter bi-src -Name b-gone -Image debian-12 -Confirm:$false
        $p = Start-ChildPwsh -Script @"
Connect-GridDatacenter -Provider Simulator -Name bi-src -LatencyMs 1500 -Confirm:`$false | Out-Null
Connect-GridDatacenter -Provider Simulator -Name bi-dst -LatencyMs 1500 -Confirm:`$false | Out-Null
Move-GridWorkload -Id '$($w.Id)' -DestinationDatacenter bi-dst -Force
"@
        try {
            Wait-Until -TimeoutSeconds 120 -IntervalMs 50 -Because 'the move to reach its export step' -Condition {
                $o = Get-GridOperation -Kind MoveDatacenter -Target $w.Name | Select-Object -Last 1
                $o -and $o.Checkpoints['step'] -eq 'export'
            }
            # deleted behind the module's back (the simulated server's own record), mid-move
            $c = Open-SqliteConnection -Path $env:GRIDAUTOMATION_STATE
            try {
                $dc, $native = $w.Id -split '/', 2
                $cmd = $c.CreateCommand(); $cmd.CommandText = 'DELETE FROM sim_workloads WHERE datacenter = $dc AND native_id = $id'
                $null = $cmd.Parameters.AddWithValue('$dc', $dc); $null = $cmd.Parameters.AddWithValue('$id', $native)
                $cmd.ExecuteNonQuery() | Should -Be 1
            }
            finally { $c.Dispose() }
            $p.WaitForExit(180000) | Should -BeTrue
        }
        finally { if (-not $p.HasExited) { $p.Kill($true) }; $p.WaitForExit() }
        $op = Get-GridOperation -Kind MoveDatacenter -Target $w.Name | Select-Object -Last 1
        $op.State | Should -Be 'RolledBack'
        "$($op.ErrorId) $($op.Error) $($op.Result)" | Should -BeLike '*WorkloadNotFound*'
        Get-SimRows sim_workloads bi-dst | Should -Be 0
        Get-SimRows sim_detached_disks bi-dst | Should -Be 0
        @(Get-GridOperation -Parent $op.Id | Where-Object State -in 'Running', 'Interrupted').Count | Should -Be 0
        $ev = $null
        Get-GridWorkload -Id $w.Id -ErrorVariable ev -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNotFound,*'
    }
}
