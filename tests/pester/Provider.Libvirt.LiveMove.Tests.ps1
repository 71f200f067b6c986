# Live moves through the cmdlets between two REAL libvirt daemons on this machine (started and stopped here by
# tests/GridAutomation.Provider.Libvirt.Tests/daemon-pair.sh; packages from that folder's setup.sh; needs root):
# Move-GridWorkload -DestinationHost of a running counting guest is a journaled live migration with its disk copied,
# and a move whose pwsh is killed mid-migration is finished by Resume-GridOperation with the guest on exactly one host.
# Without the prerequisites the tests are skipped, unless GRIDAUTOMATION_REQUIRE_ALL=1, when they run and fail.

BeforeDiscovery {
    $script:missing = @('/usr/sbin/libvirtd', '/usr/bin/virsh', '/usr/bin/unshare', '/usr/bin/qemu-system-x86_64') | Where-Object { -not (Test-Path $_) }
    $script:notRoot = (& id -u) -ne '0'
    $script:skip = ($script:missing -or $script:notRoot) -and $env:GRIDAUTOMATION_REQUIRE_ALL -ne '1'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name livemove
    $script:pairScript = Join-Path (Get-RepoRoot) 'tests/GridAutomation.Provider.Libvirt.Tests/daemon-pair.sh'
    $script:pair = '/tmp/gp-' + [guid]::NewGuid().ToString('n').Substring(0, 6)   # short: QEMU socket paths stay < 108 bytes

    # The counting boot sector of tests/GridAutomation.Provider.Libvirt.Tests/BootSector.cs (kept equal by
    # BootSectorTests.PesterCopy_IsTheSameSector): prints "GRIDCOUNT xxxx" (hex counter k on line k) on COM1 twice a second.
    $hex = 'FAFC31C08ED88ED0BC007CFB31DBBE607CE8290089D8E82F00B00DE80E00B00AE8090043B90900F4E2FDEBE25250BAFD03ECA82074FB58BAF803EE5AC3AC84C07405E8E7FFEBF6C3B90400C1C00450240F04303C3976020407E8D0FF58E2ECC347524944434F554E5420'
    $disk = [byte[]]::new(1MB)
    [Convert]::FromHexString($hex).CopyTo($disk, 0)
    $disk[510] = 0x55; $disk[511] = 0xAA
    $images = Join-Path $script:pair 'kvm-a/images'
    New-Item -ItemType Directory -Force $images, (Join-Path $script:pair 'serial') | Out-Null
    [IO.File]::WriteAllBytes((Join-Path $images 'counter.img'), $disk)
    $script:uris = @(& bash $script:pairScript start $script:pair 50700)
    if ($LASTEXITCODE -ne 0 -or $script:uris.Count -ne 2) { throw "daemon-pair.sh start failed: $($script:uris)" }

    function Get-Counts([string] $Log) {
        if (-not (Test-Path $Log)) { return @() }
        $fs = [IO.FileStream]::new($Log, 'Open', 'Read', 'ReadWrite')
        try { $text = [IO.StreamReader]::new($fs).ReadToEnd() } finally { $fs.Dispose() }
        @([regex]::Matches($text, 'GRIDCOUNT ([0-9A-F]{4})\r?\n') | ForEach-Object { [Convert]::ToInt32($_.Groups[1].Value, 16) })
    }
    function Wait-Counts([string] $Log, [int] $AtLeast) {
        $deadline = [DateTime]::UtcNow.AddSeconds(90)
        while ([DateTime]::UtcNow -lt $deadline) {
            $c = Get-Counts $Log
            if ($c.Count -ge $AtLeast) { return ,$c }
            Start-Sleep -Milliseconds 250
        }
        throw "serial log $Log did not reach $AtLeast lines"
    }
    # Every line k reads k: the guest never restarted.
    function Test-NeverRestarted([int[]] $Counts) {
        for ($k = 0; $k -lt $Counts.Count; $k++) { if ($Counts[$k] -ne $k) { return $false } }
        return $true
    }
    function Get-Domains([string] $Uri, [switch] $Running) {
        $a = @('-q', '-c', $Uri, 'list', '--name'); if (-not $Running) { $a += '--all' }
        @(& virsh @a | Where-Object { $_ -and $_.Trim() })
    }
}

AfterAll {
    if ($script:pairScript) { & bash $script:pairScript stop $script:pair }
    Remove-GridTestDirectory $script:dir
}

