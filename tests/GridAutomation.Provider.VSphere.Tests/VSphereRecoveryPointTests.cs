using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Replication;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.VSphere;
using GridAutomation.Providers.VSphere.Vim25;
using Xunit;

namespace GridAutomation.Provider.VSphere.Tests
{
    /// <summary>
    /// Recovery points of a RUNNING vSphere VM (issue 17) against our vCenter simulator: CreateSnapshot_Task, the base
    /// disk downloaded from /folder/ while the VM stays poweredOn, RemoveSnapshot_Task, on success and failure alike;
    /// then Enable/Sync-GridReplication of a running VM from DC0 to DC1 through the core.
    /// </summary>
    [Collection("GridEngine")]
    public sealed class VSphereRecoveryPointTests : IDisposable
    {
        private const long DiskBytes = 16L * 1024 * 1024;
        private readonly string _dir = Directory.CreateTempSubdirectory("vsphere-points-").FullName;
        private static CancellationToken Ct(int minutes = 3) => new CancellationTokenSource(TimeSpan.FromMinutes(minutes)).Token;

        public void Dispose()
        {
            GridEngine.Reset();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        /// <summary>Random content in the first half, zeros after; as a streamOptimized VMDK (qemu-img).</summary>
        private (string Vmdk, string Hash) MakeDisk()
        {
            string raw = Path.Combine(_dir, "db.raw"), vmdk = Path.Combine(_dir, "db.vmdk");
            var data = new byte[DiskBytes];
            new Random(17).NextBytes(data.AsSpan(0, (int)(DiskBytes / 2)));
            File.WriteAllBytes(raw, data);
            var psi = new ProcessStartInfo(DiskConverter.Locate() ?? throw new InvalidOperationException("qemu-img is not installed (setup.sh installs qemu-utils)")) { UseShellExecute = false, RedirectStandardError = true };
            foreach (var a in new[] { "convert", "-q", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, vmdk }) psi.ArgumentList.Add(a);
            using (var p = Process.Start(psi)!) { string err = p.StandardError.ReadToEnd(); p.WaitForExit(); Assert.True(p.ExitCode == 0, err); }
            return (vmdk, Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant());
        }

        /// <summary>A RUNNING VM "db" whose disk holds the content of <see cref="MakeDisk"/>.</summary>
        private async Task<(GridWorkload Vm, string Hash)> RunningVmAsync(VSphereConnection c, string? network = null)
        {
            var (vmdk, hash) = MakeDisk();
            var s = new TestScope();
            string imported = await c.ImportDiskAsync(new DiskImage { Name = "Hard disk 1", Format = DiskFormat.VmdkStreamOptimized, CapacityBytes = DiskBytes, Path = vmdk, ContentHash = hash }, s.IdempotencyKey, s, Ct());
            var req = new CreateWorkloadRequest { Name = "db", CpuCount = 2, MemoryMB = 1024, PowerOn = true, IdempotencyKey = "seed-db" };
            req.Options["ImportedDisk"] = imported; req.Options[ImportedDiskOptions.TakeOver] = "true"; // the seed VM is the import itself
            if (network != null) req.Options["Network"] = network;
            var w = await c.CreateWorkloadAsync(req, s, Ct());
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Ct())).State);
            return (w, hash);
        }

        private static MoRef VmRef(GridWorkload w) => new MoRef("VirtualMachine", (string)w.Properties["MoRef"]!);

        private static async Task<List<string>> SnapshotNamesAsync(VSphereConnection c, GridWorkload w)
            => (await c.SnapshotsOfAsync(VmRef(w), Ct())).Select(s => s.Name).ToList();

        /// <summary>The running VM "db" seeded in DC0, and an engine with vsa = DC0, vsb = DC1 that lists it.</summary>
        private async Task<(GridEngine Engine, GridWorkload Db, string Hash)> EngineWithRunningDbAsync(VcSim sim, string? network = null)
        {
            string hash;
            using (var seed = await sim.ConnectAsync("seed", new Dictionary<string, string> { ["DatacenterName"] = "DC0" }))
                (_, hash) = await RunningVmAsync(seed, network);
            ProviderRegistry.Register(new VSphereProvider());
            var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(_dir, "state.db") }, false);
            await Task.Run(() => Program.ConnectPair(engine, sim.Url.ToString())); // vsa = DC0, vsb = DC1
            GridWorkload? db = null;
            await foreach (var r in engine.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { "vsa" } }, NullObserver.Instance, Ct()))
                if (!r.IsError && r.Value!.Name == "db") db = r.Value;
            return (engine, db ?? throw new Xunit.Sdk.XunitException("vsa does not list the seeded VM 'db'"), hash);
        }

        [SimulatorFact]
        public async Task RunningVm_DiskCopiedThroughASnapshot_ThatExistsDuringTheDownloadOnly_VmStaysPoweredOn()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var (w, hash) = await RunningVmAsync(c);
            var disks = (await c.DescribeAsync(w.NativeId, Ct())).Disks.ToList();
            var seenDuring = new List<List<string>>();
            var seenPower = new List<string>();
            var scope = new ProbeScope(p =>
            {
                if (!p.Activity.StartsWith("Recovery point of disk", StringComparison.Ordinal) || seenDuring.Count > 0) return;
                // mid-download: read the VM's snapshots and power state from vSphere (outside the caller's context)
                seenDuring.Add(Task.Run(() => SnapshotNamesAsync(c, w)).GetAwaiter().GetResult());
                seenPower.Add(Task.Run(async () => (await c.GetWorkloadAsync(w.NativeId, Ct())).State.ToString()).GetAwaiter().GetResult());
            });

            var images = await c.ExportRunningDisksAsync(w.NativeId, disks, Path.Combine(_dir, "point"), scope, Ct());

            var img = Assert.Single(images);
            Assert.Equal(hash, img.ContentHash);                 // the disk's content, read from the datastore
            Assert.True(File.Exists(img.Path), img.Path);
            Assert.Equal(DiskBytes, img.CapacityBytes);
            Assert.Equal(new[] { "gridpoint-" + scope.IdempotencyKey }, Assert.Single(seenDuring)); // our snapshot, while the base disk was read
            Assert.Equal("Running", Assert.Single(seenPower));
            Assert.Empty(await SnapshotNamesAsync(c, w));       // and gone afterwards
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Ct())).State);

            // the same key again (a resumed step) gives the same copy and leaves no snapshot either
            var again = await c.ExportRunningDisksAsync(w.NativeId, disks, Path.Combine(_dir, "point"), scope, Ct());
            Assert.Equal(hash, Assert.Single(again).ContentHash);
            Assert.Empty(await SnapshotNamesAsync(c, w));
        }

        [SimulatorFact]
        public async Task DownloadBrokenMidway_LeavesNoSnapshot_AndALeftoverOfAKilledRunIsRemovedByTheNextPoint()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var (w, hash) = await RunningVmAsync(c);
            var disks = (await c.DescribeAsync(w.NativeId, Ct())).Disks.ToList();

            // cancelled after the first MiB of the download
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            bool snapshotDuring = false;
            var scope = new ProbeScope(p =>
            {
                if (!p.Activity.StartsWith("Recovery point of disk", StringComparison.Ordinal) || cts.IsCancellationRequested) return;
                snapshotDuring = Task.Run(() => SnapshotNamesAsync(c, w)).GetAwaiter().GetResult().Count == 1;
                cts.Cancel();
            });
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ExportRunningDisksAsync(w.NativeId, disks, Path.Combine(_dir, "broken"), scope, cts.Token));
            Assert.Equal(GridErrorKind.Cancelled, ex.Kind);
            Assert.True(snapshotDuring);
            Assert.Empty(await SnapshotNamesAsync(c, w));
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Ct())).State);

            // a killed run's snapshot (another key) and a user's own snapshot: ours is removed, the user's kept
            foreach (var n in new[] { "gridpoint-0123456789abcdef", "before-patching" })
            {
                var resp = await c.Vim.InvokeAsync("CreateSnapshot_Task", VmRef(w), x =>
                {
                    x.WriteElementString("name", n); x.WriteElementString("memory", "false"); x.WriteElementString("quiesce", "false");
                }, Ct());
                await VimTasks.WaitAsync(c.Vim, resp!.Child("returnval")!.AsMoRef(), "test snapshot", null, Ct());
            }
            Assert.Equal(2, (await SnapshotNamesAsync(c, w)).Count);
            var images = await c.ExportRunningDisksAsync(w.NativeId, disks, Path.Combine(_dir, "next"), new ProbeScope(), Ct());
            Assert.Equal(hash, Assert.Single(images).ContentHash);
            Assert.Equal(new[] { "before-patching" }, await SnapshotNamesAsync(c, w));
        }

        [SimulatorFact]
        public async Task StoppedVm_IsRefused_AsNotRunning_WithNoSnapshotTaken()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var (w, _) = await RunningVmAsync(c);
            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct());
            var disks = (await c.DescribeAsync(w.NativeId, Ct())).Disks.ToList();
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ExportRunningDisksAsync(w.NativeId, disks, Path.Combine(_dir, "stopped"), new ProbeScope(), Ct()));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("WorkloadNotRunning", ex.ErrorId);
            Assert.Empty(await SnapshotNamesAsync(c, w));
        }

        [SimulatorFact]
        public async Task Replication_OfARunningVm_ToAnotherVSphereDatacenter_RecordsCrashConsistentPoints_WithoutStoppingIt()
        {
            using var sim = VcSim.Start("-dc", "2", "-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            var (engine, db, hash) = await EngineWithRunningDbAsync(sim);
            Assert.Equal(WorkloadState.Running, db.State);

            var item = await engine.Replication.EnableAsync(db, new ReplicationRequest { DestinationDatacenter = "vsb", RecoveryPointCount = 2 }, NullObserver.Instance, Ct(5));
            Assert.Equal(ReplicationState.Protected, item.State);
            var sync = Assert.Single(await engine.Replication.SyncAsync(new[] { engine.Replication.Find(db.Id)! }, force: true, NullObserver.Instance, Ct(5)));
            Assert.Null(sync.Error);
            var points = engine.Replication.GetPoints(engine.Replication.Find(db.Id));
            Assert.Equal(2, points.Count);
            Assert.All(points, p => Assert.True(p.CrashConsistent));   // taken while running: through the snapshot

            using var src = await sim.ConnectAsync("check-a", new Dictionary<string, string> { ["DatacenterName"] = "DC0" });
            var now = await src.GetWorkloadAsync(db.NativeId, Ct());
            Assert.Equal(WorkloadState.Running, now.State);              // never stopped
            Assert.Empty(await SnapshotNamesAsync(src, now));            // no snapshot left behind
            using var dst = await sim.ConnectAsync("check-b", new Dictionary<string, string> { ["DatacenterName"] = "DC1" });
            foreach (var p in points)
                Assert.Equal(hash, await dst.HashDiskAsync(Assert.Single(p.ImportedDisks), 0, Ct())); // each point holds the disk's content at DC1
        }

        /// <summary>The backing of a VM's one network card: (xsi type, network name or port group key).</summary>
        private static async Task<(string? Type, string? Network)> NicOfAsync(VSphereConnection c, GridWorkload w)
        {
            var devices = (await c.Vim.GetPropertiesAsync(VmRef(w), new[] { "config.hardware.device" }, Ct()))!.Get("config.hardware.device")!.Children;
            var nic = Assert.Single(devices, d => d.XsiType == "VirtualVmxnet3");
            var backing = nic.Child("backing")!;
            return (backing.XsiType, backing.ChildText("deviceName") ?? backing.Path("port.portgroupKey")?.Text);
        }

        /// <summary>
        /// Start-GridFailover -Mode Test -TestNetwork into vSphere: the destination lists its standard and distributed
        /// port groups; an unknown name is refused before anything is journaled; the copy's card is backed by the
        /// distributed port group (switch uuid + port group key) while the primary keeps running on "VM Network";
        /// Stop-GridFailover -Test removes the copy.
        /// </summary>
        [SimulatorFact]
        public async Task TestFailover_AttachesTheCopysCard_ToTheDistributedPortGroup_TheNetworkCatalogNames()
        {
            using var sim = VcSim.Start("-dc", "2", "-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0", "-portgroup", "1");
            var (engine, db, _) = await EngineWithRunningDbAsync(sim, "VM Network");
            await engine.Replication.EnableAsync(db, new ReplicationRequest { DestinationDatacenter = "vsb", RecoveryPointCount = 1 }, NullObserver.Instance, Ct(5));

            using var dst = await sim.ConnectAsync("check-b", new Dictionary<string, string> { ["DatacenterName"] = "DC1" });
            var nets = await ((INetworkCatalog)dst).GetNetworksAsync(Ct());
            Assert.Contains("VM Network", nets);
            Assert.Contains("DC1_DVPG0", nets);
            Assert.DoesNotContain("DC0_DVPG0", nets); // the other datacenter's port group is not this one's

            int ops = engine.GetOperations(new OperationFilter { IncludeChildren = true }).Count;
            var atB = (await VSphereDiskTransferTests.ListAsync(dst)).Select(x => x.Name).OrderBy(n => n).ToList();
            int vmsAtB = atB.Count;
            var nf = await Assert.ThrowsAsync<GridException>(() => engine.Replication.FailoverAsync(new[] { db }, FailoverMode.Test, null, "no-such-pg", NullObserver.Instance, Ct()));
            Assert.Equal(("NetworkNotFound", GridErrorKind.NotFound), (nf.ErrorId, nf.Kind));
            Assert.Contains("DC1_DVPG0", nf.Message);
            Assert.Equal(ops, engine.GetOperations(new OperationFilter { IncludeChildren = true }).Count);
            Assert.Equal(vmsAtB, (await VSphereDiskTransferTests.ListAsync(dst)).Count);

            // the test copy: on the distributed port group (named in another case: the catalog's spelling is used)
            var result = Assert.Single(await engine.Replication.FailoverAsync(new[] { db }, FailoverMode.Test, null, "dc1_dvpg0", NullObserver.Instance, Ct(5)));
            Assert.True(result.Status == "Running", result.ErrorId + ": " + result.Error);
            var copy = await dst.GetWorkloadAsync(WorkloadId.TryParse(result.DestinationId!, out _, out var native) ? native : result.DestinationId!, Ct());
            Assert.Equal(WorkloadState.Running, copy.State);
            Assert.True(copy.Tags.ContainsKey(ReplicationService.TestTag));
            var (type, portgroup) = await NicOfAsync(dst, copy);
            Assert.Equal("VirtualEthernetCardDistributedVirtualPortBackingInfo", type);
            // the port group the card names is DC1_DVPG0 (as vCenter records the VM's networks)
            var vmNets = (await dst.Vim.GetPropertiesAsync(VmRef(copy), new[] { "network" }, Ct()))!.Get("network")!;
            var onPg = Assert.Single(vmNets.Children.Count > 0 ? vmNets.Children.Select(n => n.AsMoRef()) : new[] { vmNets.AsMoRef() });
            Assert.Equal(("DistributedVirtualPortgroup", portgroup), (onPg.Type, onPg.Value));
            Assert.Equal("DC1_DVPG0", (await dst.Vim.GetPropertiesAsync(onPg, new[] { "name" }, Ct()))!.Text("name"));

            // the primary keeps running, its card still on "VM Network"
            using var src = await sim.ConnectAsync("check-a", new Dictionary<string, string> { ["DatacenterName"] = "DC0" });
            var prim = await src.GetWorkloadAsync(db.NativeId, Ct());
            Assert.Equal(WorkloadState.Running, prim.State);
            Assert.Equal(("VirtualEthernetCardNetworkBackingInfo", "VM Network"), await NicOfAsync(src, prim));

            // Stop-GridFailover -Test: the copy is gone
            await engine.Replication.StopTestAsync(engine.Replication.Get(), NullObserver.Instance, Ct(5));
            // (the copy was a clone of the point's imported VM: the point stays, see TestFailover_RunsOnItsOwnCopy_...)
            var left = await VSphereDiskTransferTests.ListAsync(dst);
            Assert.DoesNotContain(left, x => x.NativeId == copy.NativeId || x.Tags.ContainsKey(ReplicationService.TestTag));
            Assert.Contains(left, x => x.Name == "DC1_C0_RP0_VM0");
            Assert.Empty(engine.Replication.Find(db.Id)!.TestWorkloadIds);
        }
            /// <summary>
        /// Issue 17: a failover must not consume the recovery point it starts from. Two test failovers in a row from
        /// the SAME point into vSphere: each copy is a clone of the point's imported VM (not the VM itself), the point
        /// is never powered on, renamed or changed, and Stop-GridFailover -Test removes the copy but not the point.
        /// </summary>
        [SimulatorFact]
        public async Task TestFailover_RunsOnItsOwnCopy_AndThePointSurvivesStopForASecondFailover()
        {
            using var sim = VcSim.Start("-dc", "2", "-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            var (engine, db, hash) = await EngineWithRunningDbAsync(sim);
            await engine.Replication.EnableAsync(db, new ReplicationRequest { DestinationDatacenter = "vsb", RecoveryPointCount = 1 }, NullObserver.Instance, Ct(5));
            var point = Assert.Single(engine.Replication.GetPoints(engine.Replication.Find(db.Id)));
            string pointVm = Assert.Single(point.ImportedDisks);

            using var dst = await sim.ConnectAsync("check-b", new Dictionary<string, string> { ["DatacenterName"] = "DC1" });
            var before = await dst.GetWorkloadAsync(pointVm, Ct());
            Assert.StartsWith("gridimport-", before.Name);
            Assert.Equal(hash, await dst.HashDiskAsync(pointVm, 0, Ct()));
            var beforeDisk = Assert.Single((await dst.DescribeAsync(pointVm, Ct())).Disks);

            for (int round = 1; round <= 2; round++)
            {
                var result = Assert.Single(await engine.Replication.FailoverAsync(new[] { db }, FailoverMode.Test, null, null, NullObserver.Instance, Ct(5)));
                Assert.True(result.Status == "Running", $"round {round}: {result.ErrorId}: {result.Error}");
                string copyVm = WorkloadId.TryParse(result.DestinationId!, out _, out var native) ? native : result.DestinationId!;
                Assert.NotEqual(pointVm, copyVm);                                  // its own copy, not the point
                var copy = await dst.GetWorkloadAsync(copyVm, Ct());
                Assert.Equal(("db", WorkloadState.Running), (copy.Name, copy.State));
                Assert.True(copy.Tags.ContainsKey(ReplicationService.TestTag));
                Assert.NotEqual(beforeDisk.NativeId, Assert.Single((await dst.DescribeAsync(copyVm, Ct())).Disks).NativeId); // a disk file of its own
                Assert.Equal(hash, await dst.HashDiskAsync(copyVm, 0, Ct()));         // holding the point's content (a full copy)
                var pt = await dst.GetWorkloadAsync(pointVm, Ct());
                Assert.Equal((before.Name, WorkloadState.Stopped), (pt.Name, pt.State)); // never adopted nor booted

                await engine.Replication.StopTestAsync(engine.Replication.Get(), NullObserver.Instance, Ct(5));
                var left = await VSphereDiskTransferTests.ListAsync(dst);
                Assert.DoesNotContain(left, x => x.NativeId == copyVm || x.Tags.ContainsKey(ReplicationService.TestTag));
                Assert.Contains(left, x => x.NativeId == pointVm && x.Name == before.Name);   // the point is still there...
                Assert.Equal(hash, await dst.HashDiskAsync(pointVm, 0, Ct()));               // ...with the same content
                Assert.Equal(beforeDisk.NativeId, Assert.Single((await dst.DescribeAsync(pointVm, Ct())).Disks).NativeId);
                Assert.Equal(point.Sequence, Assert.Single(engine.Replication.GetPoints(engine.Replication.Find(db.Id))).Sequence);
            }
        }

        /// <summary>
        /// The provider's create from an imported disk without ImportedDiskTakeOver: a full clone under the workload's
        /// name and key; the same key again (a resumed create) finds that clone and makes no second one; removing the
        /// workload with its storage destroys the clone, never the imported VM. With TakeOver the import is adopted.
        /// </summary>
        [SimulatorFact]
        public async Task CreateFromImportedDisk_WithoutTakeOver_ClonesItOnce_AndRemovalLeavesTheImport()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var (vmdk, hash) = MakeDisk();
            var s = new TestScope();
            string imported = await c.ImportDiskAsync(new DiskImage { Name = "Hard disk 1", Format = DiskFormat.VmdkStreamOptimized, CapacityBytes = DiskBytes, Path = vmdk, ContentHash = hash }, s.IdempotencyKey, s, Ct());
            string importName = (await c.GetWorkloadAsync(imported, Ct())).Name;
            int vms = (await VSphereDiskTransferTests.ListAsync(c)).Count;

            var req = new CreateWorkloadRequest { Name = "replica", CpuCount = 2, MemoryMB = 1024, PowerOn = false, IdempotencyKey = "failover:abc" };
            req.Options[ImportedDiskOptions.Reference] = imported;
            var first = await c.CreateWorkloadAsync(req, new TestScope(), Ct());
            var again = await c.CreateWorkloadAsync(req, new TestScope(), Ct());   // a resumed create
            Assert.NotEqual(imported, first.NativeId);
            Assert.Equal(first.NativeId, again.NativeId);
            Assert.Equal((2, 1024L), (again.CpuCount ?? 0, again.MemoryMB ?? 0));
            var all = await VSphereDiskTransferTests.ListAsync(c);
            Assert.Equal(vms + 1, all.Count);                                      // one copy, not two
            Assert.Single(all, x => x.Name == "replica");
            Assert.Equal(hash, await c.HashDiskAsync(first.NativeId, 0, Ct()));
            Assert.Equal(importName, (await c.GetWorkloadAsync(imported, Ct())).Name);

            await c.RemoveAsync(first.NativeId, true, new TestScope(), Ct());
            all = await VSphereDiskTransferTests.ListAsync(c);
            Assert.DoesNotContain(all, x => x.NativeId == first.NativeId);
            Assert.Contains(all, x => x.NativeId == imported && x.Name == importName);
            Assert.Equal(hash, await c.HashDiskAsync(imported, 0, Ct()));

            // a move's create (TakeOver) adopts the same import: no copy
            var move = new CreateWorkloadRequest { Name = "moved", PowerOn = false, IdempotencyKey = "move:abc" };
            move.Options[ImportedDiskOptions.Reference] = imported; move.Options[ImportedDiskOptions.TakeOver] = "true";
            var adopted = await c.CreateWorkloadAsync(move, new TestScope(), Ct());
            Assert.Equal((imported, "moved"), (adopted.NativeId, adopted.Name));
            Assert.Equal(vms, (await VSphereDiskTransferTests.ListAsync(c)).Count);
        }
    }
}
