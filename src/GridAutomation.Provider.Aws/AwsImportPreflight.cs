using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using System.Xml.Linq;
using Amazon.S3;
using GridAutomation.Core.Moves;

namespace GridAutomation.Providers.Aws
{
    /// <summary>
    /// What an import into this account needs before any byte moves, checked read-only for Test-GridMove (and so
    /// before Move-GridWorkload journals anything): the <c>vmimport</c> service role (IAM GetRole, signed with
    /// <see cref="AwsSigV4"/>: the IAM SDK package is not served here) trusting <c>vmie.amazonaws.com</c>, and the
    /// import bucket (S3 HeadBucket). A check that cannot be made is a Warning; the import still fails clearly.
    /// </summary>
    public sealed partial class AwsConnection : IImportPreflight
    {
        internal const string VmImportRoleName = "vmimport";
        private const string IamVersion = "2010-05-08";
        private static readonly TimeSpan PreflightTimeout = TimeSpan.FromSeconds(20);
        private HttpClient? _iamHttp;
        private readonly object _iamGate = new object();

        /// <summary>The IAM endpoint: -IamEndpoint, else the -Endpoint override (an emulator serves every Query API there), else the partition's global one.</summary>
        internal Uri IamEndpoint
        {
            get
            {
                var set = Datacenter.Settings.TryGetValue("IamEndpoint", out var s) ? s?.Trim() : null;
                if (!string.IsNullOrEmpty(set)) return new Uri(set!);
                var ec2 = Datacenter.Settings.TryGetValue("Endpoint", out var e) ? e?.Trim() : null;
                if (!string.IsNullOrEmpty(ec2)) return new Uri(ec2!);
                if (_region.StartsWith("cn-", StringComparison.Ordinal)) return new Uri("https://iam.cn-north-1.amazonaws.com.cn/");
                if (_region.StartsWith("us-gov-", StringComparison.Ordinal)) return new Uri("https://iam.us-gov.amazonaws.com/");
                return new Uri("https://iam.amazonaws.com/");
            }
        }

        /// <summary>IAM is global: requests are signed for the partition's home region.</summary>
        private string IamSigningRegion
            => _region.StartsWith("cn-", StringComparison.Ordinal) ? "cn-north-1"
             : _region.StartsWith("us-gov-", StringComparison.Ordinal) ? "us-gov-west-1" : "us-east-1";

        public async Task<IReadOnlyList<MoveIncompatibility>> CheckImportAsync(IReadOnlyDictionary<string, string> options, CancellationToken cancellationToken)
        {
            var found = new List<MoveIncompatibility>();
            var role = await CheckVmImportRoleAsync(cancellationToken).ConfigureAwait(false);
            if (role != null) found.Add(role);
            if (options.TryGetValue("ImportBucket", out var bucket) && !string.IsNullOrWhiteSpace(bucket))
            {
                var b = await CheckBucketAsync(bucket.Trim(), cancellationToken).ConfigureAwait(false);
                if (b != null) found.Add(b);
            }
            return found;
        }

        // ---- the vmimport role ---------------------------------------------------------------------------------

