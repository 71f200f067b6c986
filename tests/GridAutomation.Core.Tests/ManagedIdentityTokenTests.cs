using System;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using GridAutomation.State.PostgreSql;
using Xunit;

namespace GridAutomation.Core.Tests
{
    /// <summary>
    /// The shared store logged in to with an Azure managed-identity token (issue 12): a loopback managed-identity
    /// endpoint (the IDENTITY_ENDPOINT/IDENTITY_HEADER protocol of Azure Automation and App Service) hands out tokens,
    /// and the role's password in the test cluster is set to the token it handed out, as Azure Database for
    /// PostgreSQL checks the token.
    /// </summary>
    public class ManagedIdentityTokenTests
    {
        /// <summary>A loopback managed-identity endpoint: each request gets the current token, valid for <see cref="Lifetime"/>.</summary>
        private sealed class IdentityEndpoint : IDisposable
        {
            private readonly HttpListener _listener = new HttpListener();
            private readonly CancellationTokenSource _stop = new CancellationTokenSource();
            public ConcurrentQueue<string> Requests { get; } = new ConcurrentQueue<string>();
            public string Header { get; } = "hdr-" + Guid.NewGuid().ToString("N");
            public volatile string Token = "tok-1-" + Guid.NewGuid().ToString("N");
            public TimeSpan Lifetime = TimeSpan.FromHours(1);
            public volatile int Status = 200;
            public Uri Uri { get; }

            public IdentityEndpoint()
            {
                var l = new TcpListener(IPAddress.Loopback, 0); l.Start(); int port = ((IPEndPoint)l.LocalEndpoint).Port; l.Stop();
                Uri = new Uri($"http://127.0.0.1:{port}/msi/token");
                _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
                _listener.Start();
                Task.Run(Serve);
            }

            private async Task Serve()
            {
                while (!_stop.IsCancellationRequested)
                {
                    HttpListenerContext ctx;
                    try { ctx = await _listener.GetContextAsync(); } catch (Exception) { return; }
                    Requests.Enqueue(ctx.Request.Url!.PathAndQuery + " header=" + ctx.Request.Headers["X-IDENTITY-HEADER"]);
                    string body;
                    if (ctx.Request.Headers["X-IDENTITY-HEADER"] != Header) { ctx.Response.StatusCode = 401; body = "{\"error\":\"bad header\"}"; }
                    else if (Status != 200) { ctx.Response.StatusCode = Status; body = "{\"error\":\"unavailable\"}"; }
                    else
                    {
                        long on = DateTimeOffset.UtcNow.Add(Lifetime).ToUnixTimeSeconds();
                        body = "{\"access_token\":\"" + Token + "\",\"expires_on\":\"" + on + "\",\"resource\":\"" + AzureManagedIdentityToken.Resource + "\",\"token_type\":\"Bearer\"}";
                    }
                    var bytes = Encoding.UTF8.GetBytes(body);
                    ctx.Response.ContentType = "application/json";
                    ctx.Response.OutputStream.Write(bytes, 0, bytes.Length);
                    ctx.Response.Close();
                }
            }

            public void Dispose() { _stop.Cancel(); _listener.Close(); }
        }

        private static void SetPassword(string db, string role, string password)
            => PgCluster.Instance.Admin(db, $"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} LOGIN SUPERUSER; END IF; END $$; ALTER ROLE {role} PASSWORD '{password}'");

