using System;
using System.Collections.Generic;
using System.Globalization;

namespace GridAutomation.Providers.Xen.Xapi
{
    /// <summary>
    /// XAPI values as plain .NET objects, the same whatever the wire: string, long, double, bool,
    /// List&lt;object?&gt; (sets), Dictionary&lt;string, object?&gt; (maps and records), or null.
    /// Readers accept both encodings of a number: a JSON number (JSON-RPC) or a string (XML-RPC sends int64 as strings).
    /// </summary>
    internal static class XapiValue
    {
        public const string NullRef = "OpaqueRef:NULL";

        public static string? Str(IReadOnlyDictionary<string, object?> r, string field)
            => r.TryGetValue(field, out var v) ? AsString(v) : null;

        public static string? AsString(object? v) => v switch
        {
            null => null,
            string s => s,
            bool b => b ? "true" : "false",
            long l => l.ToString(CultureInfo.InvariantCulture),
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            _ => v.ToString(),
        };

        public static long? Long(IReadOnlyDictionary<string, object?> r, string field)
            => r.TryGetValue(field, out var v) ? AsLong(v) : null;

        public static long? AsLong(object? v) => v switch
        {
            long l => l,
            int i => i,
            double d when !double.IsNaN(d) && !double.IsInfinity(d) => (long)d,
            string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
            string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && !double.IsInfinity(d) => (long)d,
            _ => null,
        };

        public static double? AsDouble(object? v)
        {
            switch (v)
            {
                case double d: return d;
                case long l: return l;
                case string s:
                    string t = s.Trim();
                    if (t == "Infinity" || t == "+Infinity" || t == "inf" || t == "+inf") return double.PositiveInfinity;
                    if (t == "-Infinity" || t == "-inf") return double.NegativeInfinity;
                    if (t == "NaN" || t == "nan") return double.NaN;
                    return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) ? x : (double?)null;
                default: return null;
            }
        }

        public static bool Bool(IReadOnlyDictionary<string, object?> r, string field)
            => r.TryGetValue(field, out var v) && AsBool(v);

        public static bool AsBool(object? v) => v switch
        {
            bool b => b,
            string s => s == "1" || string.Equals(s, "true", StringComparison.OrdinalIgnoreCase),
            long l => l != 0,
            _ => false,
        };

        public static IReadOnlyDictionary<string, object?> Map(IReadOnlyDictionary<string, object?> r, string field)
            => r.TryGetValue(field, out var v) && v is Dictionary<string, object?> m ? m : Empty;

        public static IReadOnlyList<object?> Set(IReadOnlyDictionary<string, object?> r, string field)
            => r.TryGetValue(field, out var v) && v is List<object?> l ? l : (IReadOnlyList<object?>)Array.Empty<object?>();

        public static IEnumerable<string> Strings(IReadOnlyDictionary<string, object?> r, string field)
        {
            foreach (var o in Set(r, field)) { var s = AsString(o); if (s != null) yield return s; }
        }

        public static bool IsNullRef(string? reference) => string.IsNullOrEmpty(reference) || reference == NullRef;

        /// <summary>
        /// XAPI dates: "20240420T12:00:00Z", "20240420T12:00:00" (UTC implied), ISO-8601 "2024-04-20T12:00:00Z", or
        /// seconds since the epoch ("1627478400."). Null when none of them; the epoch itself means "never".
        /// </summary>
        public static DateTimeOffset? AsDate(object? v)
        {
            string? s = AsString(v)?.Trim();
            if (string.IsNullOrEmpty(s)) return null;
            var styles = DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal;
            foreach (var f in new[] { "yyyyMMdd'T'HH:mm:ss'Z'", "yyyyMMdd'T'HH:mm:ss", "yyyyMMdd'T'HHmmss'Z'", "yyyyMMdd'T'HH:mm:ss.fff'Z'" })
                if (DateTimeOffset.TryParseExact(s, f, CultureInfo.InvariantCulture, styles, out var d)) return d.Year <= 1970 ? null : d;
            if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var secs) && !double.IsInfinity(secs))
                return secs <= 0 ? (DateTimeOffset?)null : DateTimeOffset.FromUnixTimeMilliseconds((long)(secs * 1000));
            if (DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, styles, out var iso)) return iso.Year <= 1970 ? null : iso;
            return null;
        }

        public static readonly IReadOnlyDictionary<string, object?> Empty = new Dictionary<string, object?>();
    }
}
