# The test harness of build.ps1 itself: it must count passed/failed/skipped reliably, from TRX files (xunit) and from
# Pester's result object, and find the test projects and providers by glob.

BeforeAll {
    $Root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    . (Join-Path $Root 'build.ps1') -Task Build   # dot-sourced: defines the functions, runs nothing
    $Temp = Join-Path ([IO.Path]::GetTempPath()) ("ga-harness-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    $null = New-Item -ItemType Directory -Force $Temp
}
AfterAll { Remove-Item $Temp -Recurse -Force -ErrorAction SilentlyContinue }

Describe 'build.ps1 test harness' {
    It 'counts a TRX file''s results by outcome (xunit skips are NotExecuted)' {
        $trx = Join-Path $Temp 'sample.trx'
        @'
<?xml version="1.0" encoding="utf-8"?>
<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
  <Results>
    <UnitTestResult testName="A.Passes" outcome="Passed" />
    <UnitTestResult testName="A.AlsoPasses" outcome="Passed" />
    <UnitTestResult testName="A.Fails" outcome="Failed"><Output><ErrorInfo><Message>boom</Message></ErrorInfo></Output></UnitTestResult>
    <UnitTestResult testName="A.TimesOut" outcome="Timeout" />
    <UnitTestResult testName="A.Skipped" outcome="NotExecuted"><Output><ErrorInfo><Message>libvirt is not installed</Message></ErrorInfo></Output></UnitTestResult>
  </Results>
  <ResultSummary outcome="Failed"><Counters total="5" passed="2" failed="1" /></ResultSummary>
</TestRun>
'@ | Set-Content $trx
        $r = Read-Trx $trx
        $r.Passed | Should -Be 2
        $r.Failed | Should -Be 2 -Because 'a timeout is a failure'
        $r.Skipped | Should -Be 1
        $r.SkippedNames | Should -Be @('A.Skipped: libvirt is not installed')
        $r.FailedNames | Should -Be @('A.Fails (Failed): boom', 'A.TimesOut (Timeout)') -Because 'a failure says why when the TRX does'
    }

    It 'counts Pester failures, skips and failed blocks from the result object' {
        $dir = Join-Path $Temp 'pester'; $null = New-Item -ItemType Directory -Force $dir
        @'
Describe 'sample' {
    It 'passes' { 1 | Should -Be 1 }
    It 'fails' { 1 | Should -Be 2 }
    It 'skips' -Skip { }
}
Describe 'broken block' {
    BeforeAll { throw 'setup failed' }
    It 'never runs' { }
}
'@ | Set-Content (Join-Path $dir 'Sample.Tests.ps1')
        $summary = Join-Path $dir 'summary.json'
        $pester = Join-Path (Get-GlobalPackagesFolder) 'pester/6.2.0/tools/Pester.psd1'
        $null = Invoke-ChildPwsh @('-File', (Join-Path $Root 'tools/build/Invoke-PesterTests.ps1'), '-PesterManifest', $pester,
            '-TestPath', (Join-Path $dir 'Sample.Tests.ps1'), '-SummaryPath', $summary, '-ResultsDir', $dir, '-Verbosity', 'None') -AllowFailure
        $s = Get-Content -Raw $summary | ConvertFrom-Json
        $s.Passed | Should -Be 1
        $s.Skipped | Should -Be 1
        # The failed test, and the test of the broken block (counted once, not once more for the block).
        $s.Failed | Should -Be 2
        @($s.FailedNames) | Should -Contain 'sample.fails: Expected 2, but got 1.'  # the name and the first line of why
    }

    It 'counts a test file that cannot be parsed as a failure' {
        $dir = Join-Path $Temp 'broken'; $null = New-Item -ItemType Directory -Force $dir
        'Describe "x" { It "y" { 1 | Should -Be 1 ' | Set-Content (Join-Path $dir 'Broken.Tests.ps1')
        $summary = Join-Path $dir 'summary.json'
        $pester = Join-Path (Get-GlobalPackagesFolder) 'pester/6.2.0/tools/Pester.psd1'
        $null = Invoke-ChildPwsh @('-File', (Join-Path $Root 'tools/build/Invoke-PesterTests.ps1'), '-PesterManifest', $pester,
            '-TestPath', (Join-Path $dir 'Broken.Tests.ps1'), '-SummaryPath', $summary, '-ResultsDir', $dir, '-Verbosity', 'None') -AllowFailure
        (Get-Content -Raw $summary | ConvertFrom-Json).Failed | Should -Be 1
    }

    It 'fails the run on a failure, and on a skip only under GRIDAUTOMATION_REQUIRE_ALL' {
        Get-TestExitCode 0 0 $false | Should -Be 0
        Get-TestExitCode 1 0 $false | Should -Be 1
        Get-TestExitCode 0 2 $false | Should -Be 0
        Get-TestExitCode 0 2 $true | Should -Be 1
    }

    It 'prints the summary line as "N passed, N failed[, N skipped]"' {
        Format-TestSummary 12 0 0 | Should -BeExactly '12 passed, 0 failed'
        Format-TestSummary 12 1 3 | Should -BeExactly '12 passed, 1 failed, 3 skipped'
    }

    It 'finds the test projects one level under tests/, skipping libraries such as the contract suite' {
        $projects = @(Get-TestProjects)
        $projects | Should -Not -Contain (Join-Path $Root 'tests/GridAutomation.ContractTests/GridAutomation.ContractTests.csproj')
        foreach ($p in $projects) { (Split-Path (Split-Path $p)) | Should -Be (Join-Path $Root 'tests') }
    }

    It 'puts every provider project into the module' {
        $module = @(Get-ModuleProjects)
        foreach ($p in Get-ChildItem (Join-Path $Root 'src') -Directory -Filter 'GridAutomation.Provider.*') {
            $module | Should -Contain (Get-ChildItem $p.FullName -Filter '*.csproj' | Select-Object -First 1).FullName
        }
    }

    It 'reads each project''s target frameworks' {
        Get-TargetFrameworks (Join-Path $Root 'src/GridAutomation.Loader/GridAutomation.Loader.csproj') | Should -Be @('net8.0', 'netstandard2.0')
    }

    It 'hands out the Pester files slowest first, then the rest by name' {
        $paths = @('/t/Zeta.Tests.ps1', '/t/Alpha.Tests.ps1', '/t/Slow2.Tests.ps1', '/t/Slow1.Tests.ps1')
        Get-PesterQueueOrder $paths -SlowFirst @('Slow1', 'Gone', 'Slow2') |
            Should -Be @('/t/Slow1.Tests.ps1', '/t/Slow2.Tests.ps1', '/t/Alpha.Tests.ps1', '/t/Zeta.Tests.ps1')
        # The real list names only files that exist (a renamed file would silently lose its place).
        foreach ($n in $PesterSlowFirst) { Join-Path $Root "tests/pester/$n.Tests.ps1" | Should -Exist }
    }

    It 'two Pester workers on one queue run every file exactly once, and their counts add up' {
        $dir = Join-Path $Temp 'queue-files'; $null = New-Item -ItemType Directory -Force $dir
        $ran = Join-Path $Temp 'queue-ran.txt'
        $files = foreach ($f in @(
                @{ Name = 'A'; Body = "It 'p1' { 1 | Should -Be 1 }; It 'p2' { 1 | Should -Be 1 }" },
                @{ Name = 'B'; Body = "It 'f' { 1 | Should -Be 2 }" },
                @{ Name = 'C'; Body = "It 's' -Skip { }; It 'p' { 1 | Should -Be 1 }" },   # (a file of skips only runs no BeforeAll)
                # D (taken before E) finishes only once E has started: E must run in the other worker, at the same time.
                @{ Name = 'D'; Body = "It 'waits for E' { `$d = [DateTime]::UtcNow.AddSeconds(90); while (-not (Select-String -Path '$ran' -Pattern '^E$' -Quiet) -and [DateTime]::UtcNow -lt `$d) { Start-Sleep -Milliseconds 100 }; Select-String -Path '$ran' -Pattern '^E$' -Quiet | Should -BeTrue }" },
                @{ Name = 'E'; Body = "It 'p' { 1 | Should -Be 1 }" })) {
            $path = Join-Path $dir "$($f.Name).Tests.ps1"
            "BeforeAll { Add-Content -Path '$ran' -Value '$($f.Name)' }`nDescribe '$($f.Name)' { $($f.Body) }" | Set-Content $path
            $path
        }
        $queue = New-PesterQueue (Join-Path $Temp 'queue') $files
        $pwsh = Get-PwshCommand
        $workers = foreach ($n in 1, 2) {
            $argv = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'tools/build/Invoke-PesterTests.ps1'),
                '-PesterManifest', (Get-PesterManifest), '-QueueDir', $queue, '-SummaryPath', (Join-Path $Temp "queue-summary-$n.json"),
                '-ResultsDir', $dir, '-Verbosity', 'None')
            Start-Process -FilePath $pwsh[0] -ArgumentList $argv -NoNewWindow -PassThru -RedirectStandardOutput (Join-Path $Temp "queue-out-$n.txt")
        }
        foreach ($w in $workers) { $w.WaitForExit(120000) | Should -BeTrue }
        @(Get-Content $ran | Sort-Object) | Should -Be @('A', 'B', 'C', 'D', 'E') -Because 'each file ran once, none twice'
        @(Get-ChildItem $queue -Filter '*.claim').Count | Should -Be 5
        # Both workers took files (D passed, so E ran beside it in the other one).
        @(Get-ChildItem $queue -Filter '*.claim' | ForEach-Object { Get-Content $_.FullName } | Sort-Object -Unique).Count | Should -Be 2
        $t = Add-TestCounts @((Read-TestSummary (Join-Path $Temp 'queue-summary-1.json') 'one'), (Read-TestSummary (Join-Path $Temp 'queue-summary-2.json') 'two'))
        $t.Passed | Should -Be 5 -Because 'D passed only if the workers ran side by side'
        $t.Failed | Should -Be 1
        $t.Skipped | Should -Be 1
        @($t.FailedNames) | Should -Be @('B.f: Expected 2, but got 1.')
    }

    It 'a lane that wrote no summary counts as one failure, named' {
        $r = Read-TestSummary (Join-Path $Temp 'no-such-summary.json') 'The xunit lane (exit 137)'
        $r.Failed | Should -Be 1
        $r.FailedNames | Should -Be @('The xunit lane (exit 137) produced no summary')
    }

    It 'selects xunit projects and Pester files by name (-TestProject, -PesterFile), all when none is given' {
        Test-NameSelected 'GridAutomation.Engine.Tests' @() | Should -BeTrue
        Test-NameSelected 'GridAutomation.Engine.Tests' @('*.Core.Tests', '*.Engine.*') | Should -BeTrue
        Test-NameSelected 'GridAutomation.Engine.Tests' @('*.Core.Tests') | Should -BeFalse
        $TestProject = @('GridAutomation.Engine.Tests')
        @(Get-TestProjects) | Should -Be @((Join-Path $Root 'tests/GridAutomation.Engine.Tests/GridAutomation.Engine.Tests.csproj'))
        $PesterFile = @('Get-GridSize', 'WhatIf')
        @(Get-PesterTestFiles | ForEach-Object { Split-Path -Leaf $_ }) | Should -Be @('Get-GridSize.Tests.ps1', 'WhatIf.Tests.ps1')
    }

    It 'runs the setup scripts one after the other in the background, prints their output, warns for each that failed' {
        $dir = Join-Path $Temp 'setup'; $null = New-Item -ItemType Directory -Force $dir
        $ok = Join-Path $dir 'ok.sh'; $bad = Join-Path $dir 'bad.sh'
        "sleep 1; echo first-done" | Set-Content $ok
        "echo second-started; exit 3" | Set-Content $bad
        $setup = Start-TestSetupScripts (Join-Path $dir 'logs') @($ok, $bad) 6>$null
        if (((& id -u) -ne '0') -or -not (Get-Command apt-get -ErrorAction SilentlyContinue)) {
            $setup | Should -BeNullOrEmpty -Because 'without root and apt-get nothing is started (and the skip is warned)'
            return
        }
        $out = @(Wait-TestSetupScripts $setup 3>&1 6>&1 | ForEach-Object { "$_" })
        $out | Should -Contain 'first-done'
        [array]::IndexOf($out, 'first-done') | Should -BeLessThan ([array]::IndexOf($out, 'second-started')) -Because 'one after the other'
        @($out | Where-Object { $_ -like '*bad.sh exited with code 3*' }).Count | Should -Be 1
        @($out | Where-Object { $_ -like '*ok.sh exited*' }).Count | Should -Be 0
    }
}
