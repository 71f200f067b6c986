# Owners, agreements, pools and placement (issue 15): enforcement on New-, Move- and Set-, the Owner tag rule,
# pools resolved at use, Get-GridPlacement changing nothing, anti-affinity, bulk packing, parallel quota.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name grid
    $small = @{ Hosts = 2; HostCpu = 8; HostMemoryGB = 32 }
    New-SimDatacenter -Name ga-ams -Owner Contoso -Site Amsterdam -Parameters $small | Out-Null
    New-SimDatacenter -Name ga-dub -Owner Fabrikam -Site Dublin -Parameters $small | Out-Null
    New-SimDatacenter -Name ga-nyc -Owner Tailspin -Site 'New York' -Parameters $small | Out-Null
    # The first error a block writes (or throws), or $null.
    function script:Catch-Error([scriptblock] $Block) {
        $ErrorActionPreference = 'Stop'
        try { & $Block | Out-Null } catch { return $_ }
        $null
    }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Owner' {
    It 'New-GridWorkload -Owner sets it; the Owner tag cannot be set through -Tag' {
        (New-GridWorkload -Name own-1 -Datacenter ga-ams -Cpu 1 -MemoryGB 1 -Owner Contoso -Confirm:$false).Owner | Should -Be 'Contoso'
        $e = Catch-Error { New-GridWorkload -Name own-2 -Datacenter ga-ams -Cpu 1 -MemoryGB 1 -Tag @{ Owner = 'Contoso' } -Confirm:$false }
        $e.FullyQualifiedErrorId | Should -BeLike 'OwnerTagReserved*'
        $e.Exception.Message | Should -BeLike '*-Owner*'
        $e = Catch-Error { Set-GridWorkload -Name own-1 -Tag @{ owner = 'X' } -Confirm:$false }
        $e.FullyQualifiedErrorId | Should -BeLike 'OwnerTagReserved*'
        (Get-GridWorkload -Name own-1).Owner | Should -Be 'Contoso'
    }
}

