using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Aws
{
    /// <summary>
    /// The region's capacity for placement: the EC2 vCPU limit of the account, "Running On-Demand Standard (A, C, D, H,
    /// I, M, R, T, Z) instances" (Service Quotas, service ec2, quota L-1216C47A), against the vCPUs of this region's
    /// running and pending instances of those families. EC2 itself has no vCPU-limit call (DescribeAccountAttributes'
    /// max-instances is documented as no longer reflecting the limits) and no AWSSDK.ServiceQuotas package is served
    /// here, so GetServiceQuota is one JSON 1.1 request signed by <see cref="AwsSigV4"/> (as IAM GetRole is). A refusal or an
    /// unreachable Service Quotas endpoint leaves the region unlimited within agreements (said in verbose output).
    /// </summary>
    public sealed partial class AwsConnection : IQuotaCapacity
    {
        internal const string StandardVcpuQuotaCode = "L-1216C47A";
        private static readonly HttpClient QuotaHttp = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        /// <summary>The families the standard On-Demand vCPU quota counts (an instance type's first letter).</summary>
        private static bool IsStandardFamily(string? instanceType)
            => !string.IsNullOrEmpty(instanceType) && "acdhimrtz".IndexOf(char.ToLowerInvariant(instanceType![0])) >= 0;

        public async Task<IReadOnlyList<GridQuota>> GetQuotasAsync(CancellationToken cancellationToken)
        {
            (double limit, string? name)? quota;
            try { quota = await GetServiceQuotaAsync(cancellationToken).ConfigureAwait(false); }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { throw; }
            catch (Exception ex) when (ex is HttpRequestException || ex is JsonException || ex is GridException || ex is TaskCanceledException)
            {
                _verbose($"AWS: the EC2 vCPU quota ({StandardVcpuQuotaCode}) could not be read, so '{Datacenter.Name}' counts as unlimited within agreements: {AwsErrors.Scrub(ex.Message, _scrub)}");
                return Array.Empty<GridQuota>();
            }
            if (quota == null) return Array.Empty<GridQuota>();
            double used = 0;
            await foreach (var page in ListWorkloadsAsync(new WorkloadQuery(), cancellationToken).ConfigureAwait(false))
                foreach (var w in page)
                    if ((w.State == WorkloadState.Running || w.State == WorkloadState.Starting) && IsStandardFamily(w.Size))
                        used += w.CpuCount ?? 0;
            return new[] { new GridQuota { Name = StandardVcpuQuotaCode, Description = quota.Value.name, Unit = QuotaUnit.Vcpu, Limit = quota.Value.limit, Used = used } };
        }

        /// <summary>Service Quotas GetServiceQuota for ec2/L-1216C47A: the limit and the quota's name; null when no value is given.</summary>
        private async Task<(double limit, string? name)?> GetServiceQuotaAsync(CancellationToken ct)
        {
            string endpoint = Datacenter.Settings.TryGetValue("ServiceQuotasEndpoint", out var e) && !string.IsNullOrWhiteSpace(e) ? e.Trim()
                : $"https://servicequotas.{_region}.amazonaws.com/";
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != "https" && uri.Scheme != "http"))
                throw GridException.InvalidRequest($"-ServiceQuotasEndpoint '{endpoint}' is not an http(s) URL.", "AwsEndpointInvalid", Datacenter.Name);
            string body = "{\"ServiceCode\":\"ec2\",\"QuotaCode\":\"" + StandardVcpuQuotaCode + "\"}";
            var creds = await _credentials.GetCredentialsAsync().ConfigureAwait(false);
            using var req = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
            req.Content.Headers.TryAddWithoutValidation("Content-Type", "application/x-amz-json-1.1");
            string target = "ServiceQuotasV20190624.GetServiceQuota";
            var now = DateTime.UtcNow;
            string host = uri.IsDefaultPort ? uri.Host : uri.Host + ":" + uri.Port;
            var signed = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["content-type"] = "application/x-amz-json-1.1", ["host"] = host, ["x-amz-date"] = AwsSigV4.AmzDate(now), ["x-amz-target"] = target,
            };
            if (creds.UseToken) signed["x-amz-security-token"] = creds.Token;
            req.Headers.TryAddWithoutValidation("Authorization", AwsSigV4.Authorization("POST", uri, signed, Encoding.UTF8.GetBytes(body), creds.AccessKey, creds.SecretKey, _region, "servicequotas", now));
            foreach (var kv in signed)
                if (kv.Key != "content-type" && kv.Key != "host") req.Headers.TryAddWithoutValidation(kv.Key, kv.Value);
            using var resp = await QuotaHttp.SendAsync(req, ct).ConfigureAwait(false);
            string text = await resp.Content.ReadAsStringAsync().ConfigureAwait(false);
            if (!resp.IsSuccessStatusCode)
            {
                string code = "HTTP " + (int)resp.StatusCode;
                try { using var err = JsonDocument.Parse(text); if (err.RootElement.TryGetProperty("__type", out var t)) code = t.GetString() ?? code; } catch (JsonException) { }
                throw new GridException(GridErrorKind.Unavailable, $"Service Quotas GetServiceQuota ({StandardVcpuQuotaCode}) was refused: {code}", "AwsQuotaUnavailable") { Target = Datacenter.Name, NativeCode = code };
            }
            using var doc = JsonDocument.Parse(text);
            if (!doc.RootElement.TryGetProperty("Quota", out var q) || !q.TryGetProperty("Value", out var v) || v.ValueKind != JsonValueKind.Number) return null;
            return (v.GetDouble(), q.TryGetProperty("QuotaName", out var n) ? n.GetString() : null);
        }
    }
}
