using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using Ec2Tag = Amazon.EC2.Model.Tag;
using Ec2Filter = Amazon.EC2.Model.Filter;
using DiskImage = GridAutomation.Core.Transport.DiskImage;

namespace GridAutomation.Providers.Aws
{
    /// <summary>
    /// AWS's side of moves (import; the export of imported instances is in AwsExport.cs): the staged image (raw, fixed VHD or stream-optimized VMDK) is uploaded to the
    /// user's S3 bucket (ImportBucket), ImportSnapshot turns it into an EBS snapshot (polled through
    /// DescribeImportSnapshotTasks), RegisterImage makes an AMI of it (root device, boot mode from the source's
    /// firmware, ENA), and the move's create launches the instance from that AMI. The S3 object is deleted once the
    /// snapshot exists. Every name is derived from the move's key, so a resumed import finds what an earlier run made.
    /// Uploads are signed, non-chunked (UseChunkEncoding = false) and carry no checksum trailer unless S3 requires
    /// one: real S3 takes them, and so does an S3 emulator that does not decode aws-chunked bodies. The same client
    /// settings serve the product and the tests.
    /// </summary>
    public sealed partial class AwsConnection : IDiskTransport, IDiskTransfer, IDiskImportCleanup
    {
        private static readonly DiskFormat[] ImportableFormats = { DiskFormat.Raw, DiskFormat.VhdFixed, DiskFormat.VmdkStreamOptimized };
        internal const string ImportTag = "GridAutomationImport";
        internal const string ObjectCheckpoint = "aws.importObject:";
        internal const string TaskCheckpoint = "aws.importTask:";
        internal const string SnapshotCheckpoint = "aws.importSnapshot:";
        internal const string ImageCheckpoint = "aws.importImage:";
        internal const string VmImportRoleHelp = "https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html";
        private const long Mib = 1024 * 1024;

        private readonly AWSCredentials _credentials;
        private readonly string? _s3Endpoint;
        private AmazonS3Client? _s3;
        private readonly object _s3Gate = new object();

        /// <summary>Images at least this big go up as a multipart upload of parts this big (S3: 5 MiB .. 5 GiB a part).</summary>
        internal long PartSize { get; set; } = 64 * Mib;
        /// <summary>Test hook: called after each uploaded part (an interrupted upload is a cancellation from here).</summary>
        internal Action<int>? AfterPartUpload { get; set; }

        public IReadOnlyList<DiskFormat> ImportFormats => ImportableFormats;
        /// <summary>ImportSnapshot takes disks up to 16 TiB (the EBS snapshot limit).</summary>
        public long? MaxDiskBytes => 16L * 1024 * 1024 * 1024 * 1024;
        public IReadOnlyList<string> SupportedFirmware { get; } = new[] { "bios", "uefi" };
        /// <summary>The bucket the image goes through, and the network the instance joins.</summary>
        public IReadOnlyList<string> RequiredOptions { get; } = new[] { "ImportBucket", "SubnetId", "SecurityGroupIds" };
        public long? BandwidthBytesPerSecond => null;

        /// <summary>The S3 client, made on first use with the connection's credentials; the settings are the product's, whatever the endpoint.</summary>
        internal AmazonS3Client S3
        {
            get
            {
                lock (_s3Gate)
                {
                    if (_s3 != null) return _s3;
                    var config = new AmazonS3Config
                    {
                        MaxErrorRetry = 0,
                        Timeout = TimeSpan.FromMinutes(10),
                        // no CRC trailer (and so no aws-chunked body) unless an operation requires a checksum
                        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
                        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
                    };
                    if (_s3Endpoint != null) { config.ServiceURL = _s3Endpoint; config.ForcePathStyle = true; config.AuthenticationRegion = _region; }
                    else config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(_region);
                    _s3 = new AmazonS3Client(_credentials, config);
                    return _s3;
                }
            }
        }

