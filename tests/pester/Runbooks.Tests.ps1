# The example runbooks of docs/runbooks, run as Azure Automation runs a PowerShell 7 runbook: a fresh
# `pwsh -NonInteractive -NoProfile -File`, stdin closed, the default $ConfirmPreference, and the module imported by name
# from the Automation package (out/GridAutomation.zip, extracted into a folder on PSModulePath as Automation does
# with an imported module). Against the simulator; the job must not prompt, its output/verbose/error streams must
# carry what docs/runbooks.md says, and a failure must end it with a non-zero exit code and the error id.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name runbooks
    $root = Get-RepoRoot
    $script:Zip = Join-Path $root 'out/GridAutomation.zip'
    $script:Modules = Join-Path $script:dir 'modules'
    $script:RunbookDir = Join-Path $root 'docs/runbooks'

    function Invoke-Runbook {
        param([string] $File, [string[]] $Arguments = @(), [int] $TimeoutSeconds = 180)
        $cmd = Get-PwshCommand
        $psi = [Diagnostics.ProcessStartInfo]::new($cmd[0])
        foreach ($a in ($cmd | Select-Object -Skip 1)) { $psi.ArgumentList.Add($a) }
        foreach ($a in @('-NonInteractive', '-NoProfile', '-File', (Join-Path $script:RunbookDir $File)) + $Arguments) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        # Only the extracted package on PSModulePath (plus PowerShell's own modules), as in an Automation sandbox.
        $psi.Environment['PSModulePath'] = $script:Modules + [IO.Path]::PathSeparator + (Join-Path $PSHOME 'Modules')
        $psi.Environment['NO_COLOR'] = '1'
        $p = [Diagnostics.Process]::Start($psi)
        $p.StandardInput.Close()
        $errTask = $p.StandardError.ReadToEndAsync()
        $outTask = $p.StandardOutput.ReadToEndAsync()
        if (-not $p.WaitForExit($TimeoutSeconds * 1000)) { $p.Kill($true); throw "The runbook $File did not end in $TimeoutSeconds s (a prompt?)." }
        $p.WaitForExit()
        [pscustomobject]@{ ExitCode = $p.ExitCode; Output = $outTask.Result; Error = $errTask.Result }
    }

    New-SimDatacenter -Name rb-1 -Parameters @{ Hosts = 2 } | Out-Null
    New-SimDatacenter -Name rb-2 -Owner Fabrikam -Parameters @{ Hosts = 2 } | Out-Null
    $a1 = Get-SimCreateArgs -Datacenter rb-1
    $a2 = Get-SimCreateArgs -Datacenter rb-2
    New-GridWorkload -Name dev-a, dev-b @a1 -Tag @{ env = 'dev' } -Confirm:$false | Out-Null
    New-GridWorkload -Name dev-c @a2 -Tag @{ env = 'dev' } -Confirm:$false | Out-Null
    New-GridWorkload -Name prod-a @a2 -Tag @{ env = 'prod' } -Confirm:$false | Out-Null
    New-GridWorkload -Name dev-off @a1 -Tag @{ env = 'dev' } -NoStart -Confirm:$false | Out-Null
    Reset-GridEngine
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'The Azure Automation package' {
    It 'is out/GridAutomation.zip: one folder named as the module with the manifest at its root, under 100 MB' {
        $script:Zip | Should -Exist -Because 'build.ps1 -Task Package (run by -Task Test) writes it'
        (Get-Item $script:Zip).Length | Should -BeLessThan 100MB
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $z = [IO.Compression.ZipFile]::OpenRead($script:Zip)
        try {
            $names = @($z.Entries.FullName)
            $names | Should -Contain 'GridAutomation/GridAutomation.psd1'
            $names | Should -Contain 'GridAutomation/GridAutomation.dll'
            $names | Should -Contain 'GridAutomation/GridAutomation.Dsc.psm1'
            @($names | Where-Object { $_ -notlike 'GridAutomation/*' }).Count | Should -Be 0 -Because 'everything is inside the module folder'
            @($names | Where-Object { $_ -match '^GridAutomation/\d+\.\d+\.\d+/' }).Count | Should -Be 0 -Because 'Automation wants no version folder'
            @($names | Where-Object { $_ -match '\\' }).Count | Should -Be 0 -Because 'zip entries use forward slashes'
        }
        finally { $z.Dispose() }
    }

    It 'imports by name from a folder on PSModulePath, as Automation imports it' {
        Expand-Archive -Path $script:Zip -DestinationPath $script:Modules -Force
        $r = Invoke-Runbook -File '../../tests/pester/Runbooks.Import.ps1'
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -Match ([regex]::Escape("BASE=$(Join-Path $script:Modules 'GridAutomation')"))
        $r.Output | Should -Match 'COMMANDS=\d+'
    }
}

