using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using GridAutomation.Core.Model;
using GridAutomation.Core.Transport;

namespace GridAutomation.Core.Moves
{
    /// <summary>Everything the planner looks at; gathered by <see cref="MoveService"/> (reads only).</summary>
    public sealed class MovePlanInput
    {
        public GridWorkload Workload { get; set; } = new GridWorkload();
        public GridDatacenter Source { get; set; } = new GridDatacenter();
        public GridDatacenter Destination { get; set; } = new GridDatacenter();
        public IDiskTransport? SourceTransport { get; set; }
        public IDiskTransport? DestinationTransport { get; set; }
        /// <summary>False when the source (destination) connection describes its disks but cannot export (import) them yet.</summary>
        public bool SourceCanTransfer { get; set; } = true;
        public bool DestinationCanTransfer { get; set; } = true;
        /// <summary>The source's own description of the workload's disks; null when it has no transport.</summary>
        public MoveSourceInfo? SourceInfo { get; set; }
        public IReadOnlyList<GridSize> SourceSizes { get; set; } = Array.Empty<GridSize>();
        public IReadOnlyList<GridSize> DestinationSizes { get; set; } = Array.Empty<GridSize>();
        public IReadOnlyList<GridHost> DestinationHosts { get; set; } = Array.Empty<GridHost>();
        public string? DestinationHost { get; set; }
        public string? Size { get; set; }
        public IDictionary<string, string> Options { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        /// <summary>qemu-img's path, null when it is not installed.</summary>
        public string? ConverterPath { get; set; }
        public string TempFolder { get; set; } = "";
        /// <summary>Free bytes in <see cref="TempFolder"/>; null when unknown (not checked).</summary>
        public long? TempFreeBytes { get; set; }
    }

    /// <summary>
    /// Decides how a workload would move between two datacenters: the method, each disk's format path, the destination
    /// size, the bytes, the downtime and what stands in the way. Pure: no I/O, so every rule is tested on its own.
    /// </summary>
    public static class MovePlanner
    {
        /// <summary>The codes under which a source's cold export refuses a workload (MoveSourceInfo.ExportRefusalCode): ExportNotAllowed (the platform does not let its disks out), ExportBucketMissing (no bucket named for the export), ExportBucketNotFound (the bucket named does not exist). They limit moves and stopped copies, not the copy of a running workload.</summary>
        public static readonly IReadOnlyList<string> ExportRefusalCodes = new[] { "ExportNotAllowed", "ExportBucketMissing", "ExportBucketNotFound" };

        /// <summary>Rate assumed when neither datacenter knows its bandwidth (said so in <see cref="GridMoveReport.DowntimeBasis"/>).</summary>
        public const long AssumedBytesPerSecond = 100L * 1024 * 1024;

        /// <summary>Registration setting holding destination defaults for moves ("Key=Value" lines).</summary>
        public const string DefaultsSetting = "MoveDefaults";

