# The tests' stand-in for Microsoft's FailoverClusters module (see FailoverClusters.psm1 and ClusterTypes.cs for what
# it models and where each shape comes from). Never install it next to the real module.
@{
    RootModule        = 'FailoverClusters.psm1'
    ModuleVersion     = '2.0.0'
    GUID              = '4f1d2c7a-8e3b-4a6f-9c20-1b7e5d9a0f32'
    Author            = 'GridAutomation tests'
    Description       = 'Test stand-in for the FailoverClusters module: one cluster per fabric (cluster.json), objects shaped like Microsoft''s.'
    PowerShellVersion = '7.4'
    RequiredModules   = @('Hyper-V')
    FunctionsToExport = @('Get-Cluster', 'Get-ClusterNode', 'Get-ClusterGroup', 'Add-ClusterVirtualMachineRole', 'Move-ClusterVirtualMachineRole', 'Remove-ClusterGroup')
    CmdletsToExport   = @()
    AliasesToExport   = @()
    VariablesToExport = @()
}
