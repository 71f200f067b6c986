# Test-GridMove (issue 13): per workload a GridMoveReport for a move to another datacenter, on the simulator pair
# (each incompatibility on a datacenter registered to cause it) and on libvirt (test:/// hosts written here). It
# changes nothing: no journal row, no state change. Bad input (unknown destination, the same datacenter) is an error.
# Needs libvirt0 for the libvirt part (tests/GridAutomation.Provider.Libvirt.Tests/setup.sh); under
# GRIDAUTOMATION_REQUIRE_ALL=1 a missing libvirt fails instead of skipping.

BeforeDiscovery {
    $script:noLibvirt = -not ((Test-Path '/usr/lib/x86_64-linux-gnu/libvirt.so.0') -or (Test-Path '/usr/lib64/libvirt.so.0') -or (Test-Path '/usr/lib/aarch64-linux-gnu/libvirt.so.0'))
    $script:skipLibvirt = $script:noLibvirt -and $env:GRIDAUTOMATION_REQUIRE_ALL -ne '1'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name testmove
    New-SimDatacenter -Name src-a | Out-Null
    New-SimDatacenter -Name dst-open -Parameters @{ BandwidthMBps = 100 } | Out-Null
    # a destination built to refuse: small disks only, BIOS only, a Network must be given
    New-SimDatacenter -Name dst-strict -Parameters @{ MaxDiskGB = 20; BootFirmware = 'BIOS'; RequiredMoveOptions = 'Network' } | Out-Null
    New-SimDatacenter -Name dst-defaults -Parameters @{ RequiredMoveOptions = 'Network'; MoveDefaults = 'Network=lan-1' } | Out-Null
    $script:lin = New-GridWorkload -Datacenter src-a -Name lin1 -Image debian-12 -Size sim.medium -Tag @{ app = 'web' } -Confirm:$false
    $script:win = New-GridWorkload -Datacenter src-a -Name win1 -Image windows-2022 -Size sim.small -Confirm:$false
    Stop-GridWorkload -Id $script:win.Id -Confirm:$false
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Test-GridMove on the simulator pair' {
    It 'reports method, disk path, the smallest fitting size and why, bytes, downtime and prices for a running workload' {
        $r = Test-GridMove -Name lin1 -DestinationDatacenter dst-open
        $r | Should -HaveCount 1
        $r.GetType().FullName | Should -Be 'GridAutomation.Core.Moves.GridMoveReport'
        $r.Source | Should -Be $script:lin.Id
        $r.Destination | Should -Be 'dst-open'
        $r.Method | Should -Be 'Cold'
        $r.DiskPath | Should -Be 'Virtual'
        $r.Size | Should -Be 'sim.medium'
        $r.SizeReason | Should -BeLike 'smallest that fits 2 CPU / 4096 MB'
        $r.BytesToTransfer | Should -Be (8GB)
        # 8 GiB at the destination's 100 MiB/s
        $r.EstimatedDowntime.TotalSeconds | Should -BeGreaterThan 81
        $r.EstimatedDowntime.TotalSeconds | Should -BeLessThan 83
        $r.DowntimeBasis | Should -BeLike 'configured bandwidth 100 MiB/s*'
        $r.SourcePricePerHour | Should -Be 0.04
        $r.DestinationPricePerHour | Should -Be 0.04
        $r.Incompatibilities.Code | Should -Be @('NoLivePath')
        $r.Incompatibilities[0].Severity | Should -Be 'Warning'
        $r.CanMove | Should -BeTrue
        ($r | Format-Table | Out-String -Width 300) | Should -Match 'Warning NoLivePath'
    }

    It '-Size wins; an unknown size is NoMatchingSize' {
        (Test-GridMove -Name lin1 -DestinationDatacenter dst-open -Size sim.xlarge).Size | Should -Be 'sim.xlarge'
        $r = Test-GridMove -Name lin1 -DestinationDatacenter dst-open -Size no-such
        $r.Incompatibilities | Where-Object Severity -eq 'Error' | ForEach-Object Code | Should -Be @('NoMatchingSize')
        $r.CanMove | Should -BeFalse
    }

    It 'a destination setting must come from -Option or the registration: DestinationOptionMissing' {
        $r = Test-GridMove -Name lin1 -DestinationDatacenter dst-strict
        $r.Incompatibilities | Where-Object Severity -eq 'Error' | ForEach-Object Code | Should -Be @('DestinationOptionMissing')
        ($r.Incompatibilities | Where-Object Code -eq 'DestinationOptionMissing').Message | Should -BeLike '*-Option @{ Network = *'
        $ok = Test-GridMove -Name lin1 -DestinationDatacenter dst-strict -Option @{ Network = 'dmz' }
        $ok.CanMove | Should -BeTrue
        $ok.Options['Network'] | Should -Be 'dmz'
        $def = Test-GridMove -Name lin1 -DestinationDatacenter dst-defaults
        $def.CanMove | Should -BeTrue
        $def.Options['Network'] | Should -Be 'lan-1'
    }

    It 'a 40 GB UEFI workload into a 20 GB BIOS-only destination: DiskTooLarge and FirmwareMismatch; stopped means no downtime' {
        $r = Test-GridMove -Id $script:win.Id -DestinationDatacenter dst-strict -Option @{ Network = 'dmz' }
        ($r.Incompatibilities | Where-Object Severity -eq 'Error').Code | Sort-Object | Should -Be @('DiskTooLarge', 'FirmwareMismatch')
        $r.Incompatibilities.Code | Should -Not -Contain 'NoLivePath'
        $r.EstimatedDowntime | Should -Be ([TimeSpan]::Zero)
    }

    It 'an unknown destination host is DestinationHostNotFound; a known one is kept' {
        $h = (Get-GridHost -Datacenter dst-open | Select-Object -First 1)
        (Test-GridMove -Name lin1 -DestinationDatacenter dst-open -DestinationHost $h).Destination | Should -Be "dst-open/$($h.Name)"
        (Test-GridMove -Name lin1 -DestinationDatacenter dst-open -DestinationHost nowhere).Incompatibilities.Code | Should -Contain 'DestinationHostNotFound'
    }

    It 'takes workloads from the pipeline and reports each' {
        $r = Get-GridWorkload -Datacenter src-a | Test-GridMove -DestinationDatacenter dst-open
        $r.Name | Sort-Object | Should -Be @('lin1', 'win1')
    }

    It 'bad input is an error, not a report: unknown destination, the same datacenter, a vanished workload' {
        $ev = $null
        $r = Test-GridMove -Name lin1 -DestinationDatacenter nowhere -ErrorVariable ev -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'DatacenterNotFound,*'
        $r = Test-GridMove -Name lin1 -DestinationDatacenter src-a -ErrorVariable ev -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'MoveSameDatacenter,*'
        $ev[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $gone = New-GridWorkload -Datacenter src-a -Name gone1 -Image debian-12 -Confirm:$false
        Remove-GridWorkload -Id $gone.Id -Confirm:$false
        $r = $gone | Test-GridMove -DestinationDatacenter dst-open -ErrorVariable ev -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNotFound,*'
    }

    It 'changes nothing: no journal row, no state change' {
        $ops = @(Get-GridOperation).Count
        $before = Get-GridWorkload -Datacenter src-a, dst-open, dst-strict | Sort-Object Id | ForEach-Object { "$($_.Id) $($_.State) $($_.Host)" }
        Test-GridMove -Name lin1, win1 -DestinationDatacenter dst-open | Should -HaveCount 2
        @(Get-GridOperation).Count | Should -Be $ops
        Get-GridWorkload -Datacenter src-a, dst-open, dst-strict | Sort-Object Id | ForEach-Object { "$($_.Id) $($_.State) $($_.Host)" } | Should -Be $before
        (Get-GridWorkload -Datacenter dst-open) | Should -BeNullOrEmpty
    }

    It 'has help with examples and completes the destination datacenter' {
        (Get-Help Test-GridMove).Examples.Example.Count | Should -BeGreaterThan 0
        $c = TabExpansion2 -inputScript 'Test-GridMove -Name lin1 -DestinationDatacenter dst-s' -cursorColumn 52
        $c.CompletionMatches.CompletionText | Should -Contain 'dst-strict'
    }
}

Describe 'Test-GridMove with libvirt' -Skip:$script:skipLibvirt {
    BeforeAll {
        $hostsDir = Join-Path $script:dir 'hosts'
        New-Item -ItemType Directory -Path $hostsDir -Force | Out-Null
        $i = 0
        foreach ($n in 'kvm-a', 'kvm-b') {
            $i++
            @"
<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><active>8</active><nodes>1</nodes><sockets>1</sockets><cores>8</cores><threads>1</threads></cpu>
  <memory>33554432</memory>
  <pool type='dir'>
    <name>default</name><uuid>6b9a9c2e-0000-4000-8000-00000000010$i</uuid>
    <capacity unit='GiB'>100</capacity><allocation>0</allocation><available unit='GiB'>100</available>
    <source/><target><path>/var/lib/grid-test/$n</path></target>
    <volume type='file'><name>base.img</name><capacity unit='MiB'>64</capacity><target><format type='raw'/></target></volume>
  </pool>
</node>
"@ | Set-Content -Path (Join-Path $hostsDir "$n.xml")
        }
        Connect-GridDatacenter -Name kvm-a -Provider Libvirt -Uri ('test://' + (Join-Path $hostsDir 'kvm-a.xml')) -Confirm:$false | Out-Null
        Connect-GridDatacenter -Name kvm-b -Provider Libvirt -Uri ('test://' + (Join-Path $hostsDir 'kvm-b.xml')) -Confirm:$false | Out-Null
        $script:kw = New-GridWorkload -Datacenter kvm-a -Name kweb -Image base.img -Size small -Confirm:$false
    }

    It 'libvirt to libvirt: the disk keeps its format (Cold), the same size name fits, no live path, and the move can run' {
        $r = Test-GridMove -Id $script:kw.Id -DestinationDatacenter kvm-b
        $r.Method | Should -Be 'Cold'
        $r.Disks | Should -HaveCount 1
        $r.Disks[0].Path.Count | Should -Be 1
        $r.Disks[0].NeedsConversion | Should -BeFalse
        $r.Size | Should -Be 'small'
        $r.Incompatibilities.Code | Should -Be @('NoLivePath')
        $r.CanMove | Should -BeTrue -Because 'libvirt exports and imports disks (LibvirtTransfer); the real move is tested on two daemons in GridAutomation.Provider.Libvirt.Tests' 
        $r.DowntimeBasis | Should -BeLike 'assumed bandwidth 100 MiB/s*'
    }

    It 'libvirt to the simulator and back: UnsupportedDiskFormat (virtual disks are no files) and GuestFixupNeeded' {
        $r = Test-GridMove -Id $script:kw.Id -DestinationDatacenter dst-open
        ($r.Incompatibilities | Where-Object Severity -eq 'Error').Code | Should -Be @('UnsupportedDiskFormat')
        $r.Incompatibilities.Code | Should -Contain 'GuestFixupNeeded'
        $r.Method | Should -Be 'DiskImport'
        $r.Size | Should -Be 'sim.small'
        $back = Test-GridMove -Name lin1 -DestinationDatacenter kvm-b
        ($back.Incompatibilities | Where-Object Severity -eq 'Error').Code | Should -Be @('UnsupportedDiskFormat')
        $back.Size | Should -Be 'medium'
    }
}
