using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Security.Cryptography;
using System.Text;

namespace GridAutomation.Providers.Aws
{
    /// <summary>
    /// AWS Signature Version 4 for the few Query-API calls the SDK packages served here do not cover (IAM GetRole:
    /// AWSSDK.IdentityManagement is not available). Header signing only, for a request whose path is "/" or plain
    /// segments and whose parameters are in the body. Proved against AWS's published test vector
    /// (post-x-www-form-urlencoded) in the tests. Never logs: the secret only enters the HMAC.
    /// </summary>
    internal static class AwsSigV4
    {
        internal const string Algorithm = "AWS4-HMAC-SHA256";

        /// <summary>The Authorization header value for a request with these headers (names any case; host and x-amz-date among them).</summary>
        internal static string Authorization(string method, Uri uri, IReadOnlyDictionary<string, string> headers, byte[] body,
            string accessKey, string secretKey, string region, string service, DateTime utc)
        {
            string date = utc.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
            string scope = date + "/" + region + "/" + service + "/aws4_request";
            var canon = headers
                .Select(h => (Name: h.Key.ToLowerInvariant(), Value: CollapseSpaces(h.Value.Trim())))
                .OrderBy(h => h.Name, StringComparer.Ordinal).ToList();
            string signedHeaders = string.Join(";", canon.Select(h => h.Name));
            string path = string.IsNullOrEmpty(uri.AbsolutePath) ? "/" : uri.AbsolutePath;
            var creq = new StringBuilder()
                .Append(method).Append('\n')
                .Append(path).Append('\n')
                .Append(CanonicalQuery(uri.Query)).Append('\n');
            foreach (var h in canon) creq.Append(h.Name).Append(':').Append(h.Value).Append('\n');
            creq.Append('\n').Append(signedHeaders).Append('\n').Append(Hex(Sha256(body)));
            string amzDate = utc.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
            string toSign = Algorithm + "\n" + amzDate + "\n" + scope + "\n" + Hex(Sha256(Encoding.UTF8.GetBytes(creq.ToString())));
            byte[] key = Hmac(Encoding.UTF8.GetBytes("AWS4" + secretKey), date);
            key = Hmac(key, region);
            key = Hmac(key, service);
            key = Hmac(key, "aws4_request");
            string signature = Hex(Hmac(key, toSign));
            return Algorithm + " Credential=" + accessKey + "/" + scope + ", SignedHeaders=" + signedHeaders + ", Signature=" + signature;
        }

        internal static string AmzDate(DateTime utc) => utc.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

        private static string CanonicalQuery(string query)
        {
            if (string.IsNullOrEmpty(query) || query == "?") return "";
            var pairs = query.TrimStart('?').Split('&').Where(p => p.Length > 0).Select(p =>
            {
                int eq = p.IndexOf('=');
                string k = eq < 0 ? p : p.Substring(0, eq), v = eq < 0 ? "" : p.Substring(eq + 1);
                return (K: Uri.EscapeDataString(Uri.UnescapeDataString(k)), V: Uri.EscapeDataString(Uri.UnescapeDataString(v)));
            }).OrderBy(p => p.K, StringComparer.Ordinal).ThenBy(p => p.V, StringComparer.Ordinal);
            return string.Join("&", pairs.Select(p => p.K + "=" + p.V));
        }

        private static string CollapseSpaces(string s)
        {
            var sb = new StringBuilder(s.Length);
            bool space = false;
            foreach (char c in s)
            {
                if (c == ' ') { if (!space) sb.Append(c); space = true; }
                else { sb.Append(c); space = false; }
            }
            return sb.ToString();
        }

        private static byte[] Sha256(byte[] data) { using var sha = SHA256.Create(); return sha.ComputeHash(data); }
        private static byte[] Hmac(byte[] key, string data) { using var h = new HMACSHA256(key); return h.ComputeHash(Encoding.UTF8.GetBytes(data)); }
        private static string Hex(byte[] b)
        {
            var sb = new StringBuilder(b.Length * 2);
            foreach (var x in b) sb.Append(x.ToString("x2", CultureInfo.InvariantCulture));
            return sb.ToString();
        }
    }
}
