# New-GridWorkload: creates and returns workloads; sizes or shapes, placement, tags, options, idempotency, -AsJob.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name newwl
    New-SimDatacenter -Name nw-1 -Parameters @{ Hosts = 3 } | Out-Null
    $script:create = Get-SimCreateArgs -Datacenter nw-1
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'New-GridWorkload' {
    It 'creates, starts and returns the workload with its tags' {
        $w = New-GridWorkload -Name n01 @script:create -Tag @{ env = 'prod' } -Confirm:$false
        $w | Should -BeOfType GridAutomation.Core.Model.GridWorkload
        $w.Name | Should -Be 'n01'
        $w.Datacenter | Should -Be 'nw-1'
        $w.State | Should -Be 'Running'
        $w.Size | Should -Be $script:create.Size
        $w.Tags['env'] | Should -Be 'prod'
        (Get-GridOperation -Kind Create -Last 1).State | Should -Be 'Succeeded'
    }
    It 'creates without starting (-NoStart)' {
        (New-GridWorkload -Name n02 @script:create -NoStart -Confirm:$false).State | Should -Be 'Stopped'
    }
    It 'creates by CPU and memory' {
        $w = New-GridWorkload -Name n03 -Datacenter nw-1 -Cpu 3 -MemoryGB 6 -Confirm:$false
        $w.CpuCount | Should -Be 3
        $w.MemoryGB | Should -Be 6
    }
    It 'places on -TargetHost' {
        $h = (Get-GridHost -Datacenter nw-1 | Select-Object -Last 1).Name
        (New-GridWorkload -Name n04 @script:create -TargetHost $h -Confirm:$false).Host | Should -Be $h
    }
    It 'journals -Network, -SshPublicKey and -Option as options of the request' {
        New-GridWorkload -Name n05 @script:create -Network lan-1 -SshPublicKey 'ssh-ed25519 AAAAtest' -Option @{ Datastore = 'ds1' } -Confirm:$false | Out-Null
        $req = (Get-GridOperation -Kind Create -Last 1).Request
        $req | Should -Match '"Network":\s*"lan-1"'
        $req | Should -Match '"SshPublicKey":\s*"ssh-ed25519 AAAAtest"'
        $req | Should -Match '"Datastore":\s*"ds1"'
    }
    It 'is idempotent on -IdempotencyKey: the same key returns the same workload' {
        $a = New-GridWorkload -Name n06 @script:create -IdempotencyKey 'key-n06' -Confirm:$false
        $b = New-GridWorkload -Name n06 @script:create -IdempotencyKey 'key-n06' -Confirm:$false
        $b.Id | Should -Be $a.Id
        @(Get-GridWorkload -Name n06).Count | Should -Be 1
    }
    It 'creates one workload per name, and from pipeline objects by property name' {
        $r = @(New-GridWorkload -Name n07, n08 @script:create -Confirm:$false)
        $r.Count | Should -Be 2
        $rows = @(
            [pscustomobject]@{ Name = 'n09'; Datacenter = 'nw-1'; Cpu = 1; MemoryGB = 1 }
            [pscustomobject]@{ Name = 'n10'; Datacenter = 'nw-1'; Size = $script:create.Size }
        )
        $r = @($rows | New-GridWorkload -Confirm:$false)
        $r.Name | Sort-Object | Should -Be @('n09', 'n10')
        @($r.Datacenter | Sort-Object -Unique) | Should -Be 'nw-1'
    }
    It 'runs as one job with a child job per workload and returns them through Receive-Job' {
        $job = New-GridWorkload -Name j01, j02, j03 @script:create -AsJob -Confirm:$false
        $job | Should -BeOfType System.Management.Automation.Job
        $job.ChildJobs.Count | Should -Be 3
        (Get-Job -Id $job.Id).Id | Should -Be $job.Id
        $job | Wait-Job -Timeout 60 | Out-Null
        $job.State | Should -Be 'Completed'
        (Receive-Job $job).Name | Sort-Object | Should -Be @('j01', 'j02', 'j03')
        Remove-Job $job
    }
    It 'refuses -Size with -Cpu (SizeConflict) and -IdempotencyKey with several names' {
        $ev = $null
        New-GridWorkload -Name bad @script:create -Cpu 2 -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'SizeConflict,*'
        $ev = $null
        New-GridWorkload -Name b1, b2 @script:create -IdempotencyKey k -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'IdempotencyKeyNeedsOneName,*'
        Get-GridWorkload -Name b* -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}
