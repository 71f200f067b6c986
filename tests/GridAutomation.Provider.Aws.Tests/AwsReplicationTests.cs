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
using GridAutomation.Core.Replication;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>
    /// Replication of a RUNNING AWS instance to another AWS datacenter through the core (GridEngine.Replication):
    /// Enable and Sync record crash-consistent points taken with CreateSnapshot + the EBS direct APIs (our loopback
    /// stand-in) while the instance keeps running; each point is imported at the destination (s3rver + ImportSnapshot
    /// + RegisterImage) and holds the volume's bytes at the snapshot instant; no snapshot of the source is left.
    /// </summary>
    public sealed class AwsReplicationTests : IDisposable
    {
        private const long Mib = 1024 * 1024;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-aws-repl-" + Guid.NewGuid().ToString("N"));
        private readonly S3rver _s3 = new S3rver();
        private readonly FakeEc2 _ec2 = new FakeEc2();
        private readonly FakeEbsDirect _ebs;

        public AwsReplicationTests()
        {
            Directory.CreateDirectory(_dir);
            _ec2.S3 = _s3.Client;
            _ebs = new FakeEbsDirect(_ec2, S3rver.AccessKey, S3rver.SecretKey);
        }

        public void Dispose()
        {
            _ebs.Dispose();
            _ec2.Dispose();
            _s3.Dispose();
            try { Directory.Delete(_dir, true); } catch { }
        }

        private static CancellationToken Ct(int minutes = 4) => new CancellationTokenSource(TimeSpan.FromMinutes(minutes)).Token;

        [Fact]
        public async Task Enable_and_Sync_of_a_running_instance_record_points_without_stopping_it()
        {
            var config = new GridConfiguration { StatePath = Path.Combine(_dir, "state.db"), RetryCount = 2, RetryMaxDelaySeconds = 2, PageSize = 1000, LeaseTimeoutSeconds = 120 };
            var engine = GridEngine.Get(config, readOnly: false);
            var secrets = new Dictionary<string, object> { ["Credential"] = new NetworkCredential(S3rver.AccessKey, S3rver.SecretKey) };
            foreach (var name in new[] { "aws-a", "aws-b" })
                await engine.ConnectDatacenterAsync("Aws", name, "Contoso", "Virginia", new Dictionary<string, string>
                {
                    ["Region"] = "us-east-1", ["Endpoint"] = _ec2.Url, ["S3Endpoint"] = _s3.Url, ["EbsEndpoint"] = _ebs.Url,
                    [MovePlanner.DefaultsSetting] = $"ImportBucket={_s3.Bucket}\nSubnetId=subnet-0abc\nSecurityGroupIds=sg-0abc",
                }, secrets, NullObserver.Instance, Ct());

            // a running instance launched from a plain AMI (a move could not export it: ExportNotAllowed), its 1 GiB root
            // volume holding 2 MiB of data: the running copy reads any instance
            _ec2.Seed(1, "running");
            var created = await engine.GetWorkloadAsync("aws-a/" + _ec2.Instances.Keys.Single(), Ct());
            var root = _ec2.Instances[created.NativeId!].Volumes[0];
            var data = new byte[2 * Mib];
            new Random(5).NextBytes(data);
            root.Data = data;
            root.Size = 1;
            var move = await new MoveService(engine).TestAsync(created, new MoveRequest { DestinationDatacenter = "aws-b" }, NullObserver.Instance, Ct());
            Assert.Contains(move.Incompatibilities, i => i.Code == "ExportNotAllowed"); // a move would be refused
            int amisBefore = _ec2.Amis.Count;

            // each point: the volume as it was at the snapshot, then the guest writes on
            var atPoints = new List<byte[]>();
            _ec2.AfterSnapshot = (vol, snap) => { atPoints.Add((byte[])vol.Data!.Clone()); vol.Data![atPoints.Count * 1000] ^= 0x5a; };

            var source = created;
            Assert.Equal(WorkloadState.Running, source.State);
            var item = await engine.Replication.EnableAsync(source, new ReplicationRequest { DestinationDatacenter = "aws-b", RecoveryPointCount = 2 }, NullObserver.Instance, Ct());
            Assert.Equal(ReplicationState.Protected, item.State);
            var sync = Assert.Single(await engine.Replication.SyncAsync(new[] { engine.Replication.Find(source.Id)! }, force: true, NullObserver.Instance, Ct()));
            Assert.Null(sync.Error);

            var points = engine.Replication.GetPoints(engine.Replication.Find(source.Id)).OrderBy(p => p.Time).ToList();
            Assert.Equal(2, points.Count);
            Assert.All(points, p => Assert.True(p.CrashConsistent));
            Assert.Equal(2, atPoints.Count);
            Assert.NotEqual(FakeEc2.Sha256(atPoints[0]), FakeEc2.Sha256(atPoints[1]));  // the guest wrote between the points

            // never stopped; no snapshot of the source left (only those behind the destination's images)
            Assert.Equal("running", _ec2.Instances[created.NativeId!].State);
            Assert.Empty(_ec2.Server.RequestsFor("StopInstances"));
            Assert.Equal(2, _ec2.Server.RequestsFor("CreateSnapshot").Count());
            Assert.DoesNotContain(_ec2.Snapshots.Values, s => s.Tags.ContainsKey(AwsConnection.PointSnapshotTag));

            // each point is an image at the destination whose snapshot holds the 1 GiB volume as it was at its snapshot
            Assert.Equal(amisBefore + 2, _ec2.Amis.Count);
            for (int i = 0; i < 2; i++)
            {
                var image = _ec2.Amis[Assert.Single(points[i].ImportedDisks)];
                var bytes = _ec2.Snapshots[image.SnapshotId].Data;
                Assert.Equal(1024 * Mib, bytes.LongLength);
                Assert.True(bytes.AsSpan(0, atPoints[i].Length).SequenceEqual(atPoints[i]), "point " + i + " holds the volume at its snapshot");
                Assert.Equal(-1, bytes.AsSpan(atPoints[i].Length).IndexOfAnyExcept((byte)0));
            }
            Assert.Empty(await _s3.KeysAsync()); // the staged objects went once imported
        }
    }
}
