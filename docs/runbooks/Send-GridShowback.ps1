<#
.SYNOPSIS
    Monthly runbook: records the latest usage (Update-GridUsage), then writes one month's showback as FOCUS 1.2 CSV
    and as an HTML report (Export-GridUsage), and writes the totals per owner and consumer to the output stream.

.DESCRIPTION
    Written for Azure Automation (PowerShell 7.4 runtime) and for any scheduler: it never prompts, writes one object
    per file and one per owner/consumer total to the output stream, says what it does in the verbose stream when
    -DetailedLog is given, and ends with an error (a failed job, a non-zero exit code) whose first word is the
    GridAutomation error id when something fails.

    "Send" is the hand-over of the files: they are written to -OutputDirectory (on a Hybrid Runbook Worker, a share
    the owners read; in an Azure sandbox, a folder a later step of the runbook uploads, since the sandbox loses its
    files after the job). The totals in the output stream are what the job's output shows.

    Schedule it for the first day of each month: by default it reports the previous calendar month (UTC). The ledger
    lives in the state store: in Azure Automation use the shared PostgreSQL store (docs/state-store.md), so that the
    usage recorded by other jobs and processes during the month is there. Datacenters that need a credential are
    reconnected from Automation credential assets named in -CredentialName, Azure datacenters with the Automation
    account's managed identity when -ManagedIdentity is given, before Update-GridUsage observes them.

.PARAMETER Month
    The month to report, as yyyy-MM (UTC). Default: the previous month.

.PARAMETER OutputDirectory
    Where to write showback-<yyyy-MM>.csv and showback-<yyyy-MM>.html. Default: the current directory.

.PARAMETER Owner
    Datacenter owners to report (wildcards); all by default.

.PARAMETER Datacenter
    Datacenters to observe and report (wildcards); all registered ones by default.

.PARAMETER CredentialName
    datacenter=asset pairs: the datacenter is reconnected with Get-AutomationPSCredential -Name asset
    (PowerShell 7 runbooks cannot take PSCredential parameters).

.PARAMETER ManagedIdentity
    Reconnect every Azure datacenter with the Automation account's managed identity.

.PARAMETER SkipObserve
    Do not run Update-GridUsage first (the ledger is already kept up to date by another schedule).

.PARAMETER DetailedLog
    Write verbose records (turn on "Log verbose records" in the runbook's logging settings to keep them).

.EXAMPLE
    ./Send-GridShowback.ps1 -Month 2026-11 -OutputDirectory /mnt/showback -DetailedLog
#>
param(
    [string] $Month,
    [string] $OutputDirectory = '.',
    [string[]] $Owner = @('*'),
    [string[]] $Datacenter = @('*'),
    [string[]] $CredentialName = @(),
    [switch] $ManagedIdentity,
    [switch] $SkipObserve,
    [switch] $DetailedLog
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
if ($DetailedLog) { $VerbosePreference = 'Continue' }

trap {
    # One line a person reads in the job's error stream, starting with the stable error id; then fail the job.
    $id = $_.FullyQualifiedErrorId -replace ',.*$', ''
    Write-Error -Message ("{0}: {1}" -f $id, $_.Exception.Message) -ErrorId $id -Category $_.CategoryInfo.Category -ErrorAction Continue
    break
}

Import-Module GridAutomation -Verbose:$false

$inv = [Globalization.CultureInfo]::InvariantCulture
if ($Month) {
    $start = [datetime]::MinValue
    if (-not [datetime]::TryParseExact($Month, 'yyyy-MM', $inv, [Globalization.DateTimeStyles]::AssumeUniversal -bor [Globalization.DateTimeStyles]::AdjustToUniversal, [ref]$start)) {
        throw [System.Management.Automation.ErrorRecord]::new([System.ArgumentException]::new("-Month must be yyyy-MM, not '$Month'."), 'RunbookInvalidMonth', 'InvalidArgument', $Month)
    }
    $from = [datetime]::new($start.Year, $start.Month, 1, 0, 0, 0, [DateTimeKind]::Utc)
}
else {
    $now = [datetime]::UtcNow
    $from = [datetime]::new($now.Year, $now.Month, 1, 0, 0, 0, [DateTimeKind]::Utc).AddMonths(-1)
}
$to = $from.AddMonths(1)
$label = $from.ToString('yyyy-MM', $inv)
if (-not (Test-Path -LiteralPath $OutputDirectory -PathType Container)) {
    throw [System.Management.Automation.ErrorRecord]::new([System.IO.DirectoryNotFoundException]::new("-OutputDirectory '$OutputDirectory' is not a folder."), 'RunbookOutputDirectoryNotFound', 'ObjectNotFound', $OutputDirectory)
}
$dir = (Resolve-Path -LiteralPath $OutputDirectory).ProviderPath

foreach ($pair in $CredentialName) {
    $dcName, $asset = $pair -split '=', 2
    Write-Verbose "Reconnecting '$dcName' with the credential asset '$asset'."
    $credential = Get-AutomationPSCredential -Name $asset
    $null = Connect-GridDatacenter -Name $dcName -Credential $credential -Force
}
if ($ManagedIdentity) {
    foreach ($dc in Get-GridDatacenter -Provider Azure) {
        Write-Verbose "Reconnecting '$($dc.Name)' with the managed identity."
        $null = Connect-GridDatacenter -Name $dc.Name -Identity -Force
    }
}

if (-not $SkipObserve) {
    # Observe first, so that changes made outside the module up to now are in the ledger.
    foreach ($o in Update-GridUsage -Datacenter $Datacenter -Force) { Write-Verbose ("Observed '{0}': {1} workload(s), {2} interval(s) opened." -f $o.Datacenter, $o.Workloads, $o.Opened) }
}

Write-Verbose ("Showback for {0}: {1:u} to {2:u}, owners {3}, datacenters {4}." -f $label, $from, $to, ($Owner -join ', '), ($Datacenter -join ', '))
$period = @{ From = $from; To = $to; Owner = $Owner; Datacenter = $Datacenter }
foreach ($format in 'Csv', 'Html') {
    $path = Join-Path $dir ("showback-{0}.{1}" -f $label, $format.ToLowerInvariant())
    $file = Export-GridUsage -Path $path -Format $format @period -Force -PassThru
    Write-Verbose "Wrote $($file.FullName) ($($file.Length) bytes)."
    [pscustomobject]@{ Kind = 'File'; Month = $label; Format = $format; Path = $file.FullName; Bytes = $file.Length }
}
foreach ($t in Get-GridUsage @period -GroupBy Owner, Consumer | Where-Object { -not $_.IsTotal }) {
    [pscustomobject]@{ Kind = 'Total'; Month = $label; Owner = $t.Owner; Consumer = $t.Consumer; BilledHours = $t.BilledHours; Cost = $t.Cost; Currency = $t.Currency }
}
