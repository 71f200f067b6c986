using System;
using System.Collections.Generic;
using System.Linq;
using System.IO;
using System.Runtime.InteropServices;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Transport
{
    /// <summary>
    /// Finds the disk converter (qemu-img) and answers which formats need it. The path comes from
    /// GRIDAUTOMATION_QEMU_IMG (a configured path), else "qemu-img" ("qemu-img.exe" on Windows) on PATH.
    /// </summary>
    public static class DiskConverter
    {
        public const string PathVariable = "GRIDAUTOMATION_QEMU_IMG";

        public static string InstallHint => RuntimeInformation.IsOSPlatform(OSPlatform.Windows)
            ? "install QEMU for Windows (qemu-img.exe) and put it on PATH, or set " + PathVariable + " to its full path"
            : "install it (Debian/Ubuntu: apt-get install qemu-utils; Fedora: dnf install qemu-img) or set " + PathVariable + " to its full path";

        /// <summary>The converter's full path, or null when it is not installed.</summary>
        public static string? Locate(Func<string, string?>? environment = null)
        {
            environment ??= Environment.GetEnvironmentVariable;
            var configured = environment(PathVariable);
            if (!string.IsNullOrEmpty(configured)) return File.Exists(configured) ? Path.GetFullPath(configured!) : null;
            var exe = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "qemu-img.exe" : "qemu-img";
            foreach (var dir in (environment("PATH") ?? "").Split(Path.PathSeparator))
            {
                if (dir.Length == 0) continue;
                try
                {
                    var candidate = Path.Combine(dir, exe);
                    if (File.Exists(candidate)) return candidate;
                }
                catch (ArgumentException) { }
            }
            return null;
        }

        /// <summary>The DiskConverterMissing error (Move refuses with it before anything changes).</summary>
        public static GridException Missing(object? target)
            => new GridException(GridErrorKind.Unsupported,
                "The disk converter qemu-img was not found: " + InstallHint + ".", "DiskConverterMissing") { Target = target };

        /// <summary>qemu-img's -f/-O format name and -o options for a format; null for Virtual (not a file).</summary>
        public static (string Format, string? Options)? QemuName(DiskFormat f) => f switch
        {
            DiskFormat.Raw => ("raw", null),
            DiskFormat.Qcow2 => ("qcow2", null),
            DiskFormat.VmdkMonolithicSparse => ("vmdk", "subformat=monolithicSparse"),
            DiskFormat.VmdkStreamOptimized => ("vmdk", "subformat=streamOptimized"),
            DiskFormat.VhdFixed => ("vpc", "subformat=fixed,force_size"),
            DiskFormat.Vhdx => ("vhdx", null),
            _ => null,
        };

        /// <summary>Whether qemu-img converts between the two (both are image files).</summary>
        public static bool CanConvert(DiskFormat from, DiskFormat to) => QemuName(from) != null && QemuName(to) != null;

        /// <summary>
        /// Bytes a disk needs in the staging folder: its file; twice when it is converted (the export and the converted
        /// image); three times when neither of those is raw, because the guest-content hash reads a raw copy made beside
        /// them (sparse, so this is an upper bound). Virtual disks need none. Test-GridMove and the export step check the same figure.
        /// </summary>
        public static long StagingBytes(MoveDisk disk, IReadOnlyList<DiskFormat> importFormats)
        {
            if (QemuName(disk.Format) == null) return 0;
            long one = Math.Max(disk.CapacityBytes, disk.TransferBytes);
            if (importFormats.Contains(disk.Format)) return one;
            DiskFormat target = DiskFormat.Virtual;
            foreach (var f in importFormats) if (CanConvert(disk.Format, f)) { target = f; break; }
            return disk.Format == DiskFormat.Raw || target == DiskFormat.Raw ? 2 * one : 3 * one;
        }

        /// <summary>Free bytes of the volume holding <paramref name="folder"/>, or null when it cannot be read.</summary>
        public static long? FreeBytes(string folder)
        {
            try
            {
                Directory.CreateDirectory(folder);
                // On Unix DriveInfo asks statfs about the exact path given, so this is the folder's own file system.
                var di = new DriveInfo(Path.GetFullPath(folder));
                return di.AvailableFreeSpace;
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException || ex is ArgumentException) { return null; }
        }

        /// <summary>The temp folder disks are staged in: GRIDAUTOMATION_MOVE_TEMP, else the system temp folder + GridAutomation-moves.</summary>
        public static string TempFolder(Func<string, string?>? environment = null)
        {
            environment ??= Environment.GetEnvironmentVariable;
            var t = environment("GRIDAUTOMATION_MOVE_TEMP");
            return string.IsNullOrEmpty(t) ? Path.Combine(Path.GetTempPath(), "GridAutomation-moves") : t!;
        }
    }
}
