using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Amazon.EC2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using Ec2Tag = Amazon.EC2.Model.Tag;
using DiskImage = GridAutomation.Core.Transport.DiskImage;

namespace GridAutomation.Providers.Aws
{
    /// <summary>
    /// AWS as a move source. AWS lets disks out only through VM Import/Export, and only for instances that were
    /// imported: an instance is exportable here when the AMI it was launched from carries our import tag
    /// (<see cref="ImportTag"/>, set by this module's ImportSnapshot + RegisterImage). The export, after the core's
    /// stop step: CreateImage of the stopped instance (NoReboot: it is stopped, so the image is consistent and holds
    /// what the guest wrote since the import, not the imported AMI's old bytes), ExportImage of that AMI as RAW into
    /// the source datacenter's export bucket under a prefix named after the move, polled through
    /// DescribeExportImageTasks, then the object is downloaded (SHA-256 on the way, size and MD5 ETag checked against
    /// S3's own), and the object, the AMI and its snapshots are deleted. Every name derives from the move's key and
    /// every id is checkpointed: a resume finds the AMI by its name and polls the export task it started (ExportImage
    /// also carries a client token), and a roll-back (<see cref="IDiskExportCleanup"/>) removes all of it.
    /// </summary>
    public sealed partial class AwsConnection : IDiskExportCleanup
    {
        /// <summary>Marks the image an export makes of the instance (deleted once the object is downloaded).</summary>
        internal const string ExportTag = "GridAutomationExport";
        internal const string ExportAmiNameCheckpoint = "aws.exportAmiName:";
        internal const string ExportAmiCheckpoint = "aws.exportAmi:";
        internal const string ExportPrefixCheckpoint = "aws.exportPrefix:";
        internal const string ExportTaskCheckpoint = "aws.exportTask:";
        /// <summary>The source datacenter's MoveDefaults setting naming the S3 bucket an export passes through (else its ImportBucket).</summary>
        public const string ExportBucketSetting = "ExportBucket";
        internal const string VmExportHelp = "https://docs.aws.amazon.com/vm-import/latest/userguide/vmexport.html";

        /// <summary>Exports go out as RAW (ExportImage also writes VMDK and VHD; the core converts raw to whatever the destination takes).</summary>
        public IReadOnlyList<DiskFormat> ExportFormats { get; } = new[] { DiskFormat.Raw };

        /// <summary>Test hook: called after each downloaded buffer with the bytes so far (an interrupted download is a cancellation from here).</summary>
        internal Action<long>? AfterDownloadBytes { get; set; }

        private string? ExportBucket()
        {
            var d = MovePlanner.Defaults(Datacenter);
            if (d.TryGetValue(ExportBucketSetting, out var b) && !string.IsNullOrWhiteSpace(b)) return b.Trim();
            if (d.TryGetValue("ImportBucket", out var i) && !string.IsNullOrWhiteSpace(i)) return i.Trim();
            return null;
        }

        /// <summary>Null when the instance can be exported; else why not and under which code (Test-GridMove reports it so):
        /// ExportNotAllowed (not imported, or more than one volume), ExportBucketMissing (no bucket named),
        /// ExportBucketNotFound (S3 HeadBucket: the bucket named does not exist; a bucket that cannot be checked is not a refusal).</summary>
        private async Task<(string Message, string Code)?> ExportRefusalAsync(Instance inst, int disks, CancellationToken ct)
        {
            bool imported = false;
            if (!string.IsNullOrEmpty(inst.ImageId))
            {
                var resp = await CallAsync("DescribeImages", inst.ImageId, c => _client.DescribeImagesAsync(new DescribeImagesRequest { ImageIds = new List<string> { inst.ImageId } }, c), ct).ConfigureAwait(false);
                imported = resp.Images?.Any(i => i.Tags?.Any(t => t.Key == ImportTag) == true) == true;
            }
            if (!imported)
                return ($"AWS exports only instances that were imported with VM Import/Export; {inst.InstanceId} was launched from image {inst.ImageId}, which no import of this module made, so AWS does not let its disks out (see {VmExportHelp}).", "ExportNotAllowed");
            if (disks != 1)
                return ($"{inst.InstanceId} was imported, but it has {disks} volumes now; this module exports an imported instance's one root volume (ExportImage of an image of the instance). Detach the other volumes first.", "ExportNotAllowed");
            string? bucket = ExportBucket();
            if (bucket == null)
                return ($"{inst.InstanceId} was imported and can be exported, but AWS datacenter '{Datacenter.Name}' names no S3 bucket for the export: store one with Connect-GridDatacenter -Name {Datacenter.Name} -MoveDefaults '{ExportBucketSetting}=...' (or ImportBucket=...); the vmimport role needs write access to it.", "ExportBucketMissing");
            if (await ExportBucketMissingAsync(bucket, ct).ConfigureAwait(false))
                return ($"The S3 bucket '{bucket}' that AWS datacenter '{Datacenter.Name}' names for exports ({ExportBucketSetting}, else ImportBucket) does not exist in region {_region}: create it (the vmimport role needs write access to it) or name another with -MoveDefaults '{ExportBucketSetting}=...'.", "ExportBucketNotFound");
            return null;
        }

