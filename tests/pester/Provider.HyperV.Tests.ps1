# The Hyper-V provider through the cmdlets, over REAL PowerShell remoting: two test sshds on loopback ports (see
# HyperV.TestHosts.ps1), each playing one Hyper-V host with the stand-in Hyper-V module of
# tests/GridAutomation.Provider.HyperV.Tests/StandIn. What crosses the wire is PowerShell remoting serialization.
# Needs openssh-server and root (tests/GridAutomation.Provider.HyperV.Tests/setup.sh); without them the tests are
# skipped, unless GRIDAUTOMATION_REQUIRE_ALL=1, when they run and fail.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'HyperV.TestHosts.ps1')
    $script:problem = Get-HyperVTestPrerequisiteProblem
    $script:skip = $script:problem -and $env:GRIDAUTOMATION_REQUIRE_ALL -ne '1'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'HyperV.TestHosts.ps1')
    $script:dir = Initialize-GridTest -Name hyperv
    if (Get-HyperVTestPrerequisiteProblem) {
        if ($env:GRIDAUTOMATION_REQUIRE_ALL -eq '1') { throw "Hyper-V provider tests: $(Get-HyperVTestPrerequisiteProblem)" }
        return
    }
    $script:lab = Start-HyperVTestHosts -Root $script:dir
    $script:images = Join-Path $script:dir 'images'
    $null = New-Item -ItemType Directory -Path $script:images -Force
    Set-Content -Path (Join-Path $script:images 'base.vhdx') -Value 'not really a vhdx: the stand-in only copies it'
    $script:connect = @{
        Provider = 'HyperV'; HostName = @($script:lab.Hosts | ForEach-Object Address); KeyFilePath = $script:lab.KeyFile
        KnownHostsFile = $script:lab.KnownHosts; ImagePath = $script:images
    }
    # The first error a call writes (its ErrorRecord, with the cmdlet's FullyQualifiedErrorId and category).
    function script:Get-ErrorOf([scriptblock] $Call) {
        try { $ErrorActionPreference = 'Stop'; $null = & $Call; $null }
        catch { $_ }
    }
}

AfterAll {
    if ($script:lab) {
        Get-GridDatacenter -ErrorAction SilentlyContinue | Disconnect-GridDatacenter -Confirm:$false -ErrorAction SilentlyContinue
        Stop-HyperVTestHosts $script:lab
    }
    Remove-GridTestDirectory $script:dir
}

