#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests, packages and demonstrates the GridAutomation module.

.DESCRIPTION
    Needs only the .NET SDK:  dotnet tool restore && dotnet pwsh ./build.ps1 -Task <Task>

      Build    Publishes net8.0 of the cmdlets (src/GridAutomation), the loader (src/GridAutomation.Loader) and every
               src/GridAutomation.Provider.* project into the repository root, so that `Import-Module ./GridAutomation.psd1`
               loads the module; lays out the netstandard2.0 build (Windows PowerShell 5.1) under Desktop/; builds
               netstandard2.0 of every other src project that targets it; generates en-US/GridAutomation.dll-Help.xml.
      Help     Regenerates en-US/GridAutomation.dll-Help.xml from the built module and docs/cmdlets/*.md.
      Package  Build, then lays out out/GridAutomation/<version>/ (gallery-ready) and out/GridAutomation.zip
               (the layout Azure Automation imports).
      Test     Build + Package, then every xunit project under tests/ and the Pester tests in tests/pester against the
               built module. The last line printed is "N passed, N failed[, N skipped]".
      Demo     Build, then tools/Demo.ps1 on the simulator with its own temporary state file.
      Bench    Build, then bench/*.ps1 (figures, not tests).
      Clean    Removes the build output (root layout, out/, bin/ and obj/ folders of src/, tests/ and tools/).

.PARAMETER CI
    Sets GRIDAUTOMATION_REQUIRE_ALL=1: a test whose prerequisite is missing fails instead of skipping, and any
    skipped test fails the run.

.PARAMETER TestLanes
    -Task Test only. 2 (default): the xunit projects run in a child process while this one runs Pester files; when the
    xunit projects are done, that lane takes Pester files from the same queue (slowest first), so both lanes end close
    together. Its output is printed after this lane's, and the counts of both are summed. 1: xunit then Pester, one
    after the other. See docs/testing.md.

.PARAMETER TestProject
    -Task Test only: run only the xunit projects whose name matches (wildcards), e.g. GridAutomation.Engine.Tests.

.PARAMETER PesterFile
    -Task Test only: run only the Pester files whose name (without .Tests.ps1) matches (wildcards), e.g. Get-Grid*.
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Package', 'Demo', 'Bench', 'Help', 'Clean')]
    [string] $Task = 'Build',
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',
    [switch] $CI,
    # -Task Test: 2 runs the xunit projects in a second lane beside Pester (which then takes Pester files too); 1 runs
    # xunit, then Pester, in this process's order.
    [ValidateRange(1, 2)]
    [int] $TestLanes = 2,
    # -Task Test: only the xunit projects (by name, wildcards) and Pester files (name without .Tests.ps1) named; all
    # when not given. For a quicker local run; CI gives neither.
    [string[]] $TestProject,
    [string[]] $PesterFile
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$Root = $PSScriptRoot
$ModuleName = 'GridAutomation'
$ManifestPath = Join-Path $Root "$ModuleName.psd1"
# The manifest picks Desktop/ paths by $PSEdition, which Import-PowerShellDataFile refuses: read the version as text.
$ModuleVersion = [regex]::Match((Get-Content -Raw $ManifestPath), "(?m)^\s*ModuleVersion\s*=\s*'([^']+)'").Groups[1].Value
$Staging = Join-Path $Root 'out/.staging'
$PackageDir = Join-Path $Root "out/$ModuleName/$ModuleVersion"
# Files of the root layout that Build writes (all git-ignored).
$RootLayoutItems = @('GridAutomation.dll', 'GridAutomation.pdb', 'GridAutomation.Loader.dll', 'GridAutomation.Loader.pdb', 'Dependencies', 'Desktop', 'en-US/GridAutomation.dll-Help.xml')
# The platforms whose native SQLite the package must carry, whatever this machine is.
$PackageRids = @('linux-x64', 'linux-arm64', 'linux-musl-x64', 'linux-musl-arm64', 'osx-x64', 'osx-arm64', 'win-x64', 'win-x86', 'win-arm64')
# What never goes into the layout: PowerShell itself (PowerShellStandard.Library is compile-time only) and host files.
$ExcludedFiles = @('System.Management.Automation.dll', 'Microsoft.Management.Infrastructure.dll')

$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$env:DOTNET_SKIP_FIRST_TIME_EXPERIENCE = '1'
$env:POWERSHELL_TELEMETRY_OPTOUT = '1'
$env:POWERSHELL_UPDATECHECK = 'Off'

# ---------------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------------

function Write-Step([string] $Message) { Write-Host "==> $Message" }

function Invoke-Native {
    param([Parameter(Mandatory)][string] $FilePath, [string[]] $ArgumentList = @(), [switch] $AllowFailure)
    & $FilePath @ArgumentList | Out-Host
    $code = $LASTEXITCODE
    if ($code -ne 0 -and -not $AllowFailure) { throw "'$FilePath $($ArgumentList -join ' ')' exited with code $code." }
    return $code
}

# How to start a child PowerShell like this one. Run as a dotnet tool, this process is `dotnet pwsh.dll`.
function Get-PwshCommand {
    $process = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($process) -eq 'dotnet') { return @($process, (Join-Path $PSHOME 'pwsh.dll')) }
    return @($process)
}

function Invoke-ChildPwsh {
    param([Parameter(Mandatory)][string[]] $ArgumentList, [switch] $AllowFailure)
    $pwsh = Get-PwshCommand
    $all = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive') + $ArgumentList
    return Invoke-Native -FilePath $pwsh[0] -ArgumentList $all -AllowFailure:$AllowFailure
}

function Get-GlobalPackagesFolder {
    if ($env:NUGET_PACKAGES) { return $env:NUGET_PACKAGES }
    $line = & dotnet nuget locals global-packages --list | Select-Object -Last 1
    return ($line -replace '^\s*global-packages:\s*', '').Trim()
}

function Restore-BuildTools {
    Write-Step 'Restoring build tools (Pester, Markdig)'
    $null = Invoke-Native dotnet @('restore', (Join-Path $Root 'tools/Packages/Packages.csproj'), '--nologo', '-v', 'q')
    $script:GlobalPackages = Get-GlobalPackagesFolder
}

function Get-TargetFrameworks([string] $ProjectPath) {
    $xml = [xml](Get-Content -Raw $ProjectPath)
    $values = @($xml.Project.PropertyGroup | ForEach-Object {
            if ($_.PSObject.Properties['TargetFrameworks']) { $_.TargetFrameworks }
            if ($_.PSObject.Properties['TargetFramework']) { $_.TargetFramework }
        }) | Where-Object { $_ -is [string] }
    return @($values | ForEach-Object { $_ -split ';' } | ForEach-Object Trim | Where-Object { $_ })
}

# The projects whose output is the module: the cmdlets, the loader and every provider (discovered by glob).
function Get-ModuleProjects {
    $cmdlets = Join-Path $Root 'src/GridAutomation/GridAutomation.csproj'
    if (-not (Test-Path $cmdlets)) { throw "The cmdlets project $cmdlets does not exist." }
    $projects = @($cmdlets, (Join-Path $Root 'src/GridAutomation.Loader/GridAutomation.Loader.csproj'))
    $projects += @(Get-ChildItem (Join-Path $Root 'src') -Directory -Filter 'GridAutomation.Provider.*' |
            Sort-Object Name | ForEach-Object { Get-ChildItem $_.FullName -Filter '*.csproj' } | ForEach-Object FullName)
    return $projects
}

function Get-AssemblyVersionOrNull([string] $Path) {
    try { return [Reflection.AssemblyName]::GetAssemblyName($Path).Version } catch { return $null }
}

# Copies one project's publish output into a layout: the module's own entry assemblies at the top, everything else
# under Dependencies/. Where two projects bring the same dependency, the newer assembly (then file) version wins.
function Add-ToLayout([string] $PublishDir, [string] $LayoutDir) {
    $top = @('GridAutomation.dll', 'GridAutomation.pdb', 'GridAutomation.Loader.dll', 'GridAutomation.Loader.pdb')
    foreach ($file in Get-ChildItem $PublishDir -Recurse -File) {
        $rel = [IO.Path]::GetRelativePath($PublishDir, $file.FullName)
        if ($file.Name -in $ExcludedFiles -or $file.Name -like '*.deps.json' -or $file.Name -like '*.runtimeconfig.json') { continue }
        $dest = if ($rel -in $top) { Join-Path $LayoutDir $rel } else { Join-Path $LayoutDir "Dependencies/$rel" }
        if (Test-Path $dest) {
            if ((Get-FileHash $dest).Hash -eq (Get-FileHash $file.FullName).Hash) { continue }
            if ($file.Extension -eq '.dll') {
                $old = Get-AssemblyVersionOrNull $dest; $new = Get-AssemblyVersionOrNull $file.FullName
                $oldFile = [Version]((Get-Item $dest).VersionInfo.FileVersion -replace '[^0-9.].*$', '' -replace '^$', '0.0')
                $newFile = [Version]($file.VersionInfo.FileVersion -replace '[^0-9.].*$', '' -replace '^$', '0.0')
                if ($old -and $new -and ($new -lt $old -or ($new -eq $old -and $newFile -le $oldFile))) { continue }
                Write-Host "    $rel`: $old -> $new (from $(Split-Path -Leaf $PublishDir))"
            }
            else { continue }
        }
        $null = New-Item -ItemType Directory -Force (Split-Path $dest)
        Copy-Item $file.FullName $dest -Force
    }
}

function Remove-RootLayout {
    foreach ($item in $RootLayoutItems) {
        $p = Join-Path $Root $item
        if (Test-Path $p) { Remove-Item $p -Recurse -Force }
    }
}

# ---------------------------------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------------------------------

function Invoke-BuildTask {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    Restore-BuildTools
    $projects = Get-ModuleProjects
    if (Test-Path $Staging) { Remove-Item $Staging -Recurse -Force }
    $common = @('-c', $Configuration, '--nologo', '-v', 'q', '-clp:NoSummary', '-p:GenerateDocumentationFile=false')

    # net8.0: every module project is published into staging, then merged into the root layout.
    foreach ($proj in $projects) {
        $name = [IO.Path]::GetFileNameWithoutExtension($proj)
        if ('net8.0' -notin (Get-TargetFrameworks $proj)) { throw "$name does not target net8.0." }
        Write-Step "Publishing $name (net8.0)"
        $null = Invoke-Native dotnet (@('publish', $proj, '-f', 'net8.0', '-o', (Join-Path $Staging "net8.0/$name")) + $common)
    }
    # netstandard2.0 (Windows PowerShell 5.1): built so CI proves it compiles, laid out under Desktop/.
    $desktopProjects = @($projects | Where-Object { 'netstandard2.0' -in (Get-TargetFrameworks $_) })
    foreach ($proj in $desktopProjects) {
        $name = [IO.Path]::GetFileNameWithoutExtension($proj)
        Write-Step "Publishing $name (netstandard2.0)"
        $null = Invoke-Native dotnet (@('publish', $proj, '-f', 'netstandard2.0', '-o', (Join-Path $Staging "netstandard2.0/$name")) + $common)
    }
    # Any other src project targeting netstandard2.0 (the core is built above as a reference of the cmdlets).
    $others = @(Get-ChildItem (Join-Path $Root 'src') -Directory | ForEach-Object { Get-ChildItem $_.FullName -Filter '*.csproj' } |
            Where-Object { $_.FullName -notin $projects -and $_.BaseName -ne 'GridAutomation.Core' -and 'netstandard2.0' -in (Get-TargetFrameworks $_.FullName) })
    foreach ($proj in $others) {
        Write-Step "Building $($proj.BaseName) (netstandard2.0)"
        $null = Invoke-Native dotnet (@('build', $proj.FullName, '-f', 'netstandard2.0') + $common)
    }

    Write-Step 'Laying out the module at the repository root'
    Remove-RootLayout
    foreach ($dir in Get-ChildItem (Join-Path $Staging 'net8.0') -Directory | Sort-Object Name) { Add-ToLayout $dir.FullName $Root }
    $desktop = Join-Path $Root 'Desktop'
    if (Test-Path (Join-Path $Staging 'netstandard2.0')) {
        foreach ($dir in Get-ChildItem (Join-Path $Staging 'netstandard2.0') -Directory | Sort-Object Name) { Add-ToLayout $dir.FullName $desktop }
    }
    Assert-Layout $Root
    Invoke-HelpTask
    Write-Step ("Build done in {0:n0} s: Import-Module ./GridAutomation.psd1" -f $sw.Elapsed.TotalSeconds)
}

function Assert-Layout([string] $Dir) {
    foreach ($required in @('GridAutomation.dll', 'GridAutomation.Loader.dll', 'Dependencies/GridAutomation.Core.dll')) {
        if (-not (Test-Path (Join-Path $Dir $required))) { throw "Layout in $Dir lacks $required." }
    }
    $stray = @(Get-ChildItem $Dir -Filter '*.dll' -File | Where-Object Name -notin @('GridAutomation.dll', 'GridAutomation.Loader.dll'))
    if ($stray) { throw "Unexpected assemblies beside the manifest in $Dir`: $($stray.Name -join ', ')" }
}

# ---------------------------------------------------------------------------------------------------------------------
# Help
# ---------------------------------------------------------------------------------------------------------------------

function Get-MarkdigPath {
    if (-not (Get-Variable -Scope Script -Name GlobalPackages -ErrorAction SilentlyContinue)) { Restore-BuildTools }
    $lib = Join-Path $script:GlobalPackages 'markdig/1.6.0/lib'
    foreach ($tfm in 'net8.0', 'netstandard2.1', 'netstandard2.0') {
        $p = Join-Path $lib "$tfm/Markdig.dll"
        if (Test-Path $p) { return $p }
    }
    throw "Markdig.dll not found under $lib (dotnet restore tools/Packages/Packages.csproj)."
}

function Invoke-HelpTask {
    if (-not (Test-Path (Join-Path $Root 'GridAutomation.dll'))) { throw 'Build the module first (-Task Build).' }
    Write-Step 'Generating en-US/GridAutomation.dll-Help.xml'
    # A child process, so this one never loads the module's assemblies.
    $null = Invoke-ChildPwsh @('-File', (Join-Path $Root 'tools/build/New-GridHelp.ps1'),
        '-ModuleManifest', $ManifestPath, '-DocsPath', (Join-Path $Root 'docs/cmdlets'),
        '-OutFile', (Join-Path $Root 'en-US/GridAutomation.dll-Help.xml'), '-MarkdigPath', (Get-MarkdigPath))
}

# ---------------------------------------------------------------------------------------------------------------------
# Package
# ---------------------------------------------------------------------------------------------------------------------

function Get-SqliteNativePackage {
    # The SQLitePCLRaw.lib.e_sqlite3 version the build resolved (from the cmdlets' deps.json).
    $deps = Join-Path $Staging 'net8.0/GridAutomation/GridAutomation.deps.json'
    if (-not (Test-Path $deps)) { return $null }
    $json = Get-Content -Raw $deps | ConvertFrom-Json
    $lib = $json.libraries.PSObject.Properties | Where-Object Name -like 'SQLitePCLRaw.lib.e_sqlite3/*' | Select-Object -First 1
    if (-not $lib) { return $null }
    return Join-Path $script:GlobalPackages ($lib.Value.path)
}

function Invoke-PackageTask {
    Write-Step "Packaging $ModuleName $ModuleVersion into $PackageDir"
    if (Test-Path (Split-Path $PackageDir)) { Remove-Item (Split-Path $PackageDir) -Recurse -Force }
    $null = New-Item -ItemType Directory -Force $PackageDir
    Copy-Item $ManifestPath $PackageDir
    foreach ($item in @('GridAutomation.dll', 'GridAutomation.Loader.dll', 'Dependencies', 'Desktop', 'GridAutomation.Format.ps1xml', 'GridAutomation.Types.ps1xml', 'GridAutomation.Dsc.psm1', 'en-US')) {
        $src = Join-Path $Root $item
        if (Test-Path $src) { Copy-Item $src (Join-Path $PackageDir $item) -Recurse -Force }
        elseif ($item -ne 'Desktop') { throw "Package: $item is missing (run -Task Build)." }
    }
    foreach ($p in @('LICENSE', 'LICENSE.txt', 'README.md')) { if (Test-Path (Join-Path $Root $p)) { Copy-Item (Join-Path $Root $p) $PackageDir } }

    # The native SQLite of every platform a gallery user may have, not only this machine's: from the package itself.
    $nativePackage = Get-SqliteNativePackage
    foreach ($flavour in @(@{ Dir = $PackageDir; Rids = $PackageRids }, @{ Dir = (Join-Path $PackageDir 'Desktop'); Rids = @('win-x64', 'win-x86', 'win-arm64') })) {
        if (-not (Test-Path (Join-Path $flavour.Dir 'Dependencies'))) { continue }
        $runtimes = Join-Path $flavour.Dir 'Dependencies/runtimes'
        # Keep only the listed platforms (the publish brings ~20, some of them exotic).
        if (Test-Path $runtimes) {
            Get-ChildItem $runtimes -Directory | Where-Object Name -notin $flavour.Rids | Remove-Item -Recurse -Force
        }
        foreach ($rid in $flavour.Rids) {
            $dest = Join-Path $runtimes "$rid/native"
            if (Get-ChildItem $dest -File -ErrorAction SilentlyContinue) { continue }
            if (-not $nativePackage) { throw 'Package: cannot find the SQLitePCLRaw.lib.e_sqlite3 package.' }
            $src = Join-Path $nativePackage "runtimes/$rid/native"
            if (-not (Test-Path $src)) { throw "Package: $src does not exist." }
            $null = New-Item -ItemType Directory -Force $dest
            Copy-Item (Join-Path $src '*') $dest -Recurse -Force
        }
    }
    Get-ChildItem $PackageDir -Recurse -Filter '*.pdb' | Remove-Item -Force
    Assert-Layout $PackageDir
    $size = (Get-ChildItem $PackageDir -Recurse -File | Measure-Object Length -Sum).Sum / 1MB
    Write-Step ("Package laid out: {0} ({1:n1} MB)" -f $PackageDir, $size)
    New-AutomationZip
}

function New-AutomationZip {
    # Azure Automation imports a zip named as the module holding one folder named as the module with the manifest at
    # its root (no version folder): out/GridAutomation.zip -> GridAutomation/GridAutomation.psd1. Limit: 100 MB.
    $zip = Join-Path $Root "out/$ModuleName.zip"
    if (Test-Path $zip) { Remove-Item $zip -Force }
    Add-Type -AssemblyName System.IO.Compression, System.IO.Compression.FileSystem
    $archive = [IO.Compression.ZipFile]::Open($zip, [IO.Compression.ZipArchiveMode]::Create)
    try {
        foreach ($file in Get-ChildItem $PackageDir -Recurse -File) {
            $relative = [IO.Path]::GetRelativePath($PackageDir, $file.FullName).Replace('\', '/')
            $null = [IO.Compression.ZipFileExtensions]::CreateEntryFromFile($archive, $file.FullName, "$ModuleName/$relative", [IO.Compression.CompressionLevel]::Optimal)
        }
    }
    finally { $archive.Dispose() }
    $zipMB = (Get-Item $zip).Length / 1MB
    if ($zipMB -ge 100) { throw ("Package: {0} is {1:n1} MB; Azure Automation takes modules under 100 MB." -f $zip, $zipMB) }
    Write-Step ("Azure Automation package: {0} ({1:n1} MB; import with New-AzAutomationModule -RuntimeVersion 7.4)" -f $zip, $zipMB)
}

# ---------------------------------------------------------------------------------------------------------------------
# Test
# ---------------------------------------------------------------------------------------------------------------------

function Set-TestEnvironment {
    # No test may reach a cloud or use the user's state: clear cloud credentials and endpoints, pin everything local.
    Get-ChildItem env: | Where-Object { $_.Name -match '^(AWS_|AZURE_)' } | ForEach-Object { Remove-Item "env:$($_.Name)" }
    Get-ChildItem env: | Where-Object { $_.Name -match '^GRIDAUTOMATION_' -and $_.Name -ne 'GRIDAUTOMATION_REQUIRE_ALL' } | ForEach-Object { Remove-Item "env:$($_.Name)" }
    $env:AWS_EC2_METADATA_DISABLED = 'true'
    $env:NO_COLOR = '1'
    $env:POWERSHELL_TELEMETRY_OPTOUT = '1'
    $env:POWERSHELL_UPDATECHECK = 'Off'
    $loopback = 'localhost,127.0.0.1,::1'
    $env:NO_PROXY = if ($env:NO_PROXY) { "$($env:NO_PROXY),$loopback" } else { $loopback }
    $env:no_proxy = $env:NO_PROXY
    $script:TestTemp = Join-Path ([IO.Path]::GetTempPath()) ("gridautomation-test-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    $null = New-Item -ItemType Directory -Force $script:TestTemp
    $env:GRIDAUTOMATION_STATE = Join-Path $script:TestTemp 'state.db'
    $env:GRIDAUTOMATION_CONFIG = Join-Path $script:TestTemp 'config.json'
    if ($CI) { $env:GRIDAUTOMATION_REQUIRE_ALL = '1' }
    Write-Step "Test state: $($script:TestTemp) (GRIDAUTOMATION_REQUIRE_ALL=$($env:GRIDAUTOMATION_REQUIRE_ALL))"
}

function Get-TestSetupScripts {
    @(Get-ChildItem (Join-Path $Root 'tests') -Directory | ForEach-Object { Join-Path $_.FullName 'setup.sh' } | Where-Object { Test-Path $_ })
}

# Starts every tests/*/setup.sh, one after the other (they share apt's lock), in one background bash, so that they run
# while the module builds (they need nothing of the build; mostly apt, npm and go). Their output goes to a log that
# Wait-TestSetupScripts prints. $null when there is nothing to run here (not root or no apt-get: warned then).
function Start-TestSetupScripts([string] $LogDir, [string[]] $Scripts = (Get-TestSetupScripts)) {
    $scripts = @($Scripts)
    if (-not $scripts) { return $null }
    $isRoot = $false
    if (-not $IsWindows) { $isRoot = ((& id -u) -eq '0') }
    $hasApt = [bool](Get-Command apt-get -ErrorAction SilentlyContinue)
    if (-not ($isRoot -and $hasApt)) {
        foreach ($s in $scripts) { Write-Warning "Not running $([IO.Path]::GetRelativePath($Root, $s)) (needs root and apt-get): the tests that need it will report as skipped." }
        return $null
    }
    $q = { param($x) "'" + ($x -replace "'", "'\''") + "'" }
    $lines = foreach ($s in $scripts) {
        $rel = [IO.Path]::GetRelativePath($Root, $s)
        "echo '==> Running $rel'; bash $(& $q $s) < /dev/null; echo `"setup-exit $(& $q $rel) `$?`""
    }
    $null = New-Item -ItemType Directory -Force $LogDir
    $runner = Join-Path $LogDir 'setup.sh'
    Set-Content -Path $runner -Value (@('#!/usr/bin/env bash') + $lines) -Encoding utf8
    $log = Join-Path $LogDir 'setup.log'
    Write-Step "Running $($scripts.Count) tests/*/setup.sh in the background while the module builds (log: $log)"
    $p = Start-Process -FilePath bash -ArgumentList @($runner) -RedirectStandardOutput $log -RedirectStandardError (Join-Path $LogDir 'setup.stderr.log') -NoNewWindow -PassThru
    $null = $p.Handle
    return [pscustomobject]@{ Process = $p; Log = $log; ErrorLog = (Join-Path $LogDir 'setup.stderr.log') }
}

# Waits for the setup scripts, prints their output and warns for each that failed (the tests needing it then skip, or
# fail under -CI).
function Wait-TestSetupScripts($Setup) {
    if (-not $Setup) { return }
    $Setup.Process.WaitForExit()
    foreach ($line in @(Get-Content $Setup.Log -ErrorAction SilentlyContinue) + @(Get-Content $Setup.ErrorLog -ErrorAction SilentlyContinue)) {
        if ($line -match "^setup-exit '?(.+?)'? (\d+)$") {
            if ($Matches[2] -ne '0') { Write-Warning "$($Matches[1]) exited with code $($Matches[2]): the tests that need it will skip (or fail under -CI)." }
        }
        else { Write-Host $line }
    }
}

function Get-TestProjects {
    @(Get-ChildItem (Join-Path $Root 'tests') -Directory | Sort-Object Name | ForEach-Object { Get-ChildItem $_.FullName -Filter '*.csproj' } |
            Where-Object {
                $text = Get-Content -Raw $_.FullName
                $text -notmatch '<IsTestProject>\s*false\s*</IsTestProject>' -and $text -match 'Microsoft\.NET\.Test\.Sdk'
            } | Where-Object { Test-NameSelected $_.BaseName $TestProject } | ForEach-Object FullName)
}

# True when no pattern is given or one matches.
function Test-NameSelected([string] $Name, [string[]] $Patterns) {
    if (-not $Patterns) { return $true }
    foreach ($p in $Patterns) { if ($Name -like $p) { return $true } }
    return $false
}

# Counts from a TRX file: every UnitTestResult by outcome (xunit's skips are NotExecuted).
function Read-Trx([string] $Path) {
    $xml = [xml](Get-Content -Raw $Path)
    $ns = @{ t = 'http://microsoft.com/schemas/VisualStudio/TeamTest/2010' }
    $r = [ordered]@{ Passed = 0; Failed = 0; Skipped = 0; SkippedNames = @(); FailedNames = @() }
    foreach ($node in (Select-Xml -Xml $xml -XPath '//t:UnitTestResult' -Namespace $ns)) {
        $res = $node.Node
        $outcome = [string]$res.outcome
        if ($outcome -eq 'Passed') { $r.Passed++ }
        elseif ($outcome -in 'NotExecuted', 'Inconclusive', 'Pending') {
            $r.Skipped++
            $reason = Select-Xml -Xml $res -XPath './/t:Message|.//t:StdOut' -Namespace $ns | Select-Object -First 1
            $r.SkippedNames += "$($res.testName)$(if ($reason) { ': ' + $reason.Node.InnerText.Trim() })"
        }
        else {
            # The first lines of the assertion message, so that a CI log that shows only its tail still says why.
            $msg = Select-Xml -Xml $res -XPath './/t:ErrorInfo/t:Message' -Namespace $ns | Select-Object -First 1
            $why = if ($msg) { ': ' + ((($msg.Node.InnerText -split "`r?`n") | Where-Object { $_.Trim() } | Select-Object -First 4) -join ' | ') } else { '' }
            $r.Failed++; $r.FailedNames += "$($res.testName) ($outcome)$why"
        }
    }
    return [pscustomobject]$r
}

function Invoke-XunitTests([string] $ResultsDir) {
    $total = [ordered]@{ Passed = 0; Failed = 0; Skipped = 0; SkippedNames = @(); FailedNames = @() }
    # A test that runs further tests in a child process (the Azure HTTPS run) writes their TRX here, so each of
    # them is counted too, not only the outer test that asserts the child run.
    $nested = Join-Path $ResultsDir 'nested'
    $null = New-Item -ItemType Directory -Force $nested
    $env:GRIDAUTOMATION_NESTED_RESULTS = $nested
    foreach ($proj in Get-TestProjects) {
        $name = [IO.Path]::GetFileNameWithoutExtension($proj)
        $trx = Join-Path $ResultsDir "$name.trx"
        Write-Step "xunit: $name"
        $code = Invoke-Native dotnet @('test', $proj, '-c', $Configuration, '--nologo',
            '--results-directory', $ResultsDir, '--logger', "trx;LogFileName=$name.trx", '--logger', 'console;verbosity=normal',
            '--blame-hang-timeout', '10m') -AllowFailure
        if (Test-Path $trx) {
            $r = Read-Trx $trx
            Write-Host ("    {0}: {1} passed, {2} failed, {3} skipped (exit {4})" -f $name, $r.Passed, $r.Failed, $r.Skipped, $code)
            foreach ($k in 'Passed', 'Failed', 'Skipped') { $total[$k] += $r.$k }
            $total.SkippedNames += @($r.SkippedNames | ForEach-Object { "$name > $_" })
            $total.FailedNames += @($r.FailedNames | ForEach-Object { "$name > $_" })
            if ($code -ne 0 -and $r.Failed -eq 0) {
                # The host crashed or aborted after some results: that is a failure the TRX does not count.
                $total.Failed++; $total.FailedNames += "$name (dotnet test exited $code with no failed test recorded)"
            }
        }
        else {
            $total.Failed++; $total.FailedNames += "$name (no results: build failed or the test host crashed, exit $code)"
        }
        foreach ($child in @(Get-ChildItem $nested -Filter '*.trx' -File -ErrorAction SilentlyContinue)) {
            $r = Read-Trx $child.FullName
            $childName = "$name > $($child.BaseName)"
            Write-Host ("    {0}: {1} passed, {2} failed, {3} skipped (child run)" -f $childName, $r.Passed, $r.Failed, $r.Skipped)
            foreach ($k in 'Passed', 'Failed', 'Skipped') { $total[$k] += $r.$k }
            $total.SkippedNames += @($r.SkippedNames | ForEach-Object { "$childName > $_" })
            $total.FailedNames += @($r.FailedNames | ForEach-Object { "$childName > $_" })
            Move-Item $child.FullName (Join-Path $ResultsDir ("$name.child.$($child.Name)")) -Force
        }
    }
    Remove-Item Env:GRIDAUTOMATION_NESTED_RESULTS -ErrorAction SilentlyContinue
    return [pscustomobject]$total
}

# Pester files by the time their tests took in the last measured CI run (docs/testing.md), the slowest first: the
# queue hands them out in this order, so the long files start early and the lanes end close together. A file not
# listed goes after them, by name; a listed name that no longer exists is ignored.
$PesterSlowFirst = @('Move-GridWorkload.Datacenter', 'JournalTruth', 'Provider.HyperV', 'SharedState.Contention',
    'Enable-GridReplication', 'Dsc', 'FailoverPlanKill', 'Cancellation', 'FailoverPlan', 'Failover', 'Grid', 'Runbooks',
    'BadInput', 'Usage', 'Provider.Libvirt.LiveMove', 'Move-GridWorkload.BadInput', 'Crash')

function Get-PesterTestFiles {
    @(Get-ChildItem (Join-Path $Root 'tests/pester') -Filter '*.Tests.ps1' -File -ErrorAction SilentlyContinue |
            Where-Object { Test-NameSelected ($_.Name -replace '\.Tests\.ps1$', '') $PesterFile } | ForEach-Object FullName)
}

# The files in queue order: the listed slow ones first (in list order), then the rest by name.
function Get-PesterQueueOrder([string[]] $Paths, [string[]] $SlowFirst = $PesterSlowFirst) {
    $rank = @{}; for ($i = 0; $i -lt $SlowFirst.Count; $i++) { $rank["$($SlowFirst[$i]).Tests.ps1"] = $i }
    @($Paths | Sort-Object @{ Expression = { $n = [IO.Path]::GetFileName($_); if ($rank.ContainsKey($n)) { $rank[$n] } else { [int]::MaxValue } } },
        @{ Expression = { [IO.Path]::GetFileName($_) } })
}

# A queue folder for tools/build/Invoke-PesterTests.ps1 -QueueDir: queue.txt lists the files, slowest first.
function New-PesterQueue([string] $Dir, [string[]] $Paths) {
    if (Test-Path $Dir) { Remove-Item $Dir -Recurse -Force }
    $null = New-Item -ItemType Directory -Force $Dir
    Get-PesterQueueOrder $Paths | Set-Content (Join-Path $Dir 'queue.txt') -Encoding utf8
    return $Dir
}

function Get-PesterManifest {
    if (-not (Get-Variable -Scope Script -Name GlobalPackages -ErrorAction SilentlyContinue)) { $script:GlobalPackages = Get-GlobalPackagesFolder }
    Join-Path $script:GlobalPackages 'pester/6.2.0/tools/Pester.psd1'
}

# Reads a summary JSON (Invoke-PesterTests.ps1's, or the xunit lane's); a missing one is one failure named $What.
function Read-TestSummary([string] $Path, [string] $What) {
    if (-not (Test-Path $Path)) {
        return [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0; SkippedNames = @(); FailedNames = @("$What produced no summary") }
    }
    $s = Get-Content -Raw $Path | ConvertFrom-Json
    return [pscustomobject]@{ Passed = [int]$s.Passed; Failed = [int]$s.Failed; Skipped = [int]$s.Skipped
        SkippedNames = @($s.SkippedNames | Where-Object { $_ }); FailedNames = @($s.FailedNames | Where-Object { $_ }) }
}

function Add-TestCounts([object[]] $Parts) {
    $t = [ordered]@{ Passed = 0; Failed = 0; Skipped = 0; SkippedNames = @(); FailedNames = @() }
    foreach ($p in $Parts) {
        foreach ($k in 'Passed', 'Failed', 'Skipped') { $t[$k] += [int]$p.$k }
        $t.SkippedNames += @($p.SkippedNames | Where-Object { $_ }); $t.FailedNames += @($p.FailedNames | Where-Object { $_ })
    }
    return [pscustomobject]$t
}

# Runs Pester in a child process over every file (-QueueDir empty) or as a worker of a queue; the counts come from its
# result object, written to a JSON file (Invoke-Pester's exit code is not trusted).
function Invoke-PesterTests([string] $ResultsDir, [string] $QueueDir, [string] $SummaryName = 'pester-summary.json') {
    $paths = Get-PesterTestFiles
    $summary = Join-Path $ResultsDir $SummaryName
    if (-not $paths) {
        # None selected: nothing ran, nothing failed (the other lane reads this summary too).
        '{ "Passed": 0, "Failed": 0, "Skipped": 0 }' | Set-Content -Path $summary -Encoding utf8
        return Read-TestSummary $summary 'Pester'
    }
    $source = if ($QueueDir) { @('-QueueDir', $QueueDir) } else { @('-TestPath', ($paths -join [IO.Path]::PathSeparator)) }
    Write-Step ("Pester 6.2.0: {0} file(s) in tests/pester{1}" -f $paths.Count, $(if ($QueueDir) { ' (from the shared queue)' }))
    $code = Invoke-ChildPwsh (@('-File', (Join-Path $Root 'tools/build/Invoke-PesterTests.ps1'), '-PesterManifest', (Get-PesterManifest)) + $source +
        @('-SummaryPath', $summary, '-ResultsDir', $ResultsDir)) -AllowFailure
    return Read-TestSummary $summary "Pester (exit $code)"
}

# The second lane: a child pwsh that dot-sources this script, runs the xunit projects with a state and config of its
# own, then works the Pester queue. Its output goes to lane-xunit.log (printed when it ends).
function Start-XunitLane([string] $ResultsDir, [string] $QueueDir) {
    $laneTemp = Join-Path $script:TestTemp 'xunit-lane'
    $null = New-Item -ItemType Directory -Force $laneTemp
    $q = { param($s) "'" + ($s -replace "'", "''") + "'" }
    $body = @"
`$ErrorActionPreference = 'Stop'
. $(& $q (Join-Path $Root 'build.ps1')) -Task Build -Configuration $Configuration$(if ($TestProject) { ' -TestProject ' + (($TestProject | ForEach-Object { & $q $_ }) -join ',') })$(if ($PesterFile) { ' -PesterFile ' + (($PesterFile | ForEach-Object { & $q $_ }) -join ',') })
`$env:GRIDAUTOMATION_STATE = $(& $q (Join-Path $laneTemp 'state.db'))
`$env:GRIDAUTOMATION_CONFIG = $(& $q (Join-Path $laneTemp 'config.json'))
`$x = Invoke-XunitTests $(& $q $ResultsDir)
[ordered]@{ Passed = `$x.Passed; Failed = `$x.Failed; Skipped = `$x.Skipped; FailedNames = @(`$x.FailedNames); SkippedNames = @(`$x.SkippedNames) } |
    ConvertTo-Json -Depth 4 | Set-Content -Path $(& $q (Join-Path $ResultsDir 'xunit-summary.json')) -Encoding utf8
`$env:GRIDAUTOMATION_STATE = $(& $q (Join-Path $laneTemp 'pester-state.db'))
`$env:GRIDAUTOMATION_CONFIG = $(& $q (Join-Path $laneTemp 'pester-config.json'))
`$null = Invoke-PesterTests $(& $q $ResultsDir) -QueueDir $(& $q $QueueDir) -SummaryName 'pester-summary-2.json'
"@
    $file = Join-Path $laneTemp 'lane.ps1'
    Set-Content -Path $file -Value $body -Encoding utf8
    $pwsh = Get-PwshCommand
    $out = Join-Path $ResultsDir 'lane-xunit.log'; $err = Join-Path $ResultsDir 'lane-xunit.stderr.log'
    # Start-Process joins the arguments with spaces: quote any that has one.
    $argv = @(@($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $file) | ForEach-Object { if ($_ -match '\s') { '"' + $_ + '"' } else { $_ } })
    $p = Start-Process -FilePath $pwsh[0] -ArgumentList $argv `
        -RedirectStandardOutput $out -RedirectStandardError $err -NoNewWindow -PassThru
    $null = $p.Handle   # keeps the exit code readable after the process ends
    return [pscustomobject]@{ Process = $p; LogPath = $out; ErrorLogPath = $err }
}

# The xunit projects and the Pester files, in two lanes or one after the other (-TestLanes); returns the xunit counts
# and the Pester counts.
function Invoke-TestRuns([string] $resultsDir) {
    if ($TestLanes -eq 2) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $queue = New-PesterQueue (Join-Path $resultsDir 'pester-queue') (Get-PesterTestFiles)
        Write-Step 'xunit projects in a second lane (output below when it ends), Pester files from one queue in both'
        $lane = Start-XunitLane $resultsDir $queue
        $p1 = Invoke-PesterTests $resultsDir -QueueDir $queue -SummaryName 'pester-summary-1.json'
        Write-Step ("This lane's Pester files done at {0:n0} s; waiting for the xunit lane" -f $sw.Elapsed.TotalSeconds)
        $lane.Process.WaitForExit()
        Write-Step ("xunit lane (ended at {0:n0} s, exit {1}):" -f $sw.Elapsed.TotalSeconds, $lane.Process.ExitCode)
        Get-Content $lane.LogPath -ErrorAction SilentlyContinue | Out-Host
        $laneErr = @(Get-Content $lane.ErrorLogPath -ErrorAction SilentlyContinue)
        if ($laneErr) { Write-Host '    xunit lane, stderr:'; $laneErr | Out-Host }
        $x = Read-TestSummary (Join-Path $resultsDir 'xunit-summary.json') "The xunit lane (exit $($lane.Process.ExitCode))"
        $p2 = Read-TestSummary (Join-Path $resultsDir 'pester-summary-2.json') "The xunit lane's Pester worker (exit $($lane.Process.ExitCode))"
        $p = Add-TestCounts @($p1, $p2)
    }
    else {
        $x = Invoke-XunitTests $resultsDir
        $p = Invoke-PesterTests $resultsDir
    }
    return $x, $p
}

function Invoke-TestTask {
    Set-TestEnvironment
    $setup = Start-TestSetupScripts (Join-Path $script:TestTemp 'setup')
    $failedEarly = $null
    try { Invoke-BuildTask; Invoke-PackageTask }
    catch { $failedEarly = $_ }
    Wait-TestSetupScripts $setup
    if ($failedEarly) {
        Write-Host "Build failed: $failedEarly" -ForegroundColor Red
        Write-Host '0 passed, 1 failed'
        exit 1
    }
    $resultsDir = Join-Path $Root 'out/TestResults'
    if (Test-Path $resultsDir) { Remove-Item $resultsDir -Recurse -Force }
    $null = New-Item -ItemType Directory -Force $resultsDir

    $x, $p = Invoke-TestRuns $resultsDir
    $passed = $x.Passed + $p.Passed; $failed = $x.Failed + $p.Failed; $skipped = $x.Skipped + $p.Skipped

    Write-Host ''
    Write-Host ("xunit:  {0} passed, {1} failed, {2} skipped" -f $x.Passed, $x.Failed, $x.Skipped)
    Write-Host ("Pester: {0} passed, {1} failed, {2} skipped" -f $p.Passed, $p.Failed, $p.Skipped)
    foreach ($n in @($x.FailedNames) + @($p.FailedNames)) { if ($n) { Write-Host "FAILED:  $n" } }
    foreach ($n in @($x.SkippedNames) + @($p.SkippedNames)) { if ($n) { Write-Host "SKIPPED: $n" } }
    $exit = Get-TestExitCode $failed $skipped ($env:GRIDAUTOMATION_REQUIRE_ALL -eq '1')
    if ($skipped -gt 0 -and $env:GRIDAUTOMATION_REQUIRE_ALL -eq '1') { Write-Host "GRIDAUTOMATION_REQUIRE_ALL=1: $skipped skipped test(s) fail the run." }
    try { Remove-Item $script:TestTemp -Recurse -Force -ErrorAction SilentlyContinue } catch { }
    Write-Host (Format-TestSummary $passed $failed $skipped)
    exit $exit
}

# Non-zero on any failure, and (under GRIDAUTOMATION_REQUIRE_ALL=1, i.e. -CI) on any skip.
function Get-TestExitCode([int] $Failed, [int] $Skipped, [bool] $RequireAll) {
    if ($Failed -gt 0) { return 1 }
    if ($RequireAll -and $Skipped -gt 0) { return 1 }
    return 0
}

# The last line of -Task Test: "N passed, N failed" plus ", N skipped" when there are any.
function Format-TestSummary([int] $Passed, [int] $Failed, [int] $Skipped) {
    $line = "$Passed passed, $Failed failed"
    if ($Skipped -gt 0) { $line += ", $Skipped skipped" }
    return $line
}

# ---------------------------------------------------------------------------------------------------------------------
# Demo, Bench, Clean
# ---------------------------------------------------------------------------------------------------------------------

function Invoke-DemoTask {
    Invoke-BuildTask
    $temp = Join-Path ([IO.Path]::GetTempPath()) ("gridautomation-demo-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    $null = New-Item -ItemType Directory -Force $temp
    # The demo's own state and config: the user's are never touched.
    $env:GRIDAUTOMATION_STATE = Join-Path $temp 'demo.db'
    $env:GRIDAUTOMATION_CONFIG = Join-Path $temp 'config.json'
    Write-Step "Demo (state: $($env:GRIDAUTOMATION_STATE))"
    $pwsh = Get-PwshCommand
    & $pwsh[0] @(@($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-File', (Join-Path $Root 'tools/Demo.ps1')))
    $code = $LASTEXITCODE
    Remove-Item $temp -Recurse -Force -ErrorAction SilentlyContinue
    exit $code
}

function Invoke-BenchTask {
    Invoke-BuildTask
    $code = 0
    foreach ($b in Get-ChildItem (Join-Path $Root 'bench') -Filter '*.ps1' | Sort-Object Name) {
        Write-Step "Bench: $($b.Name)"
        $c = Invoke-ChildPwsh @('-File', $b.FullName) -AllowFailure
        if ($c -ne 0) { $code = $c }
    }
    exit $code
}

function Invoke-CleanTask {
    Write-Step 'Cleaning'
    Remove-RootLayout
    if (Test-Path (Join-Path $Root 'out')) { Remove-Item (Join-Path $Root 'out') -Recurse -Force }
    foreach ($top in 'src', 'tests', 'tools') {
        Get-ChildItem (Join-Path $Root $top) -Directory -ErrorAction SilentlyContinue | ForEach-Object {
            foreach ($sub in 'bin', 'obj') { $p = Join-Path $_.FullName $sub; if (Test-Path $p) { Remove-Item $p -Recurse -Force } }
        }
    }
}

# Dot-sourced (tests/pester/BuildScript.Tests.ps1 does, to test the harness's functions): define, do not run.
if ($MyInvocation.InvocationName -eq '.') { return }

switch ($Task) {
    'Build' { Invoke-BuildTask }
    'Help' { Invoke-HelpTask }
    'Package' { Invoke-BuildTask; Invoke-PackageTask }
    'Test' { Invoke-TestTask }
    'Demo' { Invoke-DemoTask }
    'Bench' { Invoke-BenchTask }
    'Clean' { Invoke-CleanTask }
}
