# Input rules (issue 10): every bad name, tag, pattern and parameter is refused with its documented error id, BEFORE
# anything is journaled: the whole state file (every table, the journal included) dumps byte-identical before and after.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name inputrules
    $script:state = $env:GRIDAUTOMATION_STATE
    New-SimDatacenter -Name rules-1 -Parameters @{ Hosts = 2; HostCpu = 8; HostMemoryGB = 16 } | Out-Null
    $script:create = Get-SimCreateArgs -Datacenter rules-1
    $null = New-GridWorkload -Name keep01 @script:create -Confirm:$false
    $null = New-GridWorkload -Name 'vm-000001' @script:create -Confirm:$false

    function Get-StateDump {
        $c = Open-SqliteConnection -Path $script:state -NoPooling
        try { (@(Get-SqliteDump $c) -join "`n") }
        finally { $c.Dispose() }
    }
    # Every ErrorRecord a command produced, terminating or not.
    function Get-Errors([scriptblock] $Run, $Argument) {
        try { @(& $Run $Argument 2>&1 3>$null | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] }) }
        catch { @($_) }
    }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Bad input is refused before anything is journaled' {
    BeforeDiscovery {
        $long10k = 'x' * 10000
        $bigTags = @{}; foreach ($i in 1..1000) { $bigTags["k$i" + ('k' * 120)] = 'v' * 256 }
        $manyTags = @{}; foreach ($i in 1..51) { $manyTags["k$i"] = 'v' }
        $script:cases = @(
            # workload names (New-GridWorkload)
            foreach ($n in @("a`0b", "a`nb", "a`rb", "a`tb", ' web', 'web ', $long10k, ('y' * 100000), 'web*', 'vm-00000?', '[abc]', "s$([char]0xD800)t", "x$([char]0xDC00)")) {
                @{ Label = "New-GridWorkload -Name '$((($n.ToCharArray() | ForEach-Object { if ([int]$_ -lt 32 -or [char]::IsSurrogate($_)) { '\u{0:X4}' -f [int]$_ } else { $_ } }) -join '').Substring(0, [Math]::Min(24, $n.Length)))' ($($n.Length) chars)"; Id = 'InvalidName'; Category = 'InvalidArgument'
                   Command = [scriptblock]::Create("New-GridWorkload -Name `$args[0] -Datacenter rules-1 -Cpu 1 -MemoryGB 1 -Confirm:`$false"); Arg = $n }
            }
            # datacenter names (Connect-GridDatacenter)
            foreach ($n in @("dc`nx", "dc`0x", 'f*', ('d' * 10000), ' dc', 'a/b', "d$([char]0xD800)")) {
                @{ Label = "Connect-GridDatacenter -Name '$((($n.ToCharArray() | ForEach-Object { if ([int]$_ -lt 32 -or [char]::IsSurrogate($_)) { '\u{0:X4}' -f [int]$_ } else { $_ } }) -join '').Substring(0, [Math]::Min(24, $n.Length)))'"; Id = 'InvalidName'; Category = 'InvalidArgument'
                   Command = [scriptblock]::Create("Connect-GridDatacenter -Provider Simulator -Name `$args[0] -Confirm:`$false"); Arg = $n }
            }
            # tags
            @{ Label = 'tag keys differing only in case'; Id = 'InvalidTag'; Category = 'InvalidArgument'; Arg = $null
               Command = { $h = [hashtable]::new([StringComparer]::Ordinal); $h.Env = 'a'; $h.env = 'b'; New-GridWorkload -Name t01 -Datacenter rules-1 -Cpu 1 -MemoryGB 1 -Tag $h -Confirm:$false } }
            @{ Label = '1,000 tags of 128+256 characters'; Id = 'InvalidTag'; Category = 'InvalidArgument'; Arg = $bigTags
               Command = { New-GridWorkload -Name t02 -Datacenter rules-1 -Cpu 1 -MemoryGB 1 -Tag $args[0] -Confirm:$false } }
            @{ Label = '51 tags'; Id = 'InvalidTag'; Category = 'InvalidArgument'; Arg = $manyTags
               Command = { New-GridWorkload -Name t03 -Datacenter rules-1 -Cpu 1 -MemoryGB 1 -Tag $args[0] -Confirm:$false } }
            @{ Label = 'a tag value of 257 characters'; Id = 'InvalidTag'; Category = 'InvalidArgument'; Arg = ('v' * 257)
               Command = { New-GridWorkload -Name t04 -Datacenter rules-1 -Cpu 1 -MemoryGB 1 -Tag @{ k = $args[0] } -Confirm:$false } }
            @{ Label = 'a tag key with a control character'; Id = 'InvalidTag'; Category = 'InvalidArgument'; Arg = "a`tb"
               Command = { New-GridWorkload -Name t05 -Datacenter rules-1 -Cpu 1 -MemoryGB 1 -Tag @{ $args[0] = 'x' } -Confirm:$false } }
            @{ Label = 'Set-GridWorkload: case-colliding keys'; Id = 'InvalidTag'; Category = 'InvalidArgument'; Arg = $null
               Command = { $h = [hashtable]::new([StringComparer]::Ordinal); $h.Env = 'a'; $h.ENV = 'b'; Set-GridWorkload -Name keep01 -Tag $h -Confirm:$false } }
            @{ Label = 'Set-GridWorkload: 51 tags'; Id = 'InvalidTag'; Category = 'InvalidArgument'; Arg = $manyTags
               Command = { Set-GridWorkload -Name keep01 -Tag $args[0] -Confirm:$false } }
            # catalog refusals
            @{ Label = 'unknown image'; Id = 'ImageNotFound'; Category = 'ObjectNotFound'; Arg = $null
               Command = { New-GridWorkload -Name c01 -Datacenter rules-1 -Cpu 1 -MemoryGB 1 -Image no-such-image -Confirm:$false } }
            @{ Label = 'unknown host'; Id = 'HostNotFound'; Category = 'ObjectNotFound'; Arg = $null
               Command = { New-GridWorkload -Name c02 -Datacenter rules-1 -Cpu 1 -MemoryGB 1 -TargetHost host-99 -Confirm:$false } }
            @{ Label = 'unknown size'; Id = 'SizeNotFound'; Category = 'ObjectNotFound'; Arg = $null
               Command = { New-GridWorkload -Name c03 -Datacenter rules-1 -Size small -Confirm:$false } }
            # invalid simulator parameters
            @{ Label = 'simulator -Hosts 0'; Id = 'InvalidParameter'; Category = 'InvalidArgument'; Arg = $null
               Command = { Connect-GridDatacenter -Provider Simulator -Name p01 -Hosts 0 -Confirm:$false } }
            @{ Label = 'simulator -FaultRate 2'; Id = 'InvalidParameter'; Category = 'InvalidArgument'; Arg = $null
               Command = { Connect-GridDatacenter -Provider Simulator -Name p02 -FaultRate 2 -Confirm:$false } }
            @{ Label = 'simulator -Clusters above -Hosts'; Id = 'InvalidParameter'; Category = 'InvalidArgument'; Arg = $null
               Command = { Connect-GridDatacenter -Provider Simulator -Name p03 -Hosts 2 -Clusters 3 -Confirm:$false } }
            # invalid wildcard patterns
            @{ Label = "Stop-GridWorkload -Name 'vm-00000['"; Id = 'InvalidWildcardPattern'; Category = 'InvalidArgument'; Arg = $null
               Command = { Stop-GridWorkload -Name 'vm-00000[' -Confirm:$false } }
            @{ Label = "Get-GridWorkload -Name 'a[]'"; Id = 'InvalidWildcardPattern'; Category = 'InvalidArgument'; Arg = $null
               Command = { Get-GridWorkload -Name 'a[]' } }
            @{ Label = "Get-GridWorkload -Datacenter 'rules-[1'"; Id = 'InvalidWildcardPattern'; Category = 'InvalidArgument'; Arg = $null
               Command = { Get-GridWorkload -Datacenter 'rules-[1' } }
            @{ Label = "Unregister-GridDatacenter -Name '[z-a]'"; Id = 'InvalidWildcardPattern'; Category = 'InvalidArgument'; Arg = $null
               Command = { Unregister-GridDatacenter -Name '[z-a]' -Confirm:$false } }
            @{ Label = "Get-GridOperation -Target 'x['"; Id = 'InvalidWildcardPattern'; Category = 'InvalidArgument'; Arg = $null
               Command = { Get-GridOperation -Target 'x[' } }
        )
    }

    It '<Label> gives <Id> (<Category>), and the state file is unchanged' -ForEach $script:cases {
        $before = Get-StateDump
        $errs = @(Get-Errors $Command $Arg)
        $errs.Count | Should -BeGreaterThan 0 -Because 'bad input is never silent'
        $errs[0].FullyQualifiedErrorId | Should -BeLike "$Id,*"
        $errs[0].CategoryInfo.Category | Should -Be $Category
        $errs[0].Exception | Should -BeOfType ([GridAutomation.Core.Model.GridException])
        $errs[0].Exception.Message.Length | Should -BeLessThan 1000 -Because 'a huge name is never echoed whole'
        $after = Get-StateDump
        $after | Should -BeExactly $before -Because 'no journal row, no registration, no workload'
    }
}

