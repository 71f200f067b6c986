using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Transport;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>
    /// Hyper-V's side of moves between datacenters (issue 20): the disks are described (Get-VHD on the VM's host:
    /// VHDX, or a fixed VHD) so Test-GridMove shows the path each disk takes (vhdx → qcow2/raw into libvirt through
    /// qemu-img, raw/qcow2 → vhdx into Hyper-V). The bytes are carried by HyperVDisks.cs.
    /// </summary>
    internal sealed partial class HyperVConnection : IDiskTransport
    {
        private static readonly DiskFormat[] Exports = { DiskFormat.Vhdx, DiskFormat.VhdFixed };

        public IReadOnlyList<DiskFormat> ExportFormats => Exports;
        /// <summary>VHDX first (what the core converts other formats into), a fixed VHD as it is.</summary>
        public IReadOnlyList<DiskFormat> ImportFormats => Exports;
        /// <summary>A VHDX holds up to 64 TB.</summary>
        public long? MaxDiskBytes => 64L << 40;
        public IReadOnlyList<string> SupportedFirmware { get; } = new[] { "bios", "uefi" };
        public IReadOnlyList<string> RequiredOptions => Array.Empty<string>();
        public long? BandwidthBytesPerSecond => null;

        public Task<MoveSourceInfo> DescribeAsync(string nativeId, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() =>
            {
                var (_, output) = OnVm(nativeId, RemoteScripts.DescribeDisks, Args(), cancellationToken);
                var info = new MoveSourceInfo();
                int i = 0;
                foreach (var r in output)
                {
                    string path = Convert.ToString(r.GetValueOrDefault("Path"), CultureInfo.InvariantCulture) ?? "";
                    string format = Convert.ToString(r.GetValueOrDefault("VhdFormat"), CultureInfo.InvariantCulture) ?? "";
                    string type = Convert.ToString(r.GetValueOrDefault("VhdType"), CultureInfo.InvariantCulture) ?? "";
                    DiskFormat f;
                    if (string.Equals(format, "VHDX", StringComparison.OrdinalIgnoreCase)) f = DiskFormat.Vhdx;
                    else if (string.Equals(format, "VHD", StringComparison.OrdinalIgnoreCase) && string.Equals(type, "Fixed", StringComparison.OrdinalIgnoreCase)) f = DiskFormat.VhdFixed;
                    else
                        throw GridException.Unsupported($"Disk '{path}' of VM {nativeId} is a {type} {format}: a move carries VHDX disks and fixed VHDs only (Convert-VHD it to VHDX first).", "UnsupportedDiskFormat", TargetOf(nativeId));
                    info.Disks.Add(new MoveDisk
                    {
                        Name = System.IO.Path.GetFileName(path.Replace('\\', '/')),
                        NativeId = path,
                        Format = f,
                        CapacityBytes = ToLong(r.GetValueOrDefault("Size")),
                        TransferBytes = ToLong(r.GetValueOrDefault("FileSize")),
                        IsOsDisk = i++ == 0,
                    });
                    if (info.Firmware == null) info.Firmware = ToLong(r.GetValueOrDefault("Generation")) == 1 ? "bios" : "uefi";
                }
                return info;
            }, cancellationToken);
        }

        private static long ToLong(object? v) => v == null ? 0 : Convert.ToInt64(v, CultureInfo.InvariantCulture);
    }
}
