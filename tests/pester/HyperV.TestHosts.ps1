# Test Hyper-V hosts for the Hyper-V provider's tests: real PowerShell remoting over SSH to 127.0.0.1.
#
# Start-HyperVTestHosts starts one sshd per host name (Debian openssh-server, installed by
# tests/GridAutomation.Provider.HyperV.Tests/setup.sh), each on a free loopback port with its own sshd_config and a
# host key generated for this run in a temporary folder, key authentication only, and a `powershell` subsystem whose
# command is a wrapper that starts THIS repository's pwsh (the local dotnet tool: the same pwsh the tests run in) with
# -sshs and a PSModulePath that finds the stand-in Hyper-V module (tests/GridAutomation.Provider.HyperV.Tests/StandIn).
# Each wrapper tells the stand-in which host it plays; all hosts share one "fabric" folder, so Move-VM can hand a VM
# from one host to the other. A known_hosts file with the generated host keys makes the client check them.
# sshd needs root (privilege separation) and /run/sshd.

function Get-HyperVTestPrerequisiteProblem {
    if ($IsWindows) { return 'the test sshd runs on Linux only' }
    if (-not (Test-Path '/usr/sbin/sshd')) { return '/usr/sbin/sshd is missing (run tests/GridAutomation.Provider.HyperV.Tests/setup.sh as root)' }
    if (-not (Get-Command ssh-keygen -ErrorAction SilentlyContinue) -or -not (Get-Command ssh -ErrorAction SilentlyContinue)) { return 'ssh and ssh-keygen (openssh-client) are missing' }
    if ((& id -u) -ne '0') { return 'the test sshd needs root (privilege separation)' }
    return $null
}

function Get-FreeLoopbackPort {
    $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
    $l.Start(); $port = $l.LocalEndpoint.Port; $l.Stop()
    $port
}

