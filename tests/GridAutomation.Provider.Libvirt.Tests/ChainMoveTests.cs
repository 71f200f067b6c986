using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;
using GridAutomation.Provider.VSphere.Tests;
using GridAutomation.Providers.VSphere;
using Xunit;
using Xunit.Abstractions;
using static GridAutomation.Provider.Libvirt.Tests.DatacenterMoveTests;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// Real-guest chains across providers (issue 13 tests 1 and 3): the counting TCG guest of kvm-a (datacenter lv-a)
    /// moves through the core's MoveOrchestrator into a vSphere datacenter on OUR vcsim (tests/vcsim: its /nfc/
    /// handler keeps the uploaded bytes in the datastore file the VM's disk names; govmomi's own discards them), and
    /// from there to kvm-b (lv-b), where it boots and counts again. In the daemon pair's collection, so the daemons
    /// are shared; one simulator per test.
    /// </summary>
    [Collection(DaemonCollection.Name)]
    public sealed partial class ChainMoveTests : IDisposable
    {
        private readonly DaemonPair _pair;
        private readonly ITestOutputHelper _out;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-chain-" + Guid.NewGuid().ToString("N").Substring(0, 8));
        private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);
        private const string Vs = DcMoveAgent.VSphereDatacenter;

        public ChainMoveTests(DaemonPair pair, ITestOutputHelper output)
        {
            _pair = pair; _out = output;
            Directory.CreateDirectory(Staging);
        }

        public void Dispose()
        {
            GridEngine.Reset();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        private string Staging => Path.Combine(_dir, "staging");
        private string StatePath => Path.Combine(_dir, "state.db");

        /// <summary>lv-a, lv-b (the daemon pair) and "vs" (a fresh simulator: one datacenter, one host, no VM of ours).</summary>
        private async Task<(GridEngine Engine, VcSim Sim)> Lab()
        {
            _pair.Require();
            Prereqs.Require(VcSim.MissingReason);
            Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", Staging);
            var sim = VcSim.Start("-cluster", "1", "-host", "1", "-standalone-host", "0", "-vm", "1", "-templates", "0");
            var engine = Engine(StatePath);
            await ConnectPairAsync(engine, _pair);
            await DcMoveAgent.ConnectVSphereAsync(engine, sim.Url.ToString());
            return (engine, sim);
        }

        private static MoveRequest ToVSphere() => new MoveRequest { DestinationDatacenter = Vs, TurnOff = true };

        /// <summary>The file on the simulator's datastore behind a disk "[ds] folder/name.vmdk".</summary>
        private static string DatastoreFile(IEnumerable<string> folders, string diskNativeId)
        {
            string rel = diskNativeId.Substring(diskNativeId.IndexOf(']') + 1).Trim();
            return folders.Select(f => Path.Combine(f, rel)).FirstOrDefault(File.Exists)
                   ?? throw new FileNotFoundException("no datastore folder holds " + diskNativeId);
        }

        /// <summary>The import folders (gridimport-*) on the simulator's datastores: what the OVF imports left there.</summary>
        private static List<string> ImportFolders(IEnumerable<string> folders)
            => folders.SelectMany(f => Directory.GetDirectories(f, "gridimport-*")).Select(d => Path.GetFileName(d)!).OrderBy(x => x).ToList();

        private static string FolderOf(string diskNativeId) => diskNativeId.Substring(diskNativeId.IndexOf(']') + 1).Trim().Split('/')[0];

        /// <summary>qemu-img compare (guest-visible content) of a raw source with another image of the given format.</summary>
        private static void AssertSameContent(string raw, string other, string format)
        {
            var cmp = Run("qemu-img", "compare", "-q", "-U", "-f", "raw", "-F", format, raw, other); // -U: the guest may be running on it
            Assert.True(cmp.Code == 0, $"qemu-img compare {raw} {other} ({format}): exit {cmp.Code} {cmp.Out}");
        }

        private static string FormatOf(string path)
        {
            using var f = File.OpenRead(path);
            var head = new byte[4];
            return f.Read(head, 0, 4) == 4 && head[0] == 'Q' && head[1] == 'F' && head[2] == 'I' ? "qcow2" : "raw";
        }

        private static async Task RemoveAll(GridEngine engine, IEnumerable<string> ids)
        {
            foreach (var id in ids)
            {
                var cur = await engine.GetWorkloadAsync(id, Ct());
                if (cur.State == WorkloadState.Running)
                    await engine.InvokeAsync(cur, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, Ct());
                await engine.InvokeAsync(await engine.GetWorkloadAsync(id, Ct()), new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true }, null, NullObserver.Instance, Ct());
            }
        }

        [DaemonFact]
        public async Task CountingGuest_LibvirtA_ToVSphere_ToLibvirtB_BootsAndCountsAgain_ContentEqualAtEveryStage()
        {
            var (engine, sim) = await Lab();
            using var _ = sim;
            var volsBBefore = Volumes(_pair.UriB);
            const string name = "chain-vs";
            var w = await Counter(engine, _pair, name);
            await EmbedLab.WaitForCounts(Path.Combine(_pair.SerialDir, name + ".a.log"), x => x.Count >= 3, Wait);
            string diskA = DiskOf(w);

            // Test-GridMove: a disk import into vSphere, raw → streamOptimized VMDK, nothing in the way
            var report = await new MoveService(engine).TestAsync(w, ToVSphere(), NullObserver.Instance, Ct());
            Assert.True(report.CanMove, string.Join("; ", report.Incompatibilities.Select(i => i.Code + ": " + i.Message)));
            Assert.Equal(MoveMethod.DiskImport, report.Method);
            Assert.Equal(new[] { DiskFormat.Raw, DiskFormat.VmdkStreamOptimized }, report.Disks.Single().Path);

            // lv-a → vs: export (virStorageVolDownload), convert + compare, NFC upload, adopt the imported VM, start
            var atVs = await new MoveOrchestrator(engine).MoveAsync(w, ToVSphere(), false, false, false, null, NullObserver.Instance, Ct());
            Assert.StartsWith(Vs + "/", atVs.Id);
            var listed = Assert.Single(await Named(engine, Vs, name));
            Assert.Equal(atVs.Id, listed.Id);
            Assert.Equal("dc-move-test", listed.Tags["purpose"]);
            Assert.Equal(w.Id, listed.Tags[MoveOrchestrator.MovedFromTag]);
            Assert.Equal(WorkloadState.Running, atVs.State); // it was running, so it was started there
            var op1 = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Single(o => o.Target == w.Id);
            Assert.Equal(OperationState.Succeeded, op1.State);
            Assert.Contains("VmdkStreamOptimized", op1.Checkpoints["done:convert"]);
            Assert.Equal(WorkloadState.Stopped, (await engine.GetWorkloadAsync(w.Id, Ct())).State);

            // the uploaded VMDK is really in the datastore file the VM's disk names, and holds the source's content
            using var vsc = await sim.ConnectAsync("check");
            var folders = await VcSim.DatastoreFoldersAsync(vsc);
            var vsDisk = (await vsc.DescribeAsync(atVs.NativeId, Ct())).Disks.Single();
            string vmdk = DatastoreFile(folders, vsDisk.NativeId!);
            Assert.Equal(DiskFormat.VmdkStreamOptimized, vsDisk.Format);
            AssertSameContent(diskA, vmdk, "vmdk");
            Assert.Equal(new[] { FolderOf(vsDisk.NativeId!) }, ImportFolders(folders)); // one import, no leftover

            // vs → lv-b: stop (power off), download from the datastore, VMDK → the pool's format, upload, define, start
            string serialB = Path.Combine(_pair.SerialDir, name + ".b.log");
            var atB = await new MoveOrchestrator(engine).MoveAsync(atVs, To("lv-b", serialB), false, false, false, null, NullObserver.Instance, Ct());
            Assert.StartsWith("lv-b/", atB.Id);
            Assert.Equal(name, atB.Name);
            Assert.Equal("dc-move-test", atB.Tags["purpose"]);
            Assert.Equal(atVs.Id, atB.Tags[MoveOrchestrator.MovedFromTag]);
            Assert.Equal(WorkloadState.Running, atB.State);
            var onB = await EmbedLab.WaitForCounts(serialB, x => x.Count >= 3, Wait);
            Assert.Equal(Enumerable.Range(0, onB.Count), onB); // booted from the bytes that came back: counts from the start
            string diskB = DiskOf(atB);
            Assert.StartsWith(_pair.ImagesB + "/", diskB);
            AssertSameContent(diskA, diskB, FormatOf(diskB));
            var vsSource = await engine.GetWorkloadAsync(atVs.Id, Ct());
            Assert.Equal(WorkloadState.Stopped, vsSource.State);
            Assert.Equal(atB.Id, vsSource.Tags[MoveOrchestrator.MovedToTag]);
            AssertSameContent(diskA, vmdk, "vmdk"); // the vSphere copy kept its content
            Assert.Empty(Directory.GetFileSystemEntries(Staging));
            Assert.Equal(new[] { Path.GetFileName(diskB) }, Volumes(_pair.UriB).Except(volsBBefore));
            Assert.DoesNotContain(Volumes(_pair.UriA), v => v.StartsWith(LibvirtProviderPrefix));

            await RemoveAll(engine, new[] { atB.Id, atVs.Id, w.Id });
            Assert.Empty(ImportFolders(folders)); // removing the vSphere copy with its storage leaves no datastore file
        }

        public static IEnumerable<object[]> Kills() => DatacenterMoveTests.Kills();

        /// <summary>
        /// lv-a → vs in a child process killed inside export (the libvirt download), import (the NFC upload, after
        /// ImportVApp made the VM) and create (the adoption), by the HOLD mechanism of <see cref="DcMoveAgent"/>; then
        /// Resume finishes (one running copy at vs, content equal) or -Rollback returns to the source running, nothing at
        /// vs. Either way no import folder on the simulator's datastores belongs to no VM, no imported volume is left in
        /// the libvirt pools, and the staging folder is empty.
        /// </summary>
        [DaemonTheory]
        [MemberData(nameof(Kills))]
        public async Task LibvirtToVSphere_KilledDuringStep_ResumeFinishes_OrRollbackRestoresSource_NothingOrphaned(string step, bool rollback)
        {
            var (engine, sim) = await Lab();
            using var _ = sim;
            BigImage(_pair);
            string name = "kv-" + step + (rollback ? "-rb" : "-fin");
            var w = await Counter(engine, _pair, name, "big.img");
            var volsABefore = Volumes(_pair.UriA); var volsBBefore = Volumes(_pair.UriB);
            using var vsc = await sim.ConnectAsync("check");
            var folders = await VcSim.DatastoreFoldersAsync(vsc);

            var op = await DcMoveAgent.KillInStepAsync(engine, StatePath, w.Id, Vs, "-", step, _out, sim.Url.ToString());
            var result = await engine.ResumeOperationAsync(op.Id, rollback, NullObserver.Instance, Ct());

            var atVs = await Named(engine, Vs, name);
            var source = await engine.GetWorkloadAsync(w.Id, Ct());
            var vmNames = new List<string>();
            await foreach (var page in vsc.ListWorkloadsAsync(new WorkloadQuery(), Ct())) vmNames.AddRange(page.Select(x => x.Name));
            Assert.DoesNotContain(vmNames, n => n.StartsWith("gridimport-", StringComparison.Ordinal)); // no half-made import VM
            if (rollback)
            {
                Assert.Equal(OperationState.RolledBack, result.State);
                Assert.Empty(atVs);
                Assert.Equal(WorkloadState.Running, source.State);
                Assert.Empty(ImportFolders(folders));
            }
            else
            {
                Assert.Equal(OperationState.Succeeded, result.State);
                var copy = Assert.Single(atVs);
                Assert.Single(vmNames, n => n == name);
                Assert.Equal(WorkloadState.Running, copy.State);
                Assert.Equal(w.Id, copy.Tags[MoveOrchestrator.MovedFromTag]);
                Assert.Equal(WorkloadState.Stopped, source.State);
                var disk = (await vsc.DescribeAsync(copy.NativeId, Ct())).Disks.Single();
                Assert.Equal(new[] { FolderOf(disk.NativeId!) }, ImportFolders(folders));
                AssertSameContent(DiskOf(source), DatastoreFile(folders, disk.NativeId!), "vmdk");
            }
            Assert.Equal(volsABefore, Volumes(_pair.UriA));
            Assert.Equal(volsBBefore, Volumes(_pair.UriB));
            Assert.Empty(Directory.GetFileSystemEntries(Staging));

            await RemoveAll(engine, atVs.Select(x => x.Id).Append(w.Id));
            Assert.Empty(ImportFolders(folders));
        }
    }
}
