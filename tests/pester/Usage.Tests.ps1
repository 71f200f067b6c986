# The usage ledger end to end on the simulator: scripted timelines on the simulated clock (EC2-style and Azure-style
# billing), a change made outside the module recorded by Update-GridUsage, a killed Update-GridUsage, listings that
# write nothing, the FOCUS export and the HTML report (parsed, and rendered by headless chromium).

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name usage
    $script:state = $env:GRIDAUTOMATION_STATE
    $script:T0 = [DateTime]::new(2026, 11, 2, 8, 0, 0, [DateTimeKind]::Utc)

    # Moves a simulated datacenter's clock (its Clock setting) and keeps its billing rule.
    function Set-SimClock([string] $Name, [double] $Seconds, [string] $Rule = 'RateCard', [string] $Owner = 'Fabrikam') {
        $t = $script:T0.AddSeconds($Seconds).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'")
        Connect-GridDatacenter -Provider Simulator -Name $Name -Owner $Owner -Clock $t -BillingRule $Rule -Confirm:$false | Out-Null
    }
    function Get-StateDump {
        $c = Open-SqliteConnection -Path $script:state -NoPooling
        try { @(Get-SqliteDump $c) } finally { $c.Dispose() }
    }
    function Invoke-StateSql([string] $Sql) {
        $c = Open-SqliteConnection -Path $script:state -NoPooling
        try { Invoke-SqliteQuery $c $Sql } finally { $c.Dispose() }
    }
    $script:image = (Get-GridImage -Datacenter (New-SimDatacenter -Name img-probe).Name | Select-Object -First 1).Name
    Unregister-GridDatacenter -Name img-probe -Confirm:$false
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Scripted timelines on the simulated clock' {
    It 'EC2-style: per second with a 60 s minimum per start, priced by the owner''s rate card' {
        Set-SimClock ec2 0 Ec2
        Set-GridRateCard -Owner Fabrikam -PricePerCpuHour 0.05 -PricePerGBHour 0.01 -EffectiveFrom '2026-10-01' -Confirm:$false | Out-Null
        # Contoso uses Fabrikam's datacenter under an agreement without prices: the price falls through to the rate card.
        New-GridAgreement -Owner Fabrikam -Consumer Contoso -Datacenter ec2 -Confirm:$false | Out-Null
        $w = New-GridWorkload -Name web -Datacenter ec2 -Cpu 2 -MemoryGB 6 -Image $script:image -Owner Contoso -Confirm:$false
        $w.Properties.PricePerHour | Should -BeNullOrEmpty   # a shape no size has: no list price, the rate card prices it
        $w.ComputeBilled | Should -BeTrue
        Set-SimClock ec2 30 Ec2
        $w | Stop-GridWorkload -TurnOff -Confirm:$false      # 30 s run: billed 60 s
        (Get-GridWorkload -Datacenter ec2 -Name web).ComputeBilled | Should -BeFalse
        Set-SimClock ec2 100 Ec2
        $w | Start-GridWorkload -Confirm:$false
        Set-SimClock ec2 3701 Ec2
        $w | Stop-GridWorkload -TurnOff -Confirm:$false      # 3601 s run
        $u = @(Get-GridUsage -Datacenter ec2 -To $script:T0.AddHours(3))
        $u.Count | Should -Be 1
        $u[0].IsTotal | Should -BeTrue
        $u[0].BilledHours | Should -Be ([Math]::Round(3661 / 3600, 6))
        $u[0].VCpuHours | Should -Be ([Math]::Round(2 * 3661 / 3600, 6))
        $u[0].GBHours | Should -Be ([Math]::Round(6 * 3661 / 3600, 6))
        $u[0].Cost | Should -Be ([Math]::Round([decimal]0.16 * 3661 / 3600, 6))   # 2 x 0.05 + 6 x 0.01 per hour
        $u[0].Currency | Should -Be 'USD'
        $by = Get-GridUsage -Datacenter ec2 -To $script:T0.AddHours(3) -GroupBy Owner, Consumer
        ($by | Where-Object { -not $_.IsTotal }).Owner | Should -Be 'Fabrikam'
        ($by | Where-Object { -not $_.IsTotal }).Consumer | Should -Be 'Contoso'
    }

    It 'prices use of another owner''s capacity at the price of the agreement in force (before list price and rate card)' {
        Set-SimClock agr 0 RateCard
        New-GridAgreement -Owner Fabrikam -Consumer Tailspin -Datacenter agr -PricePerCpuHour 0.5 -PricePerGBHour 0.25 -Confirm:$false | Out-Null
        $w = New-GridWorkload -Name t1 -Datacenter agr -Cpu 2 -MemoryGB 2 -Image $script:image -Owner Tailspin -Confirm:$false
        Set-SimClock agr 3600 RateCard
        $w | Stop-GridWorkload -TurnOff -Confirm:$false
        $u = @(Get-GridUsage -Datacenter agr -To $script:T0.AddHours(2) -GroupBy Owner, Consumer | Where-Object { -not $_.IsTotal })
        $u.Count | Should -Be 1
        $u[0].Owner | Should -Be 'Fabrikam'
        $u[0].Consumer | Should -Be 'Tailspin'
        $u[0].Cost | Should -Be 1.5   # 1 h x (2 vCPU x 0.5 + 2 GB x 0.25)
    }

    It 'Azure-style: per minute, billed while stopped, the size''s list price' {
        Set-SimClock az 0 Azure
        $size = Get-GridSize -Datacenter az | Sort-Object CpuCount | Select-Object -First 1
        $w = New-GridWorkload -Name vm -Datacenter az -Size $size.Name -Image $script:image -Confirm:$false
        Set-SimClock az 61 Azure
        $w | Stop-GridWorkload -TurnOff -Confirm:$false      # Stopped: still billed under Azure's rule
        (Get-GridWorkload -Datacenter az -Name vm).ComputeBilled | Should -BeTrue
        Set-SimClock az 125 Azure
        $w | Remove-GridWorkload -Confirm:$false             # gone after 125 s: billed 3 minutes
        $u = Get-GridUsage -Datacenter az -To $script:T0.AddHours(1) | Where-Object IsTotal
        $u.BilledHours | Should -Be ([Math]::Round(180 / 3600, 6))
        $u.VCpuHours | Should -Be ([Math]::Round($size.CpuCount * 180 / 3600, 6))
        $u.Cost | Should -Be ([Math]::Round([decimal]$size.PricePerHour * 180 / 3600, 6))
    }
}