        public async Task<MoveSourceInfo> DescribeAsync(string nativeId, CancellationToken cancellationToken)
        {
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            var info = new MoveSourceInfo { Firmware = string.Equals(inst.BootMode?.Value, "uefi", StringComparison.OrdinalIgnoreCase) ? "uefi" : "bios" };
            int n = 0;
            foreach (var m in inst.BlockDeviceMappings ?? new List<InstanceBlockDeviceMapping>())
            {
                long bytes = 0;
                if (m.Ebs?.VolumeId is string vid)
                {
                    var vols = await CallAsync("DescribeVolumes", Target(nativeId),
                        c => _client.DescribeVolumesAsync(new DescribeVolumesRequest { VolumeIds = new List<string> { vid } }, c), cancellationToken).ConfigureAwait(false);
                    bytes = (vols.Volumes?.FirstOrDefault()?.Size ?? 0) * 1024L * Mib;
                }
                info.Disks.Add(new MoveDisk { Name = "disk" + n, NativeId = m.Ebs?.VolumeId, Format = DiskFormat.Raw, CapacityBytes = bytes, TransferBytes = bytes, IsOsDisk = m.DeviceName == inst.RootDeviceName });
                n++;
            }
            var refusal = await ExportRefusalAsync(inst, info.Disks.Count, cancellationToken).ConfigureAwait(false);
            info.ExportRefusal = refusal?.Message;
            info.ExportRefusalCode = refusal?.Code;
            return info;
        }

        // ---------------------------------------------------------------- names

        /// <summary>24 hex chars of SHA-256 over the datacenter's region, the move's key and the disk: the same on every resume.</summary>
        internal string ImportName(string key, string diskName)
        {
            using var sha = SHA256.Create();
            var h = sha.ComputeHash(Encoding.UTF8.GetBytes(_region + "\n" + key + "\n" + diskName));
            return "gridmove-" + BitConverter.ToString(h, 0, 12).Replace("-", "").ToLowerInvariant();
        }

        internal static string FormatName(DiskFormat f) => f switch
        {
            DiskFormat.Raw => "RAW",
            DiskFormat.VhdFixed => "VHD",
            DiskFormat.VmdkStreamOptimized => "VMDK",
            _ => throw GridException.Unsupported($"AWS imports raw, fixed VHD or stream-optimized VMDK images, not {f}.", "UnsupportedDiskFormat"),
        };

        private string Bucket(DiskImage image)
        {
            string? b = null;
            if (image.Options != null && image.Options.TryGetValue("ImportBucket", out var o) && !string.IsNullOrWhiteSpace(o)) b = o.Trim();
            if (b == null && MovePlanner.Defaults(Datacenter).TryGetValue("ImportBucket", out var d) && !string.IsNullOrWhiteSpace(d)) b = d.Trim();
            return b ?? throw GridException.InvalidRequest($"An import into AWS datacenter '{Datacenter.Name}' needs an S3 bucket of yours: give -Option @{{ ImportBucket = '...' }} or -MoveDefaults 'ImportBucket=...'.", "DestinationOptionMissing", Datacenter.Name);
        }

        // ---------------------------------------------------------------- import

