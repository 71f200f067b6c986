using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>What Test-GridMove says about AWS as a destination and as a source (the planner fed by a real AWS connection to the loopback EC2).</summary>
    public sealed class AwsMovePlanTests
    {
        private static readonly CancellationToken Ct = CancellationToken.None;

        /// <summary>The source side of a libvirt workload as its provider describes it (one qcow2 OS disk, BIOS).</summary>
        private sealed class QcowSource : IDiskTransport
        {
            public IReadOnlyList<DiskFormat> ExportFormats { get; } = new[] { DiskFormat.Qcow2, DiskFormat.Raw };
            public IReadOnlyList<DiskFormat> ImportFormats { get; } = new[] { DiskFormat.Qcow2, DiskFormat.Raw };
            public long? MaxDiskBytes => null;
            public IReadOnlyList<string> SupportedFirmware { get; } = new[] { "bios", "uefi" };
            public IReadOnlyList<string> RequiredOptions { get; } = Array.Empty<string>();
            public long? BandwidthBytesPerSecond => null;
            public Task<MoveSourceInfo> DescribeAsync(string nativeId, CancellationToken cancellationToken) => Task.FromResult(Info());
            public static MoveSourceInfo Info() => new MoveSourceInfo
            {
                Firmware = "bios",
                Disks = { new MoveDisk { Name = "vda", Format = DiskFormat.Qcow2, CapacityBytes = 1L << 30, TransferBytes = 200L << 20, IsOsDisk = true } },
            };
        }

        private static async Task<MovePlanInput> IntoAwsAsync(AwsConnection aws, IDictionary<string, string>? options = null, IReadOnlyList<GridSize>? sizes = null)
        {
            var src = new GridDatacenter { Name = "kvm", Provider = "Libvirt" };
            return new MovePlanInput
            {
                Workload = new GridWorkload { Id = "kvm/web1", Name = "web1", Datacenter = "kvm", Size = "small", CpuCount = 2, MemoryMB = 1024, State = WorkloadState.Stopped },
                Source = src, Destination = aws.Datacenter,
                SourceTransport = new QcowSource(), DestinationTransport = aws, SourceInfo = QcowSource.Info(),
                SourceSizes = new[] { new GridSize { Datacenter = "kvm", Name = "small", CpuCount = 2, MemoryMB = 1024, PricePerHour = 0.05m, Currency = "EUR" } },
                DestinationSizes = sizes ?? await aws.ListSizesAsync(Ct),
                DestinationHosts = await aws.ListHostsAsync(Ct),
                Options = options ?? new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase),
                ConverterPath = "/usr/bin/qemu-img", TempFolder = "/tmp",
            };
        }

        [Fact]
        public async Task IntoAws_ShowsFormatPathSizeAndCost_NullPriceStaysNull()
        {
            using var fake = new FakeEc2();
            using var aws = await TestEnvironment.ConnectAsync(fake.Url);
            var r = MovePlanner.Plan(await IntoAwsAsync(aws, new Dictionary<string, string> { ["ImportBucket"] = "b", ["SubnetId"] = "subnet-1", ["SecurityGroupIds"] = "sg-1" }));
            Assert.True(r.CanMove, string.Join("; ", r.Incompatibilities.Where(i => i.Severity == MoveSeverity.Error).Select(i => i.Code + ": " + i.Message)));
            Assert.Equal(new[] { DiskFormat.Qcow2, DiskFormat.Raw }, r.Disks[0].Path);
            Assert.True(r.Disks[0].NeedsConversion);
            Assert.NotNull(r.Size);
            Assert.Equal(0.05m, r.SourcePricePerHour);
            Assert.Null(r.DestinationPricePerHour); // EC2 serves no prices here: never invented
        }

        [Fact]
        public async Task IntoAws_UsesThePriceTheChosenSizeHas()
        {
            using var fake = new FakeEc2();
            using var aws = await TestEnvironment.ConnectAsync(fake.Url);
            var sizes = (await aws.ListSizesAsync(Ct)).ToList();
            foreach (var s in sizes) s.PricePerHour = s.Name == "t3.micro" ? 0.0104m : (decimal?)null;
            var r = MovePlanner.Plan(await IntoAwsAsync(aws, new Dictionary<string, string> { ["ImportBucket"] = "b", ["SubnetId"] = "subnet-1", ["SecurityGroupIds"] = "sg-1" }, sizes));
            var chosen = sizes.First(s => s.Name == r.Size);
            Assert.Equal(chosen.PricePerHour, r.DestinationPricePerHour);
        }

        [Fact]
        public async Task IntoAws_WithoutBucketSubnetOrGroup_IsDestinationOptionMissing()
        {
            using var fake = new FakeEc2();
            using var aws = await TestEnvironment.ConnectAsync(fake.Url);
            var r = MovePlanner.Plan(await IntoAwsAsync(aws));
            var missing = r.Incompatibilities.Where(i => i.Code == "DestinationOptionMissing").Select(i => i.Message).ToList();
            Assert.Equal(3, missing.Count);
            Assert.Contains(missing, m => m.Contains("ImportBucket"));
            Assert.Contains(missing, m => m.Contains("SubnetId"));
            Assert.Contains(missing, m => m.Contains("SecurityGroupIds"));
            Assert.False(r.CanMove);
        }

        [Fact]
        public async Task OutOfAws_NonImportedInstance_IsExportNotAllowedWithWhy()
        {
            using var fake = new FakeEc2();
            fake.Seed(1, "stopped");
            using var aws = await TestEnvironment.ConnectAsync(fake.Url);
            var inst = fake.Instances.Values.Single();
            var w = await aws.GetWorkloadAsync(inst.Id, Ct);
            var info = await aws.DescribeAsync(inst.Id, Ct);
            var r = MovePlanner.Plan(new MovePlanInput
            {
                Workload = w, Source = aws.Datacenter, Destination = new GridDatacenter { Name = "kvm", Provider = "Libvirt" },
                SourceTransport = aws, DestinationTransport = new QcowSource(), SourceInfo = info,
                ConverterPath = "/usr/bin/qemu-img", TempFolder = "/tmp",
            });
            var refusal = Assert.Single(r.Incompatibilities, i => i.Code == "ExportNotAllowed");
            Assert.Equal(MoveSeverity.Error, refusal.Severity);
            Assert.Contains("only instances that were imported", refusal.Message);
            Assert.Contains(inst.ImageId, refusal.Message);
            Assert.DoesNotContain(r.Incompatibilities, i => i.Code == "MoveNotImplemented");
            Assert.False(r.CanMove);
        }
    }
}
