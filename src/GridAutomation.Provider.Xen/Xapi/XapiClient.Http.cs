using System;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.Xen.Xapi
{
    /// <summary>
    /// XAPI's disk HTTP handlers: GET /export_raw_vdi and PUT /import_raw_vdi (query vdi=&lt;ref or uuid&gt;&amp;format=raw|vhd).
    /// The session goes in the session_id cookie (xapi reads it from the query or the cookies), never in the URL, so
    /// no URL we show or keep carries it. Bodies are streamed in chunks, never held whole in memory.
    /// </summary>
    internal sealed partial class XapiClient
    {
        private const int ChunkBytes = 1 << 20;

        /// <summary>Streams the VDI's content into <paramref name="destination"/>; returns the bytes written.</summary>
        public Task<long> ExportVdiAsync(string vdi, string format, Stream destination, Action<long>? progress, CancellationToken ct)
            => SendDiskAsync(HttpMethod.Get, "/export_raw_vdi", vdi, format, null, async resp =>
            {
                using var body = await resp.Content.ReadAsStreamAsync().ConfigureAwait(false);
                return await CopyAsync(body, destination, progress, ct).ConfigureAwait(false);
            }, ct);

        /// <summary>Streams <paramref name="open"/>'s content into the (existing) VDI; opened again if the session had to be renewed.</summary>
        public Task<long> ImportVdiAsync(string vdi, string format, Func<Stream> open, CancellationToken ct)
            => SendDiskAsync(HttpMethod.Put, "/import_raw_vdi", vdi, format, open, _ => Task.FromResult(0L), ct);

        internal static async Task<long> CopyAsync(Stream from, Stream to, Action<long>? progress, CancellationToken ct)
        {
            var buffer = new byte[ChunkBytes];
            long total = 0;
            int n;
            while ((n = await from.ReadAsync(buffer, 0, buffer.Length, ct).ConfigureAwait(false)) > 0)
            {
                await to.WriteAsync(buffer, 0, n, ct).ConfigureAwait(false);
                total += n;
                progress?.Invoke(total);
            }
            return total;
        }

        private async Task<long> SendDiskAsync(HttpMethod verb, string handler, string vdi, string format, Func<Stream>? open,
                                               Func<HttpResponseMessage, Task<long>> read, CancellationToken ct)
        {
            if (_session == null) throw new GridException(GridErrorKind.Unauthorized, "Not logged in to XAPI.", "XenNotLoggedIn");
            string what = $"{handler} of VDI {vdi}";
            for (int attempt = 0; ; attempt++)
            {
                string session = _session!;
                var url = new Uri(BaseUrl, handler + "?vdi=" + Uri.EscapeDataString(vdi) + "&format=" + Uri.EscapeDataString(format));
                using var req = new HttpRequestMessage(verb, url);
                req.Headers.TryAddWithoutValidation("Cookie", "session_id=" + session);
                Stream? source = null;
                try
                {
                    if (open != null)
                    {
                        source = open();
                        req.Content = new StreamContent(source, ChunkBytes);
                        req.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                        if (source.CanSeek) req.Content.Headers.ContentLength = source.Length - source.Position;
                    }
                    HttpResponseMessage resp;
                    try { resp = await _http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false); }
                    catch (OperationCanceledException oce) when (ct.IsCancellationRequested)
                    { throw new GridException(GridErrorKind.Cancelled, $"XAPI {what} on {BaseUrl.Authority} was cancelled.", "OperationCancelled", oce); }
                    catch (OperationCanceledException oce)
                    { throw GridException.Unavailable($"XAPI {what} on {BaseUrl.Authority} timed out after {_http.Timeout.TotalSeconds:0} s.", oce, "XenTimeout"); }
                    catch (HttpRequestException hre)
                    {
                        if (_tls.LastUntrusted != null && IsTlsFailure(hre)) throw _tls.CertificateError(BaseUrl.Authority, hre);
                        throw GridException.Unavailable($"Cannot reach XAPI at {BaseUrl.Authority} for {what}: {Innermost(hre).Message}", hre, "XenUnreachable");
                    }
                    using (resp)
                    {
                        int status = (int)resp.StatusCode;
                        if ((status == 401 || status == 403) && attempt == 0 && _credential != null)
                        {
                            await RenewSessionAsync(session, ct).ConfigureAwait(false);
                            continue;
                        }
                        if (status == 404)
                            throw GridException.NotFound($"XAPI at {BaseUrl.Authority} has no VDI '{vdi}' (or no {handler} handler).", "DiskNotFound", vdi);
                        if (status >= 500 || status == 429)
                            throw GridException.Unavailable($"XAPI at {BaseUrl.Authority} answered HTTP {status} to {what}.", null, "XenHttpError");
                        if (!resp.IsSuccessStatusCode)
                            throw new GridException(GridErrorKind.InvalidRequest, $"XAPI at {BaseUrl.Authority} answered HTTP {status} to {what}.", "XenHttpError") { NativeCode = status.ToString() };
                        return await read(resp).ConfigureAwait(false);
                    }
                }
                finally { source?.Dispose(); }
            }
        }

        private async Task RenewSessionAsync(string stale, CancellationToken ct)
        {
            await _loginLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (_session == stale)
                {
                    _verbose($"XAPI session on {BaseUrl.Authority} is no longer valid: logging in again.");
                    await LoginCoreAsync(ct).ConfigureAwait(false);
                }
            }
            finally { _loginLock.Release(); }
        }
    }
}
