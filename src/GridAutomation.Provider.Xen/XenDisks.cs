using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Xen.Xapi;

namespace GridAutomation.Providers.Xen
{
    /// <summary>
    /// Xen's side of moves between datacenters (issue 19): a VM's disks are its VBDs of type Disk; a halted VM's VDI is
    /// exported through XAPI's /export_raw_vdi (format=raw) into a file of the temp folder, hashed (SHA-256) as it
    /// streams; an image is imported into a new VDI of the pool's default SR (VDI.create, then /import_raw_vdi with
    /// format=raw, or format=vhd for a fixed VHD). A create with Options["ImportedDisk"] (the VDI's uuid) attaches it.
    /// Imports are idempotent through the VDI's other_config (the move's key, then the hash once the bytes are in).
    /// </summary>
    internal sealed partial class XenConnection : IDiskTransport, IDiskTransfer
    {
        internal const string ImportKey = "gridautomation_import_key";
        internal const string ImportHashKey = "gridautomation_import_sha256";
        private static readonly DiskFormat[] ExportList = { DiskFormat.Raw };
        private static readonly DiskFormat[] ImportList = { DiskFormat.Raw, DiskFormat.VhdFixed };
        private static readonly string[] Firmwares = { "bios", "uefi" };
        private static readonly string[] Required = { "Image" };

        public IReadOnlyList<DiskFormat> ExportFormats => ExportList;
        public IReadOnlyList<DiskFormat> ImportFormats => ImportList;
        public long? MaxDiskBytes => null;
        public IReadOnlyList<string> SupportedFirmware => Firmwares;
        /// <summary>A VM made from a moved disk is cloned from a template (its CPU/memory/boot settings): -Option Image=&lt;template&gt;.</summary>
        public IReadOnlyList<string> RequiredOptions => Required;
        public long? BandwidthBytesPerSecond => null;

        public async Task<MoveSourceInfo> DescribeAsync(string nativeId, CancellationToken cancellationToken)
        {
            var (vm, rec) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            var info = new MoveSourceInfo
            {
                Firmware = XapiValue.Map(rec, "HVM_boot_params").TryGetValue("firmware", out var fw) && string.Equals(XapiValue.AsString(fw), "uefi", StringComparison.OrdinalIgnoreCase) ? "uefi" : "bios",
            };
            foreach (var d in await DisksAsync(vm, cancellationToken).ConfigureAwait(false))
            {
                long size = XapiValue.Long(d.Vdi, "virtual_size") ?? 0;
                info.Disks.Add(new MoveDisk
                {
                    Name = XapiValue.Str(d.Vdi, "name_label") is { Length: > 0 } n ? n : "xvd" + d.Device,
                    NativeId = XapiValue.Str(d.Vdi, "uuid"), Format = DiskFormat.Raw,
                    CapacityBytes = size, TransferBytes = size, // a raw export carries every byte
                    IsOsDisk = info.Disks.Count == 0,
                });
            }
            return info;
        }

