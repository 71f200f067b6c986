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
    /// object back through s3rver's API, so the snapshot holds what S3 stored. AWS export is not implemented (AWS lets
    /// out only imported instances, through ExportImage): the way back is the ExportNotAllowed refusal.
    /// </summary>
    public sealed partial class ChainMoveTests
    {
        [DaemonFact]
        public async Task CountingGuest_LibvirtA_ToAws_SnapshotHoldsTheExportedImage_WayBackIsRefused()
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

            // the way back: AWS exports nothing here, and the move refuses before anything is journaled or stopped
            var back = await new MoveService(engine).TestAsync(moved, To("lv-b", "-"), NullObserver.Instance, Ct());
            var refusal = Assert.Single(back.Incompatibilities, i => i.Code == "ExportNotAllowed");
            Assert.Equal(MoveSeverity.Error, refusal.Severity);
            var ex = await Assert.ThrowsAsync<GridException>(() => new MoveOrchestrator(engine).MoveAsync(moved, To("lv-b", "-"), false, false, false, null, NullObserver.Instance, Ct()));
            Assert.Equal("MoveIncompatible", ex.ErrorId);
            Assert.Single(engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }));
            Assert.Equal(WorkloadState.Running, (await engine.GetWorkloadAsync(moved.Id, Ct())).State);
            Assert.Empty(await Named(engine, "lv-b", name));

            await RemoveAll(engine, new[] { moved.Id, w.Id });
        }
    }
}