        public async Task<string> ImportDiskAsync(DiskImage image, string key, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            string format = FormatName(image.Format);
            if (string.IsNullOrEmpty(image.Path) || !File.Exists(image.Path))
                throw GridException.InvalidRequest($"The staged disk '{image.Name}' is missing from the temp folder.", "DiskImageMissing");
            string name = ImportName(key, image.Name);
            string bucket = Bucket(image);
            string objectKey = name + "." + format.ToLowerInvariant();

            // 1. the AMI may exist already (a resumed import after RegisterImage): nothing left to do
            var existing = await FindImageAsync(name, cancellationToken).ConfigureAwait(false);
            if (existing != null) { scope.Checkpoint(ImageCheckpoint + image.Name, existing); return existing; }

            // 2. the snapshot: an import task of ours, found by its checkpoint, or a new one on an uploaded object
            string? snapshot = scope.Checkpoints.TryGetValue(SnapshotCheckpoint + image.Name, out var s) ? s : null;
            if (snapshot == null)
            {
                scope.Checkpoint(ObjectCheckpoint + image.Name, bucket + "/" + objectKey); // before the object exists: a roll-back finds it
                string? task = scope.Checkpoints.TryGetValue(TaskCheckpoint + image.Name, out var t) ? t : null;
                if (task == null)
                {
                    await UploadAsync(bucket, objectKey, image.Path!, image.Name, scope, cancellationToken).ConfigureAwait(false);
                    var req = new ImportSnapshotRequest
                    {
                        ClientToken = ClientTokenFor(_region, key + "\nsnapshot\n" + image.Name),
                        Description = "GridAutomation move " + name,
                        DiskContainer = new SnapshotDiskContainer { Format = format, Description = image.Name, UserBucket = new UserBucket { S3Bucket = bucket, S3Key = objectKey } },
                        TagSpecifications = new List<TagSpecification> { new TagSpecification { ResourceType = "import-snapshot-task", Tags = new List<Ec2Tag> { new Ec2Tag(ImportTag, name) } } },
                    };
                    var resp = await CallAsync("ImportSnapshot", image.Name, c => _client.ImportSnapshotAsync(req, c), cancellationToken).ConfigureAwait(false);
                    task = resp.ImportTaskId;
                    scope.Checkpoint(TaskCheckpoint + image.Name, task);
                }
                snapshot = await WaitForSnapshotTaskAsync(task!, image.Name, scope, cancellationToken).ConfigureAwait(false);
                scope.Checkpoint(SnapshotCheckpoint + image.Name, snapshot);
                await TagAsync(snapshot, name, cancellationToken).ConfigureAwait(false);
                // the snapshot holds the bytes now: the uploaded object has served its purpose
                await DeleteObjectAsync(bucket, objectKey, cancellationToken).ConfigureAwait(false);
            }

            // 3. the AMI
            bool uefi = string.Equals(image.Firmware, "uefi", StringComparison.OrdinalIgnoreCase);
            const string root = "/dev/xvda";
            var reg = new RegisterImageRequest
            {
                Name = name,
                Description = "GridAutomation move of disk " + image.Name,
                Architecture = "x86_64",
                VirtualizationType = "hvm",
                RootDeviceName = root,
                BootMode = uefi ? "uefi" : "legacy-bios",
                EnaSupport = true,
                BlockDeviceMappings = new List<BlockDeviceMapping> { new BlockDeviceMapping { DeviceName = root, Ebs = new EbsBlockDevice { SnapshotId = snapshot, DeleteOnTermination = true, VolumeType = "gp3" } } },
                TagSpecifications = new List<TagSpecification> { new TagSpecification { ResourceType = "image", Tags = new List<Ec2Tag> { new Ec2Tag(ImportTag, name) } } },
            };
            scope.Report(new GridProgress("Importing " + image.Name, "Registering image " + name, 95));
            var ami = (await CallAsync("RegisterImage", image.Name, c => _client.RegisterImageAsync(reg, c), cancellationToken).ConfigureAwait(false)).ImageId;
            scope.Checkpoint(ImageCheckpoint + image.Name, ami);
            return ami;
        }

        private async Task<string?> FindImageAsync(string name, CancellationToken ct)
        {
            var resp = await CallAsync("DescribeImages", name, c => _client.DescribeImagesAsync(new DescribeImagesRequest
            {
                Owners = new List<string> { "self" },
                Filters = new List<Ec2Filter> { new Ec2Filter("name", new List<string> { name }) },
            }, c), ct).ConfigureAwait(false);
            return resp.Images?.FirstOrDefault(i => i.Name == name)?.ImageId;
        }

        private Task TagAsync(string resource, string name, CancellationToken ct)
            => CallAsync("CreateTags", resource, c => _client.CreateTagsAsync(new CreateTagsRequest { Resources = new List<string> { resource }, Tags = new List<Ec2Tag> { new Ec2Tag(ImportTag, name) } }, c), ct);

        /// <summary>Polls DescribeImportSnapshotTasks until the task completes (its snapshot id) or fails (an error with AWS's reason).</summary>
        private Task<string> WaitForSnapshotTaskAsync(string task, string what, IOperationScope scope, CancellationToken ct)
        {
            string status = "";
            return PollAsync(async c =>
            {
                var resp = await CallAsync("DescribeImportSnapshotTasks", what, t => _client.DescribeImportSnapshotTasksAsync(
                    new DescribeImportSnapshotTasksRequest { ImportTaskIds = new List<string> { task } }, t), c).ConfigureAwait(false);
                var d = resp.ImportSnapshotTasks?.FirstOrDefault(x => x.ImportTaskId == task)?.SnapshotTaskDetail;
                if (d == null) throw new GridException(GridErrorKind.NotFound, $"The import task {task} of disk '{what}' is gone.", "AwsImportTaskNotFound") { Target = what };
                status = d.Status ?? "";
                int pct = int.TryParse(d.Progress, out var p) ? p : -1;
                scope.Report(new GridProgress("Importing " + what, $"{task}: {status} {d.StatusMessage}".Trim(), pct));
                if (status == "completed" && !string.IsNullOrEmpty(d.SnapshotId)) return d.SnapshotId;
                if (status == "deleted" || status == "deleting")
                    throw ImportTaskFailed(task, what, d.StatusMessage);
                return null;
            }, () => $"The import task {task} of disk '{what}' did not finish within {WaitTimeout.TotalMinutes:0} minutes (last: {status}).", what, ct);
        }

