using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Amazon;
using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.Runtime.Credentials;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;

namespace GridAutomation.Providers.Aws
{
    /// <summary>
    /// One EC2 account + region. Every SDK call goes through <see cref="CallAsync{T}"/>, which maps failures to
    /// GridException. The SDK does not retry (MaxErrorRetry = 0): throttling and transient failures surface as
    /// Throttled/Unavailable and the engine's one retry policy retries them, so <see cref="HandlesOwnRetries"/> is false.
    /// </summary>
    public sealed partial class AwsConnection : IGridConnection
    {
        private readonly AmazonEC2Client _client;
        private readonly string _region;
        private readonly IReadOnlyList<string> _scrub;
        private readonly Action<string> _verbose;
        private readonly IRetryPolicy? _retry;
        private readonly ConcurrentDictionary<string, InstanceTypeInfo?> _types = new ConcurrentDictionary<string, InstanceTypeInfo?>(StringComparer.Ordinal);
        private IReadOnlyList<InstanceTypeInfo>? _catalogue;
        private DateTime _catalogueAt;
        private readonly SemaphoreSlim _catalogueGate = new SemaphoreSlim(1, 1);
        private int _disposed;

        /// <summary>Longest delay between two state polls while waiting; polls start at 0.5 s and double up to it (tests shorten it).</summary>
        internal TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);
        private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(500);

