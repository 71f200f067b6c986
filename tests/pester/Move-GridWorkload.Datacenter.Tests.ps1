# Move-GridWorkload -DestinationDatacenter on the simulator pair (issue 13): one journaled MoveDatacenter operation
# per workload whose steps are checkpointed before they act; cut-over keeps the source stopped and tagged; a
# failure rolls back; a child pwsh killed in each step in turn is finished (or rolled back) by Resume-GridOperation,
# leaving at most one copy at the destination and no orphaned disk; a bulk -AsJob move.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name dcmove
    New-SimDatacenter -Name mv-src -Parameters @{ BandwidthMBps = 65536 } | Out-Null
    New-SimDatacenter -Name mv-dst -Parameters @{ BandwidthMBps = 65536 } | Out-Null
    # one host of 2 CPU: a sim.large (4 CPU) cannot be placed there, so its create fails after the source stopped
    New-SimDatacenter -Name mv-tiny -Parameters @{ Hosts = 1; HostCpu = 2; HostMemoryGB = 64 } | Out-Null
    function Get-DiskHash([string] $Id) {
        $c = Open-SqliteConnection -Path $env:GRIDAUTOMATION_STATE
        try {
            $dc, $native = $Id -split '/', 2
            $cmd = $c.CreateCommand(); $cmd.CommandText = 'SELECT disk_hash FROM sim_workloads WHERE datacenter = $dc AND native_id = $id'
            $null = $cmd.Parameters.AddWithValue('$dc', $dc); $null = $cmd.Parameters.AddWithValue('$id', $native)
            $cmd.ExecuteScalar()
        }
        finally { $c.Dispose() }
    }
    function Get-DetachedDiskCount([string] $Datacenter) {
        $c = Open-SqliteConnection -Path $env:GRIDAUTOMATION_STATE
        try {
            $cmd = $c.CreateCommand(); $cmd.CommandText = 'SELECT count(*) FROM sim_detached_disks WHERE datacenter = $dc'
            $null = $cmd.Parameters.AddWithValue('$dc', $Datacenter)
            [int]$cmd.ExecuteScalar()
        }
        finally { $c.Dispose() }
    }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Move-GridWorkload -DestinationDatacenter (simulator)' {
    It 'moves a running workload: same name, tags, shape and disk at the destination, running; the source stopped and tagged' {
        $w = New-GridWorkload -Datacenter mv-src -Name app1 -Image debian-12 -Size sim.medium -Tag @{ team = 'blue' } -Confirm:$false
        $moved = Move-GridWorkload -Id $w.Id -DestinationDatacenter mv-dst -Force -PassThru
        $moved.Datacenter | Should -Be 'mv-dst'
        $moved.Name | Should -Be 'app1'
        $moved.State | Should -Be 'Running'
        $moved.Size | Should -Be 'sim.medium'
        $moved.Tags['team'] | Should -Be 'blue'
        $moved.Tags['GridMovedFrom'] | Should -Be $w.Id
        $moved.Disks[0].SizeGB | Should -Be 8
        $src = Get-GridWorkload -Id $w.Id
        $src.State | Should -Be 'Stopped'
        $src.Tags['GridMovedTo'] | Should -Be $moved.Id
        # the content hash the destination's disk carries is the source disk's (verified by the move itself too)
        Get-DiskHash $moved.Id | Should -Not -BeNullOrEmpty
        $op = Get-GridOperation -Kind MoveDatacenter | Select-Object -Last 1
        $op.State | Should -Be 'Succeeded'
        $op.Target | Should -Be $w.Id
        foreach ($s in 'stop', 'export', 'verify', 'import', 'create', 'verify-destination', 'start', 'cutover') { $op.Checkpoints.Keys | Should -Contain "done:$s" }
        # one child operation per step, in order, each finished with the step's result; listed only with -Parent
        $children = @(Get-GridOperation -Parent $op.Id)
        $children.Kind | Should -Be @('MoveStop', 'MoveExport', 'MoveConvert', 'MoveVerify', 'MoveImport', 'MoveCreate', 'MoveVerifyDestination', 'MoveStart', 'MoveCutover')
        $children | ForEach-Object { $_.State | Should -Be 'Succeeded'; $_.ParentId | Should -Be $op.Id; $_.Target | Should -Be $w.Id; $_.TargetName | Should -Be 'app1' }
        ($children | Where-Object Kind -eq 'MoveCutover').Result | Should -BeLike "*$($moved.Id)*"
        ($children | Where-Object Kind -in 'MoveImport', 'MoveCreate', 'MoveStart').Datacenter | Should -Be @('mv-dst', 'mv-dst', 'mv-dst')
        ($children | Where-Object Kind -eq 'MoveExport').Datacenter | Should -Be 'mv-src'
        @(Get-GridOperation | Where-Object ParentId).Count | Should -Be 0
        (Get-GridOperation -Id $children[1].Id).ParentId | Should -Be $op.Id
    }

    It '-TurnOff powers the running source off (hard) instead of shutting it down; -WhatIf says so' {
        New-SimDatacenter -Name mv-log -Parameters @{ BandwidthMBps = 65536; ActionLog = $true } | Out-Null
        $w = New-GridWorkload -Datacenter mv-log -Name hard1 -Image debian-12 -Confirm:$false
        $g = New-GridWorkload -Datacenter mv-log -Name soft1 -Image debian-12 -Confirm:$false
        # What if lines go to the host: read them from a child pwsh's output
        $child = Invoke-ChildPwsh -Script @"
Move-GridWorkload -Id '$($w.Id)' -DestinationDatacenter mv-dst -TurnOff -WhatIf
Move-GridWorkload -Id '$($g.Id)' -DestinationDatacenter mv-dst -WhatIf
"@
        $child.Output | Should -Match 'What if: .*turning the running source off \(hard power-off\) first.*hard1'
        $child.Output | Should -Match 'What if: .*stopping the running source \(shut down\) first.*soft1'
        (Move-GridWorkload -Id $w.Id -DestinationDatacenter mv-dst -TurnOff -Force -PassThru).State | Should -Be 'Running'
        (Move-GridWorkload -Id $g.Id -DestinationDatacenter mv-dst -Force -PassThru).State | Should -Be 'Running'
        # the simulated server's own log of the stop calls it received, with their mode
        $c = Open-SqliteConnection -Path $env:GRIDAUTOMATION_STATE
        try { $stops = @(Invoke-SqliteQuery $c "SELECT native_id, detail FROM sim_actions WHERE datacenter = 'mv-log' AND action = 'Stop'") }
        finally { $c.Dispose() }
        $stops.Count | Should -Be 2
        ($stops | Where-Object native_id -eq ($w.Id -split '/', 2)[1]).detail | Should -Be 'TurnOff'
        ($stops | Where-Object native_id -eq ($g.Id -split '/', 2)[1]).detail | Should -Be 'Graceful'
        (Get-GridOperation -Kind MoveDatacenter -Target hard1).Request | Should -Match '"TurnOff":\s*true'
        { Move-GridWorkload -Id $w.Id -DestinationHost host-01 -TurnOff -Force } | Should -Throw -ErrorId 'ParameterNeedsDestinationDatacenter*'
    }

    It '-RemoveSource removes the source after the destination runs (its disk kept as a detached disk)' {
        $w = New-GridWorkload -Datacenter mv-src -Name app2 -Image debian-12 -Confirm:$false
        $before = Get-DetachedDiskCount mv-src
        $moved = Move-GridWorkload -Id $w.Id -DestinationDatacenter mv-dst -RemoveSource -Force -PassThru
        $moved.State | Should -Be 'Running'
        Get-GridWorkload -Id $w.Id -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Get-DetachedDiskCount mv-src | Should -Be ($before + 1)
    }

    It 'refuses errors of the report before anything is journaled (MoveIncompatible), and bad input' {
        $w = New-GridWorkload -Datacenter mv-src -Name app3 -Image debian-12 -Confirm:$false
        $ops = @(Get-GridOperation).Count
        $ev = $null
        Move-GridWorkload -Id $w.Id -DestinationDatacenter mv-dst -Size no-such -Force -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'MoveIncompatible,*'
        $ev[0].Exception.Message | Should -BeLike '*NoMatchingSize*'
        Move-GridWorkload -Id $w.Id -DestinationDatacenter nowhere -Force -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'DatacenterNotFound,*'
        Move-GridWorkload -Id $w.Id -DestinationDatacenter mv-src -Force -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'MoveSameDatacenter,*'
        @(Get-GridOperation).Count | Should -Be $ops
        (Get-GridWorkload -Id $w.Id).State | Should -Be 'Running'
        { Move-GridWorkload -Id $w.Id -Force } | Should -Throw -ErrorId 'DestinationMissing*'
    }

    It 'a failure after the source stopped rolls back: the source runs again, nothing is left at the destination' {
        $w = New-GridWorkload -Datacenter mv-src -Name big1 -Image debian-12 -Size sim.small -Confirm:$false
        $ev = $null
        Move-GridWorkload -Id $w.Id -DestinationDatacenter mv-tiny -Size sim.large -Force -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev | Should -Not -BeNullOrEmpty
        $ev[0].Exception.Message | Should -BeLike "*failed at step 'create'*rolled back*"
        (Get-GridWorkload -Id $w.Id).State | Should -Be 'Running'
        Get-GridWorkload -Datacenter mv-tiny | Should -BeNullOrEmpty
        Get-DetachedDiskCount mv-tiny | Should -Be 0
        (Get-GridOperation -Kind MoveDatacenter | Select-Object -Last 1).State | Should -Be 'RolledBack'
    }

    It 'a killed child pwsh in step <Step>: Resume-GridOperation <Mode> leaves one copy and no orphan' -ForEach @(
        @{ Step = 'stop'; Mode = 'finishes' }, @{ Step = 'export'; Mode = 'rolls back' }, @{ Step = 'verify'; Mode = 'finishes' },
        @{ Step = 'import'; Mode = 'rolls back' }, @{ Step = 'create'; Mode = 'finishes' }, @{ Step = 'create'; Mode = 'rolls back' },
        @{ Step = 'verify-destination'; Mode = 'rolls back' }, @{ Step = 'start'; Mode = 'finishes' }, @{ Step = 'cutover'; Mode = 'finishes' }
    ) {
        $name = 'k-' + $Step + '-' + ($Mode -replace ' ', '')
        $w = New-GridWorkload -Datacenter mv-src -Name $name -Image debian-12 -Confirm:$false
        $p = Start-ChildPwsh -Script @"
Connect-GridDatacenter -Provider Simulator -Name mv-src -LatencyMs 1200 -Confirm:`$false | Out-Null
Connect-GridDatacenter -Provider Simulator -Name mv-dst -LatencyMs 1200 -Confirm:`$false | Out-Null
Move-GridWorkload -Id '$($w.Id)' -DestinationDatacenter mv-dst -Force
"@
        try {
            # the step's child operation is journaled right after the parent's checkpoint: kill once it is there
            $stepKind = 'Move' + ((($Step -split '-') | ForEach-Object { $_.Substring(0, 1).ToUpper() + $_.Substring(1) }) -join '')
            Wait-Until -TimeoutSeconds 90 -IntervalMs 50 -Because "the child to reach step $Step" -Condition {
                $o = Get-GridOperation -Kind MoveDatacenter -Target $name | Select-Object -Last 1
                $o -and $o.Checkpoints['step'] -eq $Step -and @(Get-GridOperation -Parent $o.Id -Kind $stepKind).Count -eq 1
            }
        }
        finally { if (-not $p.HasExited) { $p.Kill($true) }; $p.WaitForExit() }
        $op = Get-GridOperation -Kind MoveDatacenter -Target $name | Select-Object -Last 1
        $op.State | Should -Be 'Interrupted'
        $copies = { @(Get-GridWorkload -Datacenter mv-dst -Name $name -ErrorAction SilentlyContinue) }
        # a fast step may finish between the check and the kill: the child of the step the parent was in is the interrupted one
        $at = $op.Checkpoints['step']
        $atKind = 'Move' + ((($at -split '-') | ForEach-Object { $_.Substring(0, 1).ToUpper() + $_.Substring(1) }) -join '')
        (Get-GridOperation -Parent $op.Id -Kind $atKind).State | Should -Be 'Interrupted'
        if ($Mode -eq 'finishes') {
            # Resume-GridOperation given the interrupted child resumes its parent (here for the start step)
            $resumeId = if ($Step -eq 'start') { (Get-GridOperation -Parent $op.Id -Kind $atKind).Id } else { $op.Id }
            $r = Resume-GridOperation -Id $resumeId -PassThru -Confirm:$false
            $r.Id | Should -Be $op.Id
            $r.State | Should -Be 'Succeeded'
            (& $copies).Count | Should -Be 1
            (& $copies)[0].State | Should -Be 'Running'
            (& $copies)[0].Tags['GridMovedFrom'] | Should -Be $w.Id
            (Get-GridWorkload -Id $w.Id).State | Should -Be 'Stopped'
            # one child per step: the interrupted one was taken over, not begun twice
            $children = @(Get-GridOperation -Parent $op.Id)
            $children.Kind | Should -Be @('MoveStop', 'MoveExport', 'MoveConvert', 'MoveVerify', 'MoveImport', 'MoveCreate', 'MoveVerifyDestination', 'MoveStart', 'MoveCutover')
            @($children | Where-Object State -ne 'Succeeded').Count | Should -Be 0
        }
        else {
            $r = Resume-GridOperation -Id $op.Id -Rollback -PassThru -Confirm:$false
            $r.State | Should -Be 'RolledBack'
            (& $copies).Count | Should -Be 0
            (Get-GridWorkload -Id $w.Id).State | Should -Be 'Running'
            $children = @(Get-GridOperation -Parent $op.Id)
            ($children | Where-Object Kind -eq $atKind).State | Should -Be 'RolledBack'
            ($children | Where-Object Kind -eq 'MoveRollback').State | Should -Be 'Succeeded'
            @($children | Where-Object State -in 'Running', 'Interrupted').Count | Should -Be 0
        }
        Get-DetachedDiskCount mv-dst | Should -Be 0
    }

    It 'moves 500 workloads with -AsJob: each exists exactly once afterwards, one move operation per workload' {
        New-SimDatacenter -Name bulk-a -Parameters @{ Hosts = 20; BandwidthMBps = 1048576 } | Out-Null
        New-SimDatacenter -Name bulk-b -Parameters @{ Hosts = 20; BandwidthMBps = 1048576 } | Out-Null
        $names = 1..500 | ForEach-Object { 'b{0:000}' -f $_ }
        New-GridWorkload -Datacenter bulk-a -Name $names -Image debian-12 -NoStart -Confirm:$false | Out-Null
        $job = Move-GridWorkload -Name * -Datacenter bulk-a -DestinationDatacenter bulk-b -AsJob -Force
        $null = $job | Wait-Job -Timeout 900
        $failed = @($job.ChildJobs | Where-Object State -ne 'Completed')
        $why = "$($failed.Count) child job(s) not Completed: " + (($failed | Select-Object -First 3 | ForEach-Object {
                    "$($_.Name) $($_.State): $($_.JobStateInfo.Reason.Message) $(@($_.Error | ForEach-Object { $_.FullyQualifiedErrorId + ' ' + $_.Exception.Message }) -join '; ')" }) -join ' | ')
        $job.State | Should -Be 'Completed' -Because $why
        $moved = @(Get-GridWorkload -Datacenter bulk-b)
        $moved.Count | Should -Be 500
        @($moved.Name | Sort-Object -Unique).Count | Should -Be 500
        @(Get-GridWorkload -Datacenter bulk-a -State Stopped | Where-Object { $_.Tags['GridMovedTo'] }).Count | Should -Be 500
        $ops = @(Get-GridOperation -Kind MoveDatacenter -Datacenter bulk-a)
        $ops.Count | Should -Be 500
        @($ops | Where-Object State -ne 'Succeeded').Count | Should -Be 0
        @($ops.Target | Sort-Object -Unique).Count | Should -Be 500
        # ... each with its children: one per step, all succeeded, on the same workload
        $c = Open-SqliteConnection -Path $env:GRIDAUTOMATION_STATE
        try {
            $rows = @(Invoke-SqliteQuery $c @"
SELECT p.id AS id, count(c.id) AS n, count(DISTINCT c.kind) AS kinds, sum(CASE WHEN c.state = 'Succeeded' THEN 1 ELSE 0 END) AS ok,
       sum(CASE WHEN c.target = p.target THEN 1 ELSE 0 END) AS same
FROM operations p LEFT JOIN operations c ON c.parent_id = p.id
WHERE p.kind = 'MoveDatacenter' AND p.datacenter = 'bulk-a' GROUP BY p.id
"@)
        }
        finally { $c.Dispose() }
        $rows.Count | Should -Be 500
        @($rows | Where-Object { $_.n -ne 9 -or $_.kinds -ne 9 -or $_.ok -ne 9 -or $_.same -ne 9 }).Count | Should -Be 0
        @(Get-GridOperation -Parent $ops[0].Id).Count | Should -Be 9
    }
}
