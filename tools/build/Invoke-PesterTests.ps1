<#
.SYNOPSIS
    Runs Pester (imported by path) over the given test files and writes the counts, taken from the result object, to
    a JSON file. Started by build.ps1 -Task Test in a child pwsh; Invoke-Pester's exit code is not used.

.DESCRIPTION
    With -TestPath: one Invoke-Pester over every file. With -QueueDir: a worker of a shared queue. QueueDir/queue.txt
    lists test files (one a line, the slowest first); each worker claims the next unclaimed one by creating
    QueueDir/<line number>.claim (CreateNew: exactly one worker gets it), runs it, and takes the next, until none is
    left. Two workers on one queue (build.ps1 runs one beside the xunit projects) share the files without a fixed
    split, so neither waits idle while the other still has a long list. The counts of every file are summed.
#>
param(
    [Parameter(Mandatory)][string] $PesterManifest,
    [string] $TestPath,
    [string] $QueueDir,
    [Parameter(Mandatory)][string] $SummaryPath,
    [Parameter(Mandatory)][string] $ResultsDir,
    [ValidateSet('None', 'Normal', 'Detailed', 'Diagnostic')][string] $Verbosity = 'Detailed'
)
$ErrorActionPreference = 'Stop'
if ([string]::IsNullOrEmpty($TestPath) -eq [string]::IsNullOrEmpty($QueueDir)) { throw 'Give -TestPath or -QueueDir (one of them).' }
Import-Module $PesterManifest -Force

function Invoke-PesterOn([string[]] $Paths, [string] $XmlPath) {
    $config = New-PesterConfiguration
    $config.Run.Path = $Paths
    $config.Run.PassThru = $true
    $config.Run.Exit = $false
    $config.Output.Verbosity = $Verbosity
    $config.Output.RenderMode = 'Plaintext'
    $config.TestResult.Enabled = $true
    $config.TestResult.OutputFormat = 'NUnitXml'
    $config.TestResult.OutputPath = $XmlPath
    Invoke-Pester -Configuration $config
}

# The next file of the queue nobody has claimed yet, claimed for this worker; $null when all are taken.
function Get-NextQueuedFile([string] $Dir) {
    $lines = @(Get-Content (Join-Path $Dir 'queue.txt') | Where-Object { $_.Trim() })
    for ($i = 0; $i -lt $lines.Count; $i++) {
        $claim = Join-Path $Dir "$i.claim"
        try { $fs = [IO.File]::Open($claim, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write) }
        catch [IO.IOException] { continue }
        try { $bytes = [Text.Encoding]::UTF8.GetBytes("$PID"); $fs.Write($bytes, 0, $bytes.Length) } finally { $fs.Dispose() }
        return $lines[$i]
    }
    return $null
}

$results = [Collections.Generic.List[object]]::new()
if ($TestPath) {
    $results.Add((Invoke-PesterOn @($TestPath -split [IO.Path]::PathSeparator) (Join-Path $ResultsDir 'pester.xml')))
}
else {
    while ($null -ne ($file = Get-NextQueuedFile $QueueDir)) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $results.Add((Invoke-PesterOn @($file) (Join-Path $ResultsDir ("pester-" + [IO.Path]::GetFileNameWithoutExtension($file) + '.xml'))))
        # One line a file (worker, file, seconds): where the time of a run goes, from the log alone.
        Write-Host ("Pester file done: {0} in {1:n1} s (worker {2})" -f [IO.Path]::GetFileName($file), $sw.Elapsed.TotalSeconds, $PID)
    }
}

function Get-Count($result, $name) { if ($result -and $result.PSObject.Properties[$name]) { [int]$result.$name } else { 0 } }
$passed = 0; $failed = 0; $skipped = 0; $notRun = 0
$failedNames = @(); $skippedNames = @()
foreach ($result in $results) {
    $failedPaths = @($result.Failed | ForEach-Object { $_.ExpandedPath })
    # The same names with the first line of the error, for the summary a CI log shows last.
    $failedWhy = @($result.Failed | ForEach-Object {
            $first = @($_.ErrorRecord | Select-Object -First 1 | ForEach-Object { "$($_.Exception.Message)" -split "`r?`n" | Where-Object { $_.Trim() } | Select-Object -First 1 })
            if ($first) { "$($_.ExpandedPath): $($first[0])" } else { $_.ExpandedPath }
        })
    # A block that fails outside an It (BeforeAll, AfterAll) marks its tests failed; if it has none that did, it still
    # counts as one failure. A file that fails to load (parse error) is a failed container: one failure each.
    $orphanBlocks = @($result.FailedBlocks | Where-Object { $p = "$($_.ExpandedPath)."; -not @($failedPaths | Where-Object { $_.StartsWith($p) }).Count })
    $failedContainers = @($result.FailedContainers)
    $passed += Get-Count $result 'PassedCount'
    $failed += (Get-Count $result 'FailedCount') + $orphanBlocks.Count + $failedContainers.Count
    $skipped += (Get-Count $result 'SkippedCount') + (Get-Count $result 'InconclusiveCount')
    $notRun += Get-Count $result 'NotRunCount'
    $failedNames += @($failedWhy) + @($orphanBlocks | ForEach-Object { "$($_.ExpandedPath) (block)" }) + @($failedContainers | ForEach-Object { "$($_.Item) (file)" })
    $skippedNames += @($result.Skipped | ForEach-Object { "$($_.ExpandedPath)$(if ($_.ErrorRecord) { ': ' + ($_.ErrorRecord | Select-Object -First 1).Exception.Message })" })
}
$summary = [ordered]@{
    Passed       = $passed
    Failed       = $failed
    Skipped      = $skipped
    NotRun       = $notRun
    FailedNames  = $failedNames
    SkippedNames = $skippedNames
}
$summary | ConvertTo-Json -Depth 4 | Set-Content -Path $SummaryPath -Encoding utf8
