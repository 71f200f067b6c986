# Ctrl+C (StopProcessing) cancels the work cleanly; bulk work is quiet (no progress records) when nobody watches.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name cancel
    New-SimDatacenter -Name can-1 -Parameters @{ Hosts = 3; Workloads = 16 } | Out-Null
    Start-GridWorkload -Name * -Datacenter can-1
    $script:modulePath = Get-GridModulePath
    $script:repo = Get-RepoRoot
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Ctrl+C' {
    It 'stopping the pipeline cancels the bulk work: the call returns soon and nothing is left running' {
        $rs = [runspacefactory]::CreateRunspace(); $rs.Open()
        $ps = [powershell]::Create(); $ps.Runspace = $rs
        try {
            $null = $ps.AddScript(@"
Import-Module '$($script:modulePath)'
Connect-GridDatacenter -Provider Simulator -Name can-1 -LatencyMs 1500 -Confirm:`$false | Out-Null
Stop-GridWorkload -Name * -Datacenter can-1 -Confirm:`$false
"@)
            $async = $ps.BeginInvoke()
            Wait-Until -TimeoutSeconds 60 -Because 'the stops to begin' -Condition { @(Get-GridOperation -Datacenter can-1 -Kind Stop -State Running).Count -ge 1 }
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $sw.Stop()
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 20
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        }
        finally { $ps.Dispose(); $rs.Dispose() }
        @(Get-GridOperation -Datacenter can-1 -State Running).Count | Should -Be 0
        @(Get-GridWorkload -Datacenter can-1 -State Running).Count | Should -BeGreaterThan 0 -Because 'the stops not yet run were cancelled'
        # Recorded as what happened (not "Failed, OperationCancelled"): never asked = Cancelled, in flight = Interrupted.
        @(Get-GridOperation -Datacenter can-1 -Kind Stop -State Failed).Count | Should -Be 0
        $stops = @(Get-GridOperation -Datacenter can-1 -Kind Stop)
        foreach ($o in $stops) { $o.State | Should -BeIn @('Succeeded', 'Cancelled', 'Interrupted') }
        foreach ($o in $stops | Where-Object State -eq 'Cancelled') { (Get-GridWorkload -Id $o.Target).State | Should -Be 'Running' }
        # Resume-GridOperation finishes the interrupted ones (the help's promise), by batch.
        $batch = ($stops | Select-Object -First 1).BatchId
        Resume-GridOperation -BatchId $batch -Confirm:$false
        @(Get-GridOperation -Datacenter can-1 -Kind Stop -State Interrupted).Count | Should -Be 0
    }
}

Describe 'Progress' {
    It 'writes no progress record when nobody watches (redirected, non-interactive host)' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript(@"
Import-Module '$($script:modulePath)'
`$ProgressPreference = 'Continue'
Connect-GridDatacenter -Provider Simulator -Name can-1 -LatencyMs 0 -Confirm:`$false | Out-Null
Start-GridWorkload -Name * -Datacenter can-1
Stop-GridWorkload -Name * -Datacenter can-1 -Confirm:`$false
"@)
            $null = $ps.Invoke()
            $ps.Streams.Error.Count | Should -Be 0
            $ps.Streams.Progress.Count | Should -Be 0
        }
        finally { $ps.Dispose() }
        @(Get-GridWorkload -Datacenter can-1 -State Stopped).Count | Should -Be 16
    }
}
