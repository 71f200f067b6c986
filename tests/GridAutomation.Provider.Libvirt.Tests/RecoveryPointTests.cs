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
using GridAutomation.Providers.Libvirt;
using GridAutomation.Providers.Libvirt.Native;
using Xunit;
using Xunit.Abstractions;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// The pieces of a real disaster on the shared daemon pair, for any test class of the "libvirt daemons" collection
    /// (the replication/failover tests wire them to the core service): the counting guest on one daemon, a datacenter per
    /// daemon, kill -9 of a domain's QEMU, stopping and restarting daemon A, and what a host holds afterwards.
    /// </summary>
    internal static class DisasterLab
    {
        public static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token;
        public static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

        /// <summary>A datacenter of ONE daemon of the pair, "kvm-a" or "kvm-b" (so losing the other does not touch it).</summary>
        public static IGridConnection ConnectOne(DaemonPair pair, string datacenter, string host)
        {
            pair.Require();
            string uri = host == "kvm-a" ? pair.UriA : host == "kvm-b" ? pair.UriB : throw new ArgumentException("kvm-a or kvm-b", nameof(host));
            var dc = new GridDatacenter { Name = datacenter, Provider = "Libvirt" };
            dc.Settings["Uri"] = uri;
            return new LibvirtProvider().ConnectAsync(new ProviderConnectRequest { Datacenter = dc }, CancellationToken.None).GetAwaiter().GetResult();
        }

        public static string SerialLog(DaemonPair pair, string name, string site) => Path.Combine(pair.SerialDir, name + "." + site + ".log");

        /// <summary>Creates and starts the counting TCG guest (boot sector image <paramref name="image"/>) and waits for its first counts.</summary>
        public static async Task<GridWorkload> StartCounter(DaemonPair pair, IGridConnection c, string name, string image = DaemonPair.ImageName)
        {
            var req = new CreateWorkloadRequest { Name = name, Image = image, Size = "micro", IdempotencyKey = "rp-" + name };
            req.Options["DiskBus"] = "ide";
            req.Options["SerialLog"] = SerialLog(pair, name, "a");
            req.Tags["purpose"] = "recovery-point-test";
            var w = await c.CreateWorkloadAsync(req, new TestScope(req.IdempotencyKey), Ct());
            await EmbedLab.WaitForCounts(SerialLog(pair, name, "a"), x => x.Count >= 3, Wait);
            return w;
        }

        /// <summary>The disaster: kill -9 of the domain's QEMU on kvm-a, then daemon A stopped. Undo with <see cref="RestoreHostA"/>.</summary>
        public static void LoseHostA(DaemonPair pair, string domainName)
        {
            pair.KillQemu("kvm-a", domainName);
            pair.StopDaemon("kvm-a");
        }

        public static void RestoreHostA(DaemonPair pair) => pair.StartDaemon("kvm-a");

        /// <summary>Defines a stopped domain on the destination from a recovery point's staged disk, as replication keeps its replica.</summary>
        public static async Task<GridWorkload> Replica(DaemonPair pair, IGridConnection dst, DiskImage point, string name, string key)
        {
            var scope = new TestScope(key);
            string reference = await ((IDiskTransfer)dst).ImportDiskAsync(point, key, scope, Ct());
            var req = new CreateWorkloadRequest { Name = name, Size = "micro", PowerOn = false, AllowDuplicateName = true, IdempotencyKey = key };
            req.Options["ImportedDisk"] = reference;
            req.Options[ImportedDiskOptions.TakeOver] = "true"; // the replica runs on the imported volume and takes it away when removed (these tests leave nothing)
            req.Options["DiskBus"] = "ide";
            req.Options["SerialLog"] = SerialLog(pair, name, "b");
            return await dst.CreateWorkloadAsync(req, scope, Ct());
        }

        public static (int Code, string Out) Run(string exe, params string[] args)
        {
            var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            string o = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, o + err.Result);
        }

        /// <summary>What a point could leave on a host: backup targets in its pool, a job on the domain, a disk other than its own.</summary>
        public static (List<string> PointVolumes, string Job, List<string> BlockDevices) Leftovers(string uri, string domainName)
        {
            Run("virsh", "-q", "-c", uri, "pool-refresh", "default"); // files QEMU wrote behind the pool's back are listed too
            var vols = DatacenterMoveTests.Volumes(uri).Where(v => v.StartsWith(LibvirtConnection.PointPrefix, StringComparison.Ordinal)).ToList();
            var job = Run("virsh", "-q", "-c", uri, "domjobinfo", domainName).Out;
            string jobType = job.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("Job type:", StringComparison.Ordinal)) ?? job.Trim();
            var blk = Run("virsh", "-q", "-c", uri, "domblklist", domainName).Out
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToList();
            return (vols, jobType, blk);
        }

        public static string Sha(string path)
        {
            using var fs = File.OpenRead(path);
            return Convert.ToHexString(SHA256.HashData(fs));
        }

        public static async Task RemoveQuietly(IGridConnection c, string uuid)
        {
            try { await c.StopAsync(uuid, StopMode.TurnOff, new TestScope(), Ct()); } catch (GridException) { }
            try { await c.RemoveAsync(uuid, removeStorage: true, new TestScope(), Ct()); } catch (GridException) { }
        }

        /// <summary>Every line k of the log reads k: the guest never stopped nor restarted.</summary>
        public static void AssertCountsFromZero(List<int> counts)
        {
            for (int k = 0; k < counts.Count; k++)
                if (counts[k] != k) Assert.Fail($"serial line {k} reads {counts[k]} (around it: {string.Join(",", counts.Skip(Math.Max(0, k - 3)).Take(7))})");
        }
    }

    /// <summary>
    /// Recovery points of a RUNNING libvirt domain (IRunningDiskExport via virDomainBackupBegin) on the real daemon
    /// pair, and the disaster pieces of issue 17's test 1: the point on kvm-b boots and counts after kvm-a's QEMU is
    /// killed and daemon A is stopped.
    /// </summary>
    [Collection(DaemonCollection.Name)]
    public sealed class RecoveryPointTests : IDisposable
    {
        private readonly DaemonPair _pair;
        private readonly ITestOutputHelper _out;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-rp-" + Guid.NewGuid().ToString("N").Substring(0, 8));

        public RecoveryPointTests(DaemonPair pair, ITestOutputHelper output) { _pair = pair; _out = output; Directory.CreateDirectory(_dir); }

        public void Dispose()
        {
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        // Issue 17's libvirt bug: a create from an imported volume ran the guest ON that volume, so a recovery point
        // consumed by a test failover was deleted by Stop-GridFailover -Test while the point stayed recorded. Now a create
        // from an imported disk gets a volume of its own, unless the create says the import was made for it (a move's
        // create: ImportedDiskOptions.TakeOver).
        private async Task<GridWorkload> CreateFrom(IGridConnection b, string reference, string name, string key, bool takeOver)
        {
            var req = new CreateWorkloadRequest { Name = name, Size = "micro", PowerOn = true, AllowDuplicateName = true, IdempotencyKey = key };
            req.Options[ImportedDiskOptions.Reference] = reference;
            if (takeOver) req.Options[ImportedDiskOptions.TakeOver] = "true";
            req.Options["DiskBus"] = "ide";
            req.Options["SerialLog"] = Path.Combine(_pair.SerialDir, key + ".log");
            return await b.CreateWorkloadAsync(req, new TestScope(key), DisasterLab.Ct());
        }

        [DaemonFact]
        public async Task CreateFromImportedPoint_RunsOnItsOwnVolume_RemovalKeepsThePoint_AndTheNextFailoverBootsFromIt()
        {
            using var b = DisasterLab.ConnectOne(_pair, "rpc-b", "kvm-b");
            var before = DatacenterMoveTests.Volumes(_pair.UriB);
            string k = Guid.NewGuid().ToString("N").Substring(0, 8);
            // a recovery point as replication stages and imports it: the counting boot disk, raw
            string file = Path.Combine(_dir, "hda.img");
            File.WriteAllBytes(file, BootSector.Disk());
            var point = new DiskImage { Name = "hda", Format = DiskFormat.Raw, CapacityBytes = new FileInfo(file).Length, Path = file, ContentHash = DiskFiles.Sha256(file) };
            string reference = await ((IDiskTransfer)b).ImportDiskAsync(point, "pt" + k, new TestScope("pt" + k), DisasterLab.Ct());
            string pointPath = reference.Split('|')[1];
            string pointSha = DisasterLab.Sha(pointPath);

            // a test failover: the copy runs on a volume of its own in the same pool, with the point's content
            var test = await CreateFrom(b, reference, "rpc" + k, "t1" + k, takeOver: false);
            string testDisk = test.Disks.Single().NativeId!;
            Assert.NotEqual(pointPath, testDisk);
            Assert.StartsWith(_pair.ImagesB + "/", testDisk);
            Assert.Equal(pointSha, DisasterLab.Sha(testDisk));
            DisasterLab.AssertCountsFromZero(await EmbedLab.WaitForCounts(Path.Combine(_pair.SerialDir, "t1" + k + ".log"), x => x.Count >= 3, DisasterLab.Wait));

            // Stop-GridFailover -Test: the copy goes with its storage; the point's volume stays, unchanged
            await b.StopAsync(test.NativeId, StopMode.TurnOff, new TestScope(), DisasterLab.Ct());
            await b.RemoveAsync(test.NativeId, removeStorage: true, new TestScope(), DisasterLab.Ct());
            Assert.False(File.Exists(testDisk), "the test copy's volume is still there");
            Assert.True(File.Exists(pointPath), "removing the test copy deleted the recovery point's volume");
            Assert.Equal(pointSha, DisasterLab.Sha(pointPath));

            // the real failover to that same point afterwards boots from it and counts from 0
            var real = await CreateFrom(b, reference, "rpc" + k, "t2" + k, takeOver: false);
            Assert.NotEqual(pointPath, real.Disks.Single().NativeId);
            DisasterLab.AssertCountsFromZero(await EmbedLab.WaitForCounts(Path.Combine(_pair.SerialDir, "t2" + k + ".log"), x => x.Count >= 3, DisasterLab.Wait));
            await DisasterLab.RemoveQuietly(b, real.NativeId);
            Assert.True(File.Exists(pointPath));

            // a move's create takes its own import over: it runs on the imported volume, which goes with it
            var moved = await CreateFrom(b, reference, "rpc" + k, "t3" + k, takeOver: true);
            Assert.Equal(pointPath, moved.Disks.Single().NativeId);
            await DisasterLab.RemoveQuietly(b, moved.NativeId);
            Assert.False(File.Exists(pointPath));

            var after = DatacenterMoveTests.Volumes(_pair.UriB);
            _out.WriteLine("kvm-b pool, new volumes: " + string.Join(", ", after.Except(before)));
            Assert.Empty(after.Except(before)); // no copy, no point left behind
        }

        private async Task<IReadOnlyList<DiskImage>> Point(IGridConnection c, GridWorkload w, string key, string folder)
        {
            var disks = (await ((IDiskTransport)c).DescribeAsync(w.NativeId, DisasterLab.Ct())).Disks.ToList();
            var sw = Stopwatch.StartNew();
            var images = await ((IRunningDiskExport)c).ExportRunningDisksAsync(w.NativeId, disks, folder, new TestScope(key), DisasterLab.Ct());
            _out.WriteLine($"point {key}: {sw.ElapsedMilliseconds} ms, {images.Sum(i => new FileInfo(i.Path!).Length)} bytes");
            return images;
        }

        [DaemonFact]
        public async Task RunningGuest_TwoPoints_CounterNeverStops_NothingLeft_PointBootsOnB()
        {
            using var a = DisasterLab.ConnectOne(_pair, "rp-a", "kvm-a");
            using var b = DisasterLab.ConnectOne(_pair, "rp-b", "kvm-b");
            Assert.IsAssignableFrom<IRunningDiskExport>(a);
            var w = await DisasterLab.StartCounter(_pair, a, "rp1");
            string serialA = DisasterLab.SerialLog(_pair, "rp1", "a");
            GridWorkload? replica = null;
            try
            {
                string diskA = w.Disks.Single().NativeId!;
                var points = new List<DiskImage>();
                int seen = EmbedLab.Counts(serialA).Count;
                for (int i = 1; i <= 2; i++)
                {
                    var img = Assert.Single(await Point(a, w, "rp1-p" + i, Path.Combine(_dir, "p" + i)));
                    points.Add(img);
                    // the guest kept running through the point: new lines, still 0,1,2,... without a gap or restart
                    var counts = await EmbedLab.WaitForCounts(serialA, x => x.Count > seen, DisasterLab.Wait);
                    DisasterLab.AssertCountsFromZero(counts);
                    seen = counts.Count;
                    Assert.Equal(WorkloadState.Running, (await a.GetWorkloadAsync(w.NativeId, DisasterLab.Ct())).State);
                    Assert.Equal(DiskFormat.Raw, img.Format);
                    Assert.Equal(new FileInfo(diskA).Length, new FileInfo(img.Path!).Length);
                    Assert.Equal(img.ContentHash, DisasterLab.Sha(img.Path!).ToLowerInvariant(), ignoreCase: true);
                    // nothing of the point on the host: no backup target in the pool, no job, only the guest's own disk
                    var (vols, job, blk) = DisasterLab.Leftovers(_pair.UriA, "rp1");
                    Assert.Empty(vols);
                    Assert.Matches("Job type: +None", job);
                    Assert.Equal(new[] { diskA }, blk.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Last()));
                }

                DiskImage paused;
                // Consistency: the guest does not write its disk, so a crash-consistent copy taken while it runs is exactly
                // the copy taken while it is paused (and the disk file itself).
                var host = ((LibvirtConnection)a).Hosts.Single();
                using (var dom = Virt.LookupByUuid(host.Conn, w.NativeId)!)
                {
                    Virt.Suspend(dom); // paused (virDomainSuspend), not saved: the domain is still active
                    try { paused = Assert.Single(await Point(a, w, "rp1-paused", Path.Combine(_dir, "paused"))); }
                    finally { Virt.Resume(dom); }
                }
                Assert.Equal(paused.ContentHash, points[0].ContentHash);
                Assert.Equal(paused.ContentHash, points[1].ContentHash);
                Assert.Equal(DisasterLab.Sha(diskA), DisasterLab.Sha(points[1].Path!));
                var chk = DisasterLab.Run("qemu-img", "compare", "-q", "-f", "raw", "-F", "raw", paused.Path!, points[1].Path!);
                Assert.True(chk.Code == 0, "qemu-img compare: " + chk.Out);
                var resumed = await EmbedLab.WaitForCounts(serialA, x => x.Count > seen, DisasterLab.Wait);
                DisasterLab.AssertCountsFromZero(resumed);

                // The second point, imported into kvm-b's pool, boots a new domain there that counts from 0 (a disk copy).
                replica = await DisasterLab.Replica(_pair, b, points[1], "rp1", "rp1-replica");
                Assert.Equal(WorkloadState.Stopped, replica.State);
                await b.StartAsync(replica.NativeId, new TestScope(), DisasterLab.Ct());
                var onB = await EmbedLab.WaitForCounts(DisasterLab.SerialLog(_pair, "rp1", "b"), x => x.Count >= 3, DisasterLab.Wait);
                DisasterLab.AssertCountsFromZero(onB);
                // and the primary on A never stopped meanwhile
                DisasterLab.AssertCountsFromZero(await EmbedLab.WaitForCounts(serialA, x => x.Count > resumed.Count, DisasterLab.Wait));
            }
            finally
            {
                if (replica != null) await DisasterLab.RemoveQuietly(b, replica.NativeId);
                await DisasterLab.RemoveQuietly(a, w.NativeId);
            }
        }

        /// <summary>A 256 MiB raw image in kvm-a's pool whose first sector is the counting boot sector (so a point takes long enough to be killed in).</summary>
        private void BigImage(string name)
        {
            string path = Path.Combine(_pair.ImagesA, name);
            if (File.Exists(path)) return;
            using (var fs = new FileStream(path, FileMode.CreateNew))
            {
                fs.Write(BootSector.Disk());
                fs.SetLength(256L * 1024 * 1024);
            }
            DisasterLab.Run("virsh", "-q", "-c", _pair.UriA, "pool-refresh", "default");
        }

        [DaemonFact]
        public async Task PointKilledMidExport_RepeatedUnderSameKey_Succeeds_LeavesNothing()
        {
            using var a = DisasterLab.ConnectOne(_pair, "rp-a", "kvm-a");
            BigImage("rpbig.img");
            var w = await DisasterLab.StartCounter(_pair, a, "rp2", "rpbig.img");
            string serialA = DisasterLab.SerialLog(_pair, "rp2", "a");
            string folder = Path.Combine(_dir, "killed");
            const string key = "rp2-point";
            try
            {
                // A child process takes the point and is killed as soon as it has begun: the backup job runs or its
                // target is in the pool, and its staged copy is partial.
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (var x in new[] { typeof(RecoveryPointAgent).Assembly.Location, "rp-point", _pair.UriA, w.NativeId, key, folder }) psi.ArgumentList.Add(x);
                string left = "";
                using (var child = Process.Start(psi)!)
                {
                    var stdout = child.StandardOutput.ReadToEndAsync();
                    var deadline = DateTime.UtcNow.AddSeconds(180);
                    while (DateTime.UtcNow < deadline && !child.HasExited)
                    {
                        string target = Path.Combine(_pair.ImagesA, LibvirtConnection.PointPrefix + key + "-hda.img");
                        bool partial = Directory.Exists(folder) && Directory.GetFiles(folder, "*.partial").Length > 0;
                        if (File.Exists(target) || partial)
                        {
                            child.Kill(true);
                            left = $"target file: {File.Exists(target)}; partial copy: {partial}";
                            break;
                        }
                        await Task.Delay(10);
                    }
                    if (child.HasExited && left.Length == 0) Assert.Fail("the child ended before it could be killed: " + await stdout);
                    child.WaitForExit();
                }
                _out.WriteLine("killed; left behind: " + left);
                var afterKill = DisasterLab.Leftovers(_pair.UriA, "rp2");
                _out.WriteLine($"after the kill: volumes [{string.Join(",", afterKill.PointVolumes)}], {afterKill.Job}");
                Assert.True(afterKill.PointVolumes.Count > 0 || !afterKill.Job.Contains("None"), "the kill left nothing to clean: the test proves nothing");

                // The same key again: it aborts/deletes what the killed call left, and takes the point.
                var disks = (await ((IDiskTransport)a).DescribeAsync(w.NativeId, DisasterLab.Ct())).Disks.ToList();
                var img = Assert.Single(await ((IRunningDiskExport)a).ExportRunningDisksAsync(w.NativeId, disks, folder, new TestScope(key), DisasterLab.Ct()));
                Assert.Equal(256L * 1024 * 1024, new FileInfo(img.Path!).Length);
                Assert.Equal(DisasterLab.Sha(w.Disks.Single().NativeId!), DisasterLab.Sha(img.Path!));
                var (pv, jt, blk) = DisasterLab.Leftovers(_pair.UriA, "rp2");
                Assert.Empty(pv);
                Assert.Matches("Job type: +None", jt);
                Assert.Single(blk);
                Assert.Equal(new[] { img.Path }, Directory.GetFiles(folder)); // the partial copy was replaced by the point
                DisasterLab.AssertCountsFromZero(EmbedLab.Counts(serialA));
                Assert.Equal(WorkloadState.Running, (await a.GetWorkloadAsync(w.NativeId, DisasterLab.Ct())).State);
            }
            finally { await DisasterLab.RemoveQuietly(a, w.NativeId); }
        }

        [DaemonFact]
        public async Task PointCancelledWhileItRuns_AbortsTheJob_LeavesNothing_StoppedDomainIsRefused()
        {
            using var a = DisasterLab.ConnectOne(_pair, "rp-a", "kvm-a");
            BigImage("rpbig.img");
            var w = await DisasterLab.StartCounter(_pair, a, "rp4", "rpbig.img");
            string folder = Path.Combine(_dir, "cancelled");
            try
            {
                var disks = (await ((IDiskTransport)a).DescribeAsync(w.NativeId, DisasterLab.Ct())).Disks.ToList();
                using var cts = new CancellationTokenSource();
                string target = Path.Combine(_pair.ImagesA, LibvirtConnection.PointPrefix + "rp4-point-hda.img");
                var point = ((IRunningDiskExport)a).ExportRunningDisksAsync(w.NativeId, disks, folder, new TestScope("rp4-point"), cts.Token);
                var deadline = DateTime.UtcNow.AddSeconds(120);
                while (!File.Exists(target) && !point.IsCompleted && DateTime.UtcNow < deadline) await Task.Delay(5);
                Assert.True(File.Exists(target), "the backup job never wrote its target: " + (point.IsFaulted ? point.Exception!.InnerException!.Message : "still waiting"));
                cts.Cancel();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => point);
                var (vols, job, blk) = DisasterLab.Leftovers(_pair.UriA, "rp4");
                Assert.Empty(vols);
                Assert.Matches("Job type: +None", job);
                Assert.Single(blk);
                Assert.False(Directory.Exists(folder) && Directory.GetFiles(folder).Length > 0, "a cancelled point left a staged (or partial) copy");
                DisasterLab.AssertCountsFromZero(EmbedLab.Counts(DisasterLab.SerialLog(_pair, "rp4", "a")));

                // a stopped domain has no running disks to copy: refused clearly (its disks are exported as they are)
                await a.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), DisasterLab.Ct());
                var ex = await Assert.ThrowsAsync<GridException>(() => ((IRunningDiskExport)a).ExportRunningDisksAsync(w.NativeId, disks, folder, new TestScope("rp4-stopped"), DisasterLab.Ct()));
                Assert.Equal("WorkloadNotRunning", ex.ErrorId);
                Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            }
            finally { await DisasterLab.RemoveQuietly(a, w.NativeId); }
        }

        [DaemonFact]
        public async Task Disaster_QemuKilled_DaemonAStopped_PointOnBBootsAndCounts_ThenAComesBack()
        {
            var a = DisasterLab.ConnectOne(_pair, "rp-a", "kvm-a");
            using var b = DisasterLab.ConnectOne(_pair, "rp-b", "kvm-b");
            var w = await DisasterLab.StartCounter(_pair, a, "rp3");
            string serialA = DisasterLab.SerialLog(_pair, "rp3", "a");
            GridWorkload? replica = null;
            bool lost = false;
            try
            {
                // the protection side: a point of the running guest shipped to B and kept there as a stopped replica
                var point = Assert.Single(await Point(a, w, "rp3-p1", Path.Combine(_dir, "p")));
                replica = await DisasterLab.Replica(_pair, b, point, "rp3", "rp3-replica");
                int before = EmbedLab.Counts(serialA).Count;

                // the disaster: A's QEMU killed -9, then daemon A stopped
                DisasterLab.LoseHostA(_pair, "rp3");
                lost = true;
                a.Dispose();
                await Task.Delay(1500);
                int after = EmbedLab.Counts(serialA).Count;
                Assert.InRange(after, before, before + 2); // the primary is really gone: its counter stopped
                Assert.NotEqual(0, DisasterLab.Run("virsh", "-q", "-c", _pair.UriA, "list").Code);

                // failover: start the point on B; seconds to the first serial line there
                var sw = Stopwatch.StartNew();
                await b.StartAsync(replica.NativeId, new TestScope(), DisasterLab.Ct());
                string serialB = DisasterLab.SerialLog(_pair, "rp3", "b");
                await EmbedLab.WaitForCounts(serialB, x => x.Count >= 1, DisasterLab.Wait);
                double rto = sw.Elapsed.TotalSeconds;
                _out.WriteLine($"failover start → first serial line on B: {rto:0.00} s");
                Console.WriteLine($"RECOVERY-POINT failover-to-first-serial-line-on-B seconds={rto:0.00}");
                var onB = await EmbedLab.WaitForCounts(serialB, x => x.Count >= 3, DisasterLab.Wait);
                DisasterLab.AssertCountsFromZero(onB);
            }
            finally
            {
                if (lost) DisasterLab.RestoreHostA(_pair);
                if (replica != null) await DisasterLab.RemoveQuietly(b, replica.NativeId);
            }

            // A is back and usable by the other tests: its old domain is there, stopped (its QEMU died), and can be removed.
            using var a2 = DisasterLab.ConnectOne(_pair, "rp-a", "kvm-a");
            var old = await a2.GetWorkloadAsync(w.NativeId, DisasterLab.Ct());
            Assert.Equal(WorkloadState.Stopped, old.State);
            Assert.Contains("kvm-a", (await a2.ListHostsAsync(DisasterLab.Ct())).Select(h => h.Name));
            await DisasterLab.RemoveQuietly(a2, w.NativeId);
            Assert.DoesNotContain(DatacenterMoveTests.Volumes(_pair.UriA), v => v.StartsWith(LibvirtConnection.PointPrefix, StringComparison.Ordinal));
        }
    }

    /// <summary>Child process "rp-point URI NATIVE_ID KEY FOLDER": one recovery point; the test kills it mid-way.</summary>
    internal static class RecoveryPointAgent
    {
        public static int Run(string uri, string nativeId, string key, string folder)
        {
            try
            {
                var dc = new GridDatacenter { Name = "rp-agent", Provider = "Libvirt" };
                dc.Settings["Uri"] = uri;
                using var c = new LibvirtProvider().ConnectAsync(new ProviderConnectRequest { Datacenter = dc }, CancellationToken.None).GetAwaiter().GetResult();
                var disks = ((IDiskTransport)c).DescribeAsync(nativeId, CancellationToken.None).GetAwaiter().GetResult().Disks.ToList();
                Console.WriteLine("STARTED");
                ((IRunningDiskExport)c).ExportRunningDisksAsync(nativeId, disks, folder, new TestScope(key), CancellationToken.None).GetAwaiter().GetResult();
                Console.WriteLine("OK");
                return 0;
            }
            catch (GridException ex) { Console.WriteLine($"ERR {ex.Kind} {ex.ErrorId} {ex.Message}"); return 1; }
        }
    }
}
