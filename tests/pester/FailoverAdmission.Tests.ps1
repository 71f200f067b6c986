# Issue 17 (failover benchmarks and admission speed): Enable-GridReplication -Option (the copy's create settings, recorded
# with the item and used by every failover of it), Start-GridFailover -Verbose printing each phase's time (admission, each
# group), and a run whose copies exceed the agreement's quota refused as a whole, nothing journaled or started.
# The batch admission itself (one listing per covered datacenter, two concurrent runs) is tested in xunit:
# FailoverAdmissionBatchTests.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name failover-admission
    New-SimDatacenter -Name fa-a -Parameters @{ Workloads = 12; BandwidthMBps = 16000000 } | Out-Null
    New-SimDatacenter -Name fa-b -Owner Fabrikam -Parameters @{ BandwidthMBps = 16000000; Networks = 'lan', 'isolated' } | Out-Null
    New-GridAgreement -Owner Fabrikam -Consumer Contoso -Datacenter 'fa-*' -MaxWorkloads 3 -Force | Out-Null
    $script:ws = @(Get-GridWorkload -Datacenter fa-a | Where-Object State -eq 'Running' | Sort-Object Name | Select-Object -First 4)
    function Get-OperationCount { @(Get-GridOperation -Last 100000).Count }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Enable-GridReplication -Option and the admission of a failover run' {
    It '-Option is recorded with the item: the test copy is created with it' {
        $script:ws.Count | Should -Be 4
        $script:ws | Enable-GridReplication -DestinationDatacenter fa-b -Option @{ Network = 'isolated' } -Force
        @(Get-GridReplication).Count | Should -Be 4
        $null = Start-GridFailover -Name $script:ws[0].Name -Mode Test -Force
        $copy = Get-GridWorkload -Datacenter fa-b | Where-Object { $_.Tags['GridReplicaOf'] -eq $script:ws[0].Id }
        $copy.Properties['Network'] | Should -Be 'isolated'
        Stop-GridFailover -Name $script:ws[0].Name -Test -Force
        @(Get-GridWorkload -Datacenter fa-b).Count | Should -Be 0
    }

    It 'four copies under a quota of three: refused as a whole, nothing journaled, nothing at the destination' {
        $before = Get-OperationCount
        { Start-GridFailover -Name $script:ws.Name -Mode Planned -Force -ErrorAction Stop } | Should -Throw -ErrorId 'AgreementQuotaExceeded,*'
        Get-OperationCount | Should -Be $before
        @(Get-GridWorkload -Datacenter fa-b).Count | Should -Be 0
        Get-GridReplication | ForEach-Object { $_.State | Should -Be 'Protected' }
        @(Get-GridWorkload -Datacenter fa-a | Where-Object { $_.Id -in $script:ws.Id -and $_.State -eq 'Running' }).Count | Should -Be 4
    }

    It '-Verbose prints the admission (one listing per covered datacenter) and each group''s time' {
        $verbose = Start-GridFailover -Name $script:ws[0..2].Name -Mode Unplanned -Force -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        @($verbose -match "^Admission: listed 'fa-a' once for 3 workload").Count | Should -Be 0 # fa-a is Contoso's own, not lent
        @($verbose -match "^Admission: listed 'fa-b' once for 3 workload").Count | Should -Be 1
        @($verbose -match '^Admission: 3 of 3 workload\(s\) admitted').Count | Should -Be 1
        @($verbose -match '^Failover: 3 workload\(s\) checked in [0-9.]+ s, admitted in [0-9.]+ s').Count | Should -Be 1
        @($verbose -match '^Failover: group 1 \(3 workload\(s\), 0 failed\) took [0-9.]+ s').Count | Should -Be 1
        @(Get-GridWorkload -Datacenter fa-b | Where-Object State -eq 'Running').Count | Should -Be 3
    }
}