Describe 'Agreements enforced on New-, Set- and Move-' {
    BeforeAll {
        $script:opsBefore = @(Get-GridOperation).Count
    }
    It 'refuses a create in another company''s datacenter without an agreement, before anything is journaled' {
        $e = Catch-Error { New-GridWorkload -Name ag-0 -Datacenter ga-dub -Cpu 1 -MemoryGB 1 -Owner Contoso -Confirm:$false }
        $e.FullyQualifiedErrorId | Should -BeLike 'NoAgreement*'
        $e.CategoryInfo.Category | Should -Be 'PermissionDenied'
        $e.Exception.Message | Should -BeLike '*New-GridAgreement -Owner Fabrikam -Consumer Contoso -Datacenter ga-dub*'
        @(Get-GridWorkload -Name ag-0 -ErrorAction SilentlyContinue).Count | Should -Be 0
        @(Get-GridOperation -Kind Create | Where-Object { $_.Target -like '*ag-0*' }).Count | Should -Be 0
    }
    It 'New-/Get-/Set-GridAgreement keep quotas and prices' {
        New-GridAgreement -Owner Fabrikam -Consumer Contoso -Datacenter 'ga-d*' -MaxWorkloads 2 -MaxCpu 3 -PricePerCpuHour 0.02 -PricePerGBHour 0.005 -WhatIf
        @(Get-GridAgreement).Count | Should -Be 0
        $a = New-GridAgreement -Owner Fabrikam -Consumer Contoso -Datacenter 'ga-d*' -MaxWorkloads 2 -MaxCpu 3 -PricePerCpuHour 0.02 -PricePerGBHour 0.005 -Confirm:$false
        $a | Should -BeOfType GridAutomation.Core.Grid.GridAgreement
        $script:agreement = $a.Id
        $g = Get-GridAgreement -Consumer Cont* -Datacenter ga-dub
        $g.Id | Should -Be $a.Id
        $g.MaxWorkloads | Should -Be 2
        $g.PricePerCpuHour | Should -Be 0.02
        @(Get-GridAgreement -Datacenter ga-ams).Count | Should -Be 0
        (Get-GridAgreement | Out-String) | Should -BeLike '*Fabrikam*Contoso*ga-d`**'
    }
    It 'admits creates within the quota and refuses the one over it, naming the limit' {
        (New-GridWorkload -Name ag-1 -Datacenter ga-dub -Cpu 1 -MemoryGB 1 -Owner Contoso -Confirm:$false).Owner | Should -Be 'Contoso'
        New-GridWorkload -Name ag-2 -Datacenter ga-dub -Cpu 1 -MemoryGB 1 -Owner Contoso -Confirm:$false | Out-Null
        $e = Catch-Error { New-GridWorkload -Name ag-3 -Datacenter ga-dub -Cpu 1 -MemoryGB 1 -Owner Contoso -Confirm:$false }
        $e.FullyQualifiedErrorId | Should -BeLike 'AgreementQuotaExceeded*'
        $e.Exception.Message | Should -BeLike '*MaxWorkloads 2: 2 in use*'
        @(Get-GridWorkload -Name ag-3 -ErrorAction SilentlyContinue).Count | Should -Be 0
    }
    It 'refuses a resize over the CPU quota, and allows one within it' {
        $e = Catch-Error { Set-GridWorkload -Name ag-1 -Cpu 3 -Restart -Confirm:$false }
        $e.FullyQualifiedErrorId | Should -BeLike 'AgreementQuotaExceeded*'
        $e.Exception.Message | Should -BeLike '*MaxCpu 3: 1 in use, this needs 3 more*'
        Set-GridWorkload -Name ag-1 -Cpu 2 -Restart -Confirm:$false
        (Get-GridWorkload -Name ag-1).CpuCount | Should -Be 2
    }
    It 'checks Set-GridWorkload -Owner like a placement' {
        New-GridWorkload -Name fab-1 -Datacenter ga-dub -Cpu 1 -MemoryGB 1 -Confirm:$false | Out-Null
        (Get-GridWorkload -Name fab-1).Owner | Should -Be 'Fabrikam'
        $e = Catch-Error { Set-GridWorkload -Name fab-1 -Owner Tailspin -Confirm:$false }
        $e.FullyQualifiedErrorId | Should -BeLike 'NoAgreement*'
        $e = Catch-Error { Set-GridWorkload -Name fab-1 -Owner Contoso -Confirm:$false }
        $e.FullyQualifiedErrorId | Should -BeLike 'AgreementQuotaExceeded*'
        Set-GridAgreement -Id $script:agreement -MaxWorkloads 3 -MaxCpu 4 -Confirm:$false
        Set-GridWorkload -Name fab-1 -Owner Contoso -Confirm:$false
        (Get-GridWorkload -Name fab-1).Owner | Should -Be 'Contoso'
        (Get-GridWorkload -Name fab-1).Tags['Owner'] | Should -Be 'Contoso'
    }
    It 'checks Move-GridWorkload -DestinationDatacenter at the destination, and the owner stays' {
        New-GridWorkload -Name mv-1 -Datacenter ga-ams -Cpu 1 -MemoryGB 1 -Confirm:$false | Out-Null
        # Test-GridMove says what Move-GridWorkload would refuse, as errors of the report, and reserves nothing
        $r = Test-GridMove -Name mv-1 -DestinationDatacenter ga-nyc
        ($r.Incompatibilities | Where-Object Severity -eq 'Error').Code | Should -Contain 'NoAgreement'
        $r = Test-GridMove -Name mv-1 -DestinationDatacenter ga-dub
        ($r.Incompatibilities | Where-Object Severity -eq 'Error').Code | Should -Contain 'AgreementQuotaExceeded'
        $e = Catch-Error { Move-GridWorkload -Name mv-1 -DestinationDatacenter ga-nyc -Force }
        $e.FullyQualifiedErrorId | Should -BeLike 'NoAgreement*'
        $e = Catch-Error { Move-GridWorkload -Name mv-1 -DestinationDatacenter ga-dub -Force }
        $e.FullyQualifiedErrorId | Should -BeLike 'AgreementQuotaExceeded*'
        @(Get-GridWorkload -Name mv-1 -Datacenter ga-ams).Count | Should -Be 1
        Set-GridAgreement -Id $script:agreement -MaxWorkloads 4 -MaxCpu 5 -Confirm:$false
        $r = Test-GridMove -Name mv-1 -DestinationDatacenter ga-dub
        @($r.Incompatibilities | Where-Object { $_.Code -in 'NoAgreement', 'AgreementQuotaExceeded' }).Count | Should -Be 0
        $moved = Move-GridWorkload -Name mv-1 -DestinationDatacenter ga-dub -Force -PassThru
        $moved.Datacenter | Should -Be 'ga-dub'
        $moved.Owner | Should -Be 'Contoso'
        (Get-GridWorkload -Name mv-1 -Datacenter ga-dub).Owner | Should -Be 'Contoso'
    }
    It 'Remove-GridAgreement ends it: the next create is refused' {
        Remove-GridAgreement -Id $script:agreement -Confirm:$false
        @(Get-GridAgreement).Count | Should -Be 0
        $e = Catch-Error { New-GridWorkload -Name ag-9 -Datacenter ga-dub -Cpu 1 -MemoryGB 1 -Owner Contoso -Confirm:$false }
        $e.FullyQualifiedErrorId | Should -BeLike 'NoAgreement*'
        @(Get-GridOperation -Kind NewAgreement, SetAgreement, RemoveAgreement).Count | Should -Be 4
    }
    It 'refuses bad agreements with InvalidAgreement' {
        $e = Catch-Error { New-GridAgreement -Owner Contoso -Consumer contoso -Datacenter ga-ams -Confirm:$false }
        $e.FullyQualifiedErrorId | Should -BeLike 'InvalidAgreement*'
        $e = Catch-Error { New-GridAgreement -Owner Fabrikam -Consumer Contoso -Datacenter ga-dub -Start '2027-01-02' -End '2027-01-01' -Confirm:$false }
        $e.FullyQualifiedErrorId | Should -BeLike 'InvalidAgreement*'
    }
}

