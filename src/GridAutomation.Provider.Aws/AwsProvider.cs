using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Aws
{
    /// <summary>
    /// Amazon EC2 behind the resource model (AWSSDK.EC2). One datacenter = one account + one region; the region's
    /// availability zones are its hosts.
    /// </summary>
    public sealed class AwsProvider : IGridProvider
    {
        public const string ProviderName = "Aws";

        /// <summary>What every EC2 datacenter can do. Suspend is EC2 hibernation (instances launched with hibernation configured).</summary>
        public const GridCapabilities AllCapabilities =
            GridCapabilities.Create | GridCapabilities.Start | GridCapabilities.Stop | GridCapabilities.TurnOff |
            GridCapabilities.Restart | GridCapabilities.Suspend | GridCapabilities.Remove | GridCapabilities.RemoveStorage |
            GridCapabilities.Resize | GridCapabilities.Tags | GridCapabilities.DuplicateNames;

        private static readonly ProviderParameter[] Parameters =
        {
            new ProviderParameter("Region", ProviderParameterKind.String, "AWS region system name, e.g. eu-west-1. One datacenter is one account and region.")
            {
                Mandatory = true,
                ValidValues = new[]
                {
                    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-south-1", "ap-south-2",
                    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
                    "ap-southeast-4", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2",
                    "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2", "il-central-1", "me-central-1", "me-south-1",
                    "mx-central-1", "sa-east-1", "us-gov-east-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1",
                },
                Restricted = false,
            },
            new ProviderParameter("Credential", ProviderParameterKind.Credential, "Access key id as the user name and secret access key as the password. Takes precedence over -ProfileName and the SDK default chain."),
            new ProviderParameter("ProfileName", ProviderParameterKind.String, "Profile of the shared AWS credentials/config files (static keys, assume-role, SSO, credential_process). Used when -Credential is not given."),
            new ProviderParameter("ProfileLocation", ProviderParameterKind.String, "Path of the shared credentials file to read -ProfileName from (default: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials), as in AWS.Tools."),
            new ProviderParameter("Endpoint", ProviderParameterKind.String, "EC2 service URL override (GovCloud, China, VPC endpoint, local emulator). The request is still signed for -Region."),
            new ProviderParameter("S3Endpoint", ProviderParameterKind.String, "S3 service URL override for disk moves (the image is uploaded to S3 before ImportSnapshot): VPC endpoint or a local S3 emulator; path-style addressing."),
            new ProviderParameter("IamEndpoint", ProviderParameterKind.String, "IAM service URL override, read only by Test-GridMove to check the vmimport role (default: the -Endpoint override if given, else the partition's global IAM endpoint)."),
            new ProviderParameter("EbsEndpoint", ProviderParameterKind.String, "EBS direct APIs URL override (VPC endpoint, local stand-in): recovery points of a running instance read their snapshot's blocks there (default https://ebs.<region>.amazonaws.com/)."),
            new ProviderParameter("ServiceQuotasEndpoint", ProviderParameterKind.String, "Service Quotas URL override (VPC endpoint, local emulator): placement reads the EC2 vCPU quota L-1216C47A there (default https://servicequotas.<region>.amazonaws.com/)."),
        };

        public string Name => ProviderName;
        public string Description => "Amazon EC2 instances of one AWS account and region (AWSSDK.EC2); availability zones are the hosts.";
        public GridCapabilities Capabilities => AllCapabilities;
        public IReadOnlyList<ProviderParameter> ConnectionParameters => Parameters;

        public bool IsAvailable(out string? reason) { reason = null; return true; }

        public async Task<IGridConnection> ConnectAsync(ProviderConnectRequest request, CancellationToken cancellationToken)
        {
            if (request == null) throw GridException.InvalidRequest("No connection request was given.", "AwsConnectRequestMissing");
            var connection = await AwsConnection.CreateAsync(request, cancellationToken).ConfigureAwait(false);
            try
            {
                await connection.ValidateAsync(cancellationToken).ConfigureAwait(false);
                return connection;
            }
            catch
            {
                connection.Dispose();
                throw;
            }
        }
    }
}