Describe 'Stop-GridDevWorkloads.ps1 (nightly)' {
    It 'stops exactly the running workloads tagged env=dev, in every datacenter, without a prompt' {
        $r = Invoke-Runbook -File 'Stop-GridDevWorkloads.ps1' -Arguments @('-DetailedLog')
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Error | Should -BeNullOrEmpty
        foreach ($n in 'dev-a', 'dev-b', 'dev-c') { $r.Output | Should -Match "\b$n\b" }
        $r.Output | Should -Not -Match 'prod-a'
        $r.Output | Should -Match 'VERBOSE: 3 running workload\(s\) tagged env=dev'
        Reset-GridEngine
        foreach ($n in 'dev-a', 'dev-b', 'dev-c', 'dev-off') { (Get-GridWorkload -Name $n).State | Should -Be 'Stopped' }
        (Get-GridWorkload -Name prod-a).State | Should -Be 'Running'
    }

    It 'a second run has nothing to do and writes no journal row' {
        $before = @(Get-GridOperation).Count
        $r = Invoke-Runbook -File 'Stop-GridDevWorkloads.ps1'
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output.Trim() | Should -BeNullOrEmpty -Because 'verbose output is off unless -DetailedLog'
        Reset-GridEngine
        @(Get-GridOperation).Count | Should -Be $before
    }

    It 'fails with a non-zero exit code and the error id <Id> for <Case>' -ForEach @(
        @{ Case = 'an unknown datacenter'; Id = 'DatacenterNotFound'; Arguments = @('-Datacenter', 'nowhere') }
        @{ Case = 'a malformed tag'; Id = 'RunbookInvalidTag'; Arguments = @('-Tag', 'dev') }
    ) {
        $r = Invoke-Runbook -File 'Stop-GridDevWorkloads.ps1' -Arguments $Arguments
        $r.ExitCode | Should -Not -Be 0
        $r.Error | Should -Match "(?m)$Id`:"
    }
}

