# Enable-GridReplication -Name/-Datacenter (issue 18): workloads named (wildcards) in the datacenters given, resolved by the
# same code as Move-GridWorkload -Name (ChangeCmdlet.FindWorkloadsByName): every match protected, each prompt says which
# match it is, a literal name that matches nothing is WorkloadNotFound, and -Datacenter keeps a same-named workload
# elsewhere out. The -InputObject/-Id ways and the replication itself are tested in Failover.Tests.ps1 and the xunit tests.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name enable-replication
    New-SimDatacenter -Name er-a -Parameters @{ Hosts = 2 } | Out-Null
    New-SimDatacenter -Name er-b -Parameters @{ Hosts = 2 } | Out-Null
    New-SimDatacenter -Name er-c -Parameters @{ Hosts = 2 } | Out-Null
    $a = Get-SimCreateArgs -Datacenter er-a
    $c = Get-SimCreateArgs -Datacenter er-c
    New-GridWorkload -Name er-db, er-web1, er-web2 @a -Confirm:$false | Out-Null
    New-GridWorkload -Name er-web1 @c -Confirm:$false | Out-Null
    function Get-OperationCount { @(Get-GridOperation -Last 100000).Count }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Enable-GridReplication -Name' {
    It 'is the default parameter set, -Name positional, with -Datacenter beside it (as Move-GridWorkload)' {
        $cmd = Get-Command Enable-GridReplication
        $cmd.DefaultParameterSet | Should -Be 'ByName'
        $set = $cmd.ParameterSets | Where-Object Name -eq 'ByName'
        ($set.Parameters | Where-Object Name -eq 'Name').Position | Should -Be 0
        ($set.Parameters | Where-Object Name -eq 'Name').IsMandatory | Should -BeTrue
        $set.Parameters.Name | Should -Contain 'Datacenter'
        (Get-Command Move-GridWorkload).ParameterSets.Where({ $_.Name -eq 'ByName' }).Parameters.Name | Should -Contain 'Datacenter'
    }

    It 'a literal name that matches nothing is WorkloadNotFound, and nothing is journaled' {
        $before = Get-OperationCount
        { Enable-GridReplication -Name er-nothing -DestinationDatacenter er-b -Force -ErrorAction Stop } | Should -Throw -ErrorId 'WorkloadNotFound,*'
        { Enable-GridReplication -Name er-db -Datacenter er-c -DestinationDatacenter er-b -Force -ErrorAction Stop } | Should -Throw -ErrorId 'WorkloadNotFound,*'
        Get-OperationCount | Should -Be $before
        @(Get-GridReplication).Count | Should -Be 0
    }

    It '-WhatIf names every match of a wildcard in its prompt and protects nothing' {
        $child = Invoke-ChildPwsh -Script "Enable-GridReplication -Name 'er-web*' -Datacenter er-a -DestinationDatacenter er-b -WhatIf`n'DONE'"
        $child.ExitCode | Should -Be 0 -Because $child.Error
        $lines = @($child.Output -split "`n" | Where-Object { $_ -match '^What if: ' })
        $lines.Count | Should -Be 2
        foreach ($n in 'er-web1', 'er-web2') { $lines -match """Protect into er-b \[match [12] of 2 for -Name 'er-web\*'\]"" on target ""$n \(er-a/" | Should -HaveCount 1 }
        ($lines -join "`n") | Should -Match 'match 1 of 2'
        ($lines -join "`n") | Should -Match 'match 2 of 2'
        $child.Output | Should -Not -Match 'er-c/'
        Reset-GridEngine
        @(Get-GridReplication).Count | Should -Be 0
    }

    It 'protects a workload by its name alone (positional)' {
        $item = Enable-GridReplication er-db -DestinationDatacenter er-b -RpoMinutes 30 -Force -PassThru
        $item.Name | Should -Be 'er-db'
        $item.SourceDatacenter | Should -Be 'er-a'
        $item.RpoMinutes | Should -Be 30
        (Get-GridReplication -Name er-db).State | Should -Be 'Protected'
    }

    It 'protects every match of a wildcard in the datacenters given, and not the same name elsewhere' {
        $items = @(Enable-GridReplication -Name 'er-web*' -Datacenter er-a -DestinationDatacenter er-b -Force -PassThru)
        $items.Count | Should -Be 2
        @($items.SourceId | Sort-Object) | Should -Be @((Get-GridWorkload -Datacenter er-a -Name 'er-web*').Id | Sort-Object)
        @(Get-GridReplication | Where-Object SourceDatacenter -eq 'er-c').Count | Should -Be 0 -Because '-Datacenter er-a keeps er-c''s er-web1 out'
    }

    It 'binds -Name and -Datacenter from the pipeline by property name' {
        [pscustomobject]@{ Name = 'er-web1'; Datacenter = 'er-c' } | Enable-GridReplication -DestinationDatacenter er-b -Force
        (Get-GridReplication | Where-Object SourceDatacenter -eq 'er-c').Name | Should -Be 'er-web1'
    }

    It 'an already protected workload found by name gives the core''s AlreadyProtected, and nothing changes' {
        $before = Get-OperationCount
        { Enable-GridReplication -Name er-db -DestinationDatacenter er-b -Force -ErrorAction Stop } | Should -Throw -ErrorId 'AlreadyProtected,*'
        Get-OperationCount | Should -Be $before
    }
}
