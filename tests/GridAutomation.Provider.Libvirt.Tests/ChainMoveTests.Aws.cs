using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;
using static GridAutomation.Provider.Libvirt.Tests.DatacenterMoveTests;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// Issue 14's libvirt → AWS chain: the counting guest of kvm-a moves through the core's MoveOrchestrator into an
    /// AWS datacenter whose EC2 is the stateful loopback of the AWS tests and whose S3 is s3rver (npm, a fake S3 written
    /// by others; installed by tests/GridAutomation.Provider.Aws.Tests/setup.sh). The loopback ImportSnapshot reads the
    /// object back through s3rver's API, so the snapshot holds what S3 stored. The way back to kvm-b: AWS lets out
    /// imported instances (ExportImage of an image of the stopped instance; the loopback writes the snapshot's bytes
    /// into s3rver), the guest boots on kvm-b and counts again; an instance AWS did not import is refused.
    /// </summary>
    public sealed partial class ChainMoveTests
    {
        private const string AwsExportTag = "GridAutomationExport"; // AwsConnection.ExportTag (internal to the provider)

        [DaemonFact]
        public async Task CountingGuest_LibvirtA_ToAws_ToLibvirtB_BootsAndCountsAgain_ContentEqualAfterEachConversion()
        {
            _pair.Require();
            Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", Staging);
            using var s3 = new S3rver();
            using var ec2 = new FakeEc2 { IamSecretKey = S3rver.SecretKey }; // one key pair for EC2, IAM and s3rver
            ec2.S3 = s3.Client;
            var engine = Engine(StatePath);
            await ConnectPairAsync(engine, _pair);
            var dc = await engine.ConnectDatacenterAsync("Aws", "aws", "Contoso", "Virginia", new Dictionary<string, string>
            {
                ["Region"] = "us-east-1", ["Endpoint"] = ec2.Url, ["S3Endpoint"] = s3.Url,
                [MovePlanner.DefaultsSetting] = $"ImportBucket={s3.Bucket}\nSubnetId=subnet-0abc\nSecurityGroupIds=sg-0abc",
            }, new Dictionary<string, object> { ["Credential"] = new NetworkCredential(S3rver.AccessKey, S3rver.SecretKey) }, NullObserver.Instance, Ct());
            Assert.Equal(ConnectionStatus.Connected, dc.Status);

            const string name = "chain-aws";
            var w = await Counter(engine, _pair, name);
            await EmbedLab.WaitForCounts(Path.Combine(_pair.SerialDir, name + ".a.log"), x => x.Count >= 3, Wait);
            string diskA = DiskOf(w);

            // Test-GridMove: a disk import of the raw volume, the options from the datacenter's MoveDefaults, the role and bucket checked
            var toAws = new MoveRequest { DestinationDatacenter = "aws", TurnOff = true };
            var report = await new MoveService(engine).TestAsync(w, toAws, NullObserver.Instance, Ct());
            Assert.True(report.CanMove, string.Join("; ", report.Incompatibilities.Select(i => i.Code + ": " + i.Message)));
            Assert.Equal(MoveMethod.DiskImport, report.Method);
            Assert.Equal(DiskFormat.Raw, report.Disks.Single().Path.Last());
            Assert.DoesNotContain(report.Incompatibilities, i => i.Code is "VmImportRoleNotChecked" or "ImportBucketNotChecked");

            var moved = await new MoveOrchestrator(engine).MoveAsync(w, toAws, false, false, false, null, NullObserver.Instance, Ct());
            Assert.StartsWith("aws/", moved.Id);
            Assert.Equal(name, moved.Name);
            Assert.Equal(WorkloadState.Running, moved.State);
            var listed = Assert.Single(await Named(engine, "aws", name));
            Assert.Equal("dc-move-test", listed.Tags["purpose"]);
            Assert.Equal(w.Id, listed.Tags[MoveOrchestrator.MovedFromTag]);
            var op = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Single(o => o.Target == w.Id);
            Assert.Equal(OperationState.Succeeded, op.State);

            // the snapshot holds the exported image byte for byte (no aws-chunked framing), and it is the source's content
            var inst = ec2.Instances[moved.NativeId];
            var ami = ec2.Amis[inst.ImageId];
            var snap = ec2.Snapshots[ami.SnapshotId];
            Assert.Equal(Sha(diskA), FakeEc2.Sha256(snap.Data));
            Assert.Equal("legacy-bios", ami.BootMode); // the counting guest boots by BIOS
            Assert.Equal("RAW", Assert.Single(ec2.ImportTasks.Values).Format);
            Assert.Empty(await s3.KeysAsync()); // the uploaded object is deleted once the snapshot holds it
            Assert.Empty(Directory.GetFileSystemEntries(Staging));
            var src = await engine.GetWorkloadAsync(w.Id, Ct());
            Assert.Equal(WorkloadState.Stopped, src.State);
            Assert.Equal(moved.Id, src.Tags[MoveOrchestrator.MovedToTag]);

            // the way back: the instance was imported, so AWS lets it out (CreateImage of the stopped instance,
            // ExportImage RAW into s3rver, download, convert to kvm-b's pool format), and it boots and counts there
            var volsBBefore = Volumes(_pair.UriB);
            string serialB = Path.Combine(_pair.SerialDir, name + ".b.log");
            var toB = To("lv-b", serialB);
            var backReport = await new MoveService(engine).TestAsync(moved, toB, NullObserver.Instance, Ct());
            Assert.True(backReport.CanMove, string.Join("; ", backReport.Incompatibilities.Select(i => i.Code + ": " + i.Message)));
            Assert.Equal(MoveMethod.DiskImport, backReport.Method);
            Assert.Equal(DiskFormat.Raw, backReport.Disks.Single().Path.First());
            var atB = await new MoveOrchestrator(engine).MoveAsync(moved, toB, false, false, false, null, NullObserver.Instance, Ct());
            Assert.StartsWith("lv-b/", atB.Id);
            Assert.Equal(name, atB.Name);
            Assert.Equal("dc-move-test", atB.Tags["purpose"]);
            Assert.Equal(moved.Id, atB.Tags[MoveOrchestrator.MovedFromTag]);
            Assert.Equal(WorkloadState.Running, atB.State);
            var onB = await EmbedLab.WaitForCounts(serialB, x => x.Count >= 3, Wait);
            Assert.Equal(Enumerable.Range(0, onB.Count), onB); // booted from the bytes that came back out of AWS: counts from the start
            string diskB = DiskOf(atB);
            Assert.StartsWith(_pair.ImagesB + "/", diskB);
            AssertSameContent(diskA, diskB, FormatOf(diskB));
            Assert.Equal(new[] { Path.GetFileName(diskB) }, Volumes(_pair.UriB).Except(volsBBefore));
            var back = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Single(o => o.Target == moved.Id);
            Assert.Equal(OperationState.Succeeded, back.State);
            Assert.Equal("not readable at the source", back.Checkpoints["done:verify"]); // EBS bytes are not readable through EC2: the export checked S3's MD5 instead
            Assert.Equal("RAW", ec2.Server.RequestsFor("ExportImage").Single().Get("DiskImageFormat"));
            Assert.Equal("completed", Assert.Single(ec2.ExportTasks.Values).Status);
            Assert.Empty(await s3.KeysAsync()); // the export object is deleted once downloaded
            Assert.DoesNotContain(ec2.Amis.Values, a => a.Tags.ContainsKey(AwsExportTag)); // and the image made for the export
            Assert.Equal(WorkloadState.Stopped, (await engine.GetWorkloadAsync(moved.Id, Ct())).State);
            Assert.Empty(Directory.GetFileSystemEntries(Staging));

            // an instance AWS did not import stays in: ExportNotAllowed, refused before anything is journaled or stopped
            ec2.Seed(1, "running");
            var plain = Assert.Single(await Named(engine, "aws", "bulk-00000"));
            var refusal = Assert.Single((await new MoveService(engine).TestAsync(plain, To("lv-b", "-"), NullObserver.Instance, Ct())).Incompatibilities, i => i.Code == "ExportNotAllowed");
            Assert.Equal(MoveSeverity.Error, refusal.Severity);
            var ex = await Assert.ThrowsAsync<GridException>(() => new MoveOrchestrator(engine).MoveAsync(plain, To("lv-b", "-"), false, false, false, null, NullObserver.Instance, Ct()));
            Assert.Equal("MoveIncompatible", ex.ErrorId);
            Assert.Equal(2, engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Count);
            Assert.Equal(WorkloadState.Running, (await engine.GetWorkloadAsync(plain.Id, Ct())).State);

            await RemoveAll(engine, new[] { atB.Id, moved.Id, w.Id });
        }
    }
}
