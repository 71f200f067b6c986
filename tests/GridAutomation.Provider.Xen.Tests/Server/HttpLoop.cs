using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Provider.Xen.Tests.Server
{
    /// <summary>A small HTTP/1.1 server on 127.0.0.1 (random port), plain or TLS, keep-alive, Content-Length bodies.</summary>
    public sealed class HttpLoop : IDisposable
    {
        public delegate Task<(int Status, string ContentType, byte[] Body)> Handler(string method, string path, IDictionary<string, string> headers, byte[] body);

        private readonly TcpListener _listener;
        private readonly Handler _handler;
        private readonly X509Certificate2? _cert;
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();

        public HttpLoop(Handler handler, X509Certificate2? certificate = null)
        {
            _handler = handler; _cert = certificate;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = Task.Run(AcceptLoopAsync);
        }

        public int Port { get; }
        public string Url => (_cert != null ? "https" : "http") + "://127.0.0.1:" + Port;

        private async Task AcceptLoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(); } catch { return; }
                _ = Task.Run(() => ServeAsync(client));
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using (client)
            {
                try
                {
                    Stream stream = client.GetStream();
                    if (_cert != null)
                    {
                        var ssl = new SslStream(stream, false);
                        await ssl.AuthenticateAsServerAsync(_cert, false, System.Security.Authentication.SslProtocols.None, false);
                        stream = ssl;
                    }
                    using (stream)
                    {
                        while (!_stop.IsCancellationRequested)
                        {
                            string? requestLine = await ReadLineAsync(stream);
                            if (string.IsNullOrEmpty(requestLine)) return;
                            var parts = requestLine.Split(' ');
                            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                            string? line;
                            while (!string.IsNullOrEmpty(line = await ReadLineAsync(stream)))
                            {
                                int colon = line.IndexOf(':');
                                if (colon > 0) headers[line.Substring(0, colon).Trim()] = line.Substring(colon + 1).Trim();
                            }
                            byte[] body = Array.Empty<byte>();
                            if (headers.TryGetValue("Content-Length", out var cl) && int.TryParse(cl, out int n) && n > 0)
                            {
                                body = new byte[n];
                                int read = 0;
                                while (read < n) { int r = await stream.ReadAsync(body, read, n - read); if (r <= 0) return; read += r; }
                            }
                            else if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
                            {
                                var ms = new MemoryStream();
                                while (true)
                                {
                                    string? size = await ReadLineAsync(stream);
                                    int len = Convert.ToInt32((size ?? "0").Split(';')[0].Trim(), 16);
                                    if (len == 0) { await ReadLineAsync(stream); break; }
                                    var chunk = new byte[len]; int got = 0;
                                    while (got < len) { int r = await stream.ReadAsync(chunk, got, len - got); if (r <= 0) return; got += r; }
                                    ms.Write(chunk, 0, len);
                                    await ReadLineAsync(stream);
                                }
                                body = ms.ToArray();
                            }
                            var (status, contentType, respBody) = await _handler(parts[0], parts.Length > 1 ? parts[1] : "/", headers, body);
                            var head = new StringBuilder();
                            head.Append("HTTP/1.1 ").Append(status).Append(' ').Append(status == 200 ? "OK" : status == 404 ? "Not Found" : "Error").Append("\r\n");
                            head.Append("Content-Type: ").Append(contentType).Append("\r\n");
                            head.Append("Content-Length: ").Append(respBody.Length).Append("\r\n");
                            head.Append("Connection: keep-alive\r\n\r\n");
                            var hb = Encoding.ASCII.GetBytes(head.ToString());
                            await stream.WriteAsync(hb, 0, hb.Length);
                            await stream.WriteAsync(respBody, 0, respBody.Length);
                            await stream.FlushAsync();
                            if (headers.TryGetValue("Connection", out var conn) && conn.Equals("close", StringComparison.OrdinalIgnoreCase)) return;
                        }
                    }
                }
                catch (Exception) { /* client went away, or refused our certificate */ }
            }
        }

        private static async Task<string?> ReadLineAsync(Stream s)
        {
            var sb = new StringBuilder();
            var one = new byte[1];
            while (true)
            {
                int r = await s.ReadAsync(one, 0, 1);
                if (r <= 0) return sb.Length == 0 ? null : sb.ToString();
                if (one[0] == '\n') return sb.ToString().TrimEnd('\r');
                sb.Append((char)one[0]);
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            try { _listener.Stop(); } catch { }
        }
    }
}
