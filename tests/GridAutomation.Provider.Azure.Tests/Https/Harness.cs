using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Azure;

namespace GridAutomation.Provider.Azure.Tests
{
    internal static class Harness
    {
        public const string Rg = "grid";
        public const string SshKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGridAutomationTestKeyOnly test@grid";

        public static CancellationToken Ct(int seconds = 120) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

        public static ProviderConnectRequest Request(string dcName, string armEndpoint, string subscription, string location, IDictionary<string, string>? settings = null, IDictionary<string, object>? secrets = null, List<string>? verbose = null)
        {
            var dc = new GridDatacenter { Name = dcName, Provider = "Azure" };
            dc.Settings["SubscriptionId"] = subscription;
            dc.Settings["Location"] = location;
            dc.Settings["ArmEndpoint"] = armEndpoint;
            if (settings != null) foreach (var kv in settings) dc.Settings[kv.Key] = kv.Value;
            return new ProviderConnectRequest
            {
                Datacenter = dc,
                Secrets = new Dictionary<string, object>(secrets ?? new Dictionary<string, object>(), StringComparer.OrdinalIgnoreCase),
                Services = new ProviderServices(null!, null!, m => { if (verbose != null) lock (verbose) verbose.Add(m); }),
            };
        }

        /// <summary>Connects with -AccessToken (the token the simulator accepts) unless other secrets are given.</summary>
        public static async Task<AzureConnection> ConnectAsync(ArmSimulator sim, string dcName = "az-weu", string location = ArmSimulator.Location, IDictionary<string, string>? settings = null, IDictionary<string, object>? secrets = null, List<string>? verbose = null)
        {
            secrets ??= new Dictionary<string, object> { ["AccessToken"] = ArmSimulator.CallerToken };
            var req = Request(dcName, sim.ArmEndpoint, ArmSimulator.Subscription, location, settings ?? new Dictionary<string, string> { ["ResourceGroupName"] = Rg }, secrets, verbose);
            var c = (AzureConnection)await new AzureProvider().ConnectAsync(req, Ct());
            c.FallbackPollInterval = TimeSpan.FromMilliseconds(20);
            c.MinPollInterval = TimeSpan.Zero;
            return c;
        }

        public static CreateWorkloadRequest Create(string name, string? key = null) => new CreateWorkloadRequest
        {
            Name = name,
            Image = "Canonical:ubuntu-24_04-lts:server:latest",
            Size = "Standard_B2s",
            IdempotencyKey = key ?? ("az-weu/" + name),
            Options = { ["Network"] = ArmSimulator.SubnetId(Rg), ["SshPublicKey"] = SshKey },
        };

        public static async Task<List<GridWorkload>> ListAllAsync(IGridConnection c, WorkloadQuery? q = null)
        {
            var all = new List<GridWorkload>();
            await foreach (var page in c.ListWorkloadsAsync(q ?? new WorkloadQuery(), Ct())) all.AddRange(page);
            return all;
        }
    }

    /// <summary>The shared provider contract, against the stateful loopback ARM endpoint over HTTPS.</summary>
    public sealed class AzureContractTests : ProviderContractTests
    {
        protected override ContractTarget CreateTarget()
        {
            var server = TestHttpsServer.StartAsync().GetAwaiter().GetResult();
            var sim = new ArmSimulator(server);
            var conn = Harness.ConnectAsync(sim).GetAwaiter().GetResult();
            return new ContractTarget(conn)
            {
                Image = "Canonical:ubuntu-24_04-lts:server:latest",
                Size = "Standard_B2s",
                CreateOptions = new Dictionary<string, string> { ["Network"] = ArmSimulator.SubnetId(Harness.Rg), ["SshPublicKey"] = Harness.SshKey },
                Cleanup = () => server.DisposeAsync().AsTask().GetAwaiter().GetResult(),
            };
        }
    }
}
