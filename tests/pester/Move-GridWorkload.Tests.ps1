# Move-GridWorkload: to another host of the same datacenter; HostNotFound; -AsJob.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name move
    New-SimDatacenter -Name mv-1 -Parameters @{ Hosts = 3 } | Out-Null
    $script:create = Get-SimCreateArgs -Datacenter mv-1
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Move-GridWorkload' {
    BeforeAll {
        $script:w = New-GridWorkload -Name m01, m02 @script:create -Confirm:$false
        $script:hosts = (Get-GridHost -Datacenter mv-1).Name
    }

    It 'moves a running workload (live) to another host' {
        $w = Get-GridWorkload -Name m01
        $dest = $script:hosts | Where-Object { $_ -ne $w.Host } | Select-Object -First 1
        $moved = Move-GridWorkload -Name m01 -DestinationHost $dest -PassThru -Confirm:$false
        $moved.Host | Should -Be $dest
        $moved.State | Should -Be 'Running'
        (Get-GridWorkload -Name m01).Host | Should -Be $dest
    }

    It 'gives HostNotFound for a host the datacenter does not have, and changes nothing' {
        $before = (Get-GridWorkload -Name m02).Host
        $ev = $null
        Move-GridWorkload -Name m02 -DestinationHost no-such-host -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'HostNotFound,*'
        $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        (Get-GridWorkload -Name m02).Host | Should -Be $before
    }

    It 'as a job, a failing child makes the job Failed and its error comes back through Receive-Job' {
        $job = Get-GridWorkload -Name m0* | Move-GridWorkload -DestinationHost no-such-host -AsJob -Confirm:$false
        $job | Wait-Job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Failed'
        $errs = $null
        Receive-Job $job -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        @($errs).Count | Should -Be 2
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'HostNotFound*'
    }

    It 'moves every workload piped in' {
        $dest = $script:hosts[-1]
        Get-GridWorkload -Name m0* | Move-GridWorkload -DestinationHost $dest -Confirm:$false
        (Get-GridWorkload -Name m0*).Host | Sort-Object -Unique | Should -Be $dest
    }
}
