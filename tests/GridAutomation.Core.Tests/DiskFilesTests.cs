using System;
using System.IO;
using System.Security.Cryptography;
using GridAutomation.Core.Transport;
using Xunit;

namespace GridAutomation.Core.Tests
{
    /// <summary>The staging helpers of the disk transport: streamed hashing equals a one-shot hash; a move's staging folder is its own and goes away whole.</summary>
    public class DiskFilesTests
    {
        [Fact]
        public void Sha256_StreamsInChunks_AndEqualsTheOneShotHash_WithByteProgress()
        {
            string dir = Path.Combine(Path.GetTempPath(), "ga-diskfiles-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            try
            {
                string f = Path.Combine(dir, "d.img");
                var data = new byte[3 * DiskFiles.Chunk + 12345]; // several chunks and a partial one
                new Random(7).NextBytes(data);
                File.WriteAllBytes(f, data);
                long last = 0; int calls = 0;
                string h = DiskFiles.Sha256(f, n => { Assert.True(n > last); last = n; calls++; });
                Assert.Equal(Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant(), h);
                Assert.Equal(data.Length, last);
                Assert.Equal(4, calls);
                data[^1] ^= 1;
                File.WriteAllBytes(f, data);
                Assert.NotEqual(h, DiskFiles.Sha256(f));
            }
            finally { Directory.Delete(dir, true); }
        }

        /// <summary>A move deletes staged files no later step reads while the next steps run: only files inside its own staging folder, never a path outside it (a source disk).</summary>
        [Fact]
        public async System.Threading.Tasks.Task StagingSweeper_DeletesOnlyItsOwnStagedFiles_AndDrainWaitsForThem()
        {
            string root = Path.Combine(Path.GetTempPath(), "ga-sweep-" + Guid.NewGuid().ToString("N"));
            string staging = DiskFiles.StagingFolder(Guid.NewGuid(), root);
            Directory.CreateDirectory(staging);
            try
            {
                string export = Path.Combine(staging, "d.qcow2"), converted = Path.Combine(staging, "d.stream.vmdk");
                string outside = Path.Combine(root, "source.qcow2"), sibling = staging + "-other.img";
                foreach (var f in new[] { export, converted, outside, sibling }) File.WriteAllBytes(f, new byte[4096]);
                var sweeper = new GridAutomation.Core.Moves.StagingSweeper(staging);
                sweeper.Delete(new[] { export, null, "", outside, sibling, Path.Combine(staging, "..", Path.GetFileName(outside)) });
                await sweeper.DrainAsync();
                Assert.False(File.Exists(export));
                Assert.True(File.Exists(converted)); // not named
                Assert.True(File.Exists(outside));   // outside the staging folder, also by a "..": never touched
                Assert.True(File.Exists(sibling));   // a name that only starts like the folder
                sweeper.Delete(new[] { converted, converted, export }); // twice, and one already gone
                await sweeper.DrainAsync();
                Assert.False(File.Exists(converted));
                await sweeper.DrainAsync(); // nothing pending
            }
            finally { Directory.Delete(root, true); }
        }

        [Fact]
        public void StagingFolder_IsPerOperation_AndRemoveStagingDeletesItWhole()
        {
            string root = Path.Combine(Path.GetTempPath(), "ga-staging-" + Guid.NewGuid().ToString("N"));
            var a = Guid.NewGuid(); var b = Guid.NewGuid();
            string fa = DiskFiles.StagingFolder(a, root), fb = DiskFiles.StagingFolder(b, root);
            Assert.NotEqual(fa, fb);
            Assert.Equal(root, Path.GetDirectoryName(fa));
            Directory.CreateDirectory(fa); Directory.CreateDirectory(fb);
            File.WriteAllText(Path.Combine(fa, "x.img.partial"), "half");
            Assert.True(DiskFiles.RemoveStaging(fa));
            Assert.False(Directory.Exists(fa));
            Assert.True(Directory.Exists(fb)); // another move's staging is untouched
            Assert.False(DiskFiles.RemoveStaging(fa));
            Directory.Delete(root, true);
        }

        [Theory]
        [InlineData("hda", "hda")]
        [InlineData("../etc/x", "___etc_x")]
        [InlineData("", "disk")]
        public void SafeName_KeepsOnlyFileSafeCharacters(string name, string expected) => Assert.Equal(expected, DiskFiles.SafeName(name));
    }
}
