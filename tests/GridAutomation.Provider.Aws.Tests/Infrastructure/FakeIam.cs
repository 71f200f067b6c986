using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>
    /// IAM's GetRole on the same loopback server (an emulator serves every Query API at one URL), answering in the
    /// shapes of IAM's API reference (GetRole: GetRoleResponse/GetRoleResult/Role with a URL-encoded
    /// AssumeRolePolicyDocument; errors: ErrorResponse/Error with Type, Code NoSuchEntity (404) or AccessDenied (403)).
    /// It recomputes each request's SigV4 signature from what arrived over the wire, with the test secret, and refuses
    /// a mismatch as IAM does (SignatureDoesNotMatch).
    /// </summary>
    public sealed partial class FakeEc2
    {
        public const string IamApiVersion = "2010-05-08";
        private const string IamNs = "https://iam.amazonaws.com/doc/2010-05-08/";

        /// <summary>The vmimport role's trust policy (AWS's documented one: the VM Import service may assume it).</summary>
        public string VmImportTrustPolicy { get; set; } =
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"vmie.amazonaws.com\"},\"Action\":\"sts:AssumeRole\",\"Condition\":{\"StringEquals\":{\"sts:Externalid\":\"vmimport\"}}}]}";
        /// <summary>When true, GetRole answers AccessDenied (credentials without iam:GetRole).</summary>
        public bool IamAccessDenied { get; set; }
        /// <summary>The secret the signatures are checked with (the tests connect with this one or s3rver's).</summary>
        public string IamSecretKey { get; set; } = TestEnvironment.SecretKey;
        /// <summary>Credential scopes of the IAM requests seen ("date/region/service/aws4_request").</summary>
        public List<string> IamScopes { get; } = new List<string>();

        private Ec2Response HandleIam(Ec2Request r)
        {
            var auth = r.Authorization ?? "";
            var m = System.Text.RegularExpressions.Regex.Match(auth, @"^AWS4-HMAC-SHA256 Credential=([^/]+)/([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$");
            if (!m.Success) return IamError(403, "IncompleteSignature", "Authorization header requires a SigV4 signature.");
            IamScopes.Add(m.Groups[2].Value);
            var scope = m.Groups[2].Value.Split('/');
            var signed = m.Groups[3].Value.Split(';').ToDictionary(h => h, h => h == "host" ? r.Host ?? "" : r.Headers.TryGetValue(h, out var v) ? v : "");
            var when = DateTime.ParseExact(signed.TryGetValue("x-amz-date", out var d) ? d : "", "yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal);
            var expected = AwsSigV4.Authorization(r.Method, new Uri("http://" + r.Host + r.Path), signed, Encoding.UTF8.GetBytes(r.Body),
                m.Groups[1].Value, IamSecretKey, scope[1], scope[2], when);
            if (expected != auth)
                return IamError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.");
            if (scope[2] != "iam") return IamError(403, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'iam'.");
            if (r.Action != "GetRole") return IamError(400, "InvalidAction", "Could not find operation " + r.Action + " for version " + IamApiVersion + ".");
            if (IamAccessDenied)
                return IamError(403, "AccessDenied", $"User: arn:aws:iam::123456789012:user/grid is not authorized to perform: iam:GetRole on resource: role {r.Get("RoleName")}");
            var name = r.Get("RoleName") ?? "";
            if (name != "vmimport" || !VmImportRole)
                return IamError(404, "NoSuchEntity", $"The role with name {name} cannot be found.");
            var xml = "<GetRoleResponse xmlns=\"" + IamNs + "\"><GetRoleResult><Role><Path>/</Path>" +
                      "<AssumeRolePolicyDocument>" + Uri.EscapeDataString(VmImportTrustPolicy) + "</AssumeRolePolicyDocument>" +
                      "<MaxSessionDuration>3600</MaxSessionDuration><RoleId>AROA3XFRBF535PLBIFPI4</RoleId><RoleName>vmimport</RoleName>" +
                      "<Arn>arn:aws:iam::123456789012:role/vmimport</Arn><CreateDate>2026-11-02T10:00:00Z</CreateDate></Role></GetRoleResult>" +
                      "<ResponseMetadata><RequestId>" + Guid.NewGuid() + "</RequestId></ResponseMetadata></GetRoleResponse>";
            return Ec2Response.Ok(xml);
        }

        private static Ec2Response IamError(int status, string code, string message) => new Ec2Response
        {
            Status = status,
            Body = "<ErrorResponse xmlns=\"" + IamNs + "\"><Error><Type>Sender</Type><Code>" + Ec2Response.SecurityElementEscape(code) + "</Code><Message>" +
                   Ec2Response.SecurityElementEscape(message) + "</Message></Error><RequestId>" + Guid.NewGuid() + "</RequestId></ErrorResponse>",
        };
    }
}
