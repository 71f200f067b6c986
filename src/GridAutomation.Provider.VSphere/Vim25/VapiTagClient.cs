using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.VSphere.Vim25
{
    internal sealed class VapiTag
    {
        public VapiTag(string id, string name, string categoryId) { Id = id; Name = name; CategoryId = categoryId; }
        public string Id { get; }
        public string Name { get; }
        public string CategoryId { get; }
    }

    /// <summary>
    /// vSphere tags through the vAPI REST endpoint (/rest/com/vmware/cis/...): its own session
    /// (POST /rest/com/vmware/cis/session with basic auth, then the vmware-api-session-id header), logged in again on 401.
    /// GridAutomation maps a tag key to a category and the value to a tag of that category.
    /// Category and tag names are cached for <see cref="CacheTtl"/> (they change rarely; our own changes refresh it).
    /// </summary>
    internal sealed class VapiTagClient : IDisposable
    {
        private readonly HttpClient _http;
        private readonly Uri _base;
        private readonly NetworkCredential _credential;
        private readonly SemaphoreSlim _gate = new SemaphoreSlim(1, 1);
        private string? _session;
        private long _roundTrips;
        private Dictionary<string, string>? _categories; // id -> name
        private Dictionary<string, VapiTag>? _tags;      // id -> tag
        private DateTime _cachedAt;
        private bool _loggedOut;

        public VapiTagClient(Uri sdkUrl, TlsSettings tls, NetworkCredential credential)
        {
            _base = new UriBuilder(sdkUrl.Scheme, sdkUrl.Host, sdkUrl.Port, "/rest").Uri;
            _credential = credential;
            _http = new HttpClient(tls.CreateHandler(useCookies: false), disposeHandler: true) { Timeout = TimeSpan.FromMinutes(2) };
        }

        public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(30);
        public long RoundTrips => Interlocked.Read(ref _roundTrips);

        public async Task LoginAsync(CancellationToken ct)
        {
            if (_loggedOut)
                throw new GridException(GridErrorKind.Unauthorized, $"The tagging session with {_base.Host} was logged out (Disconnect-GridDatacenter): connect again.", "NotAuthenticated") { NativeCode = "LoggedOut" };
            using var req = new HttpRequestMessage(HttpMethod.Post, _base + "/com/vmware/cis/session");
            string basic = Convert.ToBase64String(Encoding.UTF8.GetBytes(_credential.UserName + ":" + _credential.Password));
            req.Headers.TryAddWithoutValidation("Authorization", "Basic " + basic);
            using var doc = await SendRawAsync(req, "session login", ct).ConfigureAwait(false);
            if (doc == null || !doc.RootElement.TryGetProperty("value", out var v) || v.ValueKind != JsonValueKind.String)
                throw Malformed("the vAPI session login returned no session id.");
            _session = v.GetString();
        }

        public async Task LogoutAsync(CancellationToken ct)
        {
            _loggedOut = true; // never log in again behind the user's back after Disconnect
            if (_session == null) return;
            try { await SendAsync(HttpMethod.Delete, "/com/vmware/cis/session", null, "session logout", ct).ConfigureAwait(false); }
            catch (GridException) { }
            _session = null;
        }

        // ---- names ---------------------------------------------------------------------------------------------

        private async Task EnsureCacheAsync(bool force, CancellationToken ct)
        {
            if (!force && _categories != null && DateTime.UtcNow - _cachedAt < CacheTtl) return;
            var cats = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var id in await ListIdsAsync("/com/vmware/cis/tagging/category", ct).ConfigureAwait(false))
            {
                using var doc = await SendAsync(HttpMethod.Get, "/com/vmware/cis/tagging/category/id:" + Uri.EscapeDataString(id), null, "get category", ct).ConfigureAwait(false);
                if (doc != null && doc.RootElement.TryGetProperty("value", out var v)) cats[id] = Str(v, "name") ?? id;
            }
            var tags = new Dictionary<string, VapiTag>(StringComparer.Ordinal);
            foreach (var id in await ListIdsAsync("/com/vmware/cis/tagging/tag", ct).ConfigureAwait(false))
            {
                using var doc = await SendAsync(HttpMethod.Get, "/com/vmware/cis/tagging/tag/id:" + Uri.EscapeDataString(id), null, "get tag", ct).ConfigureAwait(false);
                if (doc != null && doc.RootElement.TryGetProperty("value", out var v)) tags[id] = new VapiTag(id, Str(v, "name") ?? id, Str(v, "category_id") ?? "");
            }
            _categories = cats; _tags = tags; _cachedAt = DateTime.UtcNow;
        }

        private async Task<List<string>> ListIdsAsync(string path, CancellationToken ct)
        {
            using var doc = await SendAsync(HttpMethod.Get, path, null, "list " + path.Substring(path.LastIndexOf('/') + 1), ct).ConfigureAwait(false);
            var ids = new List<string>();
            if (doc != null && doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.Array)
                foreach (var e in v.EnumerateArray()) if (e.ValueKind == JsonValueKind.String) ids.Add(e.GetString()!);
            return ids;
        }

        /// <summary>Tags of many objects in one request: object id (moref value) → key (category name) → value (tag name).</summary>
        public async Task<Dictionary<string, Dictionary<string, string>>> TagsOfAllObjectsAsync(string objectType, CancellationToken ct)
        {
            await _gate.WaitAsync(ct).ConfigureAwait(false);
            try { await EnsureCacheAsync(false, ct).ConfigureAwait(false); }
            finally { _gate.Release(); }
            var result = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
            var tags = _tags!; var cats = _categories!;
            if (tags.Count == 0) return result;
            var body = Json(w => { w.WriteStartArray("tag_ids"); foreach (var id in tags.Keys) w.WriteStringValue(id); w.WriteEndArray(); });
            using var doc = await SendAsync(HttpMethod.Post, "/com/vmware/cis/tagging/tag-association?~action=list-attached-objects-on-tags", body, "list tag associations", ct).ConfigureAwait(false);
            if (doc == null || !doc.RootElement.TryGetProperty("value", out var v) || v.ValueKind != JsonValueKind.Array) return result;
            foreach (var entry in v.EnumerateArray())
            {
                string? tagId = Str(entry, "tag_id");
                if (tagId == null || !tags.TryGetValue(tagId, out var tag)) continue;
                if (!entry.TryGetProperty("object_ids", out var objs) || objs.ValueKind != JsonValueKind.Array) continue;
                string key = cats.TryGetValue(tag.CategoryId, out var cn) ? cn : tag.CategoryId;
                foreach (var o in objs.EnumerateArray())
                {
                    if (Str(o, "type") != objectType) continue;
                    string? oid = Str(o, "id");
                    if (oid == null) continue;
                    if (!result.TryGetValue(oid, out var map)) result[oid] = map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                    map[key] = tag.Name;
                }
            }
            return result;
        }

        /// <summary>Tags attached to one object: key (category name) → value (tag name), and the tag ids by key.</summary>
        public async Task<Dictionary<string, VapiTag>> TagsOfObjectAsync(MoRef obj, CancellationToken ct)
        {
            var body = Json(w => WriteObjectId(w, obj));
            using var doc = await SendAsync(HttpMethod.Post, "/com/vmware/cis/tagging/tag-association?~action=list-attached-tags", body, "list attached tags", ct).ConfigureAwait(false);
            var ids = new List<string>();
            if (doc != null && doc.RootElement.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.Array)
                foreach (var e in v.EnumerateArray()) if (e.ValueKind == JsonValueKind.String) ids.Add(e.GetString()!);
            var result = new Dictionary<string, VapiTag>(StringComparer.OrdinalIgnoreCase);
            if (ids.Count == 0) return result;
            await _gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await EnsureCacheAsync(false, ct).ConfigureAwait(false);
                if (ids.Exists(id => !_tags!.ContainsKey(id))) await EnsureCacheAsync(true, ct).ConfigureAwait(false);
            }
            finally { _gate.Release(); }
            foreach (var id in ids)
            {
                if (!_tags!.TryGetValue(id, out var tag)) continue;
                string key = _categories!.TryGetValue(tag.CategoryId, out var cn) ? cn : tag.CategoryId;
                result[key] = tag;
            }
            return result;
        }

        /// <summary>Applies key=value (attach the value's tag, detaching other tags of that category) and key=null (detach).</summary>
        public async Task SetTagsAsync(MoRef obj, IDictionary<string, string?> tags, CancellationToken ct)
        {
            var current = await TagsOfObjectAsync(obj, ct).ConfigureAwait(false);
            foreach (var kv in tags)
            {
                current.TryGetValue(kv.Key, out var existing);
                if (kv.Value == null)
                {
                    if (existing != null) await AttachAsync(existing.Id, obj, false, ct).ConfigureAwait(false);
                    continue;
                }
                if (existing != null && string.Equals(existing.Name, kv.Value, StringComparison.Ordinal)) continue;
                string tagId = await EnsureTagAsync(kv.Key, kv.Value, ct).ConfigureAwait(false);
                if (existing != null) await AttachAsync(existing.Id, obj, false, ct).ConfigureAwait(false);
                await AttachAsync(tagId, obj, true, ct).ConfigureAwait(false);
            }
        }

        private async Task AttachAsync(string tagId, MoRef obj, bool attach, CancellationToken ct)
        {
            var body = Json(w => WriteObjectId(w, obj));
            string action = attach ? "attach" : "detach";
            using var _ = await SendAsync(HttpMethod.Post, "/com/vmware/cis/tagging/tag-association/id:" + Uri.EscapeDataString(tagId) + "?~action=" + action, body, action + " tag", ct).ConfigureAwait(false);
        }

        private async Task<string> EnsureTagAsync(string category, string value, CancellationToken ct)
        {
            await _gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await EnsureCacheAsync(false, ct).ConfigureAwait(false);
                string? catId = FindCategory(category);
                if (catId == null) { await EnsureCacheAsync(true, ct).ConfigureAwait(false); catId = FindCategory(category); }
                if (catId == null)
                {
                    var body = Json(w =>
                    {
                        w.WriteStartObject("create_spec");
                        w.WriteString("name", category);
                        w.WriteString("description", "Created by GridAutomation for tag key '" + category + "'.");
                        w.WriteString("cardinality", "SINGLE");
                        w.WriteStartArray("associable_types"); w.WriteEndArray();
                        w.WriteEndObject();
                    });
                    using var doc = await SendAsync(HttpMethod.Post, "/com/vmware/cis/tagging/category", body, "create tag category", ct).ConfigureAwait(false);
                    catId = ValueString(doc) ?? throw Malformed("creating a category returned no id.");
                    _categories![catId] = category;
                }
                foreach (var t in _tags!.Values) if (t.CategoryId == catId && string.Equals(t.Name, value, StringComparison.Ordinal)) return t.Id;
                var tbody = Json(w =>
                {
                    w.WriteStartObject("create_spec");
                    w.WriteString("name", value);
                    w.WriteString("description", "");
                    w.WriteString("category_id", catId);
                    w.WriteEndObject();
                });
                using var tdoc = await SendAsync(HttpMethod.Post, "/com/vmware/cis/tagging/tag", tbody, "create tag", ct).ConfigureAwait(false);
                string tagId = ValueString(tdoc) ?? throw Malformed("creating a tag returned no id.");
                _tags[tagId] = new VapiTag(tagId, value, catId);
                return tagId;
            }
            finally { _gate.Release(); }
        }

        private string? FindCategory(string name)
        {
            foreach (var kv in _categories!) if (string.Equals(kv.Value, name, StringComparison.OrdinalIgnoreCase)) return kv.Key;
            return null;
        }

        // ---- HTTP/JSON -----------------------------------------------------------------------------------------

        private static void WriteObjectId(Utf8JsonWriter w, MoRef obj)
        {
            w.WriteStartObject("object_id");
            w.WriteString("id", obj.Value);
            w.WriteString("type", obj.Type);
            w.WriteEndObject();
        }

        private static byte[] Json(Action<Utf8JsonWriter> body)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms)) { w.WriteStartObject(); body(w); w.WriteEndObject(); }
            return ms.ToArray();
        }

        private static string? Str(JsonElement e, string name)
            => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        private static string? ValueString(JsonDocument? doc)
            => doc != null && doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        private async Task<JsonDocument?> SendAsync(HttpMethod method, string path, byte[]? body, string what, CancellationToken ct)
        {
            if (_session == null) await LoginAsync(ct).ConfigureAwait(false);
            for (int attempt = 0; ; attempt++)
            {
                using var req = new HttpRequestMessage(method, _base + path);
                req.Headers.TryAddWithoutValidation("vmware-api-session-id", _session);
                if (body != null) { req.Content = new ByteArrayContent(body); req.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json"); }
                try { return await SendRawAsync(req, what, ct).ConfigureAwait(false); }
                catch (GridException ex) when (ex.NativeCode == "HTTP401" && attempt == 0)
                {
                    await LoginAsync(ct).ConfigureAwait(false); // the vAPI session expired
                }
            }
        }

        private async Task<JsonDocument?> SendRawAsync(HttpRequestMessage req, string what, CancellationToken ct)
        {
            Interlocked.Increment(ref _roundTrips);
            HttpResponseMessage resp;
            try { resp = await _http.SendAsync(req, ct).ConfigureAwait(false); }
            catch (OperationCanceledException oce) when (ct.IsCancellationRequested)
            { throw new GridException(GridErrorKind.Cancelled, $"vSphere tagging ({what}) was cancelled.", "OperationCancelled", oce); }
            catch (Exception ex) when (ex is HttpRequestException || ex is OperationCanceledException)
            { throw new GridException(GridErrorKind.Unavailable, $"vSphere tagging endpoint {_base.Host} unreachable ({what}): {ex.GetBaseException().Message}", "TaggingUnavailable", ex) { NativeCode = ex.GetType().Name }; }
            using (resp)
            {
                byte[] bytes = await resp.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                int status = (int)resp.StatusCode;
                if (status >= 200 && status < 300)
                {
                    if (bytes.Length == 0) return null;
                    try { return JsonDocument.Parse(bytes); }
                    catch (JsonException je) { throw Malformed($"{what}: {je.Message}"); }
                }
                string type = "";
                try { using var err = JsonDocument.Parse(bytes); type = Str(err.RootElement, "type") ?? ""; } catch (JsonException) { }
                string msg = $"vSphere tagging ({what}): HTTP {status} {resp.ReasonPhrase} {type}".Trim();
                var kind = status switch
                {
                    401 => GridErrorKind.Unauthorized,
                    403 => GridErrorKind.PermissionDenied,
                    404 => GridErrorKind.NotFound,
                    429 => GridErrorKind.Throttled,
                    >= 500 => GridErrorKind.Unavailable,
                    _ => type.EndsWith("already_exists", StringComparison.Ordinal) ? GridErrorKind.Conflict : GridErrorKind.InvalidRequest,
                };
                throw new GridException(kind, msg, kind == GridErrorKind.NotFound ? "TagNotFound" : "TaggingError") { NativeCode = "HTTP" + status };
            }
        }

        private static GridException Malformed(string what)
            => new GridException(GridErrorKind.Unavailable, "The vSphere tagging endpoint sent an unexpected answer: " + what, "MalformedResponse") { IsTransient = false };

        public void Dispose() { _http.Dispose(); _gate.Dispose(); }
    }
}
