using System;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using GridAutomation.Provider.Xen.Tests.Server;
using GridAutomation.Providers.Xen;

namespace GridAutomation.Provider.Xen.Tests
{
    internal static class TestConnect
    {
        internal static async Task<XenConnection> ConnectAsync(FakeXapi server, string? protocol = "JsonRpc", string datacenter = "xen-test",
            string? user = null, string? password = null, IDictionary<string, string>? settings = null, List<string>? verbose = null, string? url = null)
        {
            var dc = new GridDatacenter { Name = datacenter, Provider = "Xen" };
            dc.Settings["Server"] = url ?? server.Url;
            if (protocol != null) dc.Settings["Protocol"] = protocol;
            if (settings != null) foreach (var kv in settings) dc.Settings[kv.Key] = kv.Value;
            var req = new ProviderConnectRequest
            {
                Datacenter = dc,
                Secrets = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase) { ["Credential"] = new NetworkCredential(user ?? server.User, password ?? server.Password) },
                Services = new ProviderServices(null!, new NoRetry(), m => { if (verbose != null) lock (verbose) verbose.Add(m); }),
            };
            var c = (XenConnection)await new XenProvider().ConnectAsync(req, CancellationToken.None);
            c.Client.TaskPollInterval = TimeSpan.FromMilliseconds(10);
            return c;
        }
    }

    public sealed class NoRetry : IRetryPolicy
    {
        public Task<T> ExecuteAsync<T>(string datacenter, Func<CancellationToken, Task<T>> call, bool sdkRetries, CancellationToken cancellationToken) => call(cancellationToken);
    }
}
