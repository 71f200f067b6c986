using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Amazon.S3.Model;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>
    /// The export side of the stateful loopback EC2, in the shapes of the EC2 API reference: CreateImage of an
    /// instance (its root volume's bytes become the image's snapshot), ExportImage (RAW only; VMDK and VHD answer
    /// InvalidParameterValue, the real API's error shape for a value it does not take), DescribeExportImageTasks
    /// (active until <see cref="ExportTime"/> has passed) and CancelExportTask. When a task completes it WRITES the
    /// snapshot's bytes as the object &lt;S3Prefix&gt;&lt;task id&gt;.raw into the S3 emulator (s3rver) through its own API,
    /// so the provider downloads what S3 stored.
    /// </summary>
    public sealed partial class FakeEc2
    {
        public sealed class ExportTask { public string Id = ""; public string ImageId = ""; public string Bucket = ""; public string Prefix = ""; public string Status = "active"; public string? Message; public DateTime Started = DateTime.UtcNow; public string? ClientToken; }

        public Dictionary<string, ExportTask> ExportTasks { get; } = new Dictionary<string, ExportTask>(StringComparer.Ordinal);
        public TimeSpan ExportTime { get; set; } = TimeSpan.FromMilliseconds(300);

        private Ec2Response? HandleExports(Ec2Request r)
        {
            foreach (var t in ExportTasks.Values)
                if (t.Status == "active" && DateTime.UtcNow - t.Started >= ExportTime) CompleteExport(t);
            switch (r.Action)
            {
                case "CreateImage": return CreateImage(r);
                case "ExportImage": return ExportImage(r);
                case "DescribeExportImageTasks": return DescribeExports(r);
                case "CancelExportTask": return CancelExport(r);
                default: return HandleSnapshots(r); // FakeEc2Snapshots.cs
            }
        }

        private Ec2Response CreateImage(Ec2Request r)
        {
            var err = ResolveIds(new List<string> { r.Get("InstanceId") ?? "" }, out var found);
            if (err != null) return err;
            var inst = found[0];
            string name = r.Get("Name") ?? "";
            if (name.Length < 3) return Ec2Response.Error(400, "InvalidParameterValue", "AMI names must be between 3 and 128 characters long");
            if (Amis.Values.Any(a => a.Name == name)) return Ec2Response.Error(400, "InvalidAMIName.Duplicate", $"AMI name {name} is already in use by AMI {Amis.Values.First(a => a.Name == name).Id}");
            if (inst.State == "terminated") return Ec2Response.Error(400, "IncorrectInstanceState", $"The instance '{inst.Id}' is not in a state from which it can be imaged.");
            var root = inst.Volumes.First(v => v.Device == "/dev/xvda");
            var snap = new Snap { Id = NextId("snap-"), Data = (byte[])(root.Data ?? new byte[0]).Clone() };
            Snapshots[snap.Id] = snap;
            var launched = Amis.TryGetValue(inst.ImageId, out var l) ? l : null;
            var ami = new Ami { Id = NextId("ami-"), Name = name, SnapshotId = snap.Id, RootDevice = "/dev/xvda", BootMode = launched?.BootMode ?? "legacy-bios", Ena = launched?.Ena ?? true };
            for (int t = 1; r.Get($"TagSpecification.1.Tag.{t}.Key") is string k; t++) ami.Tags[k] = r.Get($"TagSpecification.1.Tag.{t}.Value") ?? "";
            Amis[ami.Id] = ami;
            return Ec2Response.Ok(Begin("CreateImageResponse").Append("<imageId>").Append(ami.Id).Append("</imageId>").Append(End("CreateImageResponse")).ToString());
        }

        private Ec2Response ExportImage(Ec2Request r)
        {
            string? token = r.Get("ClientToken");
            var again = token == null ? null : ExportTasks.Values.FirstOrDefault(t => t.ClientToken == token);
            if (again != null) return Ec2Response.Ok(Begin("ExportImageResponse").Append(ExportBody(again)).Append(End("ExportImageResponse")).ToString());
            string image = r.Get("ImageId") ?? "";
            string format = r.Get("DiskImageFormat") ?? "";
            if (format is "VMDK" or "VHD") return Ec2Response.Error(400, "InvalidParameterValue", $"The disk image format {format} is not supported by this endpoint; use RAW.");
            if (format != "RAW") return Ec2Response.Error(400, "InvalidParameterValue", $"Value ({format}) for parameter diskImageFormat is invalid.");
            if (!Amis.ContainsKey(image)) return Ec2Response.Error(400, "InvalidAMIID.NotFound", $"The image id '[{image}]' does not exist");
            if (!VmImportRole || (r.Get("RoleName") ?? "vmimport") != "vmimport")
                return Ec2Response.Error(400, "InvalidParameter", "The service role vmimport provided does not exist or does not have sufficient permissions");
            string bucket = r.Get("S3ExportLocation.S3Bucket") ?? "";
            if (bucket.Length == 0) return Ec2Response.Error(400, "MissingParameter", "The request must contain the parameter S3ExportLocation.S3Bucket");
            var task = new ExportTask { Id = NextId("export-ami-"), ImageId = image, Bucket = bucket, Prefix = r.Get("S3ExportLocation.S3Prefix") ?? "", ClientToken = token };
            ExportTasks[task.Id] = task;
            return Ec2Response.Ok(Begin("ExportImageResponse").Append(ExportBody(task)).Append(End("ExportImageResponse")).ToString());
        }

        /// <summary>The task's end: the image's snapshot bytes are PUT into s3rver (or the task fails as AWS's does).</summary>
        private void CompleteExport(ExportTask t)
        {
            if (!Amis.TryGetValue(t.ImageId, out var ami) || !Snapshots.TryGetValue(ami.SnapshotId, out var snap)) { t.Status = "deleted"; t.Message = "ClientError: the image is gone"; return; }
            try
            {
                using var ms = new MemoryStream(snap.Data, writable: false);
                S3!.PutObjectAsync(new PutObjectRequest { BucketName = t.Bucket, Key = t.Prefix + t.Id + ".raw", InputStream = ms, UseChunkEncoding = false }).GetAwaiter().GetResult();
            }
            catch (Amazon.S3.AmazonS3Exception ex) { t.Status = "deleted"; t.Message = $"ClientError: Unable to write s3://{t.Bucket}/{t.Prefix}: {ex.ErrorCode}"; return; }
            t.Status = "completed";
        }

        private Ec2Response DescribeExports(Ec2Request r)
        {
            var ids = r.List("ExportImageTaskId");
            foreach (var id in ids)
                if (!ExportTasks.ContainsKey(id)) return Ec2Response.Error(400, "InvalidExportImageTaskId.NotFound", $"The export image task ID '{id}' does not exist.");
            var sb = Begin("DescribeExportImageTasksResponse").Append("<exportImageTaskSet>");
            foreach (var t in ExportTasks.Values.Where(t => ids.Count == 0 || ids.Contains(t.Id)))
                sb.Append("<item>").Append(ExportBody(t)).Append("</item>");
            return Ec2Response.Ok(sb.Append("</exportImageTaskSet>").Append(End("DescribeExportImageTasksResponse")).ToString());
        }

        private static string ExportBody(ExportTask t)
        {
            var sb = new StringBuilder("<exportImageTaskId>").Append(t.Id).Append("</exportImageTaskId><imageId>").Append(t.ImageId)
                .Append("</imageId><diskImageFormat>RAW</diskImageFormat><roleName>vmimport</roleName><s3ExportLocation><s3Bucket>").Append(t.Bucket).Append("</s3Bucket><s3Prefix>").Append(t.Prefix)
                .Append("</s3Prefix></s3ExportLocation><status>").Append(t.Status).Append("</status>");
            if (t.Status == "active") sb.Append("<progress>40</progress>");
            if (t.Message != null) sb.Append("<statusMessage>").Append(System.Security.SecurityElement.Escape(t.Message)).Append("</statusMessage>");
            return sb.Append("<tagSet/>").ToString();
        }

        private Ec2Response CancelExport(Ec2Request r)
        {
            string id = r.Get("ExportTaskId") ?? "";
            if (!ExportTasks.TryGetValue(id, out var t)) return Ec2Response.Error(400, "InvalidExportTaskID.NotFound", $"The export task ID '{id}' does not exist.");
            if (t.Status != "active") return Ec2Response.Error(400, "IncorrectState", $"Export task {id} is {t.Status} and cannot be cancelled.");
            t.Status = "deleted"; t.Message = "User initiated task cancelation";
            return Ec2Response.Ok(Begin("CancelExportTaskResponse").Append("<return>true</return>").Append(End("CancelExportTaskResponse")).ToString());
        }
    }
}
