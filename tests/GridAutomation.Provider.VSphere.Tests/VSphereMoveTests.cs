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
using GridAutomation.Core.Moves;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.VSphere;
using Xunit;

namespace GridAutomation.Provider.VSphere.Tests
{
    /// <summary>
    /// The vSphere transport under the core's move service and orchestrator (what Test-GridMove and
    /// Move-GridWorkload -DestinationDatacenter call), between the two datacenters of one simulator (-dc 2).
    /// The disk crosses for real: NFC upload into the datastore file (our tests/vcsim /nfc/ handler; govmomi's
    /// discards uploads), download from /folder/, content compared with qemu-img.
    /// </summary>
    [Collection("GridEngine")]
    public sealed class VSphereMoveTests : IDisposable
    {
        private const long DiskBytes = 8L * 1024 * 1024;
        private readonly string _dir = Directory.CreateTempSubdirectory("vsphere-move-").FullName;
        private static CancellationToken Ct(int minutes = 3) => new CancellationTokenSource(TimeSpan.FromMinutes(minutes)).Token;

        public void Dispose()
        {
            GridEngine.Reset();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        private static string Qemu => DiskConverter.Locate() ?? throw new InvalidOperationException("qemu-img is not installed (setup.sh installs qemu-utils)");

        private static int Run(params string[] args)
        {
            var psi = new ProcessStartInfo(Qemu) { UseShellExecute = false, RedirectStandardError = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.StandardError.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode;
        }

        private static async Task<GridWorkload> FindAsync(GridEngine engine, string dc, string name)
        {
            await foreach (var r in engine.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { dc } }, NullObserver.Instance, Ct()))
                if (!r.IsError && r.Value!.Name == name) return r.Value;
            throw new InvalidOperationException($"no workload '{name}' in {dc}");
        }

        /// <summary>A raw disk with known content and its streamOptimized VMDK.</summary>
        private (string Raw, string Vmdk, string Hash) MakeDisk()
        {
            string raw = Path.Combine(_dir, "app.raw"), vmdk = Path.Combine(_dir, "app.vmdk");
            var data = new byte[DiskBytes];
            new Random(7).NextBytes(data.AsSpan(0, (int)(DiskBytes / 4)));
            File.WriteAllBytes(raw, data);
            Assert.Equal(0, Run("convert", "-q", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, vmdk));
            return (raw, vmdk, Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant());
        }

        /// <summary>The workload to move, "app" in DC0, made from the disk the way a move into vSphere makes one.</summary>
        private static async Task SeedAsync(VcSim sim, string vmdk, string hash)
        {
            using var seed = await sim.ConnectAsync("seed", new Dictionary<string, string> { ["DatacenterName"] = "DC0" });
            var s = new TestScope();
            string id = await seed.ImportDiskAsync(new DiskImage { Name = "Hard disk 1", Format = DiskFormat.VmdkStreamOptimized, CapacityBytes = DiskBytes, Path = vmdk, ContentHash = hash }, s.IdempotencyKey, s, Ct());
            var req = new CreateWorkloadRequest { Name = "app", CpuCount = 2, MemoryMB = 1024, PowerOn = false, IdempotencyKey = "seed" };
            req.Tags["env"] = "prod";
            req.Options["ImportedDisk"] = id; req.Options[ImportedDiskOptions.TakeOver] = "true"; // as a move's create
            await seed.CreateWorkloadAsync(req, s, Ct());
        }

        [SimulatorFact]
        public async Task TestAndMove_BetweenTwoVSphereDatacenters_CarryTheRealDisk()
        {
            var (raw, vmdk, hash) = MakeDisk();
            using var sim = VcSim.Start("-dc", "2", "-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            await SeedAsync(sim, vmdk, hash);

            ProviderRegistry.Register(new VSphereProvider());
            var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(_dir, "state.db") }, false);
            foreach (var (name, vdc) in new[] { ("vsa", "DC0"), ("vsb", "DC1") })
                await engine.ConnectDatacenterAsync("VSphere", name, "Contoso", "Amsterdam",
                    new Dictionary<string, string> { ["Server"] = sim.Url.ToString(), ["AllowInsecureHttp"] = "True", ["DatacenterName"] = vdc },
                    new Dictionary<string, object> { ["Credential"] = new NetworkCredential(VcSim.User, VcSim.Password) }, NullObserver.Instance, Ct());
            var app = await FindAsync(engine, "vsa", "app");

            // Test-GridMove: the real format path, read from the datastore file's header; nothing in the way
            var report = await new MoveService(engine).TestAsync(app, new MoveRequest { DestinationDatacenter = "vsb" }, NullObserver.Instance, Ct());
            Assert.True(report.CanMove, string.Join("; ", report.Incompatibilities.Select(i => i.Code + ": " + i.Message)));
            Assert.Equal(MoveMethod.Cold, report.Method);
            Assert.Equal(new[] { DiskFormat.VmdkStreamOptimized }, report.Disks.Single().Path);
            Assert.Equal(new FileInfo(vmdk).Length, report.BytesToTransfer);
            Assert.DoesNotContain(engine.GetOperations(new OperationFilter { Datacenters = new[] { "vsa", "vsb" } }), o => o.Kind == MoveOrchestrator.Kind);

