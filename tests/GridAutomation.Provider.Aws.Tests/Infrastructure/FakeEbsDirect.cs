using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>
    /// OUR stand-in for the EBS direct APIs (no emulator of them exists to run here), on 127.0.0.1, serving the
    /// snapshots of a <see cref="FakeEc2"/> in the shapes of the EBS direct API reference:
    /// <c>GET /snapshots/{id}/blocks?maxResults&amp;pageToken</c> (ListSnapshotBlocks: JSON Blocks [BlockIndex, BlockToken],
    /// BlockSize 524288, VolumeSize in GiB, ExpiryTime, NextToken; only blocks holding data are listed, the rest are
    /// zeros) and <c>GET /snapshots/{id}/blocks/{index}?blockToken</c> (GetSnapshotBlock: the 512 KiB block with
    /// x-amz-Data-Length, x-amz-Checksum = base64 SHA-256, x-amz-Checksum-Algorithm SHA256). Errors are REST+JSON with
    /// x-amzn-ErrorType. Every request's SigV4 signature (service "ebs") is recomputed with the test's secret and must
    /// match. Faults: <see cref="Corrupt"/> (a block whose checksum does not match), <see cref="ThrottleNext"/>,
    /// <see cref="MaxBlocksPerPage"/> (the API may answer fewer blocks than maxResults).
    /// </summary>
    public sealed class FakeEbsDirect : IDisposable
    {
        public const int BlockSize = 524288;
        private readonly FakeEc2 _ec2;
        private readonly string _accessKey, _secretKey, _region;
        private readonly HttpListener _listener;
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly Task _loop;
        private int _throttle;

        public sealed class Request { public string Method = ""; public string Path = ""; public string Query = ""; public int Status; }
        public ConcurrentQueue<Request> Requests { get; } = new ConcurrentQueue<Request>();
        public string Url { get; }
        /// <summary>Blocks for which this answers a checksum that does not match the bytes.</summary>
        public Func<string, long, bool>? Corrupt { get; set; }
        /// <summary>At most this many blocks a page (the API answers fewer than maxResults at will).</summary>
        public int MaxBlocksPerPage { get; set; } = int.MaxValue;
        /// <summary>The next N requests answer 429 ThrottlingException with Retry-After: 0.</summary>
        public int ThrottleNext { get => Volatile.Read(ref _throttle); set => Volatile.Write(ref _throttle, value); }

        public FakeEbsDirect(FakeEc2 ec2, string accessKey, string secretKey, string region = "us-east-1")
        {
            _ec2 = ec2; _accessKey = accessKey; _secretKey = secretKey; _region = region;
            (_listener, int port) = LoopbackEc2Server.BindLoopback();
            Url = "http://127.0.0.1:" + port + "/";
            _loop = Task.Run(LoopAsync);
        }

        public int Count(string what) => Requests.Count(r => what == "GetSnapshotBlock" ? r.Path.Count(c => c == '/') == 4 : r.Path.EndsWith("/blocks", StringComparison.Ordinal));

        public static string BlockToken(string snapshot, long index)
        {
            using var sha = SHA256.Create();
            return Convert.ToBase64String(sha.ComputeHash(Encoding.UTF8.GetBytes("token\n" + snapshot + "\n" + index)), 0, 24);
        }

        private async Task LoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                HttpListenerContext ctx;
                try { ctx = await _listener.GetContextAsync().ConfigureAwait(false); }
                catch { if (_stop.IsCancellationRequested) return; continue; }
                _ = Task.Run(() => Serve(ctx));
            }
        }

        private void Serve(HttpListenerContext ctx)
        {
            var rec = new Request { Method = ctx.Request.HttpMethod, Path = ctx.Request.Url?.AbsolutePath ?? "", Query = ctx.Request.Url?.Query ?? "" };
            try
            {
                if (!IPAddress.IsLoopback(ctx.Request.RemoteEndPoint.Address)) { Answer(ctx, rec, 403, "AccessDeniedException", "loopback only"); return; }
                if (Interlocked.Decrement(ref _throttle) >= 0)
                {
                    ctx.Response.AddHeader("Retry-After", "0");
                    Answer(ctx, rec, 429, "ThrottlingException", "Rate exceeded");
                    return;
                }
                Interlocked.Exchange(ref _throttle, 0);
                string? why = CheckSignature(ctx.Request);
                if (why != null) { Answer(ctx, rec, 403, "InvalidSignatureException", why); return; }
                var parts = rec.Path.Trim('/').Split('/');
                var query = ParseQuery(rec.Query);
                if (rec.Method != "GET" || parts.Length < 3 || parts[0] != "snapshots" || parts[2] != "blocks") { Answer(ctx, rec, 404, "ResourceNotFoundException", "No such API: " + rec.Method + " " + rec.Path); return; }
                string id = parts[1];
                var snap = _ec2.Locked<(string State, byte[] Data, int VolumeSize)?>(() =>
                {
                    if (!_ec2.Snapshots.TryGetValue(id, out var s)) return null;
                    if (s.State == "pending" && DateTime.UtcNow - s.Started >= _ec2.SnapshotTime) s.State = "completed";
                    return (s.State, s.Data, s.VolumeSize);
                });
                if (snap == null) { Answer(ctx, rec, 404, "ResourceNotFoundException", $"The snapshot '{id}' does not exist.", "SNAPSHOT_NOT_FOUND"); return; }
                if (snap.Value.State != "completed") { Answer(ctx, rec, 400, "ValidationException", $"The snapshot '{id}' is not completed.", "INVALID_SNAPSHOT_STATE"); return; }
                var data = snap.Value.Data;
                long blocksWithData = (data.LongLength + BlockSize - 1) / BlockSize;
                if (parts.Length == 3)
                {
                    string? maxText = query.TryGetValue("maxResults", out var m) ? m : null;
                    int max = 10000;
                    if (maxText != null && (!int.TryParse(maxText, out max) || max < 100 || max > 10000)) { Answer(ctx, rec, 400, "ValidationException", "MaxResults must be between 100 and 10000.", "INVALID_PAGE_TOKEN"); return; }
                    long start = 0;
                    if (query.TryGetValue("pageToken", out var tok))
                    {
                        string plain;
                        try { plain = Encoding.UTF8.GetString(Convert.FromBase64String(tok)); } catch (FormatException) { plain = ""; }
                        if (!plain.StartsWith(id + ":", StringComparison.Ordinal) || !long.TryParse(plain.Substring(id.Length + 1), out start)) { Answer(ctx, rec, 400, "ValidationException", "The pagination token is invalid.", "INVALID_PAGE_TOKEN"); return; }
                    }
                    var blocks = new List<object>();
                    long next = -1;
                    for (long i = start; i < blocksWithData; i++)
                    {
                        if (!HasData(data, i)) continue;
                        if (blocks.Count >= Math.Min(max, MaxBlocksPerPage)) { next = i; break; }
                        blocks.Add(new { BlockIndex = i, BlockToken = BlockToken(id, i) });
                    }
                    var body = new Dictionary<string, object?>
                    {
                        ["Blocks"] = blocks, ["BlockSize"] = BlockSize, ["VolumeSize"] = snap.Value.VolumeSize,
                        ["ExpiryTime"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds() / 1000.0,
                    };
                    if (next >= 0) body["NextToken"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(id + ":" + next.ToString(CultureInfo.InvariantCulture)));
                    Json(ctx, rec, 200, JsonSerializer.Serialize(body));
                    return;
                }
                if (parts.Length != 4 || !long.TryParse(parts[3], out var index) || index < 0) { Answer(ctx, rec, 400, "ValidationException", "The block index is invalid."); return; }
                if (!query.TryGetValue("blockToken", out var blockToken) || blockToken != BlockToken(id, index) || !HasData(data, index))
                { Answer(ctx, rec, 400, "ValidationException", "The block token is not valid for this block.", "INVALID_BLOCK_TOKEN"); return; }
                var block = new byte[BlockSize];
                Array.Copy(data, index * BlockSize, block, 0, (int)Math.Min(BlockSize, data.LongLength - index * BlockSize));
                string sum;
                using (var sha = SHA256.Create()) sum = Convert.ToBase64String(sha.ComputeHash(block));
                if (Corrupt?.Invoke(id, index) == true) sum = Convert.ToBase64String(new byte[32]);
                rec.Status = 200;
                Requests.Enqueue(rec);
                ctx.Response.StatusCode = 200;
                ctx.Response.ContentType = "application/octet-stream";
                ctx.Response.AddHeader("x-amz-Data-Length", BlockSize.ToString(CultureInfo.InvariantCulture));
                ctx.Response.AddHeader("x-amz-Checksum", sum);
                ctx.Response.AddHeader("x-amz-Checksum-Algorithm", "SHA256");
                ctx.Response.ContentLength64 = block.Length;
                ctx.Response.OutputStream.Write(block, 0, block.Length);
                ctx.Response.Close();
            }
            catch
            {
                try { ctx.Response.Abort(); } catch { }
            }
        }

        private static bool HasData(byte[] data, long index)
        {
            long from = index * BlockSize, to = Math.Min(data.LongLength, from + BlockSize);
            for (long i = from; i < to; i++) if (data[i] != 0) return true;
            return false;
        }

        private static Dictionary<string, string> ParseQuery(string q)
        {
            var d = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in q.TrimStart('?').Split('&'))
            {
                if (p.Length == 0) continue;
                int eq = p.IndexOf('=');
                d[Uri.UnescapeDataString(eq < 0 ? p : p.Substring(0, eq))] = eq < 0 ? "" : Uri.UnescapeDataString(p.Substring(eq + 1));
            }
            return d;
        }

        /// <summary>Recomputes the SigV4 signature (service "ebs", the region, the test's keys) over the headers the request signed.</summary>
        private string? CheckSignature(HttpListenerRequest req)
        {
            string auth = req.Headers["Authorization"] ?? "";
            string date = req.Headers["X-Amz-Date"] ?? "";
            if (!auth.StartsWith("AWS4-HMAC-SHA256 Credential=" + _accessKey + "/", StringComparison.Ordinal)) return "no SigV4 Authorization with the test's access key";
            if (!auth.Contains("/" + _region + "/ebs/aws4_request")) return "not signed for ebs in " + _region;
            if (!DateTime.TryParseExact(date, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var when)) return "no X-Amz-Date";
            int sh = auth.IndexOf("SignedHeaders=", StringComparison.Ordinal);
            var names = auth.Substring(sh + 14).Split(',')[0].Split(';');
            var headers = names.ToDictionary(n => n, n => req.Headers[n] ?? "");
            string expected = AwsSigV4.Authorization(req.HttpMethod, req.Url!, headers, Array.Empty<byte>(), _accessKey, _secretKey, _region, "ebs", when);
            return expected == auth ? null : "the signature does not match";
        }

        private void Answer(HttpListenerContext ctx, Request rec, int status, string type, string message, string? reason = null)
        {
            ctx.Response.AddHeader("x-amzn-ErrorType", type + ":http://internal.amazon.com/coral/com.amazon.zeppelindataservice/");
            Json(ctx, rec, status, JsonSerializer.Serialize(reason == null ? (object)new { Message = message } : new { Message = message, Reason = reason }));
        }

        private void Json(HttpListenerContext ctx, Request rec, int status, string json)
        {
            rec.Status = status;
            Requests.Enqueue(rec);
            var bytes = Encoding.UTF8.GetBytes(json);
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "application/json";
            ctx.Response.ContentLength64 = bytes.Length;
            ctx.Response.OutputStream.Write(bytes, 0, bytes.Length);
            ctx.Response.Close();
        }

        public void Dispose()
        {
            _stop.Cancel();
            try { _listener.Stop(); _listener.Close(); } catch { }
            try { _loop.Wait(2000); } catch { }
        }
    }
}
