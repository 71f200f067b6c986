# Issue 10: a state file that cannot be written. Tests run as root, for whom file modes stop nothing, so the file is
# made truly read-only: (1) a read-only bind mount of its folder in a private mount namespace (unshare -m, then
# mount --bind -o ro), where the child pwsh runs; (2) chattr +i on the file (ext4/xfs/btrfs). In both, Get- commands
# read the grid, and every change is refused with StateStoreNotWritable, a message naming the file and the remedy,
# while the file stays byte-identical. Needs root, util-linux (unshare, mount) and e2fsprogs (chattr): without them
# the tests skip, unless GRIDAUTOMATION_REQUIRE_ALL=1 (then they fail).

BeforeDiscovery {
    $isRoot = $IsLinux -and (& id -u) -eq '0'
    $tools = $IsLinux -and (Get-Command unshare, mount, chattr -ErrorAction SilentlyContinue).Count -eq 3
    $script:skip = -not ($isRoot -and $tools) -and $env:GRIDAUTOMATION_REQUIRE_ALL -ne '1'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name readonly
    $script:stateDir = Join-Path $script:dir 'ro'
    $null = New-Item -ItemType Directory -Path $script:stateDir -Force
    Use-GridState -Path (Join-Path $script:stateDir 'state.db')
    # Made in a child, so no connection of this process keeps a -wal beside the file.
    $made = Invoke-ChildPwsh -Script @'
Connect-GridDatacenter -Provider Simulator -Name ro-1 -Confirm:$false | Out-Null
$s = Get-GridSize -Datacenter ro-1 | Sort-Object CpuCount, MemoryMB | Select-Object -First 1
$i = Get-GridImage -Datacenter ro-1 | Select-Object -First 1
New-GridWorkload -Datacenter ro-1 -Name keep01 -Size $s.Name -Image $i.Name -Confirm:$false | Out-Null
'@
    if ($made.ExitCode -ne 0) { throw "setting up the grid failed: $($made.Output) $($made.Error)" }

    # What the child runs against the unwritable file: reads, then three kinds of change. One JSON line out.
    $script:probe = @'
$ErrorActionPreference = 'Continue'
$o = [ordered]@{}
$o.Datacenters = @(Get-GridDatacenter | ForEach-Object Name)
$o.Workloads = @(Get-GridWorkload -Datacenter ro-1 | ForEach-Object Name)
$o.Operations = @(Get-GridOperation).Count
$o.Errors = @()
foreach ($change in @(
        { Stop-GridWorkload -Datacenter ro-1 -Name keep01 -Confirm:$false -ErrorAction Stop },
        { Connect-GridDatacenter -Provider Simulator -Name ro-2 -Confirm:$false -ErrorAction Stop },
        { Set-GridWorkload -Datacenter ro-1 -Name keep01 -Tag @{ env = 'x' } -Confirm:$false -ErrorAction Stop })) {
    try { $null = & $change; $o.Errors += @{ Id = 'none' } }
    catch { $o.Errors += @{ Id = $_.FullyQualifiedErrorId; Category = "$($_.CategoryInfo.Category)"; Message = $_.Exception.Message } }
}
$o | ConvertTo-Json -Compress -Depth 4
'@
    function script:Get-FileHashes { Get-ChildItem $script:stateDir -File | Sort-Object Name | ForEach-Object { "$($_.Name) $((Get-FileHash $_.FullName).Hash)" } }
    function script:Assert-Probe($result) {
        $result.ExitCode | Should -Be 0 -Because "$($result.Output) $($result.Error)"
        $json = ($result.Output -split "`n" | Where-Object { $_.StartsWith('{') } | Select-Object -Last 1) | ConvertFrom-Json
        $json.Datacenters | Should -Be @('ro-1')
        $json.Workloads | Should -Be @('keep01')
        $json.Operations | Should -BeGreaterThan 0
        $json.Errors.Count | Should -Be 3
        foreach ($e in $json.Errors) {
            $e.Id | Should -BeLike 'StateStoreNotWritable*'
            $e.Category | Should -Be 'WriteError'
            $e.Message | Should -BeLike "*$($script:stateDir)*cannot be written*"
            $e.Message | Should -BeLike '*Set-GridConfiguration -StatePath*GRIDAUTOMATION_STATE*'
        }
    }
}

AfterAll {
    $f = Join-Path $script:stateDir 'state.db'
    if (Test-Path $f) { & chattr -i $f 2>$null }
    Remove-GridTestDirectory $script:dir
}

Describe 'A state file that cannot be written' -Skip:$script:skip {
    It 'on a read-only mount: Get- commands read it, every change is StateStoreNotWritable with the remedy, the file is unchanged' {
        $before = Get-FileHashes
        $file = Join-Path ([IO.Path]::GetTempPath()) ("ga-ro-" + [guid]::NewGuid().ToString('N') + '.ps1')
        Set-Content -Path $file -Value ((Get-GridImportScript) + "`n" + $script:probe) -Encoding utf8
        try {
            $cmd = Get-PwshCommand
            # sh mounts the folder read-only over itself in the new namespace, then runs the child pwsh there.
            $out = & unshare -m sh -c 'mount --bind -o ro "$1" "$1" && shift && exec "$@"' sh $script:stateDir @cmd -NoProfile -NonInteractive -File $file 2>&1
            $result = [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out | Out-String); Error = '' }
        }
        finally { Remove-Item $file -ErrorAction SilentlyContinue }
        Assert-Probe $result
        Get-FileHashes | Should -Be $before -Because 'nothing was written: no -wal, no -shm, no change'
    }

    It 'immutable (chattr +i): the same, and once it is writable again the next change works in the same process' {
        $f = Join-Path $script:stateDir 'state.db'
        $hash = (Get-FileHash $f).Hash
        & chattr +i $f
        try {
            if ($LASTEXITCODE -ne 0) { Set-ItResult -Skipped -Because 'this file system has no immutable flag'; return }
            Assert-Probe (Invoke-ChildPwsh -Script $script:probe)
            (Get-FileHash $f).Hash | Should -Be $hash
            # This process: refused while immutable, works after chattr -i without restarting (the engine re-opens it).
            # A store error ends the whole command (a terminating error).
            $err = try { Set-GridWorkload -Datacenter ro-1 -Name keep01 -Tag @{ env = 'y' } -Confirm:$false; $null } catch { $_ }
            $err.FullyQualifiedErrorId | Should -BeLike 'StateStoreNotWritable*'
            $err.CategoryInfo.Category | Should -Be 'WriteError'
        }
        finally { & chattr -i $f }
        $w = Set-GridWorkload -Datacenter ro-1 -Name keep01 -Tag @{ env = 'y' } -Confirm:$false -PassThru
        $w.Tags['env'] | Should -Be 'y'
    }
}