        [PostgreSqlFact]
        public void Token_IsThePassword_KeptUntilNearExpiry_ThenRefreshed_AndNeverShown()
        {
            string db = PgCluster.Instance.NewDatabase();
            string role = "mi_" + Guid.NewGuid().ToString("N").Substring(0, 8);
            using var endpoint = new IdentityEndpoint();
            SetPassword(db, role, endpoint.Token);
            string cs = $"Host=127.0.0.1;Port={PgCluster.Instance.Port};Database={db};Username={role};Pooling=true;Timeout=15";
            var token = new AzureManagedIdentityToken(endpoint.Uri, endpoint.Header, "11111111-2222-3333-4444-555555555555") { RefreshBefore = TimeSpan.FromMinutes(5) };
            using var s = PostgreSqlStateStore.Open(cs, false, null, null, token);
            var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
            var op = j.Begin("Stop", "dc", "dc/1", null, null, null);
            Assert.Equal(1, token.Fetches);
            Assert.Contains("resource=" + Uri.EscapeDataString(AzureManagedIdentityToken.Resource), string.Join("\n", endpoint.Requests));
            Assert.Contains("api-version=2019-08-01", string.Join("\n", endpoint.Requests));
            Assert.Contains("client_id=11111111-2222-3333-4444-555555555555", string.Join("\n", endpoint.Requests));
            // New physical connections within the token's life reuse it (no new request).
            PgCluster.Instance.Admin(db, $"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '{role}'");
            for (int i = 0; i < 3 && token.Fetches == 1; i++) { try { j.Checkpoint(op.Id, "step", "1"); break; } catch (GridException ex) when (ex.ErrorId == "StateStoreUnavailable") { } }
            Assert.Equal(1, token.Fetches);
            // Near its expiry (here: when more than 59:59 of its hour are "too close"), the next new connection asks the endpoint again.
            string first = endpoint.Token;
            endpoint.Token = "tok-2-" + Guid.NewGuid().ToString("N");
            SetPassword(db, role, endpoint.Token); // the server now accepts only the new token
            token.RefreshBefore = TimeSpan.FromMinutes(59) + TimeSpan.FromSeconds(59);
            Thread.Sleep(1100);
            PgCluster.Instance.Admin(db, $"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '{role}'");
            string? seen = null;
            for (int i = 0; i < 3; i++) { try { j.Checkpoint(op.Id, "step", "2"); seen = "ok"; break; } catch (GridException ex) when (ex.ErrorId == "StateStoreUnavailable") { seen = ex.Message; } }
            Assert.Equal("ok", seen);
            Assert.Equal(2, token.Fetches);
            // A token whose whole life is shorter than RefreshBefore is replaced after half of it.
            endpoint.Lifetime = TimeSpan.FromSeconds(4);
            endpoint.Token = "tok-3-" + Guid.NewGuid().ToString("N");
            SetPassword(db, role, endpoint.Token);
            Thread.Sleep(1100); // tok-2 (an hour) is again within 59:59 of its expiry
            PgCluster.Instance.Admin(db, $"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '{role}'");
            seen = null;
            for (int i = 0; i < 3; i++) { try { j.Checkpoint(op.Id, "step", "3"); seen = "ok"; break; } catch (GridException ex) when (ex.ErrorId == "StateStoreUnavailable") { seen = ex.Message; } }
            Assert.Equal("ok", seen);
            Assert.Equal(3, token.Fetches);
            Assert.True(token.ExpiresOn <= DateTimeOffset.UtcNow.AddSeconds(5));
            endpoint.Token = "tok-4-" + Guid.NewGuid().ToString("N");
            SetPassword(db, role, endpoint.Token);
            Thread.Sleep(2300); // past half of tok-3's 4 s
            PgCluster.Instance.Admin(db, $"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '{role}'");
            seen = null;
            for (int i = 0; i < 3; i++) { try { j.Complete(op.Id, null); seen = "ok"; break; } catch (GridException ex) when (ex.ErrorId == "StateStoreUnavailable") { seen = ex.Message; } }
            Assert.Equal("ok", seen);
            Assert.Equal(4, token.Fetches);
            Assert.Equal(OperationState.Succeeded, j.Get(op.Id)!.State);
            Assert.DoesNotContain("tok-", s.Path);
            Assert.DoesNotContain(first, s.Path);
        }

        [PostgreSqlFact]
        public void EndpointRefusing_IsAClearError_WithoutTheHeaderOrToken()
        {
            string db = PgCluster.Instance.NewDatabase();
            using var endpoint = new IdentityEndpoint { Status = 503 };
            string cs = $"Host=127.0.0.1;Port={PgCluster.Instance.Port};Database={db};Username=nobody;Pooling=true;Timeout=15";
            var ex = Assert.Throws<GridException>(() => PostgreSqlStateStore.Open(cs, false, null, null, new AzureManagedIdentityToken(endpoint.Uri, endpoint.Header)).Dispose());
            Assert.Equal("StateStoreTokenUnavailable", ex.ErrorId);
            Assert.True(ex.IsTransient);
            Assert.Contains("503", ex.Message);
            Assert.DoesNotContain(endpoint.Header, ex.Message);
        }
    }
}
