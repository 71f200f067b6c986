using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using Amazon.EC2.Model;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>
    /// Recovery points of a RUNNING instance (issue 17) against the stateful loopback EC2 and our EBS direct stand-in
    /// (<see cref="FakeEbsDirect"/>): CreateSnapshot of the volume while the instance runs, then ListSnapshotBlocks
    /// (paged) + GetSnapshotBlock (SHA-256 checked, SigV4 for "ebs" verified by the stand-in) into a raw file of the
    /// volume's size, then DeleteSnapshot. The copy is the volume AT SNAPSHOT TIME (a guest write afterwards is not in
    /// it); the instance is never stopped; no snapshot is left after success or an error; an interrupted read resumes
    /// with the same snapshot.
    /// </summary>
    public sealed class AwsRunningExportTests : IDisposable
    {
        private const long Mib = 1024 * 1024;
        private const long Gib = 1024 * Mib;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-aws-point-" + Guid.NewGuid().ToString("N"));
        private readonly FakeEc2 _ec2 = new FakeEc2();
        private readonly FakeEbsDirect _ebs;
        private readonly List<string> _verbose = new List<string>();

        public AwsRunningExportTests()
        {
            Directory.CreateDirectory(_dir);
            _ebs = new FakeEbsDirect(_ec2, TestEnvironment.AccessKey, TestEnvironment.SecretKey);
        }

        public void Dispose()
        {
            _ebs.Dispose();
            _ec2.Dispose();
            try { Directory.Delete(_dir, true); } catch { }
        }

        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

        private Task<AwsConnection> ConnectAsync(GridAutomation.Core.State.IRetryPolicy? retry = null)
            => TestEnvironment.ConnectAsync(_ec2.Url, settings: new Dictionary<string, string> { ["EbsEndpoint"] = _ebs.Url }, retry: retry, verbose: _verbose);

        /// <summary>A running instance whose 1 GiB root volume holds 3 MiB of random bytes with one empty 512 KiB block (index 2).</summary>
        private (string Id, FakeEc2.Vol Root) RunningInstance()
        {
            _ec2.Seed(1, "running");
            var inst = _ec2.Instances.Values.Single();
            var root = inst.Volumes[0];
            var data = new byte[3 * Mib];
            new Random(11).NextBytes(data);
            Array.Clear(data, (int)(2 * FakeEbsDirect.BlockSize), FakeEbsDirect.BlockSize);
            root.Data = data;
            root.Size = 1;
            return (inst.Id, root);
        }

        /// <summary>Records the volume's bytes at the snapshot instant, then writes to the volume as a guest would right after.</summary>
        private Func<byte[]?> GuestWritesAfterTheSnapshot()
        {
            byte[]? atSnapshot = null;
            _ec2.AfterSnapshot = (vol, snap) =>
            {
                atSnapshot ??= (byte[])vol.Data!.Clone();
                vol.Data![10] ^= 0xff;
                vol.Data[(int)(2 * FakeEbsDirect.BlockSize) + 5] = 7; // and into the empty block
            };
            return () => atSnapshot;
        }

        /// <summary>Asserts the staged file is <paramref name="expected"/> followed by zeros up to 1 GiB, and returns its SHA-256 (hex).</summary>
        private static string AssertVolumeImage(string path, byte[] expected)
        {
            Assert.Equal(Gib, new FileInfo(path).Length);
            using var f = File.OpenRead(path);
            using var sha = SHA256.Create();
            var buf = new byte[4 * Mib];
            long at = 0;
            int n;
            while ((n = f.Read(buf, 0, buf.Length)) > 0)
            {
                int head = (int)Math.Clamp(expected.LongLength - at, 0, n);
                if (head > 0 && !buf.AsSpan(0, head).SequenceEqual(expected.AsSpan((int)at, head)))
                    Assert.Fail($"the staged image differs from the volume at snapshot time within bytes {at}..{at + head}");
                int nonZero = buf.AsSpan(head, n - head).IndexOfAnyExcept((byte)0);
                if (nonZero >= 0) Assert.Fail($"byte {at + head + nonZero} of the staged image is not zero, but the volume held nothing there");
                sha.TransformBlock(buf, 0, n, null, 0);
                at += n;
            }
            sha.TransformFinalBlock(Array.Empty<byte>(), 0, 0);
            return Convert.ToHexString(sha.Hash!).ToLowerInvariant();
        }

        private async Task<List<Snapshot>> SnapshotsThroughEc2Async(AwsConnection c)
            => (await c.Client.DescribeSnapshotsAsync(new DescribeSnapshotsRequest { OwnerIds = new List<string> { "self" } })).Snapshots ?? new List<Snapshot>();

        [Fact]
        public async Task A_running_instance_is_copied_as_it_was_at_the_snapshot_and_keeps_running_and_the_snapshot_is_deleted()
        {
            using var c = await ConnectAsync();
            var (id, root) = RunningInstance();
            var atSnapshot = GuestWritesAfterTheSnapshot();
            string? stateDuringRead = null;
            c.AfterSnapshotBlock = i => { if (i == 0) stateDuringRead = _ec2.Instances[id].State; };
            var disks = (await c.DescribeAsync(id, Ct())).Disks.ToList();

            var images = await c.ExportRunningDisksAsync(id, disks, Path.Combine(_dir, "point"), new TestScope("point-1"), Ct());

            var img = Assert.Single(images);
            Assert.Equal(DiskFormat.Raw, img.Format);
            Assert.Equal(Gib, img.CapacityBytes);
            Assert.NotNull(atSnapshot());
            Assert.NotEqual(FakeEc2.Sha256(atSnapshot()!), FakeEc2.Sha256(root.Data!)); // the guest did write after the point
            Assert.Equal(AssertVolumeImage(img.Path!, atSnapshot()!), img.ContentHash);   // ... and the point does not hold it
            Assert.Equal("running", stateDuringRead);
            Assert.Equal("running", _ec2.Instances[id].State);
            Assert.Empty(_ec2.Server.RequestsFor("StopInstances"));
            var create = Assert.Single(_ec2.Server.RequestsFor("CreateSnapshot"));
            Assert.Equal(root.Id, create.Get("VolumeId"));

            // five blocks hold data, the empty one is never fetched; every call signed for "ebs" (the stand-in checks it)
            Assert.Equal(5, _ebs.Count("GetSnapshotBlock"));
            Assert.Equal(1, _ebs.Count("ListSnapshotBlocks"));
            Assert.All(_ebs.Requests, r => Assert.Equal(200, r.Status));

            // gone afterwards, as DescribeSnapshots says; no block token in verbose output; no partial file
            Assert.Empty(await SnapshotsThroughEc2Async(c));
            string snapshotId = Assert.Single(_ec2.Server.RequestsFor("DeleteSnapshot")).Get("SnapshotId")!;
            string all = string.Join("\n", _verbose);
            Assert.Contains(snapshotId, all);
            Assert.DoesNotContain("blockToken", all);
            Assert.DoesNotContain(FakeEbsDirect.BlockToken(snapshotId, 0), all);
            Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "point"), "*.partial"));
        }

        [Fact]
        public async Task More_blocks_than_a_page_are_read_across_pages_and_throttling_is_retried_by_the_retry_policy()
        {
            var retry = new CountingRetry { MaxRetries = 3 };
            using var c = await ConnectAsync(retry);
            c.EbsPageSize = 100;
            var (id, root) = RunningInstance();
            byte[] expected = (byte[])root.Data!.Clone();
            _ebs.MaxBlocksPerPage = 2;   // the API may answer fewer blocks than maxResults: 5 blocks in 3 pages
            _ebs.ThrottleNext = 2;       // and the first two calls are throttled (429, Retry-After: 0)
            var disks = (await c.DescribeAsync(id, Ct())).Disks.ToList();

            var img = Assert.Single(await c.ExportRunningDisksAsync(id, disks, Path.Combine(_dir, "paged"), new TestScope("point-paged"), Ct()));

            Assert.Equal(AssertVolumeImage(img.Path!, expected), img.ContentHash);
            Assert.Equal(3, _ebs.Requests.Count(r => r.Status == 200 && r.Path.EndsWith("/blocks", StringComparison.Ordinal)));
            Assert.Equal(2, _ebs.Requests.Count(r => r.Status == 200 && r.Path.EndsWith("/blocks", StringComparison.Ordinal) && r.Query.Contains("pageToken=")));
            Assert.All(_ebs.Requests.Where(r => r.Path.EndsWith("/blocks", StringComparison.Ordinal)), r => Assert.Contains("maxResults=100", r.Query));
            Assert.Equal(2, _ebs.Requests.Count(r => r.Status == 429));
            Assert.True(retry.Retries >= 2, "the throttled calls were retried by the engine's policy: " + retry.Retries);
            Assert.Empty(await SnapshotsThroughEc2Async(c));
        }

        [Fact]
        public async Task A_block_whose_checksum_does_not_match_is_an_error_with_a_stable_id_and_leaves_no_snapshot()
        {
            var retry = new CountingRetry { MaxRetries = 2 };
            using var c = await ConnectAsync(retry);
            var (id, _) = RunningInstance();
            _ebs.Corrupt = (snap, index) => index == 3;
            var disks = (await c.DescribeAsync(id, Ct())).Disks.ToList();

            var ex = await Assert.ThrowsAsync<GridException>(() => c.ExportRunningDisksAsync(id, disks, Path.Combine(_dir, "bad"), new TestScope("point-bad"), Ct()));

            Assert.Equal("AwsSnapshotChecksumMismatch", ex.ErrorId);
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Contains("Block 3", ex.Message);
            Assert.Equal(2, retry.Retries);                  // re-read as AWS advises, then given up
            Assert.Equal(3, _ebs.Requests.Count(r => r.Path.EndsWith("/blocks/3", StringComparison.Ordinal)));
            Assert.Empty(await SnapshotsThroughEc2Async(c)); // deleted although the point failed
            Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "bad")));
            Assert.Equal("running", _ec2.Instances[id].State);
        }

        [Fact]
        public async Task Interrupted_mid_read_then_resumed_uses_one_snapshot_and_a_rollback_or_the_next_point_deletes_a_left_one()
        {
            using var c = await ConnectAsync();
            var (id, _) = RunningInstance();
            var atSnapshot = GuestWritesAfterTheSnapshot();
            var disks = (await c.DescribeAsync(id, Ct())).Disks.ToList();

            // 1. cancelled after the second block: the snapshot stays for the resume, its id checkpointed
            var scope = new TestScope("point-resume");
            using (var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
            {
                c.AfterSnapshotBlock = i => { if (i == 1) cts.Cancel(); };
                var ex = await Assert.ThrowsAsync<GridException>(() => c.ExportRunningDisksAsync(id, disks, Path.Combine(_dir, "r"), scope, cts.Token));
                Assert.Equal(GridErrorKind.Cancelled, ex.Kind);
            }
            c.AfterSnapshotBlock = null;
            var left = Assert.Single(await SnapshotsThroughEc2Async(c));
            Assert.Equal(left.SnapshotId, scope.Checkpoints[AwsConnection.PointSnapshotCheckpoint + "disk0"]);
            Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "r"), "*.partial"));

            // 2. resumed under the same key: the same snapshot is found by its name tag, read whole, then deleted
            scope.IsResume = true;
            var img = Assert.Single(await c.ExportRunningDisksAsync(id, disks, Path.Combine(_dir, "r"), scope, Ct()));
            Assert.Single(_ec2.Server.RequestsFor("CreateSnapshot"));
            Assert.Equal(AssertVolumeImage(img.Path!, atSnapshot()!), img.ContentHash);
            Assert.Empty(await SnapshotsThroughEc2Async(c));

            // 3. interrupted again under another key and rolled back (IDiskExportCleanup): the snapshot goes
            var rolled = new TestScope("point-rolled-back");
            using (var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
            {
                c.AfterSnapshotBlock = i => cts.Cancel();
                await Assert.ThrowsAsync<GridException>(() => c.ExportRunningDisksAsync(id, disks, Path.Combine(_dir, "rb"), rolled, cts.Token));
            }
            c.AfterSnapshotBlock = null;
            Assert.Single(await SnapshotsThroughEc2Async(c));
            await c.DiscardExportsAsync(rolled, Ct());
            Assert.Empty(await SnapshotsThroughEc2Async(c));
            await c.DiscardExportsAsync(rolled, Ct()); // twice is harmless

            // 4. a killed run's snapshot (another key, never rolled back) is deleted by the instance's next point
            var killed = new TestScope("point-killed");
            using (var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
            {
                c.AfterSnapshotBlock = i => cts.Cancel();
                await Assert.ThrowsAsync<GridException>(() => c.ExportRunningDisksAsync(id, disks, Path.Combine(_dir, "k"), killed, cts.Token));
            }
            c.AfterSnapshotBlock = null;
            string killedSnapshot = Assert.Single(await SnapshotsThroughEc2Async(c)).SnapshotId;
            await c.ExportRunningDisksAsync(id, disks, Path.Combine(_dir, "next"), new TestScope("point-next"), Ct());
            Assert.Empty(await SnapshotsThroughEc2Async(c));
            Assert.Contains(_ec2.Server.RequestsFor("DeleteSnapshot"), r => r.Get("SnapshotId") == killedSnapshot);
            Assert.Equal(4, _ec2.Server.RequestsFor("CreateSnapshot").Count());
        }

        [Fact]
        public async Task A_stopped_instance_is_refused_without_a_snapshot()
        {
            using var c = await ConnectAsync();
            _ec2.Seed(1, "stopped");
            string id = _ec2.Instances.Keys.Single();
            var disks = (await c.DescribeAsync(id, Ct())).Disks.ToList();
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ExportRunningDisksAsync(id, disks, _dir, new TestScope("point-stopped"), Ct()));
            Assert.Equal("WorkloadNotRunning", ex.ErrorId);
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Empty(_ec2.Server.RequestsFor("CreateSnapshot"));
        }
    }
}
