using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Azure;
using Xunit;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// The whole move through the core (MoveService report, MoveOrchestrator steps, journal) between two Azure
    /// datacenters of the loopback ARM endpoint with Azurite behind: export (read SAS download), verify, import
    /// (upload), create from the attached disk, verify-destination, start, cutover; and a create that fails rolls
    /// back with no managed disk and no blob left (blobs listed through Azurite's API).
    /// </summary>
    [Collection("environment")]
    public sealed class AzureMoveTests
    {
        private sealed class Observer : IEngineObserver
        {
            public List<string> Messages { get; } = new List<string>();
            public void Progress(string target, GridProgress progress) { }
            public void Verbose(string message) { lock (Messages) Messages.Add(message); }
            public void Warning(string message) { lock (Messages) Messages.Add("WARNING: " + message); }
        }

        [ChildFact]
        public async Task Azure_to_Azure_moves_the_disk_bytes_and_a_failed_create_rolls_back_without_orphans()
        {
            await using var server = await TestHttpsServer.StartAsync();
            await using var az = await Azurite.StartAsync();
            var sim = new ArmSimulator(server) { Storage = az };
            string dir = Path.Combine(Path.GetTempPath(), "gridaz-move-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            string? oldTemp = Environment.GetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP");
            Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", Path.Combine(dir, "moves"));
            var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(dir, "state.db"), RetryCount = 1, RetryMaxDelaySeconds = 1, LeaseTimeoutSeconds = 120 }, readOnly: false);
            var obs = new Observer();
            try
            {
                var secrets = new Dictionary<string, object> { ["AccessToken"] = ArmSimulator.CallerToken };
                await engine.ConnectDatacenterAsync("Azure", "az-weu", null, null, new Dictionary<string, string>
                {
                    ["SubscriptionId"] = ArmSimulator.Subscription, ["Location"] = ArmSimulator.Location, ["ResourceGroupName"] = "grid", ["ArmEndpoint"] = sim.ArmEndpoint,
                }, secrets, obs, Harness.Ct());
                await engine.ConnectDatacenterAsync("Azure", "az-neu", null, null, new Dictionary<string, string>
                {
                    ["SubscriptionId"] = ArmSimulator.Subscription, ["Location"] = "northeurope", ["ResourceGroupName"] = "grid2", ["ArmEndpoint"] = sim.ArmEndpoint,
                    [MovePlanner.DefaultsSetting] = "Network=" + ArmSimulator.SubnetId("grid2"),
                }, secrets, obs, Harness.Ct());
                sim.PollsPerOperation = 0; // the engine's connections keep their real poll intervals
                // direct connections (same endpoint) seed the sources and read the result
                using var weu = await Harness.ConnectAsync(sim, "az-weu");
                using var neu = await Harness.ConnectAsync(sim, "az-neu", "northeurope", new Dictionary<string, string> { ["ResourceGroupName"] = "grid2" });

                // two source VMs on uploaded disks of known content (qemu-img made the VHDs from raw files)
                var q = QemuImg.Require();
                var sources = new List<(GridWorkload W, string Raw)>();
                for (int i = 1; i <= 2; i++)
                {
                    string raw = Path.Combine(dir, $"src{i}.raw");
                    using (var fs = new FileStream(raw, FileMode.Create))
                    {
                        fs.SetLength(4 * 1024 * 1024 + 1024);
                        var block = new byte[2048];
                        new Random(i).NextBytes(block);
                        fs.Position = 512 * 1024; fs.Write(block);
                    }
                    string vhd = Path.Combine(dir, $"src{i}.vhd");
                    await q.ConvertAsync(raw, DiskFormat.Raw, vhd, DiskFormat.VhdFixed, CancellationToken.None);
                    var img = new DiskImage { Name = "os", Format = DiskFormat.VhdFixed, Path = vhd, Firmware = "bios" };
                    string disk = await weu.ImportDiskAsync(img, "seed-" + i, new TestScope(), Harness.Ct());
                    var w = await weu.CreateWorkloadAsync(new CreateWorkloadRequest
                    {
                        Name = "mv-" + i, Size = "Standard_B2s", PowerOn = true, IdempotencyKey = "seed-" + i,
                        Options = { ["ImportedDisk"] = disk, ["ImportedDiskTakeOver"] = "true", ["Network"] = ArmSimulator.SubnetId("grid") },
                    }, new TestScope(), Harness.Ct());
                    sources.Add((await engine.GetWorkloadAsync("az-weu/" + WorkloadId.Escape(w.NativeId), Harness.Ct()), raw));
                }
                Assert.Equal(2, (await az.ListBlobsAsync()).Count);

                // the report: same provider and format, so Cold; the network from the destination's MoveDefaults; no prices invented
                var report = await new MoveService(engine).TestAsync(sources[0].W, new MoveRequest { DestinationDatacenter = "az-neu" }, obs, Harness.Ct());
                Assert.True(report.CanMove, string.Join("; ", report.Incompatibilities));
                Assert.Equal(MoveMethod.Cold, report.Method);
                Assert.Equal("VhdFixed", report.DiskPath); // no conversion on the way
                Assert.Equal(ArmSimulator.SubnetId("grid2"), report.Options["Network"]);
                Assert.Null(report.SourcePricePerHour);
                Assert.Null(report.DestinationPricePerHour);
                // a destination without a network default and no -Option: DestinationOptionMissing
                await engine.ConnectDatacenterAsync("Azure", "az-bare", null, null, new Dictionary<string, string>
                {
                    ["SubscriptionId"] = ArmSimulator.Subscription, ["Location"] = "northeurope", ["ResourceGroupName"] = "grid3", ["ArmEndpoint"] = sim.ArmEndpoint,
                }, secrets, obs, Harness.Ct());
                var bare = await new MoveService(engine).TestAsync(sources[0].W, new MoveRequest { DestinationDatacenter = "az-bare" }, obs, Harness.Ct());
                Assert.False(bare.CanMove);
                Assert.Contains(bare.Incompatibilities, x => x.Code == "DestinationOptionMissing" && x.Message.Contains("Network"));

                // the move
                var moved = await new MoveOrchestrator(engine).MoveAsync(sources[0].W, new MoveRequest { DestinationDatacenter = "az-neu" }, false, false, false, null, obs, Harness.Ct());
                Assert.Equal("az-neu", moved.Datacenter);
                Assert.Equal(WorkloadState.Running, moved.State);
                Assert.StartsWith(ArmSimulator.RgId("grid2"), moved.NativeId);
                var src = await engine.GetWorkloadAsync(sources[0].W.Id, Harness.Ct());
                Assert.Equal(moved.Id, src.Tags[MoveOrchestrator.MovedToTag]);
                // the destination's disk holds the source's guest bytes
                var back = await neu.ExportDiskAsync(moved.NativeId, null!, Path.Combine(dir, "back"), new TestScope(), Harness.Ct());
                Assert.True(await q.CompareAsync(sources[0].Raw, DiskFormat.Raw, back.Path!, DiskFormat.VhdFixed, CancellationToken.None));
                Assert.Equal(3, (await az.ListBlobsAsync()).Count);
                Assert.Empty(sim.DisksCopied); // a move's create takes its import over (ImportedDiskTakeOver): no copy

                // a create that fails: rolled back, the uploaded disk and its blob removed, the source running again
                sim.RefuseVmPut = rg => rg == "grid2";
                var g = await Assert.ThrowsAsync<GridException>(() => new MoveOrchestrator(engine).MoveAsync(sources[1].W, new MoveRequest { DestinationDatacenter = "az-neu" }, false, false, false, null, obs, Harness.Ct()));
                Assert.Contains("create", g.Message);
                Assert.Contains("rolled back", g.Message);
                var op = engine.GetOperations(new OperationFilter()).First(o => o.Kind == MoveOrchestrator.Kind && o.Target == sources[1].W.Id);
                Assert.Equal(OperationState.RolledBack, op.State);
                Assert.Equal(3, (await az.ListBlobsAsync()).Count); // the two sources' and the first move's: nothing orphaned
                Assert.Equal(3, sim.DiskCount);
                Assert.Equal(WorkloadState.Running, (await engine.GetWorkloadAsync(sources[1].W.Id, Harness.Ct())).State);
                Assert.DoesNotContain(obs.Messages, m => m.Contains("sig="));
            }
            finally
            {
                GridEngine.Reset();
                Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", oldTemp);
                try { Directory.Delete(dir, true); } catch (IOException) { }
            }
        }
    }
}
