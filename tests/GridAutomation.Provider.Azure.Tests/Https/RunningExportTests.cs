using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
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
    public sealed class RunningExportTests
    {
        /// <summary>A scope that lets the test act on each progress report.</summary>
        private sealed class ProbeScope : IOperationScope
        {
            public ProbeScope(Action<GridProgress>? onReport = null) { OnReport = onReport; }
            public Action<GridProgress>? OnReport { get; }
            public Guid OperationId { get; } = Guid.NewGuid();
            public string IdempotencyKey => OperationId.ToString("N");
            public bool IsResume => false;
            public IReadOnlyDictionary<string, string> Checkpoints { get; } = new Dictionary<string, string>();
            public void Checkpoint(string key, string value) { }
            public void Report(GridProgress progress) => OnReport?.Invoke(progress);
        }

        private static async Task<(GridWorkload Vm, string DiskId, DiskImage Image)> RunningVmAsync(AzureConnection c, string dir)
        {
            var (_, image) = await DiskMoveTests.StageAsync(dir, "os", 23);
            var scope = new TestScope("move:az-points");
            string diskId = await c.ImportDiskAsync(image, scope.IdempotencyKey, scope, Harness.Ct());
            var w = await c.CreateWorkloadAsync(new CreateWorkloadRequest
            {
                Name = "db-1", Size = "Standard_B2s", PowerOn = true, IdempotencyKey = "move:az-points",
                Options = { ["ImportedDisk"] = diskId, ["Network"] = ArmSimulator.SubnetId(Harness.Rg) },
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
        public async Task A_download_broken_midway_leaves_no_snapshot_and_no_blob_and_a_stopped_VM_is_refused()
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

                // a deallocated VM: refused (its disks are exported as they are), nothing made
                await c.StopAsync(w.NativeId, StopMode.Deallocate, new TestScope(), Harness.Ct());
                var refused = await Assert.ThrowsAsync<GridException>(() => c.ExportRunningDisksAsync(w.NativeId, disks, Path.Combine(dir, "stopped"), new ProbeScope(), Harness.Ct()));
                Assert.Equal("WorkloadNotRunning", refused.ErrorId);
                Assert.Equal(GridErrorKind.Conflict, refused.Kind);
                Assert.Single(sim.SnapshotsMade);
            }
            finally { Directory.Delete(dir, true); }
        }
    }
}
