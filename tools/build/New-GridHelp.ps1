<#
.SYNOPSIS
    Generates the MAML help file (en-US/GridAutomation.dll-Help.xml) of the built module.

.DESCRIPTION
    Structure from the compiled cmdlets (Get-Command metadata of the imported module): parameter names, types,
    parameter sets, position, mandatory, pipeline input, aliases, wildcards, output types.
    Prose from docs/cmdlets/<Cmdlet>.md, parsed with Markdig (loaded by path into its own AssemblyLoadContext, since
    PowerShell carries an older Markdig of the same assembly name). The markdown format is in docs/cmdlets/README.md.
    Started by build.ps1 in a child pwsh.
#>
param(
    [Parameter(Mandatory)][string] $ModuleManifest,
    [Parameter(Mandatory)][string] $DocsPath,
    [Parameter(Mandatory)][string] $OutFile,
    [Parameter(Mandatory)][string] $MarkdigPath
)
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

# ---- markdown -> sections -------------------------------------------------------------------------------------------

$alc = [System.Runtime.Loader.AssemblyLoadContext]::new('GridAutomation.HelpGen.Markdig', $false)
$markdig = $alc.LoadFromAssemblyPath($MarkdigPath)
$MarkdownType = $markdig.GetType('Markdig.Markdown', $true)
$Pipeline = $markdig.GetType('Markdig.MarkdownPipelineBuilder', $true)::new().Build()

function ConvertTo-PlainText($inline) {
    # Markdig inlines -> plain text (emphasis dropped, code spans kept verbatim, links as their text).
    $sb = [System.Text.StringBuilder]::new()
    $node = $inline
    while ($null -ne $node) {
        switch ($node.GetType().Name) {
            'LiteralInline' { [void]$sb.Append($node.Content.ToString()) }
            'CodeInline' { [void]$sb.Append($node.Content) }
            'LineBreakInline' { [void]$sb.Append($(if ($node.IsHard) { "`n" } else { ' ' })) }
            'AutolinkInline' { [void]$sb.Append($node.Url) }
            'HtmlInline' { }
            'HtmlEntityInline' { [void]$sb.Append($node.Transcoded.ToString()) }
            default {
                if ($node.PSObject.Properties['FirstChild']) { [void]$sb.Append((ConvertTo-PlainText $node.FirstChild)) }
            }
        }
        $node = $node.NextSibling
    }
    return $sb.ToString()
}

function Get-BlockParagraphs($block) {
    # A content block -> its paragraphs, written to the pipeline one string each. List items become "- item".
    switch ($block.GetType().Name) {
        'ParagraphBlock' { (ConvertTo-PlainText $block.Inline.FirstChild).Trim() }
        'ListBlock' {
            foreach ($item in $block) {
                $text = (@(foreach ($child in $item) { Get-BlockParagraphs $child }) -join ' ').Trim()
                "- $text"
            }
        }
        'QuoteBlock' { foreach ($child in $block) { Get-BlockParagraphs $child } }
        'ThematicBreakBlock' { }
        'HtmlBlock' { }
        'LinkReferenceDefinitionGroup' { }
        default { if ($block.PSObject.Properties['Lines']) { $block.Lines.ToString().Trim() } }
    }
}

