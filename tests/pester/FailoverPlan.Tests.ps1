# Recovery plans from PowerShell (issue 17): New/Get/Set/Remove-GridRecoveryPlan, Start-GridFailover -RecoveryPlan
# (by name and piped), a .ps1 script that receives $RecoveryPlanContext, a manual step that pauses the run (Waiting)
# until Resume-GridOperation, and the refusals (two groups, changed script) with nothing journaled.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name foplan
    New-SimDatacenter -Name fp-a -Parameters @{ Hosts = 2 } | Out-Null
    New-SimDatacenter -Name fp-b -Parameters @{ Hosts = 2 } | Out-Null
    $create = Get-SimCreateArgs -Datacenter fp-a
    'fp-db', 'fp-app', 'fp-web' | ForEach-Object { New-GridWorkload -Name $_ @create -Confirm:$false | Out-Null }
    Get-GridWorkload -Datacenter fp-a | Enable-GridReplication -DestinationDatacenter fp-b -Force | Out-Null
    $script:log = Join-Path $script:dir 'ctx.log'
    $script:pre = Join-Path $script:dir 'pre.ps1'
    Set-Content -Path $script:pre -Value "Add-Content -Path '$($script:log)' -Value (`"{0} {1} {2} {3}`" -f `$RecoveryPlanContext.FailoverType, `$RecoveryPlanContext.GroupId, `$RecoveryPlanContext.Stage, (`$RecoveryPlanContext.Workloads.Name -join ','))"
    function Get-OperationCount { @(Get-GridOperation -Last 100000).Count }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Recovery plans' {
    It 'New, Get (table view, wildcards), Set and Remove' {
        $p = New-GridRecoveryPlan -Name erp -Group @('fp-db'), @('fp-app', 'fp-web') -PreScript $script:pre, '' -ManualStep 'Check the database', '' -Description 'two tiers' -Force
        $p.GroupCount | Should -Be 2
        $p.Groups[0].PreScript.Sha256 | Should -Be (Get-FileHash $script:pre -Algorithm SHA256).Hash.ToLowerInvariant()
        (Get-GridRecoveryPlan -Name 'er*').Name | Should -Be 'erp'
        (Get-GridRecoveryPlan | Format-Table | Out-String) | Should -Match 'erp'
        { Get-GridRecoveryPlan -Name nope -ErrorAction Stop } | Should -Throw -ErrorId 'RecoveryPlanNotFound,*'
        New-GridRecoveryPlan -Name tmp -Group @('fp-db') -Force | Out-Null
        Get-GridRecoveryPlan -Name tmp | Remove-GridRecoveryPlan -Force
        @(Get-GridRecoveryPlan).Count | Should -Be 1
        (Set-GridRecoveryPlan -Name erp -Description 'db first' -Force -PassThru).Description | Should -Be 'db first'
    }

    It 'refuses a workload in two groups and a changed script, journaling nothing' {
        $before = Get-OperationCount
        { New-GridRecoveryPlan -Name bad -Group @('fp-db'), @('fp-*') -Force -ErrorAction Stop } | Should -Throw -ErrorId 'WorkloadGivenTwice,*'
        Add-Content -Path $script:pre -Value '# changed'
        { Start-GridFailover -RecoveryPlan erp -Mode Test -Force -ErrorAction Stop } | Should -Throw -ErrorId 'PlanScriptChanged,*'
        Get-OperationCount | Should -Be $before
        Set-GridRecoveryPlan -Name erp -UpdateScriptHash -Force
    }

    It 'runs the groups in order, gives the script its context, waits at the manual step until Resume-GridOperation' {
        $run = Get-GridRecoveryPlan -Name erp | Start-GridFailover -Mode Planned -Force -WarningVariable w -WarningAction SilentlyContinue
        $run.State | Should -Be 'Waiting'
        $run.WaitingFor | Should -Be 'Check the database'
        "$w" | Should -Match 'Resume-GridOperation'
        (Get-GridOperation -Id $run.OperationId).State | Should -Be 'Waiting'
        @(Get-GridOperation -State Waiting).Count | Should -Be 1
        Get-Content $script:log | Should -Be 'Planned 1 Pre fp-db'
        (Get-GridWorkload -Datacenter fp-a -Name fp-db).State | Should -Be 'Stopped'
        @(Get-GridWorkload -Datacenter fp-b | Where-Object State -eq 'Running').Count | Should -Be 1
        Resume-GridOperation -Id $run.OperationId -Force
        (Get-GridOperation -Id $run.OperationId).State | Should -Be 'Succeeded'
        @(Get-GridWorkload -Datacenter fp-b | Where-Object State -eq 'Running').Count | Should -Be 3
        @(Get-GridWorkload -Datacenter fp-a | Where-Object State -eq 'Running').Count | Should -Be 0
        Get-GridReplication | ForEach-Object { $_.State | Should -Be 'FailedOver' }
    }
}
