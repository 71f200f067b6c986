# The class-based DSC resources (GridAutomation.Dsc.psm1), driven as Invoke-DscResource (PSDesiredStateConfiguration
# 2.x) drives a class-based resource: it loads the resource's file with "using module", makes an instance, sets the
# properties of the hashtable it was given, and calls Get/Test/Set; Get returns the instance's properties, Test
# { InDesiredState }, Set { RebootRequired }. PSDesiredStateConfiguration itself is not obtainable on these machines, so
# Invoke-GridDsc below does those steps (docs/dsc.md says so).
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name dsc
    $script:DscFile = Join-Path (Get-RepoRoot) 'GridAutomation.Dsc.psm1'

    function Invoke-GridDsc {
        param([ValidateSet('Get', 'Test', 'Set')] [string] $Method, [string] $Name, [hashtable] $Property, [switch] $ShowVerbose)
        $sb = [scriptblock]::Create("using module '$($script:DscFile -replace "'", "''")'`n" + @'
param($Name, $Property, $Method)
$r = New-Object -TypeName $Name
foreach ($k in $Property.Keys) { $r.$k = $Property[$k] }
switch ($Method) {
    'Get' { $o = $r.Get(); $h = @{}; foreach ($p in $o.PSObject.Properties) { $h[$p.Name] = $p.Value }; [pscustomobject]$h }
    'Test' { [pscustomobject]@{ InDesiredState = $r.Test() } }
    'Set' { $r.Set(); [pscustomobject]@{ RebootRequired = $false } }
}
'@)
        # A class method looks up $VerbosePreference in the scopes of the module that defines the class, not the
        # caller's, so -Verbose reaches it through the global preference (as it does under Invoke-DscResource -Verbose).
        $saved = $global:VerbosePreference
        if ($ShowVerbose) { $global:VerbosePreference = 'Continue' }
        try { & $sb $Name $Property $Method } finally { $global:VerbosePreference = $saved }
    }

    function Get-JournalCount { @(Get-GridOperation -Last 100000).Count }

    # Set makes the change, Test is then true, and a second Set writes no journal row.
    function Assert-DscConverges([string] $Name, [hashtable] $Property) {
        (Invoke-GridDsc Set $Name $Property).RebootRequired | Should -BeFalse
        (Invoke-GridDsc Test $Name $Property).InDesiredState | Should -BeTrue
        $before = Get-JournalCount
        Invoke-GridDsc Set $Name $Property | Out-Null
        Get-JournalCount | Should -Be $before -Because 'a second Set with nothing to change writes no journal row'
    }

    New-SimDatacenter -Name dsc-1 -Parameters @{ Hosts = 2 } | Out-Null
    $script:create = Get-SimCreateArgs -Datacenter dsc-1
    $script:sizes = @(Get-GridSize -Datacenter dsc-1 | Sort-Object CpuCount, MemoryMB)
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'DSC resources in the manifest' {
    It 'exports exactly the [DscResource()] classes of GridAutomation.Dsc.psm1' {
        $ast = [System.Management.Automation.Language.Parser]::ParseFile($script:DscFile, [ref]$null, [ref]$null)
        $classes = @($ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.TypeDefinitionAst] -and
                    @($n.Attributes | Where-Object { $_.TypeName.Name -eq 'DscResource' }).Count -gt 0 }, $true) | ForEach-Object Name)
        # Read as text: the manifest picks Desktop/ paths by $PSEdition, which Import-PowerShellDataFile refuses.
        $text = Get-Content -Raw (Join-Path (Get-RepoRoot) 'GridAutomation.psd1')
        $exported = @([regex]::Matches([regex]::Match($text, '(?m)^\s*DscResourcesToExport\s*=\s*@\(([^)]*)\)').Groups[1].Value, "'([^']+)'") | ForEach-Object { $_.Groups[1].Value })
        @($exported | Sort-Object) | Should -Be @($classes | Sort-Object)
        $exported | Should -Contain 'GridWorkload'
        $exported | Should -Contain 'GridDatacenter'
    }

    It 'loads with the module: the nested module is there and defines the classes' {
        (Get-Module GridAutomation).NestedModules.Name | Should -Contain 'GridAutomation.Dsc'
    }
}

Describe 'GridDatacenter' {
    It 'Set registers, Test is then true, a second Set changes nothing' {
        $p = @{ Name = 'dsc-dc'; Provider = 'Simulator'; Owner = 'Contoso'; Settings = @{ Hosts = 2 } }
        (Invoke-GridDsc Test GridDatacenter $p).InDesiredState | Should -BeFalse
        Assert-DscConverges GridDatacenter $p
        $g = Invoke-GridDsc Get GridDatacenter @{ Name = 'dsc-dc' }
        $g.Ensure | Should -Be 'Present'
        $g.Provider | Should -Be 'Simulator'
        $g.Owner | Should -Be 'Contoso'
        $g.Settings['Hosts'] | Should -Be '2'
    }

    It 'Test says what differs (verbose) and Set re-registers with the new owner' {
        $p = @{ Name = 'dsc-dc'; Owner = 'Fabrikam' }
        $verbose = Invoke-GridDsc Test GridDatacenter $p -ShowVerbose 4>&1
        ($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String) | Should -Match "Owner is 'Contoso', should be 'Fabrikam'"
        ($verbose | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).InDesiredState | Should -BeFalse
        Invoke-GridDsc Set GridDatacenter $p | Out-Null
        (Get-GridDatacenter -Name dsc-dc).Owner | Should -Be 'Fabrikam'
        (Invoke-GridDsc Test GridDatacenter $p).InDesiredState | Should -BeTrue
    }

    It 'Absent unregisters' {
        Invoke-GridDsc Set GridDatacenter @{ Name = 'dsc-dc'; Ensure = 'Absent' } | Out-Null
        @(Get-GridDatacenter | Where-Object Name -eq 'dsc-dc').Count | Should -Be 0
        (Invoke-GridDsc Test GridDatacenter @{ Name = 'dsc-dc'; Ensure = 'Absent' }).InDesiredState | Should -BeTrue
        (Invoke-GridDsc Get GridDatacenter @{ Name = 'dsc-dc' }).Ensure | Should -Be 'Absent'
    }

    It 'a new datacenter without Provider is a clear error' {
        { Invoke-GridDsc Test GridDatacenter @{ Name = 'dsc-none' } } | Should -Throw -ErrorId 'DscPropertyMissing'
    }
}

Describe 'GridWorkload' {
    It 'Set creates, Test is then true, a second Set writes no journal row' {
        $p = @{ Name = 'dsc-w1'; Datacenter = 'dsc-1'; Size = $script:create.Size; Image = $script:create.Image; State = 'Running'; Tags = @{ env = 'dev' } }
        (Invoke-GridDsc Test GridWorkload $p).InDesiredState | Should -BeFalse
        Invoke-GridDsc Set GridWorkload $p | Out-Null
        $w = Get-GridWorkload -Name dsc-w1
        $w.State | Should -Be 'Running'
        $w.Tags['env'] | Should -Be 'dev'
        (Invoke-GridDsc Test GridWorkload $p).InDesiredState | Should -BeTrue
        $before = Get-JournalCount
        Invoke-GridDsc Set GridWorkload $p | Out-Null
        Get-JournalCount | Should -Be $before
    }

    It 'corrects a workload stopped behind its back' {
        Stop-GridWorkload -Name dsc-w1 -Confirm:$false
        $p = @{ Name = 'dsc-w1'; State = 'Running' }
        $out = Invoke-GridDsc Test GridWorkload $p -ShowVerbose 4>&1
        ($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String) | Should -Match 'State is Stopped, should be Running'
        Invoke-GridDsc Set GridWorkload $p | Out-Null
        (Get-GridWorkload -Name dsc-w1).State | Should -Be 'Running'
        (Invoke-GridDsc Test GridWorkload $p).InDesiredState | Should -BeTrue
    }

    It 'changes only the tags it names, and leaves unset properties alone' {
        Set-GridWorkload -Name dsc-w1 -Tag @{ team = 'ops' } -Confirm:$false
        Invoke-GridDsc Set GridWorkload @{ Name = 'dsc-w1'; Tags = @{ env = 'prod' } } | Out-Null
        $w = Get-GridWorkload -Name dsc-w1
        $w.Tags['env'] | Should -Be 'prod'
        $w.Tags['team'] | Should -Be 'ops'
        $w.State | Should -Be 'Running'
    }

    It 'resizes to the wanted size' {
        $script:sizes.Count | Should -BeGreaterThan 1
        $bigger = $script:sizes[1].Name
        Invoke-GridDsc Set GridWorkload @{ Name = 'dsc-w1'; Size = $bigger; State = 'Running' } | Out-Null
        $w = Get-GridWorkload -Name dsc-w1
        $w.Size | Should -Be $bigger
        $w.State | Should -Be 'Running'
        (Invoke-GridDsc Test GridWorkload @{ Name = 'dsc-w1'; Size = $bigger }).InDesiredState | Should -BeTrue
    }

    It 'creates a stopped workload without starting it' {
        Invoke-GridDsc Set GridWorkload @{ Name = 'dsc-w2'; Datacenter = 'dsc-1'; Size = $script:create.Size; Image = $script:create.Image; State = 'Stopped' } | Out-Null
        (Get-GridWorkload -Name dsc-w2).State | Should -Be 'Stopped'
        @(Get-GridOperation -Target dsc-w2 -Kind Start).Count | Should -Be 0
    }

    It 'Get returns the current properties' {
        $g = Invoke-GridDsc Get GridWorkload @{ Name = 'dsc-w2' }
        $g.Ensure | Should -Be 'Present'
        $g.Datacenter | Should -Be 'dsc-1'
        $g.State | Should -Be 'Stopped'
        $g.Id | Should -Be (Get-GridWorkload -Name dsc-w2).Id
    }

    It 'Absent removes, and Test is then true' {
        Invoke-GridDsc Set GridWorkload @{ Name = 'dsc-w2'; Ensure = 'Absent' } | Out-Null
        @(Get-GridWorkload -Name dsc-w2 -ErrorAction SilentlyContinue).Count | Should -Be 0
        (Invoke-GridDsc Test GridWorkload @{ Name = 'dsc-w2'; Ensure = 'Absent' }).InDesiredState | Should -BeTrue
    }

    It 'Pool places the create (New-GridWorkload -Pool) and Owner becomes its owner; Test is then true, a second Set writes no journal row' {
        New-SimDatacenter -Name dsc-p1 -Owner Contoso -Parameters @{ Hosts = 1 } | Out-Null
        New-SimDatacenter -Name dsc-p2 -Owner Contoso -Parameters @{ Hosts = 1 } | Out-Null
        New-GridPool -Name dsc-pool -Datacenter 'dsc-p*' -Confirm:$false | Out-Null
        $p = @{ Name = 'dsc-pw'; Pool = 'dsc-pool'; Owner = 'Contoso'; Cpu = 1; MemoryGB = 2; State = 'Running' }
        (Invoke-GridDsc Test GridWorkload $p).InDesiredState | Should -BeFalse
        $out = Invoke-GridDsc Set GridWorkload $p -ShowVerbose 4>&1
        ($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String) | Should -Match "creating in pool 'dsc-pool'"
        $w = Get-GridWorkload -Name dsc-pw
        $w.Datacenter | Should -BeIn @('dsc-p1', 'dsc-p2')
        $w.Owner | Should -Be 'Contoso'
        $w.State | Should -Be 'Running'
        (Get-GridOperation -Target dsc-pw -Kind Create).State | Should -Be 'Succeeded'
        (Invoke-GridDsc Test GridWorkload $p).InDesiredState | Should -BeTrue
        $before = Get-JournalCount
        Invoke-GridDsc Set GridWorkload $p | Out-Null
        Get-JournalCount | Should -Be $before
        $g = Invoke-GridDsc Get GridWorkload @{ Name = 'dsc-pw' }
        $g.Owner | Should -Be 'Contoso'
        $g.Datacenter | Should -Be $w.Datacenter
    }

    It 'an Owner change goes through Set-GridWorkload -Owner: refused without an agreement (NoAgreement), made under one' {
        $p = @{ Name = 'dsc-pw'; Owner = 'Fabrikam' }
        $out = Invoke-GridDsc Test GridWorkload $p -ShowVerbose 4>&1
        ($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String) | Should -Match "Owner is 'Contoso', should be 'Fabrikam'"
        { Invoke-GridDsc Set GridWorkload $p } | Should -Throw -ErrorId 'NoAgreement*'
        (Get-GridWorkload -Name dsc-pw).Owner | Should -Be 'Contoso'
        New-GridAgreement -Owner Contoso -Consumer Fabrikam -Datacenter 'dsc-p*' -MaxCpu 8 -Confirm:$false | Out-Null
        Invoke-GridDsc Set GridWorkload $p | Out-Null
        (Get-GridWorkload -Name dsc-pw).Owner | Should -Be 'Fabrikam'
        (Get-GridOperation -Target (Get-GridWorkload -Name dsc-pw).Id -Last 1).State | Should -Be 'Succeeded'
        (Invoke-GridDsc Test GridWorkload $p).InDesiredState | Should -BeTrue
        Invoke-GridDsc Set GridWorkload @{ Name = 'dsc-pw'; Ensure = 'Absent' } | Out-Null
        Get-GridAgreement -Owner Contoso -Consumer Fabrikam | Remove-GridAgreement -Confirm:$false
    }

    It 'bad property combination <Case> is the error <Id>, and nothing changes' -ForEach @(
        @{ Case = 'Size with Cpu'; Id = 'DscConflictingProperties'; P = @{ Name = 'dsc-w1'; Size = 'x'; Cpu = 2 } }
        @{ Case = 'unknown State'; Id = 'DscInvalidProperty'; P = @{ Name = 'dsc-w1'; State = 'Paused' } }
        @{ Case = 'Absent with a size'; Id = 'DscConflictingProperties'; P = @{ Name = 'dsc-w1'; Ensure = 'Absent'; Size = 'x' } }
        @{ Case = 'create without Datacenter'; Id = 'DscPropertyMissing'; P = @{ Name = 'dsc-new'; State = 'Running' } }
        @{ Case = 'Datacenter with Pool'; Id = 'DscConflictingProperties'; P = @{ Name = 'dsc-new'; Datacenter = 'dsc-1'; Pool = 'dsc-pool' } }
        @{ Case = 'Absent with an Owner'; Id = 'DscConflictingProperties'; P = @{ Name = 'dsc-w1'; Ensure = 'Absent'; Owner = 'Contoso' } }
    ) {
        $before = Get-JournalCount
        { Invoke-GridDsc Set GridWorkload $P } | Should -Throw -ErrorId $Id
        Get-JournalCount | Should -Be $before
    }

    It 'an error of the cmdlet underneath (unknown datacenter) reaches DSC with its own id' {
        { Invoke-GridDsc Set GridWorkload @{ Name = 'dsc-w9'; Datacenter = 'nowhere'; Size = 'x' } } | Should -Throw -ErrorId 'DatacenterNotFound*'
    }
}

Describe 'GridAgreement' {
    It 'Set creates the agreement, Test is then true, a second Set writes no journal row' {
        $p = @{ Owner = 'Fabrikam'; Consumer = 'Contoso'; Datacenter = 'dsc-*'; MaxCpu = 16; PricePerCpuHour = [decimal]0.02; Start = [datetime]'2026-11-01T00:00:00Z' }
        (Invoke-GridDsc Test GridAgreement $p).InDesiredState | Should -BeFalse
        Invoke-GridDsc Set GridAgreement $p | Out-Null
        $a = @(Get-GridAgreement -Owner Fabrikam -Consumer Contoso)
        $a.Count | Should -Be 1
        $a[0].MaxCpu | Should -Be 16
        $a[0].Datacenter | Should -Be 'dsc-*'
        (Invoke-GridDsc Test GridAgreement $p).InDesiredState | Should -BeTrue
        $before = Get-JournalCount
        Invoke-GridDsc Set GridAgreement $p | Out-Null
        Get-JournalCount | Should -Be $before
        $g = Invoke-GridDsc Get GridAgreement @{ Owner = 'Fabrikam'; Consumer = 'Contoso'; Datacenter = 'dsc-*' }
        $g.Ensure | Should -Be 'Present'
        $g.Id | Should -Be $a[0].Id
        $g.PricePerCpuHour | Should -Be 0.02
    }

    It 'changes only what differs (Set-GridAgreement on the same agreement)' {
        $id = (Get-GridAgreement -Owner Fabrikam -Consumer Contoso).Id
        $out = Invoke-GridDsc Test GridAgreement @{ Owner = 'Fabrikam'; Consumer = 'Contoso'; Datacenter = 'dsc-*'; MaxCpu = 32 } -ShowVerbose 4>&1
        ($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String) | Should -Match "MaxCpu is '16', should be '32'"
        Invoke-GridDsc Set GridAgreement @{ Owner = 'Fabrikam'; Consumer = 'Contoso'; Datacenter = 'dsc-*'; MaxCpu = 32 } | Out-Null
        $a = Get-GridAgreement -Owner Fabrikam -Consumer Contoso
        $a.Id | Should -Be $id
        $a.MaxCpu | Should -Be 32
        $a.PricePerCpuHour | Should -Be 0.02 -Because 'a property left out is not changed'
    }

    It 'Absent removes it' {
        Invoke-GridDsc Set GridAgreement @{ Owner = 'Fabrikam'; Consumer = 'Contoso'; Datacenter = 'dsc-*'; Ensure = 'Absent' } | Out-Null
        @(Get-GridAgreement -Owner Fabrikam -Consumer Contoso).Count | Should -Be 0
        (Invoke-GridDsc Test GridAgreement @{ Owner = 'Fabrikam'; Consumer = 'Contoso'; Datacenter = 'dsc-*'; Ensure = 'Absent' }).InDesiredState | Should -BeTrue
    }

    It 'Absent with a quota is the error DscConflictingProperties, and nothing changes' {
        $before = Get-JournalCount
        { Invoke-GridDsc Set GridAgreement @{ Owner = 'Fabrikam'; Consumer = 'Contoso'; Datacenter = 'dsc-*'; Ensure = 'Absent'; MaxCpu = 1 } } | Should -Throw -ErrorId 'DscConflictingProperties'
        Get-JournalCount | Should -Be $before
    }
}

Describe 'GridReplication' {
    BeforeAll {
        New-SimDatacenter -Name dsc-dr -Parameters @{ Hosts = 2 } | Out-Null
        New-GridWorkload -Name dsc-rep, dsc-rep2 @script:create -Confirm:$false | Out-Null
        function Get-VerboseText($out) { $out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String }
    }

    It 'Set protects, Test is then true, a second Set writes no journal row; Get has the documented shape' {
        $p = @{ Name = 'dsc-rep'; Datacenter = 'dsc-1'; DestinationDatacenter = 'dsc-dr'; RpoMinutes = 30 }
        $out = Invoke-GridDsc Test GridReplication $p -ShowVerbose 4>&1
        (Get-VerboseText $out) | Should -Match "GridReplication 'dsc-rep': not protected"
        ($out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).InDesiredState | Should -BeFalse
        Assert-DscConverges GridReplication $p
        $g = Invoke-GridDsc Get GridReplication @{ Name = 'dsc-rep' }
        $g.Ensure | Should -Be 'Present'
        $g.Datacenter | Should -Be 'dsc-1'
        $g.DestinationDatacenter | Should -Be 'dsc-dr'
        $g.RpoMinutes | Should -Be 30
        $g.RecoveryPointCount | Should -Be 24 -Because 'unset: the cmdlet''s default'
        $g.State | Should -Be 'Protected'
        $g.Health | Should -Be 'Healthy'
        (Get-GridReplication -Name dsc-rep).State | Should -Be 'Protected'
    }

    It 'unset properties are "don''t care": only the name is in the desired state, and its Set changes nothing' {
        (Invoke-GridDsc Test GridReplication @{ Name = 'dsc-rep' }).InDesiredState | Should -BeTrue
        $before = Get-JournalCount
        Invoke-GridDsc Set GridReplication @{ Name = 'dsc-rep'; DestinationDatacenter = 'dsc-dr' } | Out-Null
        Get-JournalCount | Should -Be $before
    }

    It 'another RPO and point count: Test says what differs; Set re-protects (Disable + Enable), keeping what was not given' {
        $p = @{ Name = 'dsc-rep'; RpoMinutes = 60; RecoveryPointCount = 4 }
        $out = Invoke-GridDsc Test GridReplication $p -ShowVerbose 4>&1
        $text = Get-VerboseText $out
        $text | Should -Match "RpoMinutes is '30', should be '60'"
        $text | Should -Match "RecoveryPointCount is '24', should be '4'"
        $text | Should -Not -Match 'DestinationDatacenter'
        $since = [datetimeoffset]::UtcNow
        Invoke-GridDsc Set GridReplication $p -ShowVerbose 4>&1 | Out-Null
        $i = Get-GridReplication -Name dsc-rep
        $i.RpoMinutes | Should -Be 60
        $i.RecoveryPointCount | Should -Be 4
        $i.DestinationDatacenter | Should -Be 'dsc-dr' -Because 'a property left out keeps the item''s value'
        $i.State | Should -Be 'Protected'
        $kinds = @(Get-GridOperation -Last 100000 | Where-Object { $_.Started -ge $since } | ForEach-Object Kind)
        $kinds | Should -Contain 'DisableReplication'
        $kinds | Should -Contain 'EnableReplication'
        (Invoke-GridDsc Test GridReplication $p).InDesiredState | Should -BeTrue
    }

    It 'Absent disables; Test is then true and a second Absent Set writes no journal row' {
        $p = @{ Name = 'dsc-rep'; Ensure = 'Absent' }
        (Get-VerboseText (Invoke-GridDsc Test GridReplication $p -ShowVerbose 4>&1)) | Should -Match "protected into 'dsc-dr' \(Protected\), should not be"
        Invoke-GridDsc Set GridReplication $p | Out-Null
        @(Get-GridReplication -Name dsc-rep | Where-Object State -ne 'Disabled').Count | Should -Be 0
        (Invoke-GridDsc Get GridReplication @{ Name = 'dsc-rep' }).Ensure | Should -Be 'Absent'
        (Invoke-GridDsc Test GridReplication $p).InDesiredState | Should -BeTrue
        $before = Get-JournalCount
        Invoke-GridDsc Set GridReplication $p | Out-Null
        Get-JournalCount | Should -Be $before
    }

    It 'a failed-over item is not re-protected behind the operator''s back: DscReplicationBusy, nothing changes' {
        Invoke-GridDsc Set GridReplication @{ Name = 'dsc-rep2'; DestinationDatacenter = 'dsc-dr' } | Out-Null
        Start-GridFailover -Name dsc-rep2 -Mode Unplanned -Force | Out-Null
        $before = Get-JournalCount
        { Invoke-GridDsc Set GridReplication @{ Name = 'dsc-rep2'; RpoMinutes = 5 } } | Should -Throw -ErrorId 'DscReplicationBusy'
        Get-JournalCount | Should -Be $before
        (Get-GridReplication -Name dsc-rep2).State | Should -Be 'FailedOver'
    }

    It '<Case> is the error <Id>, and nothing is journaled' -ForEach @(
        @{ Case = 'Absent with an RPO'; Id = 'DscConflictingProperties'; P = @{ Name = 'dsc-rep'; Ensure = 'Absent'; RpoMinutes = 15 } }
        @{ Case = 'the source as destination'; Id = 'DscConflictingProperties'; P = @{ Name = 'dsc-rep'; Datacenter = 'dsc-1'; DestinationDatacenter = 'dsc-1' } }
        @{ Case = 'an RPO of 0'; Id = 'DscInvalidProperty'; P = @{ Name = 'dsc-rep'; DestinationDatacenter = 'dsc-dr'; RpoMinutes = 0 } }
        @{ Case = 'a point count over 1000'; Id = 'DscInvalidProperty'; P = @{ Name = 'dsc-rep'; DestinationDatacenter = 'dsc-dr'; RecoveryPointCount = 1001 } }
        @{ Case = 'an unprotected workload without a destination'; Id = 'DscPropertyMissing'; P = @{ Name = 'dsc-rep'; RpoMinutes = 15 } }
        @{ Case = 'a workload that does not exist'; Id = 'DscWorkloadNotFound'; P = @{ Name = 'dsc-none'; DestinationDatacenter = 'dsc-dr' } }
    ) {
        $before = Get-JournalCount
        { Invoke-GridDsc Set GridReplication $P } | Should -Throw -ErrorId $Id
        Get-JournalCount | Should -Be $before
    }

    It 'an error of the cmdlet underneath (unknown destination) reaches DSC with its own id' {
        { Invoke-GridDsc Set GridReplication @{ Name = 'dsc-rep'; DestinationDatacenter = 'nowhere' } } | Should -Throw -ErrorId 'DatacenterNotFound*'
    }
}
