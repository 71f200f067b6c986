# Conformance of EVERY exported cmdlet: approved verb, ShouldProcess with the right impact on every changing cmdlet,
# -Force/-PassThru/-AsJob conventions, pipeline binding, help (markdown and Get-Help) with synopsis and example.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name conformance
    $script:Cmdlets = @(Get-Command -Module GridAutomation -CommandType Cmdlet | ForEach-Object { @{ Name = $_.Name } })
    # Get-* and Test-* (Test-GridState checks the state file) change nothing.
    $script:Changing = @($script:Cmdlets | Where-Object { $_.Name -notlike 'Get-*' -and $_.Name -notlike 'Test-*' })
    $script:WorkloadChanging = @('Start-GridWorkload', 'Stop-GridWorkload', 'Restart-GridWorkload', 'Suspend-GridWorkload',
        'Remove-GridWorkload', 'Set-GridWorkload', 'Move-GridWorkload') | ForEach-Object { @{ Name = $_ } }
    $script:Long = @('New-GridWorkload') + ($script:WorkloadChanging | ForEach-Object { $_.Name }) | ForEach-Object { @{ Name = $_ } }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name conformance
    $script:DocsDir = Join-Path (Get-RepoRoot) 'docs/cmdlets'
    $script:Common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
    $script:ExpectedImpact = @{
        'Remove-GridWorkload' = 'High'; 'Unregister-GridDatacenter' = 'High'
        'Stop-GridWorkload' = 'Medium'; 'Restart-GridWorkload' = 'Medium'; 'Suspend-GridWorkload' = 'Medium'
        'Move-GridWorkload' = 'Medium'; 'Set-GridWorkload' = 'Medium'; 'Set-GridConfiguration' = 'Medium'; 'Resume-GridOperation' = 'Medium'
        'New-GridWorkload' = 'Low'; 'Start-GridWorkload' = 'Low'; 'Connect-GridDatacenter' = 'Low'; 'Disconnect-GridDatacenter' = 'Low'
        'Connect-GridState' = 'Low'; 'Copy-GridState' = 'Medium'
        'New-GridAgreement' = 'Low'; 'Set-GridAgreement' = 'Medium'; 'Remove-GridAgreement' = 'High'
        'New-GridPool' = 'Low'; 'Set-GridPool' = 'Medium'; 'Remove-GridPool' = 'Medium'
        'Set-GridRateCard' = 'Medium'; 'Remove-GridRateCard' = 'High'; 'Update-GridUsage' = 'Low'; 'Export-GridUsage' = 'Low'
        'Enable-GridReplication' = 'Low'; 'Sync-GridReplication' = 'Low'; 'Disable-GridReplication' = 'High'
        'Start-GridFailover' = 'High'; 'Stop-GridFailover' = 'Medium'; 'Complete-GridFailover' = 'Medium'
        'New-GridRecoveryPlan' = 'Low'; 'Set-GridRecoveryPlan' = 'Medium'; 'Remove-GridRecoveryPlan' = 'Medium'
    }
    function Get-CmdletAttribute([string] $Name) {
        (Get-Command $Name).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $true) | Select-Object -First 1
    }
    function Get-ParamAttributes([string] $Cmd, [string] $Param) {
        (Get-Command $Cmd).Parameters[$Param].Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] }
    }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'The module' {
    It 'exports the 20 cmdlets of the foundation issue' {
        $names = (Get-Command -Module GridAutomation -CommandType Cmdlet).Name
        foreach ($n in 'Connect-GridDatacenter', 'Get-GridDatacenter', 'Disconnect-GridDatacenter', 'Unregister-GridDatacenter',
            'Get-GridHost', 'Get-GridSize', 'Get-GridImage', 'Get-GridWorkload', 'New-GridWorkload', 'Start-GridWorkload',
            'Stop-GridWorkload', 'Restart-GridWorkload', 'Suspend-GridWorkload', 'Remove-GridWorkload', 'Set-GridWorkload',
            'Move-GridWorkload', 'Get-GridOperation', 'Resume-GridOperation', 'Get-GridConfiguration', 'Set-GridConfiguration') {
            $names | Should -Contain $n
        }
    }
}

