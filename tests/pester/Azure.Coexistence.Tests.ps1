# Coexistence with Az.Accounts: in ONE pwsh session another Azure.Core (as Az.Accounts loads it) sits in the default
# AssemblyLoadContext first; then GridAutomation is imported and the Azure provider is used. The provider must run
# on its own Azure.Core (Dependencies/, the module's private load context) without a load error: a connection to a
# closed loopback port must fail as the provider's own Unavailable error (AzureUnavailable), not as a
# FileLoadException / MissingMethodException / TypeLoadException.
# Needs the BUILT module with its loader (./build.ps1 -Task Build: GridAutomation.psd1, Dependencies/).

BeforeDiscovery {
    $script:IsNetCore = $PSVersionTable.PSEdition -eq 'Core'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $Root = Get-RepoRoot
    $Manifest = Get-GridModulePath
    $Deps = Join-Path $Root 'Dependencies'

    # A child pwsh like this one (as a dotnet tool this process is `dotnet pwsh.dll`): a fresh default load context.
    function Invoke-ChildPwsh([string] $Command) {
        $exe = [Environment]::ProcessPath
        $pre = @()
        if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { $pre = @(Join-Path $PSHOME 'pwsh.dll') }
        $out = & $exe @pre -NoProfile -NonInteractive -Command $Command 2>&1
        [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out | Out-String) }
    }

    # "Az.Accounts' Azure.Core": a real Azure.Core of another version from the NuGet cache (the Azure test project
    # restores Azure.Core 1.36.0 for this), else a stand-in assembly named Azure.Core built here.
    $ours = [Reflection.AssemblyName]::GetAssemblyName((Join-Path $Deps 'Azure.Core.dll')).Version
    $cache = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages' }
    $script:Other = $null
    foreach ($dir in @(Get-ChildItem (Join-Path $cache 'azure.core') -Directory -ErrorAction SilentlyContinue | Sort-Object Name)) {
        foreach ($tfm in 'net6.0', 'netstandard2.0') {
            $dll = Join-Path $dir.FullName "lib/$tfm/Azure.Core.dll"
            if ((Test-Path $dll) -and [Reflection.AssemblyName]::GetAssemblyName($dll).Version -ne $ours) { $script:Other = $dll; break }
        }
        if ($script:Other) { break }
    }
    $script:Fake = Join-Path ([IO.Path]::GetTempPath()) ("ga-azcoex-" + [guid]::NewGuid().ToString('n'))
    $null = New-Item -ItemType Directory $script:Fake
    $script:Prelude = if ($script:Other) { "`$other = [Reflection.Assembly]::LoadFrom('$($script:Other)')" }
    else {
        "Add-Type -OutputAssembly '$($script:Fake)/Azure.Core.dll' -OutputType Library -TypeDefinition '[assembly: System.Reflection.AssemblyVersion(""1.2.3.4"")] namespace Azure.Core { public class NotTheRealAzureCore {} }'`n" +
        "`$other = [Reflection.Assembly]::LoadFrom('$($script:Fake)/Azure.Core.dll')"
    }
}

AfterAll {
    Remove-Item $script:Fake -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Azure provider beside another module''s Azure.Core' -Skip:(-not $IsNetCore) {
    It 'connects through its own Azure.Core from Dependencies/ and maps the failure as its own error' {
        $state = Join-Path $script:Fake 'state.db'
        $config = Join-Path $script:Fake 'config.json'
        $script = @"
`$ErrorActionPreference = 'Continue'
$($script:Prelude)
`$env:GRIDAUTOMATION_STATE = '$state'
`$env:GRIDAUTOMATION_CONFIG = '$config'
Import-Module '$Manifest'
try {
    Connect-GridDatacenter -Provider Azure -Name coex -SubscriptionId 11111111-2222-3333-4444-555555555555 -Location westeurope -ArmEndpoint https://127.0.0.1:9/ -AccessToken 'not-a-real-token' -ErrorAction Stop | Out-Null
    'CONNECTED'
}
catch { 'ERRORID=' + `$_.FullyQualifiedErrorId; 'EXCEPTION=' + `$_.Exception.GetType().FullName }
'OTHER=' + `$other.GetName().Version + '|' + [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$other).Name
foreach (`$a in [AppDomain]::CurrentDomain.GetAssemblies()) {
    if (`$a.GetName().Name -eq 'Azure.Core' -and -not [object]::ReferenceEquals(`$a, `$other)) {
        'OURS=' + `$a.GetName().Version + '|' + [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$a).Name + '|' + `$a.Location
    }
}
"@
        $r = Invoke-ChildPwsh $script
        $r.Output | Should -Match 'ERRORID=AzureUnavailable,'
        $r.Output | Should -Match 'EXCEPTION=GridAutomation\.Core\.Model\.GridException'
        $r.Output | Should -Not -Match 'FileLoadException|MissingMethodException|TypeLoadException|InvalidCastException'
        $r.Output | Should -Match 'OTHER=\S+\|Default'
        $r.Output | Should -Match ([regex]::Escape("|$(Join-Path $Deps 'Azure.Core.dll')"))
        $r.Output | Should -Match 'OURS=\S+\|GridAutomation\|'
    }
}
