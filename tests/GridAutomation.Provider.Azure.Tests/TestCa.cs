using System;
using System.IO;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// The throwaway CA of the Azure HTTPS tests: a CA valid for two days and a 127.0.0.1/localhost server certificate
    /// signed by it (PFX for Kestrel), and a copy of the system CA bundle with our CA appended, for a child process
    /// started with SSL_CERT_FILE naming it (OpenSSL reads that variable at process start). Not a test class: linked
    /// into the libvirt tests too (their libvirt → Azure → libvirt chain), so no test runs twice.
    /// </summary>
    internal static class TestCa
    {
        public const string SystemBundle = "/etc/ssl/certs/ca-certificates.crt";

        public static void Write(string bundlePath, string pfxPath)
        {
            using var caKey = RSA.Create(2048);
            var caReq = new CertificateRequest("CN=GridAutomation Azure test CA " + Guid.NewGuid().ToString("N").Substring(0, 8), caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
            caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            caReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caReq.PublicKey, false));
            using var ca = caReq.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(2));

            using var key = RSA.Create(2048);
            var req = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            san.AddDnsName("localhost");
            req.CertificateExtensions.Add(san.Build());
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
            req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
            byte[] serial = new byte[12];
            RandomNumberGenerator.Fill(serial);
            serial[0] &= 0x7F;
            using var issued = req.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-30), DateTimeOffset.UtcNow.AddDays(1), serial);
            using var withKey = issued.CopyWithPrivateKey(key);
            File.WriteAllBytes(pfxPath, withKey.Export(X509ContentType.Pfx));

            var pem = new StringBuilder(File.ReadAllText(SystemBundle));
            if (pem.Length > 0 && pem[pem.Length - 1] != '\n') pem.Append('\n');
            pem.Append("-----BEGIN CERTIFICATE-----\n");
            pem.Append(Convert.ToBase64String(ca.RawData, Base64FormattingOptions.InsertLineBreaks).Replace("\r\n", "\n"));
            pem.Append("\n-----END CERTIFICATE-----\n");
            File.WriteAllText(bundlePath, pem.ToString());
        }
    }
}
