# Resume-GridOperation: refuses what is not interrupted; finishes and rolls back interrupted operations (the crash
# test covers operations interrupted by a killed process; here an operation is interrupted the same way, once).

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name resume
    New-SimDatacenter -Name re-1 -Parameters @{ Workloads = 6 } | Out-Null
    Start-GridWorkload -Name * -Datacenter re-1
    # Interrupt a bulk stop by killing its process.
    $p = Start-ChildPwsh -Script @'
Connect-GridDatacenter -Provider Simulator -Name re-1 -LatencyMs 1500 -Confirm:$false | Out-Null
Stop-GridWorkload -Name * -Datacenter re-1 -Force
'@
    try {
        Wait-Until -TimeoutSeconds 90 -Because 'the child to begin its stops' -Condition { @(Get-GridOperation -Kind Stop -State Running).Count -ge 2 }
    }
    finally { if (-not $p.HasExited) { $p.Kill($true) }; $p.WaitForExit() }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Resume-GridOperation' {
    It 'refuses an operation that is not interrupted (OperationNotInterrupted) and an unknown id (OperationNotFound)' {
        $ok = Get-GridOperation -Kind Register -Last 1
        $ev = $null
        Resume-GridOperation -Id $ok.Id -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'OperationNotInterrupted,*'
        $ev[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
        $ev = $null
        Resume-GridOperation -Id ([guid]::NewGuid()) -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'OperationNotFound,*'
    }
    It 'sees the killed process''s operations as Interrupted' {
        $script:int = @(Get-GridOperation -State Interrupted)
        $script:int.Count | Should -BeGreaterOrEqual 2
    }
    It 'rolls one back with -Rollback' {
        $r = Resume-GridOperation -Id $script:int[0].Id -Rollback -PassThru -Confirm:$false
        $r.State | Should -Be 'RolledBack'
    }
    It 'finishes the others, from the pipeline, and writes them with -PassThru' {
        $r = @($script:int | Select-Object -Skip 1 | Resume-GridOperation -PassThru -Confirm:$false)
        $r.Count | Should -Be ($script:int.Count - 1)
        $r.State | Sort-Object -Unique | Should -Be 'Succeeded'
        foreach ($o in $r) { (Get-GridWorkload -Id $o.Target).State | Should -Be 'Stopped' }
        @(Get-GridOperation -State Interrupted, Running).Count | Should -Be 0
    }
    It 'writes nothing without -PassThru' {
        Resume-GridOperation -Id $script:int[1].Id -Confirm:$false -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}