        public static GridMoveReport Plan(MovePlanInput i)
        {
            var w = i.Workload;
            var r = new GridMoveReport
            {
                Source = w.Id, Name = w.Name, SourceDatacenter = i.Source.Name,
                DestinationDatacenter = i.Destination.Name, DestinationHost = i.DestinationHost,
                Destination = i.Destination.Name + (string.IsNullOrEmpty(i.DestinationHost) ? "" : "/" + i.DestinationHost),
                WasRunning = IsRunning(w.State),
            };
            var issues = r.Incompatibilities;
            void Error(string code, string msg) => issues.Add(new MoveIncompatibility(MoveSeverity.Error, code, msg));
            void Warn(string code, string msg) => issues.Add(new MoveIncompatibility(MoveSeverity.Warning, code, msg));

            // ---- host
            if (!string.IsNullOrEmpty(i.DestinationHost)
                && !i.DestinationHosts.Any(h => string.Equals(h.Name, i.DestinationHost, StringComparison.OrdinalIgnoreCase)))
                Error("DestinationHostNotFound", $"Datacenter '{i.Destination.Name}' has no host '{i.DestinationHost}'. Hosts: {string.Join(", ", i.DestinationHosts.Select(h => h.Name))}; leave -DestinationHost out to let it choose.");

            // ---- size
            ChooseSize(i, r, Error);

            // ---- disks and formats
            var src = i.SourceTransport;
            var dst = i.DestinationTransport;
            var disks = i.SourceInfo?.Disks.ToList() ?? w.Disks.Select(d => new MoveDisk
            {
                Name = d.Name, NativeId = d.NativeId, IsOsDisk = d.IsOsDisk,
                CapacityBytes = (long)((d.SizeGB ?? 0) * 1024 * 1024 * 1024), TransferBytes = (long)((d.SizeGB ?? 0) * 1024 * 1024 * 1024),
            }).ToList();
            bool converts = false, files = false, formatsKnown = true;
            if (src == null) { Error("UnsupportedDiskFormat", $"The {i.Source.Provider} provider cannot export disks yet, so '{w.Name}' cannot leave datacenter '{i.Source.Name}'."); formatsKnown = false; }
            if (dst == null) { Error("UnsupportedDiskFormat", $"The {i.Destination.Provider} provider cannot import disks yet, so datacenter '{i.Destination.Name}' cannot receive workloads from another datacenter."); formatsKnown = false; }
            if (i.SourceInfo?.ExportRefusal is string refusal) { Error(i.SourceInfo.ExportRefusalCode ?? "ExportNotAllowed", refusal); formatsKnown = false; }
            foreach (var d in disks)
            {
                var plan = new MoveDiskPlan { Name = d.Name, NativeId = d.NativeId, CapacityBytes = d.CapacityBytes, TransferBytes = d.TransferBytes };
                r.Disks.Add(plan);
                r.BytesToTransfer += d.TransferBytes;
                if (!formatsKnown) continue;
                plan.Path.Add(d.Format);
                if (dst!.ImportFormats.Contains(d.Format))
                {
                    if (d.Format != DiskFormat.Virtual) files = true;
                }
                else
                {
                    var target = dst.ImportFormats.FirstOrDefault(f => DiskConverter.CanConvert(d.Format, f));
                    if (!dst.ImportFormats.Any(f => DiskConverter.CanConvert(d.Format, f)))
                    {
                        Error("UnsupportedDiskFormat", $"Disk '{d.Name}' is {d.Format}; datacenter '{i.Destination.Name}' takes {string.Join(", ", dst.ImportFormats)} and no converter turns one into the other.");
                        continue;
                    }
                    plan.Path.Add(target);
                    plan.NeedsConversion = true;
                    converts = files = true;
                }
                if (dst.MaxDiskBytes is long max && d.CapacityBytes > max)
                    Error("DiskTooLarge", $"Disk '{d.Name}' holds {Gb(d.CapacityBytes)}; datacenter '{i.Destination.Name}' takes disks up to {Gb(max)}. Shrink the disk (or its partitions) first, or choose another destination.");
            }
            // A pair whose formats fit but whose disks cannot be carried yet is an error here, not a surprise in Move.
            if (formatsKnown && !issues.Any(x => x.Severity == MoveSeverity.Error) && (!i.SourceCanTransfer || !i.DestinationCanTransfer))
                Error("MoveNotImplemented", $"Carrying disks from {i.Source.Provider} datacenter '{i.Source.Name}' to {i.Destination.Provider} datacenter '{i.Destination.Name}' is not implemented yet: the {(i.SourceCanTransfer ? i.Destination.Provider : i.Source.Provider)} provider describes its disks but cannot {(i.SourceCanTransfer ? "import" : "export")} them.");
            if (converts && i.ConverterPath == null)
                Error("DiskConverterMissing", "The disk converter qemu-img was not found: " + DiskConverter.InstallHint + ".");
            if (files && i.TempFreeBytes is long free)
            {
                long need = disks.Sum(d => DiskConverter.StagingBytes(d, dst!.ImportFormats));
                if (free < need)
                    Error("InsufficientTempSpace", $"The temp folder '{i.TempFolder}' has {Gb(free)} free; the disks need {Gb(need)} there. Free space or set GRIDAUTOMATION_MOVE_TEMP to a larger folder.");
            }
            if (r.Disks.Count > 0 && formatsKnown)
                r.Method = r.Disks.Any(d => d.NeedsConversion) || !string.Equals(i.Source.Provider, i.Destination.Provider, StringComparison.OrdinalIgnoreCase)
                    ? MoveMethod.DiskImport : MoveMethod.Cold;
            else r.Method = MoveMethod.DiskImport;

            // ---- firmware
            var fw = i.SourceInfo?.Firmware;
            if (fw != null && dst != null && dst.SupportedFirmware.Count > 0 && !dst.SupportedFirmware.Contains(fw, StringComparer.OrdinalIgnoreCase))
                Error("FirmwareMismatch", $"'{w.Name}' boots with {fw.ToUpperInvariant()} firmware; datacenter '{i.Destination.Name}' boots only {string.Join(", ", dst.SupportedFirmware.Select(x => x.ToUpperInvariant()))}. Convert the guest's boot loader first or choose another destination.");

            // ---- destination settings
            var defaults = Defaults(i.Destination);
            foreach (var kv in defaults) r.Options[kv.Key] = kv.Value;
            foreach (var kv in i.Options) r.Options[kv.Key] = kv.Value;
            if (dst != null)
                foreach (var name in dst.RequiredOptions)
                    if (!r.Options.TryGetValue(name, out var v) || string.IsNullOrEmpty(v))
                        Error("DestinationOptionMissing", $"Datacenter '{i.Destination.Name}' needs a {name} for the moved workload: give -Option @{{ {name} = '...' }}, or store a default with Connect-GridDatacenter -Name {i.Destination.Name} -MoveDefaults '{name}=...'.");

            // ---- guest
            if (!string.Equals(i.Source.Provider, i.Destination.Provider, StringComparison.OrdinalIgnoreCase))
                Warn("GuestFixupNeeded", $"The guest moves from {i.Source.Provider} to {i.Destination.Provider} virtual hardware: make sure it has the drivers and agent it needs there (e.g. virtio or VMware Tools) before the move; the module does not edit guests.");

            // ---- downtime
            long? bw = Min(src?.BandwidthBytesPerSecond, dst?.BandwidthBytesPerSecond);
            long rate = bw ?? AssumedBytesPerSecond;
            var transfer = TimeSpan.FromSeconds(r.BytesToTransfer / (double)rate);
            if (r.WasRunning)
            {
                Warn("NoLivePath", $"'{w.Name}' is running and there is no live path from {i.Source.Provider} datacenter '{i.Source.Name}' to {i.Destination.Provider} datacenter '{i.Destination.Name}': the move stops it, copies its disks and starts it at the destination (about {Fmt(transfer)} of downtime).");
                r.EstimatedDowntime = transfer;
            }
            r.DowntimeBasis = (bw.HasValue ? "configured bandwidth " : "assumed bandwidth ") + (rate / (1024 * 1024)).ToString(CultureInfo.InvariantCulture) + " MiB/s"
                              + (r.WasRunning ? "" : "; the workload is not running, so nothing stops");
            return r;
        }