function Read-CmdletDoc([string] $Path) {
    $text = Get-Content -Raw -Path $Path
    $doc = $MarkdownType::Parse($text, $Pipeline)
    $d = [ordered]@{ Title = $null; Synopsis = @(); Description = @(); Examples = [Collections.Generic.List[object]]::new()
        Parameters = [ordered]@{}; Inputs = [Collections.Generic.List[object]]::new(); Outputs = [Collections.Generic.List[object]]::new()
        Notes = @(); Links = [Collections.Generic.List[object]]::new()
    }
    $section = $null; $current = $null
    foreach ($block in $doc) {
        $kind = $block.GetType().Name
        if ($kind -eq 'HeadingBlock') {
            $heading = (ConvertTo-PlainText $block.Inline.FirstChild).Trim()
            switch ($block.Level) {
                1 { $d.Title = $heading; $section = $null; $current = $null }
                2 { $section = $heading.ToUpperInvariant(); $current = $null }
                default {
                    switch ($section) {
                        'EXAMPLES' { $current = [ordered]@{ Title = $heading; Code = @(); Remarks = @() }; $d.Examples.Add($current) }
                        'PARAMETERS' { $name = $heading.TrimStart('-').Trim(); $current = [Collections.Generic.List[string]]::new(); $d.Parameters[$name] = $current }
                        { $_ -in 'INPUTS', 'OUTPUTS' } {
                            $current = [ordered]@{ Type = $heading; Description = @() }
                            if ($section -eq 'INPUTS') { $d.Inputs.Add($current) } else { $d.Outputs.Add($current) }
                        }
                        default { $current = $null }
                    }
                }
            }
            continue
        }
        if ($kind -in 'FencedCodeBlock', 'CodeBlock') {
            $code = $block.Lines.ToString().TrimEnd()
            if ($section -eq 'EXAMPLES' -and $null -ne $current) { $current.Code += $code }
            elseif ($section -eq 'DESCRIPTION') { $d.Description += $code }
            continue
        }
        $paras = @(Get-BlockParagraphs $block | Where-Object { $_ })
        switch ($section) {
            'SYNOPSIS' { $d.Synopsis += $paras }
            'DESCRIPTION' { $d.Description += $paras }
            'EXAMPLES' { if ($null -ne $current) { $current.Remarks += $paras } }
            'PARAMETERS' { if ($null -ne $current) { foreach ($p in $paras) { $current.Add([string]$p) } } }
            { $_ -in 'INPUTS', 'OUTPUTS' } { if ($null -ne $current) { $current.Description += $paras } }
            'NOTES' { $d.Notes += $paras }
            'RELATED LINKS' {
                foreach ($p in $paras) {
                    $t = $p -replace '^- ', ''
                    $d.Links.Add([ordered]@{ Text = $t; Uri = $(if ($t -match '^https?://\S+$') { $t } else { '' }) })
                }
            }
        }
        # Links in RELATED LINKS keep their URL: read them from the inlines directly.
        if ($section -eq 'RELATED LINKS' -and $kind -eq 'ListBlock') {
            $d.Links.Clear()
            foreach ($item in $block) {
                foreach ($child in $item) {
                    if ($child.GetType().Name -ne 'ParagraphBlock') { continue }
                    $link = $child.Inline.FirstChild
                    if ($link -and $link.GetType().Name -eq 'LinkInline') {
                        $d.Links.Add([ordered]@{ Text = (ConvertTo-PlainText $link.FirstChild).Trim(); Uri = $(if ($link.Url -match '^https?://') { $link.Url } else { '' }) })
                    }
                    else { $d.Links.Add([ordered]@{ Text = (ConvertTo-PlainText $child.Inline.FirstChild).Trim(); Uri = '' }) }
                }
            }
        }
    }
    return $d
}

# ---- cmdlet metadata -> MAML ----------------------------------------------------------------------------------------

$module = Import-Module $ModuleManifest -PassThru -Force
$commands = @(Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name)
$common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters

function Get-TypeName([type] $Type) {
    $t = $Type
    $u = [Nullable]::GetUnderlyingType($t); if ($u) { $t = $u }
    if ($t.IsArray) { return (Get-TypeName $t.GetElementType()) + '[]' }
    if ($t.IsGenericType) {
        $n = $t.Name -replace '`\d+$', ''
        return "$n[$((@($t.GetGenericArguments() | ForEach-Object { Get-TypeName $_ })) -join ',')]"
    }
    return $t.Name
}

function Get-PipelineText([bool] $ByValue, [bool] $ByName) {
    if ($ByValue -and $ByName) { return 'True (ByValue, ByPropertyName)' }
    if ($ByValue) { return 'True (ByValue)' }
    if ($ByName) { return 'True (ByPropertyName)' }
    return 'False'
}

$ns = @{
    maml = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev = 'http://schemas.microsoft.com/maml/dev/2004/10'
    MSHelp = 'http://msdn.microsoft.com/mshelp'
}
$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$null = New-Item -ItemType Directory -Force (Split-Path $OutFile)
$w = [System.Xml.XmlWriter]::Create($OutFile, $settings)

function Write-Paras([string] $Element, [string[]] $Paras) {
    $w.WriteStartElement('maml', $Element, $ns.maml)
    foreach ($p in @($Paras | Where-Object { $_ })) { $w.WriteElementString('maml', 'para', $ns.maml, $p) }
    if (-not @($Paras | Where-Object { $_ })) { $w.WriteElementString('maml', 'para', $ns.maml, '') }
    $w.WriteEndElement()
}

function Write-Type([string] $Name) {
    $w.WriteStartElement('dev', 'type', $ns.dev)
    $w.WriteElementString('maml', 'name', $ns.maml, $Name)
    $w.WriteElementString('maml', 'uri', $ns.maml, '')
    $w.WriteEndElement()
}

