using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Xml;

namespace GridAutomation.Providers.Xen.Xapi
{
    /// <summary>What the server answered: a value, or an XAPI failure (code + parameters).</summary>
    internal readonly struct XapiReply
    {
        public XapiReply(object? value) { Value = value; ErrorDescription = null; }
        public XapiReply(IReadOnlyList<string> error) { Value = null; ErrorDescription = error; }
        public object? Value { get; }
        /// <summary>XAPI's ErrorDescription: [code, param...]; null on success.</summary>
        public IReadOnlyList<string>? ErrorDescription { get; }
    }

    /// <summary>JSON-RPC 2.0 as XAPI speaks it at /jsonrpc (see xen-api doc/content/xen-api/wire-protocol.md).</summary>
    internal static class JsonRpcCodec
    {
        public static byte[] EncodeRequest(string method, IReadOnlyList<object?> args, long id)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms))
            {
                w.WriteStartObject();
                w.WriteString("jsonrpc", "2.0");
                w.WriteString("method", method);
                w.WritePropertyName("params");
                w.WriteStartArray();
                foreach (var a in args) Write(w, a);
                w.WriteEndArray();
                w.WriteNumber("id", id);
                w.WriteEndObject();
            }
            return ms.ToArray();
        }

        private static void Write(Utf8JsonWriter w, object? v)
        {
            switch (v)
            {
                case null: w.WriteStringValue(""); break;
                case string s: w.WriteStringValue(s); break;
                case bool b: w.WriteBooleanValue(b); break;
                case long l: w.WriteNumberValue(l); break;
                case int i: w.WriteNumberValue(i); break;
                case double d: w.WriteNumberValue(d); break;
                case IDictionary<string, object?> m:
                    w.WriteStartObject();
                    foreach (var kv in m) { w.WritePropertyName(kv.Key); Write(w, kv.Value); }
                    w.WriteEndObject();
                    break;
                case IDictionary<string, string> ms:
                    w.WriteStartObject();
                    foreach (var kv in ms) w.WriteString(kv.Key, kv.Value);
                    w.WriteEndObject();
                    break;
                case System.Collections.IEnumerable e:
                    w.WriteStartArray();
                    foreach (var x in e) Write(w, x);
                    w.WriteEndArray();
                    break;
                default: w.WriteStringValue(Convert.ToString(v, CultureInfo.InvariantCulture)); break;
            }
        }

        /// <summary>
        /// Decodes a reply (v2.0 with error {code, message, data}, or v1.0 with error [code, params...]).
        /// XAPI may write non-finite floats as bare Infinity/NaN tokens, which are not JSON: they are read as strings.
        /// </summary>
        public static XapiReply DecodeResponse(string body)
        {
            using var doc = JsonDocument.Parse(QuoteBareNonFinite(body), new JsonDocumentOptions { AllowTrailingCommas = true });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new FormatException("the JSON-RPC reply is not an object");
            if (root.TryGetProperty("error", out var err) && err.ValueKind != JsonValueKind.Null)
            {
                var desc = new List<string>();
                if (err.ValueKind == JsonValueKind.Array)
                {
                    foreach (var e in err.EnumerateArray()) desc.Add(ScalarText(e));
                }
                else if (err.ValueKind == JsonValueKind.Object)
                {
                    desc.Add(err.TryGetProperty("message", out var m) ? ScalarText(m) : "UNKNOWN_ERROR");
                    if (err.TryGetProperty("data", out var data))
                    {
                        if (data.ValueKind == JsonValueKind.Array) foreach (var d in data.EnumerateArray()) desc.Add(ScalarText(d));
                        else if (data.ValueKind != JsonValueKind.Null) desc.Add(ScalarText(data));
                    }
                }
                else desc.Add(ScalarText(err));
                if (desc.Count == 0 || string.IsNullOrEmpty(desc[0])) desc.Insert(0, "UNKNOWN_ERROR");
                return new XapiReply(desc);
            }
            if (!root.TryGetProperty("result", out var result)) throw new FormatException("the JSON-RPC reply has neither result nor error");
            return new XapiReply(ToValue(result));
        }

        private static string ScalarText(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.String => e.GetString() ?? "",
            JsonValueKind.Null => "",
            _ => e.GetRawText(),
        };

        public static object? ToValue(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.String: return e.GetString();
                case JsonValueKind.True: return true;
                case JsonValueKind.False: return false;
                case JsonValueKind.Null:
                case JsonValueKind.Undefined: return null;
                case JsonValueKind.Number:
                    if (e.TryGetInt64(out var l)) return l;
                    return e.GetDouble();
                case JsonValueKind.Array:
                    var list = new List<object?>(e.GetArrayLength());
                    foreach (var x in e.EnumerateArray()) list.Add(ToValue(x));
                    return list;
                default:
                    var map = new Dictionary<string, object?>(StringComparer.Ordinal);
                    foreach (var p in e.EnumerateObject()) map[p.Name] = ToValue(p.Value);
                    return map;
            }
        }

        /// <summary>Turns bare Infinity, -Infinity and NaN tokens (outside strings) into JSON strings.</summary>
        internal static string QuoteBareNonFinite(string json)
        {
            if (json.IndexOf("Infinity", StringComparison.Ordinal) < 0 && json.IndexOf("NaN", StringComparison.Ordinal) < 0) return json;
            var sb = new StringBuilder(json.Length + 16);
            bool inString = false;
            for (int i = 0; i < json.Length; i++)
            {
                char c = json[i];
                if (inString)
                {
                    sb.Append(c);
                    if (c == '\\' && i + 1 < json.Length) { sb.Append(json[++i]); continue; }
                    if (c == '"') inString = false;
                    continue;
                }
                if (c == '"') { inString = true; sb.Append(c); continue; }
                foreach (var token in new[] { "-Infinity", "+Infinity", "Infinity", "NaN" })
                {
                    if (string.CompareOrdinal(json, i, token, 0, token.Length) == 0)
                    {
                        sb.Append('"').Append(token).Append('"');
                        i += token.Length - 1;
                        goto next;
                    }
                }
                sb.Append(c);
            next:;
            }
            return sb.ToString();
        }
    }

    /// <summary>XML-RPC as XAPI speaks it at / (older pools): int64 travel as strings; replies are {Status, Value | ErrorDescription}.</summary>
    internal static class XmlRpcCodec
    {
        public static byte[] EncodeRequest(string method, IReadOnlyList<object?> args)
        {
            var sb = new StringBuilder(256);
            sb.Append("<?xml version=\"1.0\"?><methodCall><methodName>").Append(Escape(method)).Append("</methodName><params>");
            foreach (var a in args) { sb.Append("<param>"); Write(sb, a); sb.Append("</param>"); }
            sb.Append("</params></methodCall>");
            return Encoding.UTF8.GetBytes(sb.ToString());
        }

        private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

        private static void Write(StringBuilder sb, object? v)
        {
            sb.Append("<value>");
            switch (v)
            {
                case null: sb.Append("<string></string>"); break;
                case string s: sb.Append("<string>").Append(Escape(s)).Append("</string>"); break;
                case bool b: sb.Append("<boolean>").Append(b ? "1" : "0").Append("</boolean>"); break;
                case long l: sb.Append("<string>").Append(l.ToString(CultureInfo.InvariantCulture)).Append("</string>"); break;
                case int i: sb.Append("<string>").Append(i.ToString(CultureInfo.InvariantCulture)).Append("</string>"); break;
                case double d: sb.Append("<double>").Append(d.ToString("R", CultureInfo.InvariantCulture)).Append("</double>"); break;
                case IDictionary<string, object?> m:
                    sb.Append("<struct>");
                    foreach (var kv in m) { sb.Append("<member><name>").Append(Escape(kv.Key)).Append("</name>"); Write(sb, kv.Value); sb.Append("</member>"); }
                    sb.Append("</struct>");
                    break;
                case IDictionary<string, string> ms:
                    sb.Append("<struct>");
                    foreach (var kv in ms) { sb.Append("<member><name>").Append(Escape(kv.Key)).Append("</name>"); Write(sb, kv.Value); sb.Append("</member>"); }
                    sb.Append("</struct>");
                    break;
                case System.Collections.IEnumerable e:
                    sb.Append("<array><data>");
                    foreach (var x in e) Write(sb, x);
                    sb.Append("</data></array>");
                    break;
                default: sb.Append("<string>").Append(Escape(Convert.ToString(v, CultureInfo.InvariantCulture) ?? "")).Append("</string>"); break;
            }
            sb.Append("</value>");
        }

        public static XapiReply DecodeResponse(string body)
        {
            var doc = new XmlDocument { XmlResolver = null };
            using (var r = XmlReader.Create(new StringReader(body), new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null }))
                doc.Load(r);
            var root = doc.DocumentElement ?? throw new FormatException("empty XML-RPC reply");
            var fault = root.SelectSingleNode("fault/value");
            if (fault != null)
            {
                var f = ParseValue((XmlElement)fault) as Dictionary<string, object?>;
                return new XapiReply(new[] { "XMLRPC_FAULT", XapiValue.AsString(Get(f, "faultString")) ?? "" });
            }
            var v = root.SelectSingleNode("params/param/value") as XmlElement ?? throw new FormatException("the XML-RPC reply has no value");
            var top = ParseValue(v);
            if (top is Dictionary<string, object?> st && st.TryGetValue("Status", out var status))
            {
                if (string.Equals(XapiValue.AsString(status), "Success", StringComparison.Ordinal)) return new XapiReply(Get(st, "Value"));
                var desc = new List<string>();
                if (Get(st, "ErrorDescription") is List<object?> l) foreach (var o in l) desc.Add(XapiValue.AsString(o) ?? "");
                if (desc.Count == 0) desc.Add("UNKNOWN_ERROR");
                return new XapiReply(desc);
            }
            throw new FormatException("the XML-RPC reply has no Status");
        }

        private static object? Get(Dictionary<string, object?>? d, string key) => d != null && d.TryGetValue(key, out var v) ? v : null;

        /// <summary>Parses one &lt;value&gt; element (also used for task results, which XAPI returns as an XML-RPC value text).</summary>
        public static object? ParseValue(XmlElement value)
        {
            XmlElement? typed = null;
            foreach (XmlNode n in value.ChildNodes) if (n is XmlElement e) { typed = e; break; }
            if (typed == null) return value.InnerText; // <value>text</value> is a string
            switch (typed.LocalName)
            {
                case "string": return typed.InnerText;
                case "boolean": return typed.InnerText.Trim() == "1";
                case "int":
                case "i4":
                case "i8": return long.Parse(typed.InnerText.Trim(), CultureInfo.InvariantCulture);
                case "double": return XapiValue.AsDouble(typed.InnerText);
                case "dateTime.iso8601": return typed.InnerText.Trim();
                case "nil": return null;
                case "array":
                    var list = new List<object?>();
                    var data = typed.SelectSingleNode("data");
                    if (data != null) foreach (XmlNode n in data.ChildNodes) if (n is XmlElement e && e.LocalName == "value") list.Add(ParseValue(e));
                    return list;
                case "struct":
                    var map = new Dictionary<string, object?>(StringComparer.Ordinal);
                    foreach (XmlNode n in typed.ChildNodes)
                    {
                        if (!(n is XmlElement m) || m.LocalName != "member") continue;
                        string name = m.SelectSingleNode("name")?.InnerText ?? "";
                        map[name] = m.SelectSingleNode("value") is XmlElement mv ? ParseValue(mv) : null;
                    }
                    return map;
                default: return typed.InnerText;
            }
        }

        /// <summary>A task's result field: an XML-RPC &lt;value&gt; as text ("&lt;value&gt;OpaqueRef:…&lt;/value&gt;"), or empty.</summary>
        public static string? ParseTaskResult(string? result)
        {
            if (string.IsNullOrWhiteSpace(result)) return null;
            string t = result!.Trim();
            if (!t.StartsWith("<", StringComparison.Ordinal)) return t;
            try
            {
                var doc = new XmlDocument { XmlResolver = null };
                doc.LoadXml(t);
                return XapiValue.AsString(ParseValue(doc.DocumentElement!));
            }
            catch (XmlException) { return t; }
        }
    }
}