        internal static GridException ImportTaskFailed(string task, string what, string? message)
        {
            if (message != null && message.IndexOf("vmimport", StringComparison.OrdinalIgnoreCase) >= 0)
                return new GridException(GridErrorKind.Unauthorized, $"The import of disk '{what}' failed: {message}. The vmimport service role is yours to create in the account: see {VmImportRoleHelp}.", "AwsVmImportRoleMissing") { Target = what, NativeCode = "vmimport" };
            return new GridException(GridErrorKind.Conflict, $"The import task {task} of disk '{what}' failed: {message ?? "no reason given"}.", "AwsImportTaskFailed") { Target = what };
        }

        // ---------------------------------------------------------------- S3

        /// <summary>
        /// Streams the file to S3: one PutObject below <see cref="PartSize"/>, else a multipart upload of parts read
        /// from the file (each part seeks into it; nothing is held in memory). An object of the right size from an
        /// earlier run is kept.
        /// </summary>
        private async Task UploadAsync(string bucket, string objectKey, string path, string what, IOperationScope scope, CancellationToken ct)
        {
            long length = new FileInfo(path).Length;
            try
            {
                var head = await S3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = objectKey }, ct).ConfigureAwait(false);
                if (head.ContentLength == length) { _verbose($"Aws: s3://{bucket}/{objectKey} was uploaded already; not uploading again."); return; }
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound) { }
            catch (Exception ex) when (!(ex is OperationCanceledException)) { throw S3Error(ex, "HeadObject", bucket); }