            // Move: export (download) → verify → import (OVF + NFC) → create (adopt) → verify-destination → cut-over
            var moved = await new MoveOrchestrator(engine).MoveAsync(app, new MoveRequest { DestinationDatacenter = "vsb" }, false, false, false, null, NullObserver.Instance, Ct(5));
            Assert.Equal("app", moved.Name);
            Assert.Equal(2, moved.CpuCount);
            Assert.Equal(1024, moved.MemoryMB);
            var there = await FindAsync(engine, "vsb", "app");
            Assert.Equal(moved.NativeId, there.NativeId);
            Assert.Equal("prod", there.Tags["env"]);
            Assert.Equal(app.Id, there.Tags[MoveOrchestrator.MovedFromTag]);
            var source = await FindAsync(engine, "vsa", "app");
            Assert.Equal(WorkloadState.Stopped, source.State);
            Assert.Equal(there.Id, source.Tags[MoveOrchestrator.MovedToTag]);
            var op = Assert.Single(engine.GetOperations(new OperationFilter { Datacenters = new[] { "vsa" } }), o => o.Kind == MoveOrchestrator.Kind);
            Assert.Equal(OperationState.Succeeded, op.State);

            // the destination's disk holds the content qemu-img started from
            using var dst = await sim.ConnectAsync("check", new Dictionary<string, string> { ["DatacenterName"] = "DC1" });
            var disk = (await dst.DescribeAsync(there.NativeId, Ct())).Disks.Single();
            var back = await dst.ExportDiskAsync(there.NativeId, disk, Path.Combine(_dir, "back"), new TestScope(), Ct());
            Assert.Equal(hash, back.ContentHash);
            Assert.Equal(0, Run("compare", "-q", "-f", "raw", "-F", "vmdk", raw, back.Path!));
            Assert.DoesNotContain((await dst.DescribeAsync(there.NativeId, Ct())).Disks, d => d.Name.StartsWith("gridimport-", StringComparison.Ordinal));
            // the move's create (ImportedDiskTakeOver) adopted the imported VM: no copy made, nothing left under the import's name
            Assert.DoesNotContain(await VSphereDiskTransferTests.ListAsync(dst), x => x.Name.StartsWith("gridimport-", StringComparison.Ordinal));
        }

