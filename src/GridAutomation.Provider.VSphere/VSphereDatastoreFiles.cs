using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.VSphere.Vim25;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>Streams files between a datastore (the HTTP <c>/folder/</c> interface, session cookie) and a local file; and HTTP PUTs of a local file (NFC uploads).</summary>
    internal static class VSphereDatastoreFiles
    {
        private const int BufferSize = 1 << 20;

        /// <summary>"[datastore1] vm/vm.vmdk" → ("datastore1", "vm/vm.vmdk").</summary>
        public static (string Datastore, string Path) ParsePath(string datastorePath)
        {
            string s = (datastorePath ?? "").Trim();
            int close = s.IndexOf(']');
            if (!s.StartsWith("[", StringComparison.Ordinal) || close < 0)
                throw GridException.InvalidRequest($"'{datastorePath}' is not a datastore path ('[datastore] folder/file.vmdk').", "InvalidDatastorePath", datastorePath);
            return (s.Substring(1, close - 1), s.Substring(close + 1).Trim().TrimStart('/'));
        }

        /// <summary>https://server/folder/&lt;path&gt;?dcPath=&lt;datacenter&gt;&amp;dsName=&lt;datastore&gt; (each path segment escaped).</summary>
        public static Uri FolderUrl(Uri sdkUrl, string datacenterPath, string datastore, string path)
        {
            string escaped = string.Join("/", path.Split('/').Select(Uri.EscapeDataString));
            var b = new UriBuilder(sdkUrl.Scheme, sdkUrl.Host, sdkUrl.Port, "/folder/" + escaped)
            {
                Query = "dcPath=" + Uri.EscapeDataString(datacenterPath) + "&dsName=" + Uri.EscapeDataString(datastore),
            };
            return b.Uri;
        }

        /// <summary>Downloads a datastore file to <paramref name="destination"/> (via a ".partial" name, so a broken download never has the final name).</summary>
        public static async Task DownloadAsync(VimClient vim, string datacenterPath, string datastore, string path, string destination, long expectedBytes, string activity, IOperationScope? scope, CancellationToken ct)
        {
            var url = FolderUrl(vim.SdkUrl, datacenterPath, datastore, path);
            string what = $"download of [{datastore}] {path}";
            string partial = destination + ".partial";
            using var req = new HttpRequestMessage(HttpMethod.Get, url);
            using var resp = await SendAsync(vim, req, what, ct).ConfigureAwait(false);
            if ((int)resp.StatusCode == 404)
                throw GridException.NotFound($"The {what} failed: the datastore has no such file (HTTP 404).", "DatastoreFileNotFound", $"[{datastore}] {path}");
            Check(resp, what);
            long total = resp.Content.Headers.ContentLength ?? expectedBytes;
            try
            {
                using (var src = await resp.Content.ReadAsStreamAsync().ConfigureAwait(false))
                using (var dst = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, BufferSize, useAsync: true))
                    await CopyAsync(src, dst, total, activity, path, scope, what, ct).ConfigureAwait(false);
                VSphereConnection.TryDelete(destination);
                File.Move(partial, destination);
            }
            finally { VSphereConnection.TryDelete(partial); }
        }

        /// <summary>
        /// Streams a datastore file into a SHA-256, nothing written to disk: the running hash (not finished, so a caller
        /// may append the zeros a short raw file stands for: <see cref="FinishHash"/>), the file's first
        /// <see cref="VmdkSniffer.HeadBytes"/> bytes (to tell what it is) and its length.
        /// </summary>
        public static async Task<(IncrementalHash Sha, byte[] Head, int HeadCount, long Length)> HashAsync(VimClient vim, string datacenterPath, string datastore, string path, CancellationToken ct)
        {
            var url = FolderUrl(vim.SdkUrl, datacenterPath, datastore, path);
            string what = $"read of [{datastore}] {path}";
            using var req = new HttpRequestMessage(HttpMethod.Get, url);
            using var resp = await SendAsync(vim, req, what, ct).ConfigureAwait(false);
            if ((int)resp.StatusCode == 404)
                throw GridException.NotFound($"The {what} failed: the datastore has no such file (HTTP 404).", "DatastoreFileNotFound", $"[{datastore}] {path}");
            Check(resp, what);
            var sink = new HashSink();
            try
            {
                using (var src = await resp.Content.ReadAsStreamAsync().ConfigureAwait(false))
                    await CopyAsync(src, sink, resp.Content.Headers.ContentLength ?? 0, what, path, null, what, ct).ConfigureAwait(false);
            }
            catch { sink.Sha.Dispose(); throw; }
            return (sink.Sha, sink.Head, sink.HeadCount, sink.Written);
        }

        /// <summary>Appends <paramref name="zeros"/> zero bytes to a running hash and returns it (lower-case hex).</summary>
        public static string FinishHash(IncrementalHash sha, long zeros)
        {
            using (sha)
            {
                var z = new byte[BufferSize];
                for (; zeros > 0; zeros -= Math.Min(zeros, z.Length)) sha.AppendData(z, 0, (int)Math.Min(zeros, z.Length));
                return DiskFiles.Hex(sha.GetHashAndReset());
            }
        }

        /// <summary>A write-only stream that hashes what is written and keeps its first bytes.</summary>
        private sealed class HashSink : Stream
        {
            public readonly IncrementalHash Sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            public readonly byte[] Head = new byte[VmdkSniffer.HeadBytes];
            public int HeadCount;
            public long Written;
            public override bool CanRead => false;
            public override bool CanSeek => false;
            public override bool CanWrite => true;
            public override long Length => Written;
            public override long Position { get => Written; set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count)
            {
                if (HeadCount < Head.Length)
                {
                    int k = Math.Min(count, Head.Length - HeadCount);
                    Buffer.BlockCopy(buffer, offset, Head, HeadCount, k);
                    HeadCount += k;
                }
                Sha.AppendData(buffer, offset, count);
                Written += count;
            }
            public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            { Write(buffer, offset, count); return Task.CompletedTask; }
        }

        /// <summary>The first <see cref="VmdkSniffer.HeadBytes"/> bytes of a datastore file (an HTTP Range request) and its whole length.</summary>
        public static async Task<(byte[] Head, int Count, long? Length)> ReadHeadAsync(VimClient vim, string datacenterPath, string datastore, string path, CancellationToken ct)
        {
            var url = FolderUrl(vim.SdkUrl, datacenterPath, datastore, path);
            string what = $"read of [{datastore}] {path}";
            using var req = new HttpRequestMessage(HttpMethod.Get, url);
            req.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(0, VmdkSniffer.HeadBytes - 1);
            using var resp = await SendAsync(vim, req, what, ct).ConfigureAwait(false);
            if ((int)resp.StatusCode == 416) return (new byte[0], 0, 0); // an empty file has no byte 0
            if ((int)resp.StatusCode == 404)
                throw GridException.NotFound($"The {what} failed: the datastore has no such file (HTTP 404).", "DatastoreFileNotFound", $"[{datastore}] {path}");
            Check(resp, what);
            long? length = resp.Content.Headers.ContentRange?.Length ?? ((int)resp.StatusCode == 200 ? resp.Content.Headers.ContentLength : null);
            var head = new byte[VmdkSniffer.HeadBytes];
            int n = 0;
            using (var s = await resp.Content.ReadAsStreamAsync().ConfigureAwait(false))
            {
                int r;
                while (n < head.Length && (r = await s.ReadAsync(head, n, head.Length - n, ct).ConfigureAwait(false)) > 0) n += r;
            }
            return (head, n, length);
        }

        /// <summary>PUTs or POSTs a local file (streamed, never whole in memory) with the content type an NFC disk upload takes.</summary>
        public static async Task UploadAsync(VimClient vim, Uri url, string method, string file, string contentType, Action<long> progress, CancellationToken ct)
        {
            string what = "upload of " + Path.GetFileName(file) + " to " + url.GetLeftPart(UriPartial.Authority);
            using var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, useAsync: true);
            using var req = new HttpRequestMessage(new HttpMethod(method), url) { Content = new StreamContent(new CountingStream(fs, progress), BufferSize) };
            req.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            req.Content.Headers.ContentLength = fs.Length;
            using var resp = await SendAsync(vim, req, what, ct).ConfigureAwait(false);
            Check(resp, what);
        }

        private static async Task<HttpResponseMessage> SendAsync(VimClient vim, HttpRequestMessage req, string what, CancellationToken ct)
        {
            try { return await vim.Transfer.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false); }
            catch (OperationCanceledException oce) when (ct.IsCancellationRequested)
            { throw new GridException(GridErrorKind.Cancelled, $"The {what} was cancelled.", "OperationCancelled", oce); }
            catch (HttpRequestException hre) { throw vim.TransportError(what, hre); }
            catch (IOException io) { throw new GridException(GridErrorKind.Unavailable, $"The {what} broke: {io.Message}", "DiskTransferFailed", io); }
        }

        private static void Check(HttpResponseMessage resp, string what)
        {
            int s = (int)resp.StatusCode;
            if (s >= 200 && s < 300) return;
            string msg = $"The {what} failed: HTTP {s} {resp.ReasonPhrase}.";
            if (s == 401) throw new GridException(GridErrorKind.Unauthorized, msg, "NotAuthenticated") { NativeCode = "HTTP401" };
            if (s == 403) throw new GridException(GridErrorKind.PermissionDenied, msg, "NoPermission") { NativeCode = "HTTP403" };
            if (s == 404) throw new GridException(GridErrorKind.NotFound, msg, "DiskTransferTargetNotFound") { NativeCode = "HTTP404" };
            if (s >= 500) throw new GridException(GridErrorKind.Unavailable, msg, "DiskTransferFailed") { NativeCode = "HTTP" + s };
            throw new GridException(GridErrorKind.InvalidRequest, msg, "DiskTransferFailed") { NativeCode = "HTTP" + s };
        }

        private static async Task CopyAsync(Stream src, Stream dst, long total, string activity, string name, IOperationScope? scope, string what, CancellationToken ct)
        {
            var buf = new byte[BufferSize];
            long done = 0; int lastPct = -1;
            try
            {
                int n;
                while ((n = await src.ReadAsync(buf, 0, buf.Length, ct).ConfigureAwait(false)) > 0)
                {
                    await dst.WriteAsync(buf, 0, n, ct).ConfigureAwait(false);
                    done += n;
                    int pct = total > 0 ? (int)Math.Min(100, done * 100 / total) : -1;
                    if (scope != null && pct != lastPct)
                    {
                        lastPct = pct;
                        scope.Report(new GridProgress(activity, $"{name}: {done / 1048576.0:0.0} MiB", pct));
                    }
                }
            }
            catch (OperationCanceledException oce) when (ct.IsCancellationRequested)
            { throw new GridException(GridErrorKind.Cancelled, $"The {what} was cancelled.", "OperationCancelled", oce); }
            catch (IOException io) { throw new GridException(GridErrorKind.Unavailable, $"The {what} broke after {done} bytes: {io.Message}", "DiskTransferFailed", io); }
            catch (HttpRequestException hre) { throw new GridException(GridErrorKind.Unavailable, $"The {what} broke after {done} bytes: {hre.Message}", "DiskTransferFailed", hre); }
        }

        /// <summary>A read-only stream that reports the bytes read so far (the upload's progress).</summary>
        private sealed class CountingStream : Stream
        {
            private readonly Stream _inner; private readonly Action<long> _progress; private long _done;
            public CountingStream(Stream inner, Action<long> progress) { _inner = inner; _progress = progress; }
            public override bool CanRead => true;
            public override bool CanSeek => false;
            public override bool CanWrite => false;
            public override long Length => _inner.Length;
            public override long Position { get => _done; set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override int Read(byte[] buffer, int offset, int count) { int n = _inner.Read(buffer, offset, count); Add(n); return n; }
            public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            { int n = await _inner.ReadAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false); Add(n); return n; }
            private void Add(int n) { if (n > 0) { _done += n; _progress(_done); } }
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            protected override void Dispose(bool disposing) { if (disposing) _inner.Dispose(); base.Dispose(disposing); }
        }
    }

    /// <summary>What a downloaded VMDK-named file is: a text descriptor (and its flat extent), a sparse VMDK (streamOptimized or monolithicSparse), empty, or something else (raw).</summary>
    internal static class VmdkSniffer
    {
        public enum Kind { Raw, Empty, Descriptor, StreamOptimized, MonolithicSparse }

        public sealed class Result
        {
            public Kind Format;
            public string? CreateType;
            public string? FlatExtent;
            public int ExtentCount;
        }

        public static Result Sniff(string file)
        {
            var head = new byte[HeadBytes];
            int n;
            using (var f = File.OpenRead(file)) n = ReadFull(f, head);
            return Sniff(head, n);
        }

        /// <summary>The virtual size a sparse VMDK's header declares (capacity in 512-byte sectors at offset 12); null for other files.</summary>
        public static long? CapacityBytes(string file)
        {
            var head = new byte[80];
            int n;
            using (var f = File.OpenRead(file)) n = ReadFull(f, head);
            if (n < 80 || head[0] != (byte)'K' || head[1] != (byte)'D' || head[2] != (byte)'M' || head[3] != (byte)'V') return null;
            long sectors = BitConverter.ToInt64(head, 12);
            return sectors > 0 ? sectors * 512 : (long?)null;
        }

        /// <summary>Bytes read to tell the kinds apart (a descriptor is a few hundred bytes).</summary>
        public const int HeadBytes = 4096;

        public static Result Sniff(byte[] head, int n)
        {
            if (n == 0) return new Result { Format = Kind.Empty };
            if (n >= 80 && head[0] == (byte)'K' && head[1] == (byte)'D' && head[2] == (byte)'M' && head[3] == (byte)'V')
            {
                // SparseExtentHeader: flags at 8 (bit 16 = compressed grains), compressAlgorithm (uint16) at 77: 1 = deflate
                uint flags = BitConverter.ToUInt32(head, 8);
                ushort algorithm = BitConverter.ToUInt16(head, 77);
                bool stream = (flags & (1u << 16)) != 0 && algorithm == 1;
                return new Result { Format = stream ? Kind.StreamOptimized : Kind.MonolithicSparse };
            }
            string text = Encoding.ASCII.GetString(head, 0, n);
            if (!text.StartsWith("# Disk DescriptorFile", StringComparison.Ordinal)) return new Result { Format = Kind.Raw };
            var r = new Result { Format = Kind.Descriptor };
            foreach (var raw in text.Split('\n').Take(200))
            {
                string line = raw.Trim();
                if (line.StartsWith("createType", StringComparison.Ordinal)) r.CreateType = line.Split('=').Last().Trim().Trim('"');
                var parts = line.Split(new[] { ' ' }, 4, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 4 && (parts[0] == "RW" || parts[0] == "RDONLY") && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
                {
                    r.ExtentCount++;
                    string rest = parts[3];
                    int q1 = rest.IndexOf('"'), q2 = q1 >= 0 ? rest.IndexOf('"', q1 + 1) : -1;
                    if ((parts[2] == "VMFS" || parts[2] == "FLAT") && q2 > q1) r.FlatExtent = rest.Substring(q1 + 1, q2 - q1 - 1);
                }
            }
            if (r.ExtentCount != 1) r.FlatExtent = null;
            return r;
        }

        private static int ReadFull(Stream s, byte[] buf)
        {
            int total = 0, n;
            while (total < buf.Length && (n = s.Read(buf, total, buf.Length - total)) > 0) total += n;
            return total;
        }
    }
}