Describe 'Every cmdlet: <Name>' -ForEach $script:Cmdlets {
    It 'uses an approved verb' {
        (Get-Verb).Verb | Should -Contain ($Name -split '-')[0]
    }

    It 'has a help markdown file with title, synopsis, description and an example' {
        $file = Join-Path $script:DocsDir "$Name.md"
        $file | Should -Exist
        $text = Get-Content $file -Raw
        $text | Should -Match "(?m)^# $([regex]::Escape($Name))\s*$"
        $text | Should -Match '(?m)^## SYNOPSIS\s*\r?\n\s*\S'
        $text | Should -Match '(?m)^## DESCRIPTION\s*\r?\n\s*\S'
        $text | Should -Match '(?m)^### Example 1: .+\r?\n```powershell\r?\n.*\S'
    }

    It 'describes every one of its parameters in the markdown' {
        $text = Get-Content (Join-Path $script:DocsDir "$Name.md") -Raw
        $params = (Get-Command $Name).Parameters.Keys | Where-Object { $script:Common -notcontains $_ }
        foreach ($p in $params) { $text | Should -Match "(?m)^### -$p\s*$" -Because "-$p of $Name must be described" }
    }

    It 'shows the synopsis and an example through Get-Help' {
        $help = Get-Help $Name -Full
        $synopsis = "$($help.Synopsis)".Trim()
        if ($synopsis -like "$Name *" -or $synopsis -like '*`[*') {
            # Only the generated syntax: the MAML help (en-US/GridAutomation.dll-Help.xml, made by build.ps1) is not there.
            if (Test-RequireAll) { throw "Get-Help $Name shows no synopsis: build the help with ./build.ps1 -Task Build." }
            Set-ItResult -Skipped -Because 'the MAML help file is not built (./build.ps1 -Task Build makes it)'
            return
        }
        $synopsis | Should -Not -BeNullOrEmpty
        @($help.examples.example).Count | Should -BeGreaterThan 0
        "$(@($help.examples.example)[0].code)" | Should -Match '\S'
    }

    It 'gives -Force only to changing cmdlets' {
        if ($Name -like 'Get-*') { (Get-Command $Name).Parameters.ContainsKey('Force') | Should -BeFalse }
    }
}

Describe 'Changing cmdlet: <Name>' -ForEach $script:Changing {
    It 'supports ShouldProcess (-WhatIf and -Confirm)' {
        $attr = Get-CmdletAttribute $Name
        $attr.SupportsShouldProcess | Should -BeTrue
        (Get-Command $Name).Parameters.Keys | Should -Contain 'WhatIf'
        (Get-Command $Name).Parameters.Keys | Should -Contain 'Confirm'
    }

    It 'declares the ConfirmImpact of its kind' {
        $script:ExpectedImpact.ContainsKey($Name) | Should -BeTrue -Because "$Name needs an expected impact in this test"
        (Get-CmdletAttribute $Name).ConfirmImpact.ToString() | Should -Be $script:ExpectedImpact[$Name]
    }

    It 'has -Force (do not ask)' {
        (Get-Command $Name).Parameters.Keys | Should -Contain 'Force'
        (Get-Command $Name).Parameters['Force'].ParameterType | Should -Be ([switch])
    }

    It 'returns nothing by default: New- returns the object, the others only with -PassThru' {
        $keys = (Get-Command $Name).Parameters.Keys
        # New- returns what it made; Remove-/Unregister-/Disconnect- return nothing; Update-GridUsage's output is its
        # report of what it recorded (as Test-GridState's is), Start-GridFailover's its report (RTO, data loss per
        # workload), so none of them has -PassThru.
        if ($Name -like 'New-*' -or $Name -like 'Remove-*' -or $Name -in 'Connect-GridDatacenter', 'Connect-GridState', 'Copy-GridState', 'Unregister-GridDatacenter', 'Disconnect-GridDatacenter', 'Update-GridUsage', 'Start-GridFailover') {
            $keys | Should -Not -Contain 'PassThru'
        }
        else { $keys | Should -Contain 'PassThru' }
    }
}

