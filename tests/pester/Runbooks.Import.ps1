# Run by Runbooks.Tests.ps1 as a runbook would be: imports GridAutomation by name (from PSModulePath) and says from where.
$ErrorActionPreference = 'Stop'
Import-Module GridAutomation
'BASE=' + (Get-Module GridAutomation).ModuleBase
'COMMANDS=' + @(Get-Command -Module GridAutomation).Count