        /// <summary>The destination defaults stored on its registration: setting MoveDefaults, "Key=Value" per line.</summary>
        public static IDictionary<string, string> Defaults(GridDatacenter dc)
        {
            var d = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (dc.Settings.TryGetValue(DefaultsSetting, out var text) && !string.IsNullOrEmpty(text))
                foreach (var line in text.Split('\n'))
                {
                    int eq = line.IndexOf('=');
                    if (eq > 0) d[line.Substring(0, eq).Trim()] = line.Substring(eq + 1).Trim();
                }
            return d;
        }

        private static void ChooseSize(MovePlanInput i, GridMoveReport r, Action<string, string> error)
        {
            var w = i.Workload;
            r.SourcePricePerHour = w.Properties.TryGetValue("PricePerHour", out var p) && p is decimal dp ? dp
                : i.SourceSizes.FirstOrDefault(s => string.Equals(s.Name, w.Size, StringComparison.OrdinalIgnoreCase))?.PricePerHour;
            if (!string.IsNullOrEmpty(i.Size))
            {
                var s = i.DestinationSizes.FirstOrDefault(x => string.Equals(x.Name, i.Size, StringComparison.OrdinalIgnoreCase));
                if (s == null)
                {
                    error("NoMatchingSize", $"Datacenter '{i.Destination.Name}' has no size '{i.Size}'. Get-GridSize -Datacenter {i.Destination.Name} lists its sizes.");
                    return;
                }
                Take(r, s, "-Size");
                return;
            }
            if (i.DestinationSizes.Count == 0)
            {
                r.CpuCount = w.CpuCount; r.MemoryMB = w.MemoryMB;
                r.SizeReason = "same CPU and memory (the destination takes any shape)";
                return;
            }
            int cpu = w.CpuCount ?? 1;
            long mem = w.MemoryMB ?? 0;
            var fit = i.DestinationSizes.Where(s => (s.CpuCount ?? 0) >= cpu && (s.MemoryMB ?? 0) >= mem)
                .OrderBy(s => s.PricePerHour ?? decimal.MaxValue).ThenBy(s => s.CpuCount).ThenBy(s => s.MemoryMB).ThenBy(s => s.Name, StringComparer.OrdinalIgnoreCase)
                .FirstOrDefault();
            if (fit == null)
            {
                error("NoMatchingSize", $"No size of datacenter '{i.Destination.Name}' has {cpu} CPU and {mem} MB: the largest is {string.Join(", ", i.DestinationSizes.OrderByDescending(s => s.CpuCount).ThenByDescending(s => s.MemoryMB).Take(1).Select(s => s.Name + $" ({s.CpuCount} CPU, {s.MemoryMB} MB)"))}. Shrink the workload first or give -Size.");
                return;
            }
            Take(r, fit, $"smallest that fits {cpu} CPU / {mem} MB");
        }

        private static void Take(GridMoveReport r, GridSize s, string why)
        {
            r.Size = s.Name; r.CpuCount = s.CpuCount; r.MemoryMB = s.MemoryMB; r.SizeReason = why;
            r.DestinationPricePerHour = s.PricePerHour; r.Currency = s.Currency;
        }

        internal static bool IsRunning(WorkloadState s) => s == WorkloadState.Running || s == WorkloadState.Starting || s == WorkloadState.Paused;
        private static long? Min(long? a, long? b) => a.HasValue && b.HasValue ? Math.Min(a.Value, b.Value) : a ?? b;
        private static string Gb(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("0.##", CultureInfo.InvariantCulture) + " GiB";
        private static string Fmt(TimeSpan t) => t.TotalSeconds < 120 ? Math.Ceiling(t.TotalSeconds).ToString(CultureInfo.InvariantCulture) + " s" : Math.Ceiling(t.TotalMinutes).ToString(CultureInfo.InvariantCulture) + " min";
    }
}
