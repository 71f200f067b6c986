using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;
using GridAutomation.Provider.VSphere.Tests;
using Xunit;
using static GridAutomation.Provider.Libvirt.Tests.DatacenterMoveTests;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// A qcow2 source into vSphere (our vcsim): the export's hash is of the qcow2 file, the converted VMDK's of the VMDK
    /// file, and vSphere's plain HashDiskAsync hashes the guest-visible (raw) bytes, so the convert step computes the guest
    /// content's hash too (before it did, this move always failed verify-destination and rolled back). verify-destination
    /// itself reads the datastore file back through IImportedDiskHash: our simulator keeps the uploaded VMDK's bytes, so
    /// the file's hash (no inflate) matches the converted image's, recorded as "image file".
    /// </summary>
    public sealed partial class ChainMoveTests
    {
        /// <summary>The images a move's export or convert checkpoint records (JSON, enums by name).</summary>
        private static List<DiskImage> Staged(string json)
            => JsonSerializer.Deserialize<List<DiskImage>>(json, new JsonSerializerOptions { Converters = { new JsonStringEnumConverter() } })!;

        [DaemonFact]
        public async Task Qcow2Volume_LibvirtA_ToVSphere_GuestContentHashed_VerifiedByTheUploadedFile_VmdkComparesEqual()
        {
            var (engine, sim) = await Lab();
            using var _ = sim;
            Qcow2Image(_pair);
            const string name = "chain-q2";
            var w = await Counter(engine, _pair, name, Qcow2ImageName);
            await EmbedLab.WaitForCounts(Path.Combine(_pair.SerialDir, name + ".a.log"), x => x.Count >= 2, Wait);
            string diskA = DiskOf(w);
            Assert.Equal("qcow2", FormatOf(diskA));

            var report = await new MoveService(engine).TestAsync(w, ToVSphere(), NullObserver.Instance, Ct());
            Assert.True(report.CanMove, string.Join("; ", report.Incompatibilities.Select(i => i.Code + ": " + i.Message)));
            Assert.Equal(new[] { DiskFormat.Qcow2, DiskFormat.VmdkStreamOptimized }, report.Disks.Single().Path);

            var atVs = await new MoveOrchestrator(engine).MoveAsync(w, ToVSphere(), false, false, false, null, NullObserver.Instance, Ct());
            var op = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Single(o => o.Target == w.Id);
            Assert.Equal(OperationState.Succeeded, op.State);
            // the destination's file is byte for byte the uploaded VMDK: proven by the file's hash, recorded as such
            Assert.Contains("image file", op.Checkpoints["done:verify-destination"]);
            var exported = Staged(op.Checkpoints["done:export"]).Single();
            var converted = Staged(op.Checkpoints["done:convert"]).Single();
            Assert.Equal(DiskFormat.Qcow2, exported.Format);
            Assert.Equal(DiskFormat.VmdkStreamOptimized, converted.Format);
            Assert.NotNull(converted.GuestContentHash);
            Assert.NotEqual(exported.ContentHash, converted.GuestContentHash);
            Assert.NotEqual(converted.ContentHash, converted.GuestContentHash);
            // the guest content's hash is the hash of the source's raw bytes, computed here independently
            string raw = Path.Combine(_dir, "source.raw");
            Assert.Equal(0, Run("qemu-img", "convert", "-q", "-U", "-f", "qcow2", "-O", "raw", diskA, raw).Code);
            Assert.Equal(Sha(raw), converted.GuestContentHash, ignoreCase: true);

            Assert.Equal(WorkloadState.Running, atVs.State);
            Assert.Equal(w.Id, Assert.Single(await Named(engine, Vs, name)).Tags[MoveOrchestrator.MovedFromTag]);
            using var vsc = await sim.ConnectAsync("check");
            var folders = await VcSim.DatastoreFoldersAsync(vsc);
            var vsDisk = (await vsc.DescribeAsync(atVs.NativeId, Ct())).Disks.Single();
            string vmdk = DatastoreFile(folders, vsDisk.NativeId!);
            var cmp = Run("qemu-img", "compare", "-q", "-U", "-f", "qcow2", "-F", "vmdk", diskA, vmdk);
            Assert.True(cmp.Code == 0, $"qemu-img compare {diskA} {vmdk}: exit {cmp.Code} {cmp.Out}");
            Assert.Empty(Directory.GetFileSystemEntries(Staging)); // the export, the VMDK and the raw copy of the hash are gone

            await RemoveAll(engine, new[] { atVs.Id, w.Id });
            Assert.Empty(ImportFolders(folders));
        }
    }
}
