using GridAutomation.Core.Model;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.HyperV;
using Xunit;

namespace GridAutomation.Provider.HyperV.Tests
{
    /// <summary>The pure parts of disk moves and clusters (the remoting itself is proven by tests/pester/Provider.HyperV.Tests.ps1).</summary>
    public class DiskReferenceTests
    {
        [Theory]
        [InlineData("bios", "hv-a|1|/f/gridmove-k-d.vhdx", 1)]
        [InlineData("uefi", "hv-a|2|/f/gridmove-k-d.vhdx", 2)]
        [InlineData(null, "hv-a|2|/f/gridmove-k-d.vhdx", 2)]
        public void A_reference_carries_host_generation_and_path(string? firmware, string expected, int generation)
        {
            string r = HyperVConnection.Reference("hv-a", firmware, "/f/gridmove-k-d.vhdx");
            Assert.Equal(expected, r);
            Assert.Equal(("hv-a", generation, "/f/gridmove-k-d.vhdx"), HyperVConnection.ParseReference(r));
        }

        [Fact]
        public void A_windows_path_with_a_bar_free_drive_survives()
            => Assert.Equal(("hv01", 1, @"C:\VMs\Virtual Hard Disks\gridmove-k-os.vhdx"), HyperVConnection.ParseReference(@"hv01|1|C:\VMs\Virtual Hard Disks\gridmove-k-os.vhdx"));

        [Theory]
        [InlineData("")]
        [InlineData("hv-a|/f.vhdx")]
        [InlineData("hv-a|3|/f.vhdx")]
        [InlineData("|1|/f.vhdx")]
        [InlineData("raw|/var/lib/x.img")]
        public void Refuses_what_is_not_its_reference(string reference)
        {
            var ex = Assert.Throws<GridException>(() => HyperVConnection.ParseReference(reference));
            Assert.Equal("InvalidImportedDisk", ex.ErrorId);
            Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
        }

        [Fact]
        public void The_import_file_is_named_by_key_and_disk_and_keeps_the_format()
        {
            Assert.Equal("gridmove-abc123-disk_0.vhdx", HyperVConnection.ImportFileName("abc123", new DiskImage { Name = "disk 0", Format = DiskFormat.Vhdx }));
            Assert.Equal("gridmove-abc123-os.vhd", HyperVConnection.ImportFileName("abc123", new DiskImage { Name = "os", Format = DiskFormat.VhdFixed }));
            Assert.Equal("gridmove-a_b-x.vhdx", HyperVConnection.ImportFileName("a/b", new DiskImage { Name = "x", Format = DiskFormat.Vhdx })); // never a path
        }
    }

    public class ClusterNodeStateTests
    {
        [Theory]
        [InlineData("Up", HostState.Connected)]
        [InlineData("Paused", HostState.Maintenance)]
        [InlineData("Down", HostState.Down)]
        [InlineData("Joining", HostState.Unknown)]
        [InlineData("Unknown", HostState.Unknown)]
        public void Maps_ClusterNodeState(string state, HostState expected) => Assert.Equal(expected, HyperVConnection.NodeHostState(state));
    }
}
