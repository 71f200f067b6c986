<#
.SYNOPSIS
    Runs Pester (imported by path) over the given test files and writes the counts, taken from the result object, to
    a JSON file. Started by build.ps1 -Task Test in a child pwsh; Invoke-Pester's exit code is not used.
#>
param(
    [Parameter(Mandatory)][string] $PesterManifest,
    [Parameter(Mandatory)][string] $TestPath,
    [Parameter(Mandatory)][string] $SummaryPath,
    [Parameter(Mandatory)][string] $ResultsDir,
    [ValidateSet('None', 'Normal', 'Detailed', 'Diagnostic')][string] $Verbosity = 'Detailed'
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterManifest -Force
$config = New-PesterConfiguration
$config.Run.Path = @($TestPath -split [IO.Path]::PathSeparator)
$config.Run.PassThru = $true
$config.Run.Exit = $false
$config.Output.Verbosity = $Verbosity
$config.Output.RenderMode = 'Plaintext'
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = Join-Path $ResultsDir 'pester.xml'
$result = Invoke-Pester -Configuration $config

function Get-Count($name) { if ($result.PSObject.Properties[$name]) { [int]$result.$name } else { 0 } }
$failedNames = @($result.Failed | ForEach-Object { $_.ExpandedPath })
# The same names with the first line of the error, for the summary a CI log shows last.
$failedWhy = @($result.Failed | ForEach-Object {
        $first = @($_.ErrorRecord | Select-Object -First 1 | ForEach-Object { "$($_.Exception.Message)" -split "`r?`n" | Where-Object { $_.Trim() } | Select-Object -First 1 })
        if ($first) { "$($_.ExpandedPath): $($first[0])" } else { $_.ExpandedPath }
    })
# A block that fails outside an It (BeforeAll, AfterAll) marks its tests failed; if it has none that did, it still
# counts as one failure. A file that fails to load (parse error) is a failed container: one failure each.
$orphanBlocks = @($result.FailedBlocks | Where-Object { $p = "$($_.ExpandedPath)."; -not @($failedNames | Where-Object { $_.StartsWith($p) }).Count })
$failedContainers = @($result.FailedContainers)
$skippedNames = @($result.Skipped | ForEach-Object { "$($_.ExpandedPath)$(if ($_.ErrorRecord) { ': ' + ($_.ErrorRecord | Select-Object -First 1).Exception.Message })" })
$summary = [ordered]@{
    Passed       = Get-Count 'PassedCount'
    Failed       = (Get-Count 'FailedCount') + $orphanBlocks.Count + $failedContainers.Count
    Skipped      = (Get-Count 'SkippedCount') + (Get-Count 'InconclusiveCount')
    NotRun       = Get-Count 'NotRunCount'
    FailedNames  = @($failedWhy) + @($orphanBlocks | ForEach-Object { "$($_.ExpandedPath) (block)" }) + @($failedContainers | ForEach-Object { "$($_.Item) (file)" })
    SkippedNames = $skippedNames
}
$summary | ConvertTo-Json -Depth 4 | Set-Content -Path $SummaryPath -Encoding utf8