Describe 'Workload-changing cmdlet: <Name>' -ForEach $script:WorkloadChanging {
    It 'takes workload objects from the pipeline by value' {
        $a = Get-ParamAttributes $Name 'InputObject'
        ($a | Where-Object ValueFromPipeline) | Should -Not -BeNullOrEmpty
        (Get-Command $Name).Parameters['InputObject'].ParameterType | Should -Be ([GridAutomation.Core.Model.GridWorkload[]])
    }

    It 'takes Id, Name and Datacenter from the pipeline by property name' {
        foreach ($p in 'Id', 'Name', 'Datacenter') {
            (Get-ParamAttributes $Name $p | Where-Object ValueFromPipelineByPropertyName) | Should -Not -BeNullOrEmpty -Because "-$p binds by property name"
        }
    }

    It 'accepts wildcards in -Name' {
        (Get-Command $Name).Parameters['Name'].Attributes.TypeId.Name | Should -Contain 'SupportsWildcardsAttribute'
    }

    It 'completes -Name, -Id and -Datacenter with Tab' {
        foreach ($p in 'Name', 'Id', 'Datacenter') {
            (Get-Command $Name).Parameters[$p].Attributes | Where-Object { $_ -is [System.Management.Automation.ArgumentCompleterAttribute] } |
                Should -Not -BeNullOrEmpty -Because "-$p has an argument completer"
        }
    }
}

Describe 'Long cmdlet: <Name>' -ForEach $script:Long {
    It 'takes -AsJob' {
        (Get-Command $Name).Parameters.Keys | Should -Contain 'AsJob'
    }
}

Describe 'Parameters that name things complete with Tab' {
    It '<Cmd> -<Param> has an argument completer' -ForEach @(
        @{ Cmd = 'Connect-GridDatacenter'; Param = 'Provider' }
        @{ Cmd = 'Get-GridWorkload'; Param = 'Datacenter' }
        @{ Cmd = 'Get-GridWorkload'; Param = 'Name' }
        @{ Cmd = 'Get-GridWorkload'; Param = 'Id' }
        @{ Cmd = 'New-GridWorkload'; Param = 'Size' }
        @{ Cmd = 'New-GridWorkload'; Param = 'Image' }
        @{ Cmd = 'New-GridWorkload'; Param = 'TargetHost' }
        @{ Cmd = 'New-GridWorkload'; Param = 'Datacenter' }
        @{ Cmd = 'Move-GridWorkload'; Param = 'DestinationHost' }
        @{ Cmd = 'Set-GridWorkload'; Param = 'Size' }
        @{ Cmd = 'Resume-GridOperation'; Param = 'Id' }
        @{ Cmd = 'Get-GridOperation'; Param = 'Id' }
        @{ Cmd = 'Set-GridConfiguration'; Param = 'Name' }
    ) {
        (Get-Command $Cmd).Parameters[$Param].Attributes | Where-Object { $_ -is [System.Management.Automation.ArgumentCompleterAttribute] } |
            Should -Not -BeNullOrEmpty
    }
}