function Start-HyperVTestHosts {
    param([Parameter(Mandatory)] [string] $Root, [string[]] $HostNames = @('hv-a', 'hv-b'))
    $standIn = (Resolve-Path (Join-Path $PSScriptRoot '../GridAutomation.Provider.HyperV.Tests/StandIn')).Path
    $fabric = Join-Path $Root 'fabric'
    $null = New-Item -ItemType Directory -Path $fabric -Force
    if (-not (Test-Path /run/sshd)) { $null = New-Item -ItemType Directory -Path /run/sshd -Force }
    $key = Join-Path $Root 'client_ed25519'
    & ssh-keygen -q -t ed25519 -N '' -C grid-test-client -f $key 2>&1 | Out-Null
    if (-not (Test-Path $key)) { throw "ssh-keygen did not write $key." }
    $authorized = Join-Path $Root 'authorized_keys'
    Copy-Item "$key.pub" $authorized
    $knownHosts = Join-Path $Root 'known_hosts'
    $dotnet = [Environment]::ProcessPath
    $pwshArgs = if ([IO.Path]::GetFileNameWithoutExtension($dotnet) -eq 'dotnet') { "'$dotnet' '$(Join-Path $PSHOME 'pwsh.dll')'" } else { "'$dotnet'" }
    $hosts = foreach ($name in $HostNames) {
        $dir = Join-Path $Root "sshd-$name"
        $null = New-Item -ItemType Directory -Path $dir -Force
        $hostKey = Join-Path $dir 'ssh_host_ed25519_key'
        & ssh-keygen -q -t ed25519 -N '' -f $hostKey 2>&1 | Out-Null
        $wrapper = Join-Path $dir 'pwsh-subsystem.sh'
        @"
#!/bin/sh
# The 'powershell' subsystem of the test sshd for stand-in Hyper-V host '$name'.
export GRID_HYPERV_STANDIN_FABRIC='$fabric'
export GRID_HYPERV_STANDIN_HOST='$name'
export PSModulePath='$standIn'
export POWERSHELL_TELEMETRY_OPTOUT=1 POWERSHELL_UPDATECHECK=Off DOTNET_CLI_TELEMETRY_OPTOUT=1 NO_COLOR=1
exec $pwshArgs -sshs -NoLogo -NoProfile
"@ | Set-Content -Path $wrapper -NoNewline
        & chmod 0755 $wrapper
        $port = Get-FreeLoopbackPort
        $config = Join-Path $dir 'sshd_config'
        @"
Port $port
ListenAddress 127.0.0.1
HostKey $hostKey
PidFile $(Join-Path $dir 'sshd.pid')
AuthorizedKeysFile $authorized
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem powershell $wrapper
"@ | Set-Content -Path $config
        $log = Join-Path $dir 'sshd.log'
        $psi = [Diagnostics.ProcessStartInfo]::new('/usr/sbin/sshd')
        foreach ($a in '-D', '-f', $config, '-E', $log) { $psi.ArgumentList.Add($a) }
        $psi.UseShellExecute = $false
        $proc = [Diagnostics.Process]::Start($psi)
        "[127.0.0.1]:$port $((Get-Content "$hostKey.pub" -Raw).Trim())" | Add-Content -Path $knownHosts
        [pscustomobject]@{ Name = $name; Port = $port; Process = $proc; Log = $log; Address = "root@127.0.0.1:$port" }
    }
    foreach ($h in $hosts) {
        $deadline = [DateTime]::UtcNow.AddSeconds(20)
        while ($true) {
            $c = [Net.Sockets.TcpClient]::new()
            try { $c.Connect('127.0.0.1', $h.Port); break }
            catch { if ([DateTime]::UtcNow -gt $deadline -or $h.Process.HasExited) { throw "The test sshd of $($h.Name) did not start: $(Get-Content $h.Log -Raw -ErrorAction SilentlyContinue)" }; Start-Sleep -Milliseconds 100 }
            finally { $c.Dispose() }
        }
    }
    [pscustomobject]@{ Root = $Root; Fabric = $fabric; KeyFile = $key; KnownHosts = $knownHosts; Hosts = @($hosts) }
}

function Stop-HyperVTestHosts {
    param($Lab)
    if (-not $Lab) { return }
    foreach ($h in $Lab.Hosts) {
        if ($h.Process -and -not $h.Process.HasExited) { $h.Process.Kill($true); $null = $h.Process.WaitForExit(5000) }
    }
}

# The lines of the stand-in's call log ("<host> <cmdlet> <parameter names>") written since -Since lines.
function Get-HyperVCalls {
    param($Lab, [int] $Since = 0)
    $path = Join-Path $Lab.Fabric 'calls.log'
    if (-not (Test-Path $path)) { return @() }
    @(Get-Content $path | Select-Object -Skip $Since)
}

# Edits one VM record of a stand-in host's state file (e.g. to force RunningCritical, as a lost disk would).
function Set-HyperVStandInVM {
    param($Lab, [string] $HostName, [string] $Id, [hashtable] $Values)
    $file = Join-Path $Lab.Fabric "$HostName.json"
    $s = Get-Content $file -Raw | ConvertFrom-Json -AsHashtable
    $vm = @($s.VMs) | Where-Object { $_.Id -eq $Id }
    if (-not $vm) { throw "No VM $Id on $HostName." }
    foreach ($k in $Values.Keys) { $vm[$k] = $Values[$k] }
    $s | ConvertTo-Json -Depth 6 | Set-Content $file
}

function Set-HyperVStandInHost {
    param($Lab, [string] $HostName, [hashtable] $Values)
    $file = Join-Path $Lab.Fabric "$HostName.json"
    $s = Get-Content $file -Raw | ConvertFrom-Json -AsHashtable
    foreach ($k in $Values.Keys) { $s[$k] = $Values[$k] }
    $s | ConvertTo-Json -Depth 6 | Set-Content $file
}
