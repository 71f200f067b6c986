using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Amazon.EC2.Model;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using Ec2Tag = Amazon.EC2.Model.Tag;
using Ec2Filter = Amazon.EC2.Model.Filter;
using DiskImage = GridAutomation.Core.Transport.DiskImage;

namespace GridAutomation.Providers.Aws
{
    /// <summary>
    /// Recovery points of a RUNNING instance (issue 17), any instance, not only imported ones: EC2 CreateSnapshot of
    /// each EBS volume (crash-consistent per volume; the instance keeps running; the volumes of a multi-volume instance
    /// are snapshotted one after another, not at one instant), waited for until completed, then read block by block
    /// through the EBS direct APIs (<see cref="ListSnapshotBlocksAsync"/> + <see cref="GetSnapshotBlockAsync"/>, every
    /// block's SHA-256 checked; blocks not listed are zeros, left as holes of a sparse file) into a raw staging file of
    /// the volume's size, hashed on the way, and the snapshot is deleted.
    /// Idempotent under the operation's key: each snapshot carries <see cref="PointSnapshotTag"/> = the instance and
    /// <see cref="PointNameTag"/> = a name from the key and the volume, so a resumed call finds the snapshot an
    /// interrupted one made instead of making a second; snapshots of this instance under another name (what a killed
    /// run left) are deleted first. A call deletes its snapshots when it ends, successfully or with an error; when it is
    /// cancelled (interrupted) they stay for the resume, and a roll-back (<see cref="DiscardExportsAsync"/>) or the
    /// instance's next point deletes them.
    /// </summary>
    public sealed partial class AwsConnection : IRunningDiskExport
    {
        /// <summary>Tag on our recovery point snapshots; its value is the instance id.</summary>
        internal const string PointSnapshotTag = "GridAutomationRecoveryPoint";
        /// <summary>Tag naming the point (from the operation key and the volume): how a resumed call finds its snapshot.</summary>
        internal const string PointNameTag = "GridAutomationPoint";
        internal const string PointSnapshotCheckpoint = "aws.pointSnapshot:";

        /// <summary>Test hook: called after each block written to the staging file with its index (an interrupted read is a cancellation from here).</summary>
        internal Action<long>? AfterSnapshotBlock { get; set; }

        internal string PointName(string key, string volumeId)
        {
            using var sha = SHA256.Create();
            var h = sha.ComputeHash(Encoding.UTF8.GetBytes(_region + "\n" + key + "\npoint\n" + volumeId));
            return "gridpoint-" + BitConverter.ToString(h, 0, 12).Replace("-", "").ToLowerInvariant();
        }

