using System;
using System.Buffers;
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
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;

namespace GridAutomation.Providers.Azure
{
    /// <summary>
    /// Azure's side of moves: managed disks travel as fixed VHDs (N MiB + the 512-byte footer). Import creates an
    /// empty managed disk with createOption=Upload, asks for a write SAS (beginGetAccess), writes only the non-empty
    /// 512-byte-aligned ranges of the file as pages, in parallel, streamed from the file, and ends the access
    /// (endGetAccess), which seals the disk. Export deallocates the VM, asks for a read SAS and downloads the blob.
    /// A SAS is a secret: it is never logged, checkpointed or put in an error.
    /// </summary>
    public sealed partial class AzureConnection : IDiskTransport, IDiskTransfer, IDiskImportCleanup
    {
        private static readonly DiskFormat[] VhdOnly = { DiskFormat.VhdFixed };
        private const long Mib = 1024 * 1024;
        /// <summary>The largest page write the Blob service takes.</summary>
        private const int PageChunk = 4 * 1024 * 1024;
        internal const string ImportedDiskTag = "GridAutomationImport";
        internal const string ImportCheckpoint = "azure.importDisk:";

        /// <summary>Page writes in flight at once (each holds one 4 MiB buffer).</summary>
        internal int UploadParallelism { get; set; } = 4;
        /// <summary>Test hook: called after each page write (an interrupted upload is a cancellation from here).</summary>
        internal Action<long>? AfterPageWrite { get; set; }

        public IReadOnlyList<DiskFormat> ExportFormats => VhdOnly;
        public IReadOnlyList<DiskFormat> ImportFormats => VhdOnly;
        /// <summary>An uploaded OS disk may be at most 4 TiB (Azure's limit for OS disks).</summary>
        public long? MaxDiskBytes => 4L * 1024 * 1024 * 1024 * 1024;
        public IReadOnlyList<string> SupportedFirmware { get; } = new[] { "bios", "uefi" };
        /// <summary>A VM made from an imported disk needs a subnet or NIC id (Options["Network"], or MoveDefaults).</summary>
        public IReadOnlyList<string> RequiredOptions { get; } = new[] { "Network" };
        public long? BandwidthBytesPerSecond => null;

        public Task<MoveSourceInfo> DescribeAsync(string nativeId, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var info = new MoveSourceInfo();
                int n = 0;
                foreach (var (id, isOs) in DiskIds(vm.Data))
                {
                    var disk = (await _arm.GetManagedDiskResource(id).GetAsync(cancellationToken).ConfigureAwait(false)).Value.Data;
                    long bytes = disk.DiskSizeBytes ?? (disk.DiskSizeGB ?? 0) * 1024L * 1024 * 1024;
                    if (isOs) info.Firmware = disk.HyperVGeneration == HyperVGeneration.V2 ? "uefi" : "bios";
                    info.Disks.Add(new MoveDisk { Name = disk.Name ?? ("disk" + n), NativeId = id.ToString(), Format = DiskFormat.VhdFixed, CapacityBytes = bytes, TransferBytes = bytes + 512, IsOsDisk = isOs });
                    n++;
                }
                return info;
            }, nativeId, cancellationToken);

        private static IEnumerable<(ResourceIdentifier Id, bool IsOs)> DiskIds(VirtualMachineData d)
        {
            if (d.StorageProfile?.OSDisk?.ManagedDisk?.Id is ResourceIdentifier os) yield return (os, true);
            if (d.StorageProfile?.DataDisks != null)
                foreach (var dd in d.StorageProfile.DataDisks.OrderBy(x => x.Lun))
                    if (dd.ManagedDisk?.Id is ResourceIdentifier id) yield return (id, false);
        }

        // ---------------------------------------------------------------- import

        /// <summary>The managed disk's name for one import: derived from the move's key and the disk, so a resumed import finds its disk.</summary>
        internal static string ImportDiskName(string key, string diskName)
        {
            using var sha = SHA256.Create();
            var h = BitConverter.ToString(sha.ComputeHash(Encoding.UTF8.GetBytes(key + "\n" + diskName))).Replace("-", "").ToLowerInvariant();
            return "gridmove-" + h.Substring(0, 24);
        }

