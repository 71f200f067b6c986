using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using System.Xml.Linq;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>
    /// Libvirt carrying disk content for moves between datacenters: export streams a stopped domain's volume out of
    /// its pool (virStorageVolDownload; a plain file on an embed host) into the move's staging folder, hashing it on
    /// the way; import creates a volume named after the move's key in the destination host's pool and streams the staged
    /// file into it (virStorageVolUpload); a create with Options["ImportedDisk"] defines the domain on that volume.
    /// Every call is idempotent: a repeated export rewrites the staged file, a repeated import reuses and rewrites the
    /// volume of the same key.
    /// </summary>
    internal sealed partial class LibvirtConnection : IDiskTransfer, IDiskImportCleanup
    {
        /// <summary>Imported volumes are named "gridmove-&lt;key&gt;-&lt;disk&gt;&lt;ext&gt;", so a roll-back finds them by the key alone.</summary>
        internal const string ImportPrefix = "gridmove-";

        /// <summary>
        /// The export's own hash of a local source file (read directly, not through a stream), with the size and
        /// modification time the file had before and after that read: the move's verify step gets it back instead of
        /// reading the disk a second time while the file is unchanged (a changed file is read and hashed again).
        /// </summary>
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long Length, DateTime Written, string Hash)> _exportedHashes
            = new System.Collections.Concurrent.ConcurrentDictionary<string, (long, DateTime, string)>(StringComparer.Ordinal);

        public Task<DiskImage> ExportDiskAsync(string nativeId, MoveDisk disk, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() =>
            {
                var (h, d) = LocateOrThrow(nativeId);
                using (d)
                {
                    string target = TargetOf(nativeId);
                    if (Virt.IsActive(d))
                        throw GridException.Conflict($"'{Virt.Name(d)}' is running: a disk is exported only from a stopped domain.", "WorkloadNotStopped", target);
                    string path = disk.NativeId ?? throw GridException.NotFound($"Disk '{disk.Name}' has no source path.", "DiskNotFound", target);
                    Directory.CreateDirectory(tempFolder);
                    string file = Path.Combine(tempFolder, DiskFiles.SafeName(disk.Name) + DiskFiles.Extension(disk.Format));
                    string partial = file + ".partial";
                    string hash;
                    (long Length, DateTime Written)? stamp = null;
                    var progress = Progress(scope, "Export " + disk.Name + " of " + Virt.Name(d), disk.TransferBytes);
                    using (var sha = SHA256.Create())
                    {
                        using (var fs = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, CopyChunk))
                        using (var cs = new CryptoStream(fs, sha, CryptoStreamMode.Write))
                        {
                            // a daemon on this machine: its volume's file is read directly (the bytes a download would
                            // stream, without the trip through the daemon); a remote one's through virStorageVolDownload
                            using var vol = Virt.LookupVolumeByPath(h.Conn, path);
                            if (h.IsLocal && File.Exists(path))
                            {
                                var before = new FileInfo(path);
                                stamp = (before.Length, before.LastWriteTimeUtc);
                                using (var src = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, CopyChunk, FileOptions.SequentialScan)) Copy(src, cs, progress, cancellationToken);
                            }
                            else if (vol != null) Virt.Download(h.Conn, vol, cs, progress, cancellationToken, target);
                            else throw GridException.NotFound($"Disk '{path}' of '{Virt.Name(d)}' is neither a volume of host '{h.Name}' nor a file here.", "DiskNotFound", target);
                        }
                        hash = DiskFiles.Hex(sha.Hash!);
                    }
                    File.Move(partial, file, overwrite: true);
                    var after = new FileInfo(path);
                    if (stamp is { } st && after.Exists && after.Length == st.Length && after.LastWriteTimeUtc == st.Written)
                        _exportedHashes[path] = (st.Length, st.Written, hash);
                    else _exportedHashes.TryRemove(path, out _);
                    return new DiskImage { Name = disk.Name, Format = disk.Format, CapacityBytes = disk.CapacityBytes, Path = file, ContentHash = hash };
                }
            }, cancellationToken, nativeId);
        }

        public Task<string> ImportDiskAsync(DiskImage image, string key, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            if (image.Format != DiskFormat.Raw && image.Format != DiskFormat.Qcow2)
                throw GridException.Unsupported($"Libvirt imports raw and qcow2 disks, not {image.Format}.", "UnsupportedDiskFormat", image.Name);
            if (image.Path == null || !File.Exists(image.Path))
                throw GridException.NotFound($"The staged image of disk '{image.Name}' ({image.Path}) is gone; Resume-GridOperation -Rollback, then move again.", "StagedDiskMissing", image.Name);
            return Run(() =>
            {
                string volName = ImportPrefix + key + "-" + DiskFiles.SafeName(image.Name) + (image.Format == DiskFormat.Qcow2 ? ".qcow2" : ".img");
                long length = new FileInfo(image.Path).Length;
                // the host the move names (-DestinationHost: the create runs there, so its pool takes the disk); else the
                // host that already holds this key's volume (a resumed import), else the one with the most free memory
                var host = !string.IsNullOrEmpty(image.DestinationHost) ? HostByName(image.DestinationHost!)
                    : _hosts.FirstOrDefault(x => ImportedPath(x, volName) != null) ?? _hosts.OrderByDescending(FreeMemoryKiB).First();
                string fmt = image.Format == DiskFormat.Qcow2 ? "qcow2" : "raw";
                var progress = Progress(scope, "Import " + image.Name + " into " + host.Name, length);
                string path;
                if (host.FileStorage)
                {
                    Directory.CreateDirectory(host.DisksDirectory);
                    path = Path.Combine(host.DisksDirectory, volName);
                    using (var src = new FileStream(image.Path, FileMode.Open, FileAccess.Read, FileShare.Read, DiskFiles.Chunk))
                    using (var dst = new FileStream(path + ".partial", FileMode.Create, FileAccess.Write, FileShare.None, DiskFiles.Chunk))
                        Copy(src, dst, progress, cancellationToken);
                    File.Move(path + ".partial", path, overwrite: true);
                }
                else
                {
                    using var pool = Virt.LookupPool(host.Conn, host.ImagePool)
                        ?? throw GridException.NotFound($"Storage pool '{host.ImagePool}' does not exist on host '{host.Name}'.", "StoragePoolNotFound", host.ImagePool);
                    var vol = Virt.LookupVolume(pool, volName);
                    if (vol != null && Virt.VolInfo(vol).capacity != (ulong)length) { Virt.DeleteVolume(vol); vol.Dispose(); vol = null; }
                    // a raw volume of exactly the file's length (sparse: allocation 0), then the bytes as they are: the
                    // volume's file is then the staged file, qcow2 or raw, bit for bit
                    vol ??= Virt.CreateVolume(pool, ByteVolumeXml(volName, length));
                    using (vol)
                    {
                        path = Virt.VolPath(vol);
                        // a daemon on this machine: the bytes go straight into its volume's file (holes stay holes); a
                        // remote one, or a file this process may not write, through virStorageVolUpload
                        if (!(host.IsLocal && WriteLocalVolume(image.Path, path, progress, cancellationToken)))
                            using (var src = new FileStream(image.Path, FileMode.Open, FileAccess.Read, FileShare.Read, CopyChunk, FileOptions.SequentialScan))
                                Virt.Upload(host.Conn, vol, src, progress, cancellationToken, image.Name);
                    }
                }
                _verbose($"libvirt: imported disk '{image.Name}' ({length} bytes, {fmt}) as {path} on {host.Name}");
                return fmt + "|" + path;
            }, cancellationToken, image.Name);
        }

        /// <summary>A raw volume of exactly <paramref name="length"/> bytes (sparse: allocation 0) that takes a file's bytes as they are (qcow2 or raw).</summary>
        private static string ByteVolumeXml(string name, long length) => new XElement("volume",
            new XElement("name", name),
            new XElement("capacity", new XAttribute("unit", "bytes"), length),
            new XElement("allocation", new XAttribute("unit", "bytes"), 0),
            new XElement("target", new XElement("format", new XAttribute("type", "raw")))).ToString(SaveOptions.DisableFormatting);

        /// <summary>
        /// A create from an imported disk that is not its own (a recovery point, which replication keeps recorded for a
        /// later failover or test) gets a copy of its own on the same host, byte for byte (qcow2 stays qcow2): the guest
        /// never writes to the point, and removing the workload with its storage deletes only the copy. A retried create
        /// copies again (the domain was not defined yet, or its create found it by the key and never got here).
        /// </summary>
        private string CopyImported(LibvirtHost h, string path, string diskName, CancellationToken ct, string target)
        {
            if (h.FileStorage)
            {
                string file = Path.Combine(h.DisksDirectory, diskName);
                Images.CopyAtomically(path, file);
                return file;
            }
            using var pool = Virt.LookupPool(h.Conn, h.ImagePool)
                ?? throw GridException.NotFound($"Storage pool '{h.ImagePool}' does not exist on host '{h.Name}'.", "StoragePoolNotFound", h.ImagePool);
            string? temp = null;
            string from = path;
            try
            {
                // a daemon on this machine: its volume's file is read directly; a remote one's is fetched through its stream first
                if (!(h.IsLocal && File.Exists(path)))
                {
                    using var source = Virt.LookupVolumeByPath(h.Conn, path)
                        ?? throw GridException.NotFound($"The imported disk '{path}' is no volume of host '{h.Name}'.", "DiskNotFound", target);
                    string folder = DiskConverter.TempFolder();
                    Directory.CreateDirectory(folder);
                    temp = Path.Combine(folder, "gridcopy-" + Guid.NewGuid().ToString("N") + ".part");
                    using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, DiskFiles.Chunk)) Virt.Download(h.Conn, source, fs, null, ct, target);
                    from = temp;
                }
                using (var old = Virt.LookupVolume(pool, diskName)) if (old != null) Virt.DeleteVolume(old); // a retried create's partial copy
                long length = new FileInfo(from).Length;
                using var vol = Virt.CreateVolume(pool, ByteVolumeXml(diskName, length));
                if (!(h.IsLocal && WriteLocalVolume(from, Virt.VolPath(vol), null, ct)))
                    using (var src = new FileStream(from, FileMode.Open, FileAccess.Read, FileShare.Read, CopyChunk)) Virt.Upload(h.Conn, vol, src, null, ct, target);
                _verbose($"libvirt: '{target}' runs on its own copy of the imported disk {path} ({length} bytes) on {h.Name}");
                return Virt.VolPath(vol);
            }
            finally { if (temp != null) try { File.Delete(temp); } catch (IOException) { } }
        }

        public Task<string> HashDiskAsync(string nativeId, int index, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() =>
            {
                var (h, d) = LocateOrThrow(nativeId);
                using (d)
                {
                    string target = TargetOf(nativeId);
                    var disks = DomainXml.Parse(Virt.XmlDesc(d, Virt.XML_INACTIVE), nativeId).Disks.Where(x => x.Device == "disk").ToList();
                    if (index < 0 || index >= disks.Count || disks[index].SourcePath == null)
                        throw GridException.NotFound($"'{Virt.Name(d)}' has no disk {index}.", "DiskNotFound", target);
                    string path = disks[index].SourcePath!;
                    // the export read this very file and it has not changed since: its hash stands (no second read)
                    if (h.IsLocal && _exportedHashes.TryGetValue(path, out var known))
                    {
                        var now = new FileInfo(path);
                        if (now.Exists && now.Length == known.Length && now.LastWriteTimeUtc == known.Written) return known.Hash;
                    }
                    using var vol = Virt.LookupVolumeByPath(h.Conn, path);
                    using var sha = SHA256.Create();
                    using (var sink = new CryptoStream(Stream.Null, sha, CryptoStreamMode.Write))
                    {
                        // a daemon on this machine: its volume's file is read directly (no second trip through the daemon's stream)
                        if (h.IsLocal && File.Exists(path))
                            using (var src = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, DiskFiles.Chunk)) Copy(src, sink, null, cancellationToken);
                        else if (vol != null) Virt.Download(h.Conn, vol, sink, null, cancellationToken, target);
                        else throw GridException.NotFound($"Disk '{path}' is neither a volume of host '{h.Name}' nor a file here.", "DiskNotFound", target);
                    }
                    return DiskFiles.Hex(sha.Hash!);
                }
            }, cancellationToken, nativeId);
        }

        /// <summary>IDiskImportCleanup: a rolled-back move's imported volumes (by the operation's key) that no domain uses.</summary>
        public Task DiscardImportsAsync(IOperationScope scope, CancellationToken cancellationToken)
            => RemoveImportedDisksAsync(scope.IdempotencyKey, cancellationToken);

        public Task<int> RemoveImportedDisksAsync(string key, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            string prefix = ImportPrefix + key + "-";
            return Run(() =>
            {
                int removed = 0;
                foreach (var h in _hosts)
                {
                    var used = UsedPaths(h);
                    if (h.FileStorage)
                    {
                        if (!Directory.Exists(h.DisksDirectory)) continue;
                        foreach (var f in Directory.GetFiles(h.DisksDirectory, prefix + "*"))
                            if (!used.Contains(f)) { File.Delete(f); removed++; }
                        continue;
                    }
                    using var pool = Virt.LookupPool(h.Conn, h.ImagePool);
                    if (pool == null) continue;
                    var vols = Virt.ListVolumes(pool);
                    try
                    {
                        foreach (var v in vols)
                            if (Virt.VolName(v).StartsWith(prefix, StringComparison.Ordinal) && !used.Contains(Virt.VolPath(v)))
                            {
                                Virt.DeleteVolume(v);
                                removed++;
                            }
                    }
                    finally { Virt.DisposeAll(vols); }
                }
                return removed;
            }, cancellationToken);
        }

        /// <summary>For a create with Options["ImportedDisk"] ("&lt;format&gt;|&lt;path&gt;" from ImportDiskAsync): the host holding it, its path and format.</summary>
        private (LibvirtHost Host, string Path, string Format) ImportedDisk(string reference)
        {
            int bar = reference.IndexOf('|');
            string fmt = bar > 0 ? reference.Substring(0, bar) : "";
            string path = bar > 0 ? reference.Substring(bar + 1) : "";
            if ((fmt != "raw" && fmt != "qcow2") || path.Length == 0)
                throw GridException.InvalidRequest($"'{reference}' is not a disk imported by libvirt ('<raw|qcow2>|<path>').", "InvalidImportedDisk", reference);
            string name = Path.GetFileName(path);
            var host = _hosts.FirstOrDefault(h => string.Equals(ImportedPath(h, name), path, StringComparison.Ordinal))
                ?? throw GridException.NotFound($"The imported disk '{path}' is on no host of datacenter '{Datacenter.Name}'.", "DiskNotFound", path);
            return (host, path, fmt);
        }

        /// <summary>The path of an imported volume/file of that name on a host, or null.</summary>
        private static string? ImportedPath(LibvirtHost h, string volName)
        {
            if (h.FileStorage)
            {
                string f = Path.Combine(h.DisksDirectory, volName);
                return File.Exists(f) ? f : null;
            }
            using var pool = Virt.LookupPool(h.Conn, h.ImagePool);
            if (pool == null) return null;
            using var vol = Virt.LookupVolume(pool, volName);
            return vol == null ? null : Virt.VolPath(vol);
        }

        /// <summary>Disk paths some defined domain of the host uses (an imported volume a create adopted is not an orphan).</summary>
        private static HashSet<string> UsedPaths(LibvirtHost h)
        {
            var used = new HashSet<string>(StringComparer.Ordinal);
            var doms = Virt.ListAllDomains(h.Conn, 0);
            try
            {
                foreach (var d in doms)
                    foreach (var disk in DomainXml.Parse(Virt.XmlDesc(d, Virt.XML_INACTIVE), "").Disks)
                        if (disk.SourcePath != null) used.Add(disk.SourcePath);
            }
            finally { Virt.DisposeAll(doms); }
            return used;
        }

        /// <summary>Buffer of the local copies: 4 MiB reads and writes (fewer system calls than the 1 MiB of a libvirt stream's messages).</summary>
        private const int CopyChunk = 4 << 20;

        /// <summary>
        /// Writes a staged file into a volume's file on this machine: emptied first (all holes), then every chunk that is
        /// not all zeros is written at its offset, so a sparse disk stays sparse and a repeated import rewrites it whole.
        /// False when the file is not there or not writable by this process (the caller uploads through the daemon).
        /// </summary>
        private static bool WriteLocalVolume(string from, string volumePath, Action<long>? progress, CancellationToken ct)
        {
            if (!File.Exists(volumePath)) return false;
            FileStream dst;
            try { dst = new FileStream(volumePath, FileMode.Open, FileAccess.Write, FileShare.None, 1, FileOptions.None); }
            catch (Exception ex) when (ex is UnauthorizedAccessException || ex is IOException) { return false; }
            using (dst)
            using (var src = new FileStream(from, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan))
            {
                long length = src.Length;
                dst.SetLength(0);
                dst.SetLength(length);
                var buf = new byte[CopyChunk];
                long total = 0;
                int n;
                while ((n = src.Read(buf, 0, buf.Length)) > 0)
                {
                    ct.ThrowIfCancellationRequested();
                    if (buf.AsSpan(0, n).IndexOfAnyExcept((byte)0) >= 0)
                    {
                        dst.Position = total;
                        dst.Write(buf, 0, n);
                    }
                    total += n;
                    progress?.Invoke(total);
                }
                dst.Flush(); // as the daemon's own upload: written, not forced to the platter (the source stays until the copy runs)
            }
            return true;
        }

        private static void Copy(Stream from, Stream to, Action<long>? progress, CancellationToken ct)
        {
            var buf = new byte[CopyChunk];
            long total = 0;
            int n;
            while ((n = from.Read(buf, 0, buf.Length)) > 0)
            {
                ct.ThrowIfCancellationRequested();
                to.Write(buf, 0, n);
                total += n;
                progress?.Invoke(total);
            }
        }

        /// <summary>Bytes done of a transfer, reported at most twice a second.</summary>
        private static Action<long> Progress(IOperationScope scope, string activity, long total)
        {
            var sw = Stopwatch.StartNew();
            long last = -1000;
            return done =>
            {
                long now = sw.ElapsedMilliseconds;
                if (now - last < 500 && done < total) return;
                last = now;
                scope.Report(new GridProgress(activity, $"{done / (1024 * 1024)} of {Math.Max(total, done) / (1024 * 1024)} MiB",
                    total > 0 ? (int)Math.Min(100, 100 * done / total) : -1) { BytesDone = done, BytesTotal = Math.Max(total, done) });
            };
        }
    }
}