Describe 'Live moves between two real libvirt daemons' -Skip:$script:skip {
    It 'connects both daemons as hosts kvm-a and kvm-b, live-move capable' {
        $dc = Connect-GridDatacenter -Name livepair -Provider Libvirt -Uri $script:uris -Confirm:$false
        $dc.Capabilities.ToString() | Should -Match 'LiveMove'
        (Get-GridHost -Datacenter livepair).Name | Sort-Object | Should -Be @('kvm-a', 'kvm-b')
        $script:log = Join-Path $script:pair 'serial/pl1.log'
        $w = New-GridWorkload -Datacenter livepair -Name pl1 -Image counter.img -Size micro -TargetHost kvm-a -Option @{ DiskBus = 'ide'; SerialLog = $script:log }
        $w.Host | Should -Be 'kvm-a'
        $null = Wait-Counts $script:log 3
    }

    It 'Move-GridWorkload -DestinationHost moves it live, copies its disk and journals downtime and bytes' {
        $moved = Move-GridWorkload -Datacenter livepair -Name pl1 -DestinationHost kvm-b -Confirm:$false -PassThru
        $moved.Host | Should -Be 'kvm-b'
        $moved.State | Should -Be 'Running'
        $op = Get-GridOperation -Datacenter livepair -Kind Move -Last 1
        $op.State | Should -Be 'Succeeded'
        $op.Checkpoints['move.done'] | Should -Be 'finished (live, copied storage)'
        $stats = $op.Checkpoints['move.live.3.migrated'] | ConvertFrom-Json
        $stats.DowntimeMs | Should -Not -BeNullOrEmpty
        $stats.DiskTotalBytes | Should -Be 1MB
        Write-Host "live move kvm-a -> kvm-b: downtime $($stats.DowntimeMs) ms, $($stats.DataTotalBytes) bytes to copy"
        Get-Domains $script:uris[0] | Should -BeNullOrEmpty
        Get-Domains $script:uris[1] -Running | Should -Be 'pl1'
        Test-Path (Join-Path $script:pair 'kvm-a/images/pl1-disk0.img') | Should -BeFalse
        Test-Path (Join-Path $script:pair 'kvm-b/images/pl1-disk0.img') | Should -BeTrue
        $at = (Get-Counts $script:log).Count
        Test-NeverRestarted (Wait-Counts $script:log ($at + 3)) | Should -BeTrue
    }

    It 'a move whose pwsh is killed mid-migration is finished by Resume-GridOperation: one copy, running, never restarted' {
        # Slow the migration (1 MiB/s) so that it can be caught running: the test's doing.
        & virsh -q -c $script:uris[1] migrate-setspeed pl1 1 | Out-Null
        $p = Start-ChildPwsh -Script "Move-GridWorkload -Datacenter livepair -Name pl1 -DestinationHost kvm-a -Confirm:`$false`n'DONE'"
        $killedMidMigration = $false
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(120)
            while (-not $p.HasExited -and [DateTime]::UtcNow -lt $deadline) {
                $op = Get-GridOperation -Datacenter livepair -Kind Move -State Running | Select-Object -First 1
                if ($op -and $op.Checkpoints.ContainsKey('move.live.2.migrate') -and
                    ((& virsh -q -c $script:uris[1] domjobinfo pl1 2>$null) -join "`n") -match 'Job type:\s+Unbounded') {
                    $p.Kill($true); $killedMidMigration = $true; break
                }
                Start-Sleep -Milliseconds 50
            }
            $p.WaitForExit()
        }
        finally { $p.Dispose() }
        $killedMidMigration | Should -BeTrue -Because 'the child must die while libvirt migrates, not after'

        $interrupted = @(Get-GridOperation -Datacenter livepair -Kind Move -State Interrupted)
        $interrupted.Count | Should -Be 1
        $interrupted[0].Checkpoints.ContainsKey('move.done') | Should -BeFalse
        $done = $interrupted | Resume-GridOperation -Force -PassThru
        $done.State | Should -Be 'Succeeded'

        $a = Get-Domains $script:uris[0]; $b = Get-Domains $script:uris[1]
        @($a) + @($b) | Should -Be 'pl1' -Because 'the guest is defined on exactly one host'
        @(Get-Domains $script:uris[0] -Running) + @(Get-Domains $script:uris[1] -Running) | Should -Be 'pl1' -Because 'and runs there'
        $w = Get-GridWorkload -Datacenter livepair -Name pl1
        $w.State | Should -Be 'Running'
        $w.Host | Should -Be $(if ($a) { 'kvm-a' } else { 'kvm-b' })
        $other = if ($a) { 'kvm-b' } else { 'kvm-a' }
        Test-Path (Join-Path $script:pair "$other/images/pl1-disk0.img") | Should -BeFalse -Because 'no orphan volume is left'
        Test-Path (Join-Path $script:pair "$($w.Host)/images/pl1-disk0.img") | Should -BeTrue
        Write-Host "resumed: the guest runs on $($w.Host) ($($done.Checkpoints['move.done']))"
        $at = (Get-Counts $script:log).Count
        Test-NeverRestarted (Wait-Counts $script:log ($at + 3)) | Should -BeTrue
    }

    It 'with -SharedStorage naming the disk''s folder, the move does not copy the disk and keeps it in place' {
        $w = Get-GridWorkload -Datacenter livepair -Name pl1
        $from = $w.Host; $to = if ($from -eq 'kvm-a') { 'kvm-b' } else { 'kvm-a' }
        $disk = $w.Disks[0].NativeId
        # A second datacenter over the same two daemons, declaring the folder of the guest's disk shared (both daemons see it).
        $null = Connect-GridDatacenter -Name livepair-shared -Provider Libvirt -Uri $script:uris -SharedStorage (Split-Path $disk) -Confirm:$false
        $moved = Move-GridWorkload -Datacenter livepair-shared -Name pl1 -DestinationHost $to -Confirm:$false -PassThru
        $moved.Host | Should -Be $to
        $moved.Disks[0].NativeId | Should -Be $disk
        Test-Path $disk | Should -BeTrue -Because 'a shared disk is neither copied nor deleted'
        $op = Get-GridOperation -Datacenter livepair-shared -Kind Move -Last 1
        $op.Checkpoints['move.done'] | Should -Be 'finished (live, shared storage)'
        $stats = $op.Checkpoints['move.live.3.migrated'] | ConvertFrom-Json
        [long]$stats.DiskTotalBytes | Should -Be 0
        Write-Host "shared-storage move $from -> $($to): downtime $($stats.DowntimeMs) ms, $($stats.DataTotalBytes) bytes"
        @(Get-Domains $script:uris[0]) + @(Get-Domains $script:uris[1]) | Should -Be 'pl1'
        $at = (Get-Counts $script:log).Count
        Test-NeverRestarted (Wait-Counts $script:log ($at + 3)) | Should -BeTrue
    }
}
