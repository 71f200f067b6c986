using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Provider.Xen.Tests.Server;
using GridAutomation.Providers.Xen;
using Xunit;

namespace GridAutomation.Provider.Xen.Tests
{
    /// <summary>
    /// VDI export/import (issue 19) against the loopback XAPI's /export_raw_vdi and /import_raw_vdi, which keep real
    /// bytes per VDI: a halted VM's disk leaves as a raw file whose bytes and SHA-256 equal the VDI's, and comes back
    /// into a new VDI (raw, or a fixed VHD) that a create attaches; a resumed import does not import twice.
    /// </summary>
    public sealed class DiskTransferTests : IDisposable
    {
        private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;
        private readonly string _temp = Directory.CreateTempSubdirectory("xen-disks-").FullName;

        public void Dispose() { try { Directory.Delete(_temp, true); } catch (IOException) { } }

        private static byte[] Pattern(int bytes)
        {
            var data = new byte[bytes];
            new Random(19).NextBytes(data);
            return data;
        }

        private static string Sha(byte[] b) => Convert.ToHexString(SHA256.HashData(b)).ToLowerInvariant();

        /// <summary>A halted VM made from the template, its provisioned system disk filled with <paramref name="content"/>.</summary>
        private static async Task<(GridWorkload W, string VdiRef)> HaltedVmWithDiskAsync(FakeXapi s, XenConnection c, string name, byte[] content)
        {
            var req = new CreateWorkloadRequest { Name = name, Image = XenContractTests.Template, Size = "small", IdempotencyKey = "k/" + name, PowerOn = false };
            var w = await c.CreateWorkloadAsync(req, new TestScope(req.IdempotencyKey), Ct);
            string vm = s.Db["VM"].First(kv => (string?)kv.Value["uuid"] == w.NativeId).Key;
            string vdi = s.Db["VBD"].Values.Where(b => (string?)b["VM"] == vm && (string?)b["type"] == "Disk").Select(b => (string)b["VDI"]!).Single();
            s.SetVdiContent(vdi, content);
            return (w, vdi);
        }

        [XapiFact]
        public async Task Export_Import_RoundTrip_BytesAndHashEqual_AndACreateAttachesTheDisk()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool);
            using var c = await TestConnect.ConnectAsync(s);
            var content = Pattern(3 * 1024 * 1024 + 4096 + 17); // several 1 MiB chunks and a ragged end
            var (w, vdi) = await HaltedVmWithDiskAsync(s, c, "disk-src", content);

            var info = await c.DescribeAsync(w.NativeId, Ct);
            var disk = Assert.Single(info.Disks);
            Assert.Equal((DiskFormat.Raw, (long)content.Length, "bios"), (disk.Format, disk.CapacityBytes, info.Firmware));
            Assert.Equal(s.Db["VDI"][vdi]["uuid"], disk.NativeId);

            var scope = new TestScope("move-1");
            var image = await c.ExportDiskAsync(w.NativeId, disk, _temp, scope, Ct);
            Assert.Equal(DiskFormat.Raw, image.Format);
            Assert.Equal(content, File.ReadAllBytes(image.Path!));
            Assert.Equal(Sha(content), image.ContentHash);
            Assert.Empty(Directory.GetFiles(_temp, "*.partial"));
            Assert.Contains(scope.ProgressReports, p => p.Activity == "Exporting" && p.PercentComplete == 100);
            Assert.Equal(Sha(content), await c.HashDiskAsync(w.NativeId, 0, Ct));

            int creates = s.Count("VDI.create");
            string imported = await c.ImportDiskAsync(image, "move-1", scope, Ct);
            string importedRef = s.Db["VDI"].First(kv => (string?)kv.Value["uuid"] == imported).Key;
            Assert.Equal(content, s.VdiContent(importedRef));
            Assert.StartsWith("move-1|", (string)((Dictionary<string, object?>)s.Db["VDI"][importedRef]["other_config"]!)[XenConnection.ImportKey]!);
            // Resumed: the same key finds the VDI with the same hash and does not import again.
            int puts = s.Count("PUT /import_raw_vdi");
            Assert.Equal(imported, await c.ImportDiskAsync(image, "move-1", scope, Ct));
            Assert.Equal((creates + 1, puts), (s.Count("VDI.create"), s.Count("PUT /import_raw_vdi")));

            // A create with the imported disk (what a move's create step does): cloned from the option's template, no provisioned disk.
            var req = new CreateWorkloadRequest { Name = "disk-dst", IdempotencyKey = "move:1", PowerOn = false };
            req.Options["ImportedDisk"] = imported;
            req.Options["ImportedDiskTakeOver"] = "true"; // a move's own import: attached as it is (no VDI.copy)
            req.Options["Image"] = XenContractTests.Template;
            var copy = await c.CreateWorkloadAsync(req, new TestScope("move:1"), Ct);
            Assert.Equal(Sha(content), await c.HashDiskAsync(copy.NativeId, 0, Ct));
            var copyInfo = await c.DescribeAsync(copy.NativeId, Ct);
            Assert.Equal(imported, Assert.Single(copyInfo.Disks).NativeId);
        }

        [XapiFact]
        public async Task Import_TakesAFixedVhd_AndTheBytesLandRaw()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool);
            using var c = await TestConnect.ConnectAsync(s);
            var content = Pattern(1024 * 1024 + 512);
            string path = Path.Combine(_temp, "disk.vhd");
            File.WriteAllBytes(path, FakeXapi.FixedVhd(content));
            var image = new DiskImage { Name = "vhd-disk", Format = DiskFormat.VhdFixed, CapacityBytes = content.Length, Path = path, ContentHash = Sha(content) };
            string uuid = await c.ImportDiskAsync(image, "vhd-1", new TestScope(), Ct);
            string reference = s.Db["VDI"].First(kv => (string?)kv.Value["uuid"] == uuid).Key;
            Assert.Equal(content, s.VdiContent(reference));
            Assert.Equal((long)content.Length, s.Db["VDI"][reference]["virtual_size"]);
        }

        [XapiFact]
        public async Task Export_RefusesARunningVm_AndUnknownFormats()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool);
            using var c = await TestConnect.ConnectAsync(s);
            var (w, _) = await HaltedVmWithDiskAsync(s, c, "disk-run", Pattern(4096));
            await c.StartAsync(w.NativeId, new TestScope(), Ct);
            var disk = (await c.DescribeAsync(w.NativeId, Ct)).Disks[0];
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ExportDiskAsync(w.NativeId, disk, _temp, new TestScope(), Ct));
            Assert.Equal((GridErrorKind.Conflict, "WorkloadNotStopped"), (ex.Kind, ex.ErrorId));
            Assert.Empty(Directory.GetFiles(_temp));
            var bad = new DiskImage { Name = "q", Format = DiskFormat.Qcow2, Path = Path.Combine(_temp, "x.qcow2") };
            var ex2 = await Assert.ThrowsAsync<GridException>(() => c.ImportDiskAsync(bad, "k", new TestScope(), Ct));
            Assert.Equal("UnsupportedDiskFormat", ex2.ErrorId);
        }

        [XapiFact]
        public async Task DiskHandlers_RefuseAMissingSession()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool);
            using var http = new System.Net.Http.HttpClient();
            var vdi = s.Db["VDI"].Keys.First();
            var resp = await http.GetAsync(s.Url + "/export_raw_vdi?vdi=" + Uri.EscapeDataString(vdi) + "&format=raw");
            Assert.Equal(401, (int)resp.StatusCode);
        }
    }
}
