using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.Transport;
using Xunit;

namespace GridAutomation.Core.Tests
{
    /// <summary>Each rule of MovePlanner on a case built for it (issue 13, test 4 at the planner level).</summary>
    public class MovePlannerTests
    {
        private const long GiB = 1024L * 1024 * 1024;

        /// <summary>A datacenter's declared formats and limits: the planner reads only these declarations.</summary>
        private sealed class Declared : IDiskTransport
        {
            public IReadOnlyList<DiskFormat> ExportFormats { get; set; } = new[] { DiskFormat.Qcow2, DiskFormat.Raw };
            public IReadOnlyList<DiskFormat> ImportFormats { get; set; } = new[] { DiskFormat.Qcow2, DiskFormat.Raw };
            public long? MaxDiskBytes { get; set; }
            public IReadOnlyList<string> SupportedFirmware { get; set; } = new[] { "bios", "uefi" };
            public IReadOnlyList<string> RequiredOptions { get; set; } = Array.Empty<string>();
            public long? BandwidthBytesPerSecond { get; set; }
            public Task<MoveSourceInfo> DescribeAsync(string nativeId, CancellationToken ct) => throw new NotSupportedException();
        }

        private static MovePlanInput Input(string srcProvider = "Libvirt", string dstProvider = "Libvirt", WorkloadState state = WorkloadState.Stopped,
            DiskFormat format = DiskFormat.Qcow2, long capacity = 10 * GiB)
        {
            return new MovePlanInput
            {
                Workload = new GridWorkload { Id = "a/1", NativeId = "1", Name = "web", Datacenter = "a", State = state, CpuCount = 2, MemoryMB = 3000, Size = "s2" },
                Source = new GridDatacenter { Name = "a", Provider = srcProvider },
                Destination = new GridDatacenter { Name = "b", Provider = dstProvider },
                SourceTransport = new Declared(), DestinationTransport = new Declared(),
                SourceInfo = new MoveSourceInfo { Firmware = "bios", Disks = { new MoveDisk { Name = "vda", Format = format, CapacityBytes = capacity, TransferBytes = capacity / 2, IsOsDisk = true } } },
                SourceSizes = new[] { new GridSize { Name = "s2", CpuCount = 2, MemoryMB = 4096, PricePerHour = 0.05m } },
                DestinationSizes = new[]
                {
                    new GridSize { Name = "big", CpuCount = 8, MemoryMB = 32768, PricePerHour = 0.40m },
                    new GridSize { Name = "fit", CpuCount = 2, MemoryMB = 4096, PricePerHour = 0.04m },
                    new GridSize { Name = "tiny", CpuCount = 1, MemoryMB = 1024, PricePerHour = 0.01m },
                },
                DestinationHosts = new[] { new GridHost { Name = "h1" } },
                ConverterPath = "/usr/bin/qemu-img", TempFolder = "/tmp/x", TempFreeBytes = 100 * GiB,
            };
        }

        private static string[] Codes(GridMoveReport r, MoveSeverity s) => r.Incompatibilities.Where(i => i.Severity == s).Select(i => i.Code).ToArray();

        [Fact]
        public void Same_format_same_provider_is_a_cold_copy_with_the_smallest_fitting_size_and_both_prices()
        {
            var r = MovePlanner.Plan(Input());
            Assert.True(r.CanMove);
            Assert.Empty(r.Incompatibilities);
            Assert.Equal(MoveMethod.Cold, r.Method);
            Assert.Equal(new[] { DiskFormat.Qcow2 }, r.Disks[0].Path);
            Assert.Equal("fit", r.Size);
            Assert.Contains("smallest that fits 2 CPU / 3000 MB", r.SizeReason);
            Assert.Equal(5 * GiB, r.BytesToTransfer);
            Assert.Equal(0.05m, r.SourcePricePerHour);
            Assert.Equal(0.04m, r.DestinationPricePerHour);
            Assert.Equal(TimeSpan.Zero, r.EstimatedDowntime); // stopped: nothing stops
        }

        [Fact]
        public void Size_parameter_wins_and_an_unknown_one_is_NoMatchingSize()
        {
            var i = Input(); i.Size = "BIG";
            var r = MovePlanner.Plan(i);
            Assert.Equal("big", r.Size);
            Assert.Equal("-Size", r.SizeReason);
            i.Size = "nope";
            Assert.Equal(new[] { "NoMatchingSize" }, Codes(MovePlanner.Plan(i), MoveSeverity.Error));
        }

