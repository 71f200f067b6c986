using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net.Http;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.Aws
{
    /// <summary>One block of a snapshot as ListSnapshotBlocks names it.</summary>
    internal readonly struct EbsBlock
    {
        public EbsBlock(long index, string token) { Index = index; Token = token; }
        public long Index { get; }
        public string Token { get; }
    }

    /// <summary>One page of ListSnapshotBlocks.</summary>
    internal sealed class EbsBlockPage
    {
        public List<EbsBlock> Blocks { get; } = new List<EbsBlock>();
        public long VolumeSizeGiB { get; set; }
        public int BlockSize { get; set; }
        public string? NextToken { get; set; }
    }

    /// <summary>
    /// The two read calls of the EBS direct APIs (a REST+JSON service, <c>ebs.&lt;region&gt;.amazonaws.com</c>): the
    /// AWSSDK.EBS package is not served here, so they are plain HTTPS GETs signed with <see cref="AwsSigV4"/> (service
    /// "ebs"). ListSnapshotBlocks pages with NextToken; GetSnapshotBlock answers the block's bytes with their SHA-256 in
    /// <c>x-amz-Checksum</c> (base64), which is checked. Every call goes through the engine's retry policy (throttling
    /// honours Retry-After). Block tokens travel in the query string of a request and are never logged or kept.
    /// The endpoint is the datacenter setting <c>EbsEndpoint</c> (tests point it at a loopback stand-in).
    /// </summary>
    public sealed partial class AwsConnection
    {
        /// <summary>The EBS direct APIs read snapshots in blocks of 512 KiB.</summary>
        internal const int EbsBlockSize = 524288;
        private HttpClient? _ebsHttp;
        private readonly object _ebsGate = new object();

        /// <summary>ListSnapshotBlocks' MaxResults (the API takes 100..10000; tests lower it to see paging).</summary>
        internal int EbsPageSize { get; set; } = 10000;

        /// <summary>-EbsEndpoint (a ServiceUrl-style override), else the region's EBS direct endpoint.</summary>
        internal Uri EbsEndpoint
        {
            get
            {
                var set = Datacenter.Settings.TryGetValue("EbsEndpoint", out var s) ? s?.Trim() : null;
                if (!string.IsNullOrEmpty(set))
                {
                    if (!Uri.TryCreate(set, UriKind.Absolute, out var u) || (u.Scheme != "https" && u.Scheme != "http"))
                        throw GridException.InvalidRequest($"-EbsEndpoint '{set}' is not an http(s) URL.", "AwsEndpointInvalid", Datacenter.Name);
                    return u;
                }
                return new Uri("https://ebs." + _region + (_region.StartsWith("cn-", StringComparison.Ordinal) ? ".amazonaws.com.cn/" : ".amazonaws.com/"));
            }
        }

        private HttpClient EbsHttp
        {
            get { lock (_ebsGate) return _ebsHttp ??= new HttpClient { Timeout = TimeSpan.FromMinutes(2) }; }
        }

        /// <summary>One page of the snapshot's written blocks (blocks not listed hold zeros).</summary>
        internal Task<EbsBlockPage> ListSnapshotBlocksAsync(string snapshotId, string? nextToken, CancellationToken ct)
        {
            string query = "maxResults=" + EbsPageSize.ToString(CultureInfo.InvariantCulture) + (nextToken == null ? "" : "&pageToken=" + Uri.EscapeDataString(nextToken));
            return RetriedAsync(async c =>
            {
                using var resp = await EbsGetAsync("/snapshots/" + Uri.EscapeDataString(snapshotId) + "/blocks", query, "ListSnapshotBlocks", snapshotId, c).ConfigureAwait(false);
                string text = await resp.Content.ReadAsStringAsync().ConfigureAwait(false);
                try
                {
                    using var doc = JsonDocument.Parse(text);
                    var root = doc.RootElement;
                    var page = new EbsBlockPage
                    {
                        VolumeSizeGiB = root.TryGetProperty("VolumeSize", out var vs) && vs.ValueKind == JsonValueKind.Number ? vs.GetInt64() : 0,
                        BlockSize = root.TryGetProperty("BlockSize", out var bs) && bs.ValueKind == JsonValueKind.Number ? bs.GetInt32() : EbsBlockSize,
                        NextToken = root.TryGetProperty("NextToken", out var nt) && nt.ValueKind == JsonValueKind.String ? nt.GetString() : null,
                    };
                    if (root.TryGetProperty("Blocks", out var blocks) && blocks.ValueKind == JsonValueKind.Array)
                        foreach (var b in blocks.EnumerateArray())
                            page.Blocks.Add(new EbsBlock(b.GetProperty("BlockIndex").GetInt64(), b.GetProperty("BlockToken").GetString() ?? ""));
                    return page;
                }
                catch (Exception ex) when (ex is JsonException || ex is InvalidOperationException || ex is KeyNotFoundException || ex is FormatException)
                {
                    throw new GridException(GridErrorKind.Unavailable, $"The EBS direct endpoint answered ListSnapshotBlocks of {snapshotId} with a response that is not its JSON.", AwsErrors.BadResponse) { Target = snapshotId, IsTransient = false };
                }
            }, ct);
        }

        /// <summary>The bytes of one block, their SHA-256 checked against x-amz-Checksum (a mismatch is retried, then AwsSnapshotChecksumMismatch).</summary>
        internal Task<byte[]> GetSnapshotBlockAsync(string snapshotId, EbsBlock block, int blockSize, CancellationToken ct)
            => RetriedAsync(async c =>
            {
                string path = "/snapshots/" + Uri.EscapeDataString(snapshotId) + "/blocks/" + block.Index.ToString(CultureInfo.InvariantCulture);
                using var resp = await EbsGetAsync(path, "blockToken=" + Uri.EscapeDataString(block.Token), "GetSnapshotBlock", snapshotId, c).ConfigureAwait(false);
                byte[] data = await resp.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                string? checksum = Header(resp, "x-amz-Checksum");
                string? algorithm = Header(resp, "x-amz-Checksum-Algorithm");
                if (algorithm != null && !string.Equals(algorithm, "SHA256", StringComparison.OrdinalIgnoreCase))
                    throw new GridException(GridErrorKind.Unavailable, $"GetSnapshotBlock of {snapshotId} block {block.Index} answered checksum algorithm '{algorithm}', not SHA256.", AwsErrors.BadResponse) { Target = snapshotId, IsTransient = false };
                string actual;
                using (var sha = SHA256.Create()) actual = Convert.ToBase64String(sha.ComputeHash(data));
                if (checksum == null || !string.Equals(checksum, actual, StringComparison.Ordinal) || data.Length != blockSize)
                    throw new GridException(GridErrorKind.Conflict,
                        $"Block {block.Index} of snapshot {snapshotId} arrived damaged: {data.Length} bytes with SHA-256 {actual}, but the EBS direct API says {blockSize} bytes with {checksum ?? "no checksum"}.",
                        "AwsSnapshotChecksumMismatch") { Target = snapshotId, IsTransient = true };
                return data;
            }, ct);

        private static string? Header(HttpResponseMessage resp, string name)
            => resp.Headers.TryGetValues(name, out var v) ? v.FirstOrDefault()
             : resp.Content.Headers.TryGetValues(name, out var cv) ? cv.FirstOrDefault() : null;

        /// <summary>Runs one call through the engine's retry policy (transient errors: throttling, 5xx, a damaged block).</summary>
        private Task<T> RetriedAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken ct)
            => _retry == null ? call(ct) : _retry.ExecuteAsync(Datacenter.Name, call, false, ct);

        /// <summary>A signed GET; a non-2xx answer becomes a GridException (EBS's x-amzn-ErrorType and message, secrets scrubbed).</summary>
        private async Task<HttpResponseMessage> EbsGetAsync(string path, string query, string action, string target, CancellationToken ct)
        {
            var creds = await _credentials.GetCredentialsAsync().ConfigureAwait(false);
            var baseUri = EbsEndpoint;
            var uri = new Uri(baseUri, baseUri.AbsolutePath.TrimEnd('/') + path + "?" + query);
            var now = DateTime.UtcNow;
            var signed = new Dictionary<string, string>
            {
                ["host"] = uri.IsDefaultPort ? uri.Host : uri.Host + ":" + uri.Port,
                ["x-amz-date"] = AwsSigV4.AmzDate(now),
            };
            if (creds.UseToken) signed["x-amz-security-token"] = creds.Token;
            string auth = AwsSigV4.Authorization("GET", uri, signed, Array.Empty<byte>(), creds.AccessKey, creds.SecretKey, _region, "ebs", now);
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.TryAddWithoutValidation("X-Amz-Date", signed["x-amz-date"]);
            if (creds.UseToken) request.Headers.TryAddWithoutValidation("X-Amz-Security-Token", creds.Token);
            request.Headers.TryAddWithoutValidation("Authorization", auth);
            HttpResponseMessage resp;
            try { resp = await EbsHttp.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw AwsErrors.Map(new OperationCanceledException(ct), action, target, ct); }
            catch (Exception ex) when (ex is HttpRequestException || ex is System.IO.IOException || ex is OperationCanceledException)
            {
                // the message of a failed connection names host and port only, never the query (block token)
                throw new GridException(GridErrorKind.Unavailable, $"The EBS direct endpoint {baseUri.GetLeftPart(UriPartial.Authority)} could not be reached for {action}: {AwsErrors.Scrub(ex.Message, _scrub)}", AwsErrors.Unavailable) { NativeCode = ex.GetType().Name, Target = target };
            }
            if (resp.IsSuccessStatusCode) return resp;
            using (resp)
            {
                string body = "";
                try { body = await resp.Content.ReadAsStringAsync().ConfigureAwait(false); } catch (Exception) { }
                string? type = Header(resp, "x-amzn-ErrorType")?.Split(':')[0];
                string message = "";
                try
                {
                    using var doc = JsonDocument.Parse(body);
                    foreach (var p in doc.RootElement.EnumerateObject())
                    {
                        if (string.Equals(p.Name, "message", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String) message = p.Value.GetString() ?? "";
                        if (type == null && (p.Name == "__type" || p.Name == "code") && p.Value.ValueKind == JsonValueKind.String) type = p.Value.GetString()?.Split('#').Last();
                    }
                }
                catch (JsonException) { }
                TimeSpan? retryAfter = resp.Headers.RetryAfter?.Delta
                    ?? (resp.Headers.RetryAfter?.Date is DateTimeOffset d ? d - DateTimeOffset.UtcNow : (TimeSpan?)null);
                throw AwsErrors.MapEbs((int)resp.StatusCode, type, AwsErrors.Scrub(message, _scrub), retryAfter, action, target);
            }
        }
    }
}
