using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Net;
using System.Net.Http;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>
    /// Watches every HttpClient request of this test process (System.Net.Http's diagnostic events, which the SDK's
    /// HttpClient raises too) and records any whose host is not loopback — the instance metadata address
    /// 169.254.169.254 included. Every loopback server checks it when it is disposed, so a test whose code reached
    /// out fails. <see cref="Seen"/> lets a test prove the guard does observe the SDK's traffic.
    /// </summary>
    internal sealed class NetworkGuard : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
    {
        private static readonly NetworkGuard Instance = new NetworkGuard();
        private static readonly object Gate = new object();
        private static IDisposable? _subscription;
        public static ConcurrentQueue<Uri> Seen { get; } = new ConcurrentQueue<Uri>();
        public static ConcurrentQueue<Uri> Violations { get; } = new ConcurrentQueue<Uri>();

        public static void Install()
        {
            lock (Gate) _subscription ??= DiagnosticListener.AllListeners.Subscribe(Instance);
        }

        public static void AssertNoneLeftLoopback()
        {
            if (!Violations.IsEmpty)
                throw new InvalidOperationException("A request left loopback: " + string.Join(", ", Violations.Select(u => u.GetLeftPart(UriPartial.Authority))));
        }

        public static bool IsLoopback(Uri u)
            => u.IsLoopback || (IPAddress.TryParse(u.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

        public void OnNext(DiagnosticListener listener)
        {
            if (listener.Name == "HttpHandlerDiagnosticListener") listener.Subscribe(this);
        }

        public void OnNext(KeyValuePair<string, object?> evt)
        {
            if (evt.Value == null) return;
            if (evt.Key != "System.Net.Http.HttpRequestOut.Start" && evt.Key != "System.Net.Http.Request") return;
            var request = evt.Value.GetType().GetProperty("Request")?.GetValue(evt.Value) as HttpRequestMessage;
            var uri = request?.RequestUri;
            if (uri == null) return;
            Seen.Enqueue(uri);
            if (!IsLoopback(uri)) Violations.Enqueue(uri);
        }

        public void OnError(Exception error) { }
        public void OnCompleted() { }
    }
}