        [Fact]
        public void No_size_large_enough_is_NoMatchingSize_and_a_destination_without_sizes_keeps_the_shape()
        {
            var i = Input(); i.Workload.CpuCount = 16;
            var r = MovePlanner.Plan(i);
            Assert.Equal(new[] { "NoMatchingSize" }, Codes(r, MoveSeverity.Error));
            Assert.False(r.CanMove);
            i.DestinationSizes = Array.Empty<GridSize>();
            r = MovePlanner.Plan(i);
            Assert.True(r.CanMove);
            Assert.Null(r.Size);
            Assert.Equal(16, r.CpuCount);
        }

        [Fact]
        public void Another_format_is_converted_and_needs_qemu_img_else_DiskConverterMissing()
        {
            var i = Input(dstProvider: "VSphere");
            i.DestinationTransport = new Declared { ImportFormats = new[] { DiskFormat.VmdkStreamOptimized } };
            var r = MovePlanner.Plan(i);
            Assert.Equal(MoveMethod.DiskImport, r.Method);
            Assert.Equal(new[] { DiskFormat.Qcow2, DiskFormat.VmdkStreamOptimized }, r.Disks[0].Path);
            Assert.Equal("Qcow2 -> VmdkStreamOptimized", r.DiskPath);
            Assert.Contains("GuestFixupNeeded", Codes(r, MoveSeverity.Warning));
            Assert.True(r.CanMove);
            i.ConverterPath = null;
            r = MovePlanner.Plan(i);
            Assert.Equal(new[] { "DiskConverterMissing" }, Codes(r, MoveSeverity.Error));
            Assert.Contains("qemu-utils", r.Incompatibilities.First(x => x.Code == "DiskConverterMissing").Message);
        }

        [Fact]
        public void Virtual_disks_cannot_become_files_UnsupportedDiskFormat_and_a_provider_without_transport_too()
        {
            var i = Input(format: DiskFormat.Virtual);
            Assert.Equal(new[] { "UnsupportedDiskFormat" }, Codes(MovePlanner.Plan(i), MoveSeverity.Error));
            i = Input(); i.DestinationTransport = null;
            Assert.Equal(new[] { "UnsupportedDiskFormat" }, Codes(MovePlanner.Plan(i), MoveSeverity.Error));
        }

        [Fact]
        public void A_disk_over_the_destination_limit_is_DiskTooLarge()
        {
            var i = Input(capacity: 40 * GiB);
            i.DestinationTransport = new Declared { MaxDiskBytes = 20 * GiB };
            var r = MovePlanner.Plan(i);
            Assert.Equal(new[] { "DiskTooLarge" }, Codes(r, MoveSeverity.Error));
            Assert.Contains("40 GiB", r.Incompatibilities[0].Message);
        }

        [Fact]
        public void UEFI_to_a_BIOS_only_destination_is_FirmwareMismatch()
        {
            var i = Input();
            i.SourceInfo!.Firmware = "uefi";
            i.DestinationTransport = new Declared { SupportedFirmware = new[] { "bios" } };
            Assert.Equal(new[] { "FirmwareMismatch" }, Codes(MovePlanner.Plan(i), MoveSeverity.Error));
        }

        [Fact]
        public void Too_little_temp_space_is_InsufficientTempSpace_but_virtual_disks_need_none()
        {
            var i = Input(); i.TempFreeBytes = 1 * GiB;
            var r = MovePlanner.Plan(i);
            Assert.Equal(new[] { "InsufficientTempSpace" }, Codes(r, MoveSeverity.Error));
            Assert.Contains("/tmp/x", r.Incompatibilities[0].Message);
            i = Input(format: DiskFormat.Virtual); i.TempFreeBytes = 0;
            i.SourceTransport = i.DestinationTransport = new Declared { ImportFormats = new[] { DiskFormat.Virtual }, ExportFormats = new[] { DiskFormat.Virtual } };
            Assert.True(MovePlanner.Plan(i).CanMove);
        }

