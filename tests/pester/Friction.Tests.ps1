# The friction a new user met (issue 10, item 6): one test per item.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name friction
    $script:state = $env:GRIDAUTOMATION_STATE
    New-SimDatacenter -Name fr-1 -Owner Contoso -Site Amsterdam -Parameters @{ Hosts = 3 } | Out-Null
    New-SimDatacenter -Name fr-2 -Owner Fabrikam -Site Dublin -Parameters @{ Hosts = 2 } | Out-Null
    $script:a = New-GridWorkload -Name fa-01 -Datacenter fr-1 -Size sim.small -TargetHost host-01 -Confirm:$false
    New-GridAgreement -Owner Contoso -Consumer Team-X -Datacenter fr-1 -Confirm:$false | Out-Null # a workload of another owner runs under an agreement
    $script:b = New-GridWorkload -Name fa-02 -Datacenter fr-1 -Size sim.small -TargetHost host-02 -Owner Team-X -Confirm:$false
    $script:c = New-GridWorkload -Name fb-01 -Datacenter fr-2 -Size sim.small -Confirm:$false
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Bulk errors end with a summary line' {
    It 'a bulk start where some fail warns "N done, M failed (ids) of T"' {
        New-SimDatacenter -Name fr-tiny -Parameters @{ Hosts = 1; HostCpu = 4; HostMemoryGB = 64 } | Out-Null
        foreach ($i in 1..3) { $null = New-GridWorkload -Name "big-0$i" -Datacenter fr-tiny -Cpu 4 -MemoryGB 4 -NoStart -Confirm:$false }
        $w = $null; $ev = $null
        Get-GridWorkload -Datacenter fr-tiny | Start-GridWorkload -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev.Count | Should -Be 2
        @($w).Count | Should -Be 1
        "$($w[0])" | Should -Be 'Start workloads: 1 done, 2 failed (InsufficientCapacity 2) of 3.'
    }
    It 'no summary when everything succeeded' {
        $w = $null
        Get-GridWorkload -Datacenter fr-tiny | Stop-GridWorkload -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue
        @($w).Count | Should -Be 0
    }
}

Describe 'about_GridAutomation and the docs list only what exists' {
    BeforeAll {
        # The module's providers (other test files may register test-only ones in the same process).
        function Get-ShippedProviders {
            @([GridAutomation.Core.Providers.ProviderRegistry]::All | Where-Object { $_.GetType().Assembly.GetName().Name -like 'GridAutomation.Provider.*' } | ForEach-Object Name)
        }
    }
    It 'every provider about_ names is registered, and every registered provider is named' {
        $about = Get-Content (Join-Path (Get-RepoRoot) 'en-US/about_GridAutomation.help.txt') -Raw
        $providers = Get-ShippedProviders
        $providers.Count | Should -BeGreaterThan 0
        foreach ($name in 'Hyper-V', 'Xen', 'Proxmox', 'Nutanix', 'OpenStack', 'GCP') {
            if ($about -match [regex]::Escape($name)) { $providers | Should -Contain ($name -replace '-', '') -Because "about_ names $name" }
        }
        foreach ($p in $providers) { $about | Should -Match "\b$p\b" }
    }
    It 'the README provider table names exactly the registered providers' {
        $readme = Get-Content (Join-Path (Get-RepoRoot) 'README.md') -Raw
        $section = ($readme -split '## Providers')[1] -split '\n## ' | Select-Object -First 1
        $rows = [regex]::Matches($section, '(?m)^\| (\w+) \|') | ForEach-Object { $_.Groups[1].Value } | Where-Object { $_ -ne 'Provider' }
        @($rows | Sort-Object) | Should -Be @(Get-ShippedProviders | Sort-Object)
    }
    It 'the README says what shared/fixtures is for' {
        $readme = Get-Content (Join-Path (Get-RepoRoot) 'README.md') -Raw
        $readme | Should -Match 'shared/fixtures'
        $readme | Should -Match 'GRIDAUTOMATION_FIXTURES'
    }
}

Describe 'The demo shows what its commands print' {
    It 'every "PS>" line of tools/Demo.ps1 is followed by that very command''s output' {
        $demo = Join-Path (Get-RepoRoot) 'tools/Demo.ps1'
        $text = Get-Content $demo -Raw
        # The only way to print a command is Invoke-Shown, which runs exactly the text it shows.
        $text | Should -Not -Match 'Show-Command'
        ([regex]::Matches($text, 'PS> ')).Count | Should -Be 1 -Because 'only Invoke-Shown prints a prompt line'
        $r = Invoke-ChildPwsh -TimeoutSeconds 300 -Script "`$env:GRIDAUTOMATION_STATE = `$null; `$env:GRIDAUTOMATION_CONFIG = `$null; & '$demo'" # the demo makes its own state
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $out = $r.Output
        $out | Should -Match 'Demo done'
        # The bulk stop shows the stopped workloads it returned (it used to print a separate Get-GridWorkload).
        $stop = ($out -split 'PS> ')[1..999] | Where-Object { $_ -like 'Get-GridWorkload -Datacenter ams-1 | Stop-GridWorkload -PassThru*' } | Select-Object -First 1
        $stop | Should -Match 'web-01'
        $stop | Should -Match 'Stopped'
        $move = ($out -split 'PS> ')[1..999] | Where-Object { $_ -like '*Move-GridWorkload*' } | Select-Object -First 1
        $move | Should -Match 'web-01\s+host-0\d\s+Running'
    }
}

