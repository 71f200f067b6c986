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
            var row = Read(c => SimulatorData.FindByNativeId(c, _dc, nativeId ?? ""));
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

namespace GridAutomation.Providers.Simulator
{
    using System.Security.Cryptography;
    using System.Text;
    using GridAutomation.Core.Model;
    using GridAutomation.Core.Providers;

    /// <summary>Moving virtual disks: the "bytes" are a size and a content hash; time follows -BandwidthMBps.</summary>
    public sealed partial class SimulatorConnection : IDiskTransfer
    {
        public async Task<DiskImage> ExportDiskAsync(string nativeId, MoveDisk disk, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
        {
            await EnterAsync("ExportDisk", cancellationToken).ConfigureAwait(false);
            var row = Read(c => SimulatorData.FindByNativeId(c, _dc, nativeId ?? "")) ?? throw WorkloadNotFound(nativeId);
            if (row.State != PoweredOff)
                throw GridException.Conflict($"'{row.Name}' is {row.State}: a disk is exported only from a stopped workload.", "WorkloadNotStopped", nativeId);
            long bytes = (long)(row.DiskGB * 1024 * 1024 * 1024);
            await TransferAsync(bytes, "Export " + disk.Name, scope, cancellationToken).ConfigureAwait(false);
            return new DiskImage { Name = disk.Name, Format = DiskFormat.Virtual, CapacityBytes = bytes, ContentHash = HashOf(row.NativeId) };
        }

        public async Task<string> ImportDiskAsync(DiskImage image, string key, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (image.Format != DiskFormat.Virtual)
                throw GridException.Unsupported($"The simulator takes only virtual disks, not {image.Format}.", "UnsupportedDiskFormat");
            if (MaxDiskBytes is long max && image.CapacityBytes > max)
                throw GridException.InvalidRequest($"Disk '{image.Name}' ({image.CapacityBytes} bytes) is larger than datacenter '{Datacenter.Name}' takes ({max} bytes).", "DiskTooLarge");
            await EnterAsync("ImportDisk", cancellationToken).ConfigureAwait(false);
            await TransferAsync(image.CapacityBytes, "Import " + image.Name, scope, cancellationToken).ConfigureAwait(false);
            return (image.CapacityBytes / (1024.0 * 1024 * 1024)).ToString("R", CultureInfo.InvariantCulture) + "|" + image.ContentHash;
        }

        public async Task<string> HashDiskAsync(string nativeId, int index, CancellationToken cancellationToken)
        {
            await EnterAsync("HashDisk", cancellationToken).ConfigureAwait(false);
            var row = Read(c => SimulatorData.FindByNativeId(c, _dc, nativeId ?? "")) ?? throw WorkloadNotFound(nativeId);
            return HashOf(row.NativeId);
        }

        /// <summary>A disk's content hash: the one it was imported with, else derived from its own id (its "bytes" never change here).</summary>
        private string HashOf(string nativeId)
        {
            var stored = Read(c => SimulatorData.Scalar(c, "SELECT disk_hash FROM sim_workloads WHERE datacenter = @dc AND native_id = @id", ("@dc", _dc), ("@id", nativeId)));
            if (stored is string s && s.Length > 0) return s;
            using var sha = SHA256.Create();
            return BitConverter.ToString(sha.ComputeHash(Encoding.UTF8.GetBytes("simdisk\n" + _dc.ToLowerInvariant() + "\n" + nativeId))).Replace("-", "").ToLowerInvariant();
        }

        /// <summary>Sets a created workload's disk to the imported one ("&lt;GB&gt;|&lt;hash&gt;").</summary>
        private void ApplyImportedDisk(SimulatorData.WorkloadRow row, string reference)
        {
            int bar = reference.IndexOf('|');
            if (bar <= 0 || !double.TryParse(reference.Substring(0, bar), NumberStyles.Float, CultureInfo.InvariantCulture, out double gb))
                throw GridException.InvalidRequest($"'{reference}' is not an imported simulator disk.", "InvalidImportedDisk");
            string hash = reference.Substring(bar + 1);
            Write(c => SimulatorData.ExecCount(c, "UPDATE sim_workloads SET disk_gb = @gb, disk_hash = @h WHERE datacenter = @dc AND native_id = @id",
                ("@gb", gb), ("@h", hash), ("@dc", _dc), ("@id", row.NativeId)));
            row.DiskGB = gb;
        }

        private async Task TransferAsync(long bytes, string what, IOperationScope scope, CancellationToken ct)
        {
            long rate = BandwidthBytesPerSecond ?? long.MaxValue;
            var total = TimeSpan.FromSeconds(bytes / (double)rate);
            var start = DateTime.UtcNow;
            while (true)
            {
                var done = DateTime.UtcNow - start;
                long moved = done >= total ? bytes : (long)(bytes * (done.TotalMilliseconds / total.TotalMilliseconds));
                scope.Report(new GridProgress(what, $"{moved / (1024 * 1024)} of {bytes / (1024 * 1024)} MiB", bytes == 0 ? 100 : (int)(100 * moved / bytes)) { BytesDone = moved, BytesTotal = bytes });
                if (done >= total) return;
                var left = total - done;
                await Task.Delay(left < TimeSpan.FromMilliseconds(250) ? left : TimeSpan.FromMilliseconds(250), ct).ConfigureAwait(false);
            }
        }
    }
}
