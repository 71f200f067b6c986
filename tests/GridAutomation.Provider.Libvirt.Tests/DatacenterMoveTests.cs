using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Libvirt.Native;
using Xunit;
using Xunit.Abstractions;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// Moves between two libvirt DATACENTERS, one per real daemon of <see cref="DaemonPair"/> (kvm-a → datacenter lv-a,
    /// kvm-b → lv-b), through the real engine and journal: the disk leaves kvm-a's pool by virStorageVolDownload,
    /// is staged in GRIDAUTOMATION_MOVE_TEMP, enters kvm-b's pool by virStorageVolUpload, and a counting TCG guest
    /// boots from it there.
    /// </summary>
    [Collection(DaemonCollection.Name)]
    public sealed class DatacenterMoveTests : IDisposable
    {
        private readonly DaemonPair _pair;
        private readonly ITestOutputHelper _out;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-dcmove-" + Guid.NewGuid().ToString("N").Substring(0, 8));
        private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

        public DatacenterMoveTests(DaemonPair pair, ITestOutputHelper output)
        {
            _pair = pair; _out = output;
            Directory.CreateDirectory(Path.Combine(_dir, "staging"));
        }

        public void Dispose()
        {
            GridEngine.Reset();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        internal static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token;
        internal string Staging => Path.Combine(_dir, "staging");
        internal string StatePath => Path.Combine(_dir, "state.db");

        internal static GridEngine Engine(string statePath) => GridEngine.Get(new GridConfiguration { StatePath = statePath, LeaseTimeoutSeconds = 5 }, readOnly: false);

        private async Task<GridEngine> Lab()
        {
            _pair.Require();
            Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", Staging);
            var engine = Engine(StatePath);
            await ConnectPairAsync(engine, _pair);
            return engine;
        }

        /// <summary>lv-a = kvm-a, lv-b = kvm-b: one libvirt datacenter per daemon of the pair.</summary>
        internal static async Task ConnectPairAsync(GridEngine engine, DaemonPair pair)
        {
            foreach (var (name, uri) in new[] { ("lv-a", pair.UriA), ("lv-b", pair.UriB) })
            {
                var dc = await engine.ConnectDatacenterAsync("Libvirt", name, "Contoso", null, new Dictionary<string, string> { ["Uri"] = uri }, new Dictionary<string, object>(), NullObserver.Instance, Ct());
                Assert.Equal(ConnectionStatus.Connected, dc.Status);
            }
        }

        private Task<GridWorkload> Counter(GridEngine engine, string name, string image = DaemonPair.ImageName) => Counter(engine, _pair, name, image);

        /// <summary>A running counting guest on lv-a (serial log SERIAL_DIR/NAME.a.log).</summary>
        internal static async Task<GridWorkload> Counter(GridEngine engine, DaemonPair pair, string name, string image = DaemonPair.ImageName)
        {
            var req = new CreateWorkloadRequest { Name = name, Image = image, Size = "micro" };
            req.Options["DiskBus"] = "ide";
            req.Options["SerialLog"] = Path.Combine(pair.SerialDir, name + ".a.log");
            req.Tags["purpose"] = "dc-move-test";
            return await engine.CreateWorkloadAsync("lv-a", req, null, NullObserver.Instance, Ct());
        }

        // TurnOff: the counting guest is a boot sector without ACPI, so the move's stop step powers it off
        internal static MoveRequest To(string dc, string serial) => new MoveRequest
        {
            DestinationDatacenter = dc, TurnOff = true,
            Options = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["DiskBus"] = "ide", ["SerialLog"] = serial },
        };

        internal static async Task<List<GridWorkload>> Named(GridEngine engine, string dc, string name)
        {
            var all = new List<GridWorkload>();
            await foreach (var r in engine.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { dc }, Names = new[] { name } }, NullObserver.Instance, Ct()))
            {
                if (r.IsError) throw r.Error!;
                all.Add(r.Value!);
            }
            return all;
        }

        /// <summary>Names of the volumes of a daemon's pool (what is really on disk there).</summary>
        internal static List<string> Volumes(string uri)
        {
            var psi = new ProcessStartInfo("virsh") { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in new[] { "-q", "-c", uri, "vol-list", "default" }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            string o = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return o.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]).OrderBy(x => x).ToList();
        }

        internal static string Sha(string path)
        {
            using var fs = File.OpenRead(path);
            return Convert.ToHexString(SHA256.HashData(fs));
        }

        /// <summary>The counting guest's boot disk as a qcow2 volume "counter.qcow2" in kvm-a's pool (made once per pair).</summary>
        internal const string Qcow2ImageName = "counter.qcow2";
        internal static void Qcow2Image(DaemonPair pair)
        {
            string qcow = Path.Combine(pair.ImagesA, Qcow2ImageName);
            if (File.Exists(qcow)) return;
            Assert.Equal(0, Run("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", Path.Combine(pair.ImagesA, DaemonPair.ImageName), qcow).Code);
            Run("virsh", "-q", "-c", pair.UriA, "pool-refresh", "default");
        }

        internal static string DiskOf(GridWorkload w) => w.Disks.Single().NativeId!;

        [DaemonFact]
        public async Task Move_ToOtherDatacenter_GuestBootsThere_ThenBack_ReplacesStoppedSource()
        {
            var engine = await Lab();
            var volsABefore = Volumes(_pair.UriA); var volsBBefore = Volumes(_pair.UriB); // other tests of the collection may have left volumes
            var w = await Counter(engine, "dcm1");
            string serialA = Path.Combine(_pair.SerialDir, "dcm1.a.log");
            await EmbedLab.WaitForCounts(serialA, x => x.Count >= 3, Wait);
            string diskA = DiskOf(w);

            // Test-GridMove now says the libvirt pair can move (no MoveNotImplemented).
            var report = await new MoveService(engine).TestAsync(w, To("lv-b", "x"), NullObserver.Instance, Ct());
            Assert.DoesNotContain(report.Incompatibilities, i => i.Code == "MoveNotImplemented");
            Assert.True(report.CanMove, string.Join("; ", report.Incompatibilities.Select(i => i.Code + ": " + i.Message)));
            Assert.Equal(MoveMethod.Cold, report.Method);
            Assert.True(report.WasRunning);

            string serialB = Path.Combine(_pair.SerialDir, "dcm1.b.log");
            var sw = Stopwatch.StartNew();
            var moved = await new MoveOrchestrator(engine).MoveAsync(w, To("lv-b", serialB), false, false, false, null, NullObserver.Instance, Ct());
            _out.WriteLine($"lv-a → lv-b: {sw.ElapsedMilliseconds} ms");
            Assert.StartsWith("lv-b/", moved.Id);
            Assert.Equal("dcm1", moved.Name);
            Assert.Equal("dc-move-test", moved.Tags["purpose"]);
            Assert.Equal(w.Id, moved.Tags[MoveOrchestrator.MovedFromTag]);
            string diskB = DiskOf(moved);
            Assert.StartsWith(_pair.ImagesB + "/" + LibvirtProviderPrefix, diskB);
            Assert.Equal(Sha(diskA), Sha(diskB)); // content equal, byte for byte
            var op = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Single(o => o.Target == w.Id);
            Assert.Equal(OperationState.Succeeded, op.State);
            foreach (var s in new[] { "stop", "export", "convert", "verify", "import", "create", "verify-destination", "start", "cutover" })
                Assert.True(op.Checkpoints.ContainsKey("done:" + s), "no checkpoint done:" + s);
            Assert.Empty(Directory.GetFileSystemEntries(Staging)); // the staged copy is gone
            var src = await engine.GetWorkloadAsync(w.Id, Ct());
            Assert.Equal(WorkloadState.Stopped, src.State);
            Assert.Equal(moved.Id, src.Tags[MoveOrchestrator.MovedToTag]);

            // It was running, so it was started there: it boots on the other daemon and counts from the start.
            Assert.Equal(WorkloadState.Running, moved.State);
            var onB = await EmbedLab.WaitForCounts(serialB, x => x.Count >= 3, Wait);
            Assert.Equal(Enumerable.Range(0, onB.Count), onB);

            // Back to lv-a, which still holds its own stopped source: replaced, not refused.
            string serialA2 = Path.Combine(_pair.SerialDir, "dcm1.a2.log");
            var back = await new MoveOrchestrator(engine).MoveAsync(moved, To("lv-a", serialA2), false, false, false, null, NullObserver.Instance, Ct());
            var onA = await Named(engine, "lv-a", "dcm1");
            Assert.Single(onA);
            Assert.Equal(back.Id, onA[0].Id);
            Assert.NotEqual(w.Id, back.Id);
            Assert.Equal(moved.Id, back.Tags[MoveOrchestrator.MovedFromTag]);
            Assert.False(File.Exists(diskA), "the replaced source's disk is still there");
            Assert.Equal(Sha(diskB), Sha(DiskOf(back)));
            Assert.Equal(WorkloadState.Running, back.State);
            var onA2 = await EmbedLab.WaitForCounts(serialA2, x => x.Count >= 3, Wait);
            Assert.Equal(Enumerable.Range(0, onA2.Count), onA2);

            // No orphan: every imported volume in either pool belongs to a defined workload.
            var volsA = Volumes(_pair.UriA); var volsB = Volumes(_pair.UriB);
            _out.WriteLine("pool A: " + string.Join(", ", volsA) + " | pool B: " + string.Join(", ", volsB));
            Assert.Equal(new[] { Path.GetFileName(DiskOf(back)) }, volsA.Except(volsABefore).Where(v => v.Contains("dcm1") || v.StartsWith(LibvirtProviderPrefix)));
            Assert.DoesNotContain(Path.GetFileName(diskA), volsA);
            Assert.Contains(DaemonPair.ImageName, volsA);
            Assert.Equal(new[] { Path.GetFileName(diskB) }, volsB.Except(volsBBefore).Where(v => v.StartsWith(LibvirtProviderPrefix)));

            await engine.InvokeAsync(back, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, Ct());
            foreach (var x in new[] { back.Id, moved.Id })
                await engine.InvokeAsync(await engine.GetWorkloadAsync(x, Ct()), new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true }, null, NullObserver.Instance, Ct());
        }

        internal const string LibvirtProviderPrefix = "gridmove-";

        internal static (int Code, string Out) Run(string exe, params string[] args)
        {
            var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            string o = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, o + err.Result);
        }

        [DaemonFact]
        public async Task Move_IntoDatacenterThatStoresRaw_ConvertsQcow2_ComparesEqual_GuestBoots()
        {
            var engine = await Lab();
            Qcow2Image(_pair);
            var dc = await engine.ConnectDatacenterAsync("Libvirt", "lv-braw", "Contoso", null,
                new Dictionary<string, string> { ["Uri"] = _pair.UriB, ["ImportDiskFormat"] = "raw" }, new Dictionary<string, object>(), NullObserver.Instance, Ct());
            var w = await Counter(engine, "conv1", Qcow2ImageName);
            Assert.EndsWith(".qcow2", DiskOf(w));

            var report = await new MoveService(engine).TestAsync(w, To("lv-braw", "x"), NullObserver.Instance, Ct());
            Assert.True(report.CanMove, string.Join("; ", report.Incompatibilities.Select(i => i.Code + ": " + i.Message)));
            Assert.Equal(MoveMethod.DiskImport, report.Method);
            Assert.True(report.Disks.Single().NeedsConversion);
            Assert.Equal(new[] { DiskFormat.Qcow2, DiskFormat.Raw }, report.Disks.Single().Path);

            string serialB = Path.Combine(_pair.SerialDir, "conv1.b.log");
            var moved = await new MoveOrchestrator(engine).MoveAsync(w, To("lv-braw", serialB), false, false, false, null, NullObserver.Instance, Ct());
            var op = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Single(o => o.Target == w.Id);
            Assert.Equal(OperationState.Succeeded, op.State);
            Assert.Contains("\"Format\":\"Raw\"", op.Checkpoints["done:convert"].Replace(" ", ""));
            string diskB = DiskOf(moved);
            Assert.EndsWith(".img", diskB);
            Assert.StartsWith("QFI", File.ReadAllText(DiskOf(w)).Substring(0, 3)); // the source stays qcow2
            Assert.NotEqual((byte)'Q', File.ReadAllBytes(diskB)[0]);              // the copy is raw
            var cmp = Run("qemu-img", "compare", "-q", "-f", "qcow2", "-F", "raw", DiskOf(w), diskB);
            Assert.True(cmp.Code == 0, "qemu-img compare: " + cmp.Out);       // same guest-visible content
            Assert.Empty(Directory.GetFileSystemEntries(Staging));
            Assert.Equal(WorkloadState.Running, moved.State);
            var onB = await EmbedLab.WaitForCounts(serialB, x => x.Count >= 3, Wait);
            Assert.Equal(Enumerable.Range(0, onB.Count), onB);

            await engine.InvokeAsync(moved, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, Ct());
            foreach (var x in new[] { moved.Id, w.Id })
                await engine.InvokeAsync(await engine.GetWorkloadAsync(x, Ct()), new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true }, null, NullObserver.Instance, Ct());
        }

        // A move into a MULTI-HOST libvirt datacenter (lv-ab spans both daemons) with -DestinationHost: the disk enters
        // the chosen host's pool and the workload is defined there, even when the destination's own choice (most free
        // memory) would be the other host; Test-GridMove reports the host; an unknown host is refused before the journal.
        [DaemonFact]
        public async Task Move_WithDestinationHost_ImportsIntoThatHostsPool_AndCreatesThere_UnknownHostRefusedBeforeJournal()
        {
            var engine = await Lab();
            var ab = await engine.ConnectDatacenterAsync("Libvirt", "lv-ab", "Contoso", null, new Dictionary<string, string> { ["Uri"] = _pair.UriA + "\n" + _pair.UriB }, new Dictionary<string, object>(), NullObserver.Instance, Ct());
            Assert.Equal(ConnectionStatus.Connected, ab.Status);

            var w = await Counter(engine, "dch1");
            var volsA = Volumes(_pair.UriA);
            var volsB = Volumes(_pair.UriB);

            // kvm-b holds a running 1 GiB domain (no disk: it idles in the firmware), so lv-ab's own choice would be kvm-a
            string ballastXml = Path.Combine(_dir, "ballast.xml");
            File.WriteAllText(ballastXml, "<domain type='qemu'><name>dch-ballast</name><memory unit='MiB'>1024</memory><os><type>hvm</type></os><devices/></domain>");
            Assert.Equal(0, Run("virsh", "-q", "-c", _pair.UriB, "define", ballastXml).Code);
            try
            {
                Assert.Equal(0, Run("virsh", "-q", "-c", _pair.UriB, "start", "dch-ballast").Code);

                // Test-GridMove names the host; an unknown one is an error of the report ...
                string serialB = Path.Combine(_pair.SerialDir, "dch1.b.log");
                var to = To("lv-ab", serialB);
                to.DestinationHost = "kvm-b";
                var report = await new MoveService(engine).TestAsync(w, to, NullObserver.Instance, Ct());
                Assert.True(report.CanMove, string.Join("; ", report.Incompatibilities.Select(i => i.Code + ": " + i.Message)));
                Assert.Equal("kvm-b", report.DestinationHost);
                Assert.Equal("lv-ab/kvm-b", report.Destination);
                var bad = To("lv-ab", serialB);
                bad.DestinationHost = "kvm-z";
                var badReport = await new MoveService(engine).TestAsync(w, bad, NullObserver.Instance, Ct());
                Assert.Contains(badReport.Incompatibilities, i => i.Code == "DestinationHostNotFound" && i.Severity == MoveSeverity.Error && i.Message.Contains("kvm-a"));

                // ... which Move refuses before anything is journaled or touched
                var refused = await Assert.ThrowsAsync<GridException>(() => new MoveOrchestrator(engine).MoveAsync(w, bad, false, false, false, null, NullObserver.Instance, Ct()));
                Assert.Equal("MoveIncompatible", refused.ErrorId);
                Assert.Contains("DestinationHostNotFound", refused.Message);
                Assert.Empty(engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Where(o => o.Target == w.Id));
                Assert.Equal(WorkloadState.Running, (await engine.GetWorkloadAsync(w.Id, Ct())).State);

                var moved = await new MoveOrchestrator(engine).MoveAsync(w, to, false, false, false, null, NullObserver.Instance, Ct());
                Assert.StartsWith("lv-ab/", moved.Id);
                Assert.Equal("kvm-b", moved.Host);
                string disk = moved.Disks.Single().NativeId!;
                Assert.StartsWith(_pair.ImagesB + "/" + LibvirtProviderPrefix, disk); // kvm-b's pool took the disk
                Assert.Equal(new[] { Path.GetFileName(disk) }, Volumes(_pair.UriB).Except(volsB));
                Assert.Empty(Volumes(_pair.UriA).Except(volsA));                     // nothing imported into kvm-a's
                Assert.Equal(Sha(w.Disks.Single().NativeId!), Sha(disk));
                Assert.Equal(WorkloadState.Running, moved.State);
                var counts = await EmbedLab.WaitForCounts(serialB, x => x.Count >= 3, Wait);
                Assert.Equal(Enumerable.Range(0, counts.Count), counts);
                var op = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Single(o => o.Target == w.Id);
                Assert.Equal(OperationState.Succeeded, op.State);
                Assert.Contains("kvm-b", op.Request);

                await engine.InvokeAsync(moved, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, Ct());
                foreach (var x in new[] { moved.Id, w.Id })
                    await engine.InvokeAsync(await engine.GetWorkloadAsync(x, Ct()), new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true }, null, NullObserver.Instance, Ct());
            }
            finally
            {
                Run("virsh", "-q", "-c", _pair.UriB, "destroy", "dch-ballast");
                Run("virsh", "-q", "-c", _pair.UriB, "undefine", "dch-ballast");
            }
        }

        /// <summary>A 256 MiB raw image in kvm-a's pool whose first sector is the counting boot sector (export and import then take long enough to be killed in).</summary>
        private void BigImage() => BigImage(_pair);

        internal static void BigImage(DaemonPair pair)
        {
            string path = Path.Combine(pair.ImagesA, "big.img");
            if (File.Exists(path)) return;
            using (var fs = new FileStream(path, FileMode.CreateNew))
            {
                fs.Write(BootSector.Disk());
                fs.SetLength(256L * 1024 * 1024);
            }
            var psi = new ProcessStartInfo("virsh") { UseShellExecute = false };
            foreach (var a in new[] { "-q", "-c", pair.UriA, "pool-refresh", "default" }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.WaitForExit();
        }

        public static IEnumerable<object[]> Kills() => new[]
        {
            new object[] { "export", false }, new object[] { "export", true },
            new object[] { "import", false }, new object[] { "import", true },
            new object[] { "create", false }, new object[] { "create", true },
        };

        /// <summary>
        /// A child process (this test assembly's "dc-move" entry) runs the move with the engine and journal; it is
        /// killed as soon as the journal says it is in <paramref name="step"/>. Resume-GridOperation then finishes it
        /// (one running copy at lv-b) or rolls it back (the source running again at lv-a, nothing at lv-b); either way
        /// no imported volume is left without a workload in either pool, and the staging folder is empty.
        /// </summary>
        [DaemonTheory]
        [MemberData(nameof(Kills))]
        public async Task KilledDuringStep_ResumeFinishes_OrRollbackRestoresSource_NoOrphanVolume(string step, bool rollback)
        {
            var engine = await Lab();
            BigImage();
            string name = "k-" + step + (rollback ? "-rb" : "-fin");
            var w = await Counter(engine, name, "big.img");
            string serialB = Path.Combine(_pair.SerialDir, name + ".b.log");
            var volsBBefore = Volumes(_pair.UriB);

            var op = await DcMoveAgent.KillInStepAsync(engine, StatePath, w.Id, "lv-b", serialB, step, _out);

            var result = await engine.ResumeOperationAsync(op.Id, rollback, NullObserver.Instance, Ct());
            var atB = await Named(engine, "lv-b", name);
            var source = await engine.GetWorkloadAsync(w.Id, Ct());
            if (rollback)
            {
                Assert.Equal(OperationState.RolledBack, result.State);
                Assert.Empty(atB);
                Assert.Equal(WorkloadState.Running, source.State);
                Assert.Equal(volsBBefore, Volumes(_pair.UriB)); // nothing left in lv-b's pool
            }
            else
            {
                Assert.Equal(OperationState.Succeeded, result.State);
                var copy = Assert.Single(atB);
                Assert.Equal(WorkloadState.Running, copy.State);
                Assert.Equal(w.Id, copy.Tags[MoveOrchestrator.MovedFromTag]);
                Assert.Equal(WorkloadState.Stopped, source.State);
                Assert.Equal(new[] { Path.GetFileName(DiskOf(copy)) }, Volumes(_pair.UriB).Except(volsBBefore));
                Assert.Equal(Sha(DiskOf(source)), Sha(DiskOf(copy)));
            }
            Assert.DoesNotContain(Volumes(_pair.UriA), v => v.StartsWith(LibvirtProviderPrefix));
            Assert.Empty(Directory.GetFileSystemEntries(Staging));

            foreach (var x in atB.Select(x => x.Id).Append(w.Id))
            {
                var cur = await engine.GetWorkloadAsync(x, Ct());
                if (cur.State == WorkloadState.Running)
                    await engine.InvokeAsync(cur, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, Ct());
                await engine.InvokeAsync(await engine.GetWorkloadAsync(x, Ct()), new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true }, null, NullObserver.Instance, Ct());
            }
        }
    }

    /// <summary>Child process "dc-move STATE WORKLOAD_ID DEST SERIAL HOLD_STEP": a move between datacenters with the engine and its journal; it holds inside HOLD_STEP until the test kills it.</summary>
    internal static class DcMoveAgent
    {
        /// <summary>
        /// Blocks the move inside one step: the orchestrator reports "&lt;step&gt; (k of n steps)" once the journal has
        /// recorded the step, before it acts. For export and import it holds at the step's next report (the first
        /// MiB-progress of the transfer: some bytes moved, the rest not; for vSphere's import that is inside the NFC
        /// upload, after ImportVApp made the VM and its lease); for the other steps at the step's start.
        /// </summary>
        internal sealed class HoldIn : IEngineObserver
        {
            private readonly string _step;
            private bool _inStep;
            public HoldIn(string step) => _step = step;
            public void Progress(string target, GridProgress progress)
            {
                if (progress.Status.StartsWith(_step + " (", StringComparison.Ordinal)) { _inStep = true; if (_step is "export" or "import") return; }
                if (!_inStep) return;
                // a transfer's byte progress ("… N of M MiB"), not a report before it (vSphere's CreateImportSpec)
                if (_step is "export" or "import" && !progress.Status.EndsWith(" MiB", StringComparison.Ordinal)) return;
                Console.WriteLine("HOLD " + _step);
                Thread.Sleep(Timeout.Infinite);
            }
            public void Verbose(string message) { }
            public void Warning(string message) { }
        }

        /// <summary>The vSphere datacenter "vs" of the chain tests (secrets never reach the store, so a child connects it again).</summary>
        internal const string VSphereDatacenter = "vs";

        internal static Task ConnectVSphereAsync(GridEngine engine, string url)
            => engine.ConnectDatacenterAsync("VSphere", VSphereDatacenter, "Contoso", "Lab",
                new Dictionary<string, string> { ["Server"] = url, ["AllowInsecureHttp"] = "True" },
                new Dictionary<string, object> { ["Credential"] = new System.Net.NetworkCredential(GridAutomation.Provider.VSphere.Tests.VcSim.User, GridAutomation.Provider.VSphere.Tests.VcSim.Password) },
                NullObserver.Instance, CancellationToken.None);

        /// <param name="vcsimUrl">when the move goes to (or comes from) vSphere: the simulator whose datacenter "vs" the child connects</param>
        public static int Run(string statePath, string id, string dest, string serial, string holdStep, string? vcsimUrl = null)
        {
            try
            {
                var engine = DatacenterMoveTests.Engine(statePath);
                if (vcsimUrl != null) ConnectVSphereAsync(engine, vcsimUrl).GetAwaiter().GetResult();
                var w = engine.GetWorkloadAsync(id, CancellationToken.None).GetAwaiter().GetResult();
                Console.WriteLine("STARTED");
                new MoveOrchestrator(engine).MoveAsync(w, DatacenterMoveTests.To(dest, serial), false, false, false, null, new HoldIn(holdStep), CancellationToken.None).GetAwaiter().GetResult();
                Console.WriteLine("OK");
                return 0;
            }
            catch (GridException ex) { Console.WriteLine($"ERR {ex.Kind} {ex.ErrorId} {ex.Message}"); return 1; }
        }

        /// <summary>
        /// The parent's side: runs this assembly's "dc-move" entry as a child process moving <paramref name="workloadId"/>
        /// to <paramref name="dest"/>, kills it as soon as it holds inside <paramref name="step"/> (the journal says so),
        /// and returns the move's operation once the journal sees it Interrupted (the dead child's lease ran out).
        /// </summary>
        public static async Task<GridOperation> KillInStepAsync(GridEngine engine, string statePath, string workloadId, string dest, string serial, string step, ITestOutputHelper output, string? vcsimUrl = null)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { typeof(DcMoveAgent).Assembly.Location, "dc-move", statePath, workloadId, dest, serial, step }) psi.ArgumentList.Add(a);
            if (vcsimUrl != null) psi.ArgumentList.Add(vcsimUrl);
            return await KillInStepAsync(engine, psi, workloadId, step, output);
        }

        /// <param name="psi">a child of this assembly that moves <paramref name="workloadId"/> with a <see cref="HoldIn"/> observer (redirected output)</param>
        public static async Task<GridOperation> KillInStepAsync(GridEngine engine, ProcessStartInfo psi, string workloadId, string step, ITestOutputHelper output)
        {
            GridOperation? op = null;
            string seen = "";
            var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
            using (var child = new Process { StartInfo = psi })
            {
                child.OutputDataReceived += (_, e) => { if (e.Data != null) lines.Enqueue(e.Data); };
                child.ErrorDataReceived += (_, e) => { if (e.Data != null) lines.Enqueue(e.Data); };
                child.Start();
                child.BeginOutputReadLine();
                child.BeginErrorReadLine();
                // The child holds inside the step (its observer blocks on the step's first progress report after the
                // journal recorded it), so the kill lands in the step however fast this machine runs it.
                var deadline = DateTime.UtcNow.AddSeconds(180);
                while (DateTime.UtcNow < deadline && !child.HasExited && !lines.Contains("HOLD " + step)) await Task.Delay(20);
                if (child.HasExited || !lines.Contains("HOLD " + step)) Assert.Fail($"the child did not reach step {step}: " + string.Join(" | ", lines));
                op = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).First(o => o.Target == workloadId);
                Assert.Equal(step, op.Checkpoints["step"]);
                seen = string.Join(",", op.Checkpoints.Keys);
                child.Kill(true);
                child.WaitForExit();
            }
            output.WriteLine($"killed in step {step}; checkpoints then: {seen}");
            var deadline2 = DateTime.UtcNow.AddSeconds(60);
            while ((op = engine.Journal.Get(op!.Id)!).State != OperationState.Interrupted && DateTime.UtcNow < deadline2) await Task.Delay(200);
            Assert.Equal(OperationState.Interrupted, op.State);
            Assert.False(op.Checkpoints.ContainsKey("done:" + step) && step != "create", "the kill came after the step was done: " + string.Join(",", op.Checkpoints.Keys));
            return op;
        }
    }
}