Describe 'Move-GridWorkload -DestinationHost takes a GridHost' {
    It 'as a parameter value' {
        $h = Get-GridHost -Datacenter fr-1 | Where-Object Name -eq 'host-03'
        $r = Move-GridWorkload -Name fa-01 -Datacenter fr-1 -DestinationHost $h -PassThru -Confirm:$false
        $r.Host | Should -Be 'host-03'
    }
    It 'from the pipeline, without prompting' {
        $r = Get-GridHost -Datacenter fr-1 | Where-Object Name -eq 'host-01' | Move-GridWorkload -Name fa-01 -Datacenter fr-1 -PassThru -Confirm:$false
        $r.Host | Should -Be 'host-01'
    }
}

Describe 'Get-GridWorkload -HostName, -Owner, -Site' {
    It '-HostName filters by host (wildcards)' {
        @(Get-GridWorkload -Datacenter fr-1 -HostName host-02).Name | Should -Be @('fa-02')
        @(Get-GridWorkload -Datacenter fr-1 -HostName 'host-0[12]').Count | Should -Be 2
    }
    It '-Owner uses the Owner tag, else the datacenter owner' {
        @(Get-GridWorkload -Owner Team-X).Name | Should -Be @('fa-02')
        @(Get-GridWorkload -Owner Contoso -Datacenter fr-1).Name | Should -Be @('fa-01')
        @(Get-GridWorkload -Owner Fab*).Name | Should -Be @('fb-01')
    }
    It '-Site filters by the datacenter site' {
        @(Get-GridWorkload -Site Dublin).Name | Should -Be @('fb-01')
    }
    It 'there is no -Host parameter (it would collide with $Host)' {
        (Get-Command Get-GridWorkload).Parameters.Keys | Should -Not -Contain 'Host'
    }
}

Describe 'Get-GridOperation -Kind takes several values' {
    It 'returns every operation of any of the kinds' {
        $ops = @(Get-GridOperation -Kind Create, Move)
        $ops.Count | Should -BeGreaterThan 3
        @($ops.Kind | Sort-Object -Unique) | Should -Be @('Create', 'Move')
    }
}

Describe 'Get-GridHost shows real property names with free CPU and memory' {
    It 'every column of the table is a property, including FreeCpu and FreeMemoryGB' {
        $h = Get-GridHost -Datacenter fr-1 | Select-Object -First 1
        $header = ((Get-GridHost -Datacenter fr-1 | Format-Table | Out-String -Width 250) -split "`n" | Where-Object { $_ -match '\S' } | Select-Object -First 1).Trim()
        $columns = $header -split '\s+'
        $columns | Should -Contain 'FreeCpu'
        $columns | Should -Contain 'FreeMemoryGB'
        foreach ($col in $columns) { $h.PSObject.Properties.Name | Should -Contain $col }
        @(Get-GridHost -Datacenter fr-1 | Where-Object AllocatedCpu -gt 0).Count | Should -BeGreaterThan 0
        @(Get-GridHost -Datacenter fr-1 | Where-Object FreeCpu -lt 32).Count | Should -BeGreaterThan 0
    }
}

Describe '-Id completion shows the name' {
    It 'the tooltip and list text of an id name its workload' {
        $line = 'Get-GridWorkload -Id fr-2/'
        $m = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches)
        $m.Count | Should -Be 1
        $m[0].CompletionText | Should -BeLike "*$($script:c.Id)*"
        $m[0].ToolTip | Should -Match 'fb-01'
        $m[0].ListItemText | Should -Be $script:c.Id
    }
}

Describe 'State path friction' {
    It 'a state path that is a folder says what to do' {
        $r = Invoke-ChildPwsh -Script "`$env:GRIDAUTOMATION_STATE = '$($script:dir)'; try { Get-GridDatacenter } catch { `$_.FullyQualifiedErrorId; `$_.Exception.Message }"
        $r.Output | Should -Match 'StateStoreCannotOpen'
        $r.Output | Should -Match 'is a folder'
        $r.Output | Should -Match 'Set-GridConfiguration -StatePath'
    }
    It 'a new state file is announced once, with a warning naming it' {
        $new = Join-Path $script:dir ('typo-' + [guid]::NewGuid().ToString('N') + '.db')
        $r = Invoke-ChildPwsh -Script "`$env:GRIDAUTOMATION_STATE = '$new'; Get-GridDatacenter 3>&1 | ForEach-Object { 'W: ' + `$_ }; Get-GridWorkload 3>&1 | ForEach-Object { 'W: ' + `$_ }"
        $warnings = @($r.Output -split "`n" | Where-Object { $_ -like 'W: *' })
        $warnings.Count | Should -Be 1
        $warnings[0] | Should -Match ([regex]::Escape($new))
        $warnings[0] | Should -Match 'GRIDAUTOMATION_STATE'
        Test-Path $new | Should -BeTrue
    }
}

Describe 'A refused prompt under -NonInteractive says what to add' {
    It 'Remove-GridWorkload (High impact) in a -NonInteractive session: ConfirmationNotPossible naming -Confirm:$false and -Force' {
        $r = Invoke-ChildPwsh -Script "try { Remove-GridWorkload -Name fb-01 -Datacenter fr-2 } catch { `$_.FullyQualifiedErrorId; `$_.Exception.Message }"
        $r.Output | Should -Match 'ConfirmationNotPossible'
        $r.Output | Should -Match '-Confirm:\$false'
        $r.Output | Should -Match '-Force'
        Get-GridWorkload -Name fb-01 | Should -Not -BeNullOrEmpty
    }
}
