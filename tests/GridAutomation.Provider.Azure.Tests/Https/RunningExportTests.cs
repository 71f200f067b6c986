using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Replication;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Azure;
using Xunit;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// Recovery points of a RUNNING Azure VM (issue 17) with the real SDK: a snapshot resource copied from the OS disk
    /// (the loopback ARM copies the page blob in Azurite), read through the snapshot's own read SAS while the VM keeps
    /// running, then deleted: afterwards ARM lists no snapshot and Azurite holds no snapshot blob, also after a failure.
    /// </summary>
    [Collection("environment")]
    public sealed class RunningExportTests
    {
        internal static async Task<(GridWorkload Vm, string DiskId, DiskImage Image)> RunningVmAsync(AzureConnection c, string dir)
        {
            var (_, image) = await DiskMoveTests.StageAsync(dir, "os", 23);
            var scope = new TestScope("move:az-points");
            string diskId = await c.ImportDiskAsync(image, scope.IdempotencyKey, scope, Harness.Ct());
            var w = await c.CreateWorkloadAsync(new CreateWorkloadRequest
            {
                Name = "db-1", Size = "Standard_B2s", PowerOn = true, IdempotencyKey = "move:az-points",
                Options = { ["ImportedDisk"] = diskId, ["ImportedDiskTakeOver"] = "true", ["Network"] = ArmSimulator.SubnetId(Harness.Rg) },
            }, new TestScope(), Harness.Ct());
            Assert.Equal(WorkloadState.Running, w.State);
            return (w, diskId, image);
        }

        [ChildFact]
        public async Task A_running_VM_is_copied_through_a_snapshot_that_is_deleted_with_its_blob()
        {
            await using var server = await TestHttpsServer.StartAsync();
            await using var az = await Azurite.StartAsync();
            var sim = new ArmSimulator(server) { Storage = az };
            var verbose = new List<string>();
            using var c = await Harness.ConnectAsync(sim, verbose: verbose);
            var dir = DiskMoveTests.TempDir();
            try
            {
                var (w, diskId, image) = await RunningVmAsync(c, dir);
                var disks = (await c.DescribeAsync(w.NativeId, Harness.Ct())).Disks.ToList();
                int snapshotsDuring = -1;
                string? powerDuring = null;
                var scope = new ProbeScope(p =>
                {
                    if (!p.Activity.StartsWith("Opening snapshot for download", StringComparison.Ordinal) || p.PercentComplete != 100) return;
                    snapshotsDuring = Task.Run(() => c.ListPointSnapshotsAsync(Harness.Rg, null, Harness.Ct())).GetAwaiter().GetResult().Count;
                    powerDuring = Task.Run(() => c.GetWorkloadAsync(w.NativeId, Harness.Ct())).GetAwaiter().GetResult().State.ToString();
                });

                var images = await c.ExportRunningDisksAsync(w.NativeId, disks, Path.Combine(dir, "point"), scope, Harness.Ct());

                var img = Assert.Single(images);
                Assert.Equal(image.ContentHash, img.ContentHash);            // the disk's guest bytes, read from the snapshot's copy
                Assert.Equal(DiskFormat.VhdFixed, img.Format);
                Assert.Equal(image.CapacityBytes, img.CapacityBytes);
                Assert.Equal(1, snapshotsDuring);                            // one snapshot while it was read
                Assert.Equal("Running", powerDuring);
                Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Harness.Ct())).State); // never deallocated
                Assert.DoesNotContain(server.Requests, r => r.Path.EndsWith("/deallocate", StringComparison.OrdinalIgnoreCase));

                // the snapshot PUT as the REST API has it: a full copy of the OS disk; the SAS asked of the SNAPSHOT
                var put = server.Requests.Single(r => r.Method == "PUT" && r.Path.Contains("/snapshots/"));
                string body = put.Body.Replace(" ", "");
                Assert.Contains("\"createOption\":\"Copy\"", body);
                Assert.Contains("\"sourceResourceId\":\"" + diskId + "\"", body);
                Assert.Contains("\"incremental\":false", body);
                Assert.Contains(server.Requests, r => r.Method == "POST" && r.Path.Contains("/snapshots/") && r.Path.EndsWith("/beginGetAccess"));
                Assert.Contains(server.Requests, r => r.Method == "POST" && r.Path.Contains("/snapshots/") && r.Path.EndsWith("/endGetAccess"));
                Assert.DoesNotContain(server.Requests, r => r.Method == "POST" && r.Path.Contains("/disks/") && r.Path.EndsWith("/beginGetAccess") && r.At > put.At);

                // gone afterwards: ARM lists no snapshot, Azurite holds only the disk's blob
                Assert.Single(sim.SnapshotsMade);
                Assert.Empty(await c.ListPointSnapshotsAsync(Harness.Rg, null, Harness.Ct()));
                Assert.Equal(new[] { ArmSimulator.DiskContainer + "/" + new global::Azure.Core.ResourceIdentifier(diskId).Name }, await az.ListBlobsAsync());
                Assert.Equal("Attached", sim.DiskStateOf(diskId));

                // the same key again (a resumed step): the same copy, and again nothing left
                var again = await c.ExportRunningDisksAsync(w.NativeId, disks, Path.Combine(dir, "point"), scope, Harness.Ct());
                Assert.Equal(image.ContentHash, Assert.Single(again).ContentHash);
                Assert.Equal(0, sim.SnapshotCount);

                // no SAS in verbose output
                string all = string.Join("\n", verbose);
                foreach (var sas in sim.SasHandedOut) Assert.DoesNotContain(new Uri(sas).Query.TrimStart('?'), all);
                Assert.DoesNotContain("sig=", all);
            }
            finally { Directory.Delete(dir, true); }
        }

        [ChildFact]
        public async Task A_download_broken_midway_leaves_no_snapshot_a_killed_runs_leftover_is_deleted_and_a_stopped_VM_is_refused()
        {
            await using var server = await TestHttpsServer.StartAsync();
            await using var az = await Azurite.StartAsync();
            var sim = new ArmSimulator(server) { Storage = az };
            using var c = await Harness.ConnectAsync(sim);
            var dir = DiskMoveTests.TempDir();
            try
            {
                var (w, diskId, image) = await RunningVmAsync(c, dir);
                var disks = (await c.DescribeAsync(w.NativeId, Harness.Ct())).Disks.ToList();
                using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
                // the read SAS of the snapshot is granted (ActiveSAS): the run is cancelled before its download
                var scope = new ProbeScope(p =>
                {
                    if (p.Activity.StartsWith("Opening snapshot for download", StringComparison.Ordinal) && p.PercentComplete == 100) cts.Cancel();
                });
                var ex = await Assert.ThrowsAsync<GridException>(() => c.ExportRunningDisksAsync(w.NativeId, disks, Path.Combine(dir, "broken"), scope, cts.Token));
                Assert.Equal(GridErrorKind.Cancelled, ex.Kind);
                Assert.Single(sim.SnapshotsMade);
                Assert.Empty(await c.ListPointSnapshotsAsync(Harness.Rg, null, Harness.Ct()));
                Assert.Equal(new[] { ArmSimulator.DiskContainer + "/" + new global::Azure.Core.ResourceIdentifier(diskId).Name }, await az.ListBlobsAsync());
                Assert.Empty(Directory.Exists(Path.Combine(dir, "broken")) ? Directory.GetFiles(Path.Combine(dir, "broken"), "*.partial") : Array.Empty<string>());
                Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Harness.Ct())).State);

                // what a killed process leaves (a snapshot tagged with this VM, another key) and an admin's own snapshot,
                // both PUT through ARM: the next point deletes ours and keeps the admin's
                using (var http = new HttpClient())
                    foreach (var (name, tag) in new[] { ("gridpoint-killedrun", AzureConnection.TagValue(ArmSimulator.VmId(Harness.Rg, "db-1"))), ("admin-backup", null) })
                    {
                        var body = new JsonObject { ["location"] = ArmSimulator.Location, ["properties"] = new JsonObject { ["creationData"] = new JsonObject { ["createOption"] = "Copy", ["sourceResourceId"] = diskId } } };
                        if (tag != null) body["tags"] = new JsonObject { [AzureConnection.PointSnapshotTag] = tag };
                        using var put = new HttpRequestMessage(HttpMethod.Put, sim.ArmEndpoint.TrimEnd('/') + ArmSimulator.SnapshotId(Harness.Rg, name) + "?api-version=2023-04-02")
                        { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
                        put.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ArmSimulator.CallerToken);
                        using var resp = await http.SendAsync(put);
                        Assert.True(resp.IsSuccessStatusCode, resp.StatusCode.ToString());
                    }
                Assert.Single(await c.ListPointSnapshotsAsync(Harness.Rg, null, Harness.Ct()));
                var next = await c.ExportRunningDisksAsync(w.NativeId, disks, Path.Combine(dir, "next"), new ProbeScope(), Harness.Ct());
                Assert.Equal(image.ContentHash, Assert.Single(next).ContentHash);
                Assert.Empty(await c.ListPointSnapshotsAsync(Harness.Rg, null, Harness.Ct()));
                Assert.Equal(1, sim.SnapshotCount); // the admin's

                // a deallocated VM: refused (its disks are exported as they are), nothing made
                int made = sim.SnapshotsMade.Count;
                await c.StopAsync(w.NativeId, StopMode.Deallocate, new TestScope(), Harness.Ct());
                var refused = await Assert.ThrowsAsync<GridException>(() => c.ExportRunningDisksAsync(w.NativeId, disks, Path.Combine(dir, "stopped"), new ProbeScope(), Harness.Ct()));
                Assert.Equal("WorkloadNotRunning", refused.ErrorId);
                Assert.Equal(GridErrorKind.Conflict, refused.Kind);
                Assert.Equal(made, sim.SnapshotsMade.Count);
            }
            finally { Directory.Delete(dir, true); }
        }

        [ChildFact]
        public async Task Replication_of_a_running_Azure_VM_to_another_region_records_points_without_deallocating_it()
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
                await engine.ConnectDatacenterAsync("Azure", "az-weu", null, null, new Dictionary<string, string>
                {
                    ["SubscriptionId"] = ArmSimulator.Subscription, ["Location"] = ArmSimulator.Location, ["ResourceGroupName"] = Harness.Rg, ["ArmEndpoint"] = sim.ArmEndpoint,
                }, secrets, NullObserver.Instance, Harness.Ct());
                await engine.ConnectDatacenterAsync("Azure", "az-neu", null, null, new Dictionary<string, string>
                {
                    ["SubscriptionId"] = ArmSimulator.Subscription, ["Location"] = "northeurope", ["ResourceGroupName"] = "grid2", ["ArmEndpoint"] = sim.ArmEndpoint,
                    [GridAutomation.Core.Moves.MovePlanner.DefaultsSetting] = "Network=" + ArmSimulator.SubnetId("grid2"),
                }, secrets, NullObserver.Instance, Harness.Ct());
                sim.PollsPerOperation = 0;
                using var weu = await Harness.ConnectAsync(sim, "az-weu");
                var (w, diskId, image) = await RunningVmAsync(weu, dir);
                var source = await engine.GetWorkloadAsync("az-weu/" + WorkloadId.Escape(w.NativeId), Harness.Ct());
                Assert.Equal(WorkloadState.Running, source.State);

                var item = await engine.Replication.EnableAsync(source, new ReplicationRequest { DestinationDatacenter = "az-neu", RecoveryPointCount = 2 }, NullObserver.Instance, Harness.Ct(300));
                Assert.Equal(ReplicationState.Protected, item.State);
                var sync = Assert.Single(await engine.Replication.SyncAsync(new[] { engine.Replication.Find(source.Id)! }, force: true, NullObserver.Instance, Harness.Ct(300)));
                Assert.Null(sync.Error);
                var points = engine.Replication.GetPoints(engine.Replication.Find(source.Id));
                Assert.Equal(2, points.Count);
                Assert.All(points, p => Assert.True(p.CrashConsistent));

                Assert.Equal(WorkloadState.Running, (await weu.GetWorkloadAsync(w.NativeId, Harness.Ct())).State);  // never deallocated
                Assert.DoesNotContain(server.Requests, r => r.Path.EndsWith("/deallocate", StringComparison.OrdinalIgnoreCase));
                Assert.Equal(2, sim.SnapshotsMade.Count);
                Assert.Empty(await weu.ListPointSnapshotsAsync(Harness.Rg, null, Harness.Ct()));
                // each point is a managed disk in grid2 whose page blob holds the source's guest bytes
                foreach (var p in points)
                {
                    var blob = az.Service.GetBlobContainerClient(ArmSimulator.DiskContainer).GetBlobClient(new global::Azure.Core.ResourceIdentifier(Assert.Single(p.ImportedDisks)).Name);
                    var bytes = (await blob.DownloadContentAsync()).Value.Content.ToArray();
                    Assert.Equal(image.ContentHash, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes.AsSpan(0, bytes.Length - 512))).ToLowerInvariant());
                }
                Assert.DoesNotContain(await az.ListBlobsAsync(), b => b.StartsWith(ArmSimulator.SnapshotContainer + "/", StringComparison.Ordinal));
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