Describe 'A refused change under -ErrorAction Stop' {
    It 'says only its error: no "was stopped: ... cancelled" line and no batch to resume' {
        $before = Get-StateDump
        $script:seen = @(); $err = $null
        try { New-GridWorkload -Name r01, r02 -Datacenter rules-1 -Size small -Confirm:$false -ErrorAction Stop 3>&1 | ForEach-Object { $script:seen += "$_" } }
        catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'SizeNotFound,*'
        @($script:seen | Where-Object { $_ -like '*was stopped:*' }) | Should -BeNullOrEmpty -Because 'nothing was cancelled: the input was refused'
        Get-StateDump | Should -BeExactly $before
    }
}

Describe 'Wildcards' {
    It "a name without wildcards that exists is found without a WorkloadNotFound beside it: 'web``*' names 'web*' only" {
        $ev = $null
        $r = @(Get-GridWorkload -Name 'keep`*' -ErrorVariable ev -ErrorAction SilentlyContinue)
        $r.Count | Should -Be 0
        $ev.Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'WorkloadNotFound,*'
        $ev = $null
        $r = @(Get-GridWorkload -Name 'keep01', 'vm-000001' -ErrorVariable ev -ErrorAction SilentlyContinue)
        $r.Count | Should -Be 2
        $ev.Count | Should -Be 0
    }

    It 'an escaped literal that matches is returned and never paired with a not-found error' {
        $ev = $null
        $r = @(Get-GridWorkload -Name 'keep0`1' -ErrorVariable ev -ErrorAction SilentlyContinue)
        $r.Count | Should -Be 1
        $ev.Count | Should -Be 0
    }

    It 'an adversarial pattern costs the same per character on a long name as on a short one (linear, not exponential)' {
        # No wall-clock limit (the machine may be loaded): the 10,000-character name is compared with ten 1,000-character
        # names in the same run. A linear matcher does the same work for both; the old backtracking one took minutes
        # for the long name (its work grows with length^stars), so a ratio under 20 cannot be met by it.
        $p = [GridAutomation.Core.Engine.Wildcard]::Compile('*a*a*a*a*a*a*a*a*a*a*[b]')
        $long = 'a' * 10000
        $short = 'a' * 1000
        $null = $p.IsMatch('warm'); $null = $p.IsMatch($short)
        $best = { param($block) (1..5 | ForEach-Object { $sw = [Diagnostics.Stopwatch]::StartNew(); & $block; $sw.Stop(); $sw.Elapsed.TotalMilliseconds } | Measure-Object -Minimum).Minimum }
        $p.IsMatch($long) | Should -BeFalse
        $tLong = & $best { $null = $p.IsMatch($long) }
        $tShort = & $best { for ($i = 0; $i -lt 10; $i++) { $null = $p.IsMatch($short) } }
        ($tLong / [Math]::Max($tShort, 0.05)) | Should -BeLessThan 20 -Because "10,000 characters took $tLong ms, 10 x 1,000 took $tShort ms"
    }

    It 'Get-GridWorkload with the adversarial pattern over the grid returns (no match, no error)' {
        $ev = $null
        @(Get-GridWorkload -Datacenter rules-1 -Name '*a*a*a*a*a*a*a*a*[b]' -ErrorVariable ev).Count | Should -Be 0
        $ev.Count | Should -Be 0
    }
}

