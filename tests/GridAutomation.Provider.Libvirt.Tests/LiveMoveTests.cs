using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt;
using GridAutomation.Providers.Libvirt.Native;
using Xunit;
using Xunit.Abstractions;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>Checkpoints written to a file, each durably before the step acts: what a journal keeps when its process is killed.</summary>
    internal sealed class FileScope : IOperationScope
    {
        private readonly string _path;
        private readonly Dictionary<string, string> _cp = new Dictionary<string, string>();
        public FileScope(string path) { _path = path; }
        public Guid OperationId { get; } = Guid.NewGuid();
        public string IdempotencyKey => OperationId.ToString("N");
        public bool IsResume => false;
        public IReadOnlyDictionary<string, string> Checkpoints => _cp;
        public void Checkpoint(string key, string value)
        {
            using (var fs = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
            {
                var line = Encoding.UTF8.GetBytes(key + "\t" + Convert.ToBase64String(Encoding.UTF8.GetBytes(value)) + "\n");
                fs.Write(line, 0, line.Length);
                fs.Flush(true);
            }
            _cp[key] = value;
        }
        public void Report(GridProgress progress) { }

        public static Dictionary<string, string> Read(string path)
        {
            var cp = new Dictionary<string, string>(StringComparer.Ordinal);
            if (!File.Exists(path)) return cp;
            string text;
            using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)) using (var r = new StreamReader(fs)) text = r.ReadToEnd();
            var lines = text.Split('\n');
            foreach (var line in lines.Take(lines.Length - 1)) // only complete lines: the writer may be mid-line
            {
                var parts = line.Split('\t');
                if (parts.Length == 2) cp[parts[0]] = Encoding.UTF8.GetString(Convert.FromBase64String(parts[1]));
            }
            return cp;
        }
    }

    /// <summary>Child process "live-move URI_A URI_B UUID TARGET CHECKPOINTS": moves a guest with the provider's own code, journaling to a file; the test kills it mid-migration.</summary>
    internal static class LiveMoveAgent
    {
        public static int Run(string uriA, string uriB, string uuid, string target, string checkpoints)
        {
            try
            {
                var dc = new GridDatacenter { Name = "livelab", Provider = "Libvirt" };
                dc.Settings["Uri"] = uriA + "\n" + uriB;
                using var c = new LibvirtProvider().ConnectAsync(new ProviderConnectRequest { Datacenter = dc }, CancellationToken.None).GetAwaiter().GetResult();
                Console.WriteLine("CONNECTED");
                c.MoveAsync(uuid, target, new FileScope(checkpoints), CancellationToken.None).GetAwaiter().GetResult();
                Console.WriteLine("OK");
                return 0;
            }
            catch (GridException ex) { Console.WriteLine($"ERR {ex.Kind} {ex.ErrorId} {ex.Message}"); return 1; }
        }
    }

    /// <summary>
    /// Live moves of a running counting guest between two real libvirt daemons (<see cref="DaemonPair"/>):
    /// storage copied from a host's pool, or left in place when declared shared; an interrupted move resumed.
    /// </summary>
    [Collection(DaemonCollection.Name)]
    public sealed class LiveMoveTests
    {
        private readonly DaemonPair _pair;
        private readonly ITestOutputHelper _out;
        public LiveMoveTests(DaemonPair pair, ITestOutputHelper output) { _pair = pair; _out = output; }
        [System.Runtime.InteropServices.DllImport("libvirt.so.0")]
        private static extern int virDomainMigrateSetMaxSpeed(DomainHandle dom, ulong bandwidthMiBs, uint flags);

        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token;
        private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

        private async Task<GridWorkload> CreateCounter(IGridConnection c, string name)
        {
            var req = new CreateWorkloadRequest { Name = name, Image = DaemonPair.ImageName, Size = "micro", TargetHost = "kvm-a", IdempotencyKey = "live-" + name };
            req.Options["DiskBus"] = "ide";
            req.Options["SerialLog"] = Path.Combine(_pair.SerialDir, name + ".log");
            req.Tags["purpose"] = "live-move-test";
            var sw = Stopwatch.StartNew();
            var w = await c.CreateWorkloadAsync(req, new TestScope(req.IdempotencyKey), Ct());
            _out.WriteLine($"create+start {name} on {w.Host}: {sw.Elapsed.TotalSeconds:0.0}s");
            return w;
        }

        /// <summary>Where the domain is defined and where it runs, per host, straight from libvirt.</summary>
        private static (List<string> Defined, List<string> Active) Where(IGridConnection c, string uuid)
        {
            var defined = new List<string>(); var active = new List<string>();
            foreach (var h in ((LibvirtConnection)c).Hosts)
            {
                using var d = Virt.LookupByUuid(h.Conn, uuid);
                if (d == null) continue;
                defined.Add(h.Name);
                if (Virt.IsActive(d)) active.Add(h.Name);
            }
            return (defined, active);
        }

        /// <summary>Every line k of the log is k: the guest never restarted (a restart would print 0 again).</summary>
        private static void AssertNeverRestarted(List<int> counts)
        {
            for (int k = 0; k < counts.Count; k++)
                if (counts[k] != k) Assert.Fail($"serial line {k} reads {counts[k]}: the guest restarted or lost its memory (counts around it: {string.Join(",", counts.Skip(Math.Max(0, k - 3)).Take(7))})");
        }

        private static async Task Remove(IGridConnection c, string uuid)
        {
            try { await c.RemoveAsync(uuid, removeStorage: true, new TestScope(), Ct()); } catch (GridException) { }
        }

        [DaemonFact]
        public async Task LiveMove_CopiesLocalStorage_ThenSharedStorageBack_GuestNeverRestarts()
        {
            _pair.Require();
            // kvm-b's pool folder is declared shared (both daemons run on this machine, so both see it; libvirt cannot know).
            using var c = _pair.Connect("livelab", _pair.ImagesB);
            Assert.True(c.Capabilities.HasFlag(GridCapabilities.LiveMove));
            Assert.Equal(new[] { "kvm-a", "kvm-b" }, (await c.ListHostsAsync(Ct())).Select(h => h.Name).OrderBy(x => x).ToArray());
            var w = await CreateCounter(c, "live1");
            try
            {
                string serial = ((string[])w.Properties["SerialFiles"]!).Single();
                string diskA = Path.Combine(_pair.ImagesA, "live1-disk0.img"), diskB = Path.Combine(_pair.ImagesB, "live1-disk0.img");
                Assert.Equal(diskA, w.Disks.Single().NativeId);
                await EmbedLab.WaitForCounts(serial, x => x.Count >= 3, Wait);

                // A → B: the disk is a volume of kvm-a's pool, so it is copied during the migration into a volume pre-created in kvm-b's pool.
                var scope = new CrashingScope("never", false);
                var order = new List<string>();
                scope.OnCheckpoint = order.Add;
                var sw = Stopwatch.StartNew();
                await c.MoveAsync(w.NativeId, "kvm-b", scope, Ct());
                _out.WriteLine($"A → B (copied storage): {sw.ElapsedMilliseconds} ms wall; {scope.Checkpoints[LiveMigration.MigratedKey]}");
                Assert.Equal(LiveMigration.StepKeys, order);
                Assert.Equal("finished (live, copied storage)", scope.Checkpoints[SaveRestoreMove.DoneKey]);
                var stats = JsonSerializer.Deserialize<LiveMoveStats>(scope.Checkpoints[LiveMigration.MigratedKey])!;
                _out.WriteLine($"downtime A → B: {stats.DowntimeMs} ms, data total {stats.DataTotalBytes} bytes, disk {stats.DiskTotalBytes} bytes");
                Assert.Equal("copied", stats.Storage);
                Assert.NotNull(stats.DowntimeMs);
                Assert.True(stats.DataTotalBytes >= 128UL * 1024 * 1024, "data total " + stats.DataTotalBytes); // the guest's memory at least
                Assert.Equal(1024UL * 1024, stats.DiskTotalBytes);                                               // the 1 MiB disk was copied

                var (defined, active) = Where(c, w.NativeId);
                Assert.Equal(new[] { "kvm-b" }, defined);
                Assert.Equal(new[] { "kvm-b" }, active);
                var moved = await c.GetWorkloadAsync(w.NativeId, Ct());
                Assert.Equal("kvm-b", moved.Host);
                Assert.Equal(WorkloadState.Running, moved.State);
                Assert.Equal("live-move-test", moved.Tags["purpose"]);
                Assert.Equal(diskB, moved.Disks.Single().NativeId);
                Assert.True(File.Exists(diskB), "no disk on kvm-b");
                Assert.False(File.Exists(diskA), "the source disk was kept after a successful move");
                int atMove = EmbedLab.Counts(serial).Count;
                var counts = await EmbedLab.WaitForCounts(serial, x => x.Count >= atMove + 3, Wait);
                AssertNeverRestarted(counts);

                // B → A: the disk now lives in the declared-shared folder: not copied, same path, kept.
                scope = new CrashingScope("never", false);
                sw.Restart();
                await c.MoveAsync(w.NativeId, "kvm-a", scope, Ct());
                stats = JsonSerializer.Deserialize<LiveMoveStats>(scope.Checkpoints[LiveMigration.MigratedKey])!;
                _out.WriteLine($"B → A (shared storage): {sw.ElapsedMilliseconds} ms wall; downtime {stats.DowntimeMs} ms, data total {stats.DataTotalBytes} bytes, disk {stats.DiskTotalBytes?.ToString() ?? "-"}");
                Assert.Equal("finished (live, shared storage)", scope.Checkpoints[SaveRestoreMove.DoneKey]);
                Assert.Equal("shared", stats.Storage);
                Assert.NotNull(stats.DowntimeMs);
                Assert.True((stats.DiskTotalBytes ?? 0) == 0, "shared storage was copied: " + stats.DiskTotalBytes);
                (defined, active) = Where(c, w.NativeId);
                Assert.Equal(new[] { "kvm-a" }, defined);
                Assert.Equal(new[] { "kvm-a" }, active);
                var back = await c.GetWorkloadAsync(w.NativeId, Ct());
                Assert.Equal(diskB, back.Disks.Single().NativeId);
                Assert.True(File.Exists(diskB), "the shared disk was deleted");
                atMove = EmbedLab.Counts(serial).Count;
                counts = await EmbedLab.WaitForCounts(serial, x => x.Count >= atMove + 3, Wait);
                AssertNeverRestarted(counts);
                _out.WriteLine($"serial log: {counts.Count} lines, 0..{counts.Last()} without a gap or restart");
            }
            finally { await Remove(c, w.NativeId); }
        }

        [DaemonFact]
        public async Task LiveMove_OfStoppedGuest_IsCold_AndSaysSo()
        {
            _pair.Require();
            using var c = _pair.Connect("livelab");
            var w = await CreateCounter(c, "cold1");
            try
            {
                await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct());
                var scope = new TestScope();
                await c.MoveAsync(w.NativeId, "kvm-b", scope, Ct());
                Assert.Equal("finished (cold)", scope.Checkpoints[SaveRestoreMove.DoneKey]);
                Assert.False(scope.Checkpoints.ContainsKey(LiveMigration.Key));
                var got = await c.GetWorkloadAsync(w.NativeId, Ct());
                Assert.Equal("kvm-b", got.Host);
                Assert.Equal(WorkloadState.Stopped, got.State);
                Assert.Equal(Path.Combine(_pair.ImagesB, "cold1-disk0.img"), got.Disks.Single().NativeId);
                Assert.False(File.Exists(Path.Combine(_pair.ImagesA, "cold1-disk0.img")));
            }
            finally { await Remove(c, w.NativeId); }
        }

        /// <summary>
        /// Starts a child process moving <paramref name="w"/> with the provider's own code (checkpoints journaled to a
        /// file), slows the migration to 1 MiB/s (the test's doing) and kills the child once libvirt's migration job
        /// runs on the source. Returns the checkpoints the child journaled.
        /// </summary>
        private async Task<Dictionary<string, string>> KillChildMidMigration(IGridConnection c, GridWorkload w, string target)
        {
            string cpFile = Path.Combine(_pair.Dir, w.Name + ".checkpoints");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { typeof(LiveMoveAgent).Assembly.Location, "live-move", _pair.UriA, _pair.UriB, w.NativeId, target, cpFile }) psi.ArgumentList.Add(a);
            var src = ((LibvirtConnection)c).Hosts.Single(h => h.Name == w.Host);
            using (var d = Virt.LookupByUuid(src.Conn, w.NativeId)!)
                Assert.Equal(0, virDomainMigrateSetMaxSpeed(d, 1, 0));
            bool sawJob = false;
            using (var child = Process.Start(psi)!)
            {
                var stdout = child.StandardOutput.ReadToEndAsync();
                var stderr = child.StandardError.ReadToEndAsync();
                var deadline = DateTime.UtcNow.AddSeconds(120);
                while (DateTime.UtcNow < deadline && !child.HasExited)
                {
                    if (FileScope.Read(cpFile).ContainsKey(LiveMigration.MigrateKey))
                    {
                        using var d = Virt.LookupByUuid(src.Conn, w.NativeId);
                        if (d != null && Virt.IsActive(d))
                        {
                            var job = Virt.JobStats(d, 0, LiveMoveStats.Names);
                            if (job.Type != Virt.JOB_NONE)
                            {
                                sawJob = true;
                                _out.WriteLine($"migration job running on {src.Name} ({string.Join(", ", job.Stats.Select(kv => kv.Key + "=" + kv.Value))}): killing the child");
                                break;
                            }
                        }
                    }
                    await Task.Delay(20);
                }
                if (!sawJob) Assert.Fail("the child ended before the migration could be interrupted: " + await stdout + await stderr);
                child.Kill();
                child.WaitForExit(10_000);
                _out.WriteLine($"child killed; journaled: {string.Join(", ", FileScope.Read(cpFile).Keys)}; its output: {(await stdout).Trim()} {(await stderr).Trim()}");
            }
            return FileScope.Read(cpFile);
        }

        /// <summary>
        /// A child process (the provider's own code, journaling to a file) is killed while libvirt migrates the
        /// guest; Resume-GridOperation's provider call then brings the move to an end: the guest runs on exactly
        /// one host, is defined on that host only, no volume is left on the other, and it never restarted.
        /// </summary>
        [DaemonFact]
        public async Task InterruptedLiveMove_ChildKilledMidMigration_IsResumed_OnExactlyOneHost()
        {
            _pair.Require();
            using var c = _pair.Connect("livelab");
            var w = await CreateCounter(c, "live2");
            try
            {
                string serial = ((string[])w.Properties["SerialFiles"]!).Single();
                await EmbedLab.WaitForCounts(serial, x => x.Count >= 3, Wait);
                var cps = await KillChildMidMigration(c, w, "kvm-b");
                Assert.True(cps.ContainsKey(LiveMigration.Key) && cps.ContainsKey(LiveMigration.VolumesKey) && cps.ContainsKey(LiveMigration.MigrateKey));
                Assert.False(cps.ContainsKey(SaveRestoreMove.DoneKey));
                var (_, activeNow) = Where(c, w.NativeId);
                _out.WriteLine("right after the kill, active on: " + string.Join(",", activeNow));

                var op = new GridOperation { Id = Guid.NewGuid(), Kind = "Move", Datacenter = "livelab", Target = w.Id, State = OperationState.Interrupted };
                foreach (var kv in cps) op.Checkpoints[kv.Key] = kv.Value;
                var resumeScope = new TestScope { IsResume = true };
                var sw = Stopwatch.StartNew();
                bool finished = await c.ResumeAsync(op, resumeScope, Ct());
                _out.WriteLine($"resume: {(finished ? "finished on kvm-b" : "rolled back to kvm-a")} in {sw.ElapsedMilliseconds} ms; " +
                    (resumeScope.Checkpoints.ContainsKey(LiveMigration.MigrateKey) ? "the daemons had dropped the migration: migrated again" : "the daemons had carried the migration on: waited for it and finished") +
                    $"; downtime {JsonSerializer.Deserialize<LiveMoveStats>(resumeScope.Checkpoints[LiveMigration.MigratedKey])!.DowntimeMs} ms");
                Assert.True(finished, "a resume (not -Rollback) goes forward: the guest ends on the target");
                Assert.StartsWith("finished (live", resumeScope.Checkpoints[SaveRestoreMove.DoneKey]);

                var (defined, active) = Where(c, w.NativeId);
                Assert.Equal(new[] { "kvm-b" }, defined);
                Assert.Equal(new[] { "kvm-b" }, active);
                Assert.True(File.Exists(Path.Combine(_pair.ImagesB, "live2-disk0.img")));
                Assert.False(File.Exists(Path.Combine(_pair.ImagesA, "live2-disk0.img")), "orphan volume left on kvm-a");
                int at = EmbedLab.Counts(serial).Count;
                var counts = await EmbedLab.WaitForCounts(serial, x => x.Count >= at + 3, Wait);
                AssertNeverRestarted(counts);

                // Resuming again changes nothing.
                Assert.True(await c.ResumeAsync(op, new TestScope { IsResume = true }, Ct()));
                Assert.Equal(new[] { "kvm-b" }, Where(c, w.NativeId).Active);
            }
            finally { await Remove(c, w.NativeId); }
        }

        /// <summary>Resume-GridOperation -Rollback of a live move killed mid-migration aborts libvirt's job: the guest stays on the source, the pre-created volume goes.</summary>
        [DaemonFact]
        public async Task InterruptedLiveMove_ResumeWithRollback_AbortsTheMigration_GuestStaysOnSource()
        {
            _pair.Require();
            using var c = _pair.Connect("livelab");
            var w = await CreateCounter(c, "live3");
            try
            {
                string serial = ((string[])w.Properties["SerialFiles"]!).Single();
                await EmbedLab.WaitForCounts(serial, x => x.Count >= 3, Wait);
                var cps = await KillChildMidMigration(c, w, "kvm-b");
                var op = new GridOperation { Id = Guid.NewGuid(), Kind = "Move", Datacenter = "livelab", Target = w.Id, State = OperationState.Interrupted, RollbackRequested = true };
                foreach (var kv in cps) op.Checkpoints[kv.Key] = kv.Value;
                bool finished = await c.ResumeAsync(op, new TestScope { IsResume = true }, Ct());
                Assert.False(finished, "the migration job was aborted: the guest stays on the source");
                var (defined, active) = Where(c, w.NativeId);
                Assert.Equal(new[] { "kvm-a" }, defined);
                Assert.Equal(new[] { "kvm-a" }, active);
                Assert.True(File.Exists(Path.Combine(_pair.ImagesA, "live3-disk0.img")));
                Assert.False(File.Exists(Path.Combine(_pair.ImagesB, "live3-disk0.img")), "orphan pre-created volume left on kvm-b");
                Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Ct())).State);
                int at = EmbedLab.Counts(serial).Count;
                AssertNeverRestarted(await EmbedLab.WaitForCounts(serial, x => x.Count >= at + 3, Wait));
            }
            finally { await Remove(c, w.NativeId); }
        }

        /// <summary>A migration libvirt refuses (the target has another domain of that name) leaves the guest running on the source and removes the pre-created volume.</summary>
        [DaemonFact]
        public async Task FailedLiveMove_KeepsTheSource_RemovesThePreCreatedVolume()
        {
            _pair.Require();
            using var c = _pair.Connect("livelab");
            var w = await CreateCounter(c, "live4");
            var lc = (LibvirtConnection)c;
            var b = lc.Hosts.Single(h => h.Name == "kvm-b");
            using (var _ = Virt.Define(b.Conn, "<domain type='qemu'><name>live4</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>")) { }
            try
            {
                var scope = new TestScope();
                var ex = await Assert.ThrowsAsync<GridException>(() => c.MoveAsync(w.NativeId, "kvm-b", scope, Ct()));
                _out.WriteLine($"{ex.ErrorId} ({ex.Kind}, libvirt {ex.NativeCode}): {ex.Message}");
                Assert.StartsWith("Libvirt", ex.ErrorId);
                Assert.NotNull(ex.NativeCode);
                Assert.True(scope.Checkpoints.ContainsKey(LiveMigration.MigrateKey));
                Assert.False(scope.Checkpoints.ContainsKey(SaveRestoreMove.DoneKey));
                var (defined, active) = Where(c, w.NativeId);
                Assert.Equal(new[] { "kvm-a" }, defined);
                Assert.Equal(new[] { "kvm-a" }, active);
                Assert.True(File.Exists(Path.Combine(_pair.ImagesA, "live4-disk0.img")), "the source disk must be kept on failure");
                Assert.False(File.Exists(Path.Combine(_pair.ImagesB, "live4-disk0.img")), "the pre-created volume must be removed on failure");
            }
            finally
            {
                using (var other = Virt.LookupByName(b.Conn, "live4")) if (other != null) Virt.Undefine(other);
                await Remove(c, w.NativeId);
            }
        }
    }
}