        public Task<string> ImportDiskAsync(DiskImage image, string key, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                if (image == null) throw new ArgumentNullException(nameof(image));
                if (image.Format != DiskFormat.VhdFixed || string.IsNullOrEmpty(image.Path))
                    throw GridException.Unsupported($"Azure takes a fixed VHD file, not {image.Format}.", "UnsupportedDiskFormat");
                var file = new FileInfo(image.Path);
                if (!file.Exists) throw GridException.InvalidRequest($"The staged disk '{image.Name}' is missing from the temp folder.", "DiskImageMissing");
                long length = file.Length;
                if (length < Mib + 512 || (length - 512) % Mib != 0)
                    throw GridException.InvalidRequest($"Disk '{image.Name}' is {length} bytes: Azure takes a fixed VHD of whole MiB plus the 512-byte footer (qemu-img convert -O vpc -o subformat=fixed,force_size after resizing to a MiB multiple).", "AzureVhdNotAligned");
                if (MaxDiskBytes is long max && length - 512 > max)
                    throw GridException.InvalidRequest($"Disk '{image.Name}' ({length - 512} bytes) is larger than Azure's {max} bytes for an OS disk.", "DiskTooLarge");
                string rg = _s.ResourceGroup ?? throw GridException.InvalidRequest("An import into Azure needs the datacenter's -ResourceGroupName (the disk and VM are made there).", "AzureResourceGroupRequired");
                var id = ManagedDiskResource.CreateResourceIdentifier(_s.SubscriptionId, rg, ImportDiskName(key, image.Name));
                var disk = await TryGetDiskAsync(id, cancellationToken).ConfigureAwait(false);
                scope.Checkpoint(ImportCheckpoint + image.Name, id.ToString()); // before the disk exists: a roll-back finds it
                if (disk == null)
                {
                    var data = new ManagedDiskData(new AzureLocation(_s.Location))
                    {
                        CreationData = new DiskCreationData(DiskCreateOption.Upload) { UploadSizeBytes = length },
                        OSType = SupportedOperatingSystemType.Linux,
                        HyperVGeneration = string.Equals(image.Firmware, "uefi", StringComparison.OrdinalIgnoreCase) ? HyperVGeneration.V2 : HyperVGeneration.V1,
                        Sku = new DiskSku { Name = DiskStorageAccountType.StandardLrs },
                    };
                    data.Tags[ImportedDiskTag] = TagValue(key);
                    var rgResource = _arm.GetResourceGroupResource(ResourceGroupResource.CreateResourceIdentifier(_s.SubscriptionId, rg));
                    var op = await rgResource.GetManagedDisks().CreateOrUpdateAsync(WaitUntil.Started, id.Name, data, cancellationToken).ConfigureAwait(false);
                    await FollowAsync(op, "Creating upload disk " + id.Name, scope, cancellationToken).ConfigureAwait(false);
                    disk = (await _arm.GetManagedDiskResource(id).GetAsync(cancellationToken).ConfigureAwait(false)).Value;
                }
                var state = disk.Data.DiskState;
                if (state != DiskState.ReadyToUpload && state != DiskState.ActiveUpload)
                {
                    // sealed by an earlier run (endGetAccess happens only after the last page): nothing left to write
                    Verbose($"Azure: disk {id.Name} was uploaded already ({state}); not uploading again.");
                    return id.ToString();
                }
                // ReadyToUpload: first run. ActiveUpload: an interrupted run; the write SAS is asked for again and every
                // page is written again (page writes are idempotent), so a resumed import never leaves a half disk.
                var sas = await GrantAsync(disk, AccessLevel.Write, scope, cancellationToken).ConfigureAwait(false);
                await UploadPagesAsync(new PageBlobClient(sas), file.FullName, length, image.Name, scope, cancellationToken).ConfigureAwait(false);
                var rop = await disk.RevokeAccessAsync(WaitUntil.Started, cancellationToken).ConfigureAwait(false);
                await FollowAsync(rop, "Sealing disk " + id.Name, scope, cancellationToken).ConfigureAwait(false);
                return id.ToString();
            }, image?.Name, cancellationToken);

        /// <summary>Roll-back: removes every disk this operation's imports made (found by their checkpoints).</summary>
        public async Task DiscardImportsAsync(IOperationScope scope, CancellationToken cancellationToken)
        {
            foreach (var kv in scope.Checkpoints.Where(k => k.Key.StartsWith(ImportCheckpoint, StringComparison.Ordinal)).ToList())
                await DiscardImportAsync(kv.Value, scope, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Removes a disk an import made (any state: its access is ended first). A disk already gone is a no-op.</summary>
        public Task DiscardImportAsync(string reference, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var id = new ResourceIdentifier(reference);
                var disk = await TryGetDiskAsync(id, cancellationToken).ConfigureAwait(false);
                if (disk == null) return 0;
                if (!disk.Data.Tags.ContainsKey(ImportedDiskTag))
                    throw GridException.Conflict($"Disk '{id.Name}' was not made by an import; it is not removed.", "AzureNotAnImportedDisk", reference);
                if (disk.Data.DiskState == DiskState.ActiveUpload || disk.Data.DiskState == DiskState.ActiveSas)
                {
                    var rop = await disk.RevokeAccessAsync(WaitUntil.Started, cancellationToken).ConfigureAwait(false);
                    await FollowAsync(rop, "Ending access to " + id.Name, scope, cancellationToken).ConfigureAwait(false);
                }
                try
                {
                    var dop = await disk.DeleteAsync(WaitUntil.Started, cancellationToken).ConfigureAwait(false);
                    await FollowAsync(dop, "Removing disk " + id.Name, scope, cancellationToken).ConfigureAwait(false);
                }
                catch (RequestFailedException rf) when (rf.Status == 404) { }
                return 0;
            }, reference, cancellationToken);

        private async Task<ManagedDiskResource?> TryGetDiskAsync(ResourceIdentifier id, CancellationToken ct)
        {
            try { return (await _arm.GetManagedDiskResource(id).GetAsync(ct).ConfigureAwait(false)).Value; }
            catch (RequestFailedException rf) when (rf.Status == 404) { return null; }
        }

        /// <summary>beginGetAccess; a null scope (a read without an operation) lets the SDK wait without progress.</summary>
        private async Task<Uri> GrantAsync(ManagedDiskResource disk, AccessLevel access, IOperationScope? scope, CancellationToken ct)
        {
            var op = await disk.GrantAccessAsync(scope == null ? WaitUntil.Completed : WaitUntil.Started, new GrantAccessData(access, 3600 * 24), ct).ConfigureAwait(false);
            if (scope != null) await FollowAsync(op, (access == AccessLevel.Write ? "Opening disk for upload: " : "Opening disk for download: ") + disk.Data.Name, scope, ct).ConfigureAwait(false);
            var sas = op.Value?.AccessSas;
            if (string.IsNullOrEmpty(sas)) throw GridException.ResourceUnavailable($"Azure granted no access URL for disk '{disk.Data.Name}'.", "AzureNoAccessUrl", disk.Id.ToString());
            return new Uri(sas);
        }

        /// <summary>
        /// Reads the file in 4 MiB chunks and writes each run of non-zero 512-byte pages as one page write; at most
        /// <see cref="UploadParallelism"/> writes are in flight, so memory stays bounded whatever the disk's size.
        /// </summary>
        private async Task UploadPagesAsync(PageBlobClient blob, string path, long length, string what, IOperationScope scope, CancellationToken ct)
        {
            int parallel = Math.Max(1, UploadParallelism);
            using var slots = new SemaphoreSlim(parallel, parallel);
            var running = new List<Task>();
            long written = 0, sent = 0;
            int lastPercent = -1;
            using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true))
            {
                long offset = 0;
                while (offset < length)
                {
                    await slots.WaitAsync(failed.Token).ConfigureAwait(false);
                    var buffer = ArrayPool<byte>.Shared.Rent(PageChunk);
                    int read = 0, want = (int)Math.Min(PageChunk, length - offset);
                    try
                    {
                        while (read < want)
                        {
                            int r = await fs.ReadAsync(buffer, read, want - read, failed.Token).ConfigureAwait(false);
                            if (r == 0) throw GridException.InvalidRequest($"The staged disk '{what}' got shorter while it was uploaded.", "DiskImageChanged");
                            read += r;
                        }
                    }
                    catch { ArrayPool<byte>.Shared.Return(buffer); slots.Release(); throw; }
                    long at = offset;
                    offset += read;
                    var ranges = NonZeroRanges(buffer, read);
                    running.RemoveAll(t => t.IsCompleted && t.Status == TaskStatus.RanToCompletion);
                    running.Add(Task.Run(async () =>
                    {
                        try
                        {
                            foreach (var (start, count) in ranges)
                            {
                                using var ms = new MemoryStream(buffer, start, count, writable: false);
                                await blob.UploadPagesAsync(ms, at + start, cancellationToken: failed.Token).ConfigureAwait(false);
                                Interlocked.Add(ref sent, count);
                                AfterPageWrite?.Invoke(at + start);
                            }
                        }
                        catch { failed.Cancel(); throw; }
                        finally { ArrayPool<byte>.Shared.Return(buffer); slots.Release(); }
                        long done = Interlocked.Add(ref written, read);
                        int pct = (int)(100 * done / length);
                        if (pct != Interlocked.Exchange(ref lastPercent, pct))
                            scope.Report(new GridProgress("Uploading " + what, $"{done / Mib} of {length / Mib} MiB", pct));
                    }, CancellationToken.None));
                    if (running.Any(t => t.IsFaulted || t.IsCanceled)) break;
                }
            }
            try { await Task.WhenAll(running).ConfigureAwait(false); }
            catch when (ct.IsCancellationRequested) { ct.ThrowIfCancellationRequested(); throw; }
            Verbose($"Azure: uploaded {what}: {sent} of {length} bytes held data (empty pages are not sent).");
        }

        /// <summary>Runs of 512-byte pages that are not all zeros, as (start, count) within the buffer.</summary>
        internal static List<(int Start, int Count)> NonZeroRanges(byte[] buffer, int length)
        {
            var ranges = new List<(int, int)>();
            int runStart = -1;
            for (int p = 0; p < length; p += 512)
            {
                int n = Math.Min(512, length - p);
                bool empty = true;
                for (int i = p; i < p + n; i++) if (buffer[i] != 0) { empty = false; break; }
                if (!empty && runStart < 0) runStart = p;
                if (empty && runStart >= 0) { ranges.Add((runStart, p - runStart)); runStart = -1; }
            }
            if (runStart >= 0) ranges.Add((runStart, length - runStart));
            return ranges;
        }

        // ---------------------------------------------------------------- export, hash

        public Task<DiskImage> ExportDiskAsync(string nativeId, MoveDisk disk, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                await DeallocateForDiskAccessAsync(vm, scope, cancellationToken).ConfigureAwait(false);
                var diskId = disk?.NativeId != null ? new ResourceIdentifier(disk.NativeId) : DiskIds(vm.Data).First().Id;
                var md = (await _arm.GetManagedDiskResource(diskId).GetAsync(cancellationToken).ConfigureAwait(false)).Value;
                Directory.CreateDirectory(tempFolder);
                string path = Path.Combine(tempFolder, md.Data.Name + ".vhd");
                var sas = await GrantAsync(md, AccessLevel.Read, scope, cancellationToken).ConfigureAwait(false);
                try { await DownloadVhdAsync(sas, path, cancellationToken).ConfigureAwait(false); }
                finally
                {
                    var rop = await md.RevokeAccessAsync(WaitUntil.Started, CancellationToken.None).ConfigureAwait(false);
                    await FollowAsync(rop, "Ending download access to " + md.Data.Name, scope, CancellationToken.None).ConfigureAwait(false);
                }
                long length = new FileInfo(path).Length;
                string hash = await HashVhdFileAsync(path, cancellationToken).ConfigureAwait(false);
                return new DiskImage
                {
                    Name = disk?.Name ?? md.Data.Name, Format = DiskFormat.VhdFixed, CapacityBytes = length - 512, Path = path, ContentHash = hash,
                    Firmware = md.Data.HyperVGeneration == HyperVGeneration.V2 ? "uefi" : "bios",
                };
            }, nativeId, cancellationToken);

        /// <summary>Downloads a blob through its read SAS to <paramref name="path"/> (via ".partial": a broken download never has the final name).</summary>
        private async Task DownloadVhdAsync(Uri sas, string path, CancellationToken ct)
        {
            string partial = path + ".partial";
            try
            {
                var blob = new BlobClient(sas);
                var options = new BlobDownloadToOptions { TransferOptions = new global::Azure.Storage.StorageTransferOptions { MaximumConcurrency = Math.Max(1, UploadParallelism), MaximumTransferSize = PageChunk, InitialTransferSize = PageChunk } };
                await blob.DownloadToAsync(partial, options, ct).ConfigureAwait(false);
                if (File.Exists(path)) File.Delete(path);
                File.Move(partial, path);
            }
            finally { if (File.Exists(partial)) File.Delete(partial); }
        }

        /// <summary>SHA-256 of a staged fixed VHD's guest bytes (without its 512-byte footer).</summary>
        private static async Task<string> HashVhdFileAsync(string path, CancellationToken ct)
        {
            using var fs = File.OpenRead(path);
            return await HashGuestBytesAsync(fs, fs.Length - 512, ct).ConfigureAwait(false);
        }

        /// <summary>SHA-256 of the disk's guest-visible bytes (the VHD without its footer), read through a read SAS.</summary>
        public Task<string> HashDiskAsync(string nativeId, int index, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var ids = DiskIds(vm.Data).ToList();
                if (index < 0 || index >= ids.Count) throw GridException.InvalidRequest($"VM '{vm.Data.Name}' has no disk {index}.", "DiskNotFound");
                IOperationScope? scope = null;
                await DeallocateForDiskAccessAsync(vm, scope, cancellationToken).ConfigureAwait(false);
                var md = (await _arm.GetManagedDiskResource(ids[index].Id).GetAsync(cancellationToken).ConfigureAwait(false)).Value;
                var sas = await GrantAsync(md, AccessLevel.Read, scope, cancellationToken).ConfigureAwait(false);
                try
                {
                    var blob = new BlobClient(sas);
                    long length = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value.ContentLength;
                    using var stream = await blob.OpenReadAsync(new BlobOpenReadOptions(false) { BufferSize = PageChunk }, cancellationToken).ConfigureAwait(false);
                    return await HashGuestBytesAsync(stream, length - 512, cancellationToken).ConfigureAwait(false);
                }
                finally { await md.RevokeAccessAsync(WaitUntil.Completed, CancellationToken.None).ConfigureAwait(false); }
            }, nativeId, cancellationToken);

        /// <summary>A disk's SAS is granted only while no running VM holds it: a running or stopped VM is deallocated first.</summary>
        private async Task DeallocateForDiskAccessAsync(VirtualMachineResource vm, IOperationScope? scope, CancellationToken ct)
        {
            var (state, _) = PowerOf(vm);
            if (state == WorkloadState.Deallocated) return;
            Invalidate();
            var op = await vm.DeallocateAsync(scope == null ? WaitUntil.Completed : WaitUntil.Started, null, ct).ConfigureAwait(false);
            if (scope != null) await FollowAsync(op, "Deallocating Azure VM " + vm.Data.Name + " to read its disk", scope, ct).ConfigureAwait(false);
            Invalidate();
        }

        private static async Task<string> HashGuestBytesAsync(Stream s, long count, CancellationToken ct)
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buf = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                long left = count;
                while (left > 0)
                {
                    int r = await s.ReadAsync(buf, 0, (int)Math.Min(buf.Length, left), ct).ConfigureAwait(false);
                    if (r == 0) break;
                    sha.AppendData(buf, 0, r);
                    left -= r;
                }
            }
            finally { ArrayPool<byte>.Shared.Return(buf); }
            return BitConverter.ToString(sha.GetHashAndReset()).Replace("-", "").ToLowerInvariant();
        }

        // ---------------------------------------------------------------- create from an imported disk

        internal const string CopyOfTag = "GridAutomationCopyOf";
        internal const string CopyCheckpoint = "azure.copyDisk";

        /// <summary>The name of a create's own copy of an imported disk: from the create's idempotency key, so a retried or resumed create finds it.</summary>
        internal static string CopyDiskName(string key)
        {
            using var sha = SHA256.Create();
            var h = BitConverter.ToString(sha.ComputeHash(Encoding.UTF8.GetBytes("copy\n" + key))).Replace("-", "").ToLowerInvariant();
            return "gridcopy-" + h.Substring(0, 24);
        }

        /// <summary>
        /// A create that does not take the imported disk over (a failover from a recovery point) gets its own full copy
        /// of it: a managed disk PUT with createOption=Copy and sourceResourceId = the imported disk, followed to its end.
        /// The imported disk is only read. A copy this key made already (a retried or resumed create) is reused, never
        /// made twice; a disk of that name made for another key is a conflict. Returns the copy's id.
        /// </summary>
        private async Task<string> CopyImportedDiskAsync(string imported, string rg, string key, IOperationScope scope, CancellationToken ct)
        {
            ResourceIdentifier source;
            try { source = new ResourceIdentifier(imported); }
            catch (Exception) { throw GridException.InvalidRequest($"'{imported}' is not an Azure managed disk id.", "InvalidImportedDisk"); }
            var id = ManagedDiskResource.CreateResourceIdentifier(_s.SubscriptionId, rg, CopyDiskName(key));
            string keyTag = TagValue(key);
            var disk = await TryGetDiskAsync(id, ct).ConfigureAwait(false);
            if (disk != null)
            {
                if (!disk.Data.Tags.TryGetValue(AzureMapping.IdempotencyTag, out var k) || !string.Equals(k, keyTag, StringComparison.Ordinal))
                    throw GridException.Conflict($"A managed disk named '{id.Name}' exists in resource group '{rg}' and was not made by this request.", "AzureDiskExists", id.ToString());
                Verbose($"Azure: the copy {id.Name} of {source.Name} exists for this idempotency key; not copying again.");
                return id.ToString();
            }
            if (await TryGetDiskAsync(source, ct).ConfigureAwait(false) == null)
                throw GridException.NotFound($"The imported disk '{source.Name}' (the recovery point) is gone from Azure.", "ImportedDiskNotFound", imported);
            scope.Checkpoint(CopyCheckpoint, id.ToString()); // before the disk exists: a resumed create looks for it
            var data = new ManagedDiskData(new AzureLocation(_s.Location))
            {
                CreationData = new DiskCreationData(DiskCreateOption.Copy) { SourceResourceId = source },
                Sku = new DiskSku { Name = DiskStorageAccountType.StandardLrs },
            };
            data.Tags[AzureMapping.IdempotencyTag] = keyTag;
            data.Tags[CopyOfTag] = source.Name;
            var rgResource = _arm.GetResourceGroupResource(ResourceGroupResource.CreateResourceIdentifier(_s.SubscriptionId, rg));
            var op = await rgResource.GetManagedDisks().CreateOrUpdateAsync(WaitUntil.Started, id.Name, data, ct).ConfigureAwait(false);
            await FollowAsync(op, "Copying disk " + source.Name + " to " + id.Name, scope, ct).ConfigureAwait(false);
            return id.ToString();
        }

        /// <summary>Best effort: removes a copy whose VM was refused (a copy still held by a VM stays; the VM's removal takes it).</summary>
        private async Task DiscardCopyAsync(string copy, IOperationScope scope)
        {
            try
            {
                var dop = await _arm.GetManagedDiskResource(new ResourceIdentifier(copy)).DeleteAsync(WaitUntil.Started, CancellationToken.None).ConfigureAwait(false);
                await FollowAsync(dop, "Removing disk copy " + new ResourceIdentifier(copy).Name, scope, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RequestFailedException || ex is GridException)
            {
                Verbose($"Azure: the disk copy {copy} was not removed: {ex.Message}");
            }
        }

        /// <summary>
        /// A VM from an imported OS disk (Options["ImportedDisk"] with ImportedDiskTakeOver=true, else its own copy of
        /// it, see <see cref="CopyImportedDiskAsync"/>): the disk is attached (createOption=Attach), so
        /// there is no image and no OS profile; the VM's generation is the disk's (set at import from the source's
        /// firmware: BIOS → Gen1). OsType (Linux/Windows) from Options["OsType"], Linux by default.
        /// </summary>
        private static VirtualMachineData AttachImportedDisk(VirtualMachineData data, IReadOnlyDictionary<string, string> opts, string imported, CreateWorkloadRequest request, string keyTag)
        {
            ResourceIdentifier diskId;
            try { diskId = new ResourceIdentifier(imported); }
            catch (Exception) { throw GridException.InvalidRequest($"'{imported}' is not an Azure managed disk id.", "InvalidImportedDisk"); }
            bool windows = string.Equals(Get(opts, "OsType"), "Windows", StringComparison.OrdinalIgnoreCase);
            data.StorageProfile.ImageReference = null;
            data.StorageProfile.OSDisk = new VirtualMachineOSDisk(DiskCreateOptionType.Attach)
            {
                Name = diskId.Name,
                OSType = windows ? SupportedOperatingSystemType.Windows : SupportedOperatingSystemType.Linux,
                Caching = CachingType.ReadWrite,
                DeleteOption = DiskDeleteOptionType.Delete,
                ManagedDisk = new VirtualMachineManagedDisk { Id = diskId },
            };
            data.OSProfile = null;
            if (!string.IsNullOrEmpty(request.TargetHost) && !string.Equals(request.TargetHost, AzureMapping.RegionalHost, StringComparison.OrdinalIgnoreCase))
                data.Zones.Add(request.TargetHost);
            foreach (var t in request.Tags) data.Tags[t.Key] = t.Value;
            data.Tags[AzureMapping.IdempotencyTag] = keyTag;
            return data;
        }
    }
}
