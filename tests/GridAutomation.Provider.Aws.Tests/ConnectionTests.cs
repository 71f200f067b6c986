using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>Connection parameters, credential order, error mapping and secret hygiene — all over loopback HTTP with the real SDK.</summary>
    public sealed class ConnectionTests
    {
        private static readonly CancellationToken Ct = CancellationToken.None;

        private static string ZonesXml => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DescribeAvailabilityZonesResponse xmlns=\"" + FakeEc2.Ns +
            "\"><requestId>1</requestId><availabilityZoneInfo><item><zoneName>us-east-1a</zoneName><zoneState>available</zoneState><regionName>us-east-1</regionName><messageSet/></item></availabilityZoneInfo></DescribeAvailabilityZonesResponse>";

        private static string AccessKeyOf(Ec2Request r)
        {
            // "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/ec2/aws4_request, SignedHeaders=..., Signature=..."
            var cred = r.Authorization!.Split(' ', ',').First(p => p.StartsWith("Credential=", StringComparison.Ordinal)).Substring("Credential=".Length);
            return cred.Split('/')[0];
        }

        [Fact]
        public void Provider_IsDiscoverable_AndDeclaresItsParameters()
        {
            Assert.Contains(typeof(AwsProvider).GetInterfaces(), i => i == typeof(IGridProvider));
            Assert.NotNull(typeof(AwsProvider).GetConstructor(Type.EmptyTypes));
            Assert.Equal("GridAutomation.Provider.Aws", typeof(AwsProvider).Assembly.GetName().Name);
            var p = new AwsProvider();
            Assert.Equal("Aws", p.Name);
            Assert.True(p.IsAvailable(out _));
            var names = p.ConnectionParameters.ToDictionary(x => x.Name);
            Assert.True(names["Region"].Mandatory);
            Assert.Equal(ProviderParameterKind.Credential, names["Credential"].Kind);
            Assert.True(names["Credential"].IsSecret);
            Assert.Equal(ProviderParameterKind.String, names["ProfileName"].Kind);
            Assert.Equal(ProviderParameterKind.String, names["Endpoint"].Kind);
            Assert.False(p.Capabilities.HasFlag(GridCapabilities.Move));
            Assert.True(p.Capabilities.HasFlag(GridCapabilities.Suspend));
        }

        [Fact]
        public void AssumeRoleAndSsoAssemblies_ShipBesideTheProvider()
        {
            // Profiles with role_arn / sso_* make AWSSDK.Core load these by name at run time.
            string dir = Path.GetDirectoryName(typeof(AwsProvider).Assembly.Location)!;
            foreach (var asm in new[] { "AWSSDK.Core", "AWSSDK.EC2", "AWSSDK.SecurityToken", "AWSSDK.SSO", "AWSSDK.SSOOIDC" })
                Assert.True(File.Exists(Path.Combine(dir, asm + ".dll")), asm + " missing in " + dir);
            var core = System.Reflection.AssemblyName.GetAssemblyName(Path.Combine(dir, "AWSSDK.Core.dll"));
            Assert.Equal(4, core.Version!.Major);
        }

        [Fact]
        public async Task Credential_SignsWithTheAccessKey_AndEndpointIsUsed()
        {
            Assert.Equal("true", Environment.GetEnvironmentVariable("AWS_EC2_METADATA_DISABLED"));
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url, region: "eu-west-1");
            Assert.Equal("Credential", c.CredentialSource);
            Assert.Equal(fake.Url, c.Endpoint);
            Assert.Equal(fake.Url, c.Datacenter.Endpoint);
            var first = fake.Server.Requests.First();
            Assert.Equal("DescribeAvailabilityZones", first.Action); // connect validates with one cheap read
            Assert.Equal(TestEnvironment.AccessKey, AccessKeyOf(first));
            Assert.Contains("/eu-west-1/ec2/aws4_request", first.Authorization); // signed for the region, not the URL
            Assert.DoesNotContain(TestEnvironment.SecretKey, first.Authorization);
        }

        [Fact]
        public async Task Profile_FromSharedCredentialsFile_AndCredentialWins()
        {
            string dir = Path.Combine(Path.GetTempPath(), "ga-aws-profile-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            try
            {
                string file = Path.Combine(dir, "credentials");
                File.WriteAllText(file, "[grid]\naws_access_key_id = AKIDPROFILEEXAMPLE01\naws_secret_access_key = profileSecretExample0123456789\n");
                using var fake = new FakeEc2();
                var settings = new Dictionary<string, string> { ["ProfileName"] = "grid", ["ProfileLocation"] = file };
                using (var c = await TestEnvironment.ConnectAsync(fake.Url, settings: settings, credentials: false))
                {
                    Assert.Equal("Profile:grid", c.CredentialSource);
                    Assert.Equal("AKIDPROFILEEXAMPLE01", AccessKeyOf(fake.Server.Requests.Last()));
                }
                using (var c = await TestEnvironment.ConnectAsync(fake.Url, settings: settings, credentials: true))
                {
                    Assert.Equal("Credential", c.CredentialSource); // -Credential first
                    Assert.Equal(TestEnvironment.AccessKey, AccessKeyOf(fake.Server.Requests.Last()));
                }
                settings["ProfileName"] = "nope";
                var ex = await Assert.ThrowsAsync<GridException>(() => TestEnvironment.ConnectAsync(fake.Url, settings: settings, credentials: false));
                Assert.Equal(GridErrorKind.Unauthorized, ex.Kind);
                Assert.Equal("AwsCredentialsNotFound", ex.ErrorId);
                Assert.Contains("'nope'", ex.Message);
            }
            finally { Directory.Delete(dir, true); }
        }

        [Fact]
        public async Task DefaultChain_NoCredentials_IsUnauthorized_ThenContainerEndpoint_ThenInstanceRole_OnLoopback()
        {
            using var fake = new FakeEc2();
            var ex = await Assert.ThrowsAsync<GridException>(() => TestEnvironment.ConnectAsync(fake.Url, credentials: false));
            Assert.Equal(GridErrorKind.Unauthorized, ex.Kind);
            Assert.Equal("AwsCredentialsNotFound", ex.ErrorId);
            Assert.Empty(fake.Server.Requests); // refused before any call

            // The container-credentials path of the default chain, pointed at a loopback endpoint of ours.
            using var creds = new LoopbackEc2Server(_ => new Ec2Response
            {
                Body = "{\"AccessKeyId\":\"ASIACONTAINEREXAMPLE\",\"SecretAccessKey\":\"containerSecretExample0123456789\",\"Token\":\"containerSessionTokenExample\",\"Expiration\":\"" +
                       DateTime.UtcNow.AddHours(6).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'") + "\",\"RoleArn\":\"arn:aws:iam::111122223333:role/test\"}",
            });
            Environment.SetEnvironmentVariable("AWS_CONTAINER_CREDENTIALS_FULL_URI", creds.Url + "creds");
            try
            {
                using var c = await TestEnvironment.ConnectAsync(fake.Url, credentials: false);
                Assert.Equal("DefaultChain", c.CredentialSource);
                var r = fake.Server.Requests.Last();
                Assert.Equal("ASIACONTAINEREXAMPLE", AccessKeyOf(r));
                Assert.Equal("containerSessionTokenExample", r.Headers["X-Amz-Security-Token"]);
                Assert.NotEmpty(creds.Requests);
            }
            finally { Environment.SetEnvironmentVariable("AWS_CONTAINER_CREDENTIALS_FULL_URI", null); }

            await InstanceRoleFromLoopbackMetadataService();
        }

        /// <summary>
        /// What a script on an EC2 instance (or an Automation hybrid worker there) uses: the instance profile's role
        /// credentials from the metadata service (IMDSv2). The process's loopback metadata service answers (see
        /// TestEnvironment). It runs inside the one test of the default chain because it switches the metadata service
        /// on for the process for a moment; that it follows the container step also proves each connect reads the chain
        /// afresh (the SDK's shared resolver would still hand out the container's credentials).
        /// </summary>
        private static async Task InstanceRoleFromLoopbackMetadataService()
        {
            using var fake = new FakeEc2();
            const string Session = "imds-session-token-example";
            string json = "{\"Code\":\"Success\",\"LastUpdated\":\"" + DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'") + "\",\"Type\":\"AWS-HMAC\"," +
                          "\"AccessKeyId\":\"ASIAINSTANCEROLEEXAMPLE\",\"SecretAccessKey\":\"instanceRoleSecretExample0123456789\"," +
                          "\"Token\":\"instanceRoleSessionTokenExample\",\"Expiration\":\"" + DateTime.UtcNow.AddHours(6).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'") + "\"}";
            var imds = TestEnvironment.MetadataService;
            int before = imds.Requests.Count;
            TestEnvironment.MetadataHandler = r =>
            {
                if (r.Method == "PUT" && r.Path == "/latest/api/token")
                    return r.Headers.ContainsKey("X-aws-ec2-metadata-token-ttl-seconds") ? new Ec2Response { Body = Session } : new Ec2Response { Status = 400 };
                if (!r.Headers.TryGetValue("X-aws-ec2-metadata-token", out var t) || t != Session) return new Ec2Response { Status = 401 };
                if (r.Path.TrimEnd('/') == "/latest/meta-data/iam/security-credentials") return new Ec2Response { Body = "grid-runner-role" };
                if (r.Path == "/latest/meta-data/iam/security-credentials/grid-runner-role") return new Ec2Response { Body = json };
                return new Ec2Response { Status = 404 };
            };
            Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "false");
            try
            {
                using var c = await TestEnvironment.ConnectAsync(fake.Url, credentials: false);
                Assert.Equal("DefaultChain", c.CredentialSource);
                var r = fake.Server.Requests.Last();
                Assert.Equal("ASIAINSTANCEROLEEXAMPLE", AccessKeyOf(r));
                Assert.Equal("instanceRoleSessionTokenExample", r.Headers["X-Amz-Security-Token"]);
                var seen = imds.Requests.Skip(before).ToList();
                Assert.Equal("PUT", seen[0].Method); // IMDSv2: a session token first...
                Assert.Equal("/latest/api/token", seen[0].Path);
                Assert.Contains(seen, q => q.Path == "/latest/meta-data/iam/security-credentials/grid-runner-role");
                Assert.All(seen.Where(q => q.Method == "GET"), q => Assert.Equal(Session, q.Headers["X-aws-ec2-metadata-token"])); // ...then every read with it
            }
            finally
            {
                Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
                TestEnvironment.MetadataHandler = null;
            }
            // Disabled again, a new connect finds nothing (the instance role is not kept for the process by our connect).
            var ex = await Assert.ThrowsAsync<GridException>(() => TestEnvironment.ConnectAsync(fake.Url, credentials: false));
            Assert.Equal("AwsCredentialsNotFound", ex.ErrorId);
        }

        [Fact]
        public async Task NetworkGuard_ObservesTheSdk_AndNothingLeftLoopback()
        {
            using var fake = new FakeEc2();
            using (var c = await TestEnvironment.ConnectAsync(fake.Url)) await c.ListHostsAsync(Ct);
            // The guard sees the SDK's own HttpClient requests (so an empty violation list means something)...
            Assert.Contains(NetworkGuard.Seen, u => u.Port == fake.Server.Port);
            // ...and none of this process's requests so far went anywhere but loopback (no 169.254.169.254).
            Assert.Empty(NetworkGuard.Violations);
            Assert.True(NetworkGuard.IsLoopback(new Uri("http://127.0.0.1:1/")));
            Assert.False(NetworkGuard.IsLoopback(new Uri("http://169.254.169.254/latest/api/token")));
        }

        [Fact]
        public async Task Settings_AreValidated()
        {
            var ex = await Assert.ThrowsAsync<GridException>(() => TestEnvironment.ConnectAsync("http://127.0.0.1:1/", region: ""));
            Assert.Equal("AwsRegionRequired", ex.ErrorId);
            ex = await Assert.ThrowsAsync<GridException>(() => TestEnvironment.ConnectAsync("ftp://127.0.0.1/"));
            Assert.Equal("AwsEndpointInvalid", ex.ErrorId);
            Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
        }

        [Fact]
        public async Task UnreachableEndpoint_IsUnavailable()
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop(); // nothing listens there now
            var ex = await Assert.ThrowsAsync<GridException>(() => TestEnvironment.ConnectAsync("http://127.0.0.1:" + port + "/"));
            Assert.Equal(GridErrorKind.Unavailable, ex.Kind);
            Assert.Equal("AwsUnavailable", ex.ErrorId);
            Assert.True(ex.IsTransient);
        }

        [Theory]
        [InlineData("InvalidInstanceID.NotFound", 400, GridErrorKind.NotFound, "WorkloadNotFound")]
        [InlineData("InvalidInstanceID.Malformed", 400, GridErrorKind.NotFound, "WorkloadNotFound")]
        [InlineData("UnauthorizedOperation", 403, GridErrorKind.PermissionDenied, "AwsPermissionDenied")]
        [InlineData("AuthFailure", 401, GridErrorKind.Unauthorized, "AwsAuthFailure")]
        [InlineData("InsufficientInstanceCapacity", 500, GridErrorKind.ResourceUnavailable, "InsufficientCapacity")]
        [InlineData("InstanceLimitExceeded", 400, GridErrorKind.ResourceUnavailable, "QuotaExceeded")]
        [InlineData("IncorrectInstanceState", 400, GridErrorKind.Conflict, "AwsIncorrectState")]
        [InlineData("RequestLimitExceeded", 503, GridErrorKind.Throttled, "AwsThrottled")]
        [InlineData("Unavailable", 503, GridErrorKind.Unavailable, "AwsUnavailable")]
        [InlineData("InternalError", 500, GridErrorKind.Unavailable, "AwsUnavailable")]
        [InlineData("SomethingNew", 500, GridErrorKind.Unavailable, "AwsUnavailable")]
        [InlineData("InvalidParameterValue", 400, GridErrorKind.InvalidRequest, "AwsInvalidRequest")]
        public async Task ErrorCodes_MapToKinds(string code, int status, GridErrorKind kind, string errorId)
        {
            using var server = new LoopbackEc2Server(r => r.Action == "DescribeAvailabilityZones"
                ? Ec2Response.Ok(ZonesXml)
                : Ec2Response.Error(status, code, "message for " + code));
            using var c = await TestEnvironment.ConnectAsync(server.Url);
            var ex = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync("i-0123456789abcdef0", Ct));
            Assert.Equal(kind, ex.Kind);
            Assert.Equal(errorId, ex.ErrorId);
            Assert.Equal(code, ex.NativeCode);
            Assert.Contains("message for " + code, ex.Message);
            Assert.Equal(kind == GridErrorKind.Throttled || kind == GridErrorKind.Unavailable, ex.IsTransient);
            Assert.Null(ex.InnerException); // no SDK exception leaks out
            Assert.Single(server.RequestsFor("DescribeInstances")); // one HTTP request whatever the error: no SDK retry
        }

        [Theory]
        [InlineData(200, "this is not xml <<<")]
        [InlineData(502, "<html><body>Bad Gateway</body></html>")]
        public async Task NonEc2Responses_AreUnavailable(int status, string body)
        {
            using var server = new LoopbackEc2Server(r => r.Action == "DescribeAvailabilityZones"
                ? Ec2Response.Ok(ZonesXml)
                : new Ec2Response { Status = status, Body = body });
            using var c = await TestEnvironment.ConnectAsync(server.Url);
            var ex = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync("i-0123456789abcdef0", Ct));
            Assert.Equal(GridErrorKind.Unavailable, ex.Kind);
            Assert.Null(ex.InnerException);
            Assert.DoesNotContain("   at ", ex.Message); // no stack trace in the message
        }

        [Fact]
        public async Task Secrets_NeverReachMessages_OrVerboseOutput()
        {
            using var server = new LoopbackEc2Server(r => r.Action == "DescribeAvailabilityZones"
                ? Ec2Response.Ok(ZonesXml)
                : Ec2Response.Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match. Key " + TestEnvironment.AccessKey + " secret " + TestEnvironment.SecretKey));
            var verbose = new List<string>();
            using var c = await TestEnvironment.ConnectAsync(server.Url, verbose: verbose);
            var ex = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync("i-0123456789abcdef0", Ct));
            Assert.Equal(GridErrorKind.Unauthorized, ex.Kind);
            Assert.DoesNotContain(TestEnvironment.SecretKey, ex.ToString());
            Assert.DoesNotContain(TestEnvironment.AccessKey, ex.Message);
            Assert.Contains("***", ex.Message);
            Assert.DoesNotContain(verbose, m => m.Contains(TestEnvironment.SecretKey) || m.Contains(TestEnvironment.AccessKey));
            Assert.DoesNotContain(c.Datacenter.Settings, kv => kv.Value.Contains(TestEnvironment.SecretKey));
        }

        [Fact]
        public async Task Cancellation_IsCancelled()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            using var cts = new CancellationTokenSource();
            cts.Cancel();
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ListHostsAsync(cts.Token));
            Assert.Equal(GridErrorKind.Cancelled, ex.Kind);
        }
    }
}