        /// <summary>S3 HeadBucket of the export bucket, as the import bucket is checked: true only when S3 says it does not exist.</summary>
        private async Task<bool> ExportBucketMissingAsync(string bucket, CancellationToken ct)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(PreflightTimeout);
                await S3.HeadBucketAsync(new HeadBucketRequest { BucketName = bucket }, timeout.Token).ConfigureAwait(false);
                return false;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
            catch (AmazonS3Exception ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound || ex.ErrorCode == "NoSuchBucket") { return true; }
            catch (Exception ex) when (ex is AmazonS3Exception || ex is Amazon.Runtime.AmazonClientException || ex is System.Net.Http.HttpRequestException || ex is OperationCanceledException)
            {
                _verbose($"Aws: the export bucket '{bucket}' could not be checked ({AwsErrors.Scrub(ex.Message, _scrub)}); the export fails if it is missing.");
                return false;
            }
        }

        private string ExportName(string key, string disk)
        {
            using var sha = SHA256.Create();
            var h = sha.ComputeHash(Encoding.UTF8.GetBytes(_region + "\n" + key + "\nexport\n" + disk));
            return "gridexport-" + BitConverter.ToString(h, 0, 12).Replace("-", "").ToLowerInvariant();
        }

        public async Task<DiskImage> ExportDiskAsync(string nativeId, MoveDisk disk, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (disk == null) throw new ArgumentNullException(nameof(disk));
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            var cp = scope.Checkpoints;
            string? ami = cp.TryGetValue(ExportAmiCheckpoint + disk.Name, out var a) ? a : null;
            if (ami == null)
            {
                // an export resumed after its image was deleted has its object already: only a first run needs the refusal check
                if (await ExportRefusalAsync(inst, 1, cancellationToken).ConfigureAwait(false) is (string why, string code))
                    throw code == "ExportBucketMissing" ? GridException.InvalidRequest(why, code, Datacenter.Name)
                        : code == "ExportBucketNotFound" ? GridException.NotFound(why, code, Datacenter.Name)
                        : GridException.Unsupported(why, code);
            }
            string bucket = ExportBucket() ?? throw GridException.InvalidRequest($"AWS datacenter '{Datacenter.Name}' names no S3 bucket for the export (MoveDefaults {ExportBucketSetting}=...).", "SourceOptionMissing", Datacenter.Name);
            string name = ExportName(scope.IdempotencyKey, disk.Name);
            string prefix = name + "/";
            string staged = Path.Combine(tempFolder, disk.Name + ".raw");

            string? task = cp.TryGetValue(ExportTaskCheckpoint + disk.Name, out var t) ? t : null;
            if (task == null)
            {
                // 1. an image of the stopped instance (the core's stop step ran): what the guest wrote since the import
                if (ami == null)
                {
                    scope.Checkpoint(ExportAmiNameCheckpoint + disk.Name, name); // before the image exists: a roll-back finds it by name
                    ami = await FindImageAsync(name, cancellationToken).ConfigureAwait(false);
                    if (ami == null)
                    {
                        scope.Report(new GridProgress("Exporting " + disk.Name, "Creating image " + name + " of " + nativeId, 5));
                        ami = (await CallAsync("CreateImage", nativeId, c => _client.CreateImageAsync(new CreateImageRequest
                        {
                            InstanceId = nativeId, Name = name, NoReboot = true, Description = "GridAutomation move (export) of " + nativeId,
                            TagSpecifications = new List<TagSpecification> { new TagSpecification { ResourceType = "image", Tags = new List<Ec2Tag> { new Ec2Tag(ExportTag, name) } } },
                        }, c), cancellationToken).ConfigureAwait(false)).ImageId;
                    }
                    scope.Checkpoint(ExportAmiCheckpoint + disk.Name, ami);
                }
                await WaitForImageAsync(ami, disk.Name, scope, cancellationToken).ConfigureAwait(false);

                // 2. the export task (a client token from the move's key: a repeated call returns the same task)
                scope.Checkpoint(ExportPrefixCheckpoint + disk.Name, bucket + "/" + prefix); // before anything is written there
                var resp = await CallAsync("ExportImage", disk.Name, c => _client.ExportImageAsync(new ExportImageRequest
                {
                    ClientToken = ClientTokenFor(_region, scope.IdempotencyKey + "\nexport\n" + disk.Name),
                    ImageId = ami, DiskImageFormat = "RAW", RoleName = "vmimport", Description = "GridAutomation move " + name,
                    S3ExportLocation = new ExportTaskS3LocationRequest { S3Bucket = bucket, S3Prefix = prefix },
                }, c), cancellationToken).ConfigureAwait(false);
                task = resp.ExportImageTaskId;
                scope.Checkpoint(ExportTaskCheckpoint + disk.Name, task);
            }
            await WaitForExportTaskAsync(task!, disk.Name, scope, cancellationToken).ConfigureAwait(false);

            // 3. the object: downloaded, hashed on the way, checked against S3's length and (single-part) MD5
            var obj = await ExportObjectAsync(bucket, prefix, task!, disk.Name, cancellationToken).ConfigureAwait(false);
            string hash = await DownloadAsync(bucket, obj, staged, disk.Name, scope, cancellationToken).ConfigureAwait(false);

            // 4. the export's leftovers: the object, the image and its snapshots
            await DiscardExportAsync(scope.Checkpoints, disk.Name, cancellationToken).ConfigureAwait(false); // read again: what this run checkpointed too
            return new DiskImage { Name = disk.Name, Format = DiskFormat.Raw, CapacityBytes = new FileInfo(staged).Length, Path = staged, ContentHash = hash };
        }

