using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Transport;
using static GridAutomation.Providers.Simulator.SimulatorCatalog;

namespace GridAutomation.Providers.Simulator
{
    /// <summary>
    /// The simulator's side of moves between datacenters: virtual disks (size + content hash, never bytes), so
    /// only another simulator datacenter takes them. The limits a destination imposes come from its registration
    /// (-MaxDiskGB, -BootFirmware, -RequiredMoveOptions, -BandwidthMBps), so every incompatibility has a case.
    /// </summary>
    public sealed partial class SimulatorConnection : IDiskTransport
    {
        private static readonly DiskFormat[] VirtualOnly = { DiskFormat.Virtual };

        public IReadOnlyList<DiskFormat> ExportFormats => VirtualOnly;
        public IReadOnlyList<DiskFormat> ImportFormats => VirtualOnly;

        public long? MaxDiskBytes => SettingInt("MaxDiskGB") is int gb ? gb * 1024L * 1024 * 1024 : (long?)null;

        public IReadOnlyList<string> SupportedFirmware
            => SettingArray("BootFirmware") is { Length: > 0 } fw ? fw.Select(f => f.Trim().ToLowerInvariant()).ToArray() : new[] { "bios", "uefi" };

        public IReadOnlyList<string> RequiredOptions => SettingArray("RequiredMoveOptions") ?? Array.Empty<string>();

        /// <summary>-BandwidthMBps (default 1000 MB/s): simulated transfers take bytes / bandwidth.</summary>
        public long? BandwidthBytesPerSecond => (SettingInt("BandwidthMBps") ?? 1000) * 1024L * 1024;

        public async Task<MoveSourceInfo> DescribeAsync(string nativeId, CancellationToken cancellationToken)
        {
            await EnterAsync("DescribeDisks", cancellationToken).ConfigureAwait(false);
            var row = Read(c => SimulatorData.FindByNativeId(c, null, _dc, nativeId ?? ""));
            if (row == null) throw WorkloadNotFound(nativeId);
            long bytes = (long)(row.DiskGB * 1024 * 1024 * 1024);
            var info = new MoveSourceInfo
            {
                // the simulator's Windows image boots UEFI, the Linux ones BIOS
                Firmware = string.Equals(FindImage(row.Image)?.OsType, "Windows", StringComparison.OrdinalIgnoreCase) ? "uefi" : "bios",
            };
            foreach (var d in SimulatorData.DisksFor(row.NativeId, row.DiskGB))
                info.Disks.Add(new MoveDisk { Name = d.Name, NativeId = d.NativeId, Format = DiskFormat.Virtual, CapacityBytes = bytes, TransferBytes = bytes, IsOsDisk = d.IsOsDisk });
            return info;
        }

        private int? SettingInt(string name)
            => Datacenter.Settings.TryGetValue(name, out var s) && int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : (int?)null;

        private string[]? SettingArray(string name)
            => Datacenter.Settings.TryGetValue(name, out var s) && !string.IsNullOrEmpty(s) ? s.Split('\n') : null;
    }
}