        private TimeSpan PollDelay(int attempt)
        {
            double ms = FirstPoll.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 10));
            return TimeSpan.FromMilliseconds(Math.Min(ms, PollInterval.TotalMilliseconds));
        }
        /// <summary>Longest wait for a state change before giving up.</summary>
        internal TimeSpan WaitTimeout { get; set; } = TimeSpan.FromMinutes(30);
        /// <summary>How long a freshly launched instance may still be unknown to DescribeInstances (EC2 is eventually consistent).</summary>
        internal TimeSpan LaunchVisibilityGrace { get; set; } = TimeSpan.FromMinutes(2);
        /// <summary>How long the instance type catalogue is cached.</summary>
        internal TimeSpan CatalogueTtl { get; set; } = TimeSpan.FromHours(6);
        /// <summary>What the credential resolution chose ("Credential", "Profile:&lt;name&gt;", "DefaultChain"). Never a secret.</summary>
        public string CredentialSource { get; }
        /// <summary>The SDK client (read-only use: tests inspect its configuration).</summary>
        internal AmazonEC2Client Client => _client;

        private AwsConnection(GridDatacenter datacenter, AmazonEC2Client client, string region, string endpoint, string credentialSource, IReadOnlyList<string> scrub, Action<string> verbose, IRetryPolicy? retry, AWSCredentials credentials, string? s3Endpoint)
        {
            Datacenter = datacenter; _client = client; _region = region; Endpoint = endpoint;
            CredentialSource = credentialSource; _scrub = scrub; _verbose = verbose; _retry = retry;
            _credentials = credentials; _s3Endpoint = s3Endpoint;
        }

        public GridDatacenter Datacenter { get; }
        public GridCapabilities Capabilities => AwsProvider.AllCapabilities;
        public string Endpoint { get; }
        public bool HandlesOwnRetries => false;

        // ---- connect -------------------------------------------------------------------------------------------

        internal static async Task<AwsConnection> CreateAsync(ProviderConnectRequest request, CancellationToken ct)
        {
            var dc = request.Datacenter ?? throw GridException.InvalidRequest("The connection request has no datacenter.", "AwsConnectRequestMissing");
            Action<string> verbose = request.Services?.Verbose ?? (_ => { });
            string? region = request.GetSetting("Region")?.Trim();
            if (string.IsNullOrEmpty(region))
                throw GridException.InvalidRequest("-Region is required for an Aws datacenter (e.g. -Region eu-west-1).", "AwsRegionRequired", dc.Name);
            string? endpointOverride = request.GetSetting("Endpoint")?.Trim();
            string? profile = request.GetSetting("ProfileName")?.Trim();
            string? profileLocation = request.GetSetting("ProfileLocation")?.Trim();

            var config = new AmazonEC2Config
            {
                MaxErrorRetry = 0,              // one retry layer: the engine's (see class comment)
                RetryMode = RequestRetryMode.Standard,
                Timeout = TimeSpan.FromSeconds(100),
            };
            if (!string.IsNullOrEmpty(endpointOverride))
            {
                if (!Uri.TryCreate(endpointOverride, UriKind.Absolute, out var u) || (u.Scheme != "https" && u.Scheme != "http"))
                    throw GridException.InvalidRequest($"-Endpoint '{endpointOverride}' is not an http(s) URL.", "AwsEndpointInvalid", dc.Name);
                config.ServiceURL = endpointOverride;
                config.AuthenticationRegion = region;
            }
            else
            {
                config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
            }

            var scrub = new List<string>();
            AWSCredentials? credentials;
            string source;
            var cred = request.GetCredential("Credential");
            if (cred != null)
            {
                if (string.IsNullOrEmpty(cred.UserName) || string.IsNullOrEmpty(cred.Password))
                    throw new GridException(GridErrorKind.Unauthorized, "-Credential needs the access key id as user name and the secret access key as password.", AwsErrors.CredentialsNotFound) { Target = dc.Name };
                scrub.Add(cred.Password); scrub.Add(cred.UserName);
                credentials = new BasicAWSCredentials(cred.UserName, cred.Password);
                source = "Credential";
            }
            else if (!string.IsNullOrEmpty(profile))
            {
                var chain = string.IsNullOrEmpty(profileLocation) ? new CredentialProfileStoreChain() : new CredentialProfileStoreChain(profileLocation);
                bool found;
                try { found = chain.TryGetAWSCredentials(profile, out credentials); }
                catch (Exception ex) { throw new GridException(GridErrorKind.Unauthorized, $"The AWS profile '{profile}' could not be used: {AwsErrors.Scrub(ex.Message, null)}", AwsErrors.CredentialsNotFound) { Target = dc.Name, NativeCode = ex.GetType().Name }; }
                if (!found || credentials == null)
                    throw new GridException(GridErrorKind.Unauthorized, $"No AWS profile named '{profile}' was found in the shared credentials/config files{(string.IsNullOrEmpty(profileLocation) ? "" : " at '" + profileLocation + "'")}.", AwsErrors.CredentialsNotFound) { Target = dc.Name, NativeCode = "ProfileNotFound" };
                source = "Profile:" + profile;
            }
            else
            {
                credentials = null; // resolved from the SDK default chain in ValidateAsync
                source = "DefaultChain";
            }

            string endpointText = !string.IsNullOrEmpty(endpointOverride) ? endpointOverride!
                : "https://ec2." + region + (region!.StartsWith("cn-", StringComparison.Ordinal) ? ".amazonaws.com.cn" : ".amazonaws.com");
            dc.Endpoint = endpointText;

            AmazonEC2Client client;
            if (credentials != null) client = new AmazonEC2Client(credentials, config);
            else
            {
                try
                {
                    ct.ThrowIfCancellationRequested();
                    // A resolver of our own for each connect: the SDK's shared one keeps the first credentials it found
                    // for the whole process and looks again only when the key or profile variables change, so container
                    // or instance-role settings that appear later in a session were never seen. Ours reads the chain
                    // as it is now, and Ctrl+C cancels the lookup (metadata endpoints can be slow).
                    AWSCredentials resolved;
                    using (var resolver = new DefaultAWSCredentialsIdentityResolver())
                        resolved = await resolver.ResolveIdentityAsync(config, ct).ConfigureAwait(false);
                    if (resolved == null) throw new AmazonClientException("The SDK default chain found no credentials.");
                    client = new AmazonEC2Client(resolved, config);
                    credentials = resolved;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    throw new GridException(GridErrorKind.Cancelled, "Connecting was cancelled.", AwsErrors.Cancelled) { Target = dc.Name, IsTransient = false };
                }
                catch (Exception ex)
                {
                    throw new GridException(GridErrorKind.Unauthorized,
                        "No AWS credentials: give -Credential or -ProfileName, or set them up for the SDK default chain (environment, shared files, container or instance role). " + AwsErrors.Scrub(ex.Message, null),
                        AwsErrors.CredentialsNotFound) { Target = dc.Name, NativeCode = ex.GetType().Name };
                }
            }
            verbose($"Aws datacenter '{dc.Name}': region {region}, endpoint {endpointText}, credentials from {source}.");
            string? s3Endpoint = request.GetSetting("S3Endpoint")?.Trim();
            if (!string.IsNullOrEmpty(s3Endpoint) && (!Uri.TryCreate(s3Endpoint, UriKind.Absolute, out var s3u) || (s3u.Scheme != "https" && s3u.Scheme != "http")))
                throw GridException.InvalidRequest($"-S3Endpoint '{s3Endpoint}' is not an http(s) URL.", "AwsEndpointInvalid", dc.Name);
            return new AwsConnection(dc, client, region!, endpointText, source, scrub, verbose, request.Services?.Retry, credentials!, string.IsNullOrEmpty(s3Endpoint) ? null : s3Endpoint);
        }

        /// <summary>Checks the endpoint and credentials with one cheap read (DescribeAvailabilityZones).</summary>
        internal async Task ValidateAsync(CancellationToken ct)
        {
            await CallAsync("DescribeAvailabilityZones", Datacenter.Name,
                c => _client.DescribeAvailabilityZonesAsync(new DescribeAvailabilityZonesRequest(), c), ct).ConfigureAwait(false);
        }

        public Task DisconnectAsync(CancellationToken cancellationToken)
        {
            Dispose();
            return Task.CompletedTask;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
            _client.Dispose();
            _s3?.Dispose();
            _iamHttp?.Dispose();
            _ebsHttp?.Dispose();
            _catalogueGate.Dispose();
        }
    }
}
