using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.VSphere;
using GridAutomation.Providers.VSphere.Vim25;
using Xunit;

namespace GridAutomation.Provider.VSphere.Tests
{
    /// <summary>
    /// The vSphere disk transport against our vCenter simulator: the OVF import (CreateImportSpec, ImportVApp, an
    /// NFC upload of a real streamOptimized VMDK made by qemu-img, HttpNfcLeaseComplete/Abort) and the export by
    /// datastore download. NOTE: govmomi 0.24.2's simulator throws NFC uploads away; tests/vcsim/src/gridvcsim/nfc.go
    /// (ours) writes them into the datastore file the VM's disk names, which is what makes the round trip checkable.
    /// </summary>
    public sealed class VSphereDiskTransferTests : IDisposable
    {
        private const long DiskBytes = 8L * 1024 * 1024;
        private readonly string _dir = Directory.CreateTempSubdirectory("vsphere-disks-").FullName;

        private static CancellationToken Ct(int minutes = 3) => new CancellationTokenSource(TimeSpan.FromMinutes(minutes)).Token;

        public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

        private static string QemuImg => DiskConverter.Locate() ?? throw new InvalidOperationException("qemu-img is not installed (tests/GridAutomation.Provider.VSphere.Tests/setup.sh installs qemu-utils)");

        private static (int Code, string Err) Run(string exe, params string[] args)
        {
            var psi = new ProcessStartInfo(exe) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            string err = p.StandardError.ReadToEnd(); p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, err);
        }

        /// <summary>A raw disk with known content (a recognisable sector, random data, a zero hole) and its streamOptimized VMDK.</summary>
        private (string Raw, string Vmdk, string Hash) MakeDisk(string name, long bytes = DiskBytes, int seed = 13)
        {
            string raw = Path.Combine(_dir, name + ".raw"), vmdk = Path.Combine(_dir, name + ".vmdk");
            var data = new byte[bytes];
            new Random(seed).NextBytes(data.AsSpan(0, (int)(bytes / 2)));
            var marker = System.Text.Encoding.ASCII.GetBytes("GRIDAUTOMATION DISK " + name);
            marker.CopyTo(data, 0);
            File.WriteAllBytes(raw, data);
            var (code, err) = Run(QemuImg, "convert", "-q", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, vmdk);
            Assert.True(code == 0, err);
            return (raw, vmdk, Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant());
        }

        private static DiskImage Image(string vmdk, string hash, long capacity = DiskBytes)
            => new DiskImage { Name = "Hard disk 1", Format = DiskFormat.VmdkStreamOptimized, CapacityBytes = capacity, Path = vmdk, ContentHash = hash };

