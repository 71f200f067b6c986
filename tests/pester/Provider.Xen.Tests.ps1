# The Xen provider through the cmdlets, against the loopback XAPI of tests/GridAutomation.Provider.Xen.Tests (its test
# assembly doubles as the server: "serve <dump>") over a REAL recorded pool (../shared/fixtures/xapi, the two-host
# Tampa pool '16And23'). Skipped when the fixtures are absent, unless GRIDAUTOMATION_REQUIRE_ALL=1 (then it fails).

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $root = Get-RepoRoot
    $fixtures = if ($env:GRIDAUTOMATION_FIXTURES) { $env:GRIDAUTOMATION_FIXTURES } else { Join-Path $root '../shared/fixtures' }
    $script:skipXen = -not (Test-Path (Join-Path $fixtures 'xapi')) -and $env:GRIDAUTOMATION_REQUIRE_ALL -ne '1'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name xen
    $proj = Join-Path (Get-RepoRoot) 'tests/GridAutomation.Provider.Xen.Tests'
    $dll = Get-ChildItem -Path (Join-Path $proj 'bin') -Recurse -Filter GridAutomation.Provider.Xen.Tests.dll -ErrorAction SilentlyContinue |
        Where-Object { $_.FullName -match '[\\/]net8\.0[\\/]' } | Sort-Object LastWriteTimeUtc -Descending | Select-Object -First 1
    if (-not $dll) {
        & dotnet build $proj -c Release --nologo -v q | Out-Null
        $dll = Get-Item (Join-Path $proj 'bin/Release/net8.0/GridAutomation.Provider.Xen.Tests.dll')
    }
    $psi = [Diagnostics.ProcessStartInfo]::new('dotnet')
    foreach ($a in $dll.FullName, 'serve', 'tampa-poolof16and23-xapi-db.xml', 'pester', 'Xen-Pester-Pa55') { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.UseShellExecute = $false
    $script:xapi = [Diagnostics.Process]::Start($psi)
    do { $line = $script:xapi.StandardOutput.ReadLine() } while ($null -ne $line -and -not $line.StartsWith('URL '))
    if ($null -eq $line) { throw "the loopback XAPI did not start ($($dll.FullName) serve)" }
    $script:url = $line.Substring(4).Trim()
    $script:cred = [pscredential]::new('pester', (ConvertTo-SecureString 'Xen-Pester-Pa55' -AsPlainText -Force))
}

AfterAll {
    if ($script:xapi) { $script:xapi.StandardInput.Close(); if (-not $script:xapi.WaitForExit(5000)) { $script:xapi.Kill($true) } }
    Remove-GridTestDirectory $script:dir
}

