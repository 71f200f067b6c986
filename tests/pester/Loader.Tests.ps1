# The module loader (src/GridAutomation.Loader): dependencies come from the private Dependencies/ folder through the
# module's own AssemblyLoadContext, the framework's copy wins when it is as new or newer, the native SQLite library
# of this platform loads from Dependencies/runtimes/<rid>/native/, and another module's copy of a dependency in the
# default context does not leak into ours (nor ours into it).
# Runs against the BUILT module at the repository root (build.ps1 -Task Build).

BeforeDiscovery {
    $script:IsNetCore = $PSVersionTable.PSEdition -eq 'Core'
}

BeforeAll {
    $Root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    $Manifest = Join-Path $Root 'GridAutomation.psd1'
    $Deps = Join-Path $Root 'Dependencies'
    Import-Module $Manifest -Force
    $Alc = [GridAutomation.Loader.DependencyLoader]::Context

    # A child pwsh like this one (as a dotnet tool this process is `dotnet pwsh.dll`).
    function Invoke-ChildPwsh([string] $Command) {
        $exe = [Environment]::ProcessPath
        $pre = @()
        if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { $pre = @(Join-Path $PSHOME 'pwsh.dll') }
        $out = & $exe @pre -NoProfile -NonInteractive -Command $Command 2>&1
        [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out | Out-String) }
    }
}

