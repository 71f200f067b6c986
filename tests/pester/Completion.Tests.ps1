# Tab completion of names: datacenters, workloads, ids, providers, sizes, images, hosts, operations, settings.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name complete
    New-SimDatacenter -Name cmp-ams | Out-Null
    New-SimDatacenter -Name cmp-dub | Out-Null
    $script:w = New-GridWorkload -Name alpha01, alpha02, beta01 -Datacenter cmp-ams -Cpu 1 -MemoryGB 1 -Confirm:$false
    function Complete([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches.CompletionText
    }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Tab completion' {
    It 'completes -Datacenter' { Complete 'Get-GridWorkload -Datacenter cmp-' | Should -Be @('cmp-ams', 'cmp-dub') }
    It 'completes -Name of a workload, narrowed by -Datacenter' {
        Complete 'Stop-GridWorkload -Name alp' | Should -Be @('alpha01', 'alpha02')
        Complete 'Get-GridWorkload -Datacenter cmp-dub -Name alp' | Should -BeNullOrEmpty
    }
    It 'completes -Id' {
        $id = ($script:w | Where-Object Name -eq 'beta01').Id
        Complete "Restart-GridWorkload -Id $($id.Substring(0, 12))" | Should -Contain $id
    }
    It 'completes -Provider' { Complete 'Connect-GridDatacenter -Provider Sim' | Should -Contain 'Simulator' }
    It 'completes -Size and -Image of the datacenter given' {
        $size = (Get-GridSize -Datacenter cmp-ams | Select-Object -First 1).Name
        Complete "New-GridWorkload -Datacenter cmp-ams -Size $($size.Substring(0, 3))" | Should -Contain $size
        $img = (Get-GridImage -Datacenter cmp-ams | Select-Object -First 1).Name
        Complete "New-GridWorkload -Datacenter cmp-ams -Image $($img.Substring(0, 2))" | Should -Contain $img
    }
    It 'completes -TargetHost and -DestinationHost' {
        $h = (Get-GridHost -Datacenter cmp-ams | Select-Object -First 1).Name
        Complete "New-GridWorkload -Datacenter cmp-ams -TargetHost $($h.Substring(0, 3))" | Should -Contain $h
        Complete "Move-GridWorkload -Name alpha01 -Datacenter cmp-ams -DestinationHost $($h.Substring(0, 3))" | Should -Contain $h
    }
    It 'completes operation ids and setting names' {
        $op = (Get-GridOperation -Last 1).Id.ToString()
        Complete "Resume-GridOperation -Id $($op.Substring(0, 8))" | Should -Contain $op
        Complete 'Set-GridConfiguration -Name Retry' | Should -Be @('RetryCount', 'RetryMaxDelaySeconds')
    }
    It 'completes Get-GridOperation -Target from the names in the journal' {
        Complete 'Get-GridOperation -Target alp' | Should -Be @('alpha01', 'alpha02')
        Complete 'Get-GridOperation -Datacenter cmp-dub -Target alp' | Should -BeNullOrEmpty
    }
    It 'completes a provider parameter''s values after -Provider (dynamic parameters)' {
        (Complete 'Connect-GridDatacenter -Provider Simulator -Name x -Host') | Should -Contain '-Hosts'
    }
}
