using System;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Providers
{
    /// <summary>
    /// TLS settings of a connection: validated by default, a pinned thumbprint, or no check at all. Shared by the
    /// providers that speak HTTPS themselves (vSphere, Xen) so -SkipCertificateCheck / -ServerCertificateThumbprint
    /// mean the same everywhere.
    /// </summary>
    public sealed class TlsSettings
    {
        public bool SkipCertificateCheck { get; set; }
        /// <summary>SHA-1 or SHA-256 hex of the server certificate, colons/spaces allowed, any case.</summary>
        public string? Thumbprint { get; set; }

        /// <summary>Set when the last handshake met a certificate we did not trust (for the error message).</summary>
        public UntrustedCertificate? LastUntrusted { get; private set; }

        public static string Normalize(string thumbprint)
        {
            var sb = new System.Text.StringBuilder(thumbprint.Length);
            foreach (var c in thumbprint) if (Uri.IsHexDigit(c)) sb.Append(char.ToUpperInvariant(c));
            return sb.ToString();
        }

        public static string Sha1(byte[] raw) { using var h = SHA1.Create(); return Hex(h.ComputeHash(raw)); }
        public static string Sha256(byte[] raw) { using var h = SHA256.Create(); return Hex(h.ComputeHash(raw)); }
        private static string Hex(byte[] b) => BitConverter.ToString(b).Replace("-", "");
        /// <summary>"AA:BB:..." as vCenter shows thumbprints.</summary>
        public static string Colons(string hex)
        {
            var sb = new System.Text.StringBuilder(hex.Length * 3 / 2);
            for (int i = 0; i < hex.Length; i += 2) { if (i > 0) sb.Append(':'); sb.Append(hex, i, Math.Min(2, hex.Length - i)); }
            return sb.ToString();
        }

        public bool Validate(X509Certificate2? cert, SslPolicyErrors errors)
        {
            if (SkipCertificateCheck) return true;
            if (cert == null) return errors == SslPolicyErrors.None;
            if (!string.IsNullOrEmpty(Thumbprint))
            {
                string want = Normalize(Thumbprint!);
                byte[] raw = cert.RawData;
                string s1 = Sha1(raw), s256 = Sha256(raw);
                if (want == s1 || want == s256) return true;
                LastUntrusted = new UntrustedCertificate(cert.Subject, s1, s256, errors, pinnedMismatch: true);
                return false;
            }
            if (errors == SslPolicyErrors.None) return true;
            LastUntrusted = new UntrustedCertificate(cert.Subject, Sha1(cert.RawData), Sha256(cert.RawData), errors, pinnedMismatch: false);
            return false;
        }

        public HttpClientHandler CreateHandler(bool useCookies)
        {
            var h = new HttpClientHandler
            {
                UseCookies = useCookies,
                CookieContainer = new CookieContainer(),
                AllowAutoRedirect = false,
                AutomaticDecompression = DecompressionMethods.GZip | DecompressionMethods.Deflate,
                ServerCertificateCustomValidationCallback = (req, cert, chain, errors) => Validate(cert, errors),
            };
            return h;
        }

        /// <summary>The error for a refused certificate: what to do, and the thumbprints to pin.</summary>
        public GridException CertificateError(string server, Exception? inner)
        {
            var u = LastUntrusted!;
            string what = u.PinnedMismatch
                ? $"The certificate of {server} does not match the pinned -ServerCertificateThumbprint."
                : $"The certificate of {server} is not trusted ({u.Errors}).";
            return new GridException(GridErrorKind.Unauthorized,
                $"{what} Certificate '{u.Subject}', SHA-256 thumbprint {Colons(u.Sha256)}, SHA-1 thumbprint {Colons(u.Sha1)}. " +
                $"If you trust this server, connect again with -ServerCertificateThumbprint {Colons(u.Sha256)} (pins this certificate) " +
                "or -SkipCertificateCheck (no check at all), or install its CA certificate in the trusted store.",
                "CertificateNotTrusted", inner)
            { NativeCode = u.Errors.ToString(), Target = server };
        }
    }

    public sealed class UntrustedCertificate
    {
        public UntrustedCertificate(string subject, string sha1, string sha256, SslPolicyErrors errors, bool pinnedMismatch)
        { Subject = subject; Sha1 = sha1; Sha256 = sha256; Errors = errors; PinnedMismatch = pinnedMismatch; }
        public string Subject { get; }
        public string Sha1 { get; }
        public string Sha256 { get; }
        public SslPolicyErrors Errors { get; }
        public bool PinnedMismatch { get; }
    }
}