Describe 'Pipeline binding of the datacenter and operation cmdlets' {
    It 'Disconnect/Unregister-GridDatacenter take datacenter objects by value and -Name by property name' {
        foreach ($c in 'Disconnect-GridDatacenter', 'Unregister-GridDatacenter') {
            (Get-ParamAttributes $c 'InputObject' | Where-Object ValueFromPipeline) | Should -Not -BeNullOrEmpty
            (Get-ParamAttributes $c 'Name' | Where-Object ValueFromPipelineByPropertyName) | Should -Not -BeNullOrEmpty
        }
    }
    It 'Resume-GridOperation takes operation objects by value and -Id by property name' {
        (Get-ParamAttributes 'Resume-GridOperation' 'InputObject' | Where-Object ValueFromPipeline) | Should -Not -BeNullOrEmpty
        (Get-ParamAttributes 'Resume-GridOperation' 'Id' | Where-Object ValueFromPipelineByPropertyName) | Should -Not -BeNullOrEmpty
    }
    It 'the Get- cmdlets of a datacenter take -Datacenter by property name' {
        foreach ($c in 'Get-GridWorkload', 'Get-GridHost', 'Get-GridSize', 'Get-GridImage') {
            (Get-ParamAttributes $c 'Datacenter' | Where-Object ValueFromPipelineByPropertyName) | Should -Not -BeNullOrEmpty
        }
    }
}

Describe 'Output types and views' {
    It 'declares its output type: <Cmd>' -ForEach @(
        @{ Cmd = 'Get-GridWorkload'; Type = 'GridAutomation.Core.Model.GridWorkload' }
        @{ Cmd = 'New-GridWorkload'; Type = 'GridAutomation.Core.Model.GridWorkload' }
        @{ Cmd = 'Get-GridDatacenter'; Type = 'GridAutomation.Core.Model.GridDatacenter' }
        @{ Cmd = 'Get-GridHost'; Type = 'GridAutomation.Core.Model.GridHost' }
        @{ Cmd = 'Get-GridSize'; Type = 'GridAutomation.Core.Model.GridSize' }
        @{ Cmd = 'Get-GridImage'; Type = 'GridAutomation.Core.Model.GridImage' }
        @{ Cmd = 'Get-GridOperation'; Type = 'GridAutomation.Core.Model.GridOperation' }
        @{ Cmd = 'Get-GridRecoveryPlan'; Type = 'GridAutomation.Core.Replication.GridRecoveryPlan' }
        @{ Cmd = 'Start-GridFailover'; Type = 'GridAutomation.Core.Replication.GridRecoveryPlanRun' }
    ) {
        (Get-Command $Cmd).OutputType.Name | Should -Contain $Type
    }

    It 'has a default table view for <Type>' -ForEach @(
        @{ Type = 'GridAutomation.Core.Model.GridDatacenter' }
        @{ Type = 'GridAutomation.Core.Model.GridHost' }
        @{ Type = 'GridAutomation.Core.Model.GridWorkload' }
        @{ Type = 'GridAutomation.Core.Model.GridSize' }
        @{ Type = 'GridAutomation.Core.Model.GridImage' }
        @{ Type = 'GridAutomation.Core.Model.GridOperation' }
        @{ Type = 'GridAutomation.Core.Replication.GridRecoveryPlan' }
        @{ Type = 'GridAutomation.Core.Replication.GridRecoveryPlanRun' }
    ) {
        $fd = Get-FormatData -TypeName $Type
        $fd | Should -Not -BeNullOrEmpty
        $fd.FormatViewDefinition[0].Control.GetType().Name | Should -Be 'TableControl'
    }

    It 'shows a workload as Name, Datacenter, Host, State, CpuCount, MemoryGB, Size, Owner' {
        $fd = Get-FormatData -TypeName GridAutomation.Core.Model.GridWorkload
        $cols = $fd.FormatViewDefinition[0].Control.Rows[0].Columns.DisplayEntry.Value
        $cols | Should -Be @('Name', 'Datacenter', 'Host', 'State', 'CpuCount', 'MemoryGB', 'Size', 'Owner')
        # Cheap views: properties only, no script blocks.
        $fd.FormatViewDefinition[0].Control.Rows[0].Columns.DisplayEntry.ValueType | Sort-Object -Unique | Should -Be 'Property'
    }
}
