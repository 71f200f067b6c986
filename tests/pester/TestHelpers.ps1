# Shared helpers of the GridAutomation Pester tests. Every test file dot-sources this script in BeforeAll and calls
# Initialize-GridTest, which gives the file its own temporary state file and configuration file and imports the
# BUILT module (./GridAutomation.psd1 at the repo root, as laid out by `./build.ps1 -Task Build`).
#
# GRIDAUTOMATION_TEST_MODULE may name another module file (a .psd1 or the GridAutomation.dll) to test instead.

$script:GridRepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path

function Get-RepoRoot { $script:GridRepoRoot }

function Get-GridModulePath {
    if ($env:GRIDAUTOMATION_TEST_MODULE) { return $env:GRIDAUTOMATION_TEST_MODULE }
    $psd1 = Join-Path $script:GridRepoRoot 'GridAutomation.psd1'
    if (-not (Test-Path $psd1)) { throw "The module is not built: $psd1 is missing. Run ./build.ps1 -Task Build first." }
    return $psd1
}

# The lines a child pwsh runs first to load the same module the tests use.
function Get-GridImportScript {
    $path = Get-GridModulePath
    $lines = @("`$ErrorActionPreference = 'Stop'", "`$PSStyle.OutputRendering = 'PlainText'", "Import-Module '$($path -replace "'", "''")' -Force -WarningAction SilentlyContinue")
    if ($path -like '*.dll') {
        # A bare dll has no manifest: load the views and type extensions by hand.
        $lines += "Update-FormatData -PrependPath '$(Join-Path $script:GridRepoRoot 'GridAutomation.Format.ps1xml')'"
        $lines += "Update-TypeData -PrependPath '$(Join-Path $script:GridRepoRoot 'GridAutomation.Types.ps1xml')' -ErrorAction SilentlyContinue"
    }
    $lines -join "`n"
}

function Import-GridModule {
    $path = Get-GridModulePath
    Import-Module $path -Force -WarningAction SilentlyContinue -Global
    if ($path -like '*.dll') {
        Update-FormatData -PrependPath (Join-Path $script:GridRepoRoot 'GridAutomation.Format.ps1xml')
        Update-TypeData -PrependPath (Join-Path $script:GridRepoRoot 'GridAutomation.Types.ps1xml') -ErrorAction SilentlyContinue
    }
}

# Gives the calling test file its own state and config files (under a fresh temp folder) and imports the module.
function Initialize-GridTest {
    param([string] $Name = 'test')
    $dir = Join-Path ([IO.Path]::GetTempPath()) ("ga-pester-$Name-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Path $dir -Force | Out-Null
    # Remember what the harness set, so Remove-GridTestDirectory can put it back for the next file.
    $script:GridSavedEnv = @{ STATE = $env:GRIDAUTOMATION_STATE; CONFIG = $env:GRIDAUTOMATION_CONFIG }
    $env:GRIDAUTOMATION_STATE = Join-Path $dir 'state.db'
    $env:GRIDAUTOMATION_CONFIG = Join-Path $dir 'config.json'
    Import-GridModule
    Reset-GridEngine
    return $dir
}

# Points the tests (and child processes) at another state file; drops the cached engines of this process.
function Use-GridState {
    param([Parameter(Mandatory)] [string] $Path)
    $env:GRIDAUTOMATION_STATE = $Path
    Reset-GridEngine
}

# Closes the engines (and their SQLite connections) this process holds, so the files can be inspected or replaced.
function Reset-GridEngine {
    $t = 'GridAutomation.Core.Engine.GridEngine' -as [type]
    if ($t) { $t::Reset() }
    [GC]::Collect(); [GC]::WaitForPendingFinalizers()
}

function Remove-GridTestDirectory {
    param([string] $Path)
    Reset-GridEngine
    if ($Path -and (Test-Path $Path)) { Remove-Item -Recurse -Force $Path -ErrorAction SilentlyContinue }
    if ($script:GridSavedEnv) {
        $env:GRIDAUTOMATION_STATE = $script:GridSavedEnv.STATE
        $env:GRIDAUTOMATION_CONFIG = $script:GridSavedEnv.CONFIG
    }
}

# The command line of a child pwsh: the same PowerShell this test runs in.
function Get-PwshCommand {
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') {
        return @($exe, (Join-Path $PSHOME 'pwsh.dll'))
    }
    return @($exe)
}

# Runs a script in a child pwsh (after importing the module) with this process's GRIDAUTOMATION_* environment.
# Returns stdout+stderr lines and the exit code.
function Invoke-ChildPwsh {
    param([Parameter(Mandatory)] [string] $Script, [int] $TimeoutSeconds = 180)
    $full = (Get-GridImportScript) + "`n" + $Script
    $file = Join-Path ([IO.Path]::GetTempPath()) ("ga-child-" + [guid]::NewGuid().ToString('N') + '.ps1')
    Set-Content -Path $file -Value $full -Encoding utf8
    try {
        $cmd = Get-PwshCommand
        $psi = [Diagnostics.ProcessStartInfo]::new($cmd[0])
        foreach ($a in ($cmd | Select-Object -Skip 1)) { $psi.ArgumentList.Add($a) }
        foreach ($a in '-NoProfile', '-NonInteractive', '-File', $file) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
        $p = [Diagnostics.Process]::Start($psi)
        $errTask = $p.StandardError.ReadToEndAsync()
        $outTask = $p.StandardOutput.ReadToEndAsync()
        if (-not $p.WaitForExit($TimeoutSeconds * 1000)) { $p.Kill($true); throw "Child pwsh timed out after $TimeoutSeconds s." }
        $p.WaitForExit()
        [pscustomobject]@{
            ExitCode = $p.ExitCode
            Output   = $outTask.Result
            Error    = $errTask.Result
        }
    }
    finally { Remove-Item $file -ErrorAction SilentlyContinue }
}

# Starts a child pwsh without waiting (for the crash test). Returns the Process.
function Start-ChildPwsh {
    param([Parameter(Mandatory)] [string] $Script, [string] $LogPath)
    $full = (Get-GridImportScript) + "`n" + $Script
    $file = Join-Path ([IO.Path]::GetTempPath()) ("ga-child-" + [guid]::NewGuid().ToString('N') + '.ps1')
    Set-Content -Path $file -Value $full -Encoding utf8
    $cmd = Get-PwshCommand
    $psi = [Diagnostics.ProcessStartInfo]::new($cmd[0])
    foreach ($a in ($cmd | Select-Object -Skip 1)) { $psi.ArgumentList.Add($a) }
    foreach ($a in '-NoProfile', '-NonInteractive', '-File', $file) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
    $p = [Diagnostics.Process]::Start($psi)
    # Drain the pipes so the child never blocks on a full buffer.
    $null = $p.StandardOutput.ReadToEndAsync()
    $null = $p.StandardError.ReadToEndAsync()
    return $p
}

# Opens a SQLite connection to the state file through the module's own Microsoft.Data.Sqlite (already loaded,
# with its native library, by the module). The caller disposes it.
function Open-SqliteConnection {
    param([Parameter(Mandatory)] [string] $Path, [switch] $NoPooling)
    $asm = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Microsoft.Data.Sqlite' } | Select-Object -First 1
    if (-not $asm) {
        # Make the module load it: any read of the state store does.
        $null = Get-GridDatacenter -ErrorAction SilentlyContinue
        $asm = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Microsoft.Data.Sqlite' } | Select-Object -First 1
    }
    if (-not $asm) { throw 'Microsoft.Data.Sqlite is not loaded by the module.' }
    $t = $asm.GetType('Microsoft.Data.Sqlite.SqliteConnection', $true)
    $cs = "Data Source=$Path;Mode=ReadWrite" + $(if ($NoPooling) { ';Pooling=False' } else { '' })
    $c = [Activator]::CreateInstance($t, @($cs))
    $c.Open()
    return $c
}

function Invoke-SqliteQuery {
    param([Parameter(Mandatory)] $Connection, [Parameter(Mandatory)] [string] $Sql)
    $cmd = $Connection.CreateCommand()
    try {
        $cmd.CommandText = $Sql
        $r = $cmd.ExecuteReader()
        try {
            while ($r.Read()) {
                $row = [ordered]@{}
                for ($i = 0; $i -lt $r.FieldCount; $i++) {
                    $v = $r.GetValue($i)
                    if ($v -is [byte[]]) { $v = [Convert]::ToBase64String($v) }
                    $row[$r.GetName($i)] = $v
                }
                [pscustomobject]$row
            }
        }
        finally { $r.Dispose() }
    }
    finally { $cmd.Dispose() }
}

# Every table, every row, as text (ordered by rowid where there is one), for before/after comparisons.
function Get-SqliteDump {
    param([Parameter(Mandatory)] $Connection, [string[]] $ExcludeTable = @())
    $tables = Invoke-SqliteQuery $Connection "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name" | ForEach-Object name
    foreach ($t in $tables) {
        if ($ExcludeTable -contains $t) { continue }
        "== $t"
        $rows = try { Invoke-SqliteQuery $Connection "SELECT * FROM `"$t`" ORDER BY rowid" } catch { Invoke-SqliteQuery $Connection "SELECT * FROM `"$t`"" }
        foreach ($row in $rows) { ($row.PSObject.Properties | ForEach-Object { "$($_.Name)=$($_.Value)" }) -join '|' }
    }
}

# The number of rows of the table that holds the journal (found by its columns, so a rename does not break the test).
function Get-JournalTable {
    param([Parameter(Mandatory)] $Connection)
    $tables = Invoke-SqliteQuery $Connection "SELECT name FROM sqlite_master WHERE type = 'table'" | ForEach-Object name
    foreach ($t in $tables) {
        $cols = Invoke-SqliteQuery $Connection "PRAGMA table_info(`"$t`")" | ForEach-Object name
        if (($cols -contains 'kind' -or $cols -contains 'Kind') -and ($cols -match '^(idempotency_key|IdempotencyKey)$')) { return $t }
    }
    foreach ($t in $tables) { if ($t -match 'operation|journal') { return $t } }
    return $null
}

# A simulated datacenter for a test. Extra simulator parameters go in -Parameters (a hashtable splatted as-is).
function New-SimDatacenter {
    param([Parameter(Mandatory)] [string] $Name, [string] $Owner = 'Contoso', [string] $Site = 'Amsterdam', [hashtable] $Parameters = @{})
    Connect-GridDatacenter -Provider Simulator -Name $Name -Owner $Owner -Site $Site @Parameters -Confirm:$false
}

# The first size and image a simulated datacenter offers (for creates).
function Get-SimCreateArgs {
    param([Parameter(Mandatory)] [string] $Datacenter)
    $size = Get-GridSize -Datacenter $Datacenter | Sort-Object CpuCount, MemoryMB | Select-Object -First 1
    $image = Get-GridImage -Datacenter $Datacenter | Select-Object -First 1
    $h = @{ Datacenter = $Datacenter }
    if ($size) { $h.Size = $size.Name }
    if ($image) { $h.Image = $image.Name }
    $h
}

# Waits until a condition holds (polling), or fails after the timeout.
function Wait-Until {
    param([Parameter(Mandatory)] [scriptblock] $Condition, [int] $TimeoutSeconds = 60, [int] $IntervalMs = 100, [string] $Because = 'the condition')
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ([DateTime]::UtcNow -lt $deadline) {
        if (& $Condition) { return }
        Start-Sleep -Milliseconds $IntervalMs
    }
    throw "Timed out after $TimeoutSeconds s waiting for $Because."
}

# True when GRIDAUTOMATION_REQUIRE_ALL=1: a missing prerequisite must fail instead of skipping.
function Test-RequireAll { $env:GRIDAUTOMATION_REQUIRE_ALL -eq '1' }


# A libvirt test:/// host (one 8-core, 32 GiB node with a 'default' dir pool of 100 GiB) written to $Path, for the
# tests that need a libvirt destination datacenter; -Volume adds a raw volume of 64 MiB of that name.
function New-LibvirtTestHostXml {
    param([Parameter(Mandatory)] [string] $Path, [Parameter(Mandatory)] [string] $PoolPath, [Parameter(Mandatory)] [int] $Number, [string] $Volume)
    $vol = if ($Volume) { "`n    <volume type='file'><name>$Volume</name><capacity unit='MiB'>64</capacity><target><format type='raw'/></target></volume>" } else { '' }
    @"
<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><active>8</active><nodes>1</nodes><sockets>1</sockets><cores>8</cores><threads>1</threads></cpu>
  <memory>33554432</memory>
  <pool type='dir'>
    <name>default</name><uuid>6b9a9c2e-0000-4000-8000-$($Number.ToString('D12'))</uuid>
    <capacity unit='GiB'>100</capacity><allocation>0</allocation><available unit='GiB'>100</available>
    <source/><target><path>$PoolPath</path></target>$vol
  </pool>
</node>
"@ | Set-Content -Path $Path
    "test://$Path"
}
