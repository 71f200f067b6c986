using System;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Transport;
using Xunit;

namespace GridAutomation.Core.Tests
{
    /// <summary>
    /// The real qemu-img (Debian qemu-utils, installed by tests/GridAutomation.Core.Tests/setup.sh): a disk with a boot
    /// sector and scattered data goes raw → qcow2 → VMDK monolithicSparse → VMDK streamOptimized → VHD fixed → VHDX →
    /// raw and stays bit-identical at every stage.
    /// </summary>
    public class QemuImgTests
    {
        private static string MakeDisk(string path, long size)
        {
            using (var fs = new FileStream(path, FileMode.Create))
            {
                fs.SetLength(size);
                var rnd = new Random(13);
                foreach (long at in new long[] { 0, 1 << 20, size / 2, size - 4096 })
                {
                    var block = new byte[4096];
                    rnd.NextBytes(block);
                    if (at == 0) { block[510] = 0x55; block[511] = 0xAA; }
                    fs.Position = at;
                    fs.Write(block, 0, block.Length);
                }
            }
            return path;
        }

        [Fact]
        public async Task Converts_through_every_format_and_back_bit_identically()
        {
            var q = QemuImg.Require();
            using var dir = new TempDir();
            var raw = MakeDisk(dir.File("disk.raw"), 16L * 1024 * 1024);
            var chain = new[] { DiskFormat.Qcow2, DiskFormat.VmdkMonolithicSparse, DiskFormat.VmdkStreamOptimized, DiskFormat.VhdFixed, DiskFormat.Vhdx, DiskFormat.Raw };
            string prev = raw; var prevFmt = DiskFormat.Raw;
            int i = 0;
            foreach (var f in chain)
            {
                var next = dir.File($"step{i++}.{f}");
                await q.ConvertAsync(prev, prevFmt, next, f, CancellationToken.None);
                Assert.True(File.Exists(next));
                Assert.False(File.Exists(next + ".partial"));
                Assert.True(await q.CompareAsync(raw, DiskFormat.Raw, next, f, CancellationToken.None), $"{f} differs from the source");
                prev = next; prevFmt = f;
            }
            // back in raw: the same bytes; a VHD rounds its size up to its geometry, so anything beyond is zeros
            var original = File.ReadAllBytes(raw);
            var back = File.ReadAllBytes(prev);
            Assert.True(back.Length >= original.Length);
            Assert.True(original.AsSpan().SequenceEqual(back.AsSpan(0, original.Length)), "the round trip changed a byte");
            Assert.True(back.AsSpan(original.Length).IndexOfAnyExcept((byte)0) < 0, "the rounded-up tail is not zeros");
        }

        [Fact]
        public async Task A_changed_byte_compares_unequal()
        {
            var q = QemuImg.Require();
            using var dir = new TempDir();
            var a = MakeDisk(dir.File("a.raw"), 8L * 1024 * 1024);
            var b = dir.File("b.qcow2");
            await q.ConvertAsync(a, DiskFormat.Raw, b, DiskFormat.Qcow2, CancellationToken.None);
            using (var fs = new FileStream(a, FileMode.Open)) { fs.Position = 4 * 1024 * 1024; fs.WriteByte(1); }
            Assert.False(await q.CompareAsync(a, DiskFormat.Raw, b, DiskFormat.Qcow2, CancellationToken.None));
        }

        [Fact]
        public async Task A_missing_converter_is_DiskConverterMissing_and_a_bad_image_DiskConversionFailed()
        {
            using var dir = new TempDir();
            var missing = new QemuImg(dir.File("no-qemu-img"));
            var g = await Assert.ThrowsAsync<GridException>(() => missing.ConvertAsync(dir.File("x"), DiskFormat.Raw, dir.File("y"), DiskFormat.Qcow2, CancellationToken.None));
            Assert.Equal("DiskConverterMissing", g.ErrorId);
            Assert.Contains("qemu-utils", g.Message);
            var bad = dir.File("bad.qcow2");
            File.WriteAllText(bad, "not a qcow2 image");
            g = await Assert.ThrowsAsync<GridException>(() => QemuImg.Require().ConvertAsync(bad, DiskFormat.Qcow2, dir.File("out.raw"), DiskFormat.Raw, CancellationToken.None));
            Assert.Equal("DiskConversionFailed", g.ErrorId);
            Assert.False(File.Exists(dir.File("out.raw")));
            Assert.False(File.Exists(dir.File("out.raw.partial")));
        }

        [Fact]
        public async Task A_VHD_for_Azure_is_whole_MiB_plus_the_footer_and_keeps_the_content()
        {
            // Azure takes only a fixed VHD whose file is N MiB + 512 bytes: an odd-sized disk is grown to the next MiB
            // (zeros), and force_size keeps qemu-img from rounding to its CHS geometry.
            var q = QemuImg.Require();
            using var dir = new TempDir();
            long odd = 3L * 1024 * 1024 + 12345 * 512;
            var raw = MakeDisk(dir.File("odd.raw"), odd);
            var qcow = dir.File("odd.qcow2");
            await q.ConvertAsync(raw, DiskFormat.Raw, qcow, DiskFormat.Qcow2, CancellationToken.None);
            var vhd = dir.File("odd.vhd");
            await q.ConvertAsync(qcow, DiskFormat.Qcow2, vhd, DiskFormat.VhdFixed, CancellationToken.None);
            long expected = QemuImg.VhdFixedSize(odd);
            Assert.Equal(10L * 1024 * 1024, expected);
            Assert.Equal(expected + 512, new FileInfo(vhd).Length);
            Assert.Equal(expected, await q.VirtualSizeAsync(vhd, DiskFormat.VhdFixed, CancellationToken.None));
            Assert.True(await q.CompareAsync(raw, DiskFormat.Raw, vhd, DiskFormat.VhdFixed, CancellationToken.None));
            Assert.Empty(Directory.GetFiles(dir.Path, "*.resize.raw"));
            // already whole MiB: no staging, still N MiB + 512
            var even = MakeDisk(dir.File("even.raw"), 4L * 1024 * 1024);
            await q.ConvertAsync(even, DiskFormat.Raw, dir.File("even.vhd"), DiskFormat.VhdFixed, CancellationToken.None);
            Assert.Equal(4L * 1024 * 1024 + 512, new FileInfo(dir.File("even.vhd")).Length);
        }
    }
}
