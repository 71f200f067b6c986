# "Gallery-ready": the packaged module (build.ps1 -Task Package, out/GridAutomation/<version>/) publishes to a local
# folder repository with PSResourceGet, installs from it, and the installed copy imports in a fresh pwsh and runs.
# Everything happens under a temporary HOME, so neither the user's repositories nor their modules are touched.

BeforeAll {
    $Root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    $Version = [regex]::Match((Get-Content -Raw (Join-Path $Root 'GridAutomation.psd1')), "(?m)^\s*ModuleVersion\s*=\s*'([^']+)'").Groups[1].Value
    $PackageDir = Join-Path $Root "out/GridAutomation/$Version"
    $Work = Join-Path ([IO.Path]::GetTempPath()) ("ga-package-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    $FakeHome = Join-Path $Work 'home'
    $Repo = Join-Path $Work 'repo'
    $null = New-Item -ItemType Directory -Force $FakeHome, $Repo
    # The cmdlets the manifest promises (read as text: the manifest picks Desktop/ paths by $PSEdition).
    $manifestText = Get-Content -Raw (Join-Path $PackageDir 'GridAutomation.psd1') -ErrorAction SilentlyContinue
    $Promised = @([regex]::Matches([regex]::Match("$manifestText", '(?s)CmdletsToExport\s*=\s*@\((.*?)\)').Groups[1].Value, "'([^']+)'") | ForEach-Object { $_.Groups[1].Value })

    # A fresh pwsh like this one, with HOME (hence the CurrentUser scope and PSResourceGet's repository list) in $Work.
    function Invoke-IsolatedPwsh([string] $Command) {
        $exe = [Environment]::ProcessPath
        $pre = @()
        if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { $pre = @(Join-Path $PSHOME 'pwsh.dll') }
        $saved = @{}
        foreach ($n in 'HOME', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'PSModulePath', 'USERPROFILE', 'LOCALAPPDATA', 'APPDATA') { $saved[$n] = [Environment]::GetEnvironmentVariable($n) }
        try {
            foreach ($n in 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'PSModulePath') { [Environment]::SetEnvironmentVariable($n, $null) }
            $env:HOME = $FakeHome
            if ($IsWindows) { $env:USERPROFILE = $FakeHome; $env:LOCALAPPDATA = "$FakeHome/AppData/Local"; $env:APPDATA = "$FakeHome/AppData/Roaming" }
            # Run from the temporary folder: PSResourceGet's NuGet code writes a NuGet/NuGet.Config relative to it.
            Push-Location $Work
            try { $out = & $exe @pre -NoProfile -NonInteractive -Command $Command 2>&1 } finally { Pop-Location }
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out | Out-String) }
        }
        finally { foreach ($n in $saved.Keys) { [Environment]::SetEnvironmentVariable($n, $saved[$n]) } }
    }
}

AfterAll {
    if ($Work -and (Test-Path $Work)) { Remove-Item $Work -Recurse -Force -ErrorAction SilentlyContinue }
}

