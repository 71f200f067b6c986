using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using System.Xml.Linq;

namespace GridAutomation.Provider.VSphere.Tests
{
    /// <summary>A tiny HTTP server of ours on 127.0.0.1 (random port) answering with a handler.</summary>
    public sealed class LoopbackHttp : IDisposable
    {
        private readonly HttpListener _listener = new HttpListener();
        private readonly Func<HttpListenerRequest, string, Task<(int Status, string Body, IDictionary<string, string>? Headers)>> _handler;
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();

        public LoopbackHttp(Func<HttpListenerRequest, string, Task<(int, string, IDictionary<string, string>?)>> handler)
        {
            _handler = handler;
            int port;
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; probe.Stop();
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            Url = new Uri($"http://127.0.0.1:{port}/sdk");
            _ = Task.Run(LoopAsync);
        }

        public Uri Url { get; }
        public List<string> Methods { get; } = new List<string>();

        public static string SoapMethod(string body)
        {
            try
            {
                var doc = XDocument.Parse(body);
                var b = doc.Root!.Elements().First(e => e.Name.LocalName == "Body");
                return b.Elements().First().Name.LocalName;
            }
            catch { return "?"; }
        }

        private async Task LoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                HttpListenerContext ctx;
                try { ctx = await _listener.GetContextAsync(); } catch { return; }
                _ = Task.Run(async () =>
                {
                    try
                    {
                        string body;
                        using (var r = new StreamReader(ctx.Request.InputStream, Encoding.UTF8)) body = await r.ReadToEndAsync();
                        lock (Methods) Methods.Add(SoapMethod(body));
                        var (status, text, headers) = await _handler(ctx.Request, body);
                        ctx.Response.StatusCode = status;
                        ctx.Response.ContentType = "text/xml; charset=utf-8";
                        if (headers != null) foreach (var kv in headers) ctx.Response.Headers[kv.Key] = kv.Value;
                        var bytes = Encoding.UTF8.GetBytes(text);
                        ctx.Response.ContentLength64 = bytes.Length;
                        await ctx.Response.OutputStream.WriteAsync(bytes);
                        ctx.Response.Close();
                    }
                    catch { try { ctx.Response.Abort(); } catch { } }
                });
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            try { _listener.Stop(); _listener.Close(); } catch { }
        }
    }

    /// <summary>
    /// A loopback proxy in front of the simulator that pages like a real vCenter: when a RetrievePropertiesEx
    /// answer holds more objects than the request's maxObjects, it returns the first maxObjects with a token and
    /// serves the rest on ContinueRetrievePropertiesEx (the simulator itself always answers in one page).
    /// </summary>
    public sealed class PagingProxy : IDisposable
    {
        private static readonly XNamespace Soap = "http://schemas.xmlsoap.org/soap/envelope/";
        private static readonly XNamespace Vim = "urn:vim25";
        private readonly HttpClient _upstream;
        private readonly Uri _target;
        private readonly LoopbackHttp _http;
        private readonly Dictionary<string, (Queue<List<XElement>> Pages, int Size)> _pending = new Dictionary<string, (Queue<List<XElement>>, int)>();
        private int _next;

        public PagingProxy(Uri target)
        {
            _target = target;
            _upstream = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false });
            _http = new LoopbackHttp(HandleAsync);
        }

        public Uri Url => _http.Url;
        public List<string> Methods => _http.Methods;
        public List<string> Cancelled { get; } = new List<string>();
        public int PagesServedFromTokens;
        /// <summary>Answers for the next ContinueRetrievePropertiesEx calls instead of a page (HTTP status, Retry-After); the token stays where it was.</summary>
        public Queue<(int Status, string? RetryAfter)> ContinueFaults { get; } = new Queue<(int, string?)>();

        private async Task<(int, string, IDictionary<string, string>?)> HandleAsync(HttpListenerRequest req, string body)
        {
            string method = LoopbackHttp.SoapMethod(body);
            if (method == "ContinueRetrievePropertiesEx" || method == "CancelRetrievePropertiesEx")
            {
                string token = XDocument.Parse(body).Descendants().First(e => e.Name.LocalName == "token").Value;
                lock (_pending)
                {
                    if (_pending.TryGetValue(token, out var p))
                    {
                        if (method == "CancelRetrievePropertiesEx")
                        {
                            _pending.Remove(token); Cancelled.Add(token);
                            return (200, Envelope(new XElement(Vim + "CancelRetrievePropertiesExResponse")), null);
                        }
                        if (method == "ContinueRetrievePropertiesEx" && ContinueFaults.Count > 0)
                        {
                            var (status, after) = ContinueFaults.Dequeue();
                            var h = after == null ? null : new Dictionary<string, string> { ["Retry-After"] = after };
                            return (status, "busy", h);
                        }
                        var page = p.Pages.Dequeue();
                        PagesServedFromTokens++;
                        string? next = null;
                        if (p.Pages.Count > 0) { next = "tok-" + (++_next); _pending[next] = p; }
                        _pending.Remove(token);
                        return (200, Envelope(Result("ContinueRetrievePropertiesExResponse", page, next)), null);
                    }
                }
            }
            using var up = new HttpRequestMessage(HttpMethod.Post, _target) { Content = new StringContent(body, Encoding.UTF8, "text/xml") };
            up.Headers.TryAddWithoutValidation("SOAPAction", req.Headers["SOAPAction"]);
            if (req.Headers["Cookie"] != null) up.Headers.TryAddWithoutValidation("Cookie", req.Headers["Cookie"]);
            using var resp = await _upstream.SendAsync(up);
            string text = await resp.Content.ReadAsStringAsync();
            var headers = new Dictionary<string, string>();
            if (resp.Headers.TryGetValues("Set-Cookie", out var cookies)) headers["Set-Cookie"] = string.Join(", ", cookies);
            if (method == "RetrievePropertiesEx" && resp.IsSuccessStatusCode)
            {
                var reqDoc = XDocument.Parse(body);
                var maxEl = reqDoc.Descendants().FirstOrDefault(e => e.Name.LocalName == "maxObjects");
                int max = maxEl != null ? int.Parse(maxEl.Value) : int.MaxValue;
                var doc = XDocument.Parse(text);
                var objects = doc.Descendants().Where(e => e.Name.LocalName == "objects").ToList();
                if (objects.Count > max)
                {
                    var pages = new Queue<List<XElement>>();
                    for (int i = 0; i < objects.Count; i += max) pages.Enqueue(objects.Skip(i).Take(max).ToList());
                    var first = pages.Dequeue();
                    string token;
                    lock (_pending) { token = "tok-" + (++_next); _pending[token] = (pages, max); }
                    text = Envelope(Result("RetrievePropertiesExResponse", first, token));
                }
            }
            return ((int)resp.StatusCode, text, headers);
        }

        private static XElement Result(string name, List<XElement> objects, string? token)
        {
            var rv = new XElement(Vim + "returnval");
            if (token != null) rv.Add(new XElement(Vim + "token", token));
            foreach (var o in objects) rv.Add(new XElement(o));
            return new XElement(Vim + name, rv);
        }

        private static string Envelope(XElement response)
            => new XDocument(new XElement(Soap + "Envelope",
                new XAttribute(XNamespace.Xmlns + "soapenv", Soap.NamespaceName),
                new XAttribute(XNamespace.Xmlns + "xsi", "http://www.w3.org/2001/XMLSchema-instance"),
                new XAttribute(XNamespace.Xmlns + "xsd", "http://www.w3.org/2001/XMLSchema"),
                new XElement(Soap + "Body", response))).ToString(SaveOptions.DisableFormatting);

        public void Dispose() { _http.Dispose(); _upstream.Dispose(); }
    }
}