        [SimulatorFact]
        public async Task TestGridMove_SimulatorAndVSphere_ShowEachSidesFormats_AndMoveRefusesBeforeActing()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            ProviderRegistry.Register(new VSphereProvider());
            ProviderRegistry.Register(new GridAutomation.Providers.Simulator.SimulatorProvider());
            var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(_dir, "state.db") }, false);
            await engine.ConnectDatacenterAsync("VSphere", "vs", "Contoso", "Amsterdam",
                new Dictionary<string, string> { ["Server"] = sim.Url.ToString(), ["AllowInsecureHttp"] = "True" },
                new Dictionary<string, object> { ["Credential"] = new NetworkCredential(VcSim.User, VcSim.Password) }, NullObserver.Instance, Ct());
            await engine.ConnectDatacenterAsync("Simulator", "sim1", "Fabrikam", "Lab", new Dictionary<string, string> { ["Workloads"] = "1" },
                new Dictionary<string, object>(), NullObserver.Instance, Ct());
            var service = new MoveService(engine);

            // simulator -> vSphere: virtual disks are no files; vSphere takes streamOptimized VMDK
            GridWorkload simW = null!;
            await foreach (var r in engine.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { "sim1" } }, NullObserver.Instance, Ct())) simW = r.Value!;
            var toVs = await service.TestAsync(simW, new MoveRequest { DestinationDatacenter = "vs" }, NullObserver.Instance, Ct());
            Assert.False(toVs.CanMove);
            Assert.Equal(DiskFormat.Virtual, toVs.Disks[0].Path[0]);
            var bad = Assert.Single(toVs.Incompatibilities, i => i.Code == "UnsupportedDiskFormat");
            Assert.Contains("VmdkStreamOptimized", bad.Message);

            // vSphere -> simulator: the export path is read from the datastore (a never-written disk is raw zeros)
            var vsW = await FindAsync(engine, "vs", (await FirstNameAsync(engine, "vs")));
            var toSim = await service.TestAsync(vsW, new MoveRequest { DestinationDatacenter = "sim1" }, NullObserver.Instance, Ct());
            Assert.Equal(DiskFormat.Raw, toSim.Disks[0].Path[0]);
            Assert.Contains(toSim.Incompatibilities, i => i.Code == "UnsupportedDiskFormat" && i.Severity == MoveSeverity.Error);

            // Move refuses on the report's errors before anything is journaled or touched
            var ex = await Assert.ThrowsAsync<GridException>(() => new MoveOrchestrator(engine).MoveAsync(vsW, new MoveRequest { DestinationDatacenter = "sim1" }, false, false, false, null, NullObserver.Instance, Ct()));
            Assert.Equal("MoveIncompatible", ex.ErrorId);
            Assert.DoesNotContain(engine.GetOperations(new OperationFilter { Datacenters = new[] { "vs", "sim1" } }), o => o.Kind == MoveOrchestrator.Kind);
            Assert.Equal(WorkloadState.Running, (await FindAsync(engine, "vs", vsW.Name)).State);
        }

        private static async Task<string> FirstNameAsync(GridEngine engine, string dc)
        {
            await foreach (var r in engine.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { dc } }, NullObserver.Instance, Ct()))
                if (!r.IsError) return r.Value!.Name;
            throw new InvalidOperationException("no workload in " + dc);
        }

        [SimulatorFact]
        public async Task AChildKilledDuringTheImport_ResumeFinishes_WithOneCopyAndNoOrphanedImport()
        {
            var (_, vmdk, hash) = MakeDisk();
            // HttpNfcLeaseComplete waits 4 s: the child is killed after its upload, before the lease completes
            using var sim = VcSim.Start("-dc", "2", "-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0", "-method-delay", "HttpNfcLeaseComplete:4000");
            await SeedAsync(sim, vmdk, hash);
            string state = Path.Combine(_dir, "state.db");
            ProviderRegistry.Register(new VSphereProvider());
            var engine = GridEngine.Get(new GridConfiguration { StatePath = state }, false);
            Program.ConnectPair(engine, sim.Url.ToString());
            var app = await FindAsync(engine, "vsa", "app");
            using var dst = await sim.ConnectAsync("probe", new Dictionary<string, string> { ["DatacenterName"] = "DC1" });

            using (var child = ChildProcess.Start("move", state, sim.Url.ToString(), app.Id, "vsb"))
            {
                var err = new System.Text.StringBuilder();
                child.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (err) err.AppendLine(e.Data); };
                child.BeginErrorReadLine();
                bool inImport = false;
                try
                {
                    var sw = Stopwatch.StartNew();
                    while (sw.Elapsed < TimeSpan.FromSeconds(120) && !child.HasExited)
                    {
                        var op = engine.GetOperations(new OperationFilter { Datacenters = new[] { "vsa" } }).FirstOrDefault(o => o.Kind == MoveOrchestrator.Kind);
                        if (op != null && op.Checkpoints.TryGetValue("step", out var st) && st == "import"
                            && (await NamesAsync(dst)).Any(n => n.StartsWith("gridimport-", StringComparison.Ordinal)))
                        { inImport = true; break; }
                        await Task.Delay(50);
                    }
                }
                finally { if (!child.HasExited) child.Kill(true); child.WaitForExit(); }
                Assert.True(inImport, "the child never got inside the import: " + err);
            }
            var interrupted = Assert.Single(engine.GetOperations(new OperationFilter { Datacenters = new[] { "vsa" } }), o => o.Kind == MoveOrchestrator.Kind);
            Assert.Equal(OperationState.Interrupted, interrupted.State);

            var done = await engine.ResumeOperationAsync(interrupted.Id, false, NullObserver.Instance, Ct(5));
            Assert.Equal(OperationState.Succeeded, done.State);
            var names = await NamesAsync(dst);
            Assert.Single(names, n => n == "app");
            Assert.DoesNotContain(names, n => n.StartsWith("gridimport-", StringComparison.Ordinal)); // the unfinished import was destroyed, the new one adopted
            var moved = await FindAsync(engine, "vsb", "app");
            Assert.Equal(hash, await dst.HashDiskAsync(moved.NativeId, 0, Ct()));

            // no orphaned datastore files: every import folder on the datastores belongs to a VM's disk (the source's and the copy's)
            using var src = await sim.ConnectAsync("probe-a", new Dictionary<string, string> { ["DatacenterName"] = "DC0" });
            var used = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (c, id) in new[] { (src, app.NativeId), (dst, moved.NativeId) })
                foreach (var d in (await c.DescribeAsync(id, Ct())).Disks)
                    used.Add(d.NativeId!.Substring(d.NativeId!.IndexOf(']') + 1).Trim().Split('/')[0]);
            var folders = (await VcSim.DatastoreFoldersAsync(src)).Concat(await VcSim.DatastoreFoldersAsync(dst)).Distinct();
            var importDirs = folders.SelectMany(f => Directory.GetDirectories(f, "gridimport-*")).Select(Path.GetFileName).Distinct().ToList();
            Assert.Equal(used.OrderBy(x => x), importDirs.OrderBy(x => x));
        }

        private static async Task<List<string>> NamesAsync(IGridConnection c)
        {
            var names = new List<string>();
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery(), Ct())) names.AddRange(page.Select(w => w.Name));
            return names;
        }
    }
}
