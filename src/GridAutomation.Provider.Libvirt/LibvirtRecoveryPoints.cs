using System;
using System.Collections.Generic;
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
    /// Recovery points of a RUNNING domain (issue 17): a push-mode backup job (virDomainBackupBegin) makes QEMU copy
    /// every disk as it was at the instant the job began (copy-before-write: crash-consistent, the guest keeps
    /// running) into a file of the host's own pool, named after the operation's key; the file then leaves the host as
    /// an export does (virStorageVolDownload into the staging folder, hashed on the way) and is deleted. A call under
    /// the same key first aborts that key's backup job and deletes that key's files left by an interrupted call, so
    /// nothing of a point stays on the host (pool, domblklist, domjobinfo) whatever happened before.
    /// </summary>
    internal sealed partial class LibvirtConnection : IRunningDiskExport
    {
        /// <summary>Backup targets are named "gridpoint-&lt;key&gt;-&lt;disk&gt;&lt;ext&gt;" in the pool of the host the domain runs on.</summary>
        internal const string PointPrefix = "gridpoint-";

        public Task<IReadOnlyList<DiskImage>> ExportRunningDisksAsync(string nativeId, IReadOnlyList<MoveDisk> disks, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            if (disks == null || disks.Count == 0) throw GridException.InvalidRequest("No disk to copy.", "NoDisks", nativeId);
            string key = scope.IdempotencyKey;
            if (string.IsNullOrEmpty(key) || key.IndexOfAny(new[] { '/', '\\', '\'', '"', '<', '>', '&' }) >= 0)
                throw GridException.InvalidRequest($"'{key}' cannot name a recovery point's files.", "InvalidIdempotencyKey", nativeId);
            return Run<IReadOnlyList<DiskImage>>(() =>
            {
                var (h, d) = LocateOrThrow(nativeId);
                using (d)
                {
                    string target = TargetOf(nativeId);
                    if (!Virt.IsActive(d))
                        throw GridException.Conflict($"'{Virt.Name(d)}' is not running: a stopped domain's disks are exported as they are (ExportDiskAsync).", "WorkloadNotRunning", target);
                    string folder = PointFolder(h, target);
                    string prefix = PointPrefix + key + "-";
                    AbortOwnBackup(d, prefix, target, cancellationToken);
                    DeletePointFiles(h, prefix);

                    // Every disk of the live definition is named in the backup XML: ours with a target file, the others backup='no'.
                    var live = DomainXml.Parse(Virt.XmlDesc(d, 0), nativeId).Disks.Where(x => x.Device == "disk").ToList();
                    var files = new List<(MoveDisk Disk, string File)>();
                    var xmlDisks = new List<XElement>();
                    foreach (var disk in disks)
                    {
                        var dev = live.FirstOrDefault(x => x.SourcePath != null && x.SourcePath == disk.NativeId)
                            ?? throw GridException.NotFound($"'{Virt.Name(d)}' has no disk '{disk.NativeId}' (disks: {string.Join(", ", live.Select(x => x.SourcePath))}).", "DiskNotFound", target);
                        if (disk.Format != DiskFormat.Raw && disk.Format != DiskFormat.Qcow2)
                            throw GridException.Unsupported($"Libvirt copies raw and qcow2 disks of a running domain, not {disk.Format}.", "UnsupportedDiskFormat", disk.Name);
                        string file = Path.Combine(folder, prefix + DiskFiles.SafeName(disk.Name) + DiskFiles.Extension(disk.Format));
                        files.Add((disk, file));
                        xmlDisks.Add(new XElement("disk", new XAttribute("name", dev.Target!), new XAttribute("backup", "yes"), new XAttribute("type", "file"),
                            new XElement("target", new XAttribute("file", file)),
                            new XElement("driver", new XAttribute("type", disk.Format == DiskFormat.Qcow2 ? "qcow2" : "raw"))));
                    }
                    foreach (var other in live.Where(x => x.Target != null && !files.Any(f => f.Disk.NativeId == x.SourcePath)))
                        xmlDisks.Add(new XElement("disk", new XAttribute("name", other.Target!), new XAttribute("backup", "no")));
                    string xml = new XElement("domainbackup", new XElement("disks", xmlDisks)).ToString(SaveOptions.DisableFormatting);

                    var images = new List<DiskImage>();
                    try
                    {
                        Virt.BackupBegin(d, xml, target);
                        var started = DateTime.UtcNow;
                        _verbose($"libvirt: backup job of '{Virt.Name(d)}' on {h.Name} began ({files.Count} disk(s))");
                        WaitForBackup(d, prefix, target, scope, cancellationToken);
                        foreach (var (disk, file) in files)
                            images.Add(Stage(h, disk, file, tempFolder, scope, target, cancellationToken));
                        _verbose($"libvirt: recovery point of '{Virt.Name(d)}' taken at {started:O} ({images.Sum(i => new FileInfo(i.Path!).Length)} bytes staged)");
                    }
                    catch
                    {
                        // best effort: never leave the job or its files behind (a resumed call under the key does the same)
                        try { AbortOwnBackup(d, prefix, target, CancellationToken.None); } catch (GridException) { }
                        foreach (var i in images) try { File.Delete(i.Path!); } catch (IOException) { }
                        throw;
                    }
                    finally
                    {
                        try { DeletePointFiles(h, prefix); } catch (GridException) { } catch (IOException) { }
                    }
                    return images;
                }
            }, cancellationToken, nativeId);
        }

        /// <summary>Where the host writes backup targets: its image pool's folder (a daemon), its disks folder (embed).</summary>
        private static string PointFolder(LibvirtHost h, string target)
        {
            if (h.FileStorage) { Directory.CreateDirectory(h.DisksDirectory); return h.DisksDirectory; }
            using var pool = Virt.LookupPool(h.Conn, h.ImagePool)
                ?? throw GridException.NotFound($"Storage pool '{h.ImagePool}' does not exist on host '{h.Name}': a recovery point is written there.", "StoragePoolNotFound", target);
            return DomainXml.PoolTargetPath(Virt.PoolXml(pool))
                ?? throw GridException.Unsupported($"Storage pool '{h.ImagePool}' of host '{h.Name}' has no folder (only a directory pool holds recovery points).", "UnsupportedStoragePool", target);
        }

        /// <summary>Aborts a backup job of this key (an interrupted call's) and waits until the domain has no job; another backup job is a conflict.</summary>
        private static void AbortOwnBackup(DomainHandle d, string prefix, string target, CancellationToken ct)
        {
            string? xml = Virt.BackupXml(d);
            if (xml == null) return;
            var targets = XDocument.Parse(xml).Descendants("target").Select(t => (string?)t.Attribute("file") ?? "").ToList();
            if (!targets.Any(t => Path.GetFileName(t).StartsWith(prefix, StringComparison.Ordinal)))
                throw GridException.Conflict($"'{Virt.Name(d)}' has a backup job of its own (targets: {string.Join(", ", targets)}); a recovery point waits until it ends.", "BackupJobRunning", target);
            try { Virt.AbortJob(d, target); } catch (GridException) { /* it may have ended meanwhile */ }
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Virt.Job(d, 0).Type != Virt.JOB_NONE)
            {
                if (DateTime.UtcNow > deadline) throw new GridException(GridErrorKind.Unavailable, $"The backup job of '{Virt.Name(d)}' did not end within 60 s of its abort.", "BackupAbortTimeout") { Target = target };
                ct.ThrowIfCancellationRequested();
                Thread.Sleep(100);
            }
        }

        /// <summary>Polls the domain's job until it ends; a failed or cancelled backup is an error; cancellation aborts the job.</summary>
        private static void WaitForBackup(DomainHandle d, string prefix, string target, IOperationScope scope, CancellationToken ct)
        {
            while (true)
            {
                if (ct.IsCancellationRequested)
                {
                    AbortOwnBackup(d, prefix, target, CancellationToken.None);
                    ct.ThrowIfCancellationRequested();
                }
                var job = Virt.Job(d, 0);
                if (job.Type == Virt.JOB_NONE) break;
                if (job.DataTotal > 0)
                    scope.Report(new GridProgress("Recovery point of " + Virt.Name(d), $"{job.DataProcessed / (1024 * 1024)} of {job.DataTotal / (1024 * 1024)} MiB", (int)(100 * job.DataProcessed / job.DataTotal)));
                Thread.Sleep(100);
            }
            var done = Virt.Job(d, Virt.JOB_STATS_COMPLETED);
            if (done.Operation == Virt.JOB_OPERATION_BACKUP && done.Type != Virt.JOB_COMPLETED)
                throw GridException.Conflict($"The backup job of '{Virt.Name(d)}' {(done.Type == Virt.JOB_CANCELLED ? "was cancelled" : "failed")}: {done.Error ?? "no reason given"}", "BackupJobFailed", target);
        }

        /// <summary>Streams one backup target out of the host (through the daemon) into the staging folder, hashing it.</summary>
        private DiskImage Stage(LibvirtHost h, MoveDisk disk, string file, string tempFolder, IOperationScope scope, string target, CancellationToken ct)
        {
            Directory.CreateDirectory(tempFolder);
            string staged = Path.Combine(tempFolder, DiskFiles.SafeName(disk.Name) + DiskFiles.Extension(disk.Format));
            string partial = staged + ".partial";
            string hash;
            try
            {
                using var sha = SHA256.Create();
                using (var fs = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, DiskFiles.Chunk))
                using (var cs = new CryptoStream(fs, sha, CryptoStreamMode.Write))
                {
                    var progress = Progress(scope, "Ship recovery point of " + disk.Name, disk.CapacityBytes);
                    if (h.FileStorage)
                        using (var src = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, DiskFiles.Chunk)) Copy(src, cs, progress, ct);
                    else
                    {
                        using var vol = PointVolume(h, file) ?? throw GridException.NotFound($"The backup job left no file {file} on host '{h.Name}'.", "RecoveryPointMissing", target);
                        Virt.Download(h.Conn, vol, cs, progress, ct, target);
                    }
                }
                hash = DiskFiles.Hex(sha.Hash!);
            }
            catch
            {
                try { File.Delete(partial); } catch (IOException) { } // a partial copy is no point (a killed process leaves it for the next call to overwrite)
                throw;
            }
            File.Move(partial, staged, overwrite: true);
            return new DiskImage { Name = disk.Name, Format = disk.Format, CapacityBytes = disk.CapacityBytes, Path = staged, ContentHash = hash };
        }

        private static VolumeHandle? PointVolume(LibvirtHost h, string file)
        {
            using var pool = Virt.LookupPool(h.Conn, h.ImagePool);
            if (pool == null) return null;
            Virt.PoolRefresh(pool); // QEMU wrote the file behind the pool's back
            return Virt.LookupVolumeByPath(h.Conn, file);
        }

        /// <summary>Deletes this key's backup target files on the host (through the pool on a daemon).</summary>
        private static void DeletePointFiles(LibvirtHost h, string prefix)
        {
            if (h.FileStorage)
            {
                if (Directory.Exists(h.DisksDirectory))
                    foreach (var f in Directory.GetFiles(h.DisksDirectory, prefix + "*")) File.Delete(f);
                return;
            }
            using var pool = Virt.LookupPool(h.Conn, h.ImagePool);
            if (pool == null) return;
            Virt.PoolRefresh(pool);
            var vols = Virt.ListVolumes(pool);
            try
            {
                foreach (var v in vols)
                    if (Virt.VolName(v).StartsWith(prefix, StringComparison.Ordinal)) Virt.DeleteVolume(v);
            }
            finally { Virt.DisposeAll(vols); }
        }
    }
}
