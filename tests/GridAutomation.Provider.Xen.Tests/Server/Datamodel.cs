using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;

namespace GridAutomation.Provider.Xen.Tests.Server
{
    /// <summary>The XenAPI datamodel (xen-api doc/data/xenapi.json): classes, their fields' types, messages and enums.</summary>
    public sealed class Datamodel
    {
        public sealed class ClassInfo
        {
            public string Name = "";
            public Dictionary<string, string> Fields = new Dictionary<string, string>(StringComparer.Ordinal);
            public List<string> Messages = new List<string>();
            public Dictionary<string, List<string>> Enums = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        }

        public Dictionary<string, ClassInfo> Classes { get; } = new Dictionary<string, ClassInfo>(StringComparer.OrdinalIgnoreCase);

        private static readonly Dictionary<string, Datamodel> Cache = new Dictionary<string, Datamodel>();

        public static Datamodel Load(string path)
        {
            lock (Cache)
            {
                if (Cache.TryGetValue(path, out var m)) return m;
                m = new Datamodel();
                using var doc = JsonDocument.Parse(File.ReadAllText(path));
                foreach (var c in doc.RootElement.EnumerateArray())
                {
                    var ci = new ClassInfo { Name = c.GetProperty("name").GetString()! };
                    foreach (var f in c.GetProperty("fields").EnumerateArray())
                        ci.Fields[f.GetProperty("name").GetString()!] = f.GetProperty("type").GetString()!;
                    foreach (var msg in c.GetProperty("messages").EnumerateArray()) ci.Messages.Add(msg.GetProperty("name").GetString()!);
                    foreach (var e in c.GetProperty("enums").EnumerateArray())
                        ci.Enums[e.GetProperty("name").GetString()!] = e.GetProperty("values").EnumerateArray().Select(v => v.GetProperty("name").GetString()!).ToList();
                    m.Classes[ci.Name] = ci;
                }
                Cache[path] = m;
                return m;
            }
        }

        public string? CanonicalClass(string name) => Classes.TryGetValue(name, out var c) ? c.Name : null;

        /// <summary>The default value of a field of this type (what a dump that lacks the field would mean).</summary>
        public static object? Default(string type)
        {
            type = type.Trim();
            if (type.EndsWith(" map", StringComparison.Ordinal)) return new Dictionary<string, object?>(StringComparer.Ordinal);
            if (type.EndsWith(" set", StringComparison.Ordinal)) return new List<object?>();
            if (type.EndsWith(" ref", StringComparison.Ordinal)) return "OpaqueRef:NULL";
            return type switch
            {
                "int" => 0L,
                "float" => 0.0,
                "bool" => false,
                "datetime" => "19700101T00:00:00Z",
                _ => "",
            };
        }

        /// <summary>Converts a parsed dump value (string, or S-expression lists) to the field's wire type.</summary>
        public static object? Convert(string type, object? raw)
        {
            type = type.Trim();
            if (type.EndsWith(" map", StringComparison.Ordinal))
            {
                // "(k -> v) map"
                string inner = type.Substring(0, type.Length - 4).Trim().TrimStart('(').TrimEnd(')');
                int arrow = inner.IndexOf("->", StringComparison.Ordinal);
                string vt = arrow >= 0 ? inner.Substring(arrow + 2).Trim() : "string";
                var map = new Dictionary<string, object?>(StringComparer.Ordinal);
                if (raw is List<object?> pairs)
                    foreach (var p in pairs)
                        if (p is List<object?> kv && kv.Count == 2) map[kv[0] as string ?? ""] = Convert(vt, kv[1]);
                return map;
            }
            if (type.EndsWith(" set", StringComparison.Ordinal))
            {
                string et = type.Substring(0, type.Length - 4);
                var list = new List<object?>();
                if (raw is List<object?> items) foreach (var i in items) list.Add(Convert(et, i));
                return list;
            }
            string s = raw as string ?? "";
            switch (type)
            {
                case "int": return long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : 0L;
                case "float": return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : 0.0;
                case "bool": return s == "true" || s == "1";
                default: return s;
            }
        }
    }
}
