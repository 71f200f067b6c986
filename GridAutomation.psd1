#
# GridAutomation module manifest.
#
# The same file serves the repository root (after `./build.ps1 -Task Build`) and the packaged module
# (out/GridAutomation/<version>/): both have this flat layout beside it:
#   GridAutomation.Loader.dll   private AssemblyLoadContext over Dependencies/ (imported FIRST, as a nested module)
#   GridAutomation.dll          the cmdlets (net8.0)
#   Dependencies/               GridAutomation.Core, GridAutomation.Provider.*, Polly, SQLite, SDKs, runtimes/<rid>/native/
#   Desktop/                    the same for Windows PowerShell 5.1 (netstandard2.0 build; built, not tested here)
#   en-US/                      GridAutomation.dll-Help.xml (generated), about_GridAutomation.help.txt
#
@{
    RootModule             = if ($PSEdition -eq 'Desktop') { 'Desktop/GridAutomation.dll' } else { 'GridAutomation.dll' }
    # The loader must be imported before the cmdlet assembly: its IModuleAssemblyInitializer installs the resolver
    # that hands GridAutomation.Core (and everything it needs) out of the private Dependencies/ folder.
    NestedModules          = if ($PSEdition -eq 'Desktop') { @('Desktop/GridAutomation.Loader.dll', 'GridAutomation.Dsc.psm1') } else { @('GridAutomation.Loader.dll', 'GridAutomation.Dsc.psm1') }
    ModuleVersion          = '0.1.0'
    GUID                   = '6d78f0cf-e318-4932-9e46-d88aa2d9596e'
    Author                 = 'GridAutomation contributors'
    CompanyName            = 'GridAutomation contributors'
    Copyright              = '(c) GridAutomation contributors.'
    Description            = 'One resource model over on-prem hypervisors (vSphere, KVM/libvirt, XenServer/XCP-ng) and clouds (AWS EC2, Azure): datacenters, hosts, sizes, images and workloads, with a journal of every change and an embedded simulator.'
    PowerShellVersion      = '5.1'
    CompatiblePSEditions   = @('Desktop', 'Core')
    DotNetFrameworkVersion = '4.7.2'
    FormatsToProcess       = @('GridAutomation.Format.ps1xml')
    TypesToProcess         = @('GridAutomation.Types.ps1xml')
    FunctionsToExport      = @()
    CmdletsToExport        = @(
        'Connect-GridDatacenter'
        'Get-GridDatacenter'
        'Disconnect-GridDatacenter'
        'Unregister-GridDatacenter'
        'Get-GridHost'
        'Get-GridSize'
        'Get-GridImage'
        'Get-GridWorkload'
        'New-GridWorkload'
        'Start-GridWorkload'
        'Stop-GridWorkload'
        'Restart-GridWorkload'
        'Suspend-GridWorkload'
        'Remove-GridWorkload'
        'Set-GridWorkload'
        'Move-GridWorkload'
        'Get-GridOperation'
        'Resume-GridOperation'
        'Get-GridConfiguration'
        'Set-GridConfiguration'
        'Test-GridState'
        'Connect-GridState'
        'Copy-GridState'
        'Test-GridMove'
        'New-GridAgreement'
        'Get-GridAgreement'
        'Set-GridAgreement'
        'Remove-GridAgreement'
        'New-GridPool'
        'Get-GridPool'
        'Set-GridPool'
        'Remove-GridPool'
        'Get-GridPlacement'
        'Update-GridUsage'
        'Get-GridUsage'
        'Export-GridUsage'
        'Set-GridRateCard'
        'Get-GridRateCard'
        'Remove-GridRateCard'
        'Enable-GridReplication'
        'Sync-GridReplication'
        'Get-GridReplication'
        'Get-GridRecoveryPoint'
        'Disable-GridReplication'
        'Start-GridFailover'
        'Stop-GridFailover'
        'Complete-GridFailover'
        'New-GridRecoveryPlan'
        'Get-GridRecoveryPlan'
        'Set-GridRecoveryPlan'
        'Remove-GridRecoveryPlan'
    )
    # Class-based DSC resources (GridAutomation.Dsc.psm1; docs/dsc.md).
    DscResourcesToExport   = @('GridDatacenter', 'GridWorkload', 'GridAgreement', 'GridReplication')
    VariablesToExport      = @()
    AliasesToExport        = @()
    PrivateData            = @{
        PSData = @{
            Tags         = @('GridAutomation', 'Hypervisor', 'VirtualMachine', 'vSphere', 'libvirt', 'KVM', 'Xen', 'XenServer', 'XCP-ng', 'AWS', 'EC2', 'Azure', 'Cloud', 'Inventory', 'PSEdition_Core', 'PSEdition_Desktop', 'Windows', 'Linux', 'MacOS')
            ReleaseNotes = 'First release: resource model, provider contract, embedded simulator, SQLite state store and operation journal, DSC resources. PowerShell 7 needs 7.4 or later (.NET 8): in Azure Automation choose the 7.4 runtime; the 7.2 runtime runs .NET 6 and cannot load this module.'
        }
    }
}