        private Task WaitForImageAsync(string ami, string what, IOperationScope scope, CancellationToken ct)
        {
            string? state = null;
            return PollAsync(async c =>
            {
                var resp = await CallAsync("DescribeImages", ami, t => _client.DescribeImagesAsync(new DescribeImagesRequest { ImageIds = new List<string> { ami } }, t), c).ConfigureAwait(false);
                state = resp.Images?.FirstOrDefault(i => i.ImageId == ami)?.State?.Value;
                if (state == "available") return state;
                if (state == null || state == "failed" || state == "invalid" || state == "deregistered")
                    throw new GridException(GridErrorKind.Conflict, $"The image {ami} made to export disk '{what}' is {state ?? "gone"}.", "AwsExportFailed") { Target = what };
                scope.Report(new GridProgress("Exporting " + what, $"image {ami}: {state}", 10));
                return null;
            }, () => $"The image {ami} of disk '{what}' was not available within {WaitTimeout.TotalMinutes:0} minutes (last: {state}).", what, ct);
        }

        private Task WaitForExportTaskAsync(string task, string what, IOperationScope scope, CancellationToken ct)
        {
            string status = "";
            return PollAsync(async c =>
            {
                var resp = await CallAsync("DescribeExportImageTasks", what, t => _client.DescribeExportImageTasksAsync(
                    new DescribeExportImageTasksRequest { ExportImageTaskIds = new List<string> { task } }, t), c).ConfigureAwait(false);
                var d = resp.ExportImageTasks?.FirstOrDefault(x => x.ExportImageTaskId == task);
                if (d == null) throw new GridException(GridErrorKind.NotFound, $"The export task {task} of disk '{what}' is gone.", "AwsExportTaskNotFound") { Target = what };
                status = d.Status ?? "";
                scope.Report(new GridProgress("Exporting " + what, $"{task}: {status} {d.StatusMessage}".Trim(), int.TryParse(d.Progress, out var p) ? p : -1));
                if (status == "completed") return status;
                if (status == "deleted" || status == "deleting")
                {
                    if (d.StatusMessage != null && d.StatusMessage.IndexOf("vmimport", StringComparison.OrdinalIgnoreCase) >= 0)
                        throw new GridException(GridErrorKind.Unauthorized, $"The export of disk '{what}' failed: {d.StatusMessage}. The vmimport service role needs write access to the export bucket: see {VmImportRoleHelp}.", "AwsVmImportRoleMissing") { Target = what, NativeCode = "vmimport" };
                    throw new GridException(GridErrorKind.Conflict, $"The export task {task} of disk '{what}' failed: {d.StatusMessage ?? "no reason given"}.", "AwsExportFailed") { Target = what };
                }
                return null;
            }, () => $"The export task {task} of disk '{what}' did not finish within {WaitTimeout.TotalMinutes:0} minutes (last: {status}).", what, ct);
        }