Describe 'Update-GridUsage' {
    It 'records a change made outside the module, its unseen end closed at the observation and flagged Estimated' {
        Set-SimClock obs 0
        New-GridWorkload -Name app -Datacenter obs -Cpu 1 -MemoryGB 1 -Image $script:image -Confirm:$false | Out-Null
        # Someone powers it off behind the module's back (the simulator's own table, as another tool would).
        Reset-GridEngine
        Invoke-StateSql "UPDATE sim_workloads SET state = 'poweredOff', consumes = 0 WHERE datacenter = 'obs' AND name = 'app'" | Out-Null
        Set-SimClock obs 7200
        $o = Update-GridUsage -Datacenter obs -Confirm:$false
        $o.Closed | Should -Be 1
        $o.Estimated | Should -Be 1
        $o.Opened | Should -Be 1
        $rows = @(Invoke-StateSql "SELECT state, start_time, end_time, estimated FROM usage_intervals WHERE datacenter = 'obs' ORDER BY id")
        $rows.Count | Should -Be 2
        $rows[0].state | Should -Be 'Running'
        $rows[0].end_time | Should -BeLike '2026-11-02T10:00:00*'
        $rows[0].estimated | Should -Be 1
        $rows[1].state | Should -Be 'Stopped'
        # A second observation (another process) of the same state records nothing again.
        $r = Invoke-ChildPwsh "Update-GridUsage -Datacenter obs -Confirm:`$false | ForEach-Object { 'opened=' + `$_.Opened + ' closed=' + `$_.Closed }"
        $r.Output | Should -Match 'opened=0 closed=0'
        @(Invoke-StateSql "SELECT id FROM usage_intervals WHERE datacenter = 'obs'").Count | Should -Be 2
        (Get-GridUsage -Datacenter obs -To $script:T0.AddHours(3) -GroupBy Workload | Where-Object { -not $_.IsTotal }).Estimated | Should -BeTrue
    }

    It 'a killed Update-GridUsage leaves no double-counted interval' {
        Connect-GridDatacenter -Provider Simulator -Name big -Owner Fabrikam -Workloads 5000 -Clock '2026-11-02T09:00:00Z' -Confirm:$false | Out-Null
        $n = (Invoke-StateSql "SELECT COUNT(*) AS n FROM sim_workloads WHERE datacenter = 'big'").n
        $n | Should -Be 5000
        # A child flips half of the workloads outside the module and observes, again and again, until it is killed.
        $p = Start-ChildPwsh @"
. '$(Join-Path $PSScriptRoot 'TestHelpers.ps1')'
`$c = Open-SqliteConnection -Path `$env:GRIDAUTOMATION_STATE -NoPooling
while (`$true) {
    Invoke-SqliteQuery `$c "UPDATE sim_workloads SET state = CASE WHEN state = 'poweredOn' THEN 'poweredOff' ELSE 'poweredOn' END WHERE datacenter = 'big' AND seq % 2 = 0" | Out-Null
    Update-GridUsage -Datacenter big -Confirm:`$false | Out-Null
}
"@
        try {
            $deadline = (Get-Date).AddSeconds(240)
            do { Start-Sleep -Milliseconds 250; $rows = (Invoke-StateSql "SELECT COUNT(*) AS n FROM usage_intervals WHERE datacenter = 'big'").n }
            until ($rows -gt $n -or $p.HasExited -or (Get-Date) -gt $deadline)
            $rows | Should -BeGreaterThan $n -Because 'the child observed at least twice before it was killed'
            Start-Sleep -Milliseconds (Get-Random -Minimum 0 -Maximum 1500)   # somewhere in a later round, likely mid-write
        }
        finally { if (-not $p.HasExited) { $p.Kill($true) }; $p.WaitForExit() }
        $check = {
            $open = (Invoke-StateSql "SELECT COUNT(*) AS n FROM usage_intervals WHERE datacenter = 'big' AND end_time IS NULL").n
            $overlaps = (Invoke-StateSql "SELECT COUNT(*) AS n FROM usage_intervals a JOIN usage_intervals b ON a.workload_id = b.workload_id AND a.id < b.id AND a.start_time < COALESCE(b.end_time, '9999') AND b.start_time < COALESCE(a.end_time, '9999') WHERE a.datacenter = 'big'").n
            $open | Should -Be $n
            $overlaps | Should -Be 0
        }
        & $check
        Reset-GridEngine
        Connect-GridDatacenter -Provider Simulator -Name big -Owner Fabrikam -Clock '2026-11-02T10:00:00Z' -Confirm:$false | Out-Null
        Update-GridUsage -Datacenter big -Confirm:$false | Out-Null
        & $check
        # What the ledger holds open is what the simulator says now: nothing lost, nothing counted twice.
        $mismatch = (Invoke-StateSql "SELECT COUNT(*) AS n FROM usage_intervals u JOIN sim_workloads w ON u.workload_id = 'big/' || w.native_id AND w.datacenter = 'big' WHERE u.end_time IS NULL AND u.state <> CASE w.state WHEN 'poweredOn' THEN 'Running' ELSE 'Stopped' END").n
        $mismatch | Should -Be 0
        (Get-GridUsage -Datacenter big -To '2026-11-02T10:00:00Z' | Where-Object IsTotal).Hours | Should -Be $n
    }
}

Describe 'Reading writes nothing' {
    It 'listings, Get-GridUsage, Get-GridRateCard and -WhatIf changes leave every table as it was' {
        Reset-GridEngine
        $before = Get-StateDump
        Get-GridWorkload | Out-Null
        Get-GridDatacenter | Out-Null
        Get-GridUsage -GroupBy Owner, Consumer, Datacenter, Workload, Day | Out-Null
        Get-GridUsage -Recalculate | Out-Null
        Get-GridRateCard | Out-Null
        Update-GridUsage -WhatIf
        Set-GridRateCard -Owner Nobody -PricePerCpuHour 1 -PricePerGBHour 1 -WhatIf
        Remove-GridRateCard -Owner Fabrikam -WhatIf
        Export-GridUsage -Path (Join-Path $script:dir 'x.csv') | Out-Null
        Reset-GridEngine
        Compare-Object $before (Get-StateDump) | Should -BeNullOrEmpty
    }
}

Describe 'Rate cards' {
    It 'set, list, recalculate after a rate change, remove' {
        $c = Get-GridRateCard -Owner Fab*
        $c.PricePerCpuHour | Should -Be 0.05
        $before = (Get-GridUsage -Datacenter ec2 -To $script:T0.AddHours(3) | Where-Object IsTotal).Cost
        Set-GridRateCard -Owner Fabrikam -PricePerCpuHour 0.10 -PricePerGBHour 0.01 -EffectiveFrom '2026-10-01' -Confirm:$false | Out-Null
        (Get-GridUsage -Datacenter ec2 -To $script:T0.AddHours(3) | Where-Object IsTotal).Cost | Should -Be $before
        (Get-GridUsage -Datacenter ec2 -To $script:T0.AddHours(3) -Recalculate | Where-Object IsTotal).Cost | Should -Be ([Math]::Round([decimal]0.26 * 3661 / 3600, 6))
        $e = $null
        Set-GridRateCard -Owner Fabrikam -PricePerCpuHour -1 -PricePerGBHour 0 -Confirm:$false -ErrorVariable e -ErrorAction SilentlyContinue
        $e[0].FullyQualifiedErrorId | Should -BeLike 'InvalidRateCard*'
        $e[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        Get-GridRateCard -Owner Fabrikam | Remove-GridRateCard -Confirm:$false
        @(Get-GridRateCard -Owner Fabrikam).Count | Should -Be 0
        Remove-GridRateCard -Owner Fabrikam -Confirm:$false -ErrorVariable e -ErrorAction SilentlyContinue
        $e[0].FullyQualifiedErrorId | Should -BeLike 'RateCardNotFound*'
    }
}

Describe 'Export-GridUsage' {
    It 'FOCUS CSV: every mandatory column, totals equal Get-GridUsage' {
        $path = Join-Path $script:dir 'usage.csv'
        $to = $script:T0.AddHours(3)
        Export-GridUsage -Path $path -To $to -Datacenter ec2, az, obs -PassThru | Should -BeOfType System.IO.FileInfo
        $rows = @(Import-Csv $path)
        $header = (Get-Content $path -TotalCount 1).Split(',')
        foreach ($m in 'BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingCurrency', 'BillingPeriodEnd', 'BillingPeriodStart', 'ChargeCategory',
            'ChargeClass', 'ChargeDescription', 'ChargePeriodEnd', 'ChargePeriodStart', 'ConsumedQuantity', 'ConsumedUnit', 'ContractedCost', 'EffectiveCost',
            'InvoiceIssuerName', 'ListCost', 'PricingQuantity', 'PricingUnit', 'ProviderName', 'PublisherName', 'RegionName', 'ResourceId', 'ResourceName',
            'ServiceCategory', 'ServiceName', 'SubAccountId', 'Tags') { $header | Should -Contain $m }
        $total = Get-GridUsage -To $to -Datacenter ec2, az, obs | Where-Object IsTotal
        [Math]::Round(($rows | ForEach-Object { [decimal]::Parse($_.BilledCost, [cultureinfo]::InvariantCulture) } | Measure-Object -Sum).Sum, 6) | Should -Be $total.Cost
        ($rows | Where-Object ResourceName -eq 'web').InvoiceIssuerName | Select-Object -Unique | Should -Be 'Fabrikam'
        ($rows | Where-Object ResourceName -eq 'web').SubAccountId | Select-Object -Unique | Should -Be 'Contoso'
    }

    It 'HTML: parses as XML, bars equal the totals, chromium renders it with no console error and a non-blank image' {
        $path = Join-Path $script:dir 'usage.html'
        $to = $script:T0.AddHours(3)
        Export-GridUsage -Path $path -To $to -Datacenter ec2, az, obs -Format Html | Out-Null
        [xml] $x = Get-Content $path -Raw
        $ns = [System.Xml.XmlNamespaceManager]::new($x.NameTable)
        $ns.AddNamespace('s', 'http://www.w3.org/2000/svg')
        $bars = @($x.SelectNodes('//s:rect[@class="bar"]', $ns))
        $bars.Count | Should -BeGreaterThan 0
        $totals = Get-GridUsage -To $to -Datacenter ec2, az, obs -GroupBy Owner, Consumer
        foreach ($t in $totals | Where-Object { -not $_.IsTotal }) {
            $sum = ($bars | Where-Object { $_.GetAttribute('data-owner') -eq $t.Owner -and $_.GetAttribute('data-consumer') -eq $t.Consumer } |
                ForEach-Object { [decimal]::Parse($_.GetAttribute('data-cost'), [cultureinfo]::InvariantCulture) } | Measure-Object -Sum).Sum
            [Math]::Round([decimal]$sum, 5) | Should -Be ([Math]::Round($t.Cost, 5))
        }
        $chromium = Get-Command chromium -ErrorAction SilentlyContinue
        if (-not $chromium) {
            if ($env:GRIDAUTOMATION_REQUIRE_ALL -eq '1') { throw 'chromium is missing (tests/pester/setup.sh installs it).' }
            Set-ItResult -Skipped -Because 'chromium is not installed (tests/pester/setup.sh installs it)'
            return
        }
        $png = Join-Path $script:dir 'usage.png'
        $log = & $chromium.Source --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --enable-logging=stderr --v=0 --window-size=900,700 "--screenshot=$png" "file://$path" 2>&1 | Out-String
        Test-Path $png | Should -BeTrue
        $log | Should -Not -Match 'CONSOLE\(|Uncaught|console.error'
        # Not blank: inflate the PNG's pixel data (zlib in IDAT chunks); a one-colour image is all 0x00/0xFF bytes
        # after its filters (white rows, or zero deltas), the chart's coloured bars and text are not.
        $bytes = [IO.File]::ReadAllBytes($png)
        $idat = [IO.MemoryStream]::new()
        $i = 8
        while ($i -lt $bytes.Length) {
            $len = ([int]$bytes[$i] -shl 24) -bor ([int]$bytes[$i + 1] -shl 16) -bor ([int]$bytes[$i + 2] -shl 8) -bor [int]$bytes[$i + 3]
            $type = [Text.Encoding]::ASCII.GetString($bytes, $i + 4, 4)
            if ($type -eq 'IDAT') { $idat.Write($bytes, $i + 8, $len) }
            $i += 12 + $len
        }
        $idat.Position = 0
        $z = [IO.Compression.ZLibStream]::new($idat, [IO.Compression.CompressionMode]::Decompress)
        $raw = [IO.MemoryStream]::new(); $z.CopyTo($raw); $z.Dispose()
        $coloured = 0
        $data = $raw.ToArray()
        for ($k = 0; $k -lt $data.Length; $k += 7) { if ($data[$k] -ne 0 -and $data[$k] -ne 255) { $coloured++ } }
        $coloured | Should -BeGreaterThan 200
    }
}