Describe 'Pools' {
    It 'keeps members with wildcards and resolves them each time the pool is used' {
        $p = New-GridPool -Name eu -Datacenter 'pl-*', ga-ams -Confirm:$false
        $p.Policy | Should -Be 'Pack'
        (Get-GridPool -Resolve eu).Name | Should -Be @('ga-ams')
        New-SimDatacenter -Name pl-1 -Owner Contoso -Parameters @{ Hosts = 1 } | Out-Null
        (Get-GridPool -Resolve eu).Name | Sort-Object | Should -Be @('ga-ams', 'pl-1')
        Set-GridPool -Name eu -Policy Spread -Datacenter 'pl-*' -Confirm:$false
        (Get-GridPool eu).Policy | Should -Be 'Spread'
        (Get-GridPool eu).Datacenter | Should -Be @('pl-*')
        (Catch-Error { New-GridPool -Name EU -Datacenter x -Confirm:$false }).FullyQualifiedErrorId | Should -BeLike 'PoolExists*'
        Remove-GridPool -Name eu -Confirm:$false
        (Catch-Error { Get-GridPool eu }).FullyQualifiedErrorId | Should -BeLike 'PoolNotFound*'
    }
}

Describe 'Placement' {
    BeforeAll {
        $cap = @{ Hosts = 3; HostCpu = 8; HostMemoryGB = 32 }
        New-SimDatacenter -Name pa-own -Owner Contoso -Site Amsterdam -Parameters $cap | Out-Null
        New-SimDatacenter -Name pa-fab -Owner Fabrikam -Site Dublin -Parameters $cap | Out-Null
        New-SimDatacenter -Name pa-tail -Owner Tailspin -Site Paris -Parameters $cap | Out-Null
        New-GridPool -Name pa -Datacenter 'pa-*' -Confirm:$false | Out-Null
        New-GridAgreement -Owner Fabrikam -Consumer Contoso -Datacenter pa-fab -PricePerCpuHour 0.001 -Confirm:$false | Out-Null
    }
    It 'Get-GridPlacement plans without changing anything, and says why each candidate was rejected' {
        $ops = @(Get-GridOperation).Count
        $plan = @(Get-GridPlacement -Pool pa -Name x1, x2 -Cpu 6 -MemoryGB 8 -Owner Contoso -Requirement "Site -ne 'Amsterdam'")
        $plan.Count | Should -Be 2
        $plan | ForEach-Object { $_.Fits | Should -BeTrue; $_.Datacenter | Should -Be 'pa-fab'; $_.Host | Should -Not -BeNullOrEmpty }
        ($plan.Host | Sort-Object -Unique).Count | Should -Be 2
        $plan[0].Price | Should -Be '0.006'
        $why = $plan[0].Rejected
        ($why | Where-Object Datacenter -eq 'pa-tail' | Select-Object -First 1).Constraint | Should -Be 'Agreement'
        ($why | Where-Object Datacenter -eq 'pa-own' | Select-Object -First 1).Constraint | Should -Be 'Requirement'
        @(Get-GridOperation).Count | Should -Be $ops
        @(Get-GridWorkload -Datacenter pa-*).Count | Should -Be 0
        $none = Get-GridPlacement -Pool pa -Name big -Cpu 64 -MemoryGB 8 -Owner Contoso
        $none.Fits | Should -BeFalse
        $none.Eliminated | Should -Be 'Capacity'
        ($none.Rejected | Where-Object Datacenter -eq 'pa-tail')[0].Reason | Should -BeLike 'NoAgreement*'
    }
    It 'each workload''s rejections are the candidates as it saw them when planned (rebuilt on demand), not the end state' {
        New-SimDatacenter -Name seen-a -Owner Contoso -Parameters @{ Hosts = 3; HostCpu = 8; HostMemoryGB = 32 } | Out-Null
        New-GridPool -Name seen -Datacenter seen-a -Confirm:$false | Out-Null
        $plan = @(Get-GridPlacement -Pool seen -Count 4 -NamePrefix s -Cpu 6 -MemoryGB 4 -Owner Contoso)
        $plan.Fits | Should -Be @($true, $true, $true, $false)
        # The first saw three empty hosts; each later one saw one more host with 2 CPU left.
        $plan[0].Rejected.Count | Should -Be 0
        $plan[1].Rejected.Count | Should -Be 1
        $plan[1].Reason | Should -BeLike '*; 2 candidates fit'
        $plan[1].Rejected[0].Host | Should -Be $plan[0].Host
        $plan[1].Rejected[0].Reason | Should -Be 'needs 6 CPU / 4 GB, 2 CPU / 28 GB free'
        $plan[2].Rejected.Count | Should -Be 2
        $plan[3].Rejected.Count | Should -Be 3
        $plan[3].Rejected.Constraint | Sort-Object -Unique | Should -Be 'Capacity'
        $plan[3].Eliminated | Should -Be 'Capacity'
        $plan[3].Reason | Should -BeLike 'fits nowhere: Capacity eliminated the most capacity (3 of 3 candidates; e.g. seen-a/*: Capacity: needs 6 CPU / 4 GB, 2 CPU / 28 GB free)'
        Remove-GridPool -Name seen -Confirm:$false
    }
    It 'a malformed requirement is an error naming the position' {
        $e = Catch-Error { Get-GridPlacement -Pool pa -Name y -Cpu 1 -MemoryGB 1 -Owner Contoso -Requirement 'FreeCpu -ge' }
        $e.FullyQualifiedErrorId | Should -BeLike 'InvalidRequirement*'
        $e.Exception.Message | Should -BeLike '*position 12*'
    }
    It 'New-GridWorkload -Pool -Count -NamePrefix creates where the plan said, never two of an anti-affinity group on one host' {
        $made = @(New-GridWorkload -Pool pa -Count 5 -NamePrefix web -Cpu 1 -MemoryGB 1 -Owner Contoso -AntiAffinity web -Confirm:$false)
        $made.Name | Sort-Object | Should -Be @('web-001', 'web-002', 'web-003', 'web-004', 'web-005')
        $made | ForEach-Object { $_.Datacenter | Should -BeIn @('pa-own', 'pa-fab'); $_.Owner | Should -Be 'Contoso' }
        $hosts = $made | ForEach-Object { "$($_.Datacenter)/$($_.Host)" }
        ($hosts | Sort-Object -Unique).Count | Should -Be 5
        # The sixth member of the group has one free host left; the seventh none.
        (New-GridWorkload -Pool pa -Name web-006 -Cpu 1 -MemoryGB 1 -Owner Contoso -AntiAffinity web -Confirm:$false).Name | Should -Be 'web-006'
        $e = Catch-Error { New-GridWorkload -Pool pa -Name web-007 -Cpu 1 -MemoryGB 1 -Owner Contoso -AntiAffinity web -Confirm:$false }
        $e.FullyQualifiedErrorId | Should -BeLike 'NoPlacement*'
        $e.Exception.Message | Should -BeLike '*AntiAffinity*'
        $all = Get-GridWorkload -Name web-* | ForEach-Object { "$($_.Datacenter)/$($_.Host)" }
        ($all | Sort-Object -Unique).Count | Should -Be @($all).Count
        Get-GridWorkload -Name web-* | Remove-GridWorkload -Confirm:$false
    }
    It 'piped specs are planned together (largest first) and pack at least as well as placing one at a time' {
        $cap = @{ Hosts = 3; HostCpu = 8; HostMemoryGB = 32 }
        New-SimDatacenter -Name bulk-a -Owner Contoso -Parameters $cap | Out-Null
        New-SimDatacenter -Name bulk-b -Owner Contoso -Parameters $cap | Out-Null
        New-GridPool -Name bulk -Datacenter bulk-a -Confirm:$false | Out-Null
        New-GridPool -Name single -Datacenter bulk-b -Confirm:$false | Out-Null
        $specs = 3, 3, 5, 5 | ForEach-Object -Begin { $i = 0 } -Process { $i++; [pscustomobject]@{ Name = "b$i"; Cpu = $_; MemoryGB = 2; Owner = 'Contoso' } }
        $specs | New-GridWorkload -Pool bulk -Confirm:$false | Out-Null
        foreach ($s in $specs) { $s | New-GridWorkload -Pool single -Confirm:$false | Out-Null }
        $bulkHosts = @(Get-GridWorkload -Datacenter bulk-a | Select-Object -ExpandProperty Host -Unique).Count
        $singleHosts = @(Get-GridWorkload -Datacenter bulk-b | Select-Object -ExpandProperty Host -Unique).Count
        @(Get-GridWorkload -Datacenter bulk-a).Count | Should -Be 4
        $bulkHosts | Should -BeLessOrEqual $singleHosts
        $bulkHosts | Should -Be 2     # 5+3 and 5+3
        $singleHosts | Should -Be 3   # 3+3, 5, 5
    }
    It 'New-GridWorkload -Pool hands -Network, -SshPublicKey and -Option to the chosen datacenter''s create' {
        $w = New-GridWorkload -Pool pa -Name opt-1 -Cpu 1 -MemoryGB 1 -Owner Contoso -Network lan-7 -SshPublicKey 'ssh-ed25519 AAAApool' -Option @{ Datastore = 'ds9' } -Confirm:$false
        $w.Datacenter | Should -BeIn @('pa-own', 'pa-fab')
        $op = Get-GridOperation -Kind Create -Last 1
        $op.Datacenter | Should -Be $w.Datacenter
        $op.Request | Should -Match '"Network":\s*"lan-7"'
        $op.Request | Should -Match '"SshPublicKey":\s*"ssh-ed25519 AAAApool"'
        $op.Request | Should -Match '"Datastore":\s*"ds9"'
        $e = Catch-Error { New-GridWorkload -Pool pa -Name opt-2 -Cpu 1 -MemoryGB 1 -Owner Contoso -Option @{ Bad = $null } -Confirm:$false }
        $e | Should -Not -BeNullOrEmpty
        @(Get-GridWorkload -Name opt-2 -ErrorAction SilentlyContinue).Count | Should -Be 0
        Remove-GridWorkload -Name opt-1 -Datacenter $w.Datacenter -Confirm:$false
    }
    It 'New-GridWorkload -Pool -AsJob plans and confirms first, then returns a job whose children create the workloads' {
        $job = New-GridWorkload -Pool pa -Name aj-1, aj-2 -Cpu 1 -MemoryGB 1 -Owner Contoso -AsJob -Confirm:$false
        @($job).Count | Should -Be 1
        $job | Should -BeOfType System.Management.Automation.Job
        $job.ChildJobs.Count | Should -Be 2
        Wait-Job $job -Timeout 120 | Out-Null
        $job.State | Should -Be 'Completed'
        $made = @(Receive-Job $job)
        $made.Name | Sort-Object | Should -Be @('aj-1', 'aj-2')
        $made | ForEach-Object { $_.Datacenter | Should -BeIn @('pa-own', 'pa-fab'); $_.Owner | Should -Be 'Contoso' }
        Remove-Job $job
        $n = @(Get-Job).Count
        New-GridWorkload -Pool pa -Name aj-3 -Cpu 1 -MemoryGB 1 -Owner Contoso -AsJob -WhatIf | Should -BeNullOrEmpty
        @(Get-Job).Count | Should -Be $n
        @(Get-GridWorkload -Name aj-3 -ErrorAction SilentlyContinue).Count | Should -Be 0
        Get-GridWorkload -Name aj-* | Remove-GridWorkload -Confirm:$false
    }
}

