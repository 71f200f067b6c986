using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Security.Authentication;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Xen.Xapi
{
    internal enum XapiProtocol { JsonRpc, XmlRpc }

    /// <summary>
    /// A XAPI session over HTTPS: JSON-RPC at /jsonrpc or XML-RPC at /. Logs in with session.login_with_password,
    /// follows HOST_IS_SLAVE to the pool master, logs in again once when the session becomes invalid, and follows
    /// Async.* calls through their task objects. Never puts the password in a message, URL or log.
    /// </summary>
    internal sealed partial class XapiClient : IDisposable
    {
        private readonly HttpClient _http;
        private readonly TlsSettings _tls;
        private readonly Action<string> _verbose;
        private NetworkCredential? _credential;
        private string? _session;
        private long _id;
        private readonly SemaphoreSlim _loginLock = new SemaphoreSlim(1, 1);

        public XapiClient(Uri baseUrl, XapiProtocol protocol, TlsSettings tls, Action<string>? verbose, TimeSpan? timeout = null)
        {
            BaseUrl = baseUrl; Protocol = protocol; _tls = tls; _verbose = verbose ?? (_ => { });
            _http = new HttpClient(tls.CreateHandler(useCookies: false), disposeHandler: true) { Timeout = timeout ?? TimeSpan.FromMinutes(5) };
        }

        /// <summary>https://host[:port] of the server we talk to (the pool master after a HOST_IS_SLAVE redirect).</summary>
        public Uri BaseUrl { get; private set; }
        public XapiProtocol Protocol { get; private set; }
        /// <summary>When true (no -Protocol given), a server without JSON-RPC is spoken to in XML-RPC from then on.</summary>
        public bool AutoFallback { get; set; }
        /// <summary>The address the first login was redirected from (a pool member), or null.</summary>
        public string? RedirectedFrom { get; private set; }
        public bool LoggedIn => _session != null;
        /// <summary>How often a task is polled at first (doubles up to 1 s).</summary>
        public TimeSpan TaskPollInterval { get; set; } = TimeSpan.FromMilliseconds(50);

        private Uri Endpoint => new Uri(BaseUrl, Protocol == XapiProtocol.JsonRpc ? "/jsonrpc" : "/");

        /// <summary>One RPC without the session argument handling: returns the value or throws XapiFailure / GridException (transport).</summary>
        internal async Task<object?> RawCallAsync(string method, IReadOnlyList<object?> args, CancellationToken ct)
        {
            byte[] body = Protocol == XapiProtocol.JsonRpc
                ? JsonRpcCodec.EncodeRequest(method, args, Interlocked.Increment(ref _id))
                : XmlRpcCodec.EncodeRequest(method, args);
            using var req = new HttpRequestMessage(HttpMethod.Post, Endpoint) { Content = new ByteArrayContent(body) };
            req.Content.Headers.ContentType = new MediaTypeHeaderValue(Protocol == XapiProtocol.JsonRpc ? "application/json" : "text/xml");
            HttpResponseMessage resp;
            try
            {
                resp = await _http.SendAsync(req, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException oce) when (ct.IsCancellationRequested)
            {
                throw new GridException(GridErrorKind.Cancelled, $"XAPI call {method} to {BaseUrl.Authority} was cancelled.", "OperationCancelled", oce);
            }
            catch (OperationCanceledException oce)
            {
                throw GridException.Unavailable($"XAPI call {method} to {BaseUrl.Authority} timed out after {_http.Timeout.TotalSeconds:0} s.", oce, "XenTimeout");
            }
            catch (HttpRequestException hre)
            {
                if (_tls.LastUntrusted != null && IsTlsFailure(hre)) throw _tls.CertificateError(BaseUrl.Authority, hre);
                throw GridException.Unavailable($"Cannot reach XAPI at {BaseUrl.Authority}: {Innermost(hre).Message}", hre, "XenUnreachable");
            }
            using (resp)
            {
                string text = await resp.Content.ReadAsStringAsync().ConfigureAwait(false);
                // Pools older than XenServer 7.3 have no /jsonrpc: a 404, or an XML answer (they take any POST as XML-RPC).
                string media = resp.Content.Headers.ContentType?.MediaType ?? "";
                if (Protocol == XapiProtocol.JsonRpc && ((int)resp.StatusCode == 404 || (resp.IsSuccessStatusCode && media.IndexOf("json", StringComparison.OrdinalIgnoreCase) < 0)))
                {
                    if (AutoFallback)
                    {
                        AutoFallback = false;
                        Protocol = XapiProtocol.XmlRpc;
                        _verbose($"{BaseUrl.Authority} does not speak JSON-RPC (/jsonrpc answered {(int)resp.StatusCode} {media}): using XML-RPC.");
                        return await RawCallAsync(method, args, ct).ConfigureAwait(false);
                    }
                    throw new GridException(GridErrorKind.Unsupported, $"{BaseUrl.Authority} has no JSON-RPC endpoint (/jsonrpc answered {(int)resp.StatusCode} {media}): a pool older than XenServer 7.3 speaks only XML-RPC. Connect with -Protocol XmlRpc, or without -Protocol to choose automatically.", "XenJsonRpcNotSupported") { NativeCode = ((int)resp.StatusCode).ToString() };
                }
                if ((int)resp.StatusCode >= 500 || (int)resp.StatusCode == 429)
                    throw GridException.Unavailable($"XAPI at {BaseUrl.Authority} answered HTTP {(int)resp.StatusCode} to {method}.", null, "XenHttpError");
                if (!resp.IsSuccessStatusCode)
                    throw new GridException(GridErrorKind.InvalidRequest, $"XAPI at {BaseUrl.Authority} answered HTTP {(int)resp.StatusCode} to {method}.", "XenHttpError") { NativeCode = ((int)resp.StatusCode).ToString() };
                XapiReply reply;
                try
                {
                    reply = Protocol == XapiProtocol.JsonRpc ? JsonRpcCodec.DecodeResponse(text) : XmlRpcCodec.DecodeResponse(text);
                }
                catch (Exception ex) when (ex is FormatException || ex is System.Text.Json.JsonException || ex is System.Xml.XmlException || ex is InvalidOperationException)
                {
                    throw new GridException(GridErrorKind.Unavailable, $"XAPI at {BaseUrl.Authority} sent a reply to {method} that is not valid {(Protocol == XapiProtocol.JsonRpc ? "JSON-RPC" : "XML-RPC")}: {ex.Message}", "XenMalformedReply", ex);
                }
                if (reply.ErrorDescription != null) throw new XapiFailure(method, reply.ErrorDescription);
                return reply.Value;
            }
        }

        private static Exception Innermost(Exception e) { while (e.InnerException != null) e = e.InnerException; return e; }
        private static bool IsTlsFailure(Exception e)
        {
            for (var x = e; x != null; x = x.InnerException) if (x is AuthenticationException) return true;
            return false;
        }

        /// <summary>Logs in; follows HOST_IS_SLAVE (at most twice) to the master the member names.</summary>
        public async Task LoginAsync(NetworkCredential credential, CancellationToken ct)
        {
            _credential = credential;
            await LoginCoreAsync(ct).ConfigureAwait(false);
        }

        private async Task LoginCoreAsync(CancellationToken ct)
        {
            for (int hop = 0; ; hop++)
            {
                try
                {
                    var v = await RawCallAsync("session.login_with_password",
                        new object?[] { _credential!.UserName, _credential.Password, "1.0", "GridAutomation" }, ct).ConfigureAwait(false);
                    _session = XapiValue.AsString(v) ?? throw GridException.Unavailable("session.login_with_password returned no session.", null, "XenMalformedReply");
                    return;
                }
                catch (XapiFailure f) when (f.Code == "HOST_IS_SLAVE" && f.Params.Count > 0 && hop < 2)
                {
                    var master = MasterUrl(BaseUrl, f.Params[0]);
                    _verbose($"{BaseUrl.Authority} is a pool member (HOST_IS_SLAVE): logging in to the pool master {master.Authority}.");
                    RedirectedFrom ??= BaseUrl.Authority;
                    BaseUrl = master;
                }
                catch (XapiFailure f)
                {
                    throw XapiErrors.ToException(f, $"Logging in to {BaseUrl.Authority}", BaseUrl.Authority);
                }
            }
        }

        /// <summary>
        /// The master's URL from HOST_IS_SLAVE's parameter. XAPI sends the master's address only: the scheme and port
        /// of the member are kept. An "address:port" form is also accepted (non-default ports, the loopback tests).
        /// </summary>
        internal static Uri MasterUrl(Uri current, string address)
        {
            string a = address.Trim();
            var b = new UriBuilder(current);
            int colon = a.LastIndexOf(':');
            if (colon > 0 && a.IndexOf(':') == colon && int.TryParse(a.Substring(colon + 1), out int port))
            {
                b.Host = a.Substring(0, colon); b.Port = port;
            }
            else if (a.StartsWith("[", StringComparison.Ordinal))
            {
                int end = a.IndexOf(']');
                b.Host = a.Substring(1, end - 1);
                if (end + 2 < a.Length && a[end + 1] == ':' && int.TryParse(a.Substring(end + 2), out int p6)) b.Port = p6;
            }
            else b.Host = a.Contains(":") ? "[" + a + "]" : a;
            return b.Uri;
        }

        /// <summary>Calls a method with the session as first argument; one new login when the session has become invalid.</summary>
        public async Task<object?> CallAsync(string method, CancellationToken ct, params object?[] args)
        {
            if (_session == null) throw new GridException(GridErrorKind.Unauthorized, "Not logged in to XAPI.", "XenNotLoggedIn");
            for (int attempt = 0; ; attempt++)
            {
                string session = _session!;
                var all = new object?[args.Length + 1];
                all[0] = session;
                Array.Copy(args, 0, all, 1, args.Length);
                try
                {
                    return await RawCallAsync(method, all, ct).ConfigureAwait(false);
                }
                catch (XapiFailure f) when (f.Code == "SESSION_INVALID" && attempt == 0 && _credential != null)
                {
                    await RenewSessionAsync(session, ct).ConfigureAwait(false);
                }
            }
        }

        public async Task<Dictionary<string, Dictionary<string, object?>>> GetAllRecordsAsync(string cls, CancellationToken ct)
        {
            var v = await CallAsync(cls + ".get_all_records", ct).ConfigureAwait(false);
            var result = new Dictionary<string, Dictionary<string, object?>>(StringComparer.Ordinal);
            if (v is Dictionary<string, object?> map)
                foreach (var kv in map) if (kv.Value is Dictionary<string, object?> rec) result[kv.Key] = rec;
            return result;
        }

        public async Task<Dictionary<string, object?>> GetRecordAsync(string cls, string reference, CancellationToken ct)
            => await CallAsync(cls + ".get_record", ct, reference).ConfigureAwait(false) as Dictionary<string, object?> ?? new Dictionary<string, object?>();

        /// <summary>
        /// Runs Async.&lt;method&gt; and follows its task to the end: progress reported as 0..100, the result (a ref, or null)
        /// returned, a failed task thrown as XapiFailure with the task's error_info, the task destroyed afterwards.
        /// Cancelling asks XAPI to cancel the task.
        /// </summary>
        public async Task<string?> RunTaskAsync(string method, Action<int>? progress, CancellationToken ct, params object?[] args)
        {
            string task = XapiValue.AsString(await CallAsync("Async." + method, ct, args).ConfigureAwait(false)) ?? "";
            try
            {
                var delay = TaskPollInterval;
                int last = -1;
                while (true)
                {
                    Dictionary<string, object?> rec;
                    try
                    {
                        rec = await GetRecordAsync("task", task, ct).ConfigureAwait(false);
                    }
                    catch (GridException ge) when (ge.Kind == GridErrorKind.Cancelled)
                    {
                        await CancelQuietlyAsync(task).ConfigureAwait(false);
                        throw;
                    }
                    string status = XapiValue.Str(rec, "status") ?? "pending";
                    double p = XapiValue.AsDouble(rec.TryGetValue("progress", out var pv) ? pv : null) ?? 0;
                    int percent = (int)Math.Round(Math.Max(0, Math.Min(1, p)) * 100);
                    if (percent != last) { progress?.Invoke(percent); last = percent; }
                    switch (status)
                    {
                        case "success":
                            return XmlRpcCodec.ParseTaskResult(XapiValue.Str(rec, "result"));
                        case "failure":
                        case "cancelled":
                            var info = XapiValue.Strings(rec, "error_info").ToList();
                            if (info.Count == 0) info.Add(status == "cancelled" ? "TASK_CANCELLED" : "INTERNAL_ERROR");
                            throw new XapiFailure(method, info);
                    }
                    try { await Task.Delay(delay, ct).ConfigureAwait(false); }
                    catch (OperationCanceledException oce)
                    {
                        await CancelQuietlyAsync(task).ConfigureAwait(false);
                        throw new GridException(GridErrorKind.Cancelled, $"{method}: cancelled while waiting for XAPI task {task} (cancellation was asked of XAPI; the task may still finish).", "OperationCancelled", oce);
                    }
                    delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
                }
            }
            finally
            {
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    await CallAsync("task.destroy", cts.Token, task).ConfigureAwait(false);
                }
                catch (Exception e) when (e is XapiFailure || e is GridException) { /* the task is gone or the server is: nothing to clean */ }
            }
        }

        private async Task CancelQuietlyAsync(string task)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await CallAsync("task.cancel", cts.Token, task).ConfigureAwait(false);
            }
            catch (Exception e) when (e is XapiFailure || e is GridException) { }
        }

        public async Task LogoutAsync(CancellationToken ct)
        {
            if (_session == null) return;
            try { await RawCallAsync("session.logout", new object?[] { _session }, ct).ConfigureAwait(false); }
            catch (Exception e) when (e is XapiFailure || e is GridException) { }
            _session = null;
        }

        public void Dispose() { _http.Dispose(); _loginLock.Dispose(); }
    }
}
