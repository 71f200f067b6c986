using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using Xunit;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// Azure's half of moves with the real Azure SDK (ARM: our loopback endpoint; blobs: Azurite, the real protocol)
    /// and the real qemu-img: a fixed VHD made from a raw disk of known content is uploaded as a managed disk, a VM
    /// is made from it, and exporting it gives back the same guest bytes; interrupted uploads resume or roll back
    /// without leaving a disk or a blob behind (blobs listed through Azurite's own API).
    /// </summary>
    public sealed class DiskMoveTests
    {
        private const long Mib = 1024 * 1024;

        /// <summary>A raw disk of an odd size (not whole MiB) with a boot sector and scattered data, zeros elsewhere.</summary>
        private static string MakeRaw(string path, long size, int seed)
        {
            using var fs = new FileStream(path, FileMode.Create);
            fs.SetLength(size);
            var rnd = new Random(seed);
            foreach (long at in new long[] { 0, 1 * Mib + 4096, 3 * Mib, size - 1024 })
            {
                var block = new byte[at == 3 * Mib ? 3 * 512 : 1024];
                rnd.NextBytes(block);
                if (at == 0) { block[510] = 0x55; block[511] = 0xAA; }
                fs.Position = at;
                fs.Write(block, 0, block.Length);
            }
            return path;
        }

        internal static async Task<(string Raw, DiskImage Image)> StageAsync(string dir, string name, int seed, string firmware = "bios")
        {
            var raw = MakeRaw(Path.Combine(dir, name + ".raw"), 6 * Mib + 3 * 512, seed);
            var vhd = Path.Combine(dir, name + ".vhd");
            await QemuImg.Require().ConvertAsync(raw, DiskFormat.Raw, vhd, DiskFormat.VhdFixed, CancellationToken.None);
            string hash;
            using (var fs = File.OpenRead(vhd))
            using (var sha = SHA256.Create())
            {
                var guest = new byte[fs.Length - 512];
                fs.ReadExactly(guest);
                hash = Convert.ToHexString(sha.ComputeHash(guest)).ToLowerInvariant();
            }
            return (raw, new DiskImage { Name = name, Format = DiskFormat.VhdFixed, CapacityBytes = new FileInfo(vhd).Length - 512, Path = vhd, ContentHash = hash, Firmware = firmware });
        }

        internal static string TempDir()
        {
            var d = Path.Combine(Path.GetTempPath(), "gridazmove-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(d);
            return d;
        }

        [ChildFact]
        public async Task Import_upload_create_export_gives_back_the_same_bytes()
        {
            await using var server = await TestHttpsServer.StartAsync();
            await using var az = await Azurite.StartAsync();
            var sim = new ArmSimulator(server) { Storage = az };
            var verbose = new List<string>();
            using var c = await Harness.ConnectAsync(sim, verbose: verbose);
            var dir = TempDir();
            try
            {
                var (raw, image) = await StageAsync(dir, "os", 7);
                Assert.Equal(6 * Mib + Mib + 512, new FileInfo(image.Path!).Length); // grown to 7 MiB + footer
                Assert.Equal(new[] { DiskFormat.VhdFixed }, c.ImportFormats);

                var scope = new TestScope("move:az-1");
                string diskId = await c.ImportDiskAsync(image, scope.IdempotencyKey, scope, Harness.Ct());
                Assert.Equal("Unattached", sim.DiskStateOf(diskId)); // sealed by endGetAccess
                Assert.Equal("V1", sim.DiskGenerationOf(diskId));   // BIOS source → generation 1
                Assert.Equal(diskId, scope.Checkpoints["azure.importDisk:os"]);
                var put = server.Requests.Single(r => r.Method == "PUT" && r.Path.Contains("/disks/"));
                Assert.Contains("\"createOption\":\"Upload\"", put.Body.Replace(" ", ""));
                Assert.Contains("\"uploadSizeBytes\":" + (7 * Mib + 512), put.Body.Replace(" ", ""));
                Assert.Contains(server.Requests, r => r.Method == "POST" && r.Path.EndsWith("/beginGetAccess"));
                Assert.Contains(server.Requests, r => r.Method == "POST" && r.Path.EndsWith("/endGetAccess"));

                // Azurite holds the page blob: the same bytes, and only the non-empty pages were written
                var blob = az.Service.GetBlobContainerClient(ArmSimulator.DiskContainer).GetPageBlobClient(new global::Azure.Core.ResourceIdentifier(diskId).Name);
                var stored = (await blob.DownloadContentAsync()).Value.Content.ToArray();
                Assert.Equal(File.ReadAllBytes(image.Path!), stored);
                var ranges = (await blob.GetPageRangesAsync()).Value.PageRanges.ToList();
                long written = ranges.Sum(r => r.Length ?? 0);
                Assert.True(written > 0 && written <= 16 * 1024, $"{written} bytes of pages written; the disk holds ~5 KiB of data plus the footer");

                // a VM from the attached OS disk (no image, no OS profile), stopped as a move creates it
                var req = new CreateWorkloadRequest
                {
                    Name = "moved-1", Size = "Standard_B2s", PowerOn = false, IdempotencyKey = "move:az-1",
                    Options = { ["ImportedDisk"] = diskId, ["ImportedDiskTakeOver"] = "true", ["Network"] = ArmSimulator.SubnetId(Harness.Rg) },
                };
                var w = await c.CreateWorkloadAsync(req, new TestScope(), Harness.Ct());
                Assert.Equal(WorkloadState.Deallocated, w.State);
                var vmPut = server.Requests.Last(r => r.Method == "PUT" && r.Path.Contains("/virtualMachines/"));
                Assert.Contains("\"createOption\":\"Attach\"", vmPut.Body.Replace(" ", ""));
                Assert.DoesNotContain("imageReference", vmPut.Body);
                Assert.DoesNotContain("osProfile", vmPut.Body);
                Assert.Equal("Attached", sim.DiskStateOf(diskId));

                var info = await c.DescribeAsync(w.NativeId, Harness.Ct());
                Assert.Equal("bios", info.Firmware);
                var os = Assert.Single(info.Disks);
                Assert.Equal(7 * Mib, os.CapacityBytes);
                Assert.Equal(image.ContentHash, await c.HashDiskAsync(w.NativeId, 0, Harness.Ct()));

                // export: a read SAS, a streamed download; the guest bytes equal the raw source's (qemu-img compare)
                await c.StartAsync(w.NativeId, new TestScope(), Harness.Ct());
                var exportDir = Path.Combine(dir, "export");
                var back = await c.ExportDiskAsync(w.NativeId, os, exportDir, new TestScope(), Harness.Ct());
                Assert.Equal(WorkloadState.Deallocated, (await c.GetWorkloadAsync(w.NativeId, Harness.Ct())).State);
                Assert.Equal(DiskFormat.VhdFixed, back.Format);
                Assert.Equal(image.ContentHash, back.ContentHash);
                Assert.Equal("bios", back.Firmware);
                Assert.True(await QemuImg.Require().CompareAsync(raw, DiskFormat.Raw, back.Path!, DiskFormat.VhdFixed, CancellationToken.None));
                Assert.Equal("Attached", sim.DiskStateOf(diskId)); // endGetAccess after the download

                // no SAS (a secret) in verbose output or checkpoints
                var all = string.Join("\n", verbose) + string.Join("\n", scope.Checkpoints.Values);
                Assert.NotEmpty(sim.SasHandedOut);
                foreach (var sas in sim.SasHandedOut) Assert.DoesNotContain(new Uri(sas).Query.TrimStart('?'), all);
                Assert.DoesNotContain("sig=", all);

                // removing the VM with its storage leaves no disk and no blob in Azurite
                await c.RemoveAsync(w.NativeId, true, new TestScope(), Harness.Ct());
                Assert.Equal(0, sim.DiskCount);
                Assert.Empty(await az.ListBlobsAsync());
            }
            finally { Directory.Delete(dir, true); }
        }

        [ChildFact]
        public async Task An_interrupted_upload_resumes_to_the_same_disk_or_is_discarded_without_orphans()
        {
            await using var server = await TestHttpsServer.StartAsync();
            await using var az = await Azurite.StartAsync();
            var sim = new ArmSimulator(server) { Storage = az };
            using var c = await Harness.ConnectAsync(sim);
            var dir = TempDir();
            try
            {
                var (_, image) = await StageAsync(dir, "os", 11, firmware: "uefi");
                c.UploadParallelism = 1;

                // interrupted after the first page write (the process "dies": cancellation)
                using (var cts = new CancellationTokenSource())
                {
                    c.AfterPageWrite = _ => cts.Cancel();
                    var scope = new TestScope("move:az-2");
                    await Assert.ThrowsAnyAsync<Exception>(() => c.ImportDiskAsync(image, scope.IdempotencyKey, scope, cts.Token));
                    c.AfterPageWrite = null;
                    string id = scope.Checkpoints["azure.importDisk:os"];
                    Assert.Equal("ActiveUpload", sim.DiskStateOf(id));
                }
                // resume: the same disk (found by the key), every page written again, then sealed
                var resume = new TestScope("move:az-2") { IsResume = true };
                string diskId = await c.ImportDiskAsync(image, resume.IdempotencyKey, resume, Harness.Ct());
                Assert.Equal(1, sim.DiskCount);
                Assert.Equal("Unattached", sim.DiskStateOf(diskId));
                Assert.Equal("V2", sim.DiskGenerationOf(diskId)); // UEFI source → generation 2
                var blob = az.Service.GetBlobContainerClient(ArmSimulator.DiskContainer).GetPageBlobClient(new global::Azure.Core.ResourceIdentifier(diskId).Name);
                Assert.Equal(File.ReadAllBytes(image.Path!), (await blob.DownloadContentAsync()).Value.Content.ToArray());
                // a third run finds the sealed disk and uploads nothing
                int beforePuts = server.Requests.Count(r => r.Method == "POST");
                Assert.Equal(diskId, await c.ImportDiskAsync(image, "move:az-2", new TestScope("move:az-2"), Harness.Ct()));
                Assert.Equal(beforePuts, server.Requests.Count(r => r.Method == "POST"));

                // another move interrupted mid-upload and rolled back: its disk and blob are gone
                string other;
                using (var cts = new CancellationTokenSource())
                {
                    c.AfterPageWrite = _ => cts.Cancel();
                    var scope = new TestScope("move:az-3");
                    await Assert.ThrowsAnyAsync<Exception>(() => c.ImportDiskAsync(image, scope.IdempotencyKey, scope, cts.Token));
                    c.AfterPageWrite = null;
                    other = scope.Checkpoints["azure.importDisk:os"];
                }
                Assert.Equal(2, (await az.ListBlobsAsync()).Count);
                await c.DiscardImportAsync(other, new TestScope(), Harness.Ct());
                await c.DiscardImportAsync(other, new TestScope(), Harness.Ct()); // already gone: a no-op
                Assert.False(sim.ResourceExists(other));
                Assert.Equal(new[] { ArmSimulator.DiskContainer + "/" + new global::Azure.Core.ResourceIdentifier(diskId).Name }, await az.ListBlobsAsync());
                await c.DiscardImportAsync(diskId, new TestScope(), Harness.Ct());
                Assert.Empty(await az.ListBlobsAsync());
            }
            finally { Directory.Delete(dir, true); }
        }

        /// <summary>Cancels the create at its checkpoint <paramref name="at"/> (the process "dies" there).</summary>
        private sealed class CancelAtScope : IOperationScope
        {
            private readonly Dictionary<string, string> _cp = new Dictionary<string, string>();
            private readonly string _at;
            private readonly CancellationTokenSource _cts;
            public CancelAtScope(string key, string at, CancellationTokenSource cts) { IdempotencyKey = key; _at = at; _cts = cts; }
            public Guid OperationId { get; } = Guid.NewGuid();
            public string IdempotencyKey { get; }
            public bool IsResume => false;
            public IReadOnlyDictionary<string, string> Checkpoints => _cp;
            public void Checkpoint(string key, string value) { _cp[key] = value; if (key == _at) _cts.Cancel(); }
            public void Report(GridProgress progress) { }
        }

        [ChildFact]
        public async Task A_create_that_does_not_take_over_the_import_runs_on_its_own_copy_made_once()
        {
            await using var server = await TestHttpsServer.StartAsync();
            await using var az = await Azurite.StartAsync();
            var sim = new ArmSimulator(server) { Storage = az };
            using var c = await Harness.ConnectAsync(sim);
            var dir = TempDir();
            try
            {
                var (_, image) = await StageAsync(dir, "os", 9);
                string point = await c.ImportDiskAsync(image, "repl:p1", new TestScope("repl:p1"), Harness.Ct());
                string pointBytes = await AzureNetworkTests.BlobHashAsync(az, point);
                CreateWorkloadRequest Req(string name, string key) => new CreateWorkloadRequest
                {
                    Name = name, Size = "Standard_B2s", PowerOn = false, IdempotencyKey = key,
                    Options = { ["ImportedDisk"] = point, ["Network"] = ArmSimulator.SubnetId(Harness.Rg) },
                };

                // the create dies after its copy was made, before the VM PUT
                using (var cts = new CancellationTokenSource())
                {
                    var scope = new CancelAtScope("failover:a", "azure.vmId", cts);
                    await Assert.ThrowsAnyAsync<Exception>(() => c.CreateWorkloadAsync(Req("dr-a", "failover:a"), scope, cts.Token));
                    Assert.Equal(Assert.Single(sim.DisksCopied).Copy, scope.Checkpoints[GridAutomation.Providers.Azure.AzureConnection.CopyCheckpoint], StringComparer.OrdinalIgnoreCase);
                }
                var (copy, source) = Assert.Single(sim.DisksCopied);
                Assert.Equal(point, source, StringComparer.OrdinalIgnoreCase);
                Assert.Equal("Unattached", sim.DiskStateOf(copy));
                Assert.Equal(pointBytes, await AzureNetworkTests.BlobHashAsync(az, copy)); // a full copy of the bytes
                var copyPut = server.Requests.Single(r => r.Method == "PUT" && r.Path.Contains("/disks/" + new global::Azure.Core.ResourceIdentifier(copy).Name));
                Assert.Contains("\"createOption\":\"Copy\"", copyPut.Body.Replace(" ", ""));

                // the resumed create (same key) finds that copy and runs on it: never two copies
                var w = await c.CreateWorkloadAsync(Req("dr-a", "failover:a"), new TestScope("failover:a") { IsResume = true }, Harness.Ct());
                Assert.Single(sim.DisksCopied);
                Assert.Equal(copy, Assert.Single((await c.DescribeAsync(w.NativeId, Harness.Ct())).Disks).NativeId, StringComparer.OrdinalIgnoreCase);
                Assert.Equal("Attached", sim.DiskStateOf(copy));
                Assert.Equal("Unattached", sim.DiskStateOf(point));

                // removal with its storage takes the copy, never the point
                await c.RemoveAsync(w.NativeId, true, new TestScope(), Harness.Ct());
                Assert.Null(sim.DiskStateOf(copy));
                Assert.Equal("Unattached", sim.DiskStateOf(point));
                Assert.Equal(pointBytes, await AzureNetworkTests.BlobHashAsync(az, point));

                // a VM PUT that is refused: the copy made for it is removed again, the point stays
                sim.RefuseVmPut = _ => true;
                var g = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(Req("dr-b", "failover:b"), new TestScope("failover:b"), Harness.Ct()));
                Assert.Contains("Allocation", g.Message);
                Assert.Equal(2, sim.DisksCopied.Count);
                Assert.Null(sim.DiskStateOf(sim.DisksCopied[1].Copy));
                Assert.Equal(new[] { ArmSimulator.DiskContainer + "/" + new global::Azure.Core.ResourceIdentifier(point).Name }, await az.ListBlobsAsync());
            }
            finally { Directory.Delete(dir, true); }
        }

        [ChildFact]
        public async Task A_disk_that_is_not_a_whole_MiB_VHD_is_refused_before_anything_is_made()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using var c = await Harness.ConnectAsync(sim);
            var dir = TempDir();
            try
            {
                var path = Path.Combine(dir, "bad.vhd");
                File.WriteAllBytes(path, new byte[3 * 1024 * 1024 + 1000]);
                var g = await Assert.ThrowsAsync<GridException>(() => c.ImportDiskAsync(new DiskImage { Name = "bad", Format = DiskFormat.VhdFixed, Path = path }, "k", new TestScope(), Harness.Ct()));
                Assert.Equal("AzureVhdNotAligned", g.ErrorId);
                g = await Assert.ThrowsAsync<GridException>(() => c.ImportDiskAsync(new DiskImage { Name = "q", Format = DiskFormat.Qcow2, Path = path }, "k", new TestScope(), Harness.Ct()));
                Assert.Equal("UnsupportedDiskFormat", g.ErrorId);
                Assert.DoesNotContain(server.Requests, r => r.Path.Contains("/disks/"));
            }
            finally { Directory.Delete(dir, true); }
        }
    }
}
