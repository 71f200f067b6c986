using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>
    /// Hyper-V carrying disk content for moves between datacenters (issue 20), over the host's remoting session:
    /// export reads a stopped VM's VHDX (or fixed VHD) from the host in chunks (one remote call per chunk, never the
    /// whole disk in memory on either side) into the move's staging folder, hashing it as it streams; import writes a
    /// staged VHDX/VHD in chunks to "&lt;VirtualHardDiskPath&gt;/gridmove-&lt;key&gt;-&lt;disk&gt;.vhdx" on a host (a
    /// ".partial" first, renamed when whole, its hash checked on the host); a create with Options["ImportedDisk"]
    /// attaches it (New-VM -VHDPath). Hashes of a VM's disk are computed on its host (Get-FileHash). Idempotent per
    /// key: a repeated import finds the file of its key and keeps it when its hash is the image's. Roll-back
    /// (IDiskImportCleanup) removes the key's files no VM uses, on every host.
    /// </summary>
    internal sealed partial class HyperVConnection : IDiskTransfer, IDiskImportCleanup
    {
        internal const string ImportPrefix = "gridmove-";
        /// <summary>Bytes per remote call. 4 MiB: a chunk is base64 in the remoting XML, so about 5.4 MiB a message.</summary>
        internal static int ChunkBytes = 4 << 20;

        public Task<DiskImage> ExportDiskAsync(string nativeId, MoveDisk disk, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() =>
            {
                var ct = cancellationToken;
                var (host, output) = OnVm(nativeId, RemoteScripts.DiskFiles, Args(), ct);
                var r = output.First();
                string name = Convert.ToString(r.GetValueOrDefault("Name"), CultureInfo.InvariantCulture) ?? nativeId;
                string state = Convert.ToString(r.GetValueOrDefault("State"), CultureInfo.InvariantCulture) ?? "";
                if (!string.Equals(state, "Off", StringComparison.OrdinalIgnoreCase))
                    throw GridException.Conflict($"'{name}' is {state}: its disks are exported only while it is off (Stop-GridWorkload first).", "WorkloadNotStopped", TargetOf(nativeId));
                var file = output.FirstOrDefault(f => SamePath(Convert.ToString(f.GetValueOrDefault("Path"), CultureInfo.InvariantCulture), disk.NativeId));
                if (file == null)
                    throw GridException.NotFound($"'{name}' has no disk '{disk.NativeId}' on host '{host.Name}'.", "DiskNotFound", TargetOf(nativeId));
                string remotePath = Convert.ToString(file["Path"], CultureInfo.InvariantCulture)!;
                long length = ToLong(file.GetValueOrDefault("Length"));

                Directory.CreateDirectory(tempFolder);
                string local = Path.Combine(tempFolder, DiskFiles.SafeName(disk.Name) + DiskFiles.Extension(disk.Format));
                string partial = local + ".partial";
                var progress = Progress(scope, $"Export {disk.Name} of {name} from {host.Name}", length);
                _verbose($"Hyper-V: reading '{remotePath}' ({length} bytes) from {host.Name} in {ChunkBytes >> 20} MiB chunks");
                string hash;
                using (var sha = SHA256.Create())
                {
                    using (var fs = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, DiskFiles.Chunk))
                    {
                        long offset = 0;
                        while (offset < length)
                        {
                            ct.ThrowIfCancellationRequested();
                            int want = (int)Math.Min(ChunkBytes, length - offset);
                            var chunk = host.InvokeRaw(RemoteScripts.ReadChunk, Args(("Path", remotePath), ("Offset", offset), ("Count", want)), ct, TargetOf(nativeId))
                                .Select(o => o?.BaseObject as byte[]).FirstOrDefault(b => b != null);
                            if (chunk == null || chunk.Length == 0)
                                throw GridException.Unavailable($"Host '{host.Name}' returned no bytes of '{remotePath}' at offset {offset} of {length} (the file shrank?).", null, "DiskExportIncomplete");
                            fs.Write(chunk, 0, chunk.Length);
                            sha.TransformBlock(chunk, 0, chunk.Length, null, 0);
                            offset += chunk.Length;
                            progress(offset);
                        }
                    }
                    sha.TransformFinalBlock(Array.Empty<byte>(), 0, 0);
                    hash = DiskFiles.Hex(sha.Hash!);
                }
                File.Move(partial, local, overwrite: true);
                return new DiskImage { Name = disk.Name, Format = disk.Format, CapacityBytes = disk.CapacityBytes, Path = local, ContentHash = hash };
            }, cancellationToken);
        }

        public Task<string> ImportDiskAsync(DiskImage image, string key, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            if (image == null) throw new ArgumentNullException(nameof(image));
            if (image.Format != DiskFormat.Vhdx && image.Format != DiskFormat.VhdFixed)
                throw GridException.Unsupported($"Hyper-V imports VHDX disks and fixed VHDs, not {image.Format}.", "UnsupportedDiskFormat", image.Name);
            if (string.IsNullOrEmpty(image.Path) || !File.Exists(image.Path))
                throw GridException.NotFound($"The staged image of disk '{image.Name}' ({image.Path}) is gone; Resume-GridOperation -Rollback, then move again.", "StagedDiskMissing", image.Name);
            return Run(() =>
            {
                var ct = cancellationToken;
                string fileName = ImportFileName(key, image);
                // the host that already holds this key's file (a resumed import), else the one whose running VMs hold the least memory
                RemoteHost? host = null; Dictionary<string, object?>? target = null;
                foreach (var h in _hosts)
                {
                    var t = h.Invoke(RemoteScripts.ImportTarget, Args(("FileName", fileName)), ct, image.Name).Single();
                    if (t.GetValueOrDefault("Exists") is true) { host = h; target = t; break; }
                }
                if (host == null)
                {
                    host = _hosts.Count == 1 ? _hosts[0] : _hosts.OrderBy(RunningMemory).First();
                    target = host.Invoke(RemoteScripts.ImportTarget, Args(("FileName", fileName)), ct, image.Name).Single();
                }
                string remotePath = Convert.ToString(target!["Path"], CultureInfo.InvariantCulture)!;
                string reference = Reference(host.Name, image.Firmware, remotePath);
                if (target.GetValueOrDefault("Exists") is true && string.Equals(target.GetValueOrDefault("Hash") as string, image.ContentHash, StringComparison.OrdinalIgnoreCase))
                    return reference; // a resumed move: the bytes are there already

                long length = new FileInfo(image.Path!).Length;
                var progress = Progress(scope, $"Import {image.Name} into {host.Name}", length);
                _verbose($"Hyper-V: writing '{remotePath}' ({length} bytes) on {host.Name} in {ChunkBytes >> 20} MiB chunks");
                using (var fs = new FileStream(image.Path!, FileMode.Open, FileAccess.Read, FileShare.Read, DiskFiles.Chunk))
                {
                    var buf = new byte[ChunkBytes];
                    long offset = 0;
                    do
                    {
                        ct.ThrowIfCancellationRequested();
                        int n = ReadFull(fs, buf);
                        byte[] data = n == buf.Length ? buf : buf.AsSpan(0, n).ToArray();
                        host.InvokeRaw(RemoteScripts.WriteChunk, Args(("Path", remotePath), ("Offset", offset), ("Data", data)), ct, image.Name);
                        offset += n;
                        progress(offset);
                    }
                    while (offset < length);
                }
                var done = host.Invoke(RemoteScripts.FinishImport, Args(("Path", remotePath)), ct, image.Name).Single();
                if (ToLong(done.GetValueOrDefault("Length")) != length || !string.Equals(done.GetValueOrDefault("Hash") as string, image.ContentHash, StringComparison.OrdinalIgnoreCase))
                    throw GridException.Conflict($"The disk written to '{remotePath}' on {host.Name} differs from the staged image (hash {done.GetValueOrDefault("Hash")}, expected {image.ContentHash}).", "DiskVerifyFailed", image.Name);
                return reference;
            }, cancellationToken);
        }

        public Task<string> HashDiskAsync(string nativeId, int index, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() => Convert.ToString(OnVm(nativeId, RemoteScripts.HashVmDisk, Args(("Index", index)), cancellationToken)
                .Output.Single().GetValueOrDefault("Hash"), CultureInfo.InvariantCulture) ?? "", cancellationToken);
        }

        public Task DiscardImportsAsync(IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            string prefix = ImportPrefix + scope.IdempotencyKey + "-";
            return Run(() =>
            {
                foreach (var h in _hosts)
                    foreach (var removed in h.InvokeRaw(RemoteScripts.DiscardImports, Args(("Prefix", prefix)), cancellationToken, Datacenter.Name))
                        _verbose($"Hyper-V: roll-back removed the imported disk '{removed}' on {h.Name}");
            }, cancellationToken);
        }

        /// <summary>The file an import of this key writes: gridmove-&lt;key&gt;-&lt;disk&gt;.vhdx (or .vhd).</summary>
        internal static string ImportFileName(string key, DiskImage image)
            => ImportPrefix + DiskFiles.SafeName(key) + "-" + DiskFiles.SafeName(image.Name) + (image.Format == DiskFormat.VhdFixed ? ".vhd" : ".vhdx");

        /// <summary>What a create takes as Options["ImportedDisk"]: "&lt;host&gt;|&lt;generation&gt;|&lt;path&gt;" (BIOS → generation 1, else 2).</summary>
        internal static string Reference(string hostName, string? firmware, string path)
            => hostName + "|" + (string.Equals(firmware, "bios", StringComparison.OrdinalIgnoreCase) ? "1" : "2") + "|" + path;

        internal static (string Host, int Generation, string Path) ParseReference(string reference)
        {
            var parts = reference.Split('|', 3);
            if (parts.Length != 3 || parts[0].Length == 0 || (parts[1] != "1" && parts[1] != "2") || parts[2].Length == 0)
                throw GridException.InvalidRequest($"'{reference}' is not a disk imported by Hyper-V ('<host>|<generation>|<path>').", "InvalidImportedDisk", reference);
            return (parts[0], parts[1] == "1" ? 1 : 2, parts[2]);
        }

        private long RunningMemory(RemoteHost h)
        {
            try { return ToLong(h.Invoke(RemoteScripts.HostUsage, null, CancellationToken.None, h.Address).Single().GetValueOrDefault("AllocatedMemory")); }
            catch (GridException) { return long.MaxValue; } // a host that does not answer is the last choice
        }

        private static bool SamePath(string? a, string? b)
            => a != null && b != null && string.Equals(a.Replace('\\', '/'), b.Replace('\\', '/'), StringComparison.OrdinalIgnoreCase);

        private static int ReadFull(Stream s, byte[] buf)
        {
            int n = 0;
            while (n < buf.Length) { int r = s.Read(buf, n, buf.Length - n); if (r <= 0) break; n += r; }
            return n;
        }

        /// <summary>Bytes done, reported once per remote call: a call carries one 4 MiB chunk, so this is already coarse.</summary>
        private static Action<long> Progress(IOperationScope scope, string activity, long total) => done =>
            scope.Report(new GridProgress(activity, $"{done >> 20} of {Math.Max(total, done) >> 20} MiB", total > 0 ? (int)Math.Min(100, 100 * done / total) : -1) { BytesDone = done, BytesTotal = Math.Max(total, done) });
    }
}
