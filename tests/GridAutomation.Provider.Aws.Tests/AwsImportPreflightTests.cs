using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Moves;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>
    /// What Test-GridMove checks in an AWS account before an import (read-only): the vmimport role through IAM
    /// GetRole (signed by our SigV4, which the loopback IAM re-computes from what arrived), and the import bucket
    /// through s3rver's HeadBucket.
    /// </summary>
    public sealed class AwsImportPreflightTests
    {
        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(1)).Token;
        private static readonly IReadOnlyDictionary<string, string> NoOptions = new Dictionary<string, string>();

        [Fact]
        public void SigV4_MatchesAwsPublishedVector_PostXWwwFormUrlencoded()
        {
            // AWS's Signature Version 4 test suite, "post-x-www-form-urlencoded".
            var headers = new Dictionary<string, string>
            {
                ["Content-Type"] = "application/x-www-form-urlencoded",
                ["Host"] = "example.amazonaws.com",
                ["X-Amz-Date"] = "20150830T123600Z",
            };
            string auth = AwsSigV4.Authorization("POST", new Uri("https://example.amazonaws.com/"), headers, Encoding.UTF8.GetBytes("Param1=value1"),
                "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service", new DateTime(2015, 8, 30, 12, 36, 0, DateTimeKind.Utc));
            Assert.Equal("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a", auth);
        }

        [Fact]
        public async Task RolePresentAndTrustingVmie_NoFinding_SignedForIamInUsEast1()
        {
            using var fake = new FakeEc2();
            using var aws = await TestEnvironment.ConnectAsync(fake.Url, region: "eu-west-1");
            var found = await aws.CheckImportAsync(NoOptions, Ct());
            Assert.Empty(found);
            var scope = Assert.Single(fake.IamScopes);
            Assert.EndsWith("/us-east-1/iam/aws4_request", scope); // IAM is global: the partition's home region
            var get = fake.Server.Requests.Single(r => r.Action == "GetRole");
            Assert.Equal("vmimport", get.Get("RoleName"));
            Assert.DoesNotContain(TestEnvironment.SecretKey, get.Body + get.Authorization);
        }

        [Fact]
        public async Task NoRole_IsAnErrorWithAwsInstructions_AndThePlanCannotMove()
        {
            using var fake = new FakeEc2 { VmImportRole = false };
            using var aws = await TestEnvironment.ConnectAsync(fake.Url);
            var issue = Assert.Single(await aws.CheckImportAsync(NoOptions, Ct()));
            Assert.Equal(MoveSeverity.Error, issue.Severity);
            Assert.Equal("AwsVmImportRoleMissing", issue.Code);
            Assert.Contains(AwsConnection.VmImportRoleHelp, issue.Message);
            Assert.Contains("aws-test", issue.Message);
            var report = new GridMoveReport();
            report.Incompatibilities.Add(issue);
            Assert.False(report.CanMove);
        }

        [Fact]
        public async Task RoleThatDoesNotTrustVmImport_IsAnError()
        {
            using var fake = new FakeEc2 { VmImportTrustPolicy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"ec2.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}" };
            using var aws = await TestEnvironment.ConnectAsync(fake.Url);
            var issue = Assert.Single(await aws.CheckImportAsync(NoOptions, Ct()));
            Assert.Equal(MoveSeverity.Error, issue.Severity);
            Assert.Equal("AwsVmImportRoleMissing", issue.Code);
            Assert.Contains("vmie.amazonaws.com", issue.Message);
        }

        [Fact]
        public async Task NoPermissionToReadRoles_IsOnlyAWarning()
        {
            using var fake = new FakeEc2 { IamAccessDenied = true };
            using var aws = await TestEnvironment.ConnectAsync(fake.Url);
            var issue = Assert.Single(await aws.CheckImportAsync(NoOptions, Ct()));
            Assert.Equal(MoveSeverity.Warning, issue.Severity);
            Assert.Equal("VmImportRoleNotChecked", issue.Code);
            Assert.Contains("iam:GetRole", issue.Message);
        }

        [Fact]
        public async Task WrongSecret_IsRefusedByTheLoopbackIam_SoTheSignatureIsReallyChecked()
        {
            using var fake = new FakeEc2 { IamSecretKey = "another-secret" };
            using var aws = await TestEnvironment.ConnectAsync(fake.Url);
            var issue = Assert.Single(await aws.CheckImportAsync(NoOptions, Ct()));
            Assert.Equal(MoveSeverity.Warning, issue.Severity);
            Assert.Contains("SignatureDoesNotMatch", issue.Message);
        }

        [Fact]
        public async Task IamUnreachable_IsAWarningNamingTheEndpoint()
        {
            using var fake = new FakeEc2();
            int closedPort;
            { var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0); l.Start(); closedPort = ((IPEndPoint)l.LocalEndpoint).Port; l.Stop(); }
            using var aws = await TestEnvironment.ConnectAsync(fake.Url, settings: new Dictionary<string, string> { ["IamEndpoint"] = $"http://127.0.0.1:{closedPort}/" });
            var issue = Assert.Single(await aws.CheckImportAsync(NoOptions, Ct()));
            Assert.Equal(MoveSeverity.Warning, issue.Severity);
            Assert.Equal("VmImportRoleNotChecked", issue.Code);
            Assert.Contains("127.0.0.1:" + closedPort, issue.Message);
        }

        [Fact]
        public async Task ImportBucket_PresentPasses_MissingIsAnError()
        {
            using var s3 = new S3rver();
            using var fake = new FakeEc2 { IamSecretKey = S3rver.SecretKey };
            using var aws = await TestEnvironment.ConnectAsync(fake.Url, settings: new Dictionary<string, string> { ["S3Endpoint"] = s3.Url },
                credential: new NetworkCredential(S3rver.AccessKey, S3rver.SecretKey));
            Assert.Empty(await aws.CheckImportAsync(new Dictionary<string, string> { ["ImportBucket"] = s3.Bucket }, Ct()));
            var issue = Assert.Single(await aws.CheckImportAsync(new Dictionary<string, string> { ["ImportBucket"] = "no-such-bucket-here" }, Ct()));
            Assert.Equal(MoveSeverity.Error, issue.Severity);
            Assert.Equal("AwsImportBucketNotFound", issue.Code);
            Assert.Contains("no-such-bucket-here", issue.Message);
        }
    }
}
