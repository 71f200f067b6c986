# A throwaway PostgreSQL 15 cluster for tests and benches (issue 12): initdb into -Root (as the 'postgres' user when
# run as root: initdb refuses root), scram-sha-256 with a random password, a free loopback port. Stop-PgTestCluster
# stops it. tests/GridAutomation.Core.Tests/setup.sh installs postgresql-15.

$script:PgBin = '/usr/lib/postgresql/15/bin'

function Get-PgTestPrerequisiteProblem {
    if (-not (Test-Path "$script:PgBin/initdb")) { return "PostgreSQL 15 is not installed ($script:PgBin/initdb): run tests/GridAutomation.Core.Tests/setup.sh as root." }
    $null
}

function Invoke-AsPostgres([string[]] $Command) {
    if ((id -u) -eq '0') { & runuser -u postgres -- @Command } else { & $Command[0] @($Command | Select-Object -Skip 1) }
    if ($LASTEXITCODE -ne 0) { throw "$($Command[0]) exited $LASTEXITCODE" }
}

function Start-PgTestCluster {
    param([Parameter(Mandatory)] [string] $Root)
    $dir = Join-Path $Root ('pg-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory $dir | Out-Null
    $password = [guid]::NewGuid().ToString('N')
    Set-Content -Path "$dir/pw" -Value $password
    if ((id -u) -eq '0') { chown -R postgres:postgres $dir }
    $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $port = $l.LocalEndpoint.Port; $l.Stop()
    Invoke-AsPostgres @("$script:PgBin/initdb", '-D', "$dir/data", '-U', 'postgres', '-A', 'scram-sha-256', '--pwfile', "$dir/pw", '-E', 'UTF8', '--locale=C', '--no-sync') | Out-Null
    Invoke-AsPostgres @("$script:PgBin/pg_ctl", '-D', "$dir/data", '-l', "$dir/log", '-w', 'start', '-o', "-p $port -k $dir -c listen_addresses=127.0.0.1") | Out-Null
    [pscustomobject]@{ Dir = $dir; Port = $port; Password = $password; ConnectionString = "Host=127.0.0.1;Port=$port;Database=postgres;Username=postgres" }
}

function Stop-PgTestCluster {
    param($Cluster)
    if ($Cluster) { Invoke-AsPostgres @("$script:PgBin/pg_ctl", '-D', "$($Cluster.Dir)/data", '-m', 'immediate', '-w', 'stop') | Out-Null }
}