Describe 'Hyper-V provider over PowerShell remoting (SSH)' -Skip:$script:skip {
    It 'connects a datacenter of two SSH hosts and lists hosts, sizes and images' {
        $dc = Connect-GridDatacenter -Name hvlab @script:connect -Owner Contoso
        $dc.Provider | Should -Be 'HyperV'
        $dc.Status | Should -Be 'Connected'
        $dc.Endpoint | Should -Be (($script:lab.Hosts | ForEach-Object Address) -join ', ')
        $dc.Capabilities.HasFlag([GridAutomation.Core.Model.GridCapabilities]::LiveMove) | Should -BeTrue
        $hosts = Get-GridHost -Datacenter hvlab
        $hosts.Name | Should -Be @('hv-a', 'hv-b')
        $hosts | ForEach-Object { $_.CpuCores | Should -Be 16; $_.MemoryMB | Should -Be 65536; $_.State | Should -Be 'Connected' }
        (Get-GridSize -Datacenter hvlab).Name | Should -Contain 'hv.small'
        (Get-GridImage -Datacenter hvlab).Name | Should -Contain 'base.vhdx'
    }

    It 'never stores the key file content or a secret, only the settings' {
        $dc = Get-GridDatacenter -Name hvlab
        $dc.Settings['KeyFilePath'] | Should -Be $script:lab.KeyFile
        $dc.Settings.Keys | Should -Not -Contain 'Credential'
    }

    It 'creates a workload from an image on the chosen host, shaped from Hyper-V''s objects' {
        New-GridAgreement -Owner Contoso -Consumer Fabrikam -Datacenter hvlab -Confirm:$false | Out-Null # the Owner is set with -Owner, under an agreement
        $w = New-GridWorkload -Datacenter hvlab -Name web1 -Image base.vhdx -Size hv.small -TargetHost hv-a -Owner Fabrikam -Tag @{ Tier = 'web' } -Confirm:$false
        $w.State | Should -Be 'Running'
        $w.NativeState | Should -Be 'Running'
        $w.Host | Should -Be 'hv-a'
        $w.Provider | Should -Be 'HyperV'
        $w.CpuCount | Should -Be 1
        $w.MemoryMB | Should -Be 512
        $w.Size | Should -Be 'hv.small'
        $w.Image | Should -Be 'base.vhdx'
        $w.Owner | Should -Be 'Fabrikam'
        $w.Tags['Tier'] | Should -Be 'web'
        [guid]::Parse($w.NativeId) | Should -Not -BeNullOrEmpty
        $w.Id | Should -Be "hvlab/$($w.NativeId)"
        $w.Disks[0].NativeId | Should -BeLike '*hv-a*web1-disk0.vhdx'
        Test-Path $w.Disks[0].NativeId | Should -BeTrue
        $w.Properties['Generation'] | Should -Be 2
        $w.Properties['ComputerName'] | Should -Be 'hv-a'
        $w.Properties['Uptime'] | Should -BeOfType [TimeSpan]
        $w.ComputeBilled | Should -BeNullOrEmpty
        $script:web1 = $w.Id
    }

    It 'lists every VM of the datacenter with ONE Get-VM call per host' {
        New-GridWorkload -Datacenter hvlab -Name db1 -Size hv.medium -TargetHost hv-b -Confirm:$false | Out-Null
        New-GridWorkload -Datacenter hvlab -Name db2 -Size hv.medium -TargetHost hv-b -NoStart -Confirm:$false | Out-Null
        $before = @(Get-HyperVCalls $script:lab).Count
        $all = @(Get-GridWorkload -Datacenter hvlab)
        $calls = @(Get-HyperVCalls $script:lab -Since $before)
        $all.Count | Should -Be 3
        ($all | Sort-Object Name).Name | Should -Be @('db1', 'db2', 'web1')
        ($all | Where-Object Name -eq db2).State | Should -Be 'Stopped'
        ($all | Where-Object Name -eq db2).NativeState | Should -Be 'Off'
        @($calls | Where-Object { $_ -like '* Get-VM *' }).Count | Should -Be 2
        @($calls | Where-Object { $_ -like 'hv-a Get-VM *' }).Count | Should -Be 1
        @($calls | Where-Object { $_ -like 'hv-b Get-VM *' }).Count | Should -Be 1
    }

    It 'stops, starts, saves (Suspended), restarts and turns off, with Hyper-V''s states kept in NativeState' {
        Stop-GridWorkload -Id $script:web1 -Confirm:$false
        (Get-GridWorkload -Id $script:web1) | ForEach-Object { $_.State | Should -Be 'Stopped'; $_.NativeState | Should -Be 'Off' }
        Start-GridWorkload -Id $script:web1 -Confirm:$false
        (Get-GridWorkload -Id $script:web1).State | Should -Be 'Running'
        Suspend-GridWorkload -Id $script:web1 -Confirm:$false
        (Get-GridWorkload -Id $script:web1) | ForEach-Object { $_.State | Should -Be 'Suspended'; $_.NativeState | Should -Be 'Saved' }
        $err = Get-ErrorOf { Stop-GridWorkload -Id $script:web1 -Confirm:$false }
        $err.FullyQualifiedErrorId | Should -BeLike 'WorkloadSuspended,*'
        $err.CategoryInfo.Category | Should -Be 'InvalidOperation'
        Start-GridWorkload -Id $script:web1 -Confirm:$false
        (Get-GridWorkload -Id $script:web1).State | Should -Be 'Running'
        Restart-GridWorkload -Id $script:web1 -Confirm:$false
        (Get-GridWorkload -Id $script:web1).State | Should -Be 'Running'
        Stop-GridWorkload -Id $script:web1 -TurnOff -Confirm:$false
        (Get-GridWorkload -Id $script:web1).NativeState | Should -Be 'Off'
        $ops = Get-GridOperation | Where-Object Target -eq $script:web1
        ($ops | Where-Object State -eq 'Succeeded').Kind | Should -Contain 'Suspend'
        $calls = Get-HyperVCalls $script:lab
        $calls | Should -Contain 'hv-a Save-VM VM'
        $calls | Should -Contain 'hv-a Stop-VM Confirm,Force,TurnOff,VM'
        $calls | Should -Contain 'hv-a Restart-VM Confirm,Force,VM'
    }

    It 'pauses with Suspend-GridWorkload -Pause (Suspend-VM: Paused) and Start runs Resume-VM' {
        Start-GridWorkload -Id $script:web1 -Confirm:$false
        $p = Suspend-GridWorkload -Id $script:web1 -Pause -Confirm:$false -PassThru
        $p.State | Should -Be 'Paused'
        $p.NativeState | Should -Be 'Paused'
        Get-HyperVCalls $script:lab | Should -Contain 'hv-a Suspend-VM VM'
        (Get-GridOperation -Kind Pause -Last 1).State | Should -Be 'Succeeded'
        $ev = $null
        Stop-GridWorkload -Id $script:web1 -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadPaused,*'
        (Start-GridWorkload -Id $script:web1 -Confirm:$false -PassThru).State | Should -Be 'Running'
        Stop-GridWorkload -Id $script:web1 -TurnOff -Confirm:$false
        $ev = $null
        Suspend-GridWorkload -Id $script:web1 -Pause -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNotRunning,*'
        $ev[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
    }

    It 'shows Paused and every *Critical state (as Failed, with the native state kept)' {
        $w = Get-GridWorkload -Datacenter hvlab -Name db1
        Set-HyperVStandInVM $script:lab hv-b $w.NativeId @{ State = 'Paused' }
        (Get-GridWorkload -Id $w.Id) | ForEach-Object { $_.State | Should -Be 'Paused'; $_.NativeState | Should -Be 'Paused' }
        Start-GridWorkload -Id $w.Id -Confirm:$false   # Resume-VM
        (Get-GridWorkload -Id $w.Id).State | Should -Be 'Running'
        Get-HyperVCalls $script:lab | Should -Contain 'hv-b Resume-VM VM'
        Set-HyperVStandInVM $script:lab hv-b $w.NativeId @{ State = 'RunningCritical' }
        $c = Get-GridWorkload -Id $w.Id
        $c.State | Should -Be 'Failed'
        $c.NativeState | Should -Be 'RunningCritical'
        $c.Properties['StateCritical'] | Should -BeTrue
        (Get-GridWorkload -Datacenter hvlab -State Failed).Name | Should -Be 'db1'
        Set-HyperVStandInVM $script:lab hv-b $w.NativeId @{ State = 'Running' }
    }

    It 'resizes a stopped VM (Set-VMProcessor, Set-VMMemory) and refuses a running one without a restart' {
        $w = Get-GridWorkload -Datacenter hvlab -Name db2
        Set-GridWorkload -Id $w.Id -Size hv.large -Confirm:$false
        $r = Get-GridWorkload -Id $w.Id
        $r.CpuCount | Should -Be 4
        $r.MemoryMB | Should -Be 8192
        $r.Size | Should -Be 'hv.large'
        $running = Get-GridWorkload -Datacenter hvlab -Name db1
        $err = Get-ErrorOf { Set-GridWorkload -Id $running.Id -Cpu 2 -Confirm:$false }
        $err.FullyQualifiedErrorId | Should -BeLike 'ResizeNeedsRestart,*'
    }

    It 'round-trips tags through the VM''s Notes and keeps the admin''s own notes' {
        $w = Get-GridWorkload -Datacenter hvlab -Name db2
        Set-HyperVStandInVM $script:lab hv-b $w.NativeId @{ Notes = "Backup nightly`n" + (Get-Content (Join-Path $script:lab.Fabric 'hv-b.json') -Raw | ConvertFrom-Json).VMs.Where({ $_.Id -eq $w.NativeId })[0].Notes }
        Set-GridWorkload -Id $w.Id -Tag @{ Env = 'prod'; Tier = $null } -Confirm:$false
        $t = Get-GridWorkload -Id $w.Id
        $t.Tags['Env'] | Should -Be 'prod'
        $t.Properties['Notes'] | Should -Be 'Backup nightly'
        (Get-GridWorkload -Datacenter hvlab -Tag @{ Env = 'prod' }).Name | Should -Be 'db2'
    }

    It 'moves a running VM live to the other host, Compare-VM first, journaled' {
        Start-GridWorkload -Id $script:web1 -Confirm:$false
        $before = @(Get-HyperVCalls $script:lab).Count
        $moved = Move-GridWorkload -Id $script:web1 -DestinationHost hv-b -Confirm:$false -PassThru
        $moved.Host | Should -Be 'hv-b'
        $moved.State | Should -Be 'Running'
        $moved.Id | Should -Be $script:web1
        $calls = @(Get-HyperVCalls $script:lab -Since $before)
        $cmp = [array]::IndexOf($calls, ($calls | Where-Object { $_ -like 'hv-a Compare-VM *' } | Select-Object -First 1))
        $mv = [array]::IndexOf($calls, ($calls | Where-Object { $_ -like 'hv-a Move-VM *' } | Select-Object -First 1))
        $cmp | Should -BeGreaterOrEqual 0
        $mv | Should -BeGreaterThan $cmp
        $op = Get-GridOperation | Where-Object Kind -eq 'Move' | Select-Object -Last 1
        $op.State | Should -Be 'Succeeded'
        $op.Checkpoints.Keys | Should -Contain 'move.plan'
        $op.Checkpoints.Keys | Should -Contain 'move.done'
    }

    It 'refuses a move Compare-VM reports as incompatible (MoveIncompatible), and the VM stays put' {
        Set-HyperVStandInHost $script:lab hv-a @{ VirtualMachineMigrationEnabled = $false }
        try {
            $err = Get-ErrorOf { Move-GridWorkload -Id $script:web1 -DestinationHost hv-a -Confirm:$false }
            $err.FullyQualifiedErrorId | Should -BeLike 'MoveIncompatible,*'
            $err.CategoryInfo.Category | Should -Be 'InvalidOperation'
            $err.Exception.Message | Should -BeLike '*21024*migration is not enabled*'
            (Get-GridWorkload -Id $script:web1).Host | Should -Be 'hv-b'
        }
        finally { Set-HyperVStandInHost $script:lab hv-a @{ VirtualMachineMigrationEnabled = $true } }
    }

    It 'journals a move before it acts: cut short by a crash it is Interrupted, and Resume-GridOperation finishes it' {
        $w = New-GridWorkload -Datacenter hvlab -Name mv1 -Size hv.small -TargetHost hv-a -Confirm:$false
        $hold = Join-Path $script:lab.Fabric '.hold-Move-VM'
        $holding = Join-Path $script:lab.Fabric '.holding-Move-VM'
        Set-Content $hold 'hold'
        $p = Start-ChildPwsh -Script "Connect-GridDatacenter -Name hvlab -Confirm:`$false | Out-Null; Move-GridWorkload -Id '$($w.Id)' -DestinationHost hv-b -Confirm:`$false"
        try {
            # Generous: under load a child pwsh needs long to start, connect over SSH and reach the host.
            $deadline = [DateTime]::UtcNow.AddSeconds(300)
            while (-not (Test-Path $holding) -and -not $p.HasExited -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            Test-Path $holding | Should -BeTrue -Because 'the child must reach Move-VM on the host'
        }
        finally {
            # Killed whatever happened, so a failed wait never leaves a child that goes on writing to the lab.
            if (-not $p.HasExited) { $p.Kill($true) }
            $p.WaitForExit()
            $p.Dispose()
            if (-not (Test-Path $holding)) { Remove-Item -LiteralPath $hold -Force -ErrorAction SilentlyContinue }
        }
        # The host side of the dead client's session (started by our test sshd) must not finish the move behind our back.
        $remotePid = [int](Get-Content $holding)
        Write-Host "child killed; the host side of its session is process $remotePid (this test is $PID)"
        $remote = Get-Process -Id $remotePid -ErrorAction SilentlyContinue
        if ($remote -and -not $remote.WaitForExit(10000)) { $remote.Kill(); $remote.WaitForExit() }
        Remove-Item -LiteralPath $hold, $holding -Force   # dot files are hidden: -Force
        $op = Get-GridOperation -Kind Move -State Interrupted | Where-Object Target -eq $w.Id
        $op | Should -Not -BeNullOrEmpty
        $op.Checkpoints.Keys | Should -Contain 'move.plan'
        $op.Checkpoints.Keys | Should -Not -Contain 'move.done'
        (Get-GridWorkload -Id $w.Id).Host | Should -Be 'hv-a'
        $done = $op | Resume-GridOperation -Force -PassThru
        $done.State | Should -Be 'Succeeded'
        $moved = Get-GridWorkload -Id $w.Id
        $moved.Host | Should -Be 'hv-b'
        $moved.State | Should -Be 'Running'
        @(Get-GridWorkload -Datacenter hvlab -Name mv1).Count | Should -Be 1
        Remove-GridWorkload -Id $w.Id -Confirm:$false
    }

    It 'gives clear, stable errors: unknown VM, name taken, -Deallocate, unknown host' {
        $err = Get-ErrorOf { Get-GridWorkload -Id "hvlab/$([guid]::NewGuid())" }
        $err.FullyQualifiedErrorId | Should -BeLike 'WorkloadNotFound,*'
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err = Get-ErrorOf { New-GridWorkload -Datacenter hvlab -Name web1 -Size hv.small -Confirm:$false }
        $err.FullyQualifiedErrorId | Should -BeLike 'WorkloadNameExists,*'
        $err = Get-ErrorOf { Stop-GridWorkload -Id $script:web1 -Deallocate -Confirm:$false }
        $err.FullyQualifiedErrorId | Should -BeLike 'CapabilityNotSupported,*'
        $err = Get-ErrorOf { Move-GridWorkload -Id $script:web1 -DestinationHost hv-z -Confirm:$false }
        $err.FullyQualifiedErrorId | Should -BeLike 'HostNotFound,*'
        $err = Get-ErrorOf { New-GridWorkload -Datacenter hvlab -Name web9 -Image nope.vhdx -Confirm:$false }
        $err.FullyQualifiedErrorId | Should -BeLike 'ImageNotFound,*'
    }

    It 'refuses an unknown image or host before anything is journaled (issue 10): id, category, byte-identical state' {
        $dump = { $c = Open-SqliteConnection -Path $env:GRIDAUTOMATION_STATE -NoPooling; try { @(Get-SqliteDump $c) -join "`n" } finally { $c.Dispose() } }
        $before = & $dump
        foreach ($case in @(
                @{ Call = { New-GridWorkload -Datacenter hvlab -Name bad1 -Image nope.vhdx -Confirm:$false }; Id = 'ImageNotFound'; Category = 'ObjectNotFound' }
                @{ Call = { New-GridWorkload -Datacenter hvlab -Name bad2 -Image base.vhdx -TargetHost hv-z -Confirm:$false }; Id = 'HostNotFound'; Category = 'ObjectNotFound' }
                @{ Call = { New-GridWorkload -Datacenter hvlab -Name bad3 -Image '../base.vhdx' -Confirm:$false }; Id = 'InvalidImageName'; Category = 'InvalidArgument' })) {
            $err = Get-ErrorOf $case.Call
            $err.FullyQualifiedErrorId | Should -BeLike "$($case.Id),*"
            $err.CategoryInfo.Category | Should -Be $case.Category
        }
        & $dump | Should -BeExactly $before -Because 'a refusal from the catalog writes no journal row'
    }

    It 'Test-GridMove to libvirt shows each disk''s path (Get-VHD: vhdx > qcow2/raw) and that the move can be made' {
        # A real (empty, 64 MiB) VHDX, so the stand-in's Get-VHD reads its format and virtual size from the file.
        & qemu-img create -q -f vhdx (Join-Path $script:images 'real.vhdx') 64M
        $LASTEXITCODE | Should -Be 0
        $w = New-GridWorkload -Datacenter hvlab -Name mv1 -Image real.vhdx -Size hv.small -TargetHost hv-a -NoStart -Confirm:$false
        $uri = New-LibvirtTestHostXml -Path (Join-Path $script:dir 'hv-kvm.xml') -PoolPath /var/lib/grid-test/hv-kvm -Number 202
        Connect-GridDatacenter -Provider Libvirt -Name hv-kvm -Uri $uri -Confirm:$false | Out-Null
        $r = $w | Test-GridMove -DestinationDatacenter hv-kvm
        $r.Disks.Count | Should -Be 1
        ($r.Disks[0].Path -join '>') | Should -BeIn @('Vhdx>Qcow2', 'Vhdx>Raw')
        $r.Disks[0].NeedsConversion | Should -BeTrue
        $r.Disks[0].CapacityBytes | Should -Be 64MB
        $r.Incompatibilities.Code | Should -Not -Contain 'MoveNotImplemented' -Because 'Hyper-V carries VHDX disks over the session (HyperVDisks.cs)'
        Get-HyperVCalls $script:lab | Should -Contain 'hv-a Get-VHD Path'
        Remove-GridWorkload -Id $w.Id -RemoveStorage -Confirm:$false
        Unregister-GridDatacenter -Name hv-kvm -Confirm:$false
    }

    It 'removes a VM and, with -RemoveStorage, its virtual hard disk' {
        $w = Get-GridWorkload -Id $script:web1
        $disk = $w.Disks[0].NativeId
        Test-Path $disk | Should -BeTrue
        Remove-GridWorkload -Id $script:web1 -RemoveStorage -Confirm:$false
        Test-Path $disk | Should -BeFalse
        (Get-GridWorkload -Datacenter hvlab).Name | Should -Not -Contain 'web1'
        Get-GridWorkload -Datacenter hvlab | Remove-GridWorkload -Confirm:$false
        @(Get-GridWorkload -Datacenter hvlab).Count | Should -Be 0
    }

    It 'is idempotent on create: the same key finds the VM it made instead of a second one' {
        $a = New-GridWorkload -Datacenter hvlab -Name idem1 -Size hv.small -IdempotencyKey 'k-1' -Confirm:$false
        $b = New-GridWorkload -Datacenter hvlab -Name idem1 -Size hv.small -IdempotencyKey 'k-1' -Confirm:$false
        $b.Id | Should -Be $a.Id
        @(Get-GridWorkload -Datacenter hvlab -Name idem1).Count | Should -Be 1
        Remove-GridWorkload -Id $a.Id -Confirm:$false
    }
}

Describe 'Hyper-V disks in moves between datacenters (VHDX over the remoting session)' -Skip:$script:skip {
    BeforeAll {
        # A libvirt datacenter on the embedded QEMU driver (no daemon; its disks are plain files under its root, and
        # libvirt allows ONE embed root per process: no other Pester file uses one). Short root: QEMU's socket paths.
        $script:embRoot = Join-Path '/tmp' ('hvq-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
        $null = New-Item -ItemType Directory -Path (Join-Path $script:embRoot 'images') -Force
        # Known content: 6 MiB of seeded random bytes, then 2 MiB of zeros (a sparse-able tail), as a raw file.
        $script:known = Join-Path $script:dir 'known.raw'
        $bytes = [byte[]]::new(8MB)
        $random = [byte[]]::new(6MB)
        [Random]::new(20).NextBytes($random)
        [Array]::Copy($random, $bytes, $random.Length)
        [IO.File]::WriteAllBytes($script:known, $bytes)
        & qemu-img convert -q -f raw -O vhdx $script:known (Join-Path $script:images 'known.vhdx')
        Copy-Item $script:known (Join-Path $script:embRoot 'images/known.raw')
        Connect-GridDatacenter -Provider Libvirt -Name hv-emb -Uri "qemu:///embed?root=$script:embRoot" -Confirm:$false | Out-Null
        function script:Compare-Disk([string] $A, [string] $AFormat, [string] $B) {
            $out = & qemu-img compare -f $AFormat $A $B 2>&1
            Write-Host "qemu-img compare $A $B -> $LASTEXITCODE ($out)"
            $LASTEXITCODE
        }
        function script:Get-GridMoveFiles { @(Get-ChildItem -LiteralPath $script:lab.Fabric -Recurse -File -Filter 'gridmove-*') }
    }
    AfterAll {
        Remove-Item -LiteralPath (Join-Path $script:lab.Fabric '.fail-New-VM') -Force -ErrorAction SilentlyContinue
        Unregister-GridDatacenter -Name hv-emb -Confirm:$false -ErrorAction SilentlyContinue
        Remove-Item -LiteralPath $script:embRoot -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'moves a VM with a known VHDX Hyper-V -> libvirt (export over the session, vhdx > qcow2) and back (qcow2 > vhdx, import, New-VM -VHDPath): the bytes compare equal' {
        $w = New-GridWorkload -Datacenter hvlab -Name kd1 -Image known.vhdx -Size hv.small -TargetHost hv-a -NoStart -Option @{ Generation = 1 } -Tag @{ App = 'known' } -Confirm:$false
        $r = $w | Test-GridMove -DestinationDatacenter hv-emb
        $r.CanMove | Should -BeTrue -Because (($r.Incompatibilities | ForEach-Object { "$($_.Code): $($_.Message)" }) -join '; ')
        ($r.Disks[0].Path -join '>') | Should -Be 'Vhdx>Qcow2'
        $before = @(Get-HyperVCalls $script:lab).Count
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $there = Move-GridWorkload -Id $w.Id -DestinationDatacenter hv-emb -Confirm:$false -PassThru
        Write-Host "Hyper-V -> libvirt embed, 8 MiB disk (vhdx file $((Get-Item (Join-Path $script:images 'known.vhdx')).Length) bytes): $($sw.ElapsedMilliseconds) ms"
        $there.Datacenter | Should -Be 'hv-emb'
        $there.Name | Should -Be 'kd1'
        $there.Tags['App'] | Should -Be 'known'
        $op = Get-GridOperation -Kind MoveDatacenter | Select-Object -Last 1
        $op.State | Should -Be 'Succeeded'
        (Get-GridOperation -Parent $op.Id).Kind | Should -Be @('MoveStop', 'MoveExport', 'MoveConvert', 'MoveVerify', 'MoveImport', 'MoveCreate', 'MoveVerifyDestination', 'MoveStart', 'MoveCutover')
        Compare-Disk $script:known raw $there.Disks[0].NativeId | Should -Be 0
        # the host's side: the VHDX was read in chunks, hashed on the host (Get-FileHash), never copied by the host itself
        $calls = @(Get-HyperVCalls $script:lab -Since $before)
        $calls | Should -Contain 'hv-a Get-VHD Path'
        (Get-GridWorkload -Id $w.Id).Tags['GridMovedTo'] | Should -Be $there.Id

        # back into Hyper-V: qcow2 > vhdx by qemu-img, written to the host in chunks, the VM made on that disk; the
        # stopped source copy of kd1 left on hvlab is replaced
        $sw.Restart()
        $back = Move-GridWorkload -Id $there.Id -DestinationDatacenter hvlab -Confirm:$false -PassThru
        Write-Host "libvirt embed -> Hyper-V, 8 MiB disk: $($sw.ElapsedMilliseconds) ms"
        $back.Datacenter | Should -Be 'hvlab'
        $back.Provider | Should -Be 'HyperV'
        $back.Properties['Generation'] | Should -Be 1 -Because 'the source''s firmware is BIOS'
        $file = $back.Disks[0].NativeId
        (Split-Path $file -Leaf) | Should -BeLike 'gridmove-*-*.vhdx'
        (& qemu-img info --output=json $file | ConvertFrom-Json).format | Should -Be 'vhdx'
        Compare-Disk $script:known raw $file | Should -Be 0
        @(Get-GridWorkload -Datacenter hvlab -Name kd1).Count | Should -Be 1
        (Get-GridOperation -Kind MoveDatacenter | Select-Object -Last 1).State | Should -Be 'Succeeded'
        $script:kdBack = $back
    }

    It 'moves a libvirt VM into Hyper-V (raw > vhdx), and a failed create rolls back: no file is left on the host' {
        $lw = New-GridWorkload -Datacenter hv-emb -Name kd2 -Image known.raw -Size small -NoStart -Confirm:$false
        $hook = Join-Path $script:lab.Fabric '.fail-New-VM'
        Set-Content $hook 'fail'
        try {
            $ev = $null
            Move-GridWorkload -Id $lw.Id -DestinationDatacenter hvlab -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        }
        finally { Remove-Item -LiteralPath $hook -Force }
        $ev | Should -Not -BeNullOrEmpty
        $ev[0].Exception.Message | Should -BeLike "*failed at step 'create'*rolled back*"
        $op = Get-GridOperation -Kind MoveDatacenter | Select-Object -Last 1
        $op.State | Should -Be 'RolledBack'
        $op.Checkpoints.Keys | Should -Contain 'done:import' -Because 'the disk was on the host before the create failed'
        Get-HyperVCalls $script:lab | Where-Object { $_ -like '* New-VM *VHDPath*' } | Should -Not -BeNullOrEmpty
        Get-GridMoveFiles | Where-Object FullName -ne $script:kdBack.Disks[0].NativeId | Should -BeNullOrEmpty -Because 'the roll-back removes the imported VHDX (and any .partial) no VM uses'
        Test-Path $script:kdBack.Disks[0].NativeId | Should -BeTrue -Because 'a disk a VM uses is never discarded'
        (Get-GridWorkload -Datacenter hvlab).Name | Should -Not -Contain 'kd2'
        (Get-GridWorkload -Id $lw.Id).State | Should -Be 'Stopped'

        # and without the fault it moves, content equal
        $in = Move-GridWorkload -Id $lw.Id -DestinationDatacenter hvlab -Confirm:$false -PassThru
        Compare-Disk $script:known raw $in.Disks[0].NativeId | Should -Be 0
        Remove-GridWorkload -Id $in.Id -RemoveStorage -Confirm:$false
        Remove-GridWorkload -Id $script:kdBack.Id -RemoveStorage -Confirm:$false
        Get-GridMoveFiles | Should -BeNullOrEmpty
    }
}

Describe 'A Failover Cluster as one datacenter (-Cluster)' -Skip:$script:skip {
    BeforeAll {
        # A lab of its own: two nodes (their own sshds and fabric) of cluster 'hvclu', a third node that is Down, and a
        # host of the same fabric that is no node of the cluster (hv-x).
        $script:clab = Start-HyperVTestHosts -Root (Join-Path $script:dir 'cluster') -HostNames @('hv-c1', 'hv-c2', 'hv-x')
        @{ Name = 'hvclu'; Nodes = @(@{ Name = 'hv-c1'; State = 'Up' }, @{ Name = 'hv-c2'; State = 'Up' }, @{ Name = 'hv-c3'; State = 'Down' }); Groups = @() } |
            ConvertTo-Json -Depth 4 | Set-Content (Join-Path $script:clab.Fabric 'cluster.json')
        $script:cconnect = @{
            Provider = 'HyperV'; HostName = @($script:clab.Hosts[0].Address, $script:clab.Hosts[1].Address); KeyFilePath = $script:clab.KeyFile
            KnownHostsFile = $script:clab.KnownHosts; Cluster = 'hvclu'
        }
    }
    AfterAll {
        Unregister-GridDatacenter -Name hvclu -Confirm:$false -ErrorAction SilentlyContinue
        Stop-HyperVTestHosts $script:clab
    }

    It 'lists the cluster''s nodes as the hosts (Get-ClusterNode through a node): a Down node is a Down host' {
        $dc = Connect-GridDatacenter -Name hvclu @script:cconnect
        $dc.Status | Should -Be 'Connected'
        $dc.Endpoint | Should -BeLike 'cluster hvclu: *'
        $dc.Settings['Cluster'] | Should -Be 'hvclu'
        Get-HyperVCalls $script:clab | Should -Contain 'hv-c1 Get-ClusterNode Cluster'
        $hosts = Get-GridHost -Datacenter hvclu
        $hosts.Name | Should -Be @('hv-c1', 'hv-c2', 'hv-c3')
        ($hosts | Where-Object Name -eq 'hv-c1').State | Should -Be 'Connected'
        ($hosts | Where-Object Name -eq 'hv-c3') | ForEach-Object { $_.State | Should -Be 'Down'; $_.NativeState | Should -Be 'cluster node is Down' }
        $hosts | ForEach-Object { $_.Properties['Cluster'] | Should -Be 'hvclu' }
    }

    It 'makes a new VM a clustered role and moves it live between nodes with Move-ClusterVirtualMachineRole (not Move-VM)' {
        $w = New-GridWorkload -Datacenter hvclu -Name cvm1 -Size hv.small -TargetHost hv-c1 -Confirm:$false
        $w.Properties['IsClustered'] | Should -BeTrue
        Get-HyperVCalls $script:clab | Should -Contain 'hv-c1 Add-ClusterVirtualMachineRole Cluster,VMId'
        $before = @(Get-HyperVCalls $script:clab).Count
        $moved = Move-GridWorkload -Id $w.Id -DestinationHost hv-c2 -Confirm:$false -PassThru
        $moved.Host | Should -Be 'hv-c2'
        $moved.State | Should -Be 'Running' -Because 'a live migration keeps the VM running'
        $calls = @(Get-HyperVCalls $script:clab -Since $before)
        $calls | Should -Contain 'hv-c1 Move-ClusterVirtualMachineRole Cluster,MigrationType,Node,VMId'
        $calls | Where-Object { $_ -like '* Move-VM *' } | Should -BeNullOrEmpty
        (Get-Content (Join-Path $script:clab.Fabric 'cluster.json') -Raw | ConvertFrom-Json).Groups[0].OwnerNode | Should -Be 'hv-c2'
        $op = Get-GridOperation -Kind Move | Where-Object Target -eq $w.Id | Select-Object -Last 1
        $op.State | Should -Be 'Succeeded'
        $op.Checkpoints.Keys | Should -Contain 'move.done'
        $err = $null
        Move-GridWorkload -Id $w.Id -DestinationHost hv-c3 -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'HostNotFound,*' -Because 'a Down node takes no VM'
        Remove-GridWorkload -Id $w.Id -Confirm:$false
        Get-HyperVCalls $script:clab | Should -Contain 'hv-c2 Remove-ClusterGroup Cluster,Confirm,Force,Name,RemoveResources'
        (Get-Content (Join-Path $script:clab.Fabric 'cluster.json') -Raw | ConvertFrom-Json).Groups | Should -BeNullOrEmpty
    }

    It 'refuses a cluster name the node does not answer to, and a host that is no node of the cluster' {
        $p = $script:cconnect.Clone(); $p.Cluster = 'nope'
        $err = $null
        try { Connect-GridDatacenter -Name hvclu2 @p -ErrorAction Stop } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'HyperVClusterNotFound,*'
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $p = $script:cconnect.Clone(); $p.HostName = @($script:clab.Hosts[0].Address, $script:clab.Hosts[2].Address)   # hv-x is no node
        $err = $null
        try { Connect-GridDatacenter -Name hvclu3 @p -ErrorAction Stop } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'HyperVHostNotClusterNode,*'
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.Exception.Message | Should -BeLike '*hv-x*not a node of cluster*hv-c1, hv-c2, hv-c3*'
    }
}

Describe 'Hyper-V connection errors' -Skip:$script:skip {
    It 'reports a refused key as HyperVAuthenticationFailed (AuthenticationError)' {
        $other = Join-Path $script:dir 'other_key'
        & ssh-keygen -q -t ed25519 -N '' -f $other | Out-Null
        $p = $script:connect.Clone(); $p.KeyFilePath = $other; $p.HostName = @($script:lab.Hosts[0].Address)
        $err = Get-ErrorOf { Connect-GridDatacenter -Name hvbadkey @p }
        $err.FullyQualifiedErrorId | Should -BeLike 'HyperVAuthenticationFailed,*'
        $err.CategoryInfo.Category | Should -Be 'AuthenticationError'
    }

    It 'reports an unknown host key as not trusted' {
        $kh = Join-Path $script:dir 'empty_known_hosts'
        Set-Content $kh ''
        $p = $script:connect.Clone(); $p.KnownHostsFile = $kh; $p.HostName = @($script:lab.Hosts[0].Address)
        $err = Get-ErrorOf { Connect-GridDatacenter -Name hvbadhost @p }
        $err.FullyQualifiedErrorId | Should -BeLike 'HyperVHostKeyNotTrusted,*'
        $err.CategoryInfo.Category | Should -Be 'AuthenticationError'
    }

    It 'reports a closed port as HyperVHostUnreachable (ConnectionError)' {
        $p = $script:connect.Clone(); $p.HostName = @("root@127.0.0.1:$(Get-FreeLoopbackPort)")
        $err = Get-ErrorOf { Connect-GridDatacenter -Name hvdown @p }
        $err.FullyQualifiedErrorId | Should -BeLike 'HyperVHostUnreachable,*'
        $err.CategoryInfo.Category | Should -Be 'ConnectionError'
    }

    It 'says WinRM (-ComputerName) needs Windows, off Windows' -Skip:$IsWindows {
        $err = Get-ErrorOf { Connect-GridDatacenter -Name hvwinrm -Provider HyperV -ComputerName hv1 }
        $err.FullyQualifiedErrorId | Should -BeLike 'HyperVWinRMNotSupported,*'
        $err.CategoryInfo.Category | Should -Be 'NotImplemented'
    }

    It 'refuses -HostName and -ComputerName together before connecting' {
        $err = Get-ErrorOf { Connect-GridDatacenter -Name hvboth -Provider HyperV -HostName a -ComputerName b }
        $err.FullyQualifiedErrorId | Should -BeLike 'HyperVTransportConflict,*'
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
    }
}

Describe 'The Hyper-V provider uses the host''s PowerShell' -Skip:$script:skip {
    It 'loads into the module''s private context and binds to the one System.Management.Automation of the process' {
        $asm = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'GridAutomation.Provider.HyperV' }
        $asm | Should -Not -BeNullOrEmpty
        [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($asm).Name | Should -Be 'GridAutomation'
        @([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'System.Management.Automation' }).Count | Should -Be 1
        $sma = $asm.GetType('GridAutomation.Providers.HyperV.RemoteHost').GetMethod('ToRecord', [Reflection.BindingFlags]'NonPublic,Static').GetParameters()[0].ParameterType.Assembly
        $sma | Should -Be ([psobject].Assembly)
        Join-Path (Get-RepoRoot) 'Dependencies/System.Management.Automation.dll' | Should -Not -Exist
        Join-Path (Get-RepoRoot) 'Dependencies/Newtonsoft.Json.dll' | Should -Not -Exist
    }
}
