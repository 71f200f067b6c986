using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Security.Authentication;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using System.Xml;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.VSphere.Vim25
{
    /// <summary>The parts of ServiceContent the provider uses.</summary>
    internal sealed class ServiceContent
    {
        public MoRef RootFolder, PropertyCollector, ViewManager, SessionManager, SearchIndex, OvfManager;
        public string ApiVersion = "6.5", ApiType = "", FullName = "", InstanceUuid = "";
        public bool IsVCenter => string.Equals(ApiType, "VirtualCenter", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// A small typed vim25 SOAP client: HttpClient + XmlWriter for requests, XmlReader for responses. Keeps the
    /// session cookie, logs in again once when the server says NotAuthenticated (session expired), maps every
    /// fault and transport error to a GridException, and counts its HTTP round trips.
    /// </summary>
    internal sealed class VimClient : IDisposable
    {
        public const string SoapNs = "http://schemas.xmlsoap.org/soap/envelope/";
        public const string XsiNs = "http://www.w3.org/2001/XMLSchema-instance";
        public const string XsdNs = "http://www.w3.org/2001/XMLSchema";
        public const string VimNs = "urn:vim25";

        private readonly HttpClient _http;
        private readonly HttpClient _transfer;
        private readonly TlsSettings _tls;
        private readonly SemaphoreSlim _loginGate = new SemaphoreSlim(1, 1);
        private NetworkCredential? _credential;
        private long _roundTrips;
        private int _sessionGeneration;
        private string _soapAction = "urn:vim25/6.5";

        public VimClient(Uri sdkUrl, TlsSettings tls, TimeSpan? timeout = null)
        {
            SdkUrl = sdkUrl;
            _tls = tls;
            var handler = tls.CreateHandler(useCookies: true);
            _http = new HttpClient(handler, disposeHandler: true) { Timeout = timeout ?? TimeSpan.FromMinutes(5) };
            // Disk uploads/downloads (datastore /folder, NFC): the same handler (TLS settings, session cookie), no overall timeout.
            _transfer = new HttpClient(handler, disposeHandler: false) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        }

        /// <summary>The HTTP client for disk transfers: the session's cookie and TLS settings, no overall timeout (callers bound it by their token).</summary>
        internal HttpClient Transfer => _transfer;

        public Uri SdkUrl { get; }
        public ServiceContent Content { get; private set; } = new ServiceContent();
        /// <summary>HTTP requests made so far (SOAP calls including logins).</summary>
        public long RoundTrips => Interlocked.Read(ref _roundTrips);
        /// <summary>Bumped on every (re-)login: session-scoped objects (views, tokens) of older generations are gone.</summary>
        public int SessionGeneration => Volatile.Read(ref _sessionGeneration);
        public Action<string> Verbose { get; set; } = _ => { };
        public TlsSettings Tls => _tls;

        // ---- session -------------------------------------------------------------------------------------------

        public async Task ConnectAsync(NetworkCredential credential, CancellationToken ct)
        {
            _credential = credential;
            var resp = await InvokeOnceAsync("RetrieveServiceContent", new MoRef("ServiceInstance", "ServiceInstance"), null, ct).ConfigureAwait(false);
            var rv = resp?.Child("returnval") ?? throw Malformed("RetrieveServiceContent returned no ServiceContent.", null);
            var sc = new ServiceContent
            {
                RootFolder = rv.ChildMoRef("rootFolder") ?? default,
                PropertyCollector = rv.ChildMoRef("propertyCollector") ?? default,
                ViewManager = rv.ChildMoRef("viewManager") ?? default,
                SessionManager = rv.ChildMoRef("sessionManager") ?? default,
                SearchIndex = rv.ChildMoRef("searchIndex") ?? default,
                OvfManager = rv.ChildMoRef("ovfManager") ?? default,
            };
            var about = rv.Child("about");
            if (about != null)
            {
                sc.ApiVersion = about.ChildText("apiVersion") ?? sc.ApiVersion;
                sc.ApiType = about.ChildText("apiType") ?? "";
                sc.FullName = about.ChildText("fullName") ?? "";
                sc.InstanceUuid = about.ChildText("instanceUuid") ?? "";
            }
            if (sc.PropertyCollector.IsEmpty || sc.SessionManager.IsEmpty || sc.RootFolder.IsEmpty)
                throw Malformed("the ServiceContent lacks rootFolder, propertyCollector or sessionManager: is this a vCenter or ESXi /sdk endpoint?", null);
            Content = sc;
            _soapAction = "urn:vim25/" + sc.ApiVersion;
            await LoginAsync(ct).ConfigureAwait(false);
        }

        private async Task LoginAsync(CancellationToken ct)
        {
            var cred = _credential ?? throw new GridException(GridErrorKind.Unauthorized, $"The session with {SdkUrl.Host} was logged out (Disconnect-GridDatacenter): connect again.", "NotAuthenticated") { NativeCode = "NotAuthenticated" };
            await InvokeOnceAsync("Login", Content.SessionManager, w =>
            {
                w.WriteElementString("userName", cred.UserName);
                w.WriteElementString("password", cred.Password);
            }, ct).ConfigureAwait(false);
            Interlocked.Increment(ref _sessionGeneration);
        }

        public async Task LogoutAsync(CancellationToken ct)
        {
            _credential = null; // logged out on purpose: never log in again behind the user's back
            if (Content.SessionManager.IsEmpty) return;
            try { await InvokeOnceAsync("Logout", Content.SessionManager, null, ct).ConfigureAwait(false); }
            catch (GridException ex) { Verbose("vSphere logout: " + ex.Message); }
        }

        // ---- invocation ----------------------------------------------------------------------------------------

        /// <summary>Calls a method; logs in again once if the session expired. Returns the response element (its returnval children).</summary>
        public async Task<VimNode?> InvokeAsync(string method, MoRef @this, Action<XmlWriter>? args, CancellationToken ct)
        {
            int gen = SessionGeneration;
            try { return await InvokeOnceAsync(method, @this, args, ct).ConfigureAwait(false); }
            catch (GridException ex) when (ex.NativeCode == "NotAuthenticated" && _credential != null)
            {
                await ReloginAsync(gen, ct).ConfigureAwait(false);
                return await InvokeOnceAsync(method, @this, args, ct).ConfigureAwait(false);
            }
        }

        /// <summary>Logs in again unless another caller already did since <paramref name="seenGeneration"/>.</summary>
        public async Task ReloginAsync(int seenGeneration, CancellationToken ct)
        {
            await _loginGate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (SessionGeneration != seenGeneration) return;
                if (_credential == null)
                    throw new GridException(GridErrorKind.Unauthorized, $"The session with {SdkUrl.Host} was logged out (Disconnect-GridDatacenter): connect again.", "NotAuthenticated") { NativeCode = "LoggedOut" };
                Verbose("vSphere session expired (NotAuthenticated): logging in again.");
                await LoginAsync(ct).ConfigureAwait(false);
            }
            finally { _loginGate.Release(); }
        }

        public async Task<VimNode?> InvokeOnceAsync(string method, MoRef @this, Action<XmlWriter>? args, CancellationToken ct)
        {
            using var body = await PostAsync(method, @this, args, ct).ConfigureAwait(false);
            return ParseResponse(body, method);
        }

        /// <summary>Posts the SOAP request; returns the whole response body buffered in memory (faults already thrown).</summary>
        public async Task<MemoryStream> PostAsync(string method, MoRef @this, Action<XmlWriter>? args, CancellationToken ct)
        {
            byte[] payload = BuildEnvelope(method, @this, args);
            using var req = new HttpRequestMessage(HttpMethod.Post, SdkUrl) { Content = new ByteArrayContent(payload) };
            req.Content.Headers.TryAddWithoutValidation("Content-Type", "text/xml; charset=utf-8");
            req.Headers.TryAddWithoutValidation("SOAPAction", _soapAction);
            Interlocked.Increment(ref _roundTrips);
            HttpResponseMessage resp;
            try
            {
                resp = await _http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException oce) when (ct.IsCancellationRequested)
            {
                throw new GridException(GridErrorKind.Cancelled, $"vSphere call {method} was cancelled.", "OperationCancelled", oce);
            }
            catch (OperationCanceledException oce)
            {
                throw new GridException(GridErrorKind.Unavailable, $"vSphere call {method} to {SdkUrl.Host} timed out after {_http.Timeout.TotalSeconds:0} s.", "ServerTimeout", oce) { NativeCode = "Timeout" };
            }
            catch (HttpRequestException hre)
            {
                throw TransportError(method, hre);
            }
            using (resp)
            {
                var ms = new MemoryStream();
                try
                {
#if NET8_0_OR_GREATER
                    await resp.Content.CopyToAsync(ms, ct).ConfigureAwait(false);
#else
                    await resp.Content.CopyToAsync(ms).ConfigureAwait(false);
#endif
                }
                catch (OperationCanceledException oce) when (ct.IsCancellationRequested)
                {
                    throw new GridException(GridErrorKind.Cancelled, $"vSphere call {method} was cancelled.", "OperationCancelled", oce);
                }
                catch (Exception ex) when (ex is HttpRequestException || ex is IOException)
                {
                    throw new GridException(GridErrorKind.Unavailable, $"vSphere call {method}: the connection to {SdkUrl.Host} broke while reading the answer: {ex.Message}", "ServerUnreachable", ex);
                }
                ms.Position = 0;
                int status = (int)resp.StatusCode;
                if (status == 200) return ms;
                if (status == 500 && LooksLikeXml(ms))
                {
                    ms.Position = 0;
                    ParseResponse(ms, method); // throws the fault
                }
                ms.Dispose();
                throw HttpError(method, resp);
            }
        }

        private static bool LooksLikeXml(MemoryStream ms)
        {
            int b;
            while ((b = ms.ReadByte()) >= 0) { if (b == '<') return true; if (!char.IsWhiteSpace((char)b) && b != 0xEF && b != 0xBB && b != 0xBF) return false; }
            return false;
        }

        /// <summary>True for an answer that says the server did not act on the request (HTTP 429, or 503 from vCenter's proxy).</summary>
        internal static bool RefusedBeforeActing(GridException ex) => ex.NativeCode == "HTTP429" || ex.NativeCode == "HTTP503";

        private GridException HttpError(string method, HttpResponseMessage resp)
        {
            int status = (int)resp.StatusCode;
            string what = $"vSphere call {method} to {SdkUrl.Host}: HTTP {status} {resp.ReasonPhrase}";
            TimeSpan? after = resp.Headers.RetryAfter?.Delta;
            if (after == null && resp.Headers.RetryAfter?.Date is DateTimeOffset d) after = d - DateTimeOffset.UtcNow;
            if (status == 429)
                return new GridException(GridErrorKind.Throttled, what + " (throttled).", "Throttled") { RetryAfter = after, NativeCode = "HTTP429" };
            if (status == 503)
                return new GridException(GridErrorKind.Unavailable, what, "ServerError") { RetryAfter = after, NativeCode = "HTTP503" };
            if (status == 401) return new GridException(GridErrorKind.Unauthorized, what, "NotAuthenticated") { NativeCode = "HTTP401" };
            if (status == 403) return new GridException(GridErrorKind.PermissionDenied, what, "NoPermission") { NativeCode = "HTTP403" };
            if (status == 404) return new GridException(GridErrorKind.InvalidRequest, what + $". Is {SdkUrl} a vCenter/ESXi SDK endpoint?", "EndpointNotFound") { NativeCode = "HTTP404" };
            if (status >= 500 || status == 408) return new GridException(GridErrorKind.Unavailable, what, "ServerError") { NativeCode = "HTTP" + status };
            return new GridException(GridErrorKind.InvalidRequest, what, "UnexpectedHttpStatus") { NativeCode = "HTTP" + status };
        }

        internal GridException TransportError(string method, HttpRequestException hre)
        {
            if (_tls.LastUntrusted != null && IsTlsFailure(hre)) return _tls.CertificateError(SdkUrl.Host + ":" + SdkUrl.Port, hre);
            string detail = hre.InnerException?.Message ?? hre.Message;
            return new GridException(GridErrorKind.Unavailable, $"vSphere server {SdkUrl.Host}:{SdkUrl.Port} is unreachable ({method}): {detail}", "ServerUnreachable", hre)
            { NativeCode = hre.InnerException?.GetType().Name ?? "HttpRequestException" };
        }

        private static bool IsTlsFailure(Exception ex)
        {
            for (var e = ex; e != null; e = e.InnerException) if (e is AuthenticationException) return true;
            return false;
        }

        // ---- XML ----------------------------------------------------------------------------------------------

        private static readonly XmlWriterSettings WriterSettings = new XmlWriterSettings { Encoding = new UTF8Encoding(false), Indent = false, OmitXmlDeclaration = false };
        internal static readonly XmlReaderSettings ReaderSettings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit, IgnoreComments = true, IgnoreProcessingInstructions = true, XmlResolver = null, CloseInput = false,
        };

        internal static byte[] BuildEnvelope(string method, MoRef @this, Action<XmlWriter>? args)
        {
            using var ms = new MemoryStream();
            using (var w = XmlWriter.Create(ms, WriterSettings))
            {
                w.WriteStartElement("soapenv", "Envelope", SoapNs);
                w.WriteAttributeString("xmlns", "xsd", null, XsdNs);
                w.WriteAttributeString("xmlns", "xsi", null, XsiNs);
                w.WriteStartElement("Body", SoapNs);
                w.WriteStartElement(method, VimNs);
                WriteMoRef(w, "_this", @this);
                args?.Invoke(w);
                w.WriteEndElement();
                w.WriteEndElement();
                w.WriteEndElement();
            }
            return ms.ToArray();
        }

        public static void WriteMoRef(XmlWriter w, string name, MoRef r)
        {
            w.WriteStartElement(name);
            w.WriteAttributeString("type", r.Type);
            w.WriteString(r.Value);
            w.WriteEndElement();
        }

        /// <summary>Writes &lt;name xsi:type="type"&gt; and leaves the element open.</summary>
        public static void StartTyped(XmlWriter w, string name, string xsiType)
        {
            w.WriteStartElement(name);
            w.WriteAttributeString("xsi", "type", XsiNs, xsiType);
        }

        internal static GridException Malformed(string what, Exception? inner)
            => new GridException(GridErrorKind.Unavailable, "The vSphere server sent a malformed or unexpected answer: " + what, "MalformedResponse", inner)
            { NativeCode = inner?.GetType().Name ?? "UnexpectedXml", IsTransient = false };

        /// <summary>Positions a reader on the first element inside soapenv:Body; throws the fault if it is one.</summary>
        internal static XmlReader OpenBody(Stream body, string method)
        {
            var r = XmlReader.Create(body, ReaderSettings);
            try
            {
                bool inBody = false;
                while (r.Read())
                {
                    if (r.NodeType != XmlNodeType.Element) continue;
                    if (!inBody)
                    {
                        if (r.LocalName == "Body" && r.NamespaceURI == SoapNs) { inBody = true; if (r.IsEmptyElement) break; }
                        continue;
                    }
                    if (r.LocalName == "Fault" && r.NamespaceURI == SoapNs) throw ReadFault(VimNode.Read(r), method);
                    return r;
                }
                throw Malformed($"{method}: no SOAP body in the answer.", null);
            }
            catch (XmlException xe) { r.Dispose(); throw Malformed($"{method}: {xe.Message}", xe); }
            catch { r.Dispose(); throw; }
        }

        internal static VimNode? ParseResponse(Stream body, string method)
        {
            using var r = OpenBody(body, method);
            try { return VimNode.Read(r); }
            catch (XmlException xe) { throw Malformed($"{method}: {xe.Message}", xe); }
        }

        internal static GridException ReadFault(VimNode fault, string method)
        {
            string message = fault.ChildText("faultstring") ?? "";
            var detail = fault.Child("detail");
            string type = "SoapFault";
            VimNode? d = null;
            if (detail != null && detail.Children.Count > 0)
            {
                d = detail.Children[0];
                type = d.XsiType ?? (d.Name.EndsWith("Fault", StringComparison.Ordinal) ? d.Name.Substring(0, d.Name.Length - 5) : d.Name);
            }
            else if ((fault.ChildText("faultcode") ?? "").EndsWith("Client", StringComparison.Ordinal)) type = "InvalidRequest";
            if (string.IsNullOrEmpty(message) && type == "InvalidLogin") message = "Cannot complete login due to an incorrect user name or password.";
            var ex = VimFaults.ToException(type, message, method);
            if (d != null && type == "ManagedObjectNotFound") ex.Target = d.ChildText("obj");
            return ex;
        }

        public void Dispose()
        {
            _transfer.Dispose();
            _http.Dispose();
            _loginGate.Dispose();
        }
    }
}
