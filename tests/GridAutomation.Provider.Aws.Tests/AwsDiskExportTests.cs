using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>
    /// AWS as a move source, against s3rver and the stateful loopback EC2: an instance launched from an AMI our
    /// import made is exported (CreateImage of the stopped instance, ExportImage RAW into s3rver, polled, downloaded,
    /// cleaned up); the bytes that come back are the volume's, read out of s3rver. Interrupted in the export task and
    /// in the download: a resume finishes with ONE export task, a roll-back leaves no object (listed through s3rver).
    /// </summary>
    public sealed class AwsDiskExportTests : IDisposable
    {
        private const long Mib = 1024 * 1024;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-aws-export-" + Guid.NewGuid().ToString("N"));
        private readonly S3rver _s3 = new S3rver();
        private readonly FakeEc2 _ec2 = new FakeEc2();

        public AwsDiskExportTests()
        {
            Directory.CreateDirectory(Path.Combine(_dir, "out"));
            _ec2.S3 = _s3.Client;
        }

        public void Dispose()
        {
            _ec2.Dispose();
            _s3.Dispose();
            try { Directory.Delete(_dir, true); } catch { }
        }

        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

        private Task<AwsConnection> ConnectAsync()
            => TestEnvironment.ConnectAsync(_ec2.Url, settings: new Dictionary<string, string> { ["S3Endpoint"] = _s3.Url, ["MoveDefaults"] = "ExportBucket=" + _s3.Bucket },
                credential: new NetworkCredential(S3rver.AccessKey, S3rver.SecretKey));

        /// <summary>Imports a raw image of known content through the product's import and launches a stopped instance from it; returns the instance and the imported bytes.</summary>
        private async Task<(string Instance, byte[] Imported)> ImportedInstanceAsync(AwsConnection c, long bytes)
        {
            string path = Path.Combine(_dir, "src.raw");
            var data = new byte[bytes];
            new Random(7).NextBytes(data);
            Array.Clear(data, 4096, 8192); // some empty blocks
            File.WriteAllBytes(path, data);
            var scope = new TestScope("import-" + Guid.NewGuid().ToString("N"));
            var image = new DiskImage { Name = "disk0", Format = DiskFormat.Raw, CapacityBytes = bytes, Path = path, Firmware = "bios", Options = new Dictionary<string, string> { ["ImportBucket"] = _s3.Bucket } };
            string ami = await c.ImportDiskAsync(image, scope.IdempotencyKey, scope, Ct());
            var w = await c.CreateWorkloadAsync(new CreateWorkloadRequest
            {
                Name = "imported", Size = "t3.micro", PowerOn = false, IdempotencyKey = "move:" + scope.IdempotencyKey,
                Options = new Dictionary<string, string> { ["ImportedDisk"] = ami, ["SubnetId"] = "subnet-0abc", ["SecurityGroupIds"] = "sg-0abc" },
            }, scope, Ct());
            return (w.NativeId!, data);
        }

        private static string Sha(string path) { using var f = File.OpenRead(path); using var sha = System.Security.Cryptography.SHA256.Create(); return Convert.ToHexString(sha.ComputeHash(f)).ToLowerInvariant(); }

        private async Task AssertExportLeftNothingAsync()
        {
            Assert.Empty(await _s3.KeysAsync());
            Assert.DoesNotContain(_ec2.Amis.Values, a => a.Tags.ContainsKey(AwsConnection.ExportTag));
            Assert.Single(_ec2.Amis.Values); // the imported AMI the instance runs from
            Assert.Single(_ec2.Snapshots.Values);
        }

        [Fact]
        public async Task ImportedInstance_Exports_TheDownloadIsTheVolumesBytes_GuestWritesIncluded_NothingLeft()
        {
            using var c = await ConnectAsync();
            var (id, imported) = await ImportedInstanceAsync(c, 3 * Mib);
            var root = _ec2.Instances[id].Volumes[0];
            Assert.Equal(FakeEc2.Sha256(imported), FakeEc2.Sha256(root.Data!)); // the instance holds what was imported
            root.Data![100] ^= 0xff; // the guest wrote since: the export must carry the volume, not the imported AMI

            var info = await c.DescribeAsync(id, Ct());
            Assert.Null(info.ExportRefusal);
            Assert.Equal(DiskFormat.Raw, Assert.Single(info.Disks).Format);
            var scope = new TestScope("export-1");
            var img = await c.ExportDiskAsync(id, info.Disks[0], Path.Combine(_dir, "out"), scope, Ct());

            Assert.Equal(DiskFormat.Raw, img.Format);
            Assert.Equal(root.Data.LongLength, new FileInfo(img.Path!).Length);
            Assert.Equal(FakeEc2.Sha256(root.Data), Sha(img.Path!).ToUpperInvariant());
            Assert.Equal(Sha(img.Path!), img.ContentHash);
            var task = Assert.Single(_ec2.ExportTasks.Values);
            Assert.Equal("completed", task.Status);
            Assert.Equal(_s3.Bucket, task.Bucket);
            Assert.Equal("RAW", _ec2.Server.RequestsFor("ExportImage").Single().Get("DiskImageFormat"));
            Assert.Equal("true", _ec2.Server.RequestsFor("CreateImage").Single().Get("NoReboot"));
            await AssertExportLeftNothingAsync();

            // and unchanged, the download compares equal to what was imported
            root.Data[100] ^= 0xff;
            var again = await c.ExportDiskAsync(id, info.Disks[0], Path.Combine(_dir, "out"), new TestScope("export-2"), Ct());
            Assert.Equal(FakeEc2.Sha256(imported), Sha(again.Path!).ToUpperInvariant());
            await AssertExportLeftNothingAsync();
        }

        [Fact]
        public async Task Plan_ImportedInstance_IsDiskImportFromRaw_OtherInstanceIsExportNotAllowed()
        {
            using var c = await ConnectAsync();
            var (id, _) = await ImportedInstanceAsync(c, 1 * Mib);
            _ec2.Seed(1, "stopped");
            string other = _ec2.Instances.Keys.Single(k => k != id);
            var dst = new GridDatacenter { Name = "kvm", Provider = "Libvirt" };
            GridMoveReport Plan(GridWorkload w, MoveSourceInfo info) => MovePlanner.Plan(new MovePlanInput
            {
                Workload = w, Source = c.Datacenter, Destination = dst, SourceTransport = c, DestinationTransport = new Qcow2Destination(), SourceInfo = info,
                SourceCanTransfer = true, DestinationCanTransfer = true, ConverterPath = "/usr/bin/qemu-img", TempFolder = "/tmp",
            });
            var ok = Plan(await c.GetWorkloadAsync(id, Ct()), await c.DescribeAsync(id, Ct()));
            Assert.True(ok.CanMove, string.Join("; ", ok.Incompatibilities.Select(i => i.Code + ": " + i.Message)));
            Assert.Equal(MoveMethod.DiskImport, ok.Method);
            Assert.Equal(new[] { DiskFormat.Raw, DiskFormat.Qcow2 }, ok.Disks[0].Path);

            var refused = Plan(await c.GetWorkloadAsync(other, Ct()), await c.DescribeAsync(other, Ct()));
            var why = Assert.Single(refused.Incompatibilities, i => i.Code == "ExportNotAllowed");
            Assert.Contains("only instances that were imported", why.Message);
            Assert.False(refused.CanMove);
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ExportDiskAsync(other, new MoveDisk { Name = "disk0" }, _dir, new TestScope("x"), Ct()));
            Assert.Equal("ExportNotAllowed", ex.ErrorId);
            Assert.Empty(_ec2.ExportTasks);
        }

        /// <summary>The export bucket: none named is ExportBucketMissing, one S3 (HeadBucket) does not know is ExportBucketNotFound; both refused before any image is made.</summary>
        [Fact]
        public async Task Export_bucket_missing_or_not_in_S3_has_its_own_stable_code_and_makes_nothing()
        {
            using var c = await ConnectAsync();
            var (id, _) = await ImportedInstanceAsync(c, 1 * Mib);
            var dst = new GridDatacenter { Name = "kvm", Provider = "Libvirt" };
            foreach (var (moveDefaults, code, kind) in new[] { ("", "ExportBucketMissing", GridErrorKind.InvalidRequest), ("ExportBucket=ga-no-such-bucket", "ExportBucketNotFound", GridErrorKind.NotFound) })
            {
                using var other = await TestEnvironment.ConnectAsync(_ec2.Url, datacenter: "aws-" + code, settings: new Dictionary<string, string> { ["S3Endpoint"] = _s3.Url, ["MoveDefaults"] = moveDefaults },
                    credential: new NetworkCredential(S3rver.AccessKey, S3rver.SecretKey));
                var info = await other.DescribeAsync(id, Ct());
                Assert.Equal(code, info.ExportRefusalCode);
                var report = MovePlanner.Plan(new MovePlanInput
                {
                    Workload = await other.GetWorkloadAsync(id, Ct()), Source = other.Datacenter, Destination = dst, SourceTransport = other, DestinationTransport = new Qcow2Destination(), SourceInfo = info,
                    SourceCanTransfer = true, DestinationCanTransfer = true, ConverterPath = "/usr/bin/qemu-img", TempFolder = "/tmp",
                });
                var why = Assert.Single(report.Incompatibilities, i => i.Code == code);
                Assert.Equal(MoveSeverity.Error, why.Severity);
                Assert.DoesNotContain(report.Incompatibilities, i => i.Code == "ExportNotAllowed");
                Assert.False(report.CanMove);
                var ex = await Assert.ThrowsAsync<GridException>(() => other.ExportDiskAsync(id, info.Disks[0], _dir, new TestScope("x-" + code), Ct()));
                Assert.Equal(code, ex.ErrorId);
                Assert.Equal(kind, ex.Kind);
            }
            Assert.Empty(_ec2.Server.RequestsFor("CreateImage"));
            Assert.Empty(_ec2.ExportTasks);
            // and with the bucket that exists, nothing is refused
            Assert.Null((await c.DescribeAsync(id, Ct())).ExportRefusalCode);
        }

        private sealed class Qcow2Destination : IDiskTransport
        {
            public IReadOnlyList<DiskFormat> ExportFormats { get; } = new[] { DiskFormat.Qcow2 };
            public IReadOnlyList<DiskFormat> ImportFormats { get; } = new[] { DiskFormat.Qcow2 };
            public long? MaxDiskBytes => null;
            public IReadOnlyList<string> SupportedFirmware { get; } = new[] { "bios", "uefi" };
            public IReadOnlyList<string> RequiredOptions { get; } = Array.Empty<string>();
            public long? BandwidthBytesPerSecond => null;
            public Task<MoveSourceInfo> DescribeAsync(string nativeId, CancellationToken cancellationToken) => throw new NotSupportedException();
        }

        [Fact]
        public async Task InterruptedInExportTask_Resumed_OneTask_EvenWhenItsIdWasNeverCheckpointed()
        {
            using var c = await ConnectAsync();
            var (id, imported) = await ImportedInstanceAsync(c, 2 * Mib);
            _ec2.ExportTime = TimeSpan.FromMinutes(5);
            var disk = (await c.DescribeAsync(id, Ct())).Disks[0];
            var scope = new AwsDiskImportTests.CancellingScope("export-int-task", AwsConnection.ExportTaskCheckpoint);
            await Assert.ThrowsAnyAsync<Exception>(() => c.ExportDiskAsync(id, disk, _dir, scope, scope.Token));
            Assert.Equal("active", Assert.Single(_ec2.ExportTasks.Values).Status);

            // the answer to ExportImage never reached the journal: the client token gives the same task back
            var lost = new TestScope("export-int-task") { IsResume = true };
            foreach (var kv in scope.Checkpoints.Where(k => !k.Key.StartsWith(AwsConnection.ExportTaskCheckpoint, StringComparison.Ordinal))) lost.Checkpoint(kv.Key, kv.Value);
            _ec2.ExportTime = TimeSpan.Zero;
            var img = await c.ExportDiskAsync(id, disk, _dir, lost, Ct());
            Assert.Single(_ec2.ExportTasks);
            Assert.Single(_ec2.Server.RequestsFor("CreateImage")); // the image was found by its name, not made twice
            Assert.Equal(FakeEc2.Sha256(imported), Sha(img.Path!).ToUpperInvariant());
            await AssertExportLeftNothingAsync();
        }

        [Fact]
        public async Task InterruptedInExportTask_RolledBack_CancelsTheTask_LeavesNoObjectNoImage()
        {
            using var c = await ConnectAsync();
            var (id, _) = await ImportedInstanceAsync(c, 2 * Mib);
            _ec2.ExportTime = TimeSpan.FromMinutes(5);
            var disk = (await c.DescribeAsync(id, Ct())).Disks[0];
            var scope = new AwsDiskImportTests.CancellingScope("export-int-rb", AwsConnection.ExportTaskCheckpoint);
            await Assert.ThrowsAnyAsync<Exception>(() => c.ExportDiskAsync(id, disk, _dir, scope, scope.Token));
            await c.DiscardExportsAsync(scope, Ct());
            Assert.Equal("deleted", Assert.Single(_ec2.ExportTasks.Values).Status);
            await AssertExportLeftNothingAsync();
            await c.DiscardExportsAsync(scope, Ct()); // twice is harmless
        }

        [Theory]
        [InlineData(false)]
        [InlineData(true)]
        public async Task InterruptedInDownload_ResumedWithOneTask_OrRolledBackLeavingNoObject(bool rollback)
        {
            using var c = await ConnectAsync();
            var (id, imported) = await ImportedInstanceAsync(c, 3 * Mib);
            var disk = (await c.DescribeAsync(id, Ct())).Disks[0];
            var scope = new TestScope("export-int-dl-" + rollback);
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            c.AfterDownloadBytes = n => cts.Cancel(); // after the first 1 MiB
            await Assert.ThrowsAnyAsync<Exception>(() => c.ExportDiskAsync(id, disk, _dir, scope, cts.Token));
            c.AfterDownloadBytes = null;
            Assert.Single(await _s3.KeysAsync()); // the export's object is there, half read
            Assert.False(File.Exists(Path.Combine(_dir, "disk0.raw")));
            if (rollback)
            {
                await c.DiscardExportsAsync(scope, Ct());
                await AssertExportLeftNothingAsync();
                return;
            }
            scope.IsResume = true;
            var img = await c.ExportDiskAsync(id, disk, _dir, scope, Ct());
            Assert.Single(_ec2.ExportTasks);
            Assert.Single(_ec2.Server.RequestsFor("ExportImage"));
            Assert.Equal(FakeEc2.Sha256(imported), Sha(img.Path!).ToUpperInvariant());
            await AssertExportLeftNothingAsync();
        }

        /// <summary>Through the core (GridEngine, MoveOrchestrator): a non-imported instance is refused before anything is journaled; an imported one moves to another AWS datacenter.</summary>
        [Fact]
        public async Task Engine_NonImportedRefusedWithNothingJournaled_ImportedMovesAwsToAws()
        {
            var config = new GridConfiguration { StatePath = Path.Combine(_dir, "state.db"), RetryCount = 3, RetryMaxDelaySeconds = 5, PageSize = 1000, LeaseTimeoutSeconds = 120 };
            var engine = GridEngine.Get(config, readOnly: false);
            var secrets = new Dictionary<string, object> { ["Credential"] = new NetworkCredential(S3rver.AccessKey, S3rver.SecretKey) };
            foreach (var name in new[] { "aws-a", "aws-b" })
            {
                var dc = await engine.ConnectDatacenterAsync("Aws", name, "Contoso", "Virginia", new Dictionary<string, string>
                {
                    ["Region"] = "us-east-1", ["Endpoint"] = _ec2.Url, ["S3Endpoint"] = _s3.Url,
                    [MovePlanner.DefaultsSetting] = $"ImportBucket={_s3.Bucket}\nSubnetId=subnet-0abc\nSecurityGroupIds=sg-0abc",
                }, secrets, NullObserver.Instance, Ct());
                Assert.Equal(ConnectionStatus.Connected, dc.Status);
            }
            _ec2.Seed(1, "stopped");
            var plain = await engine.GetWorkloadAsync("aws-a/" + _ec2.Instances.Keys.Single(), Ct());
            var ex = await Assert.ThrowsAsync<GridException>(() => new MoveOrchestrator(engine).MoveAsync(plain, new MoveRequest { DestinationDatacenter = "aws-b" }, false, false, false, null, NullObserver.Instance, Ct()));
            Assert.Equal("MoveIncompatible", ex.ErrorId);
            Assert.Contains("ExportNotAllowed", ex.Message);
            Assert.Empty(engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }));
            Assert.Empty(_ec2.Server.RequestsFor("StopInstances"));

            using var c = await ConnectAsync();
            var (id, imported) = await ImportedInstanceAsync(c, 2 * Mib);
            var w = await engine.GetWorkloadAsync("aws-a/" + id, Ct());
            var moved = await new MoveOrchestrator(engine).MoveAsync(w, new MoveRequest { DestinationDatacenter = "aws-b" }, false, false, false, null, NullObserver.Instance, Ct());
            Assert.StartsWith("aws-b/", moved.Id);
            var op = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Single();
            Assert.Equal(OperationState.Succeeded, op.State);
            var landed = _ec2.Instances[moved.NativeId!];
            Assert.Equal(FakeEc2.Sha256(imported), FakeEc2.Sha256(landed.Volumes[0].Data!)); // exported, downloaded, uploaded, imported again: the same bytes
            Assert.Single(_ec2.ExportTasks);
            Assert.Empty(await _s3.KeysAsync());
            Assert.DoesNotContain(_ec2.Amis.Values, a => a.Tags.ContainsKey(AwsConnection.ExportTag));
        }
    }
}
