# No secret reaches the state files. A credential whose password is a unique marker goes through every path that
# takes one (a provider's Credential parameter where the simulator has one, New-GridWorkload -AdminCredential), with
# verbose output on and a failing call in between; then the database, its -wal and -shm, and the config file are
# scanned byte by byte for the marker, as UTF-8 and as UTF-16.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name secrets
    $script:state = $env:GRIDAUTOMATION_STATE
    $script:marker = 'GaSecretMarker-' + [guid]::NewGuid().ToString('N')
    $script:cred = [pscredential]::new('gridadmin', (ConvertTo-SecureString $script:marker -AsPlainText -Force))

    function Find-Marker([string] $Path) {
        if (-not (Test-Path $Path)) { return $false }
        $bytes = [IO.File]::ReadAllBytes($Path)
        $hay = [Text.Encoding]::Latin1.GetString($bytes)
        foreach ($enc in [Text.Encoding]::UTF8, [Text.Encoding]::Unicode, [Text.Encoding]::BigEndianUnicode) {
            if ($hay.Contains([Text.Encoding]::Latin1.GetString($enc.GetBytes($script:marker)))) { return $true }
        }
        return $false
    }
    function Get-StateFiles { @($script:state, "$($script:state)-wal", "$($script:state)-shm", $env:GRIDAUTOMATION_CONFIG) }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'No secret in the state files' {
    It 'the marker goes through every parameter that takes a secret' {
        $connectParams = @{}
        $dyn = (Get-Command Connect-GridDatacenter -ArgumentList Simulator).Parameters.Values
        foreach ($p in $dyn) {
            if ($p.ParameterType -eq [pscredential]) { $connectParams[$p.Name] = $script:cred }
            elseif ($p.ParameterType -eq [securestring]) { $connectParams[$p.Name] = $script:marker }
        }
        $script:all = @(& {
            New-SimDatacenter -Name sec-1 -Parameters $connectParams
            $create = Get-SimCreateArgs -Datacenter sec-1
            New-GridWorkload -Name s01 @create -AdminCredential $script:cred -Tag @{ purpose = 'secret-test' } -Verbose -Confirm:$false
            New-GridWorkload -Name s02, s03 @create -AdminCredential $script:cred -AsJob -Confirm:$false | Wait-Job | Receive-Job -Verbose
            # A failing create with the credential: its error must not carry it either.
            New-GridWorkload -Name s04 -Datacenter sec-1 -Size no.such.size -AdminCredential $script:cred -Verbose -Confirm:$false -ErrorAction Continue
            Set-GridConfiguration -Name PageSize -Value 500 -Confirm:$false
        } *>&1)
        @(Get-GridWorkload -Name s0*).Count | Should -Be 3
    }

    It 'no output stream (objects, errors, verbose, warnings) carries the marker' {
        foreach ($item in $script:all) {
            $text = if ($item -is [System.Management.Automation.ErrorRecord]) { "$item $($item.Exception) $($item.ErrorDetails)" } else { ($item | Out-String) }
            $text | Should -Not -Match $script:marker
        }
        ($script:all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] }).Count | Should -BeGreaterThan 0 -Because 'the failing create wrote an error'
    }

    It 'neither the database, nor its -wal or -shm, nor the config file holds the marker (WAL live)' {
        (Get-Item "$($script:state)-wal").Length | Should -BeGreaterThan 0 -Because 'the writes are still in the WAL'
        foreach ($f in Get-StateFiles) { Find-Marker $f | Should -BeFalse -Because "$f must not hold the secret" }
    }

    It 'nor after a checkpoint moved the WAL into the database' {
        Reset-GridEngine
        $c = Open-SqliteConnection -Path $script:state -NoPooling
        try { $null = Invoke-SqliteQuery $c 'PRAGMA wal_checkpoint(TRUNCATE)' } finally { $c.Dispose() }
        foreach ($f in Get-StateFiles) { Find-Marker $f | Should -BeFalse -Because "$f must not hold the secret" }
    }

    It 'the scan finds the marker when it is there (the test can fail)' {
        $probe = Join-Path $script:dir 'probe.bin'
        [IO.File]::WriteAllBytes($probe, [Text.Encoding]::Unicode.GetBytes("xx$($script:marker)yy"))
        Find-Marker $probe | Should -BeTrue
    }
}

Describe 'Credentials inside a URL, plain http, and the config file mode' {
    It 'a password inside the vSphere -Server URL is refused (use -Credential), never stored nor shown' {
        $url = "https://admin:$($script:marker)@127.0.0.1:9/sdk"
        $out = @(& { Connect-GridDatacenter -Provider VSphere -Name url-cred -Server $url -Credential $script:cred -Confirm:$false -Verbose -ErrorAction Continue } *>&1)
        $errs = @($out | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'CredentialInUrl,*'
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        "$($errs[0]) $($errs[0].Exception.Message)" | Should -Match '-Credential'
        foreach ($item in $out) { ($item | Out-String) + "$($item.TargetObject)" | Should -Not -Match $script:marker }
        Get-GridDatacenter -Name url-cred -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        foreach ($o in Get-GridOperation) { "$($o.Request) $($o.Error) $($o.Target)" | Should -Not -Match $script:marker }
        foreach ($f in Get-StateFiles) { Find-Marker $f | Should -BeFalse -Because "$f must not hold the URL's password" }
    }

    It 'plain http to vSphere is refused unless -AllowInsecureHttp, before any login' {
        Connect-GridDatacenter -Provider VSphere -Name plain -Server 'http://127.0.0.1:9/sdk' -Credential $script:cred -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue | Out-Null
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'InsecureHttpRefused,*'
        $ev[0].Exception.Message | Should -Match 'AllowInsecureHttp'
        # With the switch it warns, then tries (nothing listens on port 9: a connection error, not a refusal).
        Connect-GridDatacenter -Provider VSphere -Name plain -Server 'http://127.0.0.1:9/sdk' -Credential $script:cred -AllowInsecureHttp -Confirm:$false -WarningVariable wv -WarningAction SilentlyContinue -ErrorVariable ev2 -ErrorAction SilentlyContinue | Out-Null
        "$wv" | Should -Match 'unencrypted'
        $ev2[0].FullyQualifiedErrorId | Should -Not -BeLike 'InsecureHttpRefused,*'
    }

    It 'config.json is created 0600 and an existing 0644 one is put back to 0600' -Skip:$IsWindows {
        Set-GridConfiguration -Name PageSize -Value 400 -Confirm:$false
        (Get-Item $env:GRIDAUTOMATION_CONFIG).UnixFileMode | Should -Be ([IO.UnixFileMode]'UserRead, UserWrite')
        [IO.File]::SetUnixFileMode($env:GRIDAUTOMATION_CONFIG, [IO.UnixFileMode]'UserRead, UserWrite, GroupRead, OtherRead')
        Set-GridConfiguration -Name PageSize -Value 300 -Confirm:$false
        (Get-Item $env:GRIDAUTOMATION_CONFIG).UnixFileMode | Should -Be ([IO.UnixFileMode]'UserRead, UserWrite')
    }
}