Describe 'GridAutomation loader' -Skip:(-not $IsNetCore) {
    It 'loads GridAutomation.Core into the module''s own load context, from Dependencies/' {
        $core = $Alc.Assemblies | Where-Object { $_.GetName().Name -eq 'GridAutomation.Core' }
        $core | Should -Not -BeNullOrEmpty
        [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($core).Name | Should -Be 'GridAutomation'
        $core.Location | Should -Be (Join-Path $Deps 'GridAutomation.Core.dll')
    }

    It 'keeps only the loader and the cmdlets beside the manifest' {
        @(Get-ChildItem $Root -Filter '*.dll' -File).Name | Sort-Object | Should -Be @('GridAutomation.dll', 'GridAutomation.Loader.dll')
    }

    It 'lets scripts name the model''s types after Import-Module' {
        [GridAutomation.Core.Model.WorkloadState]::Running.ToString() | Should -Be 'Running'
        [GridAutomation.Core.Model.GridWorkload].Assembly.GetName().Name | Should -Be 'GridAutomation.Core'
    }

    It 'loads each third-party dependency from Dependencies/ unless the framework has it at the same or a newer version' {
        $tpa = @{}
        foreach ($p in ([string][AppContext]::GetData('TRUSTED_PLATFORM_ASSEMBLIES')).Split([IO.Path]::PathSeparator)) {
            if ($p) { $tpa[[IO.Path]::GetFileNameWithoutExtension($p)] = $p }
        }
        $checked = 0; $deferred = 0
        foreach ($dll in Get-ChildItem $Deps -Filter '*.dll' -File) {
            $name = [Reflection.AssemblyName]::GetAssemblyName($dll.FullName)
            $loaded = $Alc.LoadFromAssemblyName([Reflection.AssemblyName]::new($name.Name))
            $ctx = [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($loaded)
            if ($tpa.ContainsKey($name.Name) -and [Reflection.AssemblyName]::GetAssemblyName($tpa[$name.Name]).Version -ge $name.Version) {
                $ctx | Should -Be ([System.Runtime.Loader.AssemblyLoadContext]::Default) -Because "$($name.Name): the framework's copy is as new"
                $deferred++
            }
            else {
                $ctx.Name | Should -Be 'GridAutomation' -Because "$($name.Name) must come from Dependencies/"
                $loaded.Location | Should -Be $dll.FullName
            }
            $checked++
        }
        $checked | Should -BeGreaterThan 3
        # Microsoft.Bcl.AsyncInterfaces ships with .NET 10 at a newer version than the package's: it must be deferred.
        $deferred | Should -BeGreaterThan 0
    }

    It 'opens SQLite with the native library of this platform from Dependencies/runtimes' {
        $sqlite = $Alc.LoadFromAssemblyName([Reflection.AssemblyName]::new('Microsoft.Data.Sqlite'))
        $conn = [Activator]::CreateInstance($sqlite.GetType('Microsoft.Data.Sqlite.SqliteConnection', $true), @('Data Source=:memory:'))
        try {
            $conn.Open()
            $cmd = $conn.CreateCommand(); $cmd.CommandText = 'select sqlite_version()'
            $cmd.ExecuteScalar() | Should -Match '^3\.\d+'
        }
        finally { $conn.Dispose() }
        $native = [GridAutomation.Loader.NativeResolver]::Find($Deps, 'e_sqlite3')
        $native | Should -Not -BeNullOrEmpty
        $native | Should -BeLike (Join-Path $Deps 'runtimes/*/native/*')
        if (Test-Path "/proc/$PID/maps") {
            (Get-Content "/proc/$PID/maps" | Where-Object { $_ -like '*e_sqlite3*' } | Select-Object -First 1) | Should -BeLike "*$native"
        }
    }

    It 'never hands a third-party dependency to the default context' {
        # A fresh process: after importing the module, Polly.Core is still unknown to the default context.
        $r = Invoke-ChildPwsh "Import-Module '$Manifest'; `$null = [GridAutomation.Core.Model.GridWorkload]; try { [System.Runtime.Loader.AssemblyLoadContext]::Default.LoadFromAssemblyName([Reflection.AssemblyName]'Polly.Core') | Out-Null; 'LEAKED' } catch { 'ISOLATED' }"
        $r.Output | Should -Match 'ISOLATED'
    }

    It 'is not disturbed by another module''s copy of a dependency in the default context' {
        # Another module (think Az.Accounts and its Azure.Core) loaded a different Polly.Core first.
        $fake = Join-Path ([IO.Path]::GetTempPath()) ("ga-fake-" + [guid]::NewGuid().ToString('n'))
        $null = New-Item -ItemType Directory $fake
        try {
            $script = @"
Add-Type -OutputAssembly '$fake/Polly.Core.dll' -OutputType Library -TypeDefinition '[assembly: System.Reflection.AssemblyVersion("1.2.3.4")] namespace Polly { public class NotTheRealPolly {} }'
`$other = [Reflection.Assembly]::LoadFrom('$fake/Polly.Core.dll')
Import-Module '$Manifest'
`$ours = [GridAutomation.Loader.DependencyLoader]::Context.LoadFromAssemblyName([Reflection.AssemblyName]'Polly.Core')
'OTHER=' + `$other.GetName().Version
'OURS=' + `$ours.GetName().Version + '|' + `$ours.Location
'RESILIENCE=' + [bool]`$ours.GetType('Polly.ResiliencePipeline')
"@
            $r = Invoke-ChildPwsh $script
            $r.Output | Should -Match 'OTHER=1\.2\.3\.4'
            $r.Output | Should -Match ([regex]::Escape("|$(Join-Path $Deps 'Polly.Core.dll')"))
            $r.Output | Should -Match 'RESILIENCE=True'
        }
        finally { Remove-Item $fake -Recurse -Force -ErrorAction SilentlyContinue }
    }

    It 'always leaves PowerShell''s own assemblies to the host, even when Dependencies/ holds a newer copy' {
        # The Hyper-V provider's remoting client is System.Management.Automation: it must bind to the host's, never
        # to a second copy. A layout whose Dependencies/ carries a (fake, version 99) S.M.A proves the rule holds
        # even where the version check alone would pick the folder's copy.
        $tmp = Join-Path ([IO.Path]::GetTempPath()) ("ga-hostasm-" + [guid]::NewGuid().ToString('n'))
        $null = New-Item -ItemType Directory (Join-Path $tmp 'Dependencies')
        try {
            foreach ($item in Get-ChildItem $Root -File | Where-Object { $_.Name -like 'GridAutomation*' }) { Copy-Item $item.FullName $tmp }
            foreach ($item in 'en-US') { if (Test-Path (Join-Path $Root $item)) { $null = New-Item -ItemType SymbolicLink -Path (Join-Path $tmp $item) -Target (Join-Path $Root $item) } }
            foreach ($item in Get-ChildItem $Deps) { $null = New-Item -ItemType SymbolicLink -Path (Join-Path $tmp "Dependencies/$($item.Name)") -Target $item.FullName }
            $script = @"
Add-Type -OutputAssembly '$tmp/Dependencies/System.Management.Automation.dll' -OutputType Library -TypeDefinition '[assembly: System.Reflection.AssemblyVersion("99.0.0.0")] namespace NotPowerShell { public class Fake {} }'
Import-Module '$tmp/GridAutomation.psd1'
`$sma = [GridAutomation.Loader.DependencyLoader]::Context.LoadFromAssemblyName([Reflection.AssemblyName]'System.Management.Automation')
'SAME=' + [object]::ReferenceEquals(`$sma, [psobject].Assembly)
'COUNT=' + @([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'System.Management.Automation' }).Count
"@
            $r = Invoke-ChildPwsh $script
            $r.Output | Should -Match 'SAME=True'
            $r.Output | Should -Match 'COUNT=1'
        }
        finally { Remove-Item $tmp -Recurse -Force -ErrorAction SilentlyContinue }
    }

    It 'finds native libraries for other platforms by runtime identifier' {
        $rids = @([GridAutomation.Loader.NativeResolver]::CandidateRids())
        $rids.Count | Should -BeGreaterThan 0
        $rids[-1] | Should -Match '^(linux|osx|win)-(x64|x86|arm64|arm)$|^linux-musl-'
    }
}