        public async Task<IReadOnlyList<DiskImage>> ExportRunningDisksAsync(string nativeId, IReadOnlyList<MoveDisk> disks, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
        {
            var ct = cancellationToken;
            if (disks == null || disks.Count == 0) throw GridException.InvalidRequest("No disk to copy.", "NoDisks", Target(nativeId));
            string key = scope?.IdempotencyKey ?? "";
            if (key.Length == 0) throw GridException.InvalidRequest("A recovery point needs the operation's key (it names the snapshots).", "InvalidIdempotencyKey", Target(nativeId));
            var (inst, _) = await RetriedAsync(c => DescribeOneAsync(nativeId, c), ct).ConfigureAwait(false);
            string state = inst.State?.Name?.Value ?? "";
            if (state != "running")
                throw GridException.Conflict($"{nativeId} is {state}: a stopped instance's disks are exported as they are (ExportDiskAsync), not through snapshots.", "WorkloadNotRunning", Target(nativeId));
            var names = disks.Select(d => PointName(key, d.NativeId ?? throw GridException.InvalidRequest($"Disk '{d.Name}' has no EBS volume id.", "DiskNotFound", Target(nativeId)))).ToList();

            // what an interrupted run of ANOTHER key left goes first (safe: the replication lock of this workload is held)
            var ours = await PointSnapshotsAsync(nativeId, ct).ConfigureAwait(false);
            foreach (var left in ours.Where(s => !names.Contains(NameOf(s) ?? "")))
            {
                _verbose($"Aws: deleting the snapshot {left.SnapshotId} an interrupted recovery point of {nativeId} left.");
                await DeletePointSnapshotAsync(left.SnapshotId, ct).ConfigureAwait(false);
            }

            var made = new List<string>();
            bool ok = false;
            try
            {
                // 1. one snapshot per volume, found again by its name on a resume
                for (int i = 0; i < disks.Count; i++)
                {
                    var disk = disks[i];
                    string name = names[i];
                    string id = await RetriedAsync(async c =>
                    {
                        var found = (await PointSnapshotsAsync(nativeId, c).ConfigureAwait(false)).FirstOrDefault(s => NameOf(s) == name);
                        if (found != null) return found.SnapshotId;
                        var resp = await CallAsync("CreateSnapshot", disk.NativeId, t => _client.CreateSnapshotAsync(new CreateSnapshotRequest
                        {
                            VolumeId = disk.NativeId, Description = "GridAutomation recovery point " + name + " of " + nativeId,
                            TagSpecifications = new List<TagSpecification> { new TagSpecification { ResourceType = "snapshot", Tags = new List<Ec2Tag> { new Ec2Tag(PointSnapshotTag, nativeId), new Ec2Tag(PointNameTag, name) } } },
                        }, t), c).ConfigureAwait(false);
                        return resp.Snapshot.SnapshotId;
                    }, ct).ConfigureAwait(false);
                    made.Add(id);
                    scope!.Checkpoint(PointSnapshotCheckpoint + disk.Name, id);
                }
                _verbose($"Aws: snapshot(s) {string.Join(", ", made)} of {nativeId} taken while it runs; reading them through the EBS direct APIs at {EbsEndpoint.GetLeftPart(UriPartial.Authority)}.");

                // 2. each snapshot, once completed, read block by block into a raw file of the volume's size
                Directory.CreateDirectory(tempFolder);
                var images = new List<DiskImage>();
                for (int i = 0; i < disks.Count; i++)
                {
                    await WaitForSnapshotAsync(made[i], disks[i].Name, scope!, ct).ConfigureAwait(false);
                    string path = Path.Combine(tempFolder, disks[i].Name + ".raw");
                    var (bytes, hash) = await ReadSnapshotAsync(made[i], path, disks[i].Name, scope!, ct).ConfigureAwait(false);
                    images.Add(new DiskImage { Name = disks[i].Name, Format = DiskFormat.Raw, CapacityBytes = bytes, Path = path, ContentHash = hash });
                }
                ok = true;
                return images;
            }
            catch (OperationCanceledException ex) when (ct.IsCancellationRequested)
            {
                throw AwsErrors.Map(ex, "recovery point", Target(nativeId), ct);
            }
            finally
            {
                // interrupted (cancelled): the snapshots stay for the resume, which finds them by name; a roll-back or
                // the instance's next point deletes them. Otherwise they go, on success and failure alike.
                using var cleanup = new CancellationTokenSource(TimeSpan.FromMinutes(10));
                if (!ct.IsCancellationRequested)
                    foreach (var id in made)
                    {
                        try { await DeletePointSnapshotAsync(id, cleanup.Token).ConfigureAwait(false); }
                        catch (GridException ex) when (!ok)
                        {
                            // keep the first error; the next point of this instance deletes what is left (it carries our tag)
                            _verbose($"Aws: could not delete snapshot {id} after a failed recovery point ({ex.ErrorId}); the next point deletes it.");
                        }
                    }
            }
        }

        private static string? NameOf(Snapshot s) => s.Tags?.FirstOrDefault(t => t.Key == PointNameTag)?.Value;

        /// <summary>Our recovery point snapshots of one instance (DescribeSnapshots, owner self, by tag).</summary>
        private async Task<List<Snapshot>> PointSnapshotsAsync(string nativeId, CancellationToken ct)
        {
            var all = new List<Snapshot>();
            var req = new DescribeSnapshotsRequest
            {
                OwnerIds = new List<string> { "self" },
                Filters = new List<Ec2Filter> { new Ec2Filter("tag:" + PointSnapshotTag, new List<string> { nativeId }) },
            };
            do
            {
                var resp = await CallAsync("DescribeSnapshots", Target(nativeId), c => _client.DescribeSnapshotsAsync(req, c), ct).ConfigureAwait(false);
                all.AddRange(resp.Snapshots ?? new List<Snapshot>());
                req.NextToken = string.IsNullOrEmpty(resp.NextToken) ? null : resp.NextToken;
            } while (req.NextToken != null);
            return all;
        }

        private Task DeletePointSnapshotAsync(string id, CancellationToken ct)
            => RetriedAsync(async c => { await DeleteSnapshotAsync(id, c).ConfigureAwait(false); return 0; }, ct);

        private Task WaitForSnapshotAsync(string id, string what, IOperationScope scope, CancellationToken ct)
        {
            string? state = null;
            return PollAsync(async c =>
            {
                var resp = await RetriedAsync(t => CallAsync("DescribeSnapshots", id, x => _client.DescribeSnapshotsAsync(new DescribeSnapshotsRequest { SnapshotIds = new List<string> { id } }, x), t), c).ConfigureAwait(false);
                var snap = resp.Snapshots?.FirstOrDefault(s => s.SnapshotId == id);
                state = snap?.State?.Value;
                if (state == "completed") return state;
                if (snap == null || state == "error" || state == "recoverable")
                    throw new GridException(GridErrorKind.Conflict, $"The snapshot {id} of disk '{what}' is {state ?? "gone"}{(string.IsNullOrEmpty(snap?.StateMessage) ? "" : ": " + snap!.StateMessage)}.", "AwsSnapshotFailed") { Target = what };
                scope.Report(new GridProgress("Recovery point: snapshot of " + what, $"{id}: {state} {snap.Progress}".Trim(), 10));
                return null;
            }, () => $"The snapshot {id} of disk '{what}' did not complete within {WaitTimeout.TotalMinutes:0} minutes (last: {state}).", what, ct);
        }

        /// <summary>Reads a completed snapshot into <paramref name="path"/> (raw, sparse) page by page; returns its length and SHA-256.</summary>
        private async Task<(long Bytes, string Hash)> ReadSnapshotAsync(string snapshotId, string path, string what, IOperationScope scope, CancellationToken ct)
        {
            string partial = path + ".partial";
            try
            {
                using var sha = SHA256.Create();
                long length = -1, hashedTo = 0, written = 0;
                int blockSize = EbsBlockSize;
                byte[] zeros = new byte[EbsBlockSize];
                void HashZerosTo(long offset)
                {
                    while (hashedTo < offset)
                    {
                        int n = (int)Math.Min(zeros.Length, offset - hashedTo);
                        sha.TransformBlock(zeros, 0, n, null, 0);
                        hashedTo += n;
                    }
                }
                using (var fs = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
                {
                    string? token = null;
                    do
                    {
                        var page = await ListSnapshotBlocksAsync(snapshotId, token, ct).ConfigureAwait(false);
                        if (length < 0)
                        {
                            blockSize = page.BlockSize > 0 ? page.BlockSize : EbsBlockSize;
                            if (blockSize != zeros.Length) zeros = new byte[blockSize];
                            length = page.VolumeSizeGiB * 1024L * Mib;
                            if (length <= 0) throw new GridException(GridErrorKind.Unavailable, $"ListSnapshotBlocks of {snapshotId} gave no volume size.", AwsErrors.BadResponse) { Target = what, IsTransient = false };
                            fs.SetLength(length); // blocks never written stay holes: zeros
                        }
                        foreach (var b in page.Blocks.OrderBy(x => x.Index))
                        {
                            long offset = b.Index * blockSize;
                            if (offset < hashedTo || offset + blockSize > length)
                                throw new GridException(GridErrorKind.Unavailable, $"ListSnapshotBlocks of {snapshotId} named block {b.Index} out of order or beyond the volume.", AwsErrors.BadResponse) { Target = what, IsTransient = false };
                            var data = await GetSnapshotBlockAsync(snapshotId, b, blockSize, ct).ConfigureAwait(false);
                            HashZerosTo(offset);
                            sha.TransformBlock(data, 0, data.Length, null, 0);
                            hashedTo += data.Length;
                            fs.Seek(offset, SeekOrigin.Begin);
                            await fs.WriteAsync(data, 0, data.Length, ct).ConfigureAwait(false);
                            written += data.Length;
                            AfterSnapshotBlock?.Invoke(b.Index);
                            ct.ThrowIfCancellationRequested();
                        }
                        scope.Report(new GridProgress("Recovery point: reading " + what, $"{snapshotId}: {written / Mib} MiB of written blocks read", length > 0 ? (int)(100 * hashedTo / length) : -1));
                        token = page.NextToken;
                    } while (!string.IsNullOrEmpty(token));
                }
                HashZerosTo(length);
                sha.TransformFinalBlock(Array.Empty<byte>(), 0, 0);
                if (File.Exists(path)) File.Delete(path);
                File.Move(partial, path);
                return (length, BitConverter.ToString(sha.Hash!).Replace("-", "").ToLowerInvariant());
            }
            finally
            {
                if (File.Exists(partial)) try { File.Delete(partial); } catch (IOException) { }
            }
        }

        /// <summary>Roll-back of a recovery point: the snapshots its scope checkpointed are deleted (gone already is fine).</summary>
        private async Task DiscardPointSnapshotsAsync(IOperationScope scope, CancellationToken ct)
        {
            foreach (var kv in scope.Checkpoints.Where(k => k.Key.StartsWith(PointSnapshotCheckpoint, StringComparison.Ordinal)).ToList())
                await DeletePointSnapshotAsync(kv.Value, ct).ConfigureAwait(false);
        }
    }
}