Describe 'Xen provider' -Skip:$script:skipXen {
    It 'offers its connection parameters as dynamic parameters' {
        $keys = (Get-Command Connect-GridDatacenter -ArgumentList Xen).Parameters.Keys
        foreach ($p in 'Server', 'Credential', 'Protocol', 'SkipCertificateCheck', 'ServerCertificateThumbprint') { $keys | Should -Contain $p }
    }
    It 'connects to the pool with a credential' {
        $dc = Connect-GridDatacenter -Provider Xen -Name xen -Owner Contoso -Site Cambridge -Server $script:url -Credential $script:cred
        $dc.Status | Should -Be 'Connected'
        $dc.Capabilities.ToString() | Should -Match 'LiveMove'
        $dc.Endpoint | Should -Match '16And23'
    }
    It 'refuses a wrong password as an authentication error with the XAPI code' {
        $bad = [pscredential]::new('pester', (ConvertTo-SecureString 'nope' -AsPlainText -Force))
        $ev = $null
        Connect-GridDatacenter -Provider Xen -Name xen-bad -Server $script:url -Credential $bad -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'SESSION_AUTHENTICATION_FAILED,*'
        $ev[0].CategoryInfo.Category | Should -Be 'AuthenticationError'
    }
    It 'reports an unreachable server as a connection error' {
        $ev = $null
        Connect-GridDatacenter -Provider Xen -Name xen-down -Server http://127.0.0.1:9 -Credential $script:cred -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'XenUnreachable,*'
        $ev[0].CategoryInfo.Category | Should -Be 'ConnectionError'
    }
    It 'lists the recorded pool: hosts, workloads and templates' {
        $hosts = @(Get-GridHost -Datacenter xen)
        $hosts.Count | Should -Be 2
        $hosts.Cluster | Sort-Object -Unique | Should -Be '16And23'
        @(Get-GridWorkload -Datacenter xen).Count | Should -Be 4
        @(Get-GridWorkload -Datacenter xen -State Running).Count | Should -Be 4
        @(Get-GridImage -Datacenter xen).Count | Should -Be 61
        (Get-GridSize -Datacenter xen).Name | Should -Contain 'small'
    }
    It 'creates from a template, stops, starts, moves live and removes with storage, journaled' {
        $w = New-GridWorkload -Datacenter xen -Name pester-xen -Image 'Debian Squeeze 6.0 (64-bit)' -Size small -Tag @{ env = 'dev' } -Confirm:$false
        $w.State | Should -Be 'Running'
        $w.Size | Should -Be 'small'
        $w.Tags['env'] | Should -Be 'dev'
        $w.Owner | Should -Be 'Contoso'
        (Stop-GridWorkload -Id $w.Id -TurnOff -Confirm:$false -PassThru).State | Should -Be 'Stopped'
        (Start-GridWorkload -Id $w.Id -Confirm:$false -PassThru).State | Should -Be 'Running'
        $dest = (Get-GridHost -Datacenter xen | Where-Object Name -ne $w.Host | Select-Object -First 1).Name
        $moved = Move-GridWorkload -Id $w.Id -DestinationHost $dest -Confirm:$false -PassThru
        $moved.Host | Should -Be $dest
        $moved.State | Should -Be 'Running'
        $ev = $null
        Stop-GridWorkload -Id $w.Id -Deallocate -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].CategoryInfo.Category | Should -Be 'NotImplemented'
        Remove-GridWorkload -Id $w.Id -RemoveStorage -Confirm:$false
        @(Get-GridWorkload -Datacenter xen -Name pester-xen -ErrorAction SilentlyContinue).Count | Should -Be 0
        $ops = Get-GridOperation -Datacenter xen
        foreach ($k in 'Create', 'Stop', 'Start', 'Move', 'Remove') { ($ops | Where-Object { $_.Kind -eq $k -and $_.State -eq 'Succeeded' }) | Should -Not -BeNullOrEmpty }
    }
    It 'pauses with Suspend-GridWorkload -Pause (VM.pause, Paused) and Start unpauses; -Pause of a halted VM is refused' {
        $w = New-GridWorkload -Datacenter xen -Name pester-pause -Image 'Debian Squeeze 6.0 (64-bit)' -Size small -Confirm:$false
        $p = Suspend-GridWorkload -Id $w.Id -Pause -Confirm:$false -PassThru
        $p.State | Should -Be 'Paused'
        $p.NativeState | Should -Be 'Paused'
        (Get-GridOperation -Datacenter xen -Kind Pause -Last 1).State | Should -Be 'Succeeded'
        (Suspend-GridWorkload -Id $w.Id -Pause -Confirm:$false -PassThru).State | Should -Be 'Paused'   # already paused: no-op
        (Start-GridWorkload -Id $w.Id -Confirm:$false -PassThru).State | Should -Be 'Running'             # VM.unpause
        Stop-GridWorkload -Id $w.Id -TurnOff -Confirm:$false
        $ev = $null
        Suspend-GridWorkload -Id $w.Id -Pause -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNotRunning,*'
        Remove-GridWorkload -Id $w.Id -RemoveStorage -Confirm:$false
    }
    It 'Test-GridMove from Xen shows each disk''s format path: Raw into libvirt (a move it can make), refused by the simulator''s virtual disks' {
        $w = New-GridWorkload -Datacenter xen -Name pester-xmove -Image 'Debian Squeeze 6.0 (64-bit)' -Size small -Confirm:$false
        Connect-GridDatacenter -Provider Simulator -Name xen-sim -Confirm:$false | Out-Null
        $toSim = $w | Test-GridMove -DestinationDatacenter xen-sim
        ($toSim.Disks | ForEach-Object { $_.Path -join '>' }) | Should -Be @('Raw')
        $toSim.Incompatibilities.Code | Should -Contain 'UnsupportedDiskFormat'
        $toSim.CanMove | Should -BeFalse
        $noLibvirt = -not ((Test-Path '/usr/lib/x86_64-linux-gnu/libvirt.so.0') -or (Test-Path '/usr/lib64/libvirt.so.0') -or (Test-Path '/usr/lib/aarch64-linux-gnu/libvirt.so.0'))
        if ($noLibvirt -and $env:GRIDAUTOMATION_REQUIRE_ALL -ne '1') { Set-ItResult -Skipped -Because 'libvirt0 is not installed (tests/GridAutomation.Provider.Libvirt.Tests/setup.sh)'; return }
        $uri = New-LibvirtTestHostXml -Path (Join-Path $script:dir 'kvm-x.xml') -PoolPath /var/lib/grid-test/kvm-x -Number 191 -Volume base.img
        Connect-GridDatacenter -Provider Libvirt -Name xen-kvm -Uri $uri -Confirm:$false | Out-Null
        $toKvm = $w | Test-GridMove -DestinationDatacenter xen-kvm
        ($toKvm.Disks | ForEach-Object { $_.Path -join '>' }) | Should -Be @('Raw') -Because 'libvirt takes raw as it is'
        $toKvm.Disks[0].NeedsConversion | Should -BeFalse
        $toKvm.Incompatibilities.Code | Should -Not -Contain 'MoveNotImplemented' -Because 'Xen exports raw and libvirt imports it (its disk transfer of issue 13)'
        $toKvm.CanMove | Should -BeTrue
        $toKvm.Incompatibilities.Code | Should -Not -Contain 'UnsupportedDiskFormat'
        # Back: libvirt's raw disk goes to Xen as Raw; Xen needs a template for the new VM (-Option Image).
        $kw = New-GridWorkload -Datacenter xen-kvm -Name kvm-x1 -Image base.img -Size small -Confirm:$false
        $toXen = $kw | Test-GridMove -DestinationDatacenter xen
        ($toXen.Disks | ForEach-Object { $_.Path -join '>' }) | Should -Be @('Raw')
        $toXen.Incompatibilities.Code | Should -Contain 'DestinationOptionMissing'
        $withImage = $kw | Test-GridMove -DestinationDatacenter xen -Option @{ Image = 'Debian Squeeze 6.0 (64-bit)' }
        $withImage.Incompatibilities.Code | Should -Not -Contain 'DestinationOptionMissing'
        Remove-GridWorkload -Id $w.Id -RemoveStorage -Confirm:$false
    }
    It 'never writes the password to the state file' {
        Get-ChildItem $script:dir -Recurse -File | ForEach-Object { [IO.File]::ReadAllText($_.FullName) } | Should -Not -Match 'Xen-Pester-Pa55'
    }
}
