using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>
    /// An EC2 region's capacity for placement is the account's standard On-Demand vCPU quota (Service Quotas
    /// L-1216C47A, answered by a loopback JSON 1.1 endpoint) against the vCPUs of its running instances (loopback EC2).
    /// </summary>
    public sealed class AwsQuotaTests : IDisposable
    {
        private const string QuotaName = "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances";
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-aws-quota-" + Guid.NewGuid().ToString("N"));
        private readonly FakeEc2 _fake = new FakeEc2();
        private readonly LoopbackEc2Server _quotas;
        private volatile int _limit = 6;
        private volatile bool _deny;

        public AwsQuotaTests()
        {
            Directory.CreateDirectory(_dir);
            _quotas = new LoopbackEc2Server(ServiceQuotas);
        }

        public void Dispose()
        {
            _quotas.Dispose();
            _fake.Dispose();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        /// <summary>GetServiceQuota as the Service Quotas API answers it (JSON 1.1, X-Amz-Target).</summary>
        private Ec2Response ServiceQuotas(Ec2Request r)
        {
            if (r.Headers.TryGetValue("X-Amz-Target", out var target) && target == "ServiceQuotasV20190624.GetServiceQuota" && r.Body.Contains("\"QuotaCode\":\"L-1216C47A\"") && r.Body.Contains("\"ServiceCode\":\"ec2\""))
            {
                if (_deny) return new Ec2Response { Status = 400, Body = "{\"__type\":\"AccessDeniedException\",\"Message\":\"User is not authorized to perform servicequotas:GetServiceQuota\"}" };
                return new Ec2Response { Body = "{\"Quota\":{\"ServiceCode\":\"ec2\",\"ServiceName\":\"Amazon Elastic Compute Cloud (Amazon EC2)\",\"QuotaArn\":\"arn:aws:servicequotas:us-east-1:123456789012:ec2/L-1216C47A\",\"QuotaCode\":\"L-1216C47A\",\"QuotaName\":\"" + QuotaName + "\",\"Value\":" + _limit.ToString(CultureInfo.InvariantCulture) + ",\"Unit\":\"None\",\"Adjustable\":true,\"GlobalQuota\":false}}" };
            }
            return new Ec2Response { Status = 400, Body = "{\"__type\":\"UnknownOperationException\"}" };
        }

        private sealed class Observer : IEngineObserver
        {
            public List<string> Lines { get; } = new List<string>();
            public void Progress(string target, GridProgress progress) { }
            public void Verbose(string message) { lock (Lines) Lines.Add(message); }
            public void Warning(string message) { lock (Lines) Lines.Add("WARNING: " + message); }
        }

        [Fact]
        public async Task GetQuotas_ReadsTheVcpuLimit_SignedForServiceQuotas_AndCountsRunningStandardInstances()
        {
            _fake.Seed(2); // two running t3.micro: 4 vCPUs
            var conn = await TestEnvironment.ConnectAsync(_fake.Url, settings: new Dictionary<string, string> { ["ServiceQuotasEndpoint"] = _quotas.Url });
            var q = Assert.Single(await ((IQuotaCapacity)conn).GetQuotasAsync(default));
            Assert.Equal(("L-1216C47A", QuotaName, QuotaUnit.Vcpu, 6.0, 4.0), (q.Name, q.Description, q.Unit, q.Limit, q.Used));
            var sent = Assert.Single(_quotas.Requests);
            Assert.Equal("POST", sent.Method);
            Assert.Equal("application/x-amz-json-1.1", sent.Headers["Content-Type"]);
            Assert.Matches(@"^AWS4-HMAC-SHA256 Credential=" + TestEnvironment.AccessKey + @"/\d{8}/us-east-1/servicequotas/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=[0-9a-f]{64}$", sent.Authorization);
            Assert.DoesNotContain(TestEnvironment.SecretKey, string.Join("\n", sent.Headers.Values));
        }

        [Fact]
        public async Task Placement_IntoTheRegion_IsRefusedOrAcceptedByTheVcpuQuota()
        {
            var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(_dir, "state.db"), RetryCount = 1, RetryMaxDelaySeconds = 1, PageSize = 1000, LeaseTimeoutSeconds = 120 }, readOnly: false);
            var obs = new Observer();
            string name = "awsq-" + Guid.NewGuid().ToString("N").Substring(0, 6);
            var settings = new Dictionary<string, string> { ["Region"] = "us-east-1", ["Endpoint"] = _fake.Url, ["ServiceQuotasEndpoint"] = _quotas.Url };
            var secrets = new Dictionary<string, object> { ["Credential"] = new NetworkCredential(TestEnvironment.AccessKey, TestEnvironment.SecretKey) };
            await engine.ConnectDatacenterAsync("Aws", name, "Contoso", "Virginia", settings, secrets, obs, default);
            _fake.Seed(1); // 2 of 6 vCPUs in use
            PlacementRequest Request(params string[] names) => new PlacementRequest
            {
                Datacenters = new[] { name },
                Workloads = names.Select(n => new WorkloadSpec { Name = n, Size = "t3.micro", Image = FakeEc2.ImageId, Owner = "Contoso" }).ToList(),
            };

            var plan = await engine.Grid.PlanAsync(Request("q1", "q2", "q3"), obs, default);
            Assert.Equal(new[] { true, true, false }, plan.Placements.Select(p => p.Fits).ToArray());
            var over = plan.Placements[2];
            Assert.Equal("ProviderQuota", over.Eliminated);
            Assert.Contains($"quota 'L-1216C47A' ({QuotaName}) of '{name}': 6 of 6 vCPUs in use, this needs 2 more", over.Reason);
            var ex = await Assert.ThrowsAsync<GridException>(() => engine.Grid.PlaceAsync(plan, over, null, obs, default));
            Assert.Equal("ProviderQuotaExceeded", ex.ErrorId);

            // Accepted within the quota: the create goes to EC2, and then counts against the next plan.
            var made = await engine.Grid.PlaceAsync(plan, plan.Placements[0], null, obs, default);
            Assert.Equal(WorkloadState.Running, made.State);
            var next = await engine.Grid.PlanAsync(Request("q4", "q5"), obs, default);
            Assert.Equal(new[] { true, false }, next.Placements.Select(p => p.Fits).ToArray());

            // A raised limit accepts both; a refused quota read leaves the region unlimited, and says so.
            _limit = 10;
            Assert.All((await engine.Grid.PlanAsync(Request("q4", "q5"), obs, default)).Placements, p => Assert.True(p.Fits, p.Reason));
            _limit = 2; _deny = true;
            Assert.All((await engine.Grid.PlanAsync(Request("q4", "q5"), obs, default)).Placements, p => Assert.True(p.Fits, p.Reason));
            Assert.Contains(obs.Lines, l => l.Contains("AccessDeniedException") && l.Contains("unlimited within agreements"));
        }
    }
}
