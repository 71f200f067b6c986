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

        [SimulatorFact]
        public async Task TestAndMove_BetweenTwoVSphereDatacenters_CarryTheRealDisk()
        {
            // a raw disk with known content and its streamOptimized VMDK
            string raw = Path.Combine(_dir, "app.raw"), vmdk = Path.Combine(_dir, "app.vmdk");
            var data = new byte[DiskBytes];
            new Random(7).NextBytes(data.AsSpan(0, (int)(DiskBytes / 4)));
            File.WriteAllBytes(raw, data);
            Assert.Equal(0, Run("convert", "-q", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, vmdk));
            string hash = Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

            using var sim = VcSim.Start("-dc", "2", "-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            // the workload to move: made in DC0 from the disk, the way a move into vSphere makes one
            using (var seed = await sim.ConnectAsync("seed", new Dictionary<string, string> { ["DatacenterName"] = "DC0" }))
            {
                var s = new TestScope();
                string id = await seed.ImportDiskAsync(new DiskImage { Name = "Hard disk 1", Format = DiskFormat.VmdkStreamOptimized, CapacityBytes = DiskBytes, Path = vmdk, ContentHash = hash }, s.IdempotencyKey, s, Ct());
                var req = new CreateWorkloadRequest { Name = "app", CpuCount = 2, MemoryMB = 1024, PowerOn = false, IdempotencyKey = "seed" };
                req.Tags["env"] = "prod";
                req.Options["ImportedDisk"] = id;
                await seed.CreateWorkloadAsync(req, s, Ct());
            }

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
    }
}