        /// <summary>The VM's disks (VBD type Disk with a VDI), by device number: one VBD and one VDI listing, never one call per disk.</summary>
        private async Task<List<(string VdiRef, Dictionary<string, object?> Vdi, string Device)>> DisksAsync(string vm, CancellationToken ct)
        {
            var vbds = await XapiAsync(() => _x.GetAllRecordsAsync("VBD", ct), "Listing disks").ConfigureAwait(false);
            var vdis = await XapiAsync(() => _x.GetAllRecordsAsync("VDI", ct), "Listing disks").ConfigureAwait(false);
            return vbds.Values
                .Where(b => XapiValue.Str(b, "VM") == vm && XapiValue.Str(b, "type") == "Disk" && XapiValue.Str(b, "VDI") is string r && vdis.ContainsKey(r))
                .Select(b => (VdiRef: XapiValue.Str(b, "VDI")!, Vdi: vdis[XapiValue.Str(b, "VDI")!], Device: XapiValue.Str(b, "userdevice") ?? ""))
                .OrderBy(x => int.TryParse(x.Device, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : int.MaxValue)
                .ToList();
        }

        public async Task<DiskImage> ExportDiskAsync(string nativeId, MoveDisk disk, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
        {
            var (vm, rec) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string name = XapiValue.Str(rec, "name_label") ?? nativeId;
            string power = XapiValue.Str(rec, "power_state") ?? "";
            if (power != "Halted")
                throw GridException.Conflict($"'{name}' is {power}: its disks are exported only while it is halted (Stop-GridWorkload first).", "WorkloadNotStopped", WorkloadId.Format(Datacenter.Name, nativeId));
            var disks = await DisksAsync(vm, cancellationToken).ConfigureAwait(false);
            var d = disks.FirstOrDefault(x => string.Equals(XapiValue.Str(x.Vdi, "uuid"), disk.NativeId, StringComparison.OrdinalIgnoreCase));
            if (d.Vdi == null)
                throw GridException.NotFound($"'{name}' has no disk '{disk.NativeId}' in pool '{PoolName}'.", "DiskNotFound", disk.NativeId);
            string uuid = XapiValue.Str(d.Vdi, "uuid")!;
            long capacity = XapiValue.Long(d.Vdi, "virtual_size") ?? 0;
            Directory.CreateDirectory(tempFolder);
            string path = Path.Combine(tempFolder, $"xen-{nativeId}-{uuid}.raw");
            string partial = path + ".partial";
            string hash;
            using (var sha = SHA256.Create())
            {
                using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
                using (var hashing = new CryptoStream(file, sha, CryptoStreamMode.Write))
                {
                    long written = await _x.ExportVdiAsync(uuid, "raw", hashing, Progress(scope, "Exporting", name, capacity), cancellationToken).ConfigureAwait(false);
                    if (capacity > 0 && written != capacity)
                        throw GridException.Unavailable($"XAPI sent {written} bytes of VDI {uuid}; its virtual size is {capacity}.", null, "DiskExportIncomplete");
                    hashing.FlushFinalBlock();
                }
                hash = Hex(sha.Hash!);
            }
            if (File.Exists(path)) File.Delete(path); // an earlier, interrupted run's complete file: replaced by this one
            File.Move(partial, path);
            return new DiskImage { Name = disk.Name, Format = DiskFormat.Raw, CapacityBytes = capacity, Path = path, ContentHash = hash };
        }

        public async Task<string> ImportDiskAsync(DiskImage image, string key, IOperationScope scope, CancellationToken cancellationToken)
        {
            var ct = cancellationToken;
            if (image.Format != DiskFormat.Raw && image.Format != DiskFormat.VhdFixed)
                throw GridException.InvalidRequest($"Xen imports Raw or VhdFixed disks, not {image.Format}.", "UnsupportedDiskFormat", image.Name);
            if (string.IsNullOrEmpty(image.Path) || !File.Exists(image.Path))
                throw GridException.NotFound($"The staged disk '{image.Path}' does not exist.", "DiskNotFound", image.Name);
            // One VDI per staged disk of the move: the move's key and the staged file's name (it names the source VDI).
            string importKey = key + "|" + Path.GetFileName(image.Path);
            long fileBytes = new FileInfo(image.Path).Length;
            long capacity = image.Format == DiskFormat.Raw ? fileBytes : fileBytes - 512; // a fixed VHD is the data plus a 512-byte footer
            if (image.CapacityBytes > capacity) capacity = image.CapacityBytes;

            var vdis = await XapiAsync(() => _x.GetAllRecordsAsync("VDI", ct), "Listing disks").ConfigureAwait(false);
            var mine = vdis.FirstOrDefault(kv => XapiValue.Map(kv.Value, "other_config").TryGetValue(ImportKey, out var k) && XapiValue.AsString(k) == importKey);
            string vdi;
            if (mine.Key != null)
            {
                vdi = mine.Key;
                if (XapiValue.Map(mine.Value, "other_config").TryGetValue(ImportHashKey, out var h) && string.Equals(XapiValue.AsString(h), image.ContentHash, StringComparison.OrdinalIgnoreCase))
                    return XapiValue.Str(mine.Value, "uuid")!; // a resumed move: the bytes are already in
            }
            else
            {
                var pools = await XapiAsync(() => _x.GetAllRecordsAsync("pool", ct), "Reading the pool").ConfigureAwait(false);
                string? sr = pools.Values.Select(p => XapiValue.Str(p, "default_SR")).FirstOrDefault();
                if (string.IsNullOrEmpty(sr) || sr == "OpaqueRef:NULL")
                    throw GridException.Conflict($"Pool '{PoolName}' ({Datacenter.Name}) has no default SR to import disk '{image.Name}' into. Set one (xe pool-param-set default-SR=...).", "XenNoDefaultSR", image.Name);
                var record = new Dictionary<string, object?>
                {
                    ["name_label"] = image.Name, ["name_description"] = "Imported by GridAutomation", ["SR"] = sr,
                    ["virtual_size"] = capacity, ["type"] = "user", ["sharable"] = false, ["read_only"] = false,
                    ["other_config"] = new Dictionary<string, object?> { [ImportKey] = importKey }, ["xenstore_data"] = new Dictionary<string, object?>(),
                    ["sm_config"] = new Dictionary<string, object?>(), ["tags"] = new List<object?>(),
                };
                vdi = XapiValue.AsString(await XapiAsync(() => _x.CallAsync("VDI.create", ct, record), $"Creating a VDI for '{image.Name}'", image.Name).ConfigureAwait(false))
                      ?? throw GridException.Unavailable("VDI.create returned no VDI.", null, "XenMalformedReply");
            }
            string path = image.Path!;
            await _x.ImportVdiAsync(vdi, image.Format == DiskFormat.VhdFixed ? "vhd" : "raw",
                () => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous), ct).ConfigureAwait(false);
            await XapiAsync(async () =>
            {
                await _x.CallAsync("VDI.remove_from_other_config", ct, vdi, ImportHashKey).ConfigureAwait(false);
                await _x.CallAsync("VDI.add_to_other_config", ct, vdi, ImportHashKey, image.ContentHash).ConfigureAwait(false);
            }, "Recording the imported disk's hash", image.Name).ConfigureAwait(false);
            var rec = await XapiAsync(() => _x.GetRecordAsync("VDI", vdi, ct), "Reading the imported disk", image.Name).ConfigureAwait(false);
            return XapiValue.Str(rec, "uuid") ?? vdi;
        }

        public async Task<string> HashDiskAsync(string nativeId, int index, CancellationToken cancellationToken)
        {
            var (vm, _) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            var disks = await DisksAsync(vm, cancellationToken).ConfigureAwait(false);
            if (index < 0 || index >= disks.Count)
                throw GridException.NotFound($"VM '{nativeId}' has {disks.Count} disk(s); there is no disk {index}.", "DiskNotFound", nativeId);
            using var sha = SHA256.Create();
            using (var hashing = new CryptoStream(Stream.Null, sha, CryptoStreamMode.Write))
            {
                await _x.ExportVdiAsync(XapiValue.Str(disks[index].Vdi, "uuid")!, "raw", hashing, null, cancellationToken).ConfigureAwait(false);
                hashing.FlushFinalBlock();
            }
            return Hex(sha.Hash!);
        }

        /// <summary>other_config key of a VDI copied for a create: the create's idempotency key (a re-run finds its copy).</summary>
        internal const string CopyForKey = "gridautomation-copy-for";

        /// <summary>
        /// Attaches an imported VDI (by uuid) to a new VM as its boot disk, once (a re-run finds the VBD). With
        /// <paramref name="copyForKey"/> (not a move's own import: a recovery point) the VM gets its own copy (VDI.copy into
        /// the same SR, marked with the key so a re-run reuses it) and the imported VDI is left as it is.
        /// </summary>
        private async Task AttachImportedDiskAsync(string vm, string vdiUuid, string? copyForKey, string name, CancellationToken ct)
        {
            string vdi;
            try { vdi = XapiValue.AsString(await _x.CallAsync("VDI.get_by_uuid", ct, vdiUuid).ConfigureAwait(false)) ?? ""; }
            catch (XapiFailure f) when (f.Code == "UUID_INVALID")
            { throw GridException.InvalidRequest($"'{vdiUuid}' is not a disk of pool '{PoolName}' ({Datacenter.Name}).", "InvalidImportedDisk", name); }
            if (copyForKey != null) vdi = await CopyImportedDiskAsync(vdi, copyForKey, name, ct).ConfigureAwait(false);
            var vbds = await XapiAsync(() => _x.GetAllRecordsAsync("VBD", ct), "Listing disks", name).ConfigureAwait(false);
            if (vbds.Values.Any(b => XapiValue.Str(b, "VM") == vm && XapiValue.Str(b, "VDI") == vdi)) return;
            var record = new Dictionary<string, object?>
            {
                ["VM"] = vm, ["VDI"] = vdi, ["userdevice"] = "0", ["bootable"] = true, ["mode"] = "RW", ["type"] = "Disk",
                ["empty"] = false, ["unpluggable"] = false, ["other_config"] = new Dictionary<string, object?>(),
                ["qos_algorithm_type"] = "", ["qos_algorithm_params"] = new Dictionary<string, object?>(),
            };
            await XapiAsync(() => _x.CallAsync("VBD.create", ct, record), $"Attaching the imported disk to '{name}'", name).ConfigureAwait(false);
        }

        private async Task<string> CopyImportedDiskAsync(string vdi, string key, string name, CancellationToken ct)
        {
            var all = await XapiAsync(() => _x.GetAllRecordsAsync("VDI", ct), "Listing disks", name).ConfigureAwait(false);
            var mine = all.FirstOrDefault(kv => XapiValue.Map(kv.Value, "other_config").TryGetValue(CopyForKey, out var k) && XapiValue.AsString(k) == key).Key;
            if (mine != null) return mine;
            string? sr = all.TryGetValue(vdi, out var rec) ? XapiValue.Str(rec, "SR") : null;
            if (string.IsNullOrEmpty(sr)) throw GridException.NotFound($"The imported disk of '{name}' ({vdi}) is no longer in pool '{PoolName}' ({Datacenter.Name}).", "ImportedDiskNotFound", name);
            _verbose($"Copying the imported disk for '{name}' (VDI.copy): the recovery point it came from stays as it is.");
            string copy;
            try
            {
                copy = await _x.RunTaskAsync("VDI.copy", null, ct, vdi, sr, "OpaqueRef:NULL", "OpaqueRef:NULL").ConfigureAwait(false)
                    ?? throw GridException.Unavailable("VDI.copy returned no VDI.", null, "XenMalformedReply");
            }
            catch (XapiFailure f) { throw XapiErrors.ToException(f, $"Copying the imported disk for '{name}'", name); }
            await XapiAsync(async () =>
            {
                await _x.CallAsync("VDI.remove_from_other_config", ct, copy, CopyForKey).ConfigureAwait(false);
                await _x.CallAsync("VDI.add_to_other_config", ct, copy, CopyForKey, key).ConfigureAwait(false);
            }, "Marking the copied disk", name).ConfigureAwait(false);
            return copy;
        }

        private static string Hex(byte[] hash) => BitConverter.ToString(hash).Replace("-", "").ToLowerInvariant();

        private static Action<long>? Progress(IOperationScope? scope, string activity, string name, long total)
        {
            if (scope == null) return null;
            long last = -1;
            return done =>
            {
                long mib = done >> 20;
                if (mib == last && done != total) return; // once per MiB, and at the end
                last = mib;
                scope.Report(new GridProgress(activity, $"{name}: {mib} MiB", total > 0 ? (int)Math.Min(100, done * 100 / total) : -1));
            };
        }
    }
}
