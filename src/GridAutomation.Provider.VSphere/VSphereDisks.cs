using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.VSphere.Vim25;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>
    /// vSphere's side of moves between datacenters. Export: a stopped VM's disk is downloaded from its datastore
    /// (<c>/folder/&lt;path&gt;?dcPath=&amp;dsName=</c>) into the temp folder, streamed. Import: the OVF path
    /// (VSphereOvfImport.cs) makes a VM from a streamOptimized VMDK; the move's create step adopts that VM.
    /// Content hashes are SHA-256 of the disk's guest-visible (raw) content, so they compare across formats.
    /// </summary>
    public sealed partial class VSphereConnection : IDiskTransport, IDiskTransfer, IDiskImportCleanup, IImportedDiskHash
    {
        /// <summary>What a datastore download gives: the streamOptimized VMDK an OVF import left, or a flat (raw) extent.</summary>
        private static readonly DiskFormat[] ExportList = { DiskFormat.VmdkStreamOptimized, DiskFormat.Raw, DiskFormat.VmdkMonolithicSparse };
        private static readonly DiskFormat[] ImportList = { DiskFormat.VmdkStreamOptimized };
        private static readonly string[] Firmwares = { "bios", "uefi" };

        public IReadOnlyList<DiskFormat> ExportFormats => ExportList;
        public IReadOnlyList<DiskFormat> ImportFormats => ImportList;
        /// <summary>vSphere's largest virtual disk: 62 TB.</summary>
        public long? MaxDiskBytes => 62L * 1024 * 1024 * 1024 * 1024;
        public IReadOnlyList<string> SupportedFirmware => Firmwares;
        /// <summary>None: the import picks the datastore (MoveDefaults' Datastore, else the placed host's datastore with the most free space).</summary>
        public IReadOnlyList<string> RequiredOptions => Array.Empty<string>();
        public long? BandwidthBytesPerSecond => null;

        /// <summary>One virtual disk of a VM as the datastore holds it.</summary>
        internal sealed class VmDisk
        {
            public string Label = "";
            public string FileName = "";   // "[datastore] folder/name.vmdk"
            public long CapacityBytes;
        }

        private async Task<(string Name, string Power, string? Firmware, List<VmDisk> Disks)> DisksOfAsync(string nativeId, CancellationToken ct)
        {
            var vm = await ResolveAsync(nativeId, ct).ConfigureAwait(false);
            ObjectContent? oc;
            try { oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "runtime.powerState", "config.template", "config.firmware", "config.hardware.device" }, ct).ConfigureAwait(false); }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { oc = null; }
            if (oc == null) throw GridException.NotFound($"The VM '{nativeId}' no longer exists in vSphere datacenter '{_dcName}'.", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
            NotATemplate(oc, nativeId);
            return (oc.Text("name") ?? nativeId, oc.Text("runtime.powerState") ?? "", oc.Text("config.firmware"), ParseDisks(oc.Get("config.hardware.device")));
        }

        /// <summary>The VirtualDisk devices of a config.hardware.device value (a VM's or a snapshot's), in their order.</summary>
        internal static List<VmDisk> ParseDisks(VimNode? devices)
        {
            var disks = new List<VmDisk>();
            foreach (var d in devices?.Children ?? new List<VimNode>())
            {
                if (d.XsiType != "VirtualDisk") continue;
                long? bytes = d.Child("capacityInBytes")?.AsLong();
                long? kb = d.Child("capacityInKB")?.AsLong();
                disks.Add(new VmDisk
                {
                    Label = d.Path("deviceInfo.label")?.Text ?? ("disk " + d.ChildText("key")),
                    FileName = d.Path("backing.fileName")?.Text ?? "",
                    CapacityBytes = bytes ?? (kb ?? 0) * 1024,
                });
            }
            return disks;
        }

        public Task<MoveSourceInfo> DescribeAsync(string nativeId, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var (_, _, firmware, disks) = await DisksOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var info = new MoveSourceInfo { Firmware = firmware == "efi" ? "uefi" : "bios" };
                for (int i = 0; i < disks.Count; i++)
                {
                    // the format the export will give: what the datastore file's first bytes say
                    var (ds, rel) = VSphereDatastoreFiles.ParsePath(disks[i].FileName);
                    var (head, n, length) = await VSphereDatastoreFiles.ReadHeadAsync(_vim, _dcName, ds, rel, cancellationToken).ConfigureAwait(false);
                    var kind = VmdkSniffer.Sniff(head, n);
                    var format = kind.Format switch
                    {
                        VmdkSniffer.Kind.StreamOptimized => DiskFormat.VmdkStreamOptimized,
                        VmdkSniffer.Kind.MonolithicSparse => DiskFormat.VmdkMonolithicSparse,
                        _ => DiskFormat.Raw, // a flat extent, or a never-written (empty) disk: zeros
                    };
                    long transfer = format == DiskFormat.Raw || length == null ? disks[i].CapacityBytes : length.Value;
                    info.Disks.Add(new MoveDisk
                    {
                        Name = disks[i].Label, NativeId = disks[i].FileName, Format = format,
                        CapacityBytes = disks[i].CapacityBytes, TransferBytes = transfer, IsOsDisk = i == 0,
                    });
                }
                return info;
            }, cancellationToken);

        public Task<DiskImage> ExportDiskAsync(string nativeId, MoveDisk disk, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (disk == null) throw GridException.InvalidRequest("No disk to export.", "DiskNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
            return WithSessionAsync(async () =>
            {
                var ct = cancellationToken;
                var (name, power, _, disks) = await DisksOfAsync(nativeId, ct).ConfigureAwait(false);
                string id = WorkloadId.Format(Datacenter.Name, nativeId);
                if (power != "poweredOff")
                    throw GridException.Conflict($"'{name}' is {power}: a disk is exported from a stopped VM only. Stop it first (Move-GridWorkload stops it for you).", "DiskExportRequiresStop", id);
                int index = disks.FindIndex(d => string.Equals(d.FileName, disk.NativeId, StringComparison.Ordinal));
                if (index < 0) index = disks.FindIndex(d => string.Equals(d.Label, disk.Name, StringComparison.OrdinalIgnoreCase));
                if (index < 0) throw GridException.NotFound($"'{name}' has no disk '{disk.NativeId ?? disk.Name}'. Its disks: {string.Join(", ", disks.Select(d => d.FileName))}.", "DiskNotFound", id);
                Directory.CreateDirectory(tempFolder);
                // a fixed name per VM and disk: a repeated (resumed) export overwrites its own file
                string stem = Path.Combine(tempFolder, "vsphere-" + Safe(Datacenter.Name) + "-" + Safe(nativeId) + "-disk" + index);
                var (path, format) = await DownloadDiskAsync(disks[index], stem, $"Export disk '{disks[index].Label}' of '{name}'", scope, ct).ConfigureAwait(false);
                string hash = await QemuImg.GuestContentHashAsync(path, format, path, ct).ConfigureAwait(false);
                _verbose($"Exported {disks[index].FileName} of '{name}' as {format} ({new FileInfo(path).Length} bytes), content SHA-256 {hash}.");
                return new DiskImage { Name = disks[index].Label, Format = format, CapacityBytes = disks[index].CapacityBytes, Path = path, ContentHash = hash };
            }, cancellationToken);
        }

        public Task<string> HashDiskAsync(string nativeId, int index, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var (name, disk) = await DiskAtAsync(nativeId, index, cancellationToken).ConfigureAwait(false);
                return await GuestHashByDownloadAsync(name, disk, cancellationToken).ConfigureAwait(false);
            }, cancellationToken);

        /// <summary>
        /// IImportedDiskHash (verify-destination of a move): the disk's datastore file is read once, straight into a
        /// SHA-256 (no temp file). A sparse VMDK whose bytes hash to the imported image's ContentHash is that image (our
        /// simulator keeps the uploaded stream as it came): proven without inflating it. A descriptor (a real vCenter
        /// stores the disk as a flat extent) is followed to its extent, whose bytes (zeros up to the capacity) are the
        /// guest content; a raw file is the guest content itself. Only a sparse VMDK with other bytes (rewritten by the
        /// destination) is downloaded and inflated to hash its guest content, as <see cref="HashDiskAsync"/> does.
        /// </summary>
        public Task<string> HashImportedDiskAsync(string nativeId, int index, DiskImage imported, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var ct = cancellationToken;
                var (name, disk) = await DiskAtAsync(nativeId, index, ct).ConfigureAwait(false);
                var (ds, rel) = VSphereDatastoreFiles.ParsePath(disk.FileName);
                var (sha, head, n, length) = await VSphereDatastoreFiles.HashAsync(_vim, _dcName, ds, rel, ct).ConfigureAwait(false);
                var kind = VmdkSniffer.Sniff(head, n);
                switch (kind.Format)
                {
                    case VmdkSniffer.Kind.StreamOptimized:
                    case VmdkSniffer.Kind.MonolithicSparse:
                    {
                        string bytes = VSphereDatastoreFiles.FinishHash(sha, 0);
                        if (string.Equals(bytes, imported?.ContentHash, StringComparison.OrdinalIgnoreCase))
                        {
                            _verbose($"{disk.FileName} of '{name}' is byte for byte the imported image ({length} bytes, SHA-256 {bytes}): no inflate needed.");
                            return bytes;
                        }
                        _verbose($"{disk.FileName} of '{name}' is not the imported image's bytes (the datastore rewrote it): hashing its guest content.");
                        return await GuestHashByDownloadAsync(name, disk, ct).ConfigureAwait(false);
                    }
                    case VmdkSniffer.Kind.Descriptor:
                    {
                        sha.Dispose();
                        if (kind.FlatExtent == null) return await GuestHashByDownloadAsync(name, disk, ct).ConfigureAwait(false); // says why it cannot
                        string dir = rel.Contains('/') ? rel.Substring(0, rel.LastIndexOf('/') + 1) : "";
                        var (flat, _, _, flatLength) = await VSphereDatastoreFiles.HashAsync(_vim, _dcName, ds, dir + kind.FlatExtent, ct).ConfigureAwait(false);
                        _verbose($"{disk.FileName} of '{name}' is a descriptor: its flat extent ({flatLength} bytes) is the guest content, hashed as read.");
                        return VSphereDatastoreFiles.FinishHash(flat, Math.Max(0, disk.CapacityBytes - flatLength));
                    }
                    default: // raw bytes or an empty (never written) file: the guest content, zeros up to the capacity
                        return VSphereDatastoreFiles.FinishHash(sha, Math.Max(0, disk.CapacityBytes - length));
                }
            }, cancellationToken);

        private async Task<(string Name, VmDisk Disk)> DiskAtAsync(string nativeId, int index, CancellationToken ct)
        {
            var (name, _, _, disks) = await DisksOfAsync(nativeId, ct).ConfigureAwait(false);
            if (index < 0 || index >= disks.Count)
                throw GridException.NotFound($"'{name}' has no disk number {index} (it has {disks.Count}).", "DiskNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
            return (name, disks[index]);
        }

        /// <summary>The guest content's hash of a disk downloaded into the temp folder (and deleted): a sparse VMDK is inflated by qemu-img.</summary>
        private async Task<string> GuestHashByDownloadAsync(string name, VmDisk disk, CancellationToken ct)
        {
            string folder = DiskConverter.TempFolder();
            Directory.CreateDirectory(folder);
            string stem = Path.Combine(folder, "vsphere-hash-" + Guid.NewGuid().ToString("N"));
            var (path, format) = await DownloadDiskAsync(disk, stem, $"Read disk '{disk.Label}' of '{name}'", null, ct).ConfigureAwait(false);
            try { return await QemuImg.GuestContentHashAsync(path, format, path, ct).ConfigureAwait(false); }
            finally { TryDelete(path); }
        }

        /// <summary>
        /// Downloads a disk from its datastore to <paramref name="stem"/> + extension. A VMDK descriptor (what a real
        /// datastore holds under the disk's name) is followed to its single flat extent (raw); a sparse VMDK is kept as
        /// it is; an empty file (a simulator VM's disk that was never written) is a raw disk of zeros of its capacity.
        /// </summary>
        private async Task<(string Path, DiskFormat Format)> DownloadDiskAsync(VmDisk disk, string stem, string activity, IOperationScope? scope, CancellationToken ct)
        {
            var (ds, rel) = VSphereDatastoreFiles.ParsePath(disk.FileName);
            string first = stem + ".download";
            await VSphereDatastoreFiles.DownloadAsync(_vim, _dcName, ds, rel, first, disk.CapacityBytes, activity, scope, ct).ConfigureAwait(false);
            var kind = VmdkSniffer.Sniff(first);
            string path;
            DiskFormat format;
            switch (kind.Format)
            {
                case VmdkSniffer.Kind.Descriptor:
                    if (kind.FlatExtent == null)
                        throw GridException.Unsupported($"The disk {disk.FileName} is a VMDK of type '{kind.CreateType}' with {kind.ExtentCount} extent(s): only a single flat extent (or a streamOptimized/monolithicSparse file) is exported.", "UnsupportedDiskFormat", disk.FileName);
                    TryDelete(first);
                    string dir = rel.Contains('/') ? rel.Substring(0, rel.LastIndexOf('/') + 1) : "";
                    path = stem + ".raw";
                    await VSphereDatastoreFiles.DownloadAsync(_vim, _dcName, ds, dir + kind.FlatExtent, path, disk.CapacityBytes, activity, scope, ct).ConfigureAwait(false);
                    format = DiskFormat.Raw;
                    break;
                case VmdkSniffer.Kind.StreamOptimized:
                    path = stem + ".vmdk"; format = DiskFormat.VmdkStreamOptimized; break;
                case VmdkSniffer.Kind.MonolithicSparse:
                    path = stem + ".vmdk"; format = DiskFormat.VmdkMonolithicSparse; break;
                case VmdkSniffer.Kind.Empty:
                    path = stem + ".raw"; format = DiskFormat.Raw; break;
                default:
                    path = stem + ".raw"; format = DiskFormat.Raw; break;
            }
            if (kind.Format != VmdkSniffer.Kind.Descriptor)
            {
                TryDelete(path);
                File.Move(first, path);
            }
            if (format == DiskFormat.Raw && new FileInfo(path).Length < disk.CapacityBytes)
            {
                // a never-written disk reads as zeros: extend (sparse) to its capacity so every side hashes the same content
                using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
                f.SetLength(disk.CapacityBytes);
            }
            return (path, format);
        }

        private static string Safe(string s)
        {
            var chars = s.Select(c => char.IsLetterOrDigit(c) || c == '-' || c == '_' ? c : '_').ToArray();
            var r = new string(chars);
            return r.Length > 60 ? r.Substring(0, 60) : r;
        }

        internal static void TryDelete(string path)
        {
            try { if (File.Exists(path)) File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
