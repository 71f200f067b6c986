using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using Amazon.S3;
using Amazon.S3.Model;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>
    /// The import side of the stateful loopback EC2: ImportSnapshot READS the named object from the S3 emulator
    /// (s3rver, through its own S3 API) and the snapshot holds exactly those bytes; DescribeImportSnapshotTasks
    /// reports the task active until <see cref="ImportTime"/> has passed; RegisterImage/DeregisterImage,
    /// DeleteSnapshot, CancelImportTask and tags on snapshots and images. Without the vmimport role
    /// (<see cref="VmImportRole"/> = false) a task fails the way AWS's does.
    /// </summary>
    public sealed partial class FakeEc2
    {
        public sealed class ImportTask { public string Id = ""; public string Bucket = ""; public string Key = ""; public string Format = ""; public string Status = "active"; public string? Message; public string? SnapshotId; public DateTime Started = DateTime.UtcNow; public string? ClientToken; }
        public sealed class Snap { public string Id = ""; public byte[] Data = Array.Empty<byte>(); public Dictionary<string, string> Tags = new Dictionary<string, string>(StringComparer.Ordinal);
            /// <summary>Set by CreateSnapshot (FakeEc2Snapshots.cs): the volume, its size in GiB, the state and when it was started.</summary>
            public string? VolumeId; public int VolumeSize; public string State = "completed"; public DateTime Started = DateTime.UtcNow; public string Description = ""; }
        public sealed class Ami { public string Id = ""; public string Name = ""; public string SnapshotId = ""; public string RootDevice = ""; public string BootMode = ""; public bool Ena; public Dictionary<string, string> Tags = new Dictionary<string, string>(StringComparer.Ordinal); }

        public Dictionary<string, ImportTask> ImportTasks { get; } = new Dictionary<string, ImportTask>(StringComparer.Ordinal);
        public Dictionary<string, Snap> Snapshots { get; } = new Dictionary<string, Snap>(StringComparer.Ordinal);
        public Dictionary<string, Ami> Amis { get; } = new Dictionary<string, Ami>(StringComparer.Ordinal);
        /// <summary>The S3 emulator the import tasks read from (set by the test).</summary>
        public AmazonS3Client? S3 { get; set; }
        public TimeSpan ImportTime { get; set; } = TimeSpan.FromMilliseconds(300);
        public bool VmImportRole { get; set; } = true;

        private string NextId(string prefix) => prefix + (++_seq).ToString("x17");

        private Ec2Response? HandleImports(Ec2Request r)
        {
            foreach (var t in ImportTasks.Values)
                if (t.Status == "active" && DateTime.UtcNow - t.Started >= ImportTime) Complete(t);
            switch (r.Action)
            {
                case "ImportSnapshot": return ImportSnapshot(r);
                case "DescribeImportSnapshotTasks": return DescribeImportTasks(r);
                case "CancelImportTask": return CancelImport(r);
                case "RegisterImage": return Register(r);
                case "DeregisterImage": return Deregister(r);
                case "DeleteSnapshot": return DeleteSnapshot(r);
                case "CreateTags":
                    var ids = r.List("ResourceId");
                    if (ids.Count == 0 || !ids.All(i => i.StartsWith("snap-", StringComparison.Ordinal) || i.StartsWith("ami-", StringComparison.Ordinal))) return null;
                    foreach (var id in ids)
                    {
                        var tags = id.StartsWith("snap-", StringComparison.Ordinal) ? Snapshots.TryGetValue(id, out var sn) ? sn.Tags : null : Amis.TryGetValue(id, out var am) ? am.Tags : null;
                        if (tags == null) return Ec2Response.Error(400, id.StartsWith("snap-", StringComparison.Ordinal) ? "InvalidSnapshot.NotFound" : "InvalidAMIID.NotFound", $"The resource '{id}' does not exist.");
                        for (int t = 1; r.Get($"Tag.{t}.Key") is string k; t++) tags[k] = r.Get($"Tag.{t}.Value") ?? "";
                    }
                    return Ec2Response.Ok(Begin("CreateTagsResponse").Append("<return>true</return>").Append(End("CreateTagsResponse")).ToString());
                default: return HandleExports(r);
            }
        }

        private Ec2Response ImportSnapshot(Ec2Request r)
        {
            string? token = r.Get("ClientToken");
            var again = token == null ? null : ImportTasks.Values.FirstOrDefault(t => t.ClientToken == token);
            if (again != null) return Ec2Response.Ok(TaskXml("ImportSnapshotResponse", again, wrap: false));
            string bucket = r.Get("DiskContainer.UserBucket.S3Bucket") ?? "", key = r.Get("DiskContainer.UserBucket.S3Key") ?? "";
            string format = (r.Get("DiskContainer.Format") ?? "").ToUpperInvariant();
            if (format != "RAW" && format != "VHD" && format != "VMDK") return Ec2Response.Error(400, "InvalidParameter", $"Unsupported disk format '{format}'.");
            var task = new ImportTask { Id = NextId("import-snap-"), Bucket = bucket, Key = key, Format = format, ClientToken = token };
            ImportTasks[task.Id] = task;
            return Ec2Response.Ok(TaskXml("ImportSnapshotResponse", task, wrap: false));
        }

        /// <summary>The task's end: the snapshot gets the S3 object's bytes, read through s3rver's API (or the task fails as AWS's does).</summary>
        private void Complete(ImportTask t)
        {
            if (!VmImportRole) { t.Status = "deleted"; t.Message = "ClientError: The service role vmimport provided does not exist or does not have sufficient permissions"; return; }
            byte[] data;
            try
            {
                using var resp = S3!.GetObjectAsync(new GetObjectRequest { BucketName = t.Bucket, Key = t.Key }).GetAwaiter().GetResult();
                using var ms = new MemoryStream();
                resp.ResponseStream.CopyTo(ms);
                data = ms.ToArray();
            }
            catch (AmazonS3Exception ex) { t.Status = "deleted"; t.Message = $"ClientError: Unable to read s3://{t.Bucket}/{t.Key}: {ex.ErrorCode}"; return; }
            var snap = new Snap { Id = NextId("snap-"), Data = data };
            Snapshots[snap.Id] = snap;
            t.SnapshotId = snap.Id;
            t.Status = "completed";
        }

        private Ec2Response DescribeImportTasks(Ec2Request r)
        {
            var ids = r.List("ImportTaskId");
            var sb = Begin("DescribeImportSnapshotTasksResponse").Append("<importSnapshotTaskSet>");
            foreach (var t in ImportTasks.Values.Where(t => ids.Count == 0 || ids.Contains(t.Id)))
                sb.Append("<item>").Append(TaskBody(t)).Append("</item>");
            return Ec2Response.Ok(sb.Append("</importSnapshotTaskSet>").Append(End("DescribeImportSnapshotTasksResponse")).ToString());
        }

        private string TaskXml(string root, ImportTask t, bool wrap) => Begin(root).Append(TaskBody(t)).Append(End(root)).ToString();

        private static string TaskBody(ImportTask t)
        {
            var sb = new StringBuilder("<importTaskId>").Append(t.Id).Append("</importTaskId><snapshotTaskDetail><format>").Append(t.Format)
                .Append("</format><status>").Append(t.Status).Append("</status>");
            if (t.Status == "active") sb.Append("<progress>50</progress>");
            if (t.Message != null) sb.Append("<statusMessage>").Append(System.Security.SecurityElement.Escape(t.Message)).Append("</statusMessage>");
            if (t.SnapshotId != null) sb.Append("<snapshotId>").Append(t.SnapshotId).Append("</snapshotId>");
            return sb.Append("<userBucket><s3Bucket>").Append(t.Bucket).Append("</s3Bucket><s3Key>").Append(t.Key).Append("</s3Key></userBucket></snapshotTaskDetail>").ToString();
        }

        private Ec2Response CancelImport(Ec2Request r)
        {
            string id = r.Get("ImportTaskId") ?? "";
            if (!ImportTasks.TryGetValue(id, out var t)) return Ec2Response.Error(400, "InvalidConversionTaskId.NotFound", $"The task '{id}' does not exist.");
            string previous = t.Status;
            if (t.Status == "active") { t.Status = "deleted"; t.Message = "User initiated task cancelation"; }
            return Ec2Response.Ok(Begin("CancelImportTaskResponse").Append("<importTaskId>").Append(id).Append("</importTaskId><previousState>").Append(previous)
                .Append("</previousState><state>").Append(t.Status).Append("</state>").Append(End("CancelImportTaskResponse")).ToString());
        }

        private Ec2Response Register(Ec2Request r)
        {
            string name = r.Get("Name") ?? "";
            if (Amis.Values.Any(a => a.Name == name)) return Ec2Response.Error(400, "InvalidAMIName.Duplicate", $"AMI name {name} is already in use by AMI {Amis.Values.First(a => a.Name == name).Id}");
            string snap = r.Get("BlockDeviceMapping.1.Ebs.SnapshotId") ?? "";
            if (!Snapshots.ContainsKey(snap)) return Ec2Response.Error(400, "InvalidSnapshot.NotFound", $"The snapshot '{snap}' does not exist.");
            var ami = new Ami { Id = NextId("ami-"), Name = name, SnapshotId = snap, RootDevice = r.Get("RootDeviceName") ?? "", BootMode = r.Get("BootMode") ?? "", Ena = r.Get("EnaSupport") == "true" };
            for (int t = 1; r.Get($"TagSpecification.1.Tag.{t}.Key") is string k; t++) ami.Tags[k] = r.Get($"TagSpecification.1.Tag.{t}.Value") ?? "";
            Amis[ami.Id] = ami;
            return Ec2Response.Ok(Begin("RegisterImageResponse").Append("<imageId>").Append(ami.Id).Append("</imageId>").Append(End("RegisterImageResponse")).ToString());
        }

        private Ec2Response Deregister(Ec2Request r)
        {
            string id = r.Get("ImageId") ?? "";
            if (!Amis.Remove(id)) return Ec2Response.Error(400, "InvalidAMIID.NotFound", $"The image id '[{id}]' does not exist");
            return Ec2Response.Ok(Begin("DeregisterImageResponse").Append("<return>true</return>").Append(End("DeregisterImageResponse")).ToString());
        }

        private Ec2Response DeleteSnapshot(Ec2Request r)
        {
            string id = r.Get("SnapshotId") ?? "";
            if (Amis.Values.Any(a => a.SnapshotId == id)) return Ec2Response.Error(400, "InvalidSnapshot.InUse", $"The snapshot {id} is currently in use by an AMI");
            if (!Snapshots.Remove(id)) return Ec2Response.Error(400, "InvalidSnapshot.NotFound", $"The snapshot '{id}' does not exist.");
            return Ec2Response.Ok(Begin("DeleteSnapshotResponse").Append("<return>true</return>").Append(End("DeleteSnapshotResponse")).ToString());
        }

        private void AppendAmis(StringBuilder sb, List<string> ids)
        {
            foreach (var a in Amis.Values.Where(a => ids.Count == 0 || ids.Contains(a.Id)))
                sb.Append("<item><imageId>").Append(a.Id).Append("</imageId><imageState>available</imageState><imageOwnerId>").Append(OwnerId)
                  .Append("</imageOwnerId><isPublic>false</isPublic><architecture>x86_64</architecture><imageType>machine</imageType><name>").Append(a.Name)
                  .Append("</name><rootDeviceType>ebs</rootDeviceType><rootDeviceName>").Append(a.RootDevice).Append("</rootDeviceName><bootMode>").Append(a.BootMode)
                  .Append("</bootMode><enaSupport>").Append(a.Ena ? "true" : "false").Append("</enaSupport><blockDeviceMapping><item><deviceName>").Append(a.RootDevice)
                  .Append("</deviceName><ebs><snapshotId>").Append(a.SnapshotId).Append("</snapshotId><volumeSize>").Append(Math.Max(1, (Snapshots.TryGetValue(a.SnapshotId, out var s) ? s.Data.LongLength : 0) >> 30))
                  .Append("</volumeSize><deleteOnTermination>true</deleteOnTermination><volumeType>gp3</volumeType></ebs></item></blockDeviceMapping><virtualizationType>hvm</virtualizationType><hypervisor>xen</hypervisor><tagSet>")
                  .Append(string.Concat(a.Tags.Select(t => "<item><key>" + t.Key + "</key><value>" + t.Value + "</value></item>"))).Append("</tagSet></item>");
        }

        public static string Sha256(byte[] data)
        {
            using var sha = SHA256.Create();
            return Convert.ToHexString(sha.ComputeHash(data));
        }
    }
}
