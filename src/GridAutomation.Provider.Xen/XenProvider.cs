using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Xen.Xapi;

namespace GridAutomation.Providers.Xen
{
    /// <summary>
    /// Citrix XenServer / XCP-ng pools through XAPI (JSON-RPC at /jsonrpc, XML-RPC at / for older pools), with our
    /// own small client in Xapi/. One GridDatacenter is one pool.
    /// </summary>
    public sealed class XenProvider : IGridProvider
    {
        public const string ProviderName = "Xen";

        internal const GridCapabilities All =
            GridCapabilities.Create | GridCapabilities.Start | GridCapabilities.Stop | GridCapabilities.TurnOff |
            GridCapabilities.Restart | GridCapabilities.Suspend | GridCapabilities.Remove | GridCapabilities.RemoveStorage |
            GridCapabilities.Resize | GridCapabilities.Move | GridCapabilities.LiveMove | GridCapabilities.Tags |
            GridCapabilities.Pause;

        private static readonly IReadOnlyList<ProviderParameter> Parameters = new[]
        {
            new ProviderParameter("Server", ProviderParameterKind.String, "Pool master (or any pool member: HOST_IS_SLAVE is followed) host name or URL, e.g. xcp1.example.com or https://10.0.0.5.") { Mandatory = true },
            new ProviderParameter("Credential", ProviderParameterKind.Credential, "XAPI user name and password (session.login_with_password), e.g. root.") { Mandatory = true },
            new ProviderParameter("Protocol", ProviderParameterKind.String, "JsonRpc (/jsonrpc, XenServer 7.3+ and XCP-ng) or XmlRpc (/, older pools). Default: JSON-RPC, falling back to XML-RPC when the pool has no /jsonrpc.")
                { ValidValues = new[] { "JsonRpc", "XmlRpc" }, Restricted = true },
            new ProviderParameter("SkipCertificateCheck", ProviderParameterKind.Switch, "Do not validate the server's TLS certificate at all."),
            new ProviderParameter("ServerCertificateThumbprint", ProviderParameterKind.String, "Trust exactly this server certificate: its SHA-256 or SHA-1 thumbprint (hex, colons allowed)."),
        };

        public string Name => ProviderName;
        public string Description => "Citrix XenServer / XCP-ng pools (XAPI over JSON-RPC or XML-RPC).";
        public GridCapabilities Capabilities => All;
        public IReadOnlyList<ProviderParameter> ConnectionParameters => Parameters;

        public bool IsAvailable(out string? reason) { reason = null; return true; }

        public async Task<IGridConnection> ConnectAsync(ProviderConnectRequest request, CancellationToken cancellationToken)
        {
            if (request == null) throw GridException.InvalidRequest("No connection request.", "InvalidConnectRequest");
            string? server = request.GetSetting("Server");
            if (string.IsNullOrWhiteSpace(server)) throw GridException.InvalidRequest("-Server is required: the pool master's host name or URL.", "ServerRequired");
            var cred = request.GetCredential("Credential");
            if (cred == null || string.IsNullOrEmpty(cred.UserName)) throw GridException.InvalidRequest("-Credential is required (XAPI user name and password).", "CredentialRequired");
            string? protocolText = request.GetSetting("Protocol");
            var protocol = ParseProtocol(protocolText);
            var tls = new TlsSettings
            {
                SkipCertificateCheck = request.GetSwitch("SkipCertificateCheck"),
                Thumbprint = request.GetSetting("ServerCertificateThumbprint"),
            };
            var client = new XapiClient(ParseServer(server!), protocol, tls, request.Services?.Verbose) { AutoFallback = string.IsNullOrWhiteSpace(protocolText) };
            var conn = new XenConnection(request.Datacenter, client, request.Services?.Verbose);
            try
            {
                await conn.InitializeAsync(cred, cancellationToken).ConfigureAwait(false);
                return conn;
            }
            catch
            {
                conn.Dispose();
                throw;
            }
        }

        internal static XapiProtocol ParseProtocol(string? text)
        {
            if (string.IsNullOrWhiteSpace(text) || string.Equals(text, "JsonRpc", StringComparison.OrdinalIgnoreCase) || string.Equals(text, "json", StringComparison.OrdinalIgnoreCase))
                return XapiProtocol.JsonRpc;
            if (string.Equals(text, "XmlRpc", StringComparison.OrdinalIgnoreCase) || string.Equals(text, "xml", StringComparison.OrdinalIgnoreCase))
                return XapiProtocol.XmlRpc;
            throw GridException.InvalidRequest($"-Protocol '{text}' is not JsonRpc or XmlRpc.", "InvalidProtocol", text);
        }

        /// <summary>"xcp1", "xcp1:8443", "https://xcp1" → the base URL (https by default, path dropped: XAPI listens at / and /jsonrpc).</summary>
        internal static Uri ParseServer(string server)
        {
            string s = server.Trim();
            if (!s.Contains("://")) s = "https://" + s;
            if (!Uri.TryCreate(s, UriKind.Absolute, out var u) || (u.Scheme != "https" && u.Scheme != "http") || string.IsNullOrEmpty(u.Host))
                throw GridException.InvalidRequest($"-Server '{server}' is neither a host name nor an http(s) URL.", "InvalidServer");
            if (!string.IsNullOrEmpty(u.UserInfo))
                throw GridException.InvalidRequest("-Server must not carry a user name or password: use -Credential.", "InvalidServer");
            return new UriBuilder(u.Scheme, u.Host, u.Port).Uri;
        }
    }
}