Describe 'Packaged module' {
    It 'is laid out flat under out/GridAutomation/<version>/' {
        Test-Path $PackageDir | Should -BeTrue -Because 'build.ps1 -Task Package (or -Task Test) lays it out'
        foreach ($f in 'GridAutomation.psd1', 'GridAutomation.dll', 'GridAutomation.Loader.dll', 'Dependencies/GridAutomation.Core.dll',
            'GridAutomation.Format.ps1xml', 'GridAutomation.Types.ps1xml', 'en-US/GridAutomation.dll-Help.xml',
            'Desktop/GridAutomation.dll', 'Desktop/GridAutomation.Loader.dll', 'Desktop/Dependencies/GridAutomation.Core.dll') {
            Join-Path $PackageDir $f | Should -Exist
        }
    }

    It 'carries the native SQLite library of <_>' -ForEach @('linux-x64/native/libe_sqlite3.so', 'linux-arm64/native/libe_sqlite3.so', 'osx-arm64/native/libe_sqlite3.dylib', 'win-x64/native/e_sqlite3.dll') {
        Join-Path $PackageDir "Dependencies/runtimes/$_" | Should -Exist
    }

    It 'carries every provider beside the core' {
        $providers = @(Get-ChildItem (Join-Path $Root 'src') -Directory -Filter 'GridAutomation.Provider.*').Name
        foreach ($p in $providers) { Join-Path $PackageDir "Dependencies/$p.dll" | Should -Exist }
    }

    It 'has a valid manifest whose version is the folder''s' {
        $m = Test-ModuleManifest (Join-Path $PackageDir 'GridAutomation.psd1')
        $m.Version.ToString() | Should -Be $Version
        $m.CompatiblePSEditions | Should -Contain 'Core'
    }

    Context 'published to a local PSResourceGet repository' {
        BeforeAll {
            $script:Publish = Invoke-IsolatedPwsh @"
`$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name GridLocal -Uri '$Repo' -Trusted
Publish-PSResource -Path '$PackageDir' -Repository GridLocal
Install-PSResource -Name GridAutomation -Version '$Version' -Repository GridLocal -TrustRepository -Scope CurrentUser -Quiet
'INSTALLED=' + (Get-InstalledPSResource -Name GridAutomation -Scope CurrentUser).InstalledLocation
"@
            $script:Imported = Invoke-IsolatedPwsh @"
`$ErrorActionPreference = 'Stop'
Import-Module GridAutomation -RequiredVersion '$Version'
'BASE=' + (Get-Module GridAutomation).ModuleBase
'COMMANDS=' + ((Get-Command -Module GridAutomation | Sort-Object Name | ForEach-Object Name) -join ',')
'CORE=' + [GridAutomation.Core.Model.GridWorkload].Assembly.Location
'EXAMPLE=' + [bool]((Get-Help Get-GridWorkload -Examples | Out-String) -match 'Example 1')
"@
        }

        It 'publishes a nupkg to the folder repository' {
            $script:Publish.ExitCode | Should -Be 0 -Because $script:Publish.Output
            Join-Path $Repo "GridAutomation.$Version.nupkg" | Should -Exist
        }

        It 'installs into the (temporary) CurrentUser scope' {
            $script:Publish.Output | Should -Match ([regex]::Escape("INSTALLED=$FakeHome"))
        }

        It 'imports the installed copy in a fresh pwsh and runs a command' {
            $script:Imported.ExitCode | Should -Be 0 -Because $script:Imported.Output
            $base = [regex]::Match($script:Imported.Output, 'BASE=(.+)').Groups[1].Value.Trim()
            $base | Should -BeLike "$FakeHome*"
            $core = [regex]::Match($script:Imported.Output, 'CORE=(.+)').Groups[1].Value.Trim()
            $core | Should -Be (Join-Path $base 'Dependencies/GridAutomation.Core.dll')
            $script:Imported.Output | Should -Match 'EXAMPLE=True'
        }

        It 'exports exactly the cmdlets the manifest lists' {
            $commands = [regex]::Match($script:Imported.Output, 'COMMANDS=(.*)').Groups[1].Value.Trim() -split ','
            $Promised.Count | Should -Be 51 # the 20 of the foundation issue + Test-GridState (issue 9) + Connect-GridState, Copy-GridState (issue 12) + Test-GridMove (issue 13) + New-/Get-/Set-/Remove-GridAgreement, New-/Get-/Set-/Remove-GridPool, Get-GridPlacement (issue 15) + Update-/Get-/Export-GridUsage, Set-/Get-/Remove-GridRateCard (issue 16) + Enable-/Sync-/Get-/Disable-GridReplication, Get-GridRecoveryPoint, Start-/Stop-/Complete-GridFailover, New-/Get-/Set-/Remove-GridRecoveryPlan (issue 17)
            @($commands | Where-Object { $_ }) | Should -Be @($Promised | Sort-Object)
        }
    }
}
