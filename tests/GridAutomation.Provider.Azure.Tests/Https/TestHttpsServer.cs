using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>One request as the server saw it.</summary>
    public sealed record SeenRequest(string Method, string Path, string Query, DateTime At, string? Authorization, IReadOnlyDictionary<string, string> Headers, string Body);

    /// <summary>A Kestrel HTTPS server on 127.0.0.1 (random port) with the test's server certificate.</summary>
    public sealed class TestHttpsServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        public ConcurrentQueue<SeenRequest> Requests { get; } = new ConcurrentQueue<SeenRequest>();
        public string BaseUrl { get; }
        public Func<HttpContext, SeenRequest, Task> Handler { get; set; } = (c, r) => { c.Response.StatusCode = 404; return Task.CompletedTask; };

        private TestHttpsServer(WebApplication app, string baseUrl) { _app = app; BaseUrl = baseUrl; }

        public static async Task<TestHttpsServer> StartAsync()
        {
            var cert = ChildEnvironment.ServerCertificate();
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(cert)));
            var app = builder.Build();
            TestHttpsServer? self = null;
            app.Run(async ctx =>
            {
                string body = "";
                if (ctx.Request.ContentLength > 0 || ctx.Request.Headers.ContainsKey("Transfer-Encoding"))
                {
                    using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
                    body = await reader.ReadToEndAsync();
                }
                var headers = ctx.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
                var seen = new SeenRequest(ctx.Request.Method, ctx.Request.Path.Value ?? "", ctx.Request.QueryString.Value ?? "", DateTime.UtcNow,
                    headers.TryGetValue("Authorization", out var a) ? a : null, headers, body);
                self!.Requests.Enqueue(seen);
                try { await self.Handler(ctx, seen); }
                catch (Exception ex)
                {
                    ctx.Response.StatusCode = 500;
                    await ctx.Response.WriteAsync("{\"error\":{\"code\":\"TestServerBug\",\"message\":" + System.Text.Json.JsonSerializer.Serialize(ex.ToString()) + "}}");
                }
            });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var port = new Uri(address).Port;
            self = new TestHttpsServer(app, "https://127.0.0.1:" + port);
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    /// <summary>What the parent process hands the child.</summary>
    public static class ChildEnvironment
    {
        public const string ChildVar = "GRIDAZ_CHILD";
        public const string PfxVar = "GRIDAZ_SERVER_PFX";
        public static bool IsChild => Environment.GetEnvironmentVariable(ChildVar) == "1";

        public static X509Certificate2 ServerCertificate()
        {
            string? path = Environment.GetEnvironmentVariable(PfxVar);
            if (string.IsNullOrEmpty(path) || !File.Exists(path))
                throw new InvalidOperationException("GRIDAZ_SERVER_PFX is not set: these tests run only as the child of GridAutomation.Provider.Azure.Tests.");
#if NET9_0_OR_GREATER
            return X509CertificateLoader.LoadPkcs12FromFile(path, null);
#else
            return new X509Certificate2(path, (string?)null, X509KeyStorageFlags.Exportable);
#endif
        }

        /// <summary>../shared/fixtures beside the repository root (GRIDAUTOMATION_FIXTURES overrides); throws when absent.</summary>
        public static string FixturesDir
            => TryFindFixtures(out var where) ?? throw new InvalidOperationException("shared/fixtures not found beside the repository (" + where + ").");

        /// <summary>The fixtures folder, or null with <paramref name="searched"/> saying where it was looked for.</summary>
        public static string? TryFindFixtures(out string searched)
        {
            string? env = Environment.GetEnvironmentVariable("GRIDAUTOMATION_FIXTURES");
            if (!string.IsNullOrEmpty(env)) { searched = env!; return Directory.Exists(env) ? env : null; }
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !Directory.Exists(Path.Combine(dir.FullName, ".git")) && !File.Exists(Path.Combine(dir.FullName, ".git")))
                dir = dir.Parent;
            if (dir == null) { searched = "no repository root above " + AppContext.BaseDirectory; return null; }
            searched = Path.Combine(dir.Parent?.FullName ?? dir.FullName, "shared", "fixtures");
            // ../shared/fixtures beside the clone; a git worktree (e.g. /work/wt/x) looks further up for it.
            for (var d = dir.Parent; d != null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, "shared", "fixtures");
                if (Directory.Exists(candidate)) return candidate;
            }
            return null;
        }
    }

    /// <summary>A fact that runs only inside the HTTPS child process (the parent project starts it).</summary>
    public sealed class ChildFactAttribute : Xunit.FactAttribute
    {
        public ChildFactAttribute()
        {
            if (!ChildEnvironment.IsChild)
                Skip = "Runs only in the HTTPS child process started by GridAutomation.Provider.Azure.Tests (needs SSL_CERT_FILE at process start).";
        }
    }

    /// <summary>
    /// A child-process fact that replays the shared fixtures: without them it skips with the reason, unless
    /// GRIDAUTOMATION_REQUIRE_ALL=1 (CI), where it runs and fails on the missing folder.
    /// </summary>
    public sealed class ChildFixtureFactAttribute : Xunit.FactAttribute
    {
        public ChildFixtureFactAttribute()
        {
            if (!ChildEnvironment.IsChild)
                Skip = "Runs only in the HTTPS child process started by GridAutomation.Provider.Azure.Tests (needs SSL_CERT_FILE at process start).";
            else if (ChildEnvironment.TryFindFixtures(out var where) == null && Environment.GetEnvironmentVariable("GRIDAUTOMATION_REQUIRE_ALL") != "1")
                Skip = "shared/fixtures not found beside the repository (" + where + "); set GRIDAUTOMATION_REQUIRE_ALL=1 to make this a failure.";
        }
    }
}
