using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Security;
using System.Text;
using System.Text.Json;
using System.Xml;

namespace GridAutomation.Provider.Xen.Tests.Server
{
    /// <summary>The server side of the wire: JSON-RPC 1.0/2.0 and XML-RPC, written from wire-protocol.md, independent of the provider's client.</summary>
    public static class WireCodecs
    {
        // ---- JSON-RPC ----
        public static (string Method, List<object?> Params, JsonElement? Id, bool V2) ParseJsonRequest(byte[] body)
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            string method = root.GetProperty("method").GetString() ?? "";
            var ps = new List<object?>();
            if (root.TryGetProperty("params", out var p) && p.ValueKind == JsonValueKind.Array)
                foreach (var e in p.EnumerateArray()) ps.Add(FromJson(e));
            JsonElement? id = root.TryGetProperty("id", out var idEl) ? idEl.Clone() : (JsonElement?)null;
            bool v2 = root.TryGetProperty("jsonrpc", out var ver) && ver.GetString() == "2.0";
            return (method, ps, id, v2);
        }

        private static object? FromJson(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.String => e.GetString(),
            JsonValueKind.Number => e.TryGetInt64(out var l) ? l : e.GetDouble(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Array => ListOf(e),
            JsonValueKind.Object => MapOf(e),
            _ => null,
        };
        private static List<object?> ListOf(JsonElement e) { var l = new List<object?>(); foreach (var x in e.EnumerateArray()) l.Add(FromJson(x)); return l; }
        private static Dictionary<string, object?> MapOf(JsonElement e) { var m = new Dictionary<string, object?>(); foreach (var p in e.EnumerateObject()) m[p.Name] = FromJson(p.Value); return m; }

        public static byte[] JsonResponse(JsonElement? id, bool v2, object? result, IReadOnlyList<string>? error)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms))
            {
                w.WriteStartObject();
                if (v2) w.WriteString("jsonrpc", "2.0");
                if (error == null) { w.WritePropertyName("result"); WriteJson(w, result); }
                else if (v2)
                {
                    w.WritePropertyName("error");
                    w.WriteStartObject();
                    w.WriteNumber("code", 1);
                    w.WriteString("message", error[0]);
                    w.WritePropertyName("data");
                    w.WriteStartArray();
                    for (int i = 1; i < error.Count; i++) w.WriteStringValue(error[i]);
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                else
                {
                    w.WriteNull("result");
                    w.WritePropertyName("error");
                    w.WriteStartArray();
                    foreach (var s in error) w.WriteStringValue(s);
                    w.WriteEndArray();
                }
                w.WritePropertyName("id");
                if (id.HasValue) id.Value.WriteTo(w); else w.WriteNullValue();
                w.WriteEndObject();
            }
            return ms.ToArray();
        }

        public static void WriteJson(Utf8JsonWriter w, object? v)
        {
            switch (v)
            {
                case null: w.WriteStringValue(""); break; // void is an empty string on the wire
                case string s: w.WriteStringValue(s); break;
                case bool b: w.WriteBooleanValue(b); break;
                case long l: w.WriteNumberValue(l); break;
                case int i: w.WriteNumberValue(i); break;
                case double d:
                    if (double.IsFinite(d)) w.WriteNumberValue(d); else w.WriteStringValue(d > 0 ? "+Infinity" : d < 0 ? "-Infinity" : "NaN");
                    break;
                case IDictionary<string, object?> m:
                    w.WriteStartObject();
                    foreach (var kv in m) { w.WritePropertyName(kv.Key); WriteJson(w, kv.Value); }
                    w.WriteEndObject();
                    break;
                case System.Collections.IEnumerable e:
                    w.WriteStartArray();
                    foreach (var x in e) WriteJson(w, x);
                    w.WriteEndArray();
                    break;
                default: w.WriteStringValue(v.ToString()); break;
            }
        }

        // ---- XML-RPC ----
        public static (string Method, List<object?> Params) ParseXmlRequest(byte[] body)
        {
            var doc = new XmlDocument { XmlResolver = null };
            doc.LoadXml(Encoding.UTF8.GetString(body));
            string method = doc.SelectSingleNode("/methodCall/methodName")?.InnerText.Trim() ?? "";
            var ps = new List<object?>();
            foreach (XmlNode n in doc.SelectNodes("/methodCall/params/param/value")!) ps.Add(FromXml((XmlElement)n));
            return (method, ps);
        }

        public static object? FromXml(XmlElement value)
        {
            XmlElement? t = null;
            foreach (XmlNode n in value.ChildNodes) if (n is XmlElement e) { t = e; break; }
            if (t == null) return value.InnerText;
            switch (t.Name)
            {
                case "string": return t.InnerText;
                case "boolean": return t.InnerText.Trim() == "1";
                case "int": case "i4": case "i8": return long.Parse(t.InnerText.Trim(), CultureInfo.InvariantCulture);
                case "double": return double.Parse(t.InnerText.Trim(), CultureInfo.InvariantCulture);
                case "array":
                    var l = new List<object?>();
                    foreach (XmlNode n in t.SelectNodes("data/value")!) l.Add(FromXml((XmlElement)n));
                    return l;
                case "struct":
                    var m = new Dictionary<string, object?>();
                    foreach (XmlNode n in t.SelectNodes("member")!)
                        m[n.SelectSingleNode("name")!.InnerText] = FromXml((XmlElement)n.SelectSingleNode("value")!);
                    return m;
                default: return t.InnerText;
            }
        }

        /// <summary>XAPI's XML-RPC reply: a struct {Status: Success, Value} or {Status: Failure, ErrorDescription: [..]}. Ints travel as strings.</summary>
        public static byte[] XmlResponse(object? result, IReadOnlyList<string>? error)
        {
            var sb = new StringBuilder("<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>");
            if (error == null)
            {
                sb.Append("<member><name>Status</name><value>Success</value></member><member><name>Value</name>");
                WriteXml(sb, result);
                sb.Append("</member>");
            }
            else
            {
                sb.Append("<member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>");
                foreach (var s in error) sb.Append("<value>").Append(SecurityElement.Escape(s)).Append("</value>");
                sb.Append("</data></array></value></member>");
            }
            sb.Append("</struct></value></param></params></methodResponse>");
            return Encoding.UTF8.GetBytes(sb.ToString());
        }

        public static void WriteXml(StringBuilder sb, object? v)
        {
            sb.Append("<value>");
            switch (v)
            {
                case null: break;
                case string s: sb.Append(SecurityElement.Escape(s)); break;
                case bool b: sb.Append("<boolean>").Append(b ? "1" : "0").Append("</boolean>"); break;
                case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
                case int i: sb.Append(i.ToString(CultureInfo.InvariantCulture)); break;
                case double d: sb.Append("<double>").Append(d.ToString("R", CultureInfo.InvariantCulture)).Append("</double>"); break;
                case IDictionary<string, object?> m:
                    sb.Append("<struct>");
                    foreach (var kv in m) { sb.Append("<member><name>").Append(SecurityElement.Escape(kv.Key)).Append("</name>"); WriteXml(sb, kv.Value); sb.Append("</member>"); }
                    sb.Append("</struct>");
                    break;
                case System.Collections.IEnumerable e:
                    sb.Append("<array><data>");
                    foreach (var x in e) WriteXml(sb, x);
                    sb.Append("</data></array>");
                    break;
                default: sb.Append(SecurityElement.Escape(v.ToString())); break;
            }
            sb.Append("</value>");
        }
    }
}
