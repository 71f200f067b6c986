using System;
using System.IO;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Core.Transport
{
    /// <summary>Streaming helpers for staged disk files: hashing 1 MiB at a time (never a whole disk in memory).</summary>
    public static class DiskFiles
    {
        public const int Chunk = 1 << 20;

        /// <summary>SHA-256 (lower-case hex) of a file's bytes.</summary>
        public static string Sha256(string path, Action<long>? progress = null, CancellationToken ct = default)
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, Chunk, FileOptions.SequentialScan);
            return Sha256(fs, progress, ct);
        }

        /// <summary>SHA-256 (lower-case hex) of a stream read to its end.</summary>
        public static string Sha256(Stream s, Action<long>? progress = null, CancellationToken ct = default)
        {
            using var sha = SHA256.Create();
            var buf = new byte[Chunk];
            long total = 0;
            int n;
            while ((n = s.Read(buf, 0, buf.Length)) > 0)
            {
                ct.ThrowIfCancellationRequested();
                sha.TransformBlock(buf, 0, n, null, 0);
                total += n;
                progress?.Invoke(total);
            }
            sha.TransformFinalBlock(buf, 0, 0);
            return Hex(sha.Hash!);
        }

        public static string Hex(byte[] hash) => BitConverter.ToString(hash).Replace("-", "").ToLowerInvariant();

        /// <summary>The staging folder of one move operation under the temp folder (its name is the operation id).</summary>
        public static string StagingFolder(Guid operationId, string? tempRoot = null)
            => Path.Combine(tempRoot ?? DiskConverter.TempFolder(), operationId.ToString("N"));

        /// <summary>Deletes a move's staging folder (what export and convert wrote); true when something was removed.</summary>
        public static bool RemoveStaging(string folder)
        {
            try
            {
                if (!Directory.Exists(folder)) return false;
                Directory.Delete(folder, recursive: true);
                return true;
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException) { return false; }
        }

        /// <summary>The usual file extension of a format (qemu-img does not need it; humans and libvirt pools do).</summary>
        public static string Extension(DiskFormat f) => f switch
        {
            DiskFormat.Qcow2 => ".qcow2",
            DiskFormat.VmdkMonolithicSparse => ".vmdk",
            DiskFormat.VmdkStreamOptimized => ".stream.vmdk",
            DiskFormat.VhdFixed => ".vhd",
            DiskFormat.Vhdx => ".vhdx",
            _ => ".img",
        };

        /// <summary>A disk name reduced to characters safe in a file or volume name.</summary>
        public static string SafeName(string name)
        {
            var chars = name.ToCharArray();
            for (int i = 0; i < chars.Length; i++)
                if (!(char.IsLetterOrDigit(chars[i]) || chars[i] == '-' || chars[i] == '_')) chars[i] = '_';
            return chars.Length == 0 ? "disk" : new string(chars);
        }
    }
}
