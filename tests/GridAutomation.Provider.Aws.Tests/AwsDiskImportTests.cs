using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>
    /// Imports into AWS against s3rver (the real S3 protocol, signatures checked) and the stateful loopback EC2,
    /// whose ImportSnapshot reads the uploaded object back out of s3rver: what the snapshot holds is what S3 stored.
    /// </summary>
    public sealed class AwsDiskImportTests : IDisposable
    {
        private const long Mib = 1024 * 1024;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-aws-import-" + Guid.NewGuid().ToString("N"));
        private readonly S3rver _s3 = new S3rver();
        private readonly FakeEc2 _ec2 = new FakeEc2();

        public AwsDiskImportTests()
        {
            Directory.CreateDirectory(_dir);
            _ec2.S3 = _s3.Client;
        }

        public void Dispose()
        {
            _ec2.Dispose();
            _s3.Dispose();
            try { Directory.Delete(_dir, true); } catch { }
        }

        private Task<AwsConnection> ConnectAsync(string? moveDefaults = null)
        {
            var settings = new Dictionary<string, string> { ["S3Endpoint"] = _s3.Url };
            if (moveDefaults != null) settings["MoveDefaults"] = moveDefaults;
            return TestEnvironment.ConnectAsync(_ec2.Url, settings: settings, credential: new NetworkCredential(S3rver.AccessKey, S3rver.SecretKey));
        }

        /// <summary>A raw image of known, non-repeating content (every 4 KiB block different; some empty blocks).</summary>
        private DiskImage RawImage(long bytes, string name = "disk0", string? firmware = "bios")
        {
            string path = Path.Combine(_dir, name + ".raw");
            var rnd = new Random(42);
            var buf = new byte[4096];
            using (var fs = File.Create(path))
                for (long at = 0; at < bytes; at += buf.Length)
                {
                    if ((at / buf.Length) % 7 == 3) Array.Clear(buf); else rnd.NextBytes(buf);
                    fs.Write(buf, 0, (int)Math.Min(buf.Length, bytes - at));
                }
            return new DiskImage { Name = name, Format = DiskFormat.Raw, CapacityBytes = bytes, Path = path, Firmware = firmware, Options = new Dictionary<string, string> { ["ImportBucket"] = _s3.Bucket } };
        }

        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

        [Fact]
        public async Task RawImageImports_SnapshotHoldsTheUploadedBytes_AmiAndInstanceExist_ObjectRemoved()
        {
            using var c = await ConnectAsync();
            c.PartSize = 5 * Mib; // 12 MiB → a multipart upload of three parts
            var image = RawImage(12 * Mib);
            var scope = new TestScope("move-import-1");
            string ami = await c.ImportDiskAsync(image, scope.IdempotencyKey, scope, Ct());

            var snap = Assert.Single(_ec2.Snapshots.Values);
            Assert.Equal(new FileInfo(image.Path!).Length, snap.Data.LongLength);
            Assert.Equal(FakeEc2.Sha256(File.ReadAllBytes(image.Path!)), FakeEc2.Sha256(snap.Data)); // no aws-chunked framing in the object
            var task = Assert.Single(_ec2.ImportTasks.Values);
            Assert.Equal("RAW", task.Format);
            Assert.Equal(_s3.Bucket, task.Bucket);
            var reg = _ec2.Amis[ami];
            Assert.Equal(snap.Id, reg.SnapshotId);
            Assert.Equal("legacy-bios", reg.BootMode);
            Assert.Equal("/dev/xvda", reg.RootDevice);
            Assert.True(reg.Ena);
            Assert.Equal(reg.Name, snap.Tags[AwsConnection.ImportTag]);
            Assert.Empty(await _s3.KeysAsync()); // the object is deleted once the snapshot holds the bytes

            var w = await c.CreateWorkloadAsync(new CreateWorkloadRequest
            {
                Name = "moved", Size = "t3.micro", PowerOn = false, IdempotencyKey = "move:create-1",
                Options = new Dictionary<string, string> { ["ImportedDisk"] = ami, ["SubnetId"] = "subnet-0abc", ["SecurityGroupIds"] = "sg-0abc", ["ImportBucket"] = _s3.Bucket },
            }, scope, Ct());
            Assert.Equal(ami, _ec2.Instances[w.NativeId!].ImageId);
            var run = _ec2.Server.RequestsFor("RunInstances").Last();
            Assert.Equal("subnet-0abc", run.Get("SubnetId"));
            Assert.Equal("sg-0abc", run.Get("SecurityGroupId.1"));
        }

        [Fact]
        public async Task UefiSourceRegistersUefiBootMode_BucketFromMoveDefaults_SinglePut()
        {
            using var c = await ConnectAsync("ImportBucket=" + _s3.Bucket);
            var image = RawImage(3 * Mib, firmware: "uefi");
            image.Options = null;
            var scope = new TestScope("move-import-uefi");
            string ami = await c.ImportDiskAsync(image, scope.IdempotencyKey, scope, Ct());
            Assert.Equal("uefi", _ec2.Amis[ami].BootMode);
            Assert.Equal(FakeEc2.Sha256(File.ReadAllBytes(image.Path!)), FakeEc2.Sha256(_ec2.Snapshots[_ec2.Amis[ami].SnapshotId].Data));
        }

        [Fact]
        public async Task NoBucket_IsDestinationOptionMissing()
        {
            using var c = await ConnectAsync();
            var image = RawImage(1 * Mib);
            image.Options = null;
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ImportDiskAsync(image, "k", new TestScope("k"), Ct()));
            Assert.Equal("DestinationOptionMissing", ex.ErrorId);
            Assert.Contains("ImportBucket", ex.Message);
            Assert.Contains("ImportBucket", c.RequiredOptions);
            Assert.Contains("SubnetId", c.RequiredOptions);
        }

        [Fact]
        public async Task MissingVmImportRole_FailsWithTheLinkToAwsInstructions_AndRollbackLeavesNothing()
        {
            using var c = await ConnectAsync();
            _ec2.VmImportRole = false;
            var image = RawImage(2 * Mib);
            var scope = new TestScope("move-norole");
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ImportDiskAsync(image, scope.IdempotencyKey, scope, Ct()));
            Assert.Equal("AwsVmImportRoleMissing", ex.ErrorId);
            Assert.Contains(AwsConnection.VmImportRoleHelp, ex.Message);
            await c.DiscardImportsAsync(scope, Ct());
            await AssertNothingLeftAsync();
        }

        // ---- interrupted at each step: resumed, or rolled back leaving nothing

        [Fact]
        public async Task InterruptedUpload_RolledBack_LeavesNoObjectNoSnapshotNoAmi()
        {
            using var c = await ConnectAsync();
            c.PartSize = 5 * Mib;
            var image = RawImage(12 * Mib);
            var scope = new TestScope("move-int-upload");
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            c.AfterPartUpload = n => { if (n == 2) cts.Cancel(); };
            await Assert.ThrowsAnyAsync<Exception>(() => c.ImportDiskAsync(image, scope.IdempotencyKey, scope, cts.Token));
            Assert.Empty(_ec2.ImportTasks);
            c.AfterPartUpload = null;
            await c.DiscardImportsAsync(scope, Ct());
            await AssertNothingLeftAsync();
        }

        [Fact]
        public async Task InterruptedUpload_Resumed_Finishes()
        {
            using var c = await ConnectAsync();
            c.PartSize = 5 * Mib;
            var image = RawImage(12 * Mib);
            var scope = new TestScope("move-int-upload-resume");
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            c.AfterPartUpload = n => { if (n == 2) cts.Cancel(); };
            await Assert.ThrowsAnyAsync<Exception>(() => c.ImportDiskAsync(image, scope.IdempotencyKey, scope, cts.Token));
            c.AfterPartUpload = null;
            scope.IsResume = true;
            string ami = await c.ImportDiskAsync(image, scope.IdempotencyKey, scope, Ct());
            Assert.Equal(FakeEc2.Sha256(File.ReadAllBytes(image.Path!)), FakeEc2.Sha256(_ec2.Snapshots[_ec2.Amis[ami].SnapshotId].Data));
            Assert.Empty(await _s3.KeysAsync());
        }

        [Fact]
        public async Task InterruptedImportTask_Resumed_UsesTheSameTask_ThenRolledBackLeavesNothing()
        {
            using var c = await ConnectAsync();
            _ec2.ImportTime = TimeSpan.FromMinutes(5);
            var image = RawImage(2 * Mib);
            var scope = new CancellingScope("move-int-task", AwsConnection.TaskCheckpoint);
            await Assert.ThrowsAnyAsync<Exception>(() => c.ImportDiskAsync(image, scope.IdempotencyKey, scope, scope.Token));
            Assert.Single(_ec2.ImportTasks);
            Assert.Single(await _s3.KeysAsync()); // uploaded, the task still reading it
            _ec2.ImportTime = TimeSpan.Zero;
            string ami = await c.ImportDiskAsync(image, scope.IdempotencyKey, scope, Ct());
            Assert.Single(_ec2.ImportTasks);      // the resumed import polled the task it had started
            Assert.Single(_ec2.Snapshots);
            Assert.True(_ec2.Amis.ContainsKey(ami));
            await c.DiscardImportsAsync(scope, Ct());
            await AssertNothingLeftAsync();
        }

        [Fact]
        public async Task InterruptedImportTask_RolledBack_CancelsTheTaskAndLeavesNothing()
        {
            using var c = await ConnectAsync();
            _ec2.ImportTime = TimeSpan.FromMinutes(5);
            var image = RawImage(2 * Mib);
            var scope = new CancellingScope("move-int-task-rb", AwsConnection.TaskCheckpoint);
            await Assert.ThrowsAnyAsync<Exception>(() => c.ImportDiskAsync(image, scope.IdempotencyKey, scope, scope.Token));
            Assert.Equal("active", Assert.Single(_ec2.ImportTasks.Values).Status);
            await c.DiscardImportsAsync(scope, Ct());
            Assert.Equal("deleted", Assert.Single(_ec2.ImportTasks.Values).Status);
            await AssertNothingLeftAsync();
        }

        [Fact]
        public async Task InterruptedAtCreate_RolledBack_DeregistersAmiDeletesSnapshot()
        {
            using var c = await ConnectAsync();
            var image = RawImage(2 * Mib);
            var scope = new TestScope("move-int-create");
            string ami = await c.ImportDiskAsync(image, scope.IdempotencyKey, scope, Ct());
            // the move was interrupted before its create launched anything: roll-back
            await c.DiscardImportsAsync(scope, Ct());
            Assert.False(_ec2.Amis.ContainsKey(ami));
            await AssertNothingLeftAsync();
            await c.DiscardImportsAsync(scope, Ct()); // twice is harmless
        }

        [Fact]
        public async Task TaskWhoseIdWasNeverCheckpointed_IsFoundByItsObject_OnRollback()
        {
            using var c = await ConnectAsync();
            _ec2.ImportTime = TimeSpan.FromMinutes(5);
            var image = RawImage(2 * Mib);
            var full = new CancellingScope("move-lost-task", AwsConnection.TaskCheckpoint);
            await Assert.ThrowsAnyAsync<Exception>(() => c.ImportDiskAsync(image, full.IdempotencyKey, full, full.Token));
            // the same interruption, but the answer to ImportSnapshot never reached the journal
            var lost = new TestScope("move-lost-task");
            foreach (var kv in full.Checkpoints.Where(k => !k.Key.StartsWith(AwsConnection.TaskCheckpoint, StringComparison.Ordinal))) lost.Checkpoint(kv.Key, kv.Value);
            await c.DiscardImportsAsync(lost, Ct());
            Assert.Equal("deleted", Assert.Single(_ec2.ImportTasks.Values).Status);
            await AssertNothingLeftAsync();
        }

        /// <summary>A scope that cancels the operation the moment a checkpoint with the given prefix is written (a crash right after it).</summary>
        internal sealed class CancellingScope : IOperationScope
        {
            private readonly TestScope _inner;
            private readonly string _prefix;
            private readonly CancellationTokenSource _cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            public CancellingScope(string key, string prefix) { _inner = new TestScope(key); _prefix = prefix; }
            public CancellationToken Token => _cts.Token;
            public Guid OperationId => _inner.OperationId;
            public string IdempotencyKey => _inner.IdempotencyKey;
            public bool IsResume => _inner.IsResume;
            public IReadOnlyDictionary<string, string> Checkpoints => _inner.Checkpoints;
            public void Checkpoint(string key, string value) { _inner.Checkpoint(key, value); if (key.StartsWith(_prefix, StringComparison.Ordinal)) _cts.Cancel(); }
            public void Report(GridProgress progress) => _inner.Report(progress);
        }

        private async Task AssertNothingLeftAsync()
        {
            Assert.Empty(await _s3.KeysAsync());
            Assert.Empty(_ec2.Snapshots);
            Assert.Empty(_ec2.Amis);
        }
    }
}
