using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using System.Xml.Linq;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>
    /// Libvirt's side of moves between datacenters: a domain's disks are files or pool volumes in qcow2 or raw,
    /// read while the domain is stopped and written into the destination host's pool or folder.
    /// </summary>
    internal sealed partial class LibvirtConnection : IDiskTransport
    {
        private static readonly DiskFormat[] Formats = { DiskFormat.Qcow2, DiskFormat.Raw };
        private static readonly string[] Firmwares = { "bios", "uefi" };

        public IReadOnlyList<DiskFormat> ExportFormats => Formats;
        /// <summary>Both formats, or the one the registration's ImportDiskFormat names (then the core converts the other).</summary>
        public IReadOnlyList<DiskFormat> ImportFormats
            => Datacenter.Settings.TryGetValue("ImportDiskFormat", out var f) && !string.IsNullOrEmpty(f) ? ImportFormatsOf(f) ?? Formats : Formats;

        internal static DiskFormat[]? ImportFormatsOf(string setting) => setting.Trim().ToLowerInvariant() switch
        {
            "raw" => new[] { DiskFormat.Raw },
            "qcow2" => new[] { DiskFormat.Qcow2 },
            _ => null,
        };
        public long? MaxDiskBytes => null;
        public IReadOnlyList<string> SupportedFirmware => Firmwares;
        public IReadOnlyList<string> RequiredOptions => Array.Empty<string>();
        public long? BandwidthBytesPerSecond => null;

        public Task<MoveSourceInfo> DescribeAsync(string nativeId, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() =>
            {
                var (h, d) = LocateOrThrow(nativeId);
                using (d)
                {
                    string xml = Virt.XmlDesc(d, Virt.XML_INACTIVE);
                    var info = DomainXml.Parse(xml, nativeId);
                    var result = new MoveSourceInfo { Firmware = Firmware(xml) };
                    foreach (var disk in info.Disks.Where(x => x.Device == "disk"))
                    {
                        var fmt = ParseFormat(disk.Format);
                        var (capacity, allocation) = Sizes(h, disk.SourcePath, fmt);
                        result.Disks.Add(new MoveDisk
                        {
                            Name = disk.Target ?? disk.SourcePath ?? "disk", NativeId = disk.SourcePath, Format = fmt,
                            CapacityBytes = capacity, TransferBytes = allocation > 0 ? allocation : capacity,
                            IsOsDisk = result.Disks.Count == 0,
                        });
                    }
                    return result;
                }
            }, cancellationToken, nativeId);
        }

        /// <summary>"uefi" when the domain asks for EFI firmware (os firmware='efi' or a pflash loader), else "bios".</summary>
        internal static string Firmware(string domainXml)
        {
            var os = XDocument.Parse(domainXml).Root?.Element("os");
            if (os == null) return "bios";
            if (string.Equals((string?)os.Attribute("firmware"), "efi", StringComparison.OrdinalIgnoreCase)) return "uefi";
            var loader = os.Element("loader");
            return loader != null && (string.Equals((string?)loader.Attribute("type"), "pflash", StringComparison.OrdinalIgnoreCase)
                                      || ((string?)loader)?.IndexOf("OVMF", StringComparison.OrdinalIgnoreCase) >= 0) ? "uefi" : "bios";
        }

        /// <summary>The driver type of a disk; libvirt's default (no driver element) is raw.</summary>
        internal static DiskFormat ParseFormat(string? type) => (type ?? "raw").ToLowerInvariant() switch
        {
            "qcow2" => DiskFormat.Qcow2,
            "raw" => DiskFormat.Raw,
            "vmdk" => DiskFormat.VmdkMonolithicSparse,
            "vhdx" => DiskFormat.Vhdx,
            "vpc" => DiskFormat.VhdFixed,
            _ => DiskFormat.Raw,
        };

        /// <summary>Capacity and allocation: from the pool volume when the path is one, else from the local file (qcow2 header for its virtual size).</summary>
        private static (long Capacity, long Allocation) Sizes(LibvirtHost h, string? path, DiskFormat fmt)
        {
            if (path == null) return (0, 0);
            var vol = Virt.LookupVolumeByPath(h.Conn, path);
            if (vol != null)
                using (vol)
                {
                    var vi = Virt.VolInfo(vol);
                    return ((long)vi.capacity, (long)vi.allocation);
                }
            try
            {
                var fi = new FileInfo(path);
                if (!fi.Exists) return (0, 0);
                if (fmt != DiskFormat.Qcow2) return (fi.Length, fi.Length);
                using var fs = fi.OpenRead();
                var header = new byte[32];
                if (fs.Read(header, 0, 32) == 32 && header[0] == (byte)'Q' && header[1] == (byte)'F' && header[2] == (byte)'I' && header[3] == 0xfb)
                    return ((long)BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(24, 8)), fi.Length);
                return (fi.Length, fi.Length);
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException) { return (0, 0); }
        }
    }
}
