using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Provider.Xen.Tests.Server
{
    /// <summary>An XAPI failure the fake server answers with: ErrorDescription = [code, params...].</summary>
    public sealed class XapiError : Exception
    {
        public XapiError(params string[] description) : base(string.Join(" ", description)) { Description = description; }
        public string[] Description { get; }
    }

    /// <summary>
    /// A stateful loopback XAPI of the tests, over a REAL pool database dump: JSON-RPC at /jsonrpc, XML-RPC at /,
    /// sessions, generic class methods (get_all_records, get_record, get_by_uuid, get_/set_ fields, add_to_/remove_from_
    /// maps, add_/remove_ sets), Async.* through task objects, the event system (event.from / event.inject) and
    /// system.listMethods from the datamodel, and the VM lifecycle with the power-state rules of xapi_vm_lifecycle.ml.
    /// </summary>
    public sealed partial class FakeXapi : IDisposable
    {
        private readonly object _lock = new object();
        private readonly Datamodel _model;
        private readonly HttpLoop _http;
        private readonly HashSet<string> _sessions = new HashSet<string>(StringComparer.Ordinal);

        public FakeXapi(DumpLoader.Dump dump, Datamodel model, X509Certificate2? certificate = null)
        {
            Db = dump.Tables; _model = model;
            foreach (var c in model.Classes.Values)
                if (!Db.ContainsKey(c.Name)) Db[c.Name] = new Dictionary<string, Dictionary<string, object?>>(StringComparer.Ordinal);
            _http = new HttpLoop(HandleAsync, certificate);
        }

        public static FakeXapi FromFixture(string dumpName, X509Certificate2? certificate = null)
        {
            var model = Datamodel.Load(Fixtures.Datamodel);
            return new FakeXapi(DumpLoader.Load(Fixtures.Dump(dumpName), model), model, certificate);
        }

        public Dictionary<string, Dictionary<string, Dictionary<string, object?>>> Db { get; }
        public string Url => _http.Url;
        public int Port => _http.Port;
        public string User { get; set; } = "root";
        public string Password { get; set; } = "xenroot";
        /// <summary>When set, this server is a pool member: logins answer HOST_IS_SLAVE with this master address.</summary>
        public string? SlaveOf { get; set; }
        /// <summary>Serve JSON-RPC at /jsonrpc (false: as pools before XenServer 7.3, which take every POST as XML-RPC).</summary>
        public bool JsonRpcEnabled { get; set; } = true;
        /// <summary>How long an Async.* task stays pending before it runs.</summary>
        public TimeSpan TaskLatency { get; set; } = TimeSpan.FromMilliseconds(30);
        /// <summary>Every method called, in order (for "one call, never one per VM" assertions).</summary>
        public List<string> Calls { get; } = new List<string>();
        public List<string> Protocols { get; } = new List<string>();

        public int Count(string method) { lock (Calls) return Calls.Count(c => c == method); }
        public void ClearCalls() { lock (Calls) Calls.Clear(); }

        /// <summary>Ends every session (as a toolstack restart does): the next call answers SESSION_INVALID.</summary>
        public void InvalidateSessions() { lock (_lock) _sessions.Clear(); }

        private async Task<(int, string, byte[])> HandleAsync(string verb, string path, IDictionary<string, string> headers, byte[] body)
        {
            string p = path.Split('?')[0];
            if (p == "/export_raw_vdi" || p == "/import_raw_vdi") return DiskHandler(verb, path, headers, body);
            if (verb != "POST") return (404, "text/plain", Encoding.UTF8.GetBytes("not found"));
            if (p == "/jsonrpc" && !JsonRpcEnabled)
            {
                lock (Protocols) Protocols.Add("json-refused");
                return (200, "text/xml", WireCodecs.XmlResponse(null, new[] { "INTERNAL_ERROR", "XML-RPC request expected" }));
            }
            if (p == "/jsonrpc")
            {
                var (method, args, id, v2) = WireCodecs.ParseJsonRequest(body);
                lock (Protocols) Protocols.Add("json");
                var (result, error) = await InvokeAsync(method, args);
                return (200, "application/json", WireCodecs.JsonResponse(id, v2, result, error));
            }
            if (p == "/" || p == "/RPC2" || p == "/xmlrpc")
            {
                var (method, args) = WireCodecs.ParseXmlRequest(body);
                lock (Protocols) Protocols.Add("xml");
                var (result, error) = await InvokeAsync(method, args);
                return (200, "text/xml", WireCodecs.XmlResponse(result, error));
            }
            return (404, "text/plain", Encoding.UTF8.GetBytes("not found"));
        }

        private async Task<(object?, IReadOnlyList<string>?)> InvokeAsync(string method, List<object?> args)
        {
            lock (Calls) Calls.Add(method);
            try
            {
                if (method == "event.from") return (await EventFromAsync(args), null);
                lock (_lock) return (Copy(Dispatch(method, args)), null);
            }
            catch (XapiError e) { return (null, e.Description); }
            catch (Exception e) { return (null, new[] { "INTERNAL_ERROR", e.GetType().Name + ": " + e.Message }); }
        }

        private static string NewRef() => "OpaqueRef:" + Guid.NewGuid().ToString();
        private static string S(List<object?> a, int i) => i < a.Count ? Convert.ToString(a[i], CultureInfo.InvariantCulture) ?? "" : throw new XapiError("MESSAGE_PARAMETER_COUNT_MISMATCH", "?", (i + 1).ToString(), a.Count.ToString());
        private static long L(List<object?> a, int i) => a[i] switch
        {
            long l => l,
            double d => (long)d,
            string s when long.TryParse(s, out var x) => x,
            _ => throw new XapiError("FIELD_TYPE_ERROR", "int"),
        };

        private void CheckSession(List<object?> args)
        {
            string s = args.Count > 0 ? Convert.ToString(args[0]) ?? "" : "";
            if (!_sessions.Contains(s)) throw new XapiError("SESSION_INVALID", s);
        }

        internal Dictionary<string, Dictionary<string, object?>> Table(string cls)
        {
            string canon = _model.CanonicalClass(cls) ?? cls;
            return Db.TryGetValue(canon, out var t) ? t : throw new XapiError("MESSAGE_METHOD_UNKNOWN", cls);
        }

        internal Dictionary<string, object?> Row(string cls, string reference)
            => Table(cls).TryGetValue(reference, out var r) ? r : throw new XapiError("HANDLE_INVALID", _model.CanonicalClass(cls) ?? cls, reference);

        private object? Dispatch(string method, List<object?> args)
        {
            switch (method)
            {
                case "session.login_with_password":
                    if (SlaveOf != null) throw new XapiError("HOST_IS_SLAVE", SlaveOf);
                    if (S(args, 0) != User || S(args, 1) != Password) throw new XapiError("SESSION_AUTHENTICATION_FAILED", S(args, 0), "Authentication failure");
                    var session = NewRef();
                    _sessions.Add(session);
                    return session;
                case "session.logout":
                    _sessions.Remove(S(args, 0));
                    return null;
                case "system.listMethods":
                    return ListMethods();
            }
            CheckSession(args);
            var a = args.Skip(1).ToList();
            if (method.StartsWith("Async.", StringComparison.Ordinal)) return StartTask(method.Substring(6), a);
            if (method == "event.inject") return Inject(S(a, 0), S(a, 1));
            int dot = method.IndexOf('.');
            if (dot <= 0) throw new XapiError("MESSAGE_METHOD_UNKNOWN", method);
            string cls = method.Substring(0, dot), name = method.Substring(dot + 1);
            if (_model.CanonicalClass(cls) == null) throw new XapiError("MESSAGE_METHOD_UNKNOWN", method);
            cls = _model.CanonicalClass(cls)!;
            var special = Special(cls, name, a);
            if (special.Handled) return special.Result;
            return Generic(cls, name, a);
        }

        private List<object?> ListMethods()
        {
            var l = new List<object?>();
            foreach (var c in _model.Classes.Values)
                foreach (var m in c.Messages) l.Add(c.Name + "." + m);
            l.Add("system.listMethods");
            return l;
        }

        private object? Generic(string cls, string name, List<object?> a)
        {
            var t = Table(cls);
            var fields = _model.Classes[cls].Fields;
            switch (name)
            {
                case "get_all_records": return t;
                case "get_all": return t.Keys.Cast<object?>().ToList();
                case "get_record": return Row(cls, S(a, 0));
                case "get_by_uuid":
                    string uuid = S(a, 0);
                    foreach (var kv in t) if (kv.Value.TryGetValue("uuid", out var u) && (u as string) == uuid) return kv.Key;
                    throw new XapiError("UUID_INVALID", cls, uuid);
                case "get_by_name_label":
                    return t.Where(kv => (kv.Value.TryGetValue("name_label", out var n) ? n as string : null) == S(a, 0)).Select(kv => (object?)kv.Key).ToList();
            }
            if (name.StartsWith("get_", StringComparison.Ordinal) && fields.ContainsKey(name.Substring(4)))
                return Row(cls, S(a, 0)).TryGetValue(name.Substring(4), out var v) ? v : null;
            if (name.StartsWith("set_", StringComparison.Ordinal) && fields.TryGetValue(name.Substring(4), out var type))
            {
                var row = Row(cls, S(a, 0));
                row[name.Substring(4)] = Coerce(type, a[1]);
                Changed(cls, S(a, 0));
                return null;
            }
            if (name.StartsWith("add_to_", StringComparison.Ordinal) && fields.ContainsKey(name.Substring(7)))
            {
                var row = Row(cls, S(a, 0));
                var map = (Dictionary<string, object?>)row[name.Substring(7)]!;
                if (map.ContainsKey(S(a, 1))) throw new XapiError("MAP_DUPLICATE_KEY", cls, name.Substring(7), S(a, 0), S(a, 1));
                map[S(a, 1)] = a[2];
                Changed(cls, S(a, 0));
                return null;
            }
            if (name.StartsWith("remove_from_", StringComparison.Ordinal) && fields.ContainsKey(name.Substring(12)))
            {
                var row = Row(cls, S(a, 0));
                ((Dictionary<string, object?>)row[name.Substring(12)]!).Remove(S(a, 1));
                Changed(cls, S(a, 0));
                return null;
            }
            if (name.StartsWith("add_", StringComparison.Ordinal) && fields.TryGetValue(name.Substring(4), out var st) && st.EndsWith(" set"))
            {
                var set = (List<object?>)Row(cls, S(a, 0))[name.Substring(4)]!;
                if (!set.Contains(S(a, 1))) set.Add(S(a, 1));
                Changed(cls, S(a, 0));
                return null;
            }
            if (name.StartsWith("remove_", StringComparison.Ordinal) && fields.TryGetValue(name.Substring(7), out var rt) && rt.EndsWith(" set"))
            {
                ((List<object?>)Row(cls, S(a, 0))[name.Substring(7)]!).Remove(S(a, 1));
                Changed(cls, S(a, 0));
                return null;
            }
            if (_model.Classes[cls].Messages.Contains(name)) throw new XapiError("NOT_IMPLEMENTED", cls + "." + name);
            throw new XapiError("MESSAGE_METHOD_UNKNOWN", cls + "." + name);
        }

        private static object? Coerce(string type, object? v) => type switch
        {
            "int" => v is string s ? long.Parse(s, CultureInfo.InvariantCulture) : v is double d ? (long)d : v,
            "float" => v is string s2 ? double.Parse(s2, CultureInfo.InvariantCulture) : v is long l ? (double)l : v,
            "bool" => v is string s3 ? s3 == "true" || s3 == "1" : v,
            _ => v,
        };

        /// <summary>A deep copy, so values are serialized outside the lock.</summary>
        internal static object? Copy(object? v) => v switch
        {
            Dictionary<string, Dictionary<string, object?>> t => t.ToDictionary(kv => kv.Key, kv => (object?)Copy(kv.Value)),
            Dictionary<string, object?> m => m.ToDictionary(kv => kv.Key, kv => Copy(kv.Value)),
            List<object?> l => l.Select(Copy).ToList(),
            _ => v,
        };

        public void Dispose()
        {
            _http.Dispose();
            lock (_lock) { _disposed = true; Monitor.PulseAll(_lock); }
        }
    }
}
