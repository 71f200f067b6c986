using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Providers.Azure;
using Xunit;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// Every credential path that can be proven without leaving loopback. The Azure CLI / Azure PowerShell
    /// fallbacks cannot be proven here (no az CLI, no Az login); only that they never prompt.
    /// </summary>
    [Collection("environment")] // these tests change process environment variables
    public sealed class CredentialTests
    {
        private static Dictionary<string, string> Sp(string authority) => new Dictionary<string, string>
        {
            ["ServicePrincipal"] = "True", ["TenantId"] = ArmSimulator.Tenant, ["AuthorityHost"] = authority, ["ResourceGroupName"] = Harness.Rg,
        };

        [ChildFact]
        public async Task ManagedIdentity_ViaIdentityEndpoint_OnLoopback()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            var saved = (Environment.GetEnvironmentVariable("IDENTITY_ENDPOINT"), Environment.GetEnvironmentVariable("IDENTITY_HEADER"));
            Environment.SetEnvironmentVariable("IDENTITY_ENDPOINT", server.BaseUrl + "/msi/token");
            Environment.SetEnvironmentVariable("IDENTITY_HEADER", ArmSimulator.IdentityHeader);
            try
            {
                using var c = await Harness.ConnectAsync(sim, settings: new Dictionary<string, string> { ["Identity"] = "True", ["AccountId"] = "uami-client-id" }, secrets: new Dictionary<string, object>());
                await c.ListHostsAsync(Harness.Ct());
                var tokenCall = server.Requests.First(r => r.Path == "/msi/token");
                Assert.Contains("client_id=uami-client-id", tokenCall.Query);
                Assert.Contains(sim.TokenRequests, t => t == "mi:uami-client-id");
                Assert.All(server.Requests.Where(r => r.Path.StartsWith("/subscriptions")), r => Assert.StartsWith("Bearer tok-mi", r.Authorization));
            }
            finally
            {
                Environment.SetEnvironmentVariable("IDENTITY_ENDPOINT", saved.Item1);
                Environment.SetEnvironmentVariable("IDENTITY_HEADER", saved.Item2);
            }
        }

        [ChildFact]
        public async Task ServicePrincipal_Secret_AgainstLoopbackAuthority_WithoutInstanceDiscovery()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using var c = await Harness.ConnectAsync(sim, settings: Sp(server.BaseUrl),
                secrets: new Dictionary<string, object> { ["Credential"] = new NetworkCredential(ArmSimulator.SpClientId, ArmSimulator.SpSecret) });
            await c.ListSizesAsync(Harness.Ct());
            Assert.Contains("sp-secret", sim.TokenRequests);
            Assert.DoesNotContain("instance-discovery", sim.TokenRequests);
            Assert.Contains(server.Requests, r => r.Path == "/" + ArmSimulator.Tenant + "/oauth2/v2.0/token");
        }

        [ChildFact]
        public async Task ServicePrincipal_WrongSecret_IsUnauthorized_AndNeverShowsTheSecret()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            var ex = await Assert.ThrowsAsync<GridException>(() => Harness.ConnectAsync(sim, settings: Sp(server.BaseUrl),
                secrets: new Dictionary<string, object> { ["Credential"] = new NetworkCredential(ArmSimulator.SpClientId, "Wrong-Secret-xyz") }));
            Assert.Equal(GridErrorKind.Unauthorized, ex.Kind);
            Assert.Equal("AzureAuthenticationFailed", ex.ErrorId);
            Assert.DoesNotContain("Wrong-Secret-xyz", ex.Message);
            Assert.DoesNotContain("Wrong-Secret-xyz", ex.ToString());
        }

        [ChildFact]
        public async Task ServicePrincipal_Certificate_FromPath()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            string pfx = Path.Combine(Path.GetTempPath(), "gridaz-sp-" + Guid.NewGuid().ToString("N") + ".pfx");
            using (var rsa = RSA.Create(2048))
            {
                var req = new CertificateRequest("CN=grid-sp", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
                using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
                File.WriteAllBytes(pfx, cert.Export(X509ContentType.Pfx));
            }
            try
            {
                var settings = Sp(server.BaseUrl);
                settings["ApplicationId"] = ArmSimulator.SpClientId;
                settings["ClientCertificatePath"] = pfx;
                using var c = await Harness.ConnectAsync(sim, settings: settings, secrets: new Dictionary<string, object>());
                Assert.Contains("sp-cert", sim.TokenRequests);
            }
            finally { File.Delete(pfx); }
        }

        [ChildFact]
        public async Task ServicePrincipal_Certificate_ByThumbprint_FromTheCurrentUserStore()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using var rsa = RSA.Create(2048);
            var req = new CertificateRequest("CN=grid-sp-store-" + Guid.NewGuid().ToString("N").Substring(0, 8), rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var made = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            // As a user imports a PFX into CurrentUser\My (on Linux .NET keeps that store under ~/.dotnet/corefx).
            using var cert = new X509Certificate2(made.Export(X509ContentType.Pfx), (string?)null, X509KeyStorageFlags.PersistKeySet | X509KeyStorageFlags.Exportable);
            using (var store = new X509Store(StoreName.My, StoreLocation.CurrentUser)) { store.Open(OpenFlags.ReadWrite); store.Add(cert); }
            try
            {
                var settings = Sp(server.BaseUrl);
                settings["ApplicationId"] = ArmSimulator.SpClientId;
                // The thumbprint as copied from the certificate manager: an invisible U+200E mark, spaced, lower case.
                settings["ClientCertificateThumbprint"] = "\u200e" + string.Join(" ", Enumerable.Range(0, cert.Thumbprint.Length / 4).Select(i => cert.Thumbprint.Substring(i * 4, 4))).ToLowerInvariant();
                using var c = await Harness.ConnectAsync(sim, settings: settings, secrets: new Dictionary<string, object>());
                Assert.Contains("sp-cert", sim.TokenRequests);

                settings["ClientCertificateThumbprint"] = new string('0', 40);
                var ex = await Assert.ThrowsAsync<GridException>(() => Harness.ConnectAsync(sim, settings: settings, secrets: new Dictionary<string, object>()));
                Assert.Equal("AzureCertificateNotFound", ex.ErrorId);
                Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
            }
            finally
            {
                using var store = new X509Store(StoreName.My, StoreLocation.CurrentUser);
                store.Open(OpenFlags.ReadWrite);
                store.Remove(cert);
            }
        }

        [ChildFact]
        public async Task AccessToken_IsUsedAsIs_AndAWrongOneIsUnauthorized()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using (var c = await Harness.ConnectAsync(sim))
                Assert.All(server.Requests, r => Assert.Equal("Bearer " + ArmSimulator.CallerToken, r.Authorization));
            var ex = await Assert.ThrowsAsync<GridException>(() => Harness.ConnectAsync(sim, secrets: new Dictionary<string, object> { ["AccessToken"] = "not-a-token-we-issued" }));
            Assert.Equal(GridErrorKind.Unauthorized, ex.Kind);
            Assert.Equal("InvalidAuthenticationToken", ex.NativeCode);
            Assert.DoesNotContain("not-a-token-we-issued", ex.Message);
        }

        [ChildFact]
        public async Task NoCredential_NeverPrompts_AndSaysNoCredentialIsAvailable()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            string[] vars = { "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME" };
            var saved = vars.ToDictionary(v => v, Environment.GetEnvironmentVariable);
            foreach (var v in vars) Environment.SetEnvironmentVariable(v, null);
            try
            {
                var started = DateTime.UtcNow;
                var ex = await Assert.ThrowsAsync<GridException>(() => Harness.ConnectAsync(sim, secrets: new Dictionary<string, object>()));
                Assert.Equal(GridErrorKind.Unauthorized, ex.Kind);
                Assert.True(ex.ErrorId == "AzureCredentialUnavailable" || ex.ErrorId == "AzureAuthenticationFailed", ex.ErrorId);
                Assert.DoesNotContain(server.Requests, r => r.Path.StartsWith("/subscriptions"));
            }
            finally { foreach (var kv in saved) Environment.SetEnvironmentVariable(kv.Key, kv.Value); }
        }

        [ChildFact]
        public async Task BadConnectionParameters_AreInvalidRequests_BeforeAnyCall()
        {
            var tok = new Dictionary<string, object> { ["AccessToken"] = ArmSimulator.CallerToken };
            async Task<string> Id(string sub, string loc, string arm, IDictionary<string, string>? s = null, IDictionary<string, object>? secrets = null)
                => (await Assert.ThrowsAsync<GridException>(() => new AzureProvider().ConnectAsync(Harness.Request("bad", arm, sub, loc, s, secrets ?? tok), Harness.Ct()))).ErrorId;
            Assert.Equal("AzureInvalidArmEndpoint", await Id(ArmSimulator.Subscription, "westeurope", "http://127.0.0.1:9/"));
            Assert.Equal("AzureInvalidSubscriptionId", await Id("not-a-guid", "westeurope", "https://127.0.0.1:9/"));
            Assert.Equal("AzureLocationRequired", await Id(ArmSimulator.Subscription, " ", "https://127.0.0.1:9/"));
            Assert.Equal("AzureInvalidEnvironment", await Id(ArmSimulator.Subscription, "westeurope", "https://127.0.0.1:9/", new Dictionary<string, string> { ["Environment"] = "AzureGermanCloud" }));
            Assert.Equal("AzureConflictingCredentials", await Id(ArmSimulator.Subscription, "westeurope", "https://127.0.0.1:9/", new Dictionary<string, string> { ["Identity"] = "True" }));
            Assert.Equal("AzureTenantRequired", await Id(ArmSimulator.Subscription, "westeurope", "https://127.0.0.1:9/", new Dictionary<string, string> { ["ServicePrincipal"] = "True" }, new Dictionary<string, object>()));
        }

        [ChildFact]
        public void Parameters_AreDeclared_AndEnvironmentIsRestricted()
        {
            var p = new AzureProvider();
            Assert.Equal("Azure", p.Name);
            var names = p.ConnectionParameters.Select(x => x.Name).ToArray();
            foreach (var n in new[] { "SubscriptionId", "Location", "ResourceGroupName", "Identity", "AccountId", "ServicePrincipal", "Credential", "TenantId", "ClientCertificatePath", "ClientCertificateThumbprint", "AccessToken", "Environment", "ArmEndpoint", "AuthorityHost" })
                Assert.Contains(n, names);
            var env = p.ConnectionParameters.Single(x => x.Name == "Environment");
            Assert.True(env.Restricted);
            Assert.Equal(new[] { "AzureCloud", "AzureUSGovernment", "AzureChinaCloud" }, env.ValidValues);
            Assert.True(p.ConnectionParameters.Single(x => x.Name == "AccessToken").IsSecret);
            Assert.True(p.ConnectionParameters.Single(x => x.Name == "Credential").IsSecret);
        }
    }
}
