# The vSphere provider through the cmdlets, against our govmomi vCenter simulator (tests/vcsim, built by
# tests/GridAutomation.Provider.VSphere.Tests/setup.sh). Skipped when the simulator is not built, unless
# GRIDAUTOMATION_REQUIRE_ALL=1 (then it fails).

BeforeDiscovery {
    $script:simBin = Join-Path $PSScriptRoot '../vcsim/bin/gridvcsim'
    $script:skipSim = -not (Test-Path $script:simBin) -and $env:GRIDAUTOMATION_REQUIRE_ALL -ne '1'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name vsphere
    $bin = Join-Path $PSScriptRoot '../vcsim/bin/gridvcsim'
    if (-not (Test-Path $bin)) { throw "The vCenter simulator is not built ($bin): run tests/GridAutomation.Provider.VSphere.Tests/setup.sh" }
    $psi = [Diagnostics.ProcessStartInfo]::new($bin)
    foreach ($a in '-cluster', '1', '-host', '2', '-standalone-host', '1', '-vm', '2', '-templates', '1', '-username', 'pester', '-password', 'Pester-Pa55') { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.UseShellExecute = $false
    $script:sim = [Diagnostics.Process]::Start($psi)
    do { $line = $script:sim.StandardOutput.ReadLine() } while ($null -ne $line -and -not $line.StartsWith('URL '))
    $script:url = $line.Substring(4).Trim()
    $script:cred = [pscredential]::new('pester', (ConvertTo-SecureString 'Pester-Pa55' -AsPlainText -Force))
}

AfterAll {
    if ($script:sim) { $script:sim.StandardInput.Close(); if (-not $script:sim.WaitForExit(5000)) { $script:sim.Kill($true) } }
    Remove-GridTestDirectory $script:dir
}

Describe 'VSphere provider' -Skip:$script:skipSim {
    It 'connects with a credential and exposes its connection parameters' {
        (Get-Command Connect-GridDatacenter).Name | Should -Be 'Connect-GridDatacenter'
        $dc = Connect-GridDatacenter -Provider VSphere -Name vs -Server $script:url -Credential $script:cred -AllowInsecureHttp -WarningAction SilentlyContinue
        $dc.Status | Should -Be 'Connected'
        $dc.Capabilities.ToString() | Should -Match 'LiveMove'
    }
    It 'refuses a wrong password as an authentication error' {
        $bad = [pscredential]::new('pester', (ConvertTo-SecureString 'nope' -AsPlainText -Force))
        $ev = $null
        Connect-GridDatacenter -Provider VSphere -Name vs-bad -Server $script:url -Credential $bad -AllowInsecureHttp -WarningAction SilentlyContinue -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'InvalidLogin,*'
        $ev[0].CategoryInfo.Category | Should -Be 'AuthenticationError'
    }
    It 'lists hosts with clusters, workloads and templates as images' {
        @(Get-GridHost -Datacenter vs).Count | Should -Be 3
        @(Get-GridHost -Datacenter vs | Where-Object Cluster -eq 'DC0_C0').Count | Should -Be 2
        @(Get-GridWorkload -Datacenter vs).Count | Should -Be 3
        (Get-GridImage -Datacenter vs).Name | Should -Be 'template-0'
    }
    It 'refuses Suspend-GridWorkload -Pause with PauseNotSupported before anything is journaled (vSphere has no pause)' {
        $w = Get-GridWorkload -Datacenter vs | Select-Object -First 1
        $before = @(Get-GridOperation).Count
        $ev = $null
        Suspend-GridWorkload -Id $w.Id -Pause -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'PauseNotSupported,*'
        $ev[0].CategoryInfo.Category | Should -Be 'NotImplemented'
        @(Get-GridOperation).Count | Should -Be $before
        (Get-GridWorkload -Id $w.Id).State | Should -Be $w.State
    }
    It 'clones, stops, moves and removes a workload' {
        $w = New-GridWorkload -Datacenter vs -Name pester-1 -Image template-0 -Size 2x2 -Tag @{ env = 'dev' } -Confirm:$false
        $w.State | Should -Be 'Running'
        $w.Size | Should -Be '2x2'
        $w.Tags['env'] | Should -Be 'dev'
        (Stop-GridWorkload -Id $w.Id -TurnOff -Confirm:$false -PassThru).State | Should -Be 'Stopped'
        (Start-GridWorkload -Id $w.Id -Confirm:$false -PassThru).State | Should -Be 'Running'
        $dest = (Get-GridHost -Datacenter vs | Where-Object Name -ne $w.Host | Select-Object -First 1).Name
        $moved = Move-GridWorkload -Id $w.Id -DestinationHost $dest -Confirm:$false -PassThru
        $moved.Host | Should -Be $dest
        $moved.State | Should -Be 'Running'
        Remove-GridWorkload -Id $w.Id -Confirm:$false
        @(Get-GridWorkload -Datacenter vs -Name pester-1 -ErrorAction SilentlyContinue).Count | Should -Be 0
    }
}
