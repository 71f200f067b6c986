using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Azure;
using Xunit;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>An Azure region's capacity for placement is its compute usages quota (the loopback ARM's usages endpoint).</summary>
    [Collection("environment")]
    public sealed class QuotaPlacementTests
    {
        private sealed class Observer : IEngineObserver
        {
            public void Progress(string target, GridProgress progress) { }
            public void Verbose(string message) { }
            public void Warning(string message) { }
        }

        [ChildFact]
        public async Task Usages_ReportTheRegionalVcpuAndVmQuotas_WithWhatTheVmsUse()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server) { CoresLimit = 12, OtherCoresUsed = 3 };
            var conn = await Harness.ConnectAsync(sim);
            await conn.CreateWorkloadAsync(Harness.Create("q-1"), new TestScope(), Harness.Ct()); // Standard_B2s: 2 vCPUs
            IQuotaCapacity q = conn;
            var quotas = await q.GetQuotasAsync(Harness.Ct());
            var cores = Assert.Single(quotas, x => x.Name == "cores");
            Assert.Equal((QuotaUnit.Vcpu, 12.0, 5.0, "Total Regional vCPUs"), (cores.Unit, cores.Limit, cores.Used, cores.Description));
            var vms = Assert.Single(quotas, x => x.Name == "virtualMachines");
            Assert.Equal((QuotaUnit.Workloads, 1.0), (vms.Unit, vms.Used));
            Assert.DoesNotContain(quotas, x => x.Name == "standardBSFamily"); // family quotas are not mapped (docs/grid.md)
            Assert.Contains(server.Requests, r => r.Method == "GET" && r.Path.Contains("/providers/Microsoft.Compute/locations/" + ArmSimulator.Location + "/usages", StringComparison.OrdinalIgnoreCase));
        }

        [ChildFact]
        public async Task Placement_IntoTheRegion_IsRefusedOrAcceptedByItsVcpuQuota()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server) { CoresLimit = 8, OtherCoresUsed = 4 };
            string dir = Path.Combine(Path.GetTempPath(), "gridaz-quota-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(dir, "state.db"), RetryCount = 1, RetryMaxDelaySeconds = 1, LeaseTimeoutSeconds = 120 }, readOnly: false);
            var obs = new Observer();
            try
            {
                var settings = new Dictionary<string, string> { ["SubscriptionId"] = ArmSimulator.Subscription, ["Location"] = ArmSimulator.Location, ["ResourceGroupName"] = Harness.Rg, ["ArmEndpoint"] = sim.ArmEndpoint };
                await engine.ConnectDatacenterAsync("Azure", "az-q", "Contoso", "Amsterdam", settings, new Dictionary<string, object> { ["AccessToken"] = ArmSimulator.CallerToken }, obs, Harness.Ct());
                PlacementRequest Request(params string[] names) => new PlacementRequest
                {
                    Datacenters = new[] { "az-q" },
                    Workloads = names.Select(n =>
                    {
                        var c = Harness.Create(n); // Standard_B2s: 2 vCPUs
                        return new WorkloadSpec { Name = n, Size = c.Size, Image = c.Image, Owner = "Contoso", Options = new Dictionary<string, string>(c.Options, StringComparer.OrdinalIgnoreCase) };
                    }).ToList(),
                };

                // 4 of 8 vCPUs in use: two 2-vCPU workloads fit, the third of the same plan exceeds 'cores'.
                var plan = await engine.Grid.PlanAsync(Request("a", "b", "c"), obs, Harness.Ct());
                Assert.Equal(new[] { true, true, false }, plan.Placements.Select(p => p.Fits).ToArray());
                var c = plan.Placements[2];
                Assert.Equal("ProviderQuota", c.Eliminated);
                Assert.Equal("ProviderQuotaExceeded", GridPlacement.NoPlacementErrorId(c));
                Assert.Contains("quota 'cores' (Total Regional vCPUs) of 'az-q': 8 of 8 vCPUs in use, this needs 2 more", c.Reason);
                var why = Assert.Single(c.Rejected);
                Assert.Equal(("az-q", "ProviderQuota"), (why.Datacenter, why.Constraint));
                Assert.StartsWith("ProviderQuotaExceeded: Azure quota 'cores'", why.Reason);
                Assert.Empty(plan.Placements[0].Rejected);

                // Creating through the plan: the one over the quota is refused with the error id naming the quota kind.
                var ex = await Assert.ThrowsAsync<GridException>(() => engine.Grid.PlaceAsync(plan, c, null, obs, Harness.Ct()));
                Assert.Equal("ProviderQuotaExceeded", ex.ErrorId);
                Assert.Contains("'cores'", ex.Message);

                // The quota raised (or other use gone): all three are accepted.
                sim.CoresLimit = 10;
                var again = await engine.Grid.PlanAsync(Request("a", "b", "c"), obs, Harness.Ct());
                Assert.All(again.Placements, p => { Assert.True(p.Fits, p.Reason); Assert.Equal("az-q", p.Datacenter); Assert.Null(p.Host); });

                // A created VM counts: 4 + 2 (made) + 2 + 2 > 8 vCPUs again.
                sim.CoresLimit = 8;
                var made = await engine.Grid.PlaceAsync(again, again.Placements[0], null, obs, Harness.Ct());
                Assert.Equal(WorkloadState.Running, made.State);
                var after = await engine.Grid.PlanAsync(Request("d", "e"), obs, Harness.Ct());
                Assert.Equal(new[] { true, false }, after.Placements.Select(p => p.Fits).ToArray());
            }
            finally
            {
                GridEngine.Reset();
                try { Directory.Delete(dir, true); } catch (IOException) { }
            }
        }
    }
}
