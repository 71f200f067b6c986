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
