using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Replication;
using GridAutomation.Core.State;
using Xunit;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// The subnets of a location's virtual networks as an Azure datacenter's networks (INetworkCatalog, through the
    /// generic resource API with the real SDK against the loopback ARM), the create option Network naming one
    /// ("vnet/subnet" or a subnet name), and Start-GridFailover -Mode Test -TestNetwork into Azure through the core.
    /// </summary>
    [Collection("environment")]
    public sealed class AzureNetworkTests
    {
        [ChildFact]
        public async Task Catalog_lists_the_locations_subnets_and_a_create_names_one()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server) { PollsPerOperation = 0 };
            using var weu = await Harness.ConnectAsync(sim);
            Assert.Equal(new[] { "isolated", "vnet-dr/default", "vnet-dr/isolated", "vnet1/default" }, await ((INetworkCatalog)weu).GetNetworksAsync(Harness.Ct()));
            // the subscription-wide datacenter of northeurope sees only that location's virtual network
            using var neu = await Harness.ConnectAsync(sim, "az-neu", "northeurope", new Dictionary<string, string>());
            Assert.Equal(new[] { "default", "dr-test", "vnet-neu/default", "vnet-neu/dr-test" }, await ((INetworkCatalog)neu).GetNetworksAsync(Harness.Ct()));

            var req = Harness.Create("web-iso");
            req.Options["Network"] = "VNET-DR/isolated";
            var w = await weu.CreateWorkloadAsync(req, new TestScope(), Harness.Ct());
            Assert.Equal(new[] { ArmSimulator.SubnetIdOf(Harness.Rg, "vnet-dr", "isolated") }, sim.SubnetsOf(w.NativeId));

            int vms = sim.VmCount;
            var amb = Harness.Create("web-amb"); amb.Options["Network"] = "default";
            var ex = await Assert.ThrowsAsync<GridException>(() => weu.CreateWorkloadAsync(amb, new TestScope(), Harness.Ct()));
            Assert.Equal(("NetworkAmbiguous", GridErrorKind.InvalidRequest), (ex.ErrorId, ex.Kind));
            var lost = Harness.Create("web-lost"); lost.Options["Network"] = "dmz";
            ex = await Assert.ThrowsAsync<GridException>(() => weu.CreateWorkloadAsync(lost, new TestScope(), Harness.Ct()));
            Assert.Equal(("NetworkNotFound", GridErrorKind.NotFound), (ex.ErrorId, ex.Kind));
            Assert.Contains("vnet-dr/isolated", ex.Message);
            Assert.Equal(vms, sim.VmCount);
            Assert.DoesNotContain(server.Requests, r => r.Method == "PUT" && (r.Path.EndsWith("/web-amb", StringComparison.Ordinal) || r.Path.EndsWith("/web-lost", StringComparison.Ordinal)));
        }

        [ChildFact]
        public async Task Test_failover_puts_the_copys_NIC_in_the_test_subnet_and_the_stop_removes_it()
        {
            await using var server = await TestHttpsServer.StartAsync();
            await using var az = await Azurite.StartAsync();
            var sim = new ArmSimulator(server) { Storage = az };
            string dir = DiskMoveTests.TempDir();
            string? oldTemp = Environment.GetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP");
            Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", Path.Combine(dir, "moves"));
            var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(dir, "state.db"), RetryCount = 1, RetryMaxDelaySeconds = 1, LeaseTimeoutSeconds = 120 }, readOnly: false);
            try
            {
                var secrets = new Dictionary<string, object> { ["AccessToken"] = ArmSimulator.CallerToken };
                foreach (var (name, loc, rg) in new[] { ("az-weu", ArmSimulator.Location, Harness.Rg), ("az-neu", "northeurope", "grid2") })
                    await engine.ConnectDatacenterAsync("Azure", name, null, null, new Dictionary<string, string>
                    {
                        ["SubscriptionId"] = ArmSimulator.Subscription, ["Location"] = loc, ["ResourceGroupName"] = rg, ["ArmEndpoint"] = sim.ArmEndpoint,
                        [GridAutomation.Core.Moves.MovePlanner.DefaultsSetting] = "Network=" + ArmSimulator.SubnetIdOf("grid2", "vnet-neu", "default"),
                    }, secrets, NullObserver.Instance, Harness.Ct());
                sim.PollsPerOperation = 0;
                using var weu = await Harness.ConnectAsync(sim, "az-weu");
                var (w, _, _) = await RunningExportTests.RunningVmAsync(weu, dir);
                var source = await engine.GetWorkloadAsync("az-weu/" + WorkloadId.Escape(w.NativeId), Harness.Ct());
                await engine.Replication.EnableAsync(source, new ReplicationRequest { DestinationDatacenter = "az-neu", RecoveryPointCount = 1 }, NullObserver.Instance, Harness.Ct(300));

                // an unknown name: refused before anything is journaled or made
                int ops = engine.GetOperations(new OperationFilter { IncludeChildren = true }).Count, vms = sim.VmCount;
                var nf = await Assert.ThrowsAsync<GridException>(() => engine.Replication.FailoverAsync(new[] { source }, FailoverMode.Test, null, "dmz", NullObserver.Instance, Harness.Ct()));
                Assert.Equal(("NetworkNotFound", GridErrorKind.NotFound), (nf.ErrorId, nf.Kind));
                Assert.Contains("vnet-neu/dr-test", nf.Message);
                Assert.Equal(ops, engine.GetOperations(new OperationFilter { IncludeChildren = true }).Count);
                Assert.Equal(vms, sim.VmCount);

                // the recovery point's imported disk at the destination, and its bytes before any failover
                var point = Assert.Single(engine.Replication.GetPoints(engine.Replication.Find(source.Id)));
                string pointDisk = Assert.Single(point.ImportedDisks);
                string pointBytes = await BlobHashAsync(az, pointDisk);
                Assert.Equal("Unattached", sim.DiskStateOf(pointDisk));

                var r = Assert.Single(await engine.Replication.FailoverAsync(new[] { source }, FailoverMode.Test, null, "dr-test", NullObserver.Instance, Harness.Ct(300)));
                Assert.True(r.Status == "Running", r.ErrorId + ": " + r.Error);
                // the copy runs on its own full copy of the point's disk (createOption=Copy); the point is not attached
                var (copyDisk, copiedFrom) = Assert.Single(sim.DisksCopied);
                Assert.Equal(pointDisk, copiedFrom, StringComparer.OrdinalIgnoreCase);
                Assert.Equal("Attached", sim.DiskStateOf(copyDisk));
                Assert.Equal("Unattached", sim.DiskStateOf(pointDisk));
                var copy = await engine.GetWorkloadAsync(r.DestinationId!, Harness.Ct());
                Assert.True(copy.Tags.ContainsKey(ReplicationService.TestTag));
                Assert.Equal(new[] { ArmSimulator.SubnetIdOf("grid2", "vnet-neu", "dr-test") }, sim.SubnetsOf(copy.NativeId));
                // the primary keeps running in its own subnet
                Assert.Equal("running", sim.PowerOf(w.NativeId));
                Assert.Equal(new[] { ArmSimulator.SubnetId(Harness.Rg) }, sim.SubnetsOf(w.NativeId));

                await engine.Replication.StopTestAsync(engine.Replication.Get(), NullObserver.Instance, Harness.Ct(300));
                Assert.Null(sim.PowerOf(copy.NativeId)); // the copy is gone
                Assert.Empty(engine.Replication.Find(source.Id)!.TestWorkloadIds);
                // issue 17: the drill did not consume the point: its disk is there, unchanged, still listed; the copy is gone
                Assert.Null(sim.DiskStateOf(copyDisk));
                Assert.Equal("Unattached", sim.DiskStateOf(pointDisk));
                Assert.Equal(pointBytes, await BlobHashAsync(az, pointDisk));
                Assert.Equal(point.Sequence, Assert.Single(engine.Replication.GetPoints(engine.Replication.Find(source.Id))).Sequence);

                // a second drill from the SAME point succeeds, on a second copy, and leaves the point as it was
                var r2 = Assert.Single(await engine.Replication.FailoverAsync(new[] { source }, FailoverMode.Test, null, "dr-test", NullObserver.Instance, Harness.Ct(300)));
                Assert.True(r2.Status == "Running", r2.ErrorId + ": " + r2.Error);
                Assert.Equal(point.Time, r2.RecoveryPointTime);
                Assert.Equal(2, sim.DisksCopied.Count);
                Assert.Equal(pointDisk, sim.DisksCopied[1].Source, StringComparer.OrdinalIgnoreCase);
                Assert.NotEqual(copyDisk, sim.DisksCopied[1].Copy);
                await engine.Replication.StopTestAsync(engine.Replication.Get(), NullObserver.Instance, Harness.Ct(300));
                Assert.Null(sim.DiskStateOf(sim.DisksCopied[1].Copy));
                Assert.Equal("Unattached", sim.DiskStateOf(pointDisk));
                Assert.Equal(pointBytes, await BlobHashAsync(az, pointDisk));
            }
            finally
            {
                GridEngine.Reset();
                Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", oldTemp);
                try { Directory.Delete(dir, true); } catch (IOException) { }
            }
        }

        internal static async Task<string> BlobHashAsync(Azurite az, string diskId)
        {
            var blob = az.Service.GetBlobContainerClient(ArmSimulator.DiskContainer).GetBlobClient(new global::Azure.Core.ResourceIdentifier(diskId).Name);
            var bytes = (await blob.DownloadContentAsync()).Value.Content.ToArray();
            return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes));
        }
    }
}
