using System;
using System.Linq;
using System.Collections.Generic;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;
using Azure.Core;
using Azure.Identity;
using Azure.ResourceManager;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Azure
{
    /// <summary>
    /// Azure virtual machines through Azure.ResourceManager.Compute (api-version 2023-07-01).
    /// One datacenter = one subscription + one location. Nothing here ever prompts: only non-interactive
    /// credentials are built (managed identity, service principal secret/certificate, a caller's token, or the
    /// non-interactive environment/CLI/PowerShell chain).
    /// </summary>
    public sealed class AzureProvider : IGridProvider
    {
        internal const string ProviderName = "Azure";

        public string Name => ProviderName;
        public string Description => "Azure virtual machines of one subscription and location (Azure.ResourceManager.Compute).";

        public GridCapabilities Capabilities =>
            GridCapabilities.Create | GridCapabilities.Start | GridCapabilities.Stop | GridCapabilities.TurnOff |
            GridCapabilities.Deallocate | GridCapabilities.Restart | GridCapabilities.Remove | GridCapabilities.RemoveStorage |
            GridCapabilities.Resize | GridCapabilities.Tags;

        private static readonly IReadOnlyList<ProviderParameter> Parameters = new[]
        {
            new ProviderParameter("SubscriptionId", ProviderParameterKind.String, "The Azure subscription id.") { Mandatory = true },
            new ProviderParameter("Location", ProviderParameterKind.String, "The Azure location (region), e.g. westeurope.") { Mandatory = true },
            new ProviderParameter("ResourceGroupName", ProviderParameterKind.String, "Limit the datacenter to one resource group (also the default resource group for new VMs)."),
            new ProviderParameter("Identity", ProviderParameterKind.Switch, "Log in with the managed identity of the machine or Automation account.") { ParameterSetName = "ManagedIdentity" },
            new ProviderParameter("AccountId", ProviderParameterKind.String, "Client id of a user-assigned managed identity (with -Identity).") { ParameterSetName = "ManagedIdentity" },
            new ProviderParameter("ServicePrincipal", ProviderParameterKind.Switch, "Log in as a service principal (-Credential, or -ClientCertificatePath/-ClientCertificateThumbprint, and -TenantId).") { ParameterSetName = "ServicePrincipal" },
            new ProviderParameter("Credential", ProviderParameterKind.Credential, "Service principal: user name = application (client) id, password = client secret.") { ParameterSetName = "ServicePrincipal" },
            new ProviderParameter("TenantId", ProviderParameterKind.String, "Microsoft Entra tenant id of the service principal."),
            new ProviderParameter("ApplicationId", ProviderParameterKind.String, "Application (client) id for certificate authentication (else the -Credential user name).") { ParameterSetName = "ServicePrincipal" },
            new ProviderParameter("ClientCertificatePath", ProviderParameterKind.String, "PFX/PEM file of the service principal's certificate (with private key).") { ParameterSetName = "ServicePrincipal" },
            new ProviderParameter("ClientCertificateThumbprint", ProviderParameterKind.String, "Thumbprint of the service principal's certificate in the CurrentUser\\My store.") { ParameterSetName = "ServicePrincipal" },
            new ProviderParameter("AccessToken", ProviderParameterKind.SecretString, "An ARM access token the caller already holds (not refreshed).") { ParameterSetName = "AccessToken" },
            new ProviderParameter("Environment", ProviderParameterKind.String, "The Azure cloud.") { ValidValues = new[] { "AzureCloud", "AzureUSGovernment", "AzureChinaCloud" }, Restricted = true },
            new ProviderParameter("ArmEndpoint", ProviderParameterKind.String, "Resource Manager endpoint (Azure Stack Hub, tests)."),
            new ProviderParameter("AuthorityHost", ProviderParameterKind.String, "Microsoft Entra / AD FS authority host (Azure Stack Hub, tests). Instance discovery is turned off for it."),
        };

        public IReadOnlyList<ProviderParameter> ConnectionParameters => Parameters;

        public bool IsAvailable(out string? reason) { reason = null; return true; }

        public async Task<IGridConnection> ConnectAsync(ProviderConnectRequest request, CancellationToken cancellationToken)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            var settings = AzureSettings.From(request);
            var credential = BuildCredential(request, settings, out string principal);
            var connection = new AzureConnection(this, request, settings, credential, principal);
            try
            {
                await connection.ValidateAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                connection.Dispose();
                throw;
            }
            return connection;
        }

        internal static TokenCredential BuildCredential(ProviderConnectRequest request, AzureSettings s, out string principal)
        {
            string? token = request.GetSecret("AccessToken");
            bool identity = request.GetSwitch("Identity");
            bool sp = request.GetSwitch("ServicePrincipal");
            int modes = (token != null ? 1 : 0) + (identity ? 1 : 0) + (sp ? 1 : 0);
            if (modes > 1)
                throw GridException.InvalidRequest("Use only one of -AccessToken, -Identity and -ServicePrincipal.", "AzureConflictingCredentials");

            if (token != null)
            {
                // The listing cache is per principal: a short hash of the token tells tokens apart without keeping it.
                using (var sha = System.Security.Cryptography.SHA256.Create())
                    principal = "token:" + BitConverter.ToString(sha.ComputeHash(System.Text.Encoding.UTF8.GetBytes(token)), 0, 6).Replace("-", "");
                return new StaticTokenCredential(token);
            }

            if (identity)
            {
                string? clientId = request.GetSetting("AccountId");
                principal = "mi:" + (clientId ?? "system");
                var id = string.IsNullOrEmpty(clientId) ? ManagedIdentityId.SystemAssigned : ManagedIdentityId.FromUserAssignedClientId(clientId!);
                return new ManagedIdentityCredential(new ManagedIdentityCredentialOptions(id) { AuthorityHost = s.AuthorityHost });
            }

            if (sp)
            {
                string? tenant = request.GetSetting("TenantId");
                if (string.IsNullOrEmpty(tenant))
                    throw GridException.InvalidRequest("-ServicePrincipal needs -TenantId.", "AzureTenantRequired");
                NetworkCredential? cred = request.GetCredential("Credential");
                string? certPath = request.GetSetting("ClientCertificatePath");
                string? thumb = request.GetSetting("ClientCertificateThumbprint");
                string? appId = request.GetSetting("ApplicationId");
                if (string.IsNullOrEmpty(appId)) appId = cred?.UserName;
                if (string.IsNullOrEmpty(appId))
                    throw GridException.InvalidRequest("-ServicePrincipal needs the application (client) id: -Credential (user name) or -ApplicationId.", "AzureApplicationIdRequired");
                principal = "sp:" + tenant + "/" + appId;

                if (!string.IsNullOrEmpty(certPath))
                {
                    var o = new ClientCertificateCredentialOptions { AuthorityHost = s.AuthorityHost, DisableInstanceDiscovery = s.CustomAuthority };
                    return new ClientCertificateCredential(tenant, appId, certPath, o);
                }
                if (!string.IsNullOrEmpty(thumb))
                {
                    X509Certificate2 cert = FindCertificate(thumb!);
                    var o = new ClientCertificateCredentialOptions { AuthorityHost = s.AuthorityHost, DisableInstanceDiscovery = s.CustomAuthority };
                    return new ClientCertificateCredential(tenant, appId, cert, o);
                }
                if (cred == null || string.IsNullOrEmpty(cred.Password))
                    throw GridException.InvalidRequest("-ServicePrincipal needs -Credential (client id and secret), -ClientCertificatePath or -ClientCertificateThumbprint.", "AzureSecretRequired");
                var so = new ClientSecretCredentialOptions { AuthorityHost = s.AuthorityHost, DisableInstanceDiscovery = s.CustomAuthority };
                return new ClientSecretCredential(tenant, appId, cred.Password, so);
            }

            // No explicit mode: only non-interactive sources, in the order Az users expect.
            principal = "default";
            string? defaultTenant = request.GetSetting("TenantId");
            return new ChainedTokenCredential(
                new EnvironmentCredential(new TokenCredentialOptions { AuthorityHost = s.AuthorityHost }),
                new AzureCliCredential(new AzureCliCredentialOptions { TenantId = defaultTenant }),
                new AzurePowerShellCredential(new AzurePowerShellCredentialOptions { TenantId = defaultTenant }));
        }

        private static X509Certificate2 FindCertificate(string thumbprint)
        {
            // Keep the hex digits only: a thumbprint copied from the certificate manager carries spaces and often an
            // invisible left-to-right mark (U+200E) in front.
            string t = new string(thumbprint.Where(Uri.IsHexDigit).ToArray()).ToUpperInvariant();
            foreach (var location in new[] { StoreLocation.CurrentUser, StoreLocation.LocalMachine })
            {
                try
                {
                    using var store = new X509Store(StoreName.My, location);
                    store.Open(OpenFlags.ReadOnly | OpenFlags.OpenExistingOnly);
                    var found = store.Certificates.Find(X509FindType.FindByThumbprint, t, validOnly: false);
                    foreach (var c in found)
                        if (c.HasPrivateKey) return c;
                }
                catch (System.Security.Cryptography.CryptographicException) { }
            }
            throw GridException.InvalidRequest($"No certificate with thumbprint {t} and a private key in the My store.", "AzureCertificateNotFound");
        }
    }

    /// <summary>The non-secret connection settings, parsed once.</summary>
    internal sealed class AzureSettings
    {
        public string SubscriptionId { get; private set; } = "";
        public string Location { get; private set; } = "";
        public string? ResourceGroup { get; private set; }
        public ArmEnvironment Environment { get; private set; }
        public Uri AuthorityHost { get; private set; } = AzureAuthorityHosts.AzurePublicCloud;
        public bool CustomAuthority { get; private set; }
        public string EnvironmentName { get; private set; } = "AzureCloud";

        public static AzureSettings From(ProviderConnectRequest r)
        {
            var s = new AzureSettings();
            s.SubscriptionId = (r.GetSetting("SubscriptionId") ?? "").Trim();
            if (!Guid.TryParse(s.SubscriptionId, out _))
                throw GridException.InvalidRequest("-SubscriptionId must be a subscription id (a GUID).", "AzureInvalidSubscriptionId");
            s.Location = NormalizeLocation(r.GetSetting("Location"));
            if (s.Location.Length == 0)
                throw GridException.InvalidRequest("-Location is required (e.g. westeurope).", "AzureLocationRequired");
            string? rg = r.GetSetting("ResourceGroupName");
            s.ResourceGroup = string.IsNullOrWhiteSpace(rg) ? null : rg!.Trim();

            string env = r.GetSetting("Environment") ?? "AzureCloud";
            switch (env.ToLowerInvariant())
            {
                case "azurecloud": s.Environment = ArmEnvironment.AzurePublicCloud; s.AuthorityHost = AzureAuthorityHosts.AzurePublicCloud; break;
                case "azureusgovernment": s.Environment = ArmEnvironment.AzureGovernment; s.AuthorityHost = AzureAuthorityHosts.AzureGovernment; break;
                case "azurechinacloud": s.Environment = ArmEnvironment.AzureChina; s.AuthorityHost = AzureAuthorityHosts.AzureChina; break;
                default: throw GridException.InvalidRequest($"-Environment must be AzureCloud, AzureUSGovernment or AzureChinaCloud, not '{env}'.", "AzureInvalidEnvironment");
            }
            s.EnvironmentName = env;

            string? arm = r.GetSetting("ArmEndpoint");
            if (!string.IsNullOrWhiteSpace(arm))
            {
                // https only: Azure.Core never sends a bearer token over plain HTTP.
                if (!Uri.TryCreate(arm!.Trim(), UriKind.Absolute, out var u) || u.Scheme != "https")
                    throw GridException.InvalidRequest("-ArmEndpoint must be an absolute https URL (a bearer token is never sent over plain HTTP).", "AzureInvalidArmEndpoint");
                // The token audience of a custom endpoint is the endpoint itself (Azure Stack Hub's management endpoint).
                s.Environment = new ArmEnvironment(u, u.GetLeftPart(UriPartial.Authority) + "/");
            }
            string? authority = r.GetSetting("AuthorityHost");
            if (!string.IsNullOrWhiteSpace(authority))
            {
                if (!Uri.TryCreate(authority!.Trim(), UriKind.Absolute, out var a) || a.Scheme != "https")
                    throw GridException.InvalidRequest("-AuthorityHost must be an absolute https URL.", "AzureInvalidAuthorityHost");
                s.AuthorityHost = a;
                s.CustomAuthority = true;
            }
            return s;
        }

        /// <summary>"West Europe" and "westeurope" are the same location.</summary>
        public static string NormalizeLocation(string? location)
            => (location ?? "").Replace(" ", "").Trim().ToLowerInvariant();
    }

    /// <summary>A token the caller already holds (-AccessToken). It is not refreshed; its expiry is read from the JWT when possible.</summary>
    internal sealed class StaticTokenCredential : TokenCredential
    {
        private readonly AccessToken _token;
        public StaticTokenCredential(string token)
        {
            _token = new AccessToken(token, ReadExpiry(token) ?? DateTimeOffset.UtcNow.AddHours(1));
        }
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) => _token;
        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) => new ValueTask<AccessToken>(_token);

        private static DateTimeOffset? ReadExpiry(string jwt)
        {
            try
            {
                var parts = jwt.Split('.');
                if (parts.Length < 2) return null;
                string p = parts[1].Replace('-', '+').Replace('_', '/');
                p = p.PadRight(p.Length + (4 - p.Length % 4) % 4, '=');
                using var doc = System.Text.Json.JsonDocument.Parse(Convert.FromBase64String(p));
                if (doc.RootElement.TryGetProperty("exp", out var exp) && exp.TryGetInt64(out long secs))
                    return DateTimeOffset.FromUnixTimeSeconds(secs);
            }
            catch (Exception) { }
            return null;
        }
    }
}
