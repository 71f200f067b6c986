using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using GridAutomation.Core.Model;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>
    /// Images and disks. Daemon and test hosts: volumes of the storage pool named by ImagePool (clone =
    /// virStorageVolCreateXMLFrom into the same pool). Embed hosts (no storage driver in embed mode): files in
    /// ROOT/images, clones copied into ROOT/disks.
    /// </summary>
    internal static class Images
    {
        internal sealed class Source
        {
            public string Name = "";
            public string Path = "";
            public string Format = "raw";
            public string Extension = ".img";
            public ulong? CapacityBytes;
            /// <summary>Given as an absolute path (a volume of any pool), not as a volume name of the image pool.</summary>
            public bool ByPath;
        }

        public static IEnumerable<(string Name, string Path, long? Bytes)> List(LibvirtHost h)
        {
            if (h.FileStorage)
            {
                if (!Directory.Exists(h.ImagesDirectory)) yield break;
                foreach (var f in Directory.GetFiles(h.ImagesDirectory).OrderBy(x => x, StringComparer.Ordinal))
                    yield return (System.IO.Path.GetFileName(f), f, new FileInfo(f).Length);
                yield break;
            }
            using var pool = Virt.LookupPool(h.Conn, h.ImagePool);
            if (pool == null) yield break;
            var vols = Virt.ListVolumes(pool);
            try
            {
                foreach (var v in vols)
                {
                    var info = Virt.VolInfo(v);
                    yield return (Virt.VolName(v), Virt.VolPath(v), (long)info.capacity);
                }
            }
            finally { Virt.DisposeAll(vols); }
        }

        public static Source? Find(LibvirtHost h, string name)
        {
            if (name.StartsWith("/", StringComparison.Ordinal)) return FindByPath(h, name);
            if (name.IndexOfAny(new[] { '/', '\\' }) >= 0 || name == ".." || name == ".")
                throw GridException.InvalidRequest($"Image name '{name}' must be a plain volume/file name, or an absolute path on the host.", "InvalidImageName", name);
            if (h.FileStorage)
            {
                string path = System.IO.Path.Combine(h.ImagesDirectory, name);
                if (!File.Exists(path)) return null;
                return new Source { Name = name, Path = path, Format = DomainXml.VolumeFormat(path)!, Extension = ExtensionOf(name), CapacityBytes = (ulong)new FileInfo(path).Length };
            }
            using var pool = Virt.LookupPool(h.Conn, h.ImagePool);
            if (pool == null) return null;
            using var vol = Virt.LookupVolume(pool, name);
            if (vol == null) return null;
            string p = Virt.VolPath(vol);
            return new Source { Name = name, Path = p, Format = DomainXml.VolumeFormat(name)!, Extension = ExtensionOf(name), CapacityBytes = Virt.VolInfo(vol).capacity };
        }

        /// <summary>
        /// An image given as an absolute path, which no listing shows: on a host with file storage (embed) a file
        /// that exists there; on a host with storage pools a volume of any of its pools (libvirt's view of that
        /// host's disks: a file placed by hand appears after `virsh pool-refresh`). Null when there is none.
        /// </summary>
        private static Source? FindByPath(LibvirtHost h, string path)
        {
            if (path.Split('/').Any(seg => seg == ".."))
                throw GridException.InvalidRequest($"Image path '{path}' must not contain '..'.", "InvalidImageName", path);
            string name = System.IO.Path.GetFileName(path);
            if (h.FileStorage)
            {
                if (!File.Exists(path)) return null;
                return new Source { Name = name, Path = path, ByPath = true, Format = DomainXml.VolumeFormat(path)!, Extension = ExtensionOf(name), CapacityBytes = (ulong)new FileInfo(path).Length };
            }
            using var vol = Virt.LookupVolumeByPath(h.Conn, path);
            if (vol == null) return null;
            return new Source { Name = name, Path = path, ByPath = true, Format = DomainXml.VolumeFormat(path)!, Extension = ExtensionOf(name), CapacityBytes = Virt.VolInfo(vol).capacity };
        }

        private static string ExtensionOf(string name)
        {
            string ext = System.IO.Path.GetExtension(name);
            return string.IsNullOrEmpty(ext) ? ".img" : ext;
        }

        public static string PlannedDiskPath(LibvirtHost h, string diskName)
        {
            if (h.FileStorage) return System.IO.Path.Combine(h.DisksDirectory, diskName);
            using var pool = Virt.LookupPool(h.Conn, h.ImagePool)
                ?? throw GridException.NotFound($"Storage pool '{h.ImagePool}' does not exist on host '{h.Name}'.", "StoragePoolNotFound", h.ImagePool);
            string? dir = DomainXml.PoolTargetPath(Virt.PoolXml(pool));
            return (dir ?? "") + "/" + diskName;
        }

        /// <summary>Clones the image into a new disk; returns the disk path.</summary>
        public static string Clone(LibvirtHost h, Source image, string diskName, bool reuseExisting)
        {
            if (h.FileStorage)
            {
                Directory.CreateDirectory(h.DisksDirectory);
                string target = System.IO.Path.Combine(h.DisksDirectory, diskName);
                if (File.Exists(target))
                {
                    if (!reuseExisting) throw GridException.Conflict($"Disk '{target}' already exists on host '{h.Name}'.", "DiskExists", target);
                    return target;
                }
                CopyAtomically(image.Path, target);
                return target;
            }
            using var pool = Virt.LookupPool(h.Conn, h.ImagePool)
                ?? throw GridException.NotFound($"Storage pool '{h.ImagePool}' does not exist on host '{h.Name}'.", "StoragePoolNotFound", h.ImagePool);
            using (var existing = Virt.LookupVolume(pool, diskName))
            {
                if (existing != null)
                {
                    if (!reuseExisting) throw GridException.Conflict($"Volume '{diskName}' already exists in pool '{h.ImagePool}' on host '{h.Name}'.", "DiskExists", diskName);
                    return Virt.VolPath(existing);
                }
            }
            using var source = (image.ByPath ? Virt.LookupVolumeByPath(h.Conn, image.Path) : Virt.LookupVolume(pool, image.Name))
                ?? throw GridException.NotFound($"Image volume '{image.Name}' vanished from pool '{h.ImagePool}'.", "ImageNotFound", image.Name);
            string xml = DomainXml.VolumeXml(diskName, image.CapacityBytes ?? Virt.VolInfo(source).capacity, image.Format);
            using var clone = Virt.CloneVolume(pool, xml, source);
            return Virt.VolPath(clone);
        }

        /// <summary>Deletes a disk: a storage volume by path, or a file under this host's disks directory (never elsewhere).</summary>
        public static void Delete(LibvirtHost h, string path)
        {
            if (h.FileStorage)
            {
                string full = System.IO.Path.GetFullPath(path);
                string dir = System.IO.Path.GetFullPath(h.DisksDirectory) + System.IO.Path.DirectorySeparatorChar;
                if (full.StartsWith(dir, StringComparison.Ordinal) && File.Exists(full)) File.Delete(full);
                return;
            }
            using var vol = Virt.LookupVolumeByPath(h.Conn, path);
            if (vol != null) Virt.DeleteVolume(vol);
        }

        /// <summary>Copies to "target.partial" then renames, so the target exists only when complete.</summary>
        public static void CopyAtomically(string from, string to)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(to)!);
            string partial = to + ".partial";
            File.Copy(from, partial, overwrite: true);
            File.Move(partial, to, overwrite: true);
        }
    }
}
