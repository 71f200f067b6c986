# The Libvirt provider through the cmdlets, on libvirt's in-process test driver (two test:/// hosts written here):
# Connect-GridDatacenter -Provider Libvirt -Uri a, b (a StringArray dynamic parameter), inventory, create, a
# journaled save/restore move, suspend, remove. Needs libvirt0 (tests/GridAutomation.Provider.Libvirt.Tests/setup.sh);
# without it the tests are skipped, unless GRIDAUTOMATION_REQUIRE_ALL=1, when they run and fail.

BeforeDiscovery {
    $script:noLibvirt = -not ((Test-Path '/usr/lib/x86_64-linux-gnu/libvirt.so.0') -or (Test-Path '/usr/lib64/libvirt.so.0') -or (Test-Path '/usr/lib/aarch64-linux-gnu/libvirt.so.0'))
    $script:skip = $script:noLibvirt -and $env:GRIDAUTOMATION_REQUIRE_ALL -ne '1'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name libvirt
    $script:hostsDir = Join-Path $script:dir 'hosts'
    New-Item -ItemType Directory -Path $script:hostsDir -Force | Out-Null
    $i = 0
    foreach ($n in 'host-a', 'host-b') {
        $i++
        @"
<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><active>8</active><nodes>1</nodes><sockets>1</sockets><cores>8</cores><threads>1</threads></cpu>
  <memory>33554432</memory>
  <pool type='dir'>
    <name>default</name><uuid>6b9a9c2e-0000-4000-8000-00000000000$i</uuid>
    <capacity unit='GiB'>100</capacity><allocation>0</allocation><available unit='GiB'>100</available>
    <source/><target><path>/var/lib/grid-test/$n</path></target>
    <volume type='file'><name>base.img</name><capacity unit='MiB'>1</capacity><target><format type='raw'/></target></volume>
  </pool>
</node>
"@ | Set-Content -Path (Join-Path $script:hostsDir "$n.xml")
    }
    $script:uris = 'host-a', 'host-b' | ForEach-Object { 'test://' + (Join-Path $script:hostsDir "$_.xml") }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Libvirt provider through the cmdlets' -Skip:$script:skip {
    It 'connects a datacenter of two libvirt URIs (one host each)' {
        $dc = Connect-GridDatacenter -Name kvmlab -Provider Libvirt -Uri $script:uris -SaveDirectory (Join-Path $script:dir 'save')
        $dc.Provider | Should -Be 'Libvirt'
        $dc.Status | Should -Be 'Connected'
        $dc.Endpoint | Should -Be ($script:uris -join ', ')
        $dc.Capabilities.HasFlag([GridAutomation.Core.Model.GridCapabilities]::Move) | Should -BeTrue
        $hosts = Get-GridHost -Datacenter kvmlab
        $hosts.Name | Should -Be @('host-a', 'host-b')
        $hosts | ForEach-Object { $_.CpuCores | Should -Be 8 }
        (Get-GridSize -Datacenter kvmlab).Name | Should -Contain 'micro'
        (Get-GridImage -Datacenter kvmlab).Name | Should -Contain 'base.img'
    }

    It 'creates, moves (save/restore, journaled step by step), suspends and removes a workload' {
        $w = New-GridWorkload -Datacenter kvmlab -Name web1 -Image base.img -Size micro -Confirm:$false
        $w.State | Should -Be 'Running'
        $w.NativeState | Should -Be 'running'
        $w.Host | Should -Be 'host-a'
        $moved = Move-GridWorkload -Id $w.Id -DestinationHost host-b -Confirm:$false -PassThru
        $moved.Host | Should -Be 'host-b'
        $moved.State | Should -Be 'Running'
        $op = Get-GridOperation | Where-Object Kind -eq 'Move' | Select-Object -Last 1
        $op.State | Should -Be 'Succeeded'
        $op.Checkpoints.Keys | Should -Contain 'move.done'
        Suspend-GridWorkload -Id $w.Id -Confirm:$false
        $s = Get-GridWorkload -Id $w.Id
        $s.State | Should -Be 'Suspended'
        $s.NativeState | Should -Be 'shutoff'
        Start-GridWorkload -Id $w.Id -Confirm:$false
        (Get-GridWorkload -Id $w.Id).State | Should -Be 'Running'
        Remove-GridWorkload -Id $w.Id -RemoveStorage -Confirm:$false
        @(Get-GridWorkload -Datacenter kvmlab).Count | Should -Be 0
    }

    It 'pauses with Suspend-GridWorkload -Pause (virDomainSuspend: paused) and Start resumes it' {
        $w = New-GridWorkload -Datacenter kvmlab -Name web3 -Image base.img -Size micro -Confirm:$false
        $p = Suspend-GridWorkload -Id $w.Id -Pause -Confirm:$false -PassThru
        $p.State | Should -Be 'Paused'
        $p.NativeState | Should -Be 'paused'
        (Get-GridOperation -Kind Pause -Last 1).State | Should -Be 'Succeeded'
        $ev = $null
        Stop-GridWorkload -Id $w.Id -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadPaused,*'
        (Start-GridWorkload -Id $w.Id -Confirm:$false -PassThru).NativeState | Should -Be 'running'
        Stop-GridWorkload -Id $w.Id -TurnOff -Confirm:$false
        $ev = $null
        Suspend-GridWorkload -Id $w.Id -Pause -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNotRunning,*'
        Remove-GridWorkload -Id $w.Id -RemoveStorage -Confirm:$false
    }

    It 'refuses -Deallocate with CapabilityNotSupported' {
        $w = New-GridWorkload -Datacenter kvmlab -Name web2 -Image base.img -Size micro -Confirm:$false
        $ev = $null
        Stop-GridWorkload -Id $w.Id -Deallocate -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'CapabilityNotSupported,*'
        Remove-GridWorkload -Id $w.Id -RemoveStorage -Confirm:$false
    }
}
