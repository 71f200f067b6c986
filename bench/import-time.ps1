<#
.SYNOPSIS
    Import time of the built module over a bare PowerShell start. Goal: < 0.3 s. Prints figures; not a test.

.DESCRIPTION
    Starts `pwsh -NoProfile -c 1` and `pwsh -NoProfile -c "Import-Module ./GridAutomation.psd1"` alternately, several
    times each (after one warm-up of each), and prints the medians and their difference. Also prints the median of
    Import-Module measured inside the process (Measure-Command), which leaves out process start-up noise.
#>
param([int] $Runs = 7)
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
$manifest = Join-Path $root 'GridAutomation.psd1'
$exe = [Environment]::ProcessPath
$pre = @()
if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { $pre = @(Join-Path $PSHOME 'pwsh.dll') }
# Same environment as a user's shell, but never the user's state.
$env:GRIDAUTOMATION_STATE = Join-Path ([IO.Path]::GetTempPath()) ("ga-bench-import-" + [guid]::NewGuid().ToString('n') + '.db')

function Get-Median([double[]] $Values) {
    $s = @($Values | Sort-Object); $n = $s.Count
    if ($n % 2) { return $s[[int][math]::Floor($n / 2)] } else { return ($s[$n / 2 - 1] + $s[$n / 2]) / 2 }
}
function Measure-Start([string] $Command) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    & $exe @pre -NoProfile -NonInteractive -Command $Command | Out-Null
    if ($LASTEXITCODE) { throw "pwsh -c '$Command' exited with $LASTEXITCODE" }
    $sw.Elapsed.TotalSeconds
}

$bareCmd = '1'
$importCmd = "Import-Module '$manifest'"
$inProcCmd = "[Console]::Out.WriteLine((Measure-Command { Import-Module '$manifest' }).TotalSeconds.ToString([cultureinfo]::InvariantCulture))"
$null = Measure-Start $bareCmd; $null = Measure-Start $importCmd   # warm-up (disk cache, JIT of the host)
$bare = @(); $import = @(); $inproc = @()
for ($i = 0; $i -lt $Runs; $i++) {
    $bare += Measure-Start $bareCmd
    $import += Measure-Start $importCmd
    $inproc += [double](& $exe @pre -NoProfile -NonInteractive -Command $inProcCmd | Select-Object -Last 1)
}
$mb = Get-Median $bare; $mi = Get-Median $import; $mp = Get-Median $inproc
Write-Host ("bare pwsh -NoProfile -c 1          : median {0:n3} s over {1} runs" -f $mb, $Runs)
Write-Host ("pwsh -NoProfile -c Import-Module    : median {0:n3} s" -f $mi)
Write-Host ("import time (difference of medians) : {0:n3} s   (goal < 0.300 s) {1}" -f ($mi - $mb), $(if (($mi - $mb) -lt 0.3) { 'MET' } else { 'NOT MET' }))
Write-Host ("Import-Module inside the process    : median {0:n3} s" -f $mp)
Remove-Item $env:GRIDAUTOMATION_STATE* -ErrorAction SilentlyContinue
