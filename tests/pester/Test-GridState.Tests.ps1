# Test-GridState, and the state-file faults every command refuses (docs/state-store.md): each gives its documented
# error and leaves the file untouched; a healthy store is reported with its size, counts and schema versions.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name teststate
    $script:good = $env:GRIDAUTOMATION_STATE
    New-SimDatacenter -Name ts-1 -Parameters @{ Hosts = 1; Workloads = 2 } | Out-Null
    Stop-GridWorkload -Name * -Datacenter ts-1 -Confirm:$false

    # A SQLite file of another application, made through the module's own Microsoft.Data.Sqlite.
    function New-ForeignSqlite([string] $Path) {
        $asm = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Microsoft.Data.Sqlite' } | Select-Object -First 1
        $c = [Activator]::CreateInstance($asm.GetType('Microsoft.Data.Sqlite.SqliteConnection', $true), @("Data Source=$Path;Pooling=False"))
        $c.Open()
        try { $cmd = $c.CreateCommand(); $cmd.CommandText = "CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes(text) VALUES('mine')"; $null = $cmd.ExecuteNonQuery() }
        finally { $c.Dispose() }
    }
}

AfterAll { Use-GridState $script:good; Remove-GridTestDirectory $script:dir }

Describe 'Test-GridState' {
    It 'reports a healthy store: size, counts, schema versions, its application_id' {
        $r = Test-GridState
        $r.Healthy | Should -BeTrue
        $r.Path | Should -Be $script:good
        $r.SizeBytes | Should -BeGreaterThan 0
        $r.Datacenters | Should -Be 1
        $r.Operations | Should -BeGreaterOrEqual 3
        $r.OperationsByState['Succeeded'] | Should -BeGreaterOrEqual 3
        $r.SchemaVersions['core'] | Should -Be $r.ModuleSchemaVersion
        $r.SchemaVersions['simulator'] | Should -BeGreaterOrEqual 1
        $r.ApplicationId | Should -Be 0x47524944
        ($r | Format-Table | Out-String) | Should -Match 'Healthy'
    }
}

Describe 'State-file faults: documented error, file untouched' {
    It 'a 0-byte file: StateStoreForeign from every command and Test-GridState; it stays 0 bytes' {
        $f = Join-Path $script:dir 'empty.db'
        [IO.File]::WriteAllBytes($f, [byte[]]@())
        Use-GridState $f
        { Get-GridDatacenter } | Should -Throw -ErrorId 'StateStoreForeign,*'
        { Connect-GridDatacenter -Provider Simulator -Name x -Confirm:$false } | Should -Throw -ErrorId 'StateStoreForeign,*'
        $r = Test-GridState -ErrorVariable ev -ErrorAction SilentlyContinue
        $r.Healthy | Should -BeFalse
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'StateStoreForeign,*'
        (Get-Item $f).Length | Should -Be 0
        Test-Path "$f-wal" | Should -BeFalse
    }

    It 'an unrelated SQLite file: refused, neither given our tables nor switched to WAL' {
        $f = Join-Path $script:dir 'notes.db'
        New-ForeignSqlite $f
        $before = (Get-FileHash $f).Hash
        Use-GridState $f
        { Get-GridWorkload } | Should -Throw -ErrorId 'StateStoreForeign,*'
        { New-GridWorkload -Name n -Datacenter x -Confirm:$false } | Should -Throw -ErrorId 'StateStoreForeign,*'
        Reset-GridEngine
        (Get-FileHash $f).Hash | Should -Be $before
        Test-Path "$f-wal" | Should -BeFalse
    }

    It 'no file: a new store is created where nothing exists, and the first command says so once' {
        $f = Join-Path $script:dir 'fresh/state.db'
        Use-GridState $f
        $null = Connect-GridDatacenter -Provider Simulator -Name fresh -Confirm:$false -WarningVariable w1 -WarningAction SilentlyContinue
        "$w1" | Should -Match 'A new, empty state file was created'
        $null = Get-GridDatacenter -WarningVariable w2 -WarningAction SilentlyContinue
        @($w2).Count | Should -Be 0
        (Test-GridState).Healthy | Should -BeTrue
    }
}
