# -WhatIf holds back every change. The test holds its own connection to the state file (so SQLite never checkpoints
# or deletes the WAL behind our back), truncates the WAL, then runs EVERY changing cmdlet with -WhatIf in a child pwsh.
# Afterwards the -wal file must still be empty, every table identical row by row, and the journal without a new row.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name whatif
    $script:state = $env:GRIDAUTOMATION_STATE

    # A grid with something to act on: two datacenters, workloads in several states, a finished operation.
    New-SimDatacenter -Name wi-1 -Parameters @{ Hosts = 2 } | Out-Null
    New-SimDatacenter -Name wi-2 -Owner Fabrikam | Out-Null
    $create = Get-SimCreateArgs -Datacenter wi-1
    $script:w1 = New-GridWorkload -Name web01 @create -Tag @{ env = 'test' } -Confirm:$false
    $script:w2 = New-GridWorkload -Name web02 @create -Confirm:$false
    Stop-GridWorkload -Name web02 -Datacenter wi-1 -Confirm:$false
    $script:opId = (Get-GridOperation -Last 1).Id
    $script:otherHost = (Get-GridHost -Datacenter wi-1 | Where-Object Name -ne $script:w1.Host | Select-Object -First 1).Name
    $script:size = $create.Size

    Reset-GridEngine
    $script:conn = Open-SqliteConnection -Path $script:state -NoPooling
    $null = Invoke-SqliteQuery $script:conn 'PRAGMA wal_checkpoint(TRUNCATE)'
    $script:journalTable = Get-JournalTable $script:conn
    $script:dumpBefore = @(Get-SqliteDump $script:conn)
    $script:journalBefore = (Invoke-SqliteQuery $script:conn "SELECT count(*) AS n FROM `"$($script:journalTable)`"").n
    $script:configExisted = Test-Path $env:GRIDAUTOMATION_CONFIG
}

AfterAll {
    if ($script:conn) { $script:conn.Dispose() }
    Remove-GridTestDirectory $script:dir
}

Describe '-WhatIf holds back every change' {
    It 'starts from an empty WAL' {
        (Get-Item "$($script:state)-wal").Length | Should -Be 0
        $script:journalTable | Should -Not -BeNullOrEmpty
        $script:journalBefore | Should -BeGreaterThan 0
    }

    It 'runs every changing cmdlet with -WhatIf in a child pwsh, which says what it would do and fails nothing' {
        $id1 = $script:w1.Id; $id2 = $script:w2.Id
        $script:child = Invoke-ChildPwsh -Script @"
`$ErrorActionPreference = 'Stop'
Connect-GridDatacenter -Provider Simulator -Name wi-new -Owner Contoso -WhatIf
Connect-GridDatacenter -Provider Simulator -Name wi-1 -Owner Other -WhatIf
Disconnect-GridDatacenter -Name wi-1 -WhatIf
Unregister-GridDatacenter -Name wi-* -WhatIf
Unregister-GridDatacenter -Name wi-2 -Force -WhatIf
New-GridWorkload -Name web03 -Datacenter wi-1 -Size '$($script:size)' -WhatIf
New-GridWorkload -Name web04, web05 -Datacenter wi-1 -Size '$($script:size)' -AsJob -WhatIf
Start-GridWorkload -Name web* -Datacenter wi-1 -WhatIf
Start-GridWorkload -Id '$id2' -AsJob -WhatIf
Stop-GridWorkload -Name web* -WhatIf
Stop-GridWorkload -Id '$id1' -TurnOff -Force -WhatIf
Restart-GridWorkload -Name web01 -WhatIf
Suspend-GridWorkload -Name web01 -AsJob -WhatIf
Remove-GridWorkload -Name web* -RemoveStorage -WhatIf
Remove-GridWorkload -Id '$id2' -Force -WhatIf
Set-GridWorkload -Name web01 -Tag @{ env = 'prod'; extra = 'x' } -WhatIf
Set-GridWorkload -Name web02 -Cpu 2 -MemoryGB 4 -Restart -WhatIf
Move-GridWorkload -Name web01 -DestinationHost '$($script:otherHost)' -WhatIf
Resume-GridOperation -Id '$($script:opId)' -WhatIf
Set-GridConfiguration -Name PageSize -Value 10 -WhatIf
Set-GridConfiguration -Name RetryCount -Reset -WhatIf
'JOBS=' + @(Get-Job).Count
'DONE'
"@
        $script:child.Error | Should -BeNullOrEmpty
        $script:child.ExitCode | Should -Be 0
        $script:child.Output | Should -Match 'DONE'
        $script:child.Output | Should -Match 'JOBS=0'
    }

    It 'printed one What if line per object' {
        $out = $script:child.Output
        $out | Should -Match 'What if: .*"Register and connect .*" on target "wi-new"'
        $out | Should -Match 'What if: .*"Unregister .*\[match 1 of 2'
        $out | Should -Match 'What if: .*"Create .*" on target "web03 in datacenter wi-1"'
        $out | Should -Match 'What if: .*"Create .*" on target "web05 in datacenter wi-1"'
        $out | Should -Match 'What if: .*"Stop \[match 2 of 2'
        $out | Should -Match 'What if: .*"Remove, with its disks \[match 1 of 2'
        $out | Should -Match 'What if: .*"Move from host'
        $out | Should -Match 'What if: .*"Resume" on target'
        $out | Should -Match 'What if: .*"Set PageSize'
    }

    It 'left the -wal file empty' {
        (Get-Item "$($script:state)-wal").Length | Should -Be 0
    }

    It 'left every table identical, row by row' {
        $after = @(Get-SqliteDump $script:conn)
        $after.Count | Should -Be $script:dumpBefore.Count
        Compare-Object $script:dumpBefore $after | Should -BeNullOrEmpty
    }

    It 'wrote no journal row' {
        (Invoke-SqliteQuery $script:conn "SELECT count(*) AS n FROM `"$($script:journalTable)`"").n | Should -Be $script:journalBefore
    }

    It 'did not write the configuration file' {
        Test-Path $env:GRIDAUTOMATION_CONFIG | Should -Be $script:configExisted
    }
}
