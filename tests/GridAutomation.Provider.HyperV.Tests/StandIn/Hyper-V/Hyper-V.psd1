# The tests' stand-in for Microsoft's Hyper-V module (see Hyper-V.psm1 and HyperVTypes.cs for what it models and
# where each shape comes from). Never install it next to the real module.
@{
    RootModule        = 'Hyper-V.psm1'
    ModuleVersion     = '2.0.0'
    GUID              = 'b7c2a9f1-5f0e-4c8e-9a51-6a2f0d7e3c11'
    Author            = 'GridAutomation tests'
    Description       = 'Test stand-in for the Hyper-V module: VM state in a JSON file per host, objects shaped like Hyper-V''s.'
    PowerShellVersion = '7.4'
    FunctionsToExport = @('Get-VM', 'Get-VMHost', 'New-VM', 'Start-VM', 'Stop-VM', 'Restart-VM', 'Save-VM', 'Suspend-VM',
        'Resume-VM', 'Remove-VM', 'Remove-VMSavedState', 'Set-VM', 'Set-VMProcessor', 'Set-VMMemory', 'Compare-VM', 'Move-VM', 'Get-VHD')
    CmdletsToExport   = @()
    AliasesToExport   = @()
    VariablesToExport = @()
}