        [Fact]
        public void A_required_destination_setting_comes_from_Option_or_the_registration_else_DestinationOptionMissing()
        {
            var i = Input();
            i.DestinationTransport = new Declared { RequiredOptions = new[] { "Network" } };
            Assert.Equal(new[] { "DestinationOptionMissing" }, Codes(MovePlanner.Plan(i), MoveSeverity.Error));
            i.Destination.Settings[MovePlanner.DefaultsSetting] = "Network=lan\nDatastore=ds1";
            var r = MovePlanner.Plan(i);
            Assert.True(r.CanMove);
            Assert.Equal("lan", r.Options["Network"]);
            i.Options["network"] = "dmz";
            Assert.Equal("dmz", MovePlanner.Plan(i).Options["Network"]);
        }

        [Fact]
        public void A_running_workload_gets_NoLivePath_and_a_downtime_from_the_slower_bandwidth()
        {
            var i = Input(state: WorkloadState.Running);
            i.SourceTransport = new Declared { BandwidthBytesPerSecond = 100L * 1024 * 1024 };
            i.DestinationTransport = new Declared { BandwidthBytesPerSecond = 50L * 1024 * 1024 };
            var r = MovePlanner.Plan(i);
            Assert.Equal(new[] { "NoLivePath" }, Codes(r, MoveSeverity.Warning));
            Assert.True(r.CanMove);
            Assert.Equal(5 * GiB / (50.0 * 1024 * 1024), r.EstimatedDowntime.TotalSeconds, 3);
            Assert.Contains("configured bandwidth 50 MiB/s", r.DowntimeBasis);
        }

        [Fact]
        public void An_unknown_destination_host_is_DestinationHostNotFound()
        {
            var i = Input(); i.DestinationHost = "h9";
            Assert.Equal(new[] { "DestinationHostNotFound" }, Codes(MovePlanner.Plan(i), MoveSeverity.Error));
            i.DestinationHost = "H1";
            Assert.True(MovePlanner.Plan(i).CanMove);
        }

        [Fact]
        public void The_converter_is_found_on_PATH_or_at_the_configured_path_and_not_otherwise()
        {
            using var dir = new TempDir();
            var fake = Path.Combine(dir.Path, "qemu-img");
            File.WriteAllText(fake, "");
            Assert.Equal(fake, DiskConverter.Locate(n => n == "PATH" ? dir.Path : null));
            Assert.Null(DiskConverter.Locate(n => n == "PATH" ? Path.Combine(dir.Path, "none") : null));
            Assert.Equal(fake, DiskConverter.Locate(n => n == DiskConverter.PathVariable ? fake : "/nonexistent"));
            Assert.Null(DiskConverter.Locate(n => n == DiskConverter.PathVariable ? fake + ".missing" : dir.Path));
            Assert.NotNull(DiskConverter.FreeBytes(dir.Path));
        }

        [Fact]
        public void Into_Azure_a_qcow2_disk_is_converted_to_a_fixed_VHD_and_a_size_without_a_price_stays_null()
        {
            // Azure declares (AzureDisks.cs) ImportFormats = VhdFixed, RequiredOptions = Network, sizes without prices
            var i = Input(dstProvider: "Azure");
            i.DestinationTransport = new Declared { ImportFormats = new[] { DiskFormat.VhdFixed }, ExportFormats = new[] { DiskFormat.VhdFixed }, RequiredOptions = new[] { "Network" }, MaxDiskBytes = 4096 * GiB };
            i.DestinationSizes = new[] { new GridSize { Name = "Standard_B2s", CpuCount = 2, MemoryMB = 4096 }, new GridSize { Name = "Standard_B1s", CpuCount = 1, MemoryMB = 1024 } };
            i.Options = new Dictionary<string, string> { ["Network"] = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/default" };
            var r = MovePlanner.Plan(i);
            Assert.True(r.CanMove, string.Join("; ", r.Incompatibilities));
            Assert.Equal(MoveMethod.DiskImport, r.Method);
            Assert.Equal(new[] { DiskFormat.Qcow2, DiskFormat.VhdFixed }, r.Disks[0].Path);
            Assert.True(r.Disks[0].NeedsConversion);
            Assert.Equal("Standard_B2s", r.Size);
            Assert.Equal(0.05m, r.SourcePricePerHour);
            Assert.Null(r.DestinationPricePerHour); // never invented
            // without the network: DestinationOptionMissing
            i.Options = new Dictionary<string, string>();
            Assert.Contains("DestinationOptionMissing", Codes(MovePlanner.Plan(i), MoveSeverity.Error));
        }
    }
}
