<#
.SYNOPSIS
    Weekly runbook: a disaster-recovery drill. For the workloads tagged DrDrill=weekly (or named in -Name) it checks
    that each is protected, starts a test failover, checks that every test copy runs, removes the copies again and
    writes one report object per workload (recovery point, data loss, RTO).

.DESCRIPTION
    Written for Azure Automation (PowerShell 7.4 runtime) and for any scheduler: it never prompts, writes one report
    object per workload to the output stream, says what it does in the verbose stream when -DetailedLog is given, and
    ends with an error (a failed job, a non-zero exit code) whose first word is the error id when the drill fails.

    A test failover (Start-GridFailover -Mode Test) boots a copy of each workload from its latest recovery point in
    the replica's datacenter, beside the running primary: the primaries are not touched. The copies are removed with
    Stop-GridFailover -Test whatever happens, so a drill leaves nothing behind, also when it fails half-way.

    The drill fails, before anything starts, when a workload is not protected (NotProtected) or its replication is
    Stalled (RunbookReplicationStalled), or when nothing matched (RunbookNothingToDrill); after the test failover, when
    a copy did not start (the failover's own error id) or does not run (RunbookTestCopyNotRunning). A Lagging
    replication (last point older than the RPO) is drilled and reported with a warning: its DataLoss says by how much.

    Registrations and replication come from the state store: in Azure Automation use the shared PostgreSQL store
    (docs/state-store.md). Datacenters that need a credential are reconnected from Automation credential assets named
    in -CredentialName, and Azure datacenters with the Automation account's managed identity when -ManagedIdentity is
    given.

.PARAMETER Tag
    The tag that marks the workloads to drill, as name=value. Not used when -Name is given.

.PARAMETER Name
    The workloads to drill (names; wildcards), instead of the tag: a list, or one comma-separated string.

.PARAMETER Datacenter
    Datacenters the workloads are in (wildcards); all registered ones by default.

.PARAMETER CredentialName
    datacenter=asset pairs: the datacenter is reconnected with Get-AutomationPSCredential -Name asset
    (PowerShell 7 runbooks cannot take PSCredential parameters).

.PARAMETER ManagedIdentity
    Reconnect every Azure datacenter with the Automation account's managed identity.

.PARAMETER DetailedLog
    Write verbose records (turn on "Log verbose records" in the runbook's logging settings to keep them).

.EXAMPLE
    ./Invoke-GridDrDrill.ps1 -Tag DrDrill=weekly -DetailedLog

.EXAMPLE
    ./Invoke-GridDrDrill.ps1 -Name db01, web01 -Datacenter ams-1
#>
param(
    [string] $Tag = 'DrDrill=weekly',
    [string[]] $Name = @(),
    [string[]] $Datacenter = @('*'),
    [string[]] $CredentialName = @(),
    [switch] $ManagedIdentity,
    [switch] $DetailedLog
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
if ($DetailedLog) { $VerbosePreference = 'Continue' }

trap {
    # The job's error stream gets one line that starts with the stable error id, and the job fails.
    $errorId = $_.FullyQualifiedErrorId -replace ',.*$', ''
    Write-Error -Message "$($errorId): $($_.Exception.Message)" -ErrorId $errorId -Category $_.CategoryInfo.Category -ErrorAction Continue
    break
}

function New-DrillError([string] $Id, [string] $Message, [object] $Target, [string] $Category = 'InvalidOperation') {
    [System.Management.Automation.ErrorRecord]::new([System.InvalidOperationException]::new($Message), $Id, $Category, $Target)
}

Import-Module GridAutomation -Verbose:$false

# Reconnect what needs a secret (secrets are never stored): one pass over the registrations.
$assets = @{}
foreach ($pair in $CredentialName) { $key, $value = $pair -split '=', 2; $assets[$key] = $value }
foreach ($dc in @(Get-GridDatacenter | Where-Object { $assets.ContainsKey($_.Name) -or ($ManagedIdentity -and $_.Provider -eq 'Azure') })) {
    $how = if ($assets.ContainsKey($dc.Name)) { @{ Credential = Get-AutomationPSCredential -Name $assets[$dc.Name] } } else { @{ Identity = $true } }
    Write-Verbose "Reconnecting '$($dc.Name)' with $(if ($how.Identity) { 'the managed identity' } else { "the credential asset '$($assets[$dc.Name])'" })."
    $null = Connect-GridDatacenter -Name $dc.Name @how -Force
}

# 1. The workloads to drill.
# A scheduler may hand a list over as one comma-separated string.
$Name = @($Name | ForEach-Object { $_ -split ',' } | ForEach-Object { $_.Trim() } | Where-Object { $_ })
if ($Name.Count -gt 0) {
    $workloads = @(Get-GridWorkload -Name $Name -Datacenter $Datacenter)
    $what = "named $($Name -join ', ')"
}
else {
    $tagName, $tagValue = $Tag -split '=', 2
    if (-not $tagName -or $null -eq $tagValue) { throw (New-DrillError 'RunbookInvalidTag' "-Tag must be name=value, not '$Tag'." $Tag 'InvalidArgument') }
    $workloads = @(Get-GridWorkload -Datacenter $Datacenter -Tag @{ $tagName = $tagValue })
    $what = "tagged $tagName=$tagValue"
}
Write-Verbose ("DR drill of {0} workload(s) {1} in datacenter(s) {2}." -f $workloads.Count, $what, ($Datacenter -join ', '))
if ($workloads.Count -eq 0) { throw (New-DrillError 'RunbookNothingToDrill' "No workload $what in datacenter(s) $($Datacenter -join ', ')." $what 'ObjectNotFound') }

# 2. Each must be protected, and its replication not stalled: checked for all before anything starts.
$items = @{}
foreach ($i in Get-GridReplication) { $items[$i.SourceId] = $i }
foreach ($w in $workloads) {
    $i = $items[$w.Id]
    if ($null -eq $i -or [string]$i.State -ne 'Protected') {
        $state = if ($null -eq $i) { 'not protected' } else { "$($i.State), not Protected" }
        throw (New-DrillError 'NotProtected' "'$($w.Name)' ($($w.Id)) is $state`: Enable-GridReplication protects it; the drill started nothing." $w.Id 'ObjectNotFound')
    }
    if ([string]$i.Health -eq 'Stalled') { throw (New-DrillError 'RunbookReplicationStalled' "The replication of '$($w.Name)' is stalled: $($i.LastError)" $w.Id) }
    if ([string]$i.Health -eq 'Lagging') { Write-Warning "The replication of '$($w.Name)' is lagging: its last recovery point is older than its RPO ($($i.RpoMinutes) min)." }
    Write-Verbose ("'{0}' is protected into '{1}' ({2}, last point {3:u})." -f $w.Name, $i.DestinationDatacenter, $i.Health, $i.LastRecoveryPoint)
}

# 3. Test failover, check the copies, and always remove them again.
$failure = $null
$report = [System.Collections.Generic.List[object]]::new()
try {
    $results = @($workloads | Start-GridFailover -Mode Test -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failoverErrors)
    foreach ($w in $workloads) {
        $r = $results | Where-Object SourceId -eq $w.Id | Select-Object -First 1
        $copyState = $null
        $errorId = if ($null -eq $r) { 'RunbookNoFailoverResult' } else { $r.ErrorId }
        $message = if ($null -eq $r) { "Start-GridFailover gave no result for '$($w.Name)': $($failoverErrors | Select-Object -First 1)" } else { $r.Error }
        if (-not $errorId -and $r.DestinationId) {
            $copy = Get-GridWorkload -Id $r.DestinationId -ErrorAction SilentlyContinue
            $copyState = if ($copy) { [string]$copy.State } else { 'Missing' }
            if ($copyState -ne 'Running') { $errorId = 'RunbookTestCopyNotRunning'; $message = "The test copy of '$($w.Name)' ($($r.DestinationId)) is $copyState, not Running." }
            else { Write-Verbose ("Test copy of '{0}' runs as {1}: RTO {2:N1} s, data loss {3:N1} s." -f $w.Name, $r.DestinationId, $r.Rto.TotalSeconds, $r.DataLoss.TotalSeconds) }
        }
        if ($errorId -and -not $failure) { $failure = New-DrillError $errorId "DR drill of '$($w.Name)' failed: $message" $w.Id 'OperationStopped' }
        $report.Add([pscustomobject]@{
                PSTypeName            = 'GridAutomation.DrDrillResult'
                Name                  = $w.Name
                Datacenter            = $w.Datacenter
                DestinationDatacenter = $items[$w.Id].DestinationDatacenter
                TestCopyId            = if ($r) { $r.DestinationId } else { $null }
                TestCopyState         = $copyState
                RecoveryPointTime     = if ($r) { $r.RecoveryPointTime } else { $null }
                DataLoss              = if ($r) { $r.DataLoss } else { $null }
                Rto                   = if ($r) { $r.Rto } else { $null }
                Result                = if ($errorId) { 'Failed' } else { 'Passed' }
                ErrorId               = $errorId
            })
    }
}
finally {
    $ids = @($workloads.Id)
    $running = @(Get-GridReplication | Where-Object { $ids -contains $_.SourceId -and $_.TestWorkloadIds.Count -gt 0 })
    if ($running.Count -gt 0) {
        Write-Verbose "Removing the test copies of $($running.Count) workload(s)."
        $running | ForEach-Object { [System.Management.Automation.WildcardPattern]::Escape($_.Name) } | Sort-Object -Unique |
            ForEach-Object { $null = Stop-GridFailover -Name $_ -Test -Confirm:$false }
    }
}

$report
if ($failure) { throw $failure }
Write-Verbose "DR drill passed: $($report.Count) workload(s) recovered in their test copies, which are removed again."