Describe 'Simulator settings: connection-scoped ones stay with the connection; ids per datacenter' {
    It '-LatencyMs given on a reconnect applies to that connection and is not kept in the registration' {
        $dc = Connect-GridDatacenter -Provider Simulator -Name lat-1 -Hosts 2 -Confirm:$false
        $dc = Connect-GridDatacenter -Name lat-1 -LatencyMs 1000 -Confirm:$false
        $dc.Settings['LatencyMs'] | Should -Be '1000' -Because 'this connection has it'
        Reset-GridEngine # what a new session sees: the registration as stored
        $stored = Get-GridDatacenter -Name lat-1
        $stored.Settings.ContainsKey('LatencyMs') | Should -BeFalse
        $stored.Settings['Hosts'] | Should -Be '2'
    }
    It 'two simulated datacenters with the same seed have different native ids' {
        $null = Connect-GridDatacenter -Provider Simulator -Name seed-a -Workloads 3 -Confirm:$false
        $null = Connect-GridDatacenter -Provider Simulator -Name seed-b -Workloads 3 -Confirm:$false
        $a = @(Get-GridWorkload -Datacenter seed-a).NativeId
        $b = @(Get-GridWorkload -Datacenter seed-b).NativeId
        $a.Count | Should -Be 3
        @($a | Where-Object { $b -contains $_ }).Count | Should -Be 0
    }
}
