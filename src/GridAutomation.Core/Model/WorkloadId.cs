using System;
using System.Text;

namespace GridAutomation.Core.Model
{
    /// <summary>
    /// Builds and parses workload ids "&lt;datacenter&gt;/&lt;native id&gt;". The native id is escaped so the first '/'
    /// always separates: '%' becomes "%25" and '/' becomes "%2F" (Azure resource ids and libvirt paths contain '/').
    /// Datacenter names may not contain '/'.
    /// </summary>
    public static class WorkloadId
    {
        public static string Format(string datacenter, string nativeId)
            => datacenter + "/" + Escape(nativeId);

        public static string Escape(string nativeId)
        {
            if (nativeId.IndexOf('%') < 0 && nativeId.IndexOf('/') < 0) return nativeId;
            var sb = new StringBuilder(nativeId.Length + 8);
            foreach (var c in nativeId)
            {
                if (c == '%') sb.Append("%25");
                else if (c == '/') sb.Append("%2F");
                else sb.Append(c);
            }
            return sb.ToString();
        }

        public static string Unescape(string escaped)
        {
            if (escaped.IndexOf('%') < 0) return escaped;
            var sb = new StringBuilder(escaped.Length);
            for (int i = 0; i < escaped.Length; i++)
            {
                if (escaped[i] == '%' && i + 2 < escaped.Length)
                {
                    string hex = escaped.Substring(i + 1, 2);
                    if (string.Equals(hex, "2F", StringComparison.OrdinalIgnoreCase)) { sb.Append('/'); i += 2; continue; }
                    if (hex == "25") { sb.Append('%'); i += 2; continue; }
                }
                sb.Append(escaped[i]);
            }
            return sb.ToString();
        }

        public static bool TryParse(string id, out string datacenter, out string nativeId)
        {
            datacenter = nativeId = "";
            if (string.IsNullOrEmpty(id)) return false;
            int i = id.IndexOf('/');
            if (i <= 0 || i == id.Length - 1) return false;
            datacenter = id.Substring(0, i);
            nativeId = Unescape(id.Substring(i + 1));
            return true;
        }
    }
}
