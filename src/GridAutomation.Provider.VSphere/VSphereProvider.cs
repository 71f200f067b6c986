using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>
    /// vCenter / ESXi through the vim25 SOAP API (our own small client in Vim25/) and vSphere tags through the
    /// vAPI REST endpoint. One GridDatacenter is one vSphere datacenter.
    /// </summary>
    public sealed class VSphereProvider : IGridProvider
    {
        public const string ProviderName = "VSphere";

        internal const GridCapabilities All =
            GridCapabilities.Create | GridCapabilities.Start | GridCapabilities.Stop | GridCapabilities.TurnOff |
            GridCapabilities.Restart | GridCapabilities.Suspend | GridCapabilities.Remove | GridCapabilities.RemoveStorage |
            GridCapabilities.Resize | GridCapabilities.Move | GridCapabilities.LiveMove | GridCapabilities.Tags;

        private static readonly IReadOnlyList<ProviderParameter> Parameters = new[]
        {
            new ProviderParameter("Server", ProviderParameterKind.String, "vCenter or ESXi host name, or URL (https://vc.example.com/sdk).") { Mandatory = true },
            new ProviderParameter("Credential", ProviderParameterKind.Credential, "vSphere user name and password (SessionManager.Login).") { Mandatory = true },
            new ProviderParameter("DatacenterName", ProviderParameterKind.String, "The vSphere datacenter this GridDatacenter maps to (default: the first one)."),
            new ProviderParameter("SkipCertificateCheck", ProviderParameterKind.Switch, "Do not validate the server's TLS certificate at all."),
            new ProviderParameter("ServerCertificateThumbprint", ProviderParameterKind.String, "Trust exactly this server certificate: its SHA-256 or SHA-1 thumbprint (hex, colons allowed) as vCenter shows it."),
            new ProviderParameter("MoveDefaults", ProviderParameterKind.StringArray, "Default destination settings for moves into this datacenter, as Key=Value (Datastore=<name> for the OVF import), used when -Option does not give them."),
            new ProviderParameter("AllowInsecureHttp", ProviderParameterKind.Switch, "Allow a plain http:// -Server (the login, password included, is sent unencrypted; a warning says so). Refused without it."),
        };

        public string Name => ProviderName;
        public string Description => "VMware vCenter / ESXi (vim25 SOAP API, vSphere tags through vAPI).";
        public GridCapabilities Capabilities => All;
        public IReadOnlyList<ProviderParameter> ConnectionParameters => Parameters;

        public bool IsAvailable(out string? reason) { reason = null; return true; }

        public async Task<IGridConnection> ConnectAsync(ProviderConnectRequest request, CancellationToken cancellationToken)
        {
            if (request == null) throw GridException.InvalidRequest("No connection request.", "InvalidConnectRequest");
            string? server = request.GetSetting("Server");
            if (string.IsNullOrWhiteSpace(server)) throw GridException.InvalidRequest("-Server is required: the vCenter or ESXi host name or URL.", "ServerRequired");
            var cred = request.GetCredential("Credential");
            if (cred == null || string.IsNullOrEmpty(cred.UserName)) throw GridException.InvalidRequest("-Credential is required (vSphere user name and password).", "CredentialRequired");
            var url = ParseServer(server!);
            if (url.Scheme == "http")
            {
                if (!request.GetSwitch("AllowInsecureHttp"))
                    throw GridException.InvalidRequest($"-Server {url.Scheme}://{url.Authority} is plain http: the vSphere login would send the password unencrypted. Use https, or add -AllowInsecureHttp for a test server you trust.", "InsecureHttpRefused", url.Authority);
                request.Services?.Warning($"Datacenter '{request.Datacenter.Name}': -AllowInsecureHttp: the vSphere login to {url.Authority} (user name and password) goes over plain http, unencrypted.");
            }
            var conn = new VSphereConnection(request.Datacenter, url, new TlsSettings
            {
                SkipCertificateCheck = request.GetSwitch("SkipCertificateCheck"),
                Thumbprint = request.GetSetting("ServerCertificateThumbprint"),
            }, request.Services?.Verbose, request.Services?.Retry);
            try
            {
                await conn.InitializeAsync(cred, request.GetSetting("DatacenterName"), cancellationToken).ConfigureAwait(false);
                return conn;
            }
            catch
            {
                conn.Dispose();
                throw;
            }
        }

        /// <summary>"vc.example.com", "vc:8443", "https://vc.example.com" or a full SDK URL → the SDK URL (https, /sdk by default).</summary>
        internal static Uri ParseServer(string server)
        {
            string s = server.Trim();
            if (!s.Contains("://")) s = "https://" + s;
            if (!Uri.TryCreate(s, UriKind.Absolute, out var u) || (u.Scheme != "https" && u.Scheme != "http") || string.IsNullOrEmpty(u.Host))
                throw GridException.InvalidRequest($"-Server '{server}' is neither a host name nor an http(s) URL.", "InvalidServer");
            var b = new UriBuilder(u);
            if (string.IsNullOrEmpty(b.Path) || b.Path == "/") b.Path = "/sdk";
            return b.Uri;
        }
    }
}
