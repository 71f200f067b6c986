using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Libvirt;
using Xunit;
using Xunit.Abstractions;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// Issue 17's libvirt bug: a create from an imported volume ran the guest ON that volume, so a recovery point
    /// consumed by a test failover was deleted by Stop-GridFailover -Test (the copy removed with its storage) while the
    /// point stayed recorded. Now a create from an imported disk gets a volume of its own, unless the create says the
    /// import was made for it (a move's create: <see cref="ImportedDiskOptions.TakeOver"/>). On the real daemon kvm-b.
    /// </summary>
    [Collection(DaemonCollection.Name)]
    public sealed class ImportedPointCopyTests : IDisposable
    {
        private readonly DaemonPair _pair;
        private readonly ITestOutputHelper _out;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-rpcopy-" + Guid.NewGuid().ToString("N").Substring(0, 8));

        public ImportedPointCopyTests(DaemonPair pair, ITestOutputHelper output) { _pair = pair; _out = output; Directory.CreateDirectory(_dir); }

        public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

        private async Task<GridWorkload> CreateFrom(IGridConnection b, string reference, string name, string key, bool takeOver)
        {
            var req = new CreateWorkloadRequest { Name = name, Size = "micro", PowerOn = true, AllowDuplicateName = true, IdempotencyKey = key };
            req.Options[ImportedDiskOptions.Reference] = reference;
            if (takeOver) req.Options[ImportedDiskOptions.TakeOver] = "true";
            req.Options["DiskBus"] = "ide";
            req.Options["SerialLog"] = Path.Combine(_pair.SerialDir, key + ".log");
            return await b.CreateWorkloadAsync(req, new TestScope(key), DisasterLab.Ct());
        }

        private static string Sha(string path)
        {
            using var fs = File.OpenRead(path);
            return Convert.ToHexString(SHA256.HashData(fs));
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
            string pointSha = Sha(pointPath);

            // a test failover: the copy runs on a volume of its own in the same pool, with the point's content
            var test = await CreateFrom(b, reference, "rpc" + k, "t1" + k, takeOver: false);
            string testDisk = test.Disks.Single().NativeId!;
            Assert.NotEqual(pointPath, testDisk);
            Assert.StartsWith(_pair.ImagesB + "/", testDisk);
            Assert.Equal(pointSha, Sha(testDisk));
            DisasterLab.AssertCountsFromZero(await EmbedLab.WaitForCounts(Path.Combine(_pair.SerialDir, "t1" + k + ".log"), x => x.Count >= 3, DisasterLab.Wait));

            // Stop-GridFailover -Test: the copy goes with its storage; the point's volume stays, unchanged
            await b.StopAsync(test.NativeId, StopMode.TurnOff, new TestScope(), DisasterLab.Ct());
            await b.RemoveAsync(test.NativeId, removeStorage: true, new TestScope(), DisasterLab.Ct());
            Assert.False(File.Exists(testDisk), "the test copy's volume is still there");
            Assert.True(File.Exists(pointPath), "removing the test copy deleted the recovery point's volume");
            Assert.Equal(pointSha, Sha(pointPath));

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
    }
}
