using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Xml;

namespace GridAutomation.Provider.Xen.Tests.Server
{
    /// <summary>
    /// Reads an XAPI database dump (ocaml/database/db_xml.ml format, as in ../shared/fixtures/xapi/xenadmin): one
    /// &lt;table name="CLASS"&gt; per class, one &lt;row ref=… field="value"/&gt; per object. Rows are keyed by their
    /// ref attribute (never _ref), field names lose the namespace's double underscore (name__label → name_label), the
    /// %-escapes of xml_spaces.ml are undone, S-expression sets/maps are parsed, and values get the datamodel's types.
    /// </summary>
    public static class DumpLoader
    {
        public sealed class Dump
        {
            public Dictionary<string, string> Manifest { get; } = new Dictionary<string, string>(StringComparer.Ordinal);
            /// <summary>class (datamodel spelling when known) → ref → record.</summary>
            public Dictionary<string, Dictionary<string, Dictionary<string, object?>>> Tables { get; } =
                new Dictionary<string, Dictionary<string, Dictionary<string, object?>>>(StringComparer.OrdinalIgnoreCase);
        }

        public static Dump Load(string path, Datamodel model)
        {
            var dump = new Dump();
            var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null, IgnoreWhitespace = true };
            using var reader = XmlReader.Create(path, settings);
            string? table = null;
            while (reader.Read())
            {
                if (reader.NodeType != XmlNodeType.Element) continue;
                switch (reader.LocalName)
                {
                    case "pair":
                        dump.Manifest[reader.GetAttribute("key") ?? ""] = reader.GetAttribute("value") ?? "";
                        break;
                    case "table":
                        string name = reader.GetAttribute("name") ?? "";
                        table = model.CanonicalClass(name) ?? name;
                        if (!dump.Tables.ContainsKey(table)) dump.Tables[table] = new Dictionary<string, Dictionary<string, object?>>(StringComparer.Ordinal);
                        break;
                    case "row":
                        if (table == null) break;
                        model.Classes.TryGetValue(table, out var ci);
                        var rec = new Dictionary<string, object?>(StringComparer.Ordinal);
                        string? reference = null;
                        if (reader.MoveToFirstAttribute())
                        {
                            do
                            {
                                string attr = reader.LocalName, raw = reader.Value;
                                if (attr == "ref") { reference = raw; continue; }
                                if (attr.StartsWith("_", StringComparison.Ordinal)) continue; // _ref copy, __ctime/__mtime counters
                                string field = attr.Replace("__", "_");
                                string value = Unescape(raw);
                                if (ci != null && ci.Fields.TryGetValue(field, out var type))
                                {
                                    object? parsed = type.EndsWith(" set", StringComparison.Ordinal) || type.EndsWith(" map", StringComparison.Ordinal)
                                        ? ParseSexpr(value) : value;
                                    rec[field] = Datamodel.Convert(type, parsed);
                                }
                                else rec[field] = value;
                            } while (reader.MoveToNextAttribute());
                            reader.MoveToElement();
                        }
                        if (reference == null) break;
                        if (ci != null)
                            foreach (var f in ci.Fields)
                                if (!rec.ContainsKey(f.Key)) rec[f.Key] = Datamodel.Default(f.Value);
                        dump.Tables[table][reference] = rec;
                        break;
                }
            }
            return dump;
        }

        /// <summary>xml_spaces.ml: %_ two spaces (older writers), %. one space, %n %r %t, %% a percent sign.</summary>
        public static string Unescape(string s)
        {
            if (s.IndexOf('%') < 0) return s;
            var sb = new StringBuilder(s.Length);
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                if (c == '%' && i + 1 < s.Length)
                {
                    char n = s[i + 1];
                    string? r = n switch { '_' => "  ", '.' => " ", 'n' => "\n", 'r' => "\r", 't' => "\t", '%' => "%", _ => null };
                    if (r != null) { sb.Append(r); i++; continue; }
                }
                sb.Append(c);
            }
            return sb.ToString();
        }

        /// <summary>('a' 'b') → [a, b]; (('k' 'v') …) → [[k, v], …]; "…" quoting (state.db) too; \ escapes the next char.</summary>
        public static object? ParseSexpr(string s)
        {
            int i = 0;
            SkipWs(s, ref i);
            if (i >= s.Length) return new List<object?>();
            var v = Parse(s, ref i);
            return v;
        }

        private static void SkipWs(string s, ref int i) { while (i < s.Length && char.IsWhiteSpace(s[i])) i++; }

        private static object? Parse(string s, ref int i)
        {
            SkipWs(s, ref i);
            if (i >= s.Length) return null;
            char c = s[i];
            if (c == '(')
            {
                i++;
                var list = new List<object?>();
                while (true)
                {
                    SkipWs(s, ref i);
                    if (i >= s.Length) return list;
                    if (s[i] == ')') { i++; return list; }
                    list.Add(Parse(s, ref i));
                }
            }
            if (c == '\'' || c == '"')
            {
                char q = c; i++;
                var sb = new StringBuilder();
                while (i < s.Length && s[i] != q)
                {
                    if (s[i] == '\\' && i + 1 < s.Length) i++;
                    sb.Append(s[i]); i++;
                }
                i++;
                return sb.ToString();
            }
            int start = i;
            while (i < s.Length && !char.IsWhiteSpace(s[i]) && s[i] != '(' && s[i] != ')') i++;
            return s.Substring(start, i - start);
        }
    }
}