Describe 'Parallel placements into one quota' {
    It '8 placements from 4 processes never exceed MaxWorkloads' {
        New-SimDatacenter -Name q-fab -Owner Fabrikam -Parameters @{ Hosts = 4; HostCpu = 64; HostMemoryGB = 256 } | Out-Null
        New-GridPool -Name q -Datacenter q-fab -Confirm:$false | Out-Null
        New-GridAgreement -Owner Fabrikam -Consumer Contoso -Datacenter q-fab -MaxWorkloads 5 -Confirm:$false | Out-Null
        Reset-GridEngine
        $procs = foreach ($i in 1..4) {
            $out = Join-Path $script:dir "q$i.txt"
            $p = Start-ChildPwsh -Script "& { New-GridWorkload -Pool q -Name 'q$i-a', 'q$i-b' -Cpu 1 -MemoryGB 1 -Owner Contoso -Confirm:`$false -ErrorAction Continue } *>&1 | ForEach-Object { `"`$_`" } | Set-Content -Path '$out'"
            [pscustomobject]@{ Process = $p; Out = $out }
        }
        foreach ($x in $procs) { if (-not $x.Process.WaitForExit(240000)) { $x.Process.Kill($true) } }
        Reset-GridEngine
        $made = @(Get-GridWorkload -Datacenter q-fab -Owner Contoso)
        $text = ($procs | ForEach-Object { if (Test-Path $_.Out) { Get-Content $_.Out -Raw } }) -join "`n"
        $made.Count | Should -BeLessOrEqual 5
        $made.Count | Should -BeGreaterOrEqual 4
        $text | Should -Match 'MaxWorkloads 5'
    }
}