        internal async Task<MoveIncompatibility?> CheckVmImportRoleAsync(CancellationToken ct)
        {
            string notChecked(string why) => $"The '{VmImportRoleName}' service role of AWS datacenter '{Datacenter.Name}' could not be checked ({why}); the import fails if it is missing. See {VmImportRoleHelp}.";
            (int Status, string Body) answer;
            try { answer = await IamCallAsync("GetRole", new[] { ("RoleName", VmImportRoleName) }, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
            catch (Exception ex) when (ex is HttpRequestException || ex is OperationCanceledException || ex is System.IO.IOException)
            {
                return new MoveIncompatibility(MoveSeverity.Warning, "VmImportRoleNotChecked", notChecked("IAM at " + IamEndpoint.GetLeftPart(UriPartial.Authority) + " did not answer: " + AwsErrors.Scrub(ex.Message, _scrub)));
            }
            XDocument doc;
            try { doc = XDocument.Parse(answer.Body); }
            catch (System.Xml.XmlException) { return new MoveIncompatibility(MoveSeverity.Warning, "VmImportRoleNotChecked", notChecked($"IAM answered HTTP {answer.Status} with no readable body")); }
            var error = doc.Descendants().FirstOrDefault(x => x.Name.LocalName == "Error");
            if (error != null)
            {
                string code = error.Elements().FirstOrDefault(x => x.Name.LocalName == "Code")?.Value ?? "";
                string msg = AwsErrors.Scrub(error.Elements().FirstOrDefault(x => x.Name.LocalName == "Message")?.Value ?? "", _scrub);
                if (code == "NoSuchEntity")
                    return new MoveIncompatibility(MoveSeverity.Error, "AwsVmImportRoleMissing",
                        $"AWS datacenter '{Datacenter.Name}' has no '{VmImportRoleName}' service role, which VM Import needs to read the image from S3: create it as {VmImportRoleHelp} describes, then test again.");
                return new MoveIncompatibility(MoveSeverity.Warning, "VmImportRoleNotChecked",
                    notChecked(code == "AccessDenied" ? "these credentials may not call iam:GetRole" : code + ": " + msg));
            }
            var policy = doc.Descendants().FirstOrDefault(x => x.Name.LocalName == "AssumeRolePolicyDocument")?.Value;
            if (policy == null)
                return new MoveIncompatibility(MoveSeverity.Warning, "VmImportRoleNotChecked", notChecked($"IAM answered HTTP {answer.Status} without the role's trust policy"));
            string trust = Uri.UnescapeDataString(policy);
            if (trust.IndexOf("vmie.amazonaws.com", StringComparison.OrdinalIgnoreCase) < 0)
                return new MoveIncompatibility(MoveSeverity.Error, "AwsVmImportRoleMissing",
                    $"The '{VmImportRoleName}' role of AWS datacenter '{Datacenter.Name}' does not trust the VM Import service (vmie.amazonaws.com), so imports cannot use it: fix its trust policy as {VmImportRoleHelp} describes.");
            return null;
        }

        /// <summary>One signed IAM Query call (POST, form body); returns the status and body. Never logs the signature or keys.</summary>
        private async Task<(int Status, string Body)> IamCallAsync(string action, IEnumerable<(string Key, string Value)> parameters, CancellationToken ct)
        {
            var creds = await _credentials.GetCredentialsAsync().ConfigureAwait(false);
            var form = new StringBuilder("Action=").Append(Uri.EscapeDataString(action));
            foreach (var (k, v) in parameters) form.Append('&').Append(Uri.EscapeDataString(k)).Append('=').Append(Uri.EscapeDataString(v));
            form.Append("&Version=").Append(IamVersion);
            byte[] body = Encoding.UTF8.GetBytes(form.ToString());
            var uri = IamEndpoint;
            var now = DateTime.UtcNow;
            const string contentType = "application/x-www-form-urlencoded; charset=utf-8";
            var signed = new Dictionary<string, string>
            {
                ["content-type"] = contentType,
                ["host"] = uri.IsDefaultPort ? uri.Host : uri.Host + ":" + uri.Port,
                ["x-amz-date"] = AwsSigV4.AmzDate(now),
            };
            if (creds.UseToken) signed["x-amz-security-token"] = creds.Token;
            string auth = AwsSigV4.Authorization("POST", uri, signed, body, creds.AccessKey, creds.SecretKey, IamSigningRegion, "iam", now);
            using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(body) };
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            request.Headers.TryAddWithoutValidation("X-Amz-Date", signed["x-amz-date"]);
            if (creds.UseToken) request.Headers.TryAddWithoutValidation("X-Amz-Security-Token", creds.Token);
            request.Headers.TryAddWithoutValidation("Authorization", auth);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(PreflightTimeout);
            using var response = await IamHttp.SendAsync(request, timeout.Token).ConfigureAwait(false);
            string text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
            return ((int)response.StatusCode, text);
        }

        private HttpClient IamHttp
        {
            get { lock (_iamGate) return _iamHttp ??= new HttpClient { Timeout = PreflightTimeout }; }
        }

        // ---- the import bucket ---------------------------------------------------------------------------------

        internal async Task<MoveIncompatibility?> CheckBucketAsync(string bucket, CancellationToken ct)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(PreflightTimeout);
                await S3.HeadBucketAsync(new Amazon.S3.Model.HeadBucketRequest { BucketName = bucket }, timeout.Token).ConfigureAwait(false);
                return null;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
            catch (AmazonS3Exception ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound || ex.ErrorCode == "NoSuchBucket")
            {
                return new MoveIncompatibility(MoveSeverity.Error, "AwsImportBucketNotFound",
                    $"The S3 bucket '{bucket}' (ImportBucket) does not exist in region {_region}: create it first (the image passes through it), or give another with -Option @{{ ImportBucket = '...' }}.");
            }
            catch (Exception ex) when (ex is AmazonS3Exception || ex is Amazon.Runtime.AmazonClientException || ex is HttpRequestException || ex is OperationCanceledException)
            {
                return new MoveIncompatibility(MoveSeverity.Warning, "ImportBucketNotChecked",
                    $"The S3 bucket '{bucket}' (ImportBucket) could not be checked ({AwsErrors.Scrub(ex.Message, _scrub)}); the import fails if it is missing.");
            }
        }
    }
}
