# Connect-GridDatacenter: registration, re-registration, the provider's connection parameters as dynamic parameters
# (every kind), and its errors.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name connect
    $null = Get-GridDatacenter
    # A provider declaring one parameter of every kind, registered in this process only. It never connects: it
    # records the request it was given and refuses.
    $core = [GridAutomation.Core.Providers.IGridProvider].Assembly
    if (-not ('KindsTestProvider' -as [type])) {
        Add-Type -ReferencedAssemblies $core.Location -CompilerOptions '/nowarn:CS1701,CS1702' -WarningAction SilentlyContinue -TypeDefinition @'
using System; using System.Collections.Generic; using System.Threading; using System.Threading.Tasks;
using GridAutomation.Core.Model; using GridAutomation.Core.Providers;
public sealed class KindsTestProvider : IGridProvider {
    public static ProviderConnectRequest LastRequest;
    public string Name => "KindsTest";
    public string Description => "Dynamic parameter kinds (test only)";
    public GridCapabilities Capabilities => GridCapabilities.None;
    public IReadOnlyList<ProviderParameter> ConnectionParameters { get; } = new[] {
        new ProviderParameter("Server", ProviderParameterKind.String, "The server to connect to") { Mandatory = true },
        new ProviderParameter("Mode", ProviderParameterKind.String, "A mode") { ValidValues = new[] { "Fast", "Slow" }, Restricted = true },
        new ProviderParameter("Zone", ProviderParameterKind.String, "A zone") { ValidValues = new[] { "north", "south" } },
        new ProviderParameter("Uri", ProviderParameterKind.StringArray, "URIs"),
        new ProviderParameter("Port", ProviderParameterKind.Int, "A port"),
        new ProviderParameter("Insecure", ProviderParameterKind.Switch, "Skip checks"),
        new ProviderParameter("Credential", ProviderParameterKind.Credential, "Who"),
        new ProviderParameter("Token", ProviderParameterKind.SecretString, "A token"),
        new ProviderParameter("Name", ProviderParameterKind.String, "Clashes with the cmdlet's own -Name: left out"),
    };
    public bool IsAvailable(out string reason) { reason = null; return true; }
    public Task<IGridConnection> ConnectAsync(ProviderConnectRequest request, CancellationToken ct) {
        LastRequest = request;
        throw new GridException(GridErrorKind.Unauthorized, "The test provider never connects.", "TestProviderNoConnect");
    }
}
'@
    }
    [GridAutomation.Core.Providers.ProviderRegistry]::Register([KindsTestProvider]::new())
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Connect-GridDatacenter' {
    It 'registers and connects a simulated datacenter and writes it' {
        $dc = Connect-GridDatacenter -Provider Simulator -Name con-1 -Owner Contoso -Site Amsterdam -Hosts 2
        $dc | Should -BeOfType GridAutomation.Core.Model.GridDatacenter
        $dc.Name | Should -Be 'con-1'; $dc.Owner | Should -Be 'Contoso'; $dc.Site | Should -Be 'Amsterdam'
        $dc.Status | Should -Be 'Connected'
        $dc.Settings['Hosts'] | Should -Be '2'
        @(Get-GridHost -Datacenter con-1).Count | Should -Be 2
        (Get-GridOperation -Kind Register -Last 1).State | Should -Be 'Succeeded'
    }

    It 're-registers the same name with a new owner and site' {
        $dc = Connect-GridDatacenter -Provider Simulator -Name con-1 -Owner Fabrikam -Site Dublin
        (Get-GridDatacenter -Name con-1).Owner | Should -Be 'Fabrikam'
        (Get-GridDatacenter -Name con-1).Site | Should -Be 'Dublin'
        @(Get-GridDatacenter).Count | Should -Be 1
    }

    It 'reconnects a registered datacenter without -Provider, keeping the stored settings not given again' {
        $dc = Connect-GridDatacenter -Name con-1 -LatencyMs 0
        $dc.Provider | Should -Be 'Simulator'
        $dc.Settings['Hosts'] | Should -Be '2'
        $dc.Settings['LatencyMs'] | Should -Be '0'
        (Get-GridDatacenter -Name con-1).Owner | Should -Be 'Fabrikam' -Because 'owner and site are kept when not given'
        (Get-Command Connect-GridDatacenter -ArgumentList $null).Parameters.Keys | Should -Not -Contain 'Hosts'
    }

    It 'without -Provider, an unknown name is DatacenterNotFound' {
        { Connect-GridDatacenter -Name never-registered } | Should -Throw -ErrorId 'DatacenterNotFound,*'
    }

    It 'refuses the name of a datacenter of another provider (DatacenterExists)' {
        $ev = $null
        Connect-GridDatacenter -Provider KindsTest -Name con-1 -Server x -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'DatacenterExists,*'
        $ev[0].CategoryInfo.Category | Should -Be 'ResourceExists'
    }

    It 'gives ProviderNotFound for an unknown provider' {
        { Connect-GridDatacenter -Provider NoSuchProvider -Name x } | Should -Throw -ErrorId 'ProviderNotFound,*'
    }

    It 'exposes the simulator connection parameters as dynamic parameters after -Provider' {
        $params = (Get-Command Connect-GridDatacenter -ArgumentList Simulator).Parameters
        foreach ($p in 'Hosts', 'HostCpu', 'HostMemoryGB', 'Workloads', 'LatencyMs', 'Seed') {
            $params.Keys | Should -Contain $p
            $params[$p].ParameterType | Should -Be ([int])
        }
        (Get-Command Connect-GridDatacenter).Parameters.Keys | Should -Not -Contain 'Hosts'
    }

    It 'maps every parameter kind to its PowerShell type' {
        $params = (Get-Command Connect-GridDatacenter -ArgumentList KindsTest).Parameters
        $params['Server'].ParameterType | Should -Be ([string])
        $params['Uri'].ParameterType | Should -Be ([string[]])
        $params['Port'].ParameterType | Should -Be ([int])
        $params['Insecure'].ParameterType | Should -Be ([switch])
        $params['Credential'].ParameterType | Should -Be ([pscredential])
        $params['Token'].ParameterType | Should -Be ([securestring])
        ($params['Server'].Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] }).Mandatory | Should -BeTrue
        ($params['Server'].Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] }).HelpMessage | Should -Be 'The server to connect to'
        ($params['Mode'].Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] }).ValidValues | Should -Be @('Fast', 'Slow')
        $params['Zone'].Attributes | Where-Object { $_ -is [System.Management.Automation.ArgumentCompleterAttribute] } | Should -Not -BeNullOrEmpty
        # A provider parameter that clashes with a static one is left out (the static one stays).
        $params['Name'].ParameterType | Should -Be ([string])
        ($params['Name'].Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] }).Position | Should -Be 1
    }

    It 'hands the provider non-secret settings as text and secrets as NetworkCredential / string, persisting none of the secrets' {
        $cred = [pscredential]::new('admin', (ConvertTo-SecureString 'pw-123' -AsPlainText -Force))
        $ev = $null
        Connect-GridDatacenter -Provider KindsTest -Name kinds-1 -Server srv -Mode fast -Uri a, b -Port 8443 -Insecure -Credential $cred -Token 'tok-456' -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'TestProviderNoConnect,*'
        $ev[0].CategoryInfo.Category | Should -Be 'AuthenticationError'
        $r = [KindsTestProvider]::LastRequest
        $r.Settings['Server'] | Should -Be 'srv'
        $r.Settings['Mode'] | Should -Be 'Fast' -Because 'a restricted value is stored as the provider spells it'
        $r.Settings['Uri'] | Should -Be "a`nb"
        $r.Settings['Port'] | Should -Be '8443'
        $r.Settings['Insecure'] | Should -Be 'True'
        $r.Settings.ContainsKey('Credential') | Should -BeFalse
        $r.Settings.ContainsKey('Token') | Should -BeFalse
        $r.Secrets['Credential'] | Should -BeOfType System.Net.NetworkCredential
        $r.Secrets['Credential'].UserName | Should -Be 'admin'
        $r.Secrets['Credential'].Password | Should -Be 'pw-123'
        $r.Secrets['Token'] | Should -Be 'tok-456'
        # A failed connect registers nothing.
        Get-GridDatacenter -Name kinds-1 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'accepts a SecureString for a secret string parameter' {
        Connect-GridDatacenter -Provider KindsTest -Name kinds-2 -Server srv -Token (ConvertTo-SecureString 'sec-789' -AsPlainText -Force) -ErrorAction SilentlyContinue
        [KindsTestProvider]::LastRequest.Secrets['Token'] | Should -Be 'sec-789'
    }

    It 'refuses a value outside a restricted set' {
        { Connect-GridDatacenter -Provider KindsTest -Name kinds-3 -Server srv -Mode Medium } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
    }
}