Describe 'Send-GridShowback.ps1 (monthly)' {
    BeforeAll {
        $script:Out = Join-Path $script:dir 'showback'
        New-Item -ItemType Directory -Path $script:Out -Force | Out-Null
        $script:ThisMonth = [datetime]::UtcNow.ToString('yyyy-MM', [Globalization.CultureInfo]::InvariantCulture)
    }

    It 'observes, then writes the month as FOCUS CSV and HTML and the totals per owner and consumer, without a prompt' {
        $r = Invoke-Runbook -File 'Send-GridShowback.ps1' -Arguments @('-Month', $script:ThisMonth, '-OutputDirectory', $script:Out, '-DetailedLog')
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Error | Should -BeNullOrEmpty
        $r.Output | Should -Match "VERBOSE: Observed 'rb-1': \d+ workload\(s\)"
        $r.Output | Should -Match "VERBOSE: Showback for $($script:ThisMonth)"
        $csv = Join-Path $script:Out "showback-$($script:ThisMonth).csv"
        $html = Join-Path $script:Out "showback-$($script:ThisMonth).html"
        $csv | Should -Exist
        $html | Should -Exist
        $rows = @(Import-Csv $csv)
        $rows.Count | Should -BeGreaterThan 0
        $rows[0].PSObject.Properties.Name | Should -Contain 'BilledCost'
        ($rows.SubAccountId | Sort-Object -Unique) | Should -Contain 'Contoso'
        (Get-Content -Raw $html) | Should -Match '<svg'
        $r.Output | Should -Match ([regex]::Escape($csv))
        $r.Output | Should -Match '(?m)^Kind\s*:\s*Total'
        $r.Output | Should -Match '(?m)^Owner\s*:\s*Fabrikam'
        # the file's BilledCost adds up to Get-GridUsage's cost of the month (read a few seconds later: open intervals grew a little)
        Reset-GridEngine
        $from = [datetime]::ParseExact($script:ThisMonth, 'yyyy-MM', [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AssumeUniversal -bor [Globalization.DateTimeStyles]::AdjustToUniversal)
        $sum = ($rows | Measure-Object -Property BilledCost -Sum).Sum
        $total = (Get-GridUsage -From $from -To $from.AddMonths(1) -GroupBy Owner | Where-Object { -not $_.IsTotal } | Measure-Object -Property Cost -Sum).Sum
        $total | Should -BeGreaterThan 0
        [math]::Abs([double]$total - [double]$sum) | Should -BeLessThan 0.01
    }

    It 'fails with a non-zero exit code and the error id <Id> for <Case>' -ForEach @(
        @{ Case = 'a malformed month'; Id = 'RunbookInvalidMonth'; Arguments = @('-Month', 'November') }
        @{ Case = 'a missing output folder'; Id = 'RunbookOutputDirectoryNotFound'; Arguments = @('-OutputDirectory', '/nonexistent/showback') }
        @{ Case = 'an unknown datacenter'; Id = 'DatacenterNotFound'; Arguments = @('-Datacenter', 'nowhere', '-OutputDirectory', '.') }
    ) {
        $r = Invoke-Runbook -File 'Send-GridShowback.ps1' -Arguments $Arguments
        $r.ExitCode | Should -Not -Be 0
        $r.Error | Should -Match "(?m)$Id`:"
    }
}

Describe 'Invoke-GridDrDrill.ps1 (weekly)' {
    BeforeAll {
        New-SimDatacenter -Name rb-dr -Parameters @{ Hosts = 2 } | Out-Null
        $a1 = Get-SimCreateArgs -Datacenter rb-1
        New-GridWorkload -Name drill-a, drill-b @a1 -Tag @{ DrDrill = 'weekly' } -Confirm:$false | Out-Null
        New-GridWorkload -Name drill-bare @a1 -Confirm:$false | Out-Null
        Enable-GridReplication -Name drill-a, drill-b -Datacenter rb-1 -DestinationDatacenter rb-dr -Force
        Reset-GridEngine
        # What a drill must leave as it found it: every workload with its state, every protected item with its test copies.
        function Get-GridPicture {
            Reset-GridEngine
            (@(Get-GridWorkload | Sort-Object Id | ForEach-Object { "$($_.Id) $($_.State)" }) +
             @(Get-GridReplication | Sort-Object Name | ForEach-Object { "$($_.Name) $($_.State) $($_.TestWorkloadIds.Count)" })) -join "`n"
        }
    }

    It 'test-fails the tagged workloads over, checks the copies run, removes them, and reports RTO and data loss' {
        $before = Get-GridPicture
        $opsBefore = @(Get-GridOperation -Last 100000).Count
        $r = Invoke-Runbook -File 'Invoke-GridDrDrill.ps1' -Arguments @('-DetailedLog')
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Error | Should -BeNullOrEmpty
        $r.Output | Should -Match 'VERBOSE: DR drill of 2 workload\(s\) tagged DrDrill=weekly'
        $r.Output | Should -Match "VERBOSE: 'drill-a' is protected into 'rb-dr' \(Healthy"
        $r.Output | Should -Match "VERBOSE: Test copy of 'drill-a' runs as rb-dr/\S+: RTO [\d.]+ s, data loss [\d.]+ s"
        $r.Output | Should -Match "VERBOSE: Test copy of 'drill-b' runs as rb-dr/"
        $r.Output | Should -Match 'VERBOSE: Removing the test copies of 2 workload\(s\)'
        $r.Output | Should -Match 'VERBOSE: DR drill passed: 2 workload\(s\)'
        # the report: one object per workload
        ([regex]::Matches($r.Output, '(?m)^Result\s*:\s*Passed')).Count | Should -Be 2
        ([regex]::Matches($r.Output, '(?m)^TestCopyState\s*:\s*Running')).Count | Should -Be 2
        $r.Output | Should -Match '(?m)^Rto\s*:\s*\d{2}:\d{2}:\d{2}'
        $r.Output | Should -Match '(?m)^DataLoss\s*:\s*\d{2}:\d{2}:\d{2}'
        $r.Output | Should -Not -Match 'drill-bare'
        # nothing left behind, and the drill was journaled (the test failover and its cleanup)
        Get-GridPicture | Should -Be $before
        @(Get-GridWorkload -Datacenter rb-dr).Count | Should -Be 0
        @(Get-GridOperation -Last 100000).Count | Should -BeGreaterThan $opsBefore
    }

    It 'fails before starting anything when a workload is not protected: non-zero exit, NotProtected, nothing changed' {
        $before = Get-GridPicture
        $opsBefore = @(Get-GridOperation -Last 100000).Count
        $r = Invoke-Runbook -File 'Invoke-GridDrDrill.ps1' -Arguments @('-Name', 'drill-a,drill-bare', '-DetailedLog')
        $r.ExitCode | Should -Not -Be 0
        $r.Error | Should -Match "(?m)NotProtected: 'drill-bare' \(rb-1/\S+\) is not protected"
        $r.Output | Should -Not -Match 'Test copy of'
        Get-GridPicture | Should -Be $before
        @(Get-GridOperation -Last 100000).Count | Should -Be $opsBefore
    }

    It 'fails with a non-zero exit code and the error id <Id> for <Case>' -ForEach @(
        @{ Case = 'a tag nothing carries'; Id = 'RunbookNothingToDrill'; Arguments = @('-Tag', 'DrDrill=never') }
        @{ Case = 'a malformed tag'; Id = 'RunbookInvalidTag'; Arguments = @('-Tag', 'weekly') }
        @{ Case = 'an unknown workload'; Id = 'WorkloadNotFound'; Arguments = @('-Name', 'drill-nobody') }
    ) {
        $r = Invoke-Runbook -File 'Invoke-GridDrDrill.ps1' -Arguments $Arguments
        $r.ExitCode | Should -Not -Be 0
        $r.Error | Should -Match "(?m)$Id`:"
    }
}
