using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>One EC2 Query request as the SDK sent it over HTTP.</summary>
    public sealed class Ec2Request
    {
        public string Action => Get("Action") ?? "";
        public string? Version => Get("Version");
        public IReadOnlyDictionary<string, string> Form { get; set; } = new Dictionary<string, string>();
        public string? Authorization { get; set; }
        public string? Host { get; set; }
        public IReadOnlyDictionary<string, string> Headers { get; set; } = new Dictionary<string, string>();
        public string Method { get; set; } = "";
        public string Path { get; set; } = "";
        /// <summary>The request body as it arrived (for signature checks).</summary>
        public string Body { get; set; } = "";
        public string? Get(string key) => Form.TryGetValue(key, out var v) ? v : null;

        /// <summary>Values of a list member: prefix "InstanceId" gives InstanceId.1, InstanceId.2...</summary>
        public List<string> List(string prefix)
        {
            var result = new List<string>();
            for (int i = 1; ; i++) { var v = Get(prefix + "." + i); if (v == null) break; result.Add(v); }
            return result;
        }

        /// <summary>Filter.N.Name / Filter.N.Value.M pairs.</summary>
        public List<(string Name, List<string> Values)> Filters()
        {
            var result = new List<(string, List<string>)>();
            for (int i = 1; ; i++) { var n = Get($"Filter.{i}.Name"); if (n == null) break; result.Add((n, List($"Filter.{i}.Value"))); }
            return result;
        }
    }

    public sealed class Ec2Response
    {
        public int Status { get; set; } = 200;
        public string Body { get; set; } = "";
        public static Ec2Response Ok(string xml) => new Ec2Response { Body = xml };
        public static Ec2Response Error(int status, string code, string message)
            => new Ec2Response
            {
                Status = status,
                Body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>" + SecurityElementEscape(code) + "</Code><Message>" +
                       SecurityElementEscape(message) + "</Message></Error></Errors><RequestID>" + Guid.NewGuid() + "</RequestID></Response>",
            };
        internal static string SecurityElementEscape(string s) => System.Security.SecurityElement.Escape(s) ?? "";
    }

    /// <summary>
    /// A loopback HTTP server (HttpListener on 127.0.0.1, ours) that speaks the EC2 Query protocol to the real
    /// AWSSDK.EC2: form-encoded POSTs routed by the Action field, XML answers. It never listens beyond loopback.
    /// </summary>
    public sealed class LoopbackEc2Server : IDisposable
    {
        private readonly HttpListener _listener;
        private readonly Func<Ec2Request, Ec2Response> _handler;
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly Task _loop;
        public ConcurrentQueue<Ec2Request> Requests { get; } = new ConcurrentQueue<Ec2Request>();
        public int Port { get; }
        public string Url => "http://127.0.0.1:" + Port + "/";

        public LoopbackEc2Server(Func<Ec2Request, Ec2Response> handler)
        {
            _handler = handler;
            (_listener, Port) = BindLoopback();
            _loop = Task.Run(LoopAsync);
        }

        /// <summary>An HttpListener started on a free 127.0.0.1 port (also used by FakeEbsDirect).</summary>
        internal static (HttpListener Listener, int Port) BindLoopback()
        {
            for (int attempt = 0; attempt < 20; attempt++)
            {
                var probe = new TcpListener(IPAddress.Loopback, 0);
                probe.Start();
                int port = ((IPEndPoint)probe.LocalEndpoint).Port;
                probe.Stop();
                var l = new HttpListener();
                l.Prefixes.Add("http://127.0.0.1:" + port + "/");
                try { l.Start(); return (l, port); }
                catch (HttpListenerException) { l.Close(); }
            }
            throw new InvalidOperationException("No loopback port could be bound.");
        }

        public IEnumerable<Ec2Request> RequestsFor(string action) => Requests.Where(r => r.Action == action);

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
            try
            {
                // Loopback only: refuse anything that did not come from 127.0.0.0/8.
                if (!IPAddress.IsLoopback(ctx.Request.RemoteEndPoint.Address)) { ctx.Response.StatusCode = 403; ctx.Response.Close(); return; }
                string body;
                using (var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8)) body = reader.ReadToEnd();
                var form = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var pair in (body.Length > 0 ? body : ctx.Request.Url?.Query.TrimStart('?') ?? "").Split('&'))
                {
                    if (pair.Length == 0) continue;
                    int eq = pair.IndexOf('=');
                    string k = Uri.UnescapeDataString((eq < 0 ? pair : pair.Substring(0, eq)).Replace('+', ' '));
                    string v = eq < 0 ? "" : Uri.UnescapeDataString(pair.Substring(eq + 1).Replace('+', ' '));
                    form[k] = v;
                }
                var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                foreach (string? h in ctx.Request.Headers.AllKeys) if (h != null) headers[h] = ctx.Request.Headers[h] ?? "";
                var req = new Ec2Request { Form = form, Authorization = ctx.Request.Headers["Authorization"], Host = ctx.Request.Headers["Host"], Headers = headers,
                                       Method = ctx.Request.HttpMethod, Path = ctx.Request.Url?.AbsolutePath ?? "", Body = body };
                Requests.Enqueue(req);
                Ec2Response resp;
                try { resp = _handler(req); }
                catch (Exception ex) { resp = Ec2Response.Error(500, "InternalError", "test server: " + ex.Message); }
                var bytes = Encoding.UTF8.GetBytes(resp.Body);
                ctx.Response.StatusCode = resp.Status;
                ctx.Response.ContentType = "text/xml;charset=UTF-8";
                ctx.Response.ContentLength64 = bytes.Length;
                ctx.Response.OutputStream.Write(bytes, 0, bytes.Length);
                ctx.Response.Close();
            }
            catch
            {
                try { ctx.Response.Abort(); } catch { }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            try { _listener.Stop(); _listener.Close(); } catch { }
            try { _loop.Wait(2000); } catch { }
            NetworkGuard.AssertNoneLeftLoopback(); // fails the test that owned this server if anything reached out
        }
    }
}
