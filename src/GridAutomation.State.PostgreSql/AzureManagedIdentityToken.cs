using System;
using System.Globalization;
using System.Net.Http;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;

namespace GridAutomation.State.PostgreSql
{
    /// <summary>
    /// An access token of the Azure managed identity, used as the password of Azure Database for PostgreSQL
    /// (docs/state-store.md, 'Azure managed identity'). Asked from the managed-identity endpoint of the host:
    /// IDENTITY_ENDPOINT + IDENTITY_HEADER where the platform sets them (Azure Automation, App Service, Functions),
    /// else the instance metadata service (IMDS) of a VM. Kept in memory only, and asked again before it expires, so a
    /// new physical connection never presents an expired token. The token never reaches the store's Path, errors or logs.
    /// </summary>
    public sealed class AzureManagedIdentityToken : IDisposable
    {
        /// <summary>The resource (audience) of Azure Database for PostgreSQL tokens.</summary>
        public const string Resource = "https://ossrdbms-aad.database.windows.net";
        public static readonly Uri ImdsEndpoint = new Uri("http://169.254.169.254/metadata/identity/oauth2/token");

        private readonly HttpClient _http;
        private readonly Uri _endpoint;
        private readonly string? _identityHeader;
        private readonly string? _clientId;
        private readonly SemaphoreSlim _gate = new SemaphoreSlim(1, 1);
        private string? _token;
        private DateTimeOffset _expiresOn;

        /// <param name="endpoint">The managed-identity endpoint; null: IDENTITY_ENDPOINT, else IMDS.</param>
        /// <param name="identityHeader">The IDENTITY_HEADER secret of that endpoint (null for IMDS).</param>
        /// <param name="clientId">A user-assigned identity's client id (AZURE_CLIENT_ID); null for the system-assigned one.</param>
        public AzureManagedIdentityToken(Uri? endpoint = null, string? identityHeader = null, string? clientId = null)
        {
            string? envEndpoint = Environment.GetEnvironmentVariable("IDENTITY_ENDPOINT");
            if (endpoint == null && !string.IsNullOrEmpty(envEndpoint))
            {
                endpoint = new Uri(envEndpoint);
                identityHeader ??= Environment.GetEnvironmentVariable("IDENTITY_HEADER");
            }
            _endpoint = endpoint ?? ImdsEndpoint;
            _identityHeader = identityHeader;
            _clientId = string.IsNullOrEmpty(clientId) ? Environment.GetEnvironmentVariable("AZURE_CLIENT_ID") : clientId;
            if (string.IsNullOrEmpty(_clientId)) _clientId = null;
            _http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(15) };
        }

        /// <summary>How long before its expiry a token is replaced (default 5 minutes, at most half its lifetime).</summary>
        public TimeSpan RefreshBefore { get; set; } = TimeSpan.FromMinutes(5);

        /// <summary>How many tokens were fetched from the endpoint (tests).</summary>
        public int Fetches { get; private set; }

        /// <summary>When the token in hand expires (MinValue: none yet).</summary>
        public DateTimeOffset ExpiresOn => _expiresOn;

        private DateTimeOffset _fetchedAt;

        /// <summary>
        /// Whether the token in hand is still good to hand out: more than <see cref="RefreshBefore"/> before its expiry
        /// (a token whose whole lifetime is shorter than that: in the first half of its lifetime).
        /// </summary>
        private bool Fresh(DateTimeOffset now)
        {
            if (_token == null) return false;
            var lifetime = _expiresOn - _fetchedAt;
            var refreshAt = lifetime > RefreshBefore ? _expiresOn - RefreshBefore : _fetchedAt + TimeSpan.FromTicks(lifetime.Ticks / 2);
            return now < refreshAt;
        }

        /// <summary>A token valid for a while yet: the one in hand, or a new one from the endpoint.</summary>
        public async ValueTask<string> GetAsync(CancellationToken ct)
        {
            if (Fresh(DateTimeOffset.UtcNow)) return _token!;
            await _gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (Fresh(DateTimeOffset.UtcNow)) return _token!;
                var now = DateTimeOffset.UtcNow;
                var (token, expires) = await FetchAsync(ct).ConfigureAwait(false);
                _token = token; _expiresOn = expires; _fetchedAt = now;
                Fetches++;
                return token;
            }
            finally { _gate.Release(); }
        }

        public string Get() => GetAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();

        private async Task<(string token, DateTimeOffset expires)> FetchAsync(CancellationToken ct)
        {
            bool platform = _identityHeader != null;
            string query = "resource=" + Uri.EscapeDataString(Resource) + "&api-version=" + (platform ? "2019-08-01" : "2018-02-01")
                           + (_clientId == null ? "" : "&client_id=" + Uri.EscapeDataString(_clientId));
            var uri = new UriBuilder(_endpoint) { Query = query }.Uri;
            using var req = new HttpRequestMessage(HttpMethod.Get, uri);
            if (platform) req.Headers.Add("X-IDENTITY-HEADER", _identityHeader);
            else req.Headers.Add("Metadata", "true");
            string where = _endpoint.GetLeftPart(UriPartial.Path);
            HttpResponseMessage resp;
            try { resp = await _http.SendAsync(req, ct).ConfigureAwait(false); }
            catch (Exception ex) when (ex is HttpRequestException || ex is TaskCanceledException && !ct.IsCancellationRequested)
            {
                throw new GridException(GridErrorKind.StateStore, $"Cannot get a managed-identity token for the state store from {where}: {ex.Message} (is a managed identity assigned to this machine or Automation account?).", "StateStoreTokenUnavailable", ex) { Target = where, IsTransient = true };
            }
            using (resp)
            {
                string body = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                if (!resp.IsSuccessStatusCode)
                    throw new GridException(GridErrorKind.StateStore, $"The managed-identity endpoint {where} refused a token for the state store: HTTP {(int)resp.StatusCode} ({resp.ReasonPhrase}).", "StateStoreTokenUnavailable") { Target = where, NativeCode = ((int)resp.StatusCode).ToString(CultureInfo.InvariantCulture), IsTransient = (int)resp.StatusCode >= 500 || (int)resp.StatusCode == 429 };
                try
                {
                    using var doc = JsonDocument.Parse(body);
                    var root = doc.RootElement;
                    string token = root.GetProperty("access_token").GetString() ?? throw new FormatException("access_token is null");
                    DateTimeOffset expires;
                    if (root.TryGetProperty("expires_on", out var on) && long.TryParse(on.ValueKind == JsonValueKind.Number ? on.GetRawText() : on.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long epoch))
                        expires = DateTimeOffset.FromUnixTimeSeconds(epoch);
                    else if (root.TryGetProperty("expires_in", out var inn) && long.TryParse(inn.ValueKind == JsonValueKind.Number ? inn.GetRawText() : inn.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long secs))
                        expires = DateTimeOffset.UtcNow.AddSeconds(secs);
                    else throw new FormatException("no expires_on or expires_in");
                    return (token, expires);
                }
                catch (Exception ex) when (ex is JsonException || ex is FormatException || ex is InvalidOperationException || ex is System.Collections.Generic.KeyNotFoundException)
                {
                    throw new GridException(GridErrorKind.StateStore, $"The managed-identity endpoint {where} answered without a usable token ({ex.Message}).", "StateStoreTokenUnavailable", ex) { Target = where };
                }
            }
        }

        public void Dispose() { _http.Dispose(); _gate.Dispose(); }
    }
}