            scope.Report(new GridProgress("Uploading " + what, $"to s3://{bucket}/{objectKey} ({length / Mib} MiB)", 0));
            try
            {
                if (length < PartSize)
                {
                    await S3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = objectKey, FilePath = path, UseChunkEncoding = false }, ct).ConfigureAwait(false);
                    AfterPartUpload?.Invoke(1);
                    return;
                }
                var init = await S3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = bucket, Key = objectKey }, ct).ConfigureAwait(false);
                try
                {
                    var parts = new List<PartETag>();
                    int n = 0;
                    for (long at = 0; at < length; at += PartSize)
                    {
                        n++;
                        long size = Math.Min(PartSize, length - at);
                        var up = await S3.UploadPartAsync(new UploadPartRequest
                        {
                            BucketName = bucket, Key = objectKey, UploadId = init.UploadId, PartNumber = n,
                            FilePath = path, FilePosition = at, PartSize = size, UseChunkEncoding = false,
                        }, ct).ConfigureAwait(false);
                        parts.Add(new PartETag(n, up.ETag));
                        scope.Report(new GridProgress("Uploading " + what, $"{(at + size) / Mib} of {length / Mib} MiB", (int)(100 * (at + size) / length)));
                        AfterPartUpload?.Invoke(n);
                    }
                    await S3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = bucket, Key = objectKey, UploadId = init.UploadId, PartETags = parts }, ct).ConfigureAwait(false);
                }
                catch
                {
                    try { await S3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, Key = objectKey, UploadId = init.UploadId }, CancellationToken.None).ConfigureAwait(false); }
                    catch (Exception) { /* the roll-back deletes the object; an abandoned upload holds no object */ }
                    throw;
                }
            }
            catch (Exception ex) when (!(ex is GridException) && !(ex is OperationCanceledException && ct.IsCancellationRequested))
            {
                throw S3Error(ex, "Upload", bucket);
            }
        }

        private async Task DeleteObjectAsync(string bucket, string objectKey, CancellationToken ct)
        {
            try { await S3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = objectKey }, ct).ConfigureAwait(false); }
            catch (AmazonS3Exception ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound) { }
            catch (Exception ex) when (!(ex is OperationCanceledException)) { throw S3Error(ex, "DeleteObject", bucket); }
        }

        private GridException S3Error(Exception ex, string action, string bucket)
        {
            if (ex is AmazonS3Exception s3 && (s3.ErrorCode == "NoSuchBucket" || s3.StatusCode == System.Net.HttpStatusCode.NotFound))
                return GridException.InvalidRequest($"The S3 bucket '{bucket}' (ImportBucket) does not exist in region {_region}: create it first (the image passes through it).", "AwsImportBucketNotFound", bucket);
            return AwsErrors.Map(ex, "S3 " + action, bucket, CancellationToken.None, _scrub);
        }

        // ---------------------------------------------------------------- roll-back

        /// <summary>Roll-back: deregisters the AMI, deletes the snapshot and the S3 object this operation's imports made (found by their checkpoints).</summary>
        public async Task DiscardImportsAsync(IOperationScope scope, CancellationToken cancellationToken)
        {
            var cp = scope.Checkpoints;
            foreach (var kv in cp.Where(k => k.Key.StartsWith(ImageCheckpoint, StringComparison.Ordinal)).ToList())
            {
                try { await CallAsync("DeregisterImage", kv.Value, c => _client.DeregisterImageAsync(new DeregisterImageRequest { ImageId = kv.Value }, c), cancellationToken).ConfigureAwait(false); }
                catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { }
            }
            // An import task whose snapshot was not checkpointed: cancel it if it still runs, else delete the snapshot it
            // made. A task whose id was never checkpointed (interrupted while ImportSnapshot was answering) is found
            // by the S3 object it reads, which is named after the move.
            var tasks = new List<ImportSnapshotTask>();
            foreach (var kv in cp.Where(k => k.Key.StartsWith(ObjectCheckpoint, StringComparison.Ordinal)).ToList())
            {
                string disk = kv.Key.Substring(ObjectCheckpoint.Length);
                if (cp.ContainsKey(SnapshotCheckpoint + disk)) continue;
                var req = new DescribeImportSnapshotTasksRequest();
                if (cp.TryGetValue(TaskCheckpoint + disk, out var id)) req.ImportTaskIds = new List<string> { id };
                string? next = null;
                do
                {
                    req.NextToken = next;
                    var resp = await CallAsync("DescribeImportSnapshotTasks", disk, c => _client.DescribeImportSnapshotTasksAsync(req, c), cancellationToken).ConfigureAwait(false);
                    tasks.AddRange((resp.ImportSnapshotTasks ?? new List<ImportSnapshotTask>())
                        .Where(t => t.ImportTaskId == id || kv.Value == t.SnapshotTaskDetail?.UserBucket?.S3Bucket + "/" + t.SnapshotTaskDetail?.UserBucket?.S3Key));
                    next = resp.NextToken;
                } while (!string.IsNullOrEmpty(next));
            }
            foreach (var t in tasks)
            {
                var d = t.SnapshotTaskDetail;
                if (d?.SnapshotId is string sid && !string.IsNullOrEmpty(sid)) await DeleteSnapshotAsync(sid, cancellationToken).ConfigureAwait(false);
                else if (d != null && d.Status != "deleted" && d.Status != "deleting")
                {
                    try { await CallAsync("CancelImportTask", t.ImportTaskId, c => _client.CancelImportTaskAsync(new CancelImportTaskRequest { ImportTaskId = t.ImportTaskId }, c), cancellationToken).ConfigureAwait(false); }
                    catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound || ex.Kind == GridErrorKind.Conflict) { }
                }
            }
            foreach (var kv in cp.Where(k => k.Key.StartsWith(SnapshotCheckpoint, StringComparison.Ordinal)).ToList())
                await DeleteSnapshotAsync(kv.Value, cancellationToken).ConfigureAwait(false);
            foreach (var kv in cp.Where(k => k.Key.StartsWith(ObjectCheckpoint, StringComparison.Ordinal)).ToList())
            {
                int slash = kv.Value.IndexOf('/');
                if (slash > 0) await DeleteObjectAsync(kv.Value.Substring(0, slash), kv.Value.Substring(slash + 1), cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task DeleteSnapshotAsync(string id, CancellationToken ct)
        {
            try { await CallAsync("DeleteSnapshot", id, c => _client.DeleteSnapshotAsync(new DeleteSnapshotRequest { SnapshotId = id }, c), ct).ConfigureAwait(false); }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { }
        }
    }
}
