<#
.SYNOPSIS
    Nightly runbook: stops every running workload that carries a tag (default env=dev), in every registered
    datacenter of every provider, so that it stops being billed for compute.

.DESCRIPTION
    Written for Azure Automation (PowerShell 7.4 runtime) and for any scheduler (cron, a systemd timer, Task
    Scheduler): it never prompts, writes one object per stopped workload to the output stream, says what it does in
    the verbose stream when -DetailedLog is given, and ends with an error (a failed job, a non-zero exit code) whose
    first word is the GridAutomation error id when something fails.

    Stop-GridWorkload's default stop deallocates on Azure (as Stop-AzVM does) and shuts the guest down elsewhere.

    Registrations come from the state store. In Azure Automation the sandbox loses its files after every job, so use
    the shared PostgreSQL store: set the Automation variables or the environment GRIDAUTOMATION_STATE_STORE=PostgreSql
    and GRIDAUTOMATION_STATE_CONNECTION (docs/state-store.md). Secrets are never stored: datacenters that need a
    credential are reconnected from Automation credential assets named in -CredentialName, and Azure datacenters with
    the Automation account's managed identity when -ManagedIdentity is given.

.PARAMETER Tag
    The tag that marks the workloads to stop, as name=value.

.PARAMETER Datacenter
    Datacenters to look in (wildcards); all registered ones by default.

.PARAMETER CredentialName
    datacenter=asset pairs: the datacenter is reconnected with Get-AutomationPSCredential -Name asset
    (PowerShell 7 runbooks cannot take PSCredential parameters).

.PARAMETER ManagedIdentity
    Reconnect every Azure datacenter with the Automation account's managed identity.

.PARAMETER DetailedLog
    Write verbose records (turn on "Log verbose records" in the runbook's logging settings to keep them).

.EXAMPLE
    ./Stop-GridDevWorkloads.ps1 -Tag env=dev -DetailedLog
#>
param(
    [string] $Tag = 'env=dev',
    [string[]] $Datacenter = @('*'),
    [string[]] $CredentialName = @(),
    [switch] $ManagedIdentity,
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

$tagName, $tagValue = $Tag -split '=', 2
if (-not $tagName -or $null -eq $tagValue) {
    throw [System.Management.Automation.ErrorRecord]::new([System.ArgumentException]::new("-Tag must be name=value, not '$Tag'."), 'RunbookInvalidTag', 'InvalidArgument', $Tag)
}

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

$running = @(Get-GridWorkload -Datacenter $Datacenter -State Running -Tag @{ $tagName = $tagValue })
Write-Verbose ("{0} running workload(s) tagged {1}={2} in datacenter(s) {3}." -f $running.Count, $tagName, $tagValue, ($Datacenter -join ', '))
if ($running.Count -gt 0) {
    $running | Stop-GridWorkload -Confirm:$false -PassThru | Select-Object Name, Datacenter, Provider, State
}