        internal static async Task<List<GridWorkload>> ListAsync(IGridConnection c)
        {
            var all = new List<GridWorkload>();
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery(), Ct())) all.AddRange(page);
            return all;
        }

        /// <summary>The local folders behind the simulator's datastores (its datastores are directories on this machine).</summary>
        private static string[] ImportLeftovers(IEnumerable<string> folders)
            => folders.SelectMany(f => Directory.GetFileSystemEntries(f, "gridimport-*", SearchOption.AllDirectories)).ToArray();

        [SimulatorFact]
        public async Task Import_RealStreamOptimizedVmdk_IsTheMovedWorkload_AndExportsBackEqual()
        {
            var (raw, vmdk, hash) = MakeDisk("web");
            using var sim = VcSim.Start("-cluster", "1", "-host", "2", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var scope = new TestScope();
            string imported = await c.ImportDiskAsync(Image(vmdk, hash), scope.IdempotencyKey, scope, Ct());
            Assert.True(Guid.TryParse(imported, out _), imported);
            Assert.Contains(scope.ProgressReports, p => p.Activity.StartsWith("Import disk", StringComparison.Ordinal) && p.PercentComplete == 100);
            // the same key again (a resumed import step): the same VM, not a second one
            Assert.Equal(imported, await c.ImportDiskAsync(Image(vmdk, hash), scope.IdempotencyKey, scope, Ct()));

            var req = new CreateWorkloadRequest { Name = "web-moved", CpuCount = 2, MemoryMB = 2048, PowerOn = false, AllowDuplicateName = true, IdempotencyKey = "move:" + scope.IdempotencyKey };
            req.Tags["env"] = "prod"; req.Tags["GridMovedFrom"] = "sim1:web";
            req.Options["ImportedDisk"] = imported; req.Options[ImportedDiskOptions.TakeOver] = "true"; // a move's create adopts the import
            req.Options["Network"] = "VM Network";
            var w = await c.CreateWorkloadAsync(req, scope, Ct());
            Assert.Equal(imported, w.NativeId);
            Assert.Equal("web-moved", w.Name);
            Assert.Equal(2, w.CpuCount);
            Assert.Equal(2048, w.MemoryMB);
            Assert.Equal(WorkloadState.Stopped, w.State);
            Assert.Equal("sim1:web", w.Tags["GridMovedFrom"]);
            // a resumed create adopts the same VM again (and adds no second network card)
            Assert.Equal(imported, (await c.CreateWorkloadAsync(req, scope, Ct())).NativeId);
            var devices = (await c.Vim.GetPropertiesAsync(new MoRef("VirtualMachine", (string)w.Properties["MoRef"]!), new[] { "config.hardware.device" }, Ct()))!.Get("config.hardware.device")!.Children;
            var nic = Assert.Single(devices, d => d.XsiType == "VirtualVmxnet3");
            Assert.Equal("VM Network", nic.Path("backing.deviceName")?.Text);

            var listed = await ListAsync(c);
            var mine = Assert.Single(listed, x => x.Name == "web-moved");
            Assert.Equal("prod", mine.Tags["env"]);
            Assert.DoesNotContain(listed, x => x.Name.StartsWith("gridimport-", StringComparison.Ordinal));

            // export it back: downloaded from the datastore, the same content as the raw file qemu-img started from
            Assert.Equal(hash, await c.HashDiskAsync(w.NativeId, 0, Ct()));
            var info = await c.DescribeAsync(w.NativeId, Ct());
            var disk = Assert.Single(info.Disks);
            Assert.Equal(DiskBytes, disk.CapacityBytes);
            Assert.Equal(DiskFormat.VmdkStreamOptimized, disk.Format); // read from the datastore file's header
            Assert.Equal(new FileInfo(vmdk).Length, disk.TransferBytes);
            Assert.Equal("bios", info.Firmware);
            string temp = Path.Combine(_dir, "export");
            var exported = await c.ExportDiskAsync(w.NativeId, disk, temp, scope, Ct());
            Assert.Equal(DiskFormat.VmdkStreamOptimized, exported.Format);
            Assert.Equal(hash, exported.ContentHash);
            Assert.StartsWith(temp, exported.Path);
            var (code, err) = Run(QemuImg, "compare", "-q", "-f", "raw", "-F", "vmdk", raw, exported.Path!);
            Assert.True(code == 0, "qemu-img compare: exit " + code + " " + err);
            Assert.Empty(Directory.GetFiles(temp, "*.partial"));
        }

        [SimulatorFact]
        public async Task Import_CancelledMidUpload_AbortsTheLease_LeavesNoVmAndNoDatastoreFile()
        {
            var (_, vmdk, hash) = MakeDisk("big", 96L * 1024 * 1024);
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var folders = await VcSim.DatastoreFoldersAsync(c);
            Assert.NotEmpty(folders);
            int before = (await ListAsync(c)).Count;
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            var scope = new CancellingScope(cts, p => p.Activity.StartsWith("Import disk", StringComparison.Ordinal) && p.Status.Contains(" of ", StringComparison.Ordinal));
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ImportDiskAsync(Image(vmdk, hash, 96L * 1024 * 1024), scope.IdempotencyKey, scope, cts.Token));
            Assert.Equal(GridErrorKind.Cancelled, ex.Kind);
            Assert.True(scope.Fired, "the upload was never under way");
            Assert.Equal(before, (await ListAsync(c)).Count);
            Assert.Null(await FindVmAsync(c, VSphereConnection.ImportName(scope.IdempotencyKey, "Hard disk 1")));
            Assert.Empty(ImportLeftovers(folders));
        }

        [SimulatorFact]
        public async Task RollbackAfterImport_RemovesTheImportedVm_ButNeverAnAdoptedOne()
        {
            var (_, vmdk, hash) = MakeDisk("rolled");
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var folders = await VcSim.DatastoreFoldersAsync(c);
            int before = (await ListAsync(c)).Count;
            // imported, then the move rolled back before its create step: the discard removes the VM and its files
            var scope = new TestScope();
            await c.ImportDiskAsync(Image(vmdk, hash), scope.IdempotencyKey, scope, Ct());
            Assert.NotNull(await FindVmAsync(c, VSphereConnection.ImportName(scope.IdempotencyKey, "Hard disk 1")));
            await c.DiscardImportsAsync(scope, Ct());
            Assert.Equal(before, (await ListAsync(c)).Count);
            Assert.Empty(ImportLeftovers(folders));
            // imported and adopted by the create step: the discard leaves it (removing the created workload is the roll-back's own step)
            var kept = new TestScope();
            string id = await c.ImportDiskAsync(Image(vmdk, hash), kept.IdempotencyKey, kept, Ct());
            var req = new CreateWorkloadRequest { Name = "kept", PowerOn = false, IdempotencyKey = "move:" + kept.IdempotencyKey };
            req.Options["ImportedDisk"] = id; req.Options[ImportedDiskOptions.TakeOver] = "true";
            await c.CreateWorkloadAsync(req, kept, Ct());
            await c.DiscardImportsAsync(kept, Ct());
            Assert.Equal(id, (await FindVmAsync(c, "kept"))?.NativeId);
        }

        [SimulatorFact]
        public async Task Import_ResumedAfterAKilledRun_ReplacesTheUnfinishedVm()
        {
            var (_, vmdk, hash) = MakeDisk("resumed");
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "1");
            using var c = await sim.ConnectAsync();
            var scope = new TestScope();
            // what a killed run leaves: a VM with the import's name but no completion mark (its disk never arrived)
            string name = VSphereConnection.ImportName(scope.IdempotencyKey, "Hard disk 1");
            var leftover = await c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = name, Image = "template-0", PowerOn = false, IdempotencyKey = "killed-run" }, new TestScope("killed-run"), Ct());
            // (an image whose capacity the exporter did not know: the VMDK header gives it)
            string imported = await c.ImportDiskAsync(Image(vmdk, hash, capacity: 0), scope.IdempotencyKey, scope, Ct());
            Assert.NotEqual(leftover.NativeId, imported);
            Assert.Equal(DiskBytes, Assert.Single((await c.DescribeAsync(imported, Ct())).Disks).CapacityBytes);
            var all = await ListAsync(c);
            Assert.DoesNotContain(all, w => w.NativeId == leftover.NativeId);
            Assert.Single(all, w => w.Name == name);
            Assert.Equal(hash, await c.HashDiskAsync(imported, 0, Ct()));
        }

        [SimulatorFact]
        public async Task Errors_MapToKindsWithStableIds()
        {
            var (raw, vmdk, hash) = MakeDisk("bad");
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var scope = new TestScope();
            var e1 = await Assert.ThrowsAsync<GridException>(() => c.ImportDiskAsync(new DiskImage { Name = "d", Format = DiskFormat.Raw, Path = raw, CapacityBytes = DiskBytes }, "k", scope, Ct()));
            Assert.Equal((GridErrorKind.Unsupported, "UnsupportedDiskFormat"), (e1.Kind, e1.ErrorId));
            var e2 = await Assert.ThrowsAsync<GridException>(() => c.ImportDiskAsync(Image(Path.Combine(_dir, "nope.vmdk"), hash), "k", scope, Ct()));
            Assert.Equal((GridErrorKind.InvalidRequest, "DiskImageMissing"), (e2.Kind, e2.ErrorId));

            var running = (await ListAsync(c)).First(w => w.State == WorkloadState.Running);
            var disk = (await c.DescribeAsync(running.NativeId, Ct())).Disks[0];
            var e3 = await Assert.ThrowsAsync<GridException>(() => c.ExportDiskAsync(running.NativeId, disk, _dir, scope, Ct()));
            Assert.Equal((GridErrorKind.Conflict, "DiskExportRequiresStop"), (e3.Kind, e3.ErrorId));

            string ghost = Guid.NewGuid().ToString();
            var e4 = await Assert.ThrowsAsync<GridException>(() => c.HashDiskAsync(ghost, 0, Ct()));
            Assert.Equal((GridErrorKind.NotFound, "WorkloadNotFound"), (e4.Kind, e4.ErrorId));
            var e5 = await Assert.ThrowsAsync<GridException>(() => c.HashDiskAsync(running.NativeId, 7, Ct()));
            Assert.Equal((GridErrorKind.NotFound, "DiskNotFound"), (e5.Kind, e5.ErrorId));

            var req = new CreateWorkloadRequest { Name = "adopt-ghost", PowerOn = false, IdempotencyKey = "move:x" };
            req.Options["ImportedDisk"] = ghost; req.Options[ImportedDiskOptions.TakeOver] = "true";
            var e6 = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(req, scope, Ct()));
            Assert.Equal((GridErrorKind.NotFound, "ImportedDiskNotFound"), (e6.Kind, e6.ErrorId));

            // the name of the moved workload is taken by another VM: a clear conflict, and the imported VM stays for a retry
            string imported = await c.ImportDiskAsync(Image(vmdk, hash), scope.IdempotencyKey, scope, Ct());
            var clash = new CreateWorkloadRequest { Name = running.Name, PowerOn = false, IdempotencyKey = "move:" + scope.IdempotencyKey };
            clash.Options["ImportedDisk"] = imported; clash.Options[ImportedDiskOptions.TakeOver] = "true";
            var e7 = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(clash, scope, Ct()));
            Assert.Equal((GridErrorKind.Conflict, "WorkloadNameExists"), (e7.Kind, e7.ErrorId));
            // an unknown network refuses before the imported VM is touched
            var noNet = new CreateWorkloadRequest { Name = "adopt-net", PowerOn = false, IdempotencyKey = "move:" + scope.IdempotencyKey };
            noNet.Options["ImportedDisk"] = imported; noNet.Options["Network"] = "no-such-lan"; noNet.Options[ImportedDiskOptions.TakeOver] = "true";
            var e8 = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(noNet, scope, Ct()));
            Assert.Equal((GridErrorKind.NotFound, "NetworkNotFound"), (e8.Kind, e8.ErrorId));
            Assert.Contains("VM Network", e8.Message);
            Assert.StartsWith("gridimport-", (await c.GetWorkloadAsync(imported, Ct())).Name);
        }

        [SimulatorFact]
        public async Task Export_OfANeverWrittenSimulatorDisk_IsRawZerosOfItsCapacity()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var w = (await ListAsync(c)).First();
            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct());
            var disk = (await c.DescribeAsync(w.NativeId, Ct())).Disks[0];
            Assert.True(disk.CapacityBytes > 0);
            Assert.Equal(DiskFormat.Raw, disk.Format);
            var img = await c.ExportDiskAsync(w.NativeId, disk, Path.Combine(_dir, "zeros"), new TestScope(), Ct());
            Assert.Equal(DiskFormat.Raw, img.Format);
            Assert.Equal(disk.CapacityBytes, new FileInfo(img.Path!).Length);
            using var sha = SHA256.Create();
            var zeros = new byte[1 << 20];
            for (long left = disk.CapacityBytes; left > 0; left -= zeros.Length) sha.TransformBlock(zeros, 0, (int)Math.Min(zeros.Length, left), null, 0);
            sha.TransformFinalBlock(zeros, 0, 0);
            Assert.Equal(Convert.ToHexString(sha.Hash!).ToLowerInvariant(), img.ContentHash);
        }

        /// <summary>
        /// verify-destination's cheaper read (IImportedDiskHash): the datastore file our simulator keeps is the uploaded
        /// stream, so its bytes' hash is the imported image's ContentHash (no inflate). A file the datastore rewrote
        /// (another sparse VMDK of the same content, or a descriptor + flat extent as a real vCenter keeps) gives the guest
        /// content's hash instead; a damaged one gives neither, so the move's check still fails.
        /// </summary>
        [SimulatorFact]
        public async Task HashImportedDisk_ProvesTheUploadedBytes_ElseHashesTheGuestContent_AndNeverHidesDamage()
        {
            var (raw, vmdk, guest) = MakeDisk("verify");
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "0", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var scope = new TestScope();
            string fileHash = DiskFiles.Sha256(vmdk);
            Assert.NotEqual(guest, fileHash);
            var image = Image(vmdk, fileHash);
            image.GuestContentHash = guest;
            string imported = await c.ImportDiskAsync(image, scope.IdempotencyKey, scope, Ct());
            Assert.Equal(fileHash, await c.HashImportedDiskAsync(imported, 0, image, Ct()));
            Assert.Equal(guest, await c.HashDiskAsync(imported, 0, Ct())); // the plain hash stays the guest content's

            string rel = (await c.DescribeAsync(imported, Ct())).Disks.Single().NativeId!;
            rel = rel.Substring(rel.IndexOf(']') + 1).Trim();
            string file = (await VcSim.DatastoreFoldersAsync(c)).Select(f => Path.Combine(f, rel)).First(File.Exists);
            // rewritten with the same guest content, other bytes: falls back to the guest content's hash
            var (code, err) = Run(QemuImg, "convert", "-q", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicSparse", raw, file);
            Assert.True(code == 0, err);
            Assert.Equal(guest, await c.HashImportedDiskAsync(imported, 0, image, Ct()));
            // a descriptor and its flat extent, shorter than the capacity (the rest reads as zeros)
            var bytes = File.ReadAllBytes(raw);
            int used = (int)(DiskBytes / 2);
            File.WriteAllBytes(file + ".flat", bytes.AsSpan(0, used).ToArray());
            File.WriteAllText(file, "# Disk DescriptorFile\nversion=1\ncreateType=\"vmfs\"\n\n# Extent description\nRW " + DiskBytes / 512 + " VMFS \"" + Path.GetFileName(file) + ".flat\"\n");
            Assert.True(bytes.AsSpan(used).IndexOfAnyExcept((byte)0) < 0, "MakeDisk's second half is zeros");
            Assert.Equal(guest, await c.HashImportedDiskAsync(imported, 0, image, Ct()));
            // one byte of the guest's content changed: neither hash, so verify-destination refuses (DiskVerifyFailed)
            bytes[4096] ^= 0xff;
            File.WriteAllBytes(file + ".flat", bytes.AsSpan(0, used).ToArray());
            string damaged = await c.HashImportedDiskAsync(imported, 0, image, Ct());
            Assert.NotEqual(guest, damaged);
            Assert.NotEqual(fileHash, damaged);
        }

        [Fact]
        public void Ovf_Descriptor_And_NfcUrl()
        {
            string ovf = OvfDescriptor.Build("vm1", "disk-0.vmdk", 1234, DiskBytes);
            var doc = System.Xml.Linq.XDocument.Parse(ovf);
            System.Xml.Linq.XNamespace o = "http://schemas.dmtf.org/ovf/envelope/1";
            var d = doc.Descendants(o + "Disk").Single();
            Assert.Equal(DiskBytes.ToString(), (string?)d.Attribute(o + "capacity"));
            Assert.EndsWith("#streamOptimized", (string?)d.Attribute(o + "format"));
            Assert.Equal("1234", (string?)doc.Descendants(o + "File").Single().Attribute(o + "size"));
            Assert.Equal("gridimport-abc-Hard_disk_1", VSphereConnection.ImportName("abc", "Hard disk 1"));
            Assert.True(VSphereConnection.ImportName(new string('k', 200), "d").Length <= 80);
        }

        [SimulatorFact]
        public async Task NfcUrl_ReplacesTheStarHostWithTheServers()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "0", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var u = c.NfcUrl("https://*/nfc/52a1/disk-0.vmdk");
            Assert.Equal(sim.Url.Scheme, u.Scheme);
            Assert.Equal(sim.Url.Authority, u.Authority);
            Assert.Equal("/nfc/52a1/disk-0.vmdk", u.AbsolutePath);
            Assert.Equal("esx1.example.com", c.NfcUrl("https://esx1.example.com/nfc/52a1/disk-0.vmdk").Host);
        }

        private static async Task<GridWorkload?> FindVmAsync(IGridConnection c, string name) => (await ListAsync(c)).FirstOrDefault(w => w.Name == name);

        /// <summary>A scope that cancels the operation the first time a progress report matches.</summary>
        private sealed class CancellingScope : IOperationScope
        {
            private readonly CancellationTokenSource _cts; private readonly Func<GridProgress, bool> _when;
            public CancellingScope(CancellationTokenSource cts, Func<GridProgress, bool> when) { _cts = cts; _when = when; }
            public bool Fired { get; private set; }
            public Guid OperationId { get; } = Guid.NewGuid();
            public string IdempotencyKey => OperationId.ToString("N");
            public bool IsResume => false;
            public IReadOnlyDictionary<string, string> Checkpoints { get; } = new Dictionary<string, string>();
            public void Checkpoint(string key, string value) { }
            public void Report(GridProgress progress) { if (!Fired && _when(progress)) { Fired = true; _cts.Cancel(); } }
        }
    }
}
