using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Core;
using Azure.ResourceManager.Compute;
using Azure.ResourceManager.Compute.Models;
using Azure.ResourceManager.Resources;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;

namespace GridAutomation.Providers.Azure
{
    /// <summary>
    /// Recovery points of a RUNNING Azure VM (issue 17): each managed disk is copied by a full snapshot resource
    /// (Microsoft.Compute/snapshots PUT, creationData.createOption=Copy from the disk, incremental=false) while the VM
    /// keeps running (crash-consistent per disk; the disks of a multi-disk VM are snapshotted one after another before
    /// any download, not at one instant: that would need restore points); then the SNAPSHOT is read as an export reads
    /// a disk (beginGetAccess for a read SAS, blob download, endGetAccess) and deleted. Snapshots are named from the
    /// operation key and the disk (a resumed call finds its own) and tagged with the VM; every tagged snapshot of the
    /// VM is deleted before a point is taken (what an interrupted run left: safe under the workload's replication lock)
    /// and every snapshot a call made is deleted when it ends, successful or not. A SAS is never logged or kept.
    /// </summary>
    public sealed partial class AzureConnection : IRunningDiskExport
    {
        /// <summary>Tag on our recovery point snapshots; its value names the VM (TagValue of its resource id).</summary>
        internal const string PointSnapshotTag = "GridAutomationRecoveryPoint";

        internal static string PointSnapshotName(string key, string diskId)
        {
            using var sha = SHA256.Create();
            var h = BitConverter.ToString(sha.ComputeHash(Encoding.UTF8.GetBytes(key + "\n" + diskId.ToLowerInvariant()))).Replace("-", "").ToLowerInvariant();
            return "gridpoint-" + h.Substring(0, 24);
        }