        /// <summary>The one object the task wrote under the move's prefix (AWS names it &lt;prefix&gt;&lt;task id&gt;.raw).</summary>
        private async Task<S3Object> ExportObjectAsync(string bucket, string prefix, string task, string what, CancellationToken ct)
        {
            var objects = await ListAsync(bucket, prefix, ct).ConfigureAwait(false);
            return objects.FirstOrDefault(o => o.Key == prefix + task + ".raw") ?? objects.FirstOrDefault(o => o.Key.EndsWith(".raw", StringComparison.OrdinalIgnoreCase))
                ?? throw new GridException(GridErrorKind.NotFound, $"The export task {task} of disk '{what}' completed, but s3://{bucket}/{prefix} holds no image.", "AwsExportFailed") { Target = what };
        }

        private async Task<List<S3Object>> ListAsync(string bucket, string prefix, CancellationToken ct)
        {
            var all = new List<S3Object>();
            try
            {
                var req = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix };
                ListObjectsV2Response resp;
                do
                {
                    resp = await S3.ListObjectsV2Async(req, ct).ConfigureAwait(false);
                    all.AddRange(resp.S3Objects ?? new List<S3Object>());
                    req.ContinuationToken = resp.NextContinuationToken;
                } while (resp.IsTruncated == true);
            }
            catch (Exception ex) when (!(ex is OperationCanceledException)) { throw S3Error(ex, "ListObjectsV2", bucket); }
            return all;
        }

        private async Task<string> DownloadAsync(string bucket, S3Object obj, string path, string what, IOperationScope scope, CancellationToken ct)
        {
            string partial = path + ".partial";
            long total = obj.Size ?? 0;
            scope.Report(new GridProgress("Downloading " + what, $"from s3://{bucket}/{obj.Key} ({total / Mib} MiB)", 0));
            string etag = (obj.ETag ?? "").Trim('"');
            try
            {
                using var resp = await S3.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = obj.Key }, ct).ConfigureAwait(false);
                using var sha = SHA256.Create();
                using var md5 = MD5.Create();
                long done = 0;
                using (var fs = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
                {
                    var buf = new byte[1 << 20];
                    int n;
                    while ((n = await resp.ResponseStream.ReadAsync(buf, 0, buf.Length, ct).ConfigureAwait(false)) > 0)
                    {
                        sha.TransformBlock(buf, 0, n, null, 0);
                        md5.TransformBlock(buf, 0, n, null, 0);
                        await fs.WriteAsync(buf, 0, n, ct).ConfigureAwait(false);
                        done += n;
                        if (total > 0) scope.Report(new GridProgress("Downloading " + what, $"{done / Mib} of {total / Mib} MiB", (int)(100 * done / total)));
                        AfterDownloadBytes?.Invoke(done);
                        ct.ThrowIfCancellationRequested();
                    }
                }
                sha.TransformFinalBlock(Array.Empty<byte>(), 0, 0);
                md5.TransformFinalBlock(Array.Empty<byte>(), 0, 0);
                string hex = BitConverter.ToString(md5.Hash!).Replace("-", "").ToLowerInvariant();
                if (done != total || (etag.Length == 32 && etag.IndexOf('-') < 0 && !string.Equals(etag, hex, StringComparison.OrdinalIgnoreCase)))
                    throw GridException.Conflict($"The download of disk '{what}' from s3://{bucket}/{obj.Key} is damaged: {done} of {total} bytes, MD5 {hex} (S3 says {etag}).", "DiskVerifyFailed", what);
                if (File.Exists(path)) File.Delete(path);
                File.Move(partial, path);
                return BitConverter.ToString(sha.Hash!).Replace("-", "").ToLowerInvariant();
            }
            catch (Exception ex) when (!(ex is GridException) && !(ex is OperationCanceledException && ct.IsCancellationRequested))
            {
                throw S3Error(ex, "GetObject", bucket);
            }
            finally
            {
                if (File.Exists(partial)) try { File.Delete(partial); } catch (IOException) { }
            }
        }

        /// <summary>Roll-back of a move out of AWS: cancels a running export task and removes its objects, the image and its snapshots.</summary>
        public async Task DiscardExportsAsync(IOperationScope scope, CancellationToken cancellationToken)
        {
            await DiscardPointSnapshotsAsync(scope, cancellationToken).ConfigureAwait(false); // a recovery point's snapshots (AwsRunningExport.cs)
            var cp = scope.Checkpoints;
            foreach (var disk in cp.Keys.Where(k => k.StartsWith(ExportAmiNameCheckpoint, StringComparison.Ordinal)).Select(k => k.Substring(ExportAmiNameCheckpoint.Length)).ToList())
            {
                if (cp.TryGetValue(ExportTaskCheckpoint + disk, out var task))
                {
                    var resp = await CallAsync("DescribeExportImageTasks", disk, c => _client.DescribeExportImageTasksAsync(new DescribeExportImageTasksRequest { ExportImageTaskIds = new List<string> { task } }, c), cancellationToken).ConfigureAwait(false);
                    if (resp.ExportImageTasks?.FirstOrDefault(x => x.ExportImageTaskId == task)?.Status == "active")
                    {
                        try { await CallAsync("CancelExportTask", task, c => _client.CancelExportTaskAsync(new CancelExportTaskRequest { ExportTaskId = task }, c), cancellationToken).ConfigureAwait(false); }
                        catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound || ex.Kind == GridErrorKind.Conflict) { }
                    }
                }
                await DiscardExportAsync(cp, disk, cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task DiscardExportAsync(IReadOnlyDictionary<string, string> cp, string disk, CancellationToken ct)
        {
            if (cp.TryGetValue(ExportPrefixCheckpoint + disk, out var where))
            {
                int slash = where.IndexOf('/');
                string bucket = where.Substring(0, slash), prefix = where.Substring(slash + 1);
                foreach (var o in await ListAsync(bucket, prefix, ct).ConfigureAwait(false))
                    await DeleteObjectAsync(bucket, o.Key, ct).ConfigureAwait(false);
            }
            string? ami = cp.TryGetValue(ExportAmiCheckpoint + disk, out var a) ? a
                : cp.TryGetValue(ExportAmiNameCheckpoint + disk, out var n) ? await FindImageAsync(n, ct).ConfigureAwait(false) : null;
            if (ami == null) return;
            var images = await CallAsync("DescribeImages", ami, c => _client.DescribeImagesAsync(new DescribeImagesRequest { ImageIds = new List<string> { ami } }, c), ct).ConfigureAwait(false);
            var image = images.Images?.FirstOrDefault(i => i.ImageId == ami);
            if (image == null) return;
            try { await CallAsync("DeregisterImage", ami, c => _client.DeregisterImageAsync(new DeregisterImageRequest { ImageId = ami }, c), ct).ConfigureAwait(false); }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { }
            foreach (var m in image.BlockDeviceMappings ?? new List<BlockDeviceMapping>())
                if (m.Ebs?.SnapshotId is string sid && !string.IsNullOrEmpty(sid)) await DeleteSnapshotAsync(sid, ct).ConfigureAwait(false);
        }

        /// <summary>EBS bytes cannot be read through the EC2 API; an export is checked against S3's length and MD5 of the object instead.</summary>
        public Task<string> HashDiskAsync(string nativeId, int index, CancellationToken cancellationToken)
            => throw GridException.Unsupported("Reading an EBS volume's bytes is not possible through the EC2 API; the export was checked against the S3 object's length and MD5 instead.", "ExportNotAllowed");
    }
}