function Write-Parameter($Param, [string] $Required, [string] $Position, [string] $Pipeline, [string[]] $Description) {
    $isSwitch = $Param.ParameterType -eq [switch]
    $globbing = [bool]@($Param.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
    $w.WriteStartElement('command', 'parameter', $ns.command)
    $w.WriteAttributeString('required', $Required)
    $w.WriteAttributeString('variableLength', $(if ($Param.ParameterType.IsArray) { 'true' } else { 'false' }))
    $w.WriteAttributeString('globbing', $globbing.ToString().ToLowerInvariant())
    $w.WriteAttributeString('pipelineInput', $Pipeline)
    $w.WriteAttributeString('position', $Position)
    $w.WriteAttributeString('aliases', $(if ($Param.Aliases.Count) { $Param.Aliases -join ', ' } else { 'none' }))
    $w.WriteElementString('maml', 'name', $ns.maml, $Param.Name)
    Write-Paras 'description' $Description
    $typeName = Get-TypeName $Param.ParameterType
    if (-not $isSwitch) {
        $w.WriteStartElement('command', 'parameterValue', $ns.command)
        $w.WriteAttributeString('required', 'true')
        $w.WriteAttributeString('variableLength', $(if ($Param.ParameterType.IsArray) { 'true' } else { 'false' }))
        $w.WriteString($typeName)
        $w.WriteEndElement()
    }
    else {
        $w.WriteStartElement('command', 'parameterValue', $ns.command)
        $w.WriteAttributeString('required', 'false'); $w.WriteAttributeString('variableLength', 'false')
        $w.WriteString('SwitchParameter'); $w.WriteEndElement()
    }
    Write-Type $typeName
    $w.WriteElementString('dev', 'defaultValue', $ns.dev, $(if ($isSwitch) { 'False' } else { 'None' }))
    $w.WriteEndElement()
}

$warnings = 0
$w.WriteStartDocument()
$w.WriteStartElement('helpItems', 'http://msh')
$w.WriteAttributeString('schema', 'maml')
foreach ($cmd in $commands) {
    $docPath = Join-Path $DocsPath "$($cmd.Name).md"
    $doc = if (Test-Path $docPath) { Read-CmdletDoc $docPath } else { $null }
    if (-not $doc) { Write-Warning "No docs/cmdlets/$($cmd.Name).md: help for $($cmd.Name) has no prose."; $warnings++ }
    elseif ($doc.Title -and $doc.Title -ne $cmd.Name) { Write-Warning "$($cmd.Name).md: its title is '$($doc.Title)'."; $warnings++ }
    $params = @($cmd.Parameters.Values | Where-Object { $_.Name -notin $common })
    if ($doc) {
        foreach ($n in $doc.Parameters.Keys) {
            if ($n -notin @($params | ForEach-Object Name)) { Write-Warning "$($cmd.Name).md documents -$n, which the cmdlet does not have (a dynamic parameter is documented in DESCRIPTION)."; $warnings++ }
        }
        foreach ($p in $params) { if (-not $doc.Parameters.Contains($p.Name)) { Write-Warning "$($cmd.Name).md does not document -$($p.Name)."; $warnings++ } }
    }
    $describe = { param($name) if ($doc -and $doc.Parameters.Contains($name)) { @($doc.Parameters[$name]) } else { @() } }

    $w.WriteStartElement('command', 'command', $ns.command)
    foreach ($k in 'maml', 'command', 'dev', 'MSHelp') { $w.WriteAttributeString('xmlns', $k, $null, $ns[$k]) }
    $w.WriteStartElement('command', 'details', $ns.command)
    $w.WriteElementString('command', 'name', $ns.command, $cmd.Name)
    $w.WriteElementString('command', 'verb', $ns.command, $cmd.Verb)
    $w.WriteElementString('command', 'noun', $ns.command, $cmd.Noun)
    Write-Paras 'description' $(if ($doc) { $doc.Synopsis } else { @() })
    $w.WriteEndElement()
    Write-Paras 'description' $(if ($doc) { $doc.Description } else { @() })

    # Syntax: one item per parameter set, with that set's position/mandatory/pipeline for each parameter.
    $w.WriteStartElement('command', 'syntax', $ns.command)
    foreach ($set in $cmd.ParameterSets) {
        $w.WriteStartElement('command', 'syntaxItem', $ns.command)
        $w.WriteElementString('maml', 'name', $ns.maml, $cmd.Name)
        $setParams = @($set.Parameters | Where-Object { $_.Name -notin $common } |
                Sort-Object @{ e = { if ($_.Position -ge 0) { $_.Position } else { [int]::MaxValue } } }, @{ e = { -not $_.IsMandatory } })
        foreach ($sp in $setParams) {
            $param = $cmd.Parameters[$sp.Name]
            Write-Parameter $param $sp.IsMandatory.ToString().ToLowerInvariant() $(if ($sp.Position -ge 0) { "$($sp.Position)" } else { 'named' }) (Get-PipelineText $sp.ValueFromPipeline $sp.ValueFromPipelineByPropertyName) (& $describe $sp.Name)
        }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    # Parameters: documented order first, then the rest by name. Values that differ between sets are summed up.
    $w.WriteStartElement('command', 'parameters', $ns.command)
    $ordered = @()
    if ($doc) { $ordered += @($doc.Parameters.Keys | ForEach-Object { $n = $_; $params | Where-Object Name -eq $n }) }
    $orderedNames = @($ordered | ForEach-Object Name)
    $ordered += @($params | Where-Object { $_.Name -notin $orderedNames } | Sort-Object Name)
    foreach ($param in $ordered) {
        $sets = @($param.ParameterSets.Values)
        $mandatory = @($sets | Where-Object IsMandatory).Count -eq $sets.Count -and $sets.Count -gt 0
        $positions = @($sets | ForEach-Object Position | Where-Object { $_ -ge 0 } | Sort-Object -Unique)
        $byValue = [bool]@($sets | Where-Object ValueFromPipeline); $byName = [bool]@($sets | Where-Object ValueFromPipelineByPropertyName)
        Write-Parameter $param $mandatory.ToString().ToLowerInvariant() $(if ($positions.Count -eq 1) { "$($positions[0])" } else { 'named' }) (Get-PipelineText $byValue $byName) (& $describe $param.Name)
    }
    $w.WriteEndElement()

    # Inputs: the markdown's INPUTS, else the types that bind from the pipeline.
    $w.WriteStartElement('command', 'inputTypes', $ns.command)
    $inputs = @()
    if ($doc -and $doc.Inputs.Count) { $inputs = @($doc.Inputs) }
    else {
        $inputs = @($params | Where-Object { @($_.ParameterSets.Values | Where-Object { $_.ValueFromPipeline -or $_.ValueFromPipelineByPropertyName }).Count } |
                ForEach-Object { $byValue = @($_.ParameterSets.Values | Where-Object ValueFromPipeline).Count
                    [ordered]@{ Type = $_.ParameterType.FullName; Description = @("$(if ($byValue) { 'By value' } else { 'By property name' }): -$($_.Name)") } })
    }
    if (-not $inputs) { $inputs = @([ordered]@{ Type = 'None'; Description = @() }) }
    foreach ($i in $inputs) {
        $w.WriteStartElement('command', 'inputType', $ns.command); Write-Type $i.Type; Write-Paras 'description' $i.Description; $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteStartElement('command', 'returnValues', $ns.command)
    $outputs = @()
    if ($doc -and $doc.Outputs.Count) { $outputs = @($doc.Outputs) }
    else { $outputs = @($cmd.OutputType | ForEach-Object { [ordered]@{ Type = $_.Name; Description = @() } }) }
    if (-not $outputs) { $outputs = @([ordered]@{ Type = 'None'; Description = @() }) }
    foreach ($o in $outputs) {
        $w.WriteStartElement('command', 'returnValue', $ns.command); Write-Type $o.Type; Write-Paras 'description' $o.Description; $w.WriteEndElement()
    }
    $w.WriteEndElement()
    if ($doc -and $doc.Notes) {
        $w.WriteStartElement('maml', 'alertSet', $ns.maml); $w.WriteStartElement('maml', 'alert', $ns.maml)
        foreach ($p in $doc.Notes) { $w.WriteElementString('maml', 'para', $ns.maml, $p) }
        $w.WriteEndElement(); $w.WriteEndElement()
    }

    $w.WriteStartElement('command', 'examples', $ns.command)
    if ($doc) {
        if (-not $doc.Examples.Count) { Write-Warning "$($cmd.Name).md has no example."; $warnings++ }
        foreach ($ex in $doc.Examples) {
            $w.WriteStartElement('command', 'example', $ns.command)
            $w.WriteElementString('maml', 'title', $ns.maml, "-------------------------- $($ex.Title) --------------------------")
            $w.WriteElementString('dev', 'code', $ns.dev, ($ex.Code -join "`n`n"))
            $w.WriteStartElement('dev', 'remarks', $ns.dev)
            foreach ($p in @($ex.Remarks)) { $w.WriteElementString('maml', 'para', $ns.maml, $p) }
            $w.WriteEndElement()
            $w.WriteEndElement()
        }
    }
    $w.WriteEndElement()
    $w.WriteStartElement('command', 'relatedLinks', $ns.command)
    if ($doc) {
        foreach ($l in $doc.Links) {
            $w.WriteStartElement('maml', 'navigationLink', $ns.maml)
            $w.WriteElementString('maml', 'linkText', $ns.maml, $l.Text)
            $w.WriteElementString('maml', 'uri', $ns.maml, $l.Uri)
            $w.WriteEndElement()
        }
    }
    $w.WriteEndElement()
    $w.WriteEndElement() # command:command
}
$w.WriteEndElement()
$w.WriteEndDocument()
$w.Close()
$documented = @($commands | Where-Object { Test-Path (Join-Path $DocsPath "$($_.Name).md") }).Count
Write-Host ("    {0}: {1} cmdlet(s), {2} with docs/cmdlets markdown, {3} warning(s)" -f (Split-Path -Leaf $OutFile), $commands.Count, $documented, $warnings)