        public Task<IReadOnlyList<DiskImage>> ExportRunningDisksAsync(string nativeId, IReadOnlyList<MoveDisk> disks, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
            => Guard<IReadOnlyList<DiskImage>>(async () =>
            {
                var ct = cancellationToken;
                if (disks == null || disks.Count == 0) throw GridException.InvalidRequest("No disk to copy.", "NoDisks", nativeId);
                string key = scope?.IdempotencyKey ?? "";
                if (key.Length == 0) throw GridException.InvalidRequest("A recovery point needs the operation's key (it names the snapshots).", "InvalidIdempotencyKey", nativeId);
                var vm = await GetVmAsync(nativeId, ct).ConfigureAwait(false);
                var (state, power) = PowerOf(vm);
                if (state != WorkloadState.Running)
                    throw GridException.Conflict($"Azure VM '{vm.Data.Name}' is {power ?? state.ToString()}: a stopped VM's disks are exported as they are (ExportDiskAsync), not through snapshots.", "WorkloadNotRunning", nativeId);
                var rg = _arm.GetResourceGroupResource(ResourceGroupResource.CreateResourceIdentifier(_s.SubscriptionId, vm.Id.ResourceGroupName!));
                string vmTag = TagValue(vm.Id.ToString());
                foreach (var left in await ListPointSnapshotsAsync(vm.Id.ResourceGroupName!, vmTag, ct).ConfigureAwait(false))
                {
                    Verbose($"Azure: deleting the snapshot {left.Data.Name} an interrupted recovery point of '{vm.Data.Name}' left.");
                    await DeleteSnapshotAsync(left, scope!, ct).ConfigureAwait(false);
                }

                var made = new List<SnapshotResource>();
                bool ok = false;
                try
                {
                    var taken = DateTimeOffset.UtcNow;
                    foreach (var disk in disks)
                    {
                        var diskId = new ResourceIdentifier(disk.NativeId ?? throw GridException.InvalidRequest($"Disk '{disk.Name}' has no managed disk id.", "DiskNotFound", nativeId));
                        string name = PointSnapshotName(key, diskId.ToString());
                        var data = new SnapshotData(vm.Data.Location)
                        {
                            CreationData = new DiskCreationData(DiskCreateOption.Copy) { SourceResourceId = diskId },
                            Incremental = false,
                        };
                        data.Tags[PointSnapshotTag] = vmTag;
                        var op = await rg.GetSnapshots().CreateOrUpdateAsync(WaitUntil.Started, name, data, ct).ConfigureAwait(false);
                        made.Add(_arm.GetSnapshotResource(SnapshotResource.CreateResourceIdentifier(_s.SubscriptionId, rg.Id.ResourceGroupName!, name)));
                        await FollowAsync(op, $"Recovery point: snapshot of disk {diskId.Name}", scope!, ct).ConfigureAwait(false);
                    }
                    Verbose($"Azure: {made.Count} snapshot(s) of '{vm.Data.Name}' taken at {taken:O}; downloading them.");
                    Directory.CreateDirectory(tempFolder);
                    var images = new List<DiskImage>();
                    for (int i = 0; i < disks.Count; i++)
                    {
                        var snap = (await made[i].GetAsync(ct).ConfigureAwait(false)).Value;
                        string path = Path.Combine(tempFolder, snap.Data.Name + ".vhd");
                        var grant = await snap.GrantAccessAsync(WaitUntil.Started, new GrantAccessData(AccessLevel.Read, 3600 * 24), ct).ConfigureAwait(false);
                        await FollowAsync(grant, "Opening snapshot for download: " + snap.Data.Name, scope!, ct).ConfigureAwait(false);
                        var sas = grant.Value?.AccessSas;
                        if (string.IsNullOrEmpty(sas)) throw GridException.ResourceUnavailable($"Azure granted no access URL for snapshot '{snap.Data.Name}'.", "AzureNoAccessUrl", snap.Id.ToString());
                        try { await DownloadVhdAsync(new Uri(sas), path, ct).ConfigureAwait(false); }
                        finally
                        {
                            var rop = await snap.RevokeAccessAsync(WaitUntil.Started, CancellationToken.None).ConfigureAwait(false);
                            await FollowAsync(rop, "Ending download access to " + snap.Data.Name, scope!, CancellationToken.None).ConfigureAwait(false);
                        }
                        long length = new FileInfo(path).Length;
                        images.Add(new DiskImage
                        {
                            Name = disks[i].Name, Format = DiskFormat.VhdFixed, CapacityBytes = length - 512, Path = path,
                            ContentHash = await HashVhdFileAsync(path, ct).ConfigureAwait(false),
                        });
                    }
                    ok = true;
                    return images;
                }
                finally
                {
                    // deleted on success, failure and cancellation alike (a token of its own: the caller's may be cancelled)
                    using var cleanup = new CancellationTokenSource(TimeSpan.FromMinutes(10));
                    foreach (var snap in made)
                    {
                        try { await DeleteSnapshotAsync(snap, scope!, cleanup.Token).ConfigureAwait(false); }
                        catch (Exception ex) when (!ok)
                        {
                            // keep the first error; the next point of this VM deletes what is left (it carries our tag)
                            Verbose($"Azure: could not delete snapshot {snap.Id.Name} after a failed recovery point ({ex.GetType().Name}); the next point deletes it.");
                        }
                    }
                }
            }, nativeId, cancellationToken);

        /// <summary>Our recovery point snapshots in a resource group (listed through ARM), those of one VM when <paramref name="vmTag"/> is given.</summary>
        internal async Task<List<SnapshotResource>> ListPointSnapshotsAsync(string resourceGroup, string? vmTag, CancellationToken ct)
        {
            var rg = _arm.GetResourceGroupResource(ResourceGroupResource.CreateResourceIdentifier(_s.SubscriptionId, resourceGroup));
            var list = new List<SnapshotResource>();
            await foreach (var s in rg.GetSnapshots().GetAllAsync(ct).ConfigureAwait(false))
                if (s.Data.Tags.TryGetValue(PointSnapshotTag, out var v) && (vmTag == null || v == vmTag)) list.Add(s);
            return list;
        }

        /// <summary>Ends a snapshot's access if it has any, then deletes it; a snapshot already gone is a no-op.</summary>
        private async Task DeleteSnapshotAsync(SnapshotResource snap, IOperationScope scope, CancellationToken ct)
        {
            try
            {
                var now = (await snap.GetAsync(ct).ConfigureAwait(false)).Value;
                if (now.Data.DiskState == DiskState.ActiveSas)
                {
                    var rop = await now.RevokeAccessAsync(WaitUntil.Started, ct).ConfigureAwait(false);
                    await FollowAsync(rop, "Ending access to " + now.Data.Name, scope, ct).ConfigureAwait(false);
                }
                var dop = await now.DeleteAsync(WaitUntil.Started, ct).ConfigureAwait(false);
                await FollowAsync(dop, "Deleting snapshot " + now.Data.Name, scope, ct).ConfigureAwait(false);
                Verbose($"Azure: snapshot {now.Data.Name} deleted.");
            }
            catch (RequestFailedException rf) when (rf.Status == 404) { }
        }
    }
}
