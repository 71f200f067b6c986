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

        private AwsConnection(GridDatacenter datacenter, AmazonEC2Client client, string region, string endpoint, string credentialSource, IReadOnlyList<string> scrub, Action<string> verbose, IRetryPolicy? retry)
        {
            Datacenter = datacenter; _client = client; _region = region; Endpoint = endpoint;
            CredentialSource = credentialSource; _scrub = scrub; _verbose = verbose; _retry = retry;
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
            return new AwsConnection(dc, client, region!, endpointText, source, scrub, verbose, request.Services?.Retry);
        }

        /// <summary>Checks the endpoint and credentials with one cheap read (DescribeAvailabilityZones).</summary>
        internal async Task ValidateAsync(CancellationToken ct)
        {
            await CallAsync("DescribeAvailabilityZones", Datacenter.Name,
                c => _client.DescribeAvailabilityZonesAsync(new DescribeAvailabilityZonesRequest(), c), ct).ConfigureAwait(false);
        }

        // ---- inventory ---------------------------------------------------------------------------------------

        public async Task<IReadOnlyList<GridHost>> ListHostsAsync(CancellationToken cancellationToken)
        {
            var resp = await CallAsync("DescribeAvailabilityZones", Datacenter.Name,
                c => _client.DescribeAvailabilityZonesAsync(new DescribeAvailabilityZonesRequest(), c), cancellationToken).ConfigureAwait(false);
            return (resp.AvailabilityZones ?? new List<AvailabilityZone>())
                .Where(z => !string.IsNullOrEmpty(z.ZoneName))
                .Select(z => AwsMapper.ToHost(z, Datacenter.Name, _region))
                .ToList();
        }

        public async Task<IReadOnlyList<GridSize>> ListSizesAsync(CancellationToken cancellationToken)
        {
            var catalogue = await GetCatalogueAsync(cancellationToken).ConfigureAwait(false);
            return catalogue.Select(t => AwsMapper.ToSize(t, Datacenter.Name))
                .OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
        }

        private async Task<IReadOnlyList<InstanceTypeInfo>> GetCatalogueAsync(CancellationToken ct)
        {
            var cached = _catalogue;
            if (cached != null && DateTime.UtcNow - _catalogueAt < CatalogueTtl) return cached;
            await _catalogueGate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (_catalogue != null && DateTime.UtcNow - _catalogueAt < CatalogueTtl) return _catalogue;
                var all = new List<InstanceTypeInfo>();
                string? next = null;
                do
                {
                    var req = new DescribeInstanceTypesRequest { MaxResults = 100, NextToken = next };
                    var resp = await CallAsync("DescribeInstanceTypes", Datacenter.Name, c => _client.DescribeInstanceTypesAsync(req, c), ct).ConfigureAwait(false);
                    foreach (var t in resp.InstanceTypes ?? new List<InstanceTypeInfo>())
                    {
                        if (t.InstanceType?.Value == null) continue;
                        all.Add(t);
                        _types[t.InstanceType.Value] = t;
                    }
                    next = string.IsNullOrEmpty(resp.NextToken) ? null : resp.NextToken;
                } while (next != null);
                _catalogue = all;
                _catalogueAt = DateTime.UtcNow;
                return all;
            }
            finally { _catalogueGate.Release(); }
        }

        /// <summary>Makes sure the instance types seen on a page are described (one DescribeInstanceTypes call for the missing ones, cached).</summary>
        private async Task EnsureTypesAsync(IEnumerable<string?> typeNames, CancellationToken ct)
        {
            var missing = typeNames.Where(t => !string.IsNullOrEmpty(t) && !_types.ContainsKey(t!)).Select(t => t!).Distinct(StringComparer.Ordinal).ToList();
            if (missing.Count == 0) return;
            foreach (var chunk in Chunk(missing, 100))
            {
                try
                {
                    var req = new DescribeInstanceTypesRequest { InstanceTypes = chunk.ToList() };
                    var resp = await CallAsync("DescribeInstanceTypes", Datacenter.Name, c => _client.DescribeInstanceTypesAsync(req, c), ct).ConfigureAwait(false);
                    foreach (var t in resp.InstanceTypes ?? new List<InstanceTypeInfo>())
                        if (t.InstanceType?.Value != null) _types[t.InstanceType.Value] = t;
                }
                catch (GridException ex) when (ex.Kind != GridErrorKind.Cancelled)
                {
                    // Shapes are a convenience: a listing must not fail because they cannot be read.
                    _verbose($"Aws '{Datacenter.Name}': instance type details unavailable ({ex.NativeCode ?? ex.ErrorId}); CPU/memory left empty for {string.Join(", ", chunk)}.");
                    if (ex.IsTransient) continue; // throttled/unavailable: ask again on a later page
                }
                foreach (var name in chunk) _types.TryAdd(name, null); // remember unknown/forbidden ones: never asked twice
            }
        }

        private InstanceTypeInfo? LookupType(string? name)
            => name != null && _types.TryGetValue(name, out var t) ? t : null;

        public async Task<IReadOnlyList<GridImage>> ListImagesAsync(IReadOnlyDictionary<string, string> filter, CancellationToken cancellationToken)
        {
            filter ??= new Dictionary<string, string>();
            string? Get(string key) => filter.FirstOrDefault(kv => string.Equals(kv.Key, key, StringComparison.OrdinalIgnoreCase)).Value;
            var ids = SplitList(Get("ImageId"));
            var owners = SplitList(Get("Owner"));
            var result = new Dictionary<string, GridImage>(StringComparer.Ordinal);

            // Owned images (or the owners the user names), paged.
            var req = new DescribeImagesRequest { Owners = owners.Count > 0 ? owners : new List<string> { "self" }, MaxResults = 1000 };
            string? next = null;
            do
            {
                req.NextToken = next;
                var resp = await CallAsync("DescribeImages", Datacenter.Name, c => _client.DescribeImagesAsync(req, c), cancellationToken).ConfigureAwait(false);
                foreach (var img in resp.Images ?? new List<Image>())
                    if (img.ImageId != null) result[img.ImageId] = AwsMapper.ToImage(img, Datacenter.Name);
                next = string.IsNullOrEmpty(resp.NextToken) ? null : resp.NextToken;
            } while (next != null);

            // Plus the image ids named explicitly (public or shared AMIs).
            var wanted = ids.Where(id => !result.ContainsKey(id)).ToList();
            if (wanted.Count > 0)
            {
                var byId = new DescribeImagesRequest { ImageIds = wanted };
                var resp = await CallAsync("DescribeImages", string.Join(",", wanted), c => _client.DescribeImagesAsync(byId, c), cancellationToken).ConfigureAwait(false);
                foreach (var img in resp.Images ?? new List<Image>())
                    if (img.ImageId != null) result[img.ImageId] = AwsMapper.ToImage(img, Datacenter.Name);
            }
            return result.Values.OrderBy(i => i.Name, StringComparer.OrdinalIgnoreCase).ThenBy(i => i.NativeId, StringComparer.Ordinal).ToList();
        }

        /// <summary>
        /// Server-side filters: instance-state-name always (terminated only when Deleted is wanted), instance-id for
        /// wanted ids, and tag filters only when key and value have no letter whose case could differ (EC2 filters are
        /// case-sensitive, the engine's are not). Name patterns are never pushed: the tag:Name filter is
        /// case-sensitive and untagged instances are named by their id, so a pushed pattern could drop a match.
        /// </summary>
        internal static List<Filter> BuildFilters(WorkloadQuery query)
        {
            var filters = new List<Filter>
            {
                new Filter { Name = "instance-state-name", Values = AwsMapper.NativeStatesFor(query.States) },
            };
            // EC2 takes at most 200 values per filter: beyond that the ids are matched by the engine only.
            if (query.NativeIds != null && query.NativeIds.Count > 0 && query.NativeIds.Count <= 200)
                filters.Add(new Filter { Name = "instance-id", Values = query.NativeIds.Where(i => !string.IsNullOrEmpty(i)).Select(i => i.Trim().ToLowerInvariant()).Distinct().ToList() });
            if (query.Tags != null)
            {
                foreach (var kv in query.Tags)
                {
                    if (string.IsNullOrEmpty(kv.Key) || !IsCaseless(kv.Key) || HasWildcard(kv.Key)) continue;
                    string? v = kv.Value;
                    if (v == null || v == "*") filters.Add(new Filter { Name = "tag-key", Values = new List<string> { kv.Key } });
                    else if (IsCaseless(v) && v.IndexOf('[') < 0 && v.IndexOf('`') < 0 && v.IndexOf('\\') < 0)
                        filters.Add(new Filter { Name = "tag:" + kv.Key, Values = new List<string> { v } }); // * and ? mean the same in EC2 filters
                }
            }
            return filters;
        }

        private static bool IsCaseless(string s) => s.All(ch => char.ToUpperInvariant(ch) == char.ToLowerInvariant(ch));
        private static bool HasWildcard(string s) => s.IndexOfAny(new[] { '*', '?', '[', ']', '`', '\\' }) >= 0;

        public async IAsyncEnumerable<IReadOnlyList<GridWorkload>> ListWorkloadsAsync(WorkloadQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            query ??= new WorkloadQuery();
            var states = AwsMapper.NativeStatesFor(query.States);
            if (states.Count == 0) yield break; // only states EC2 never has (Deallocated, Paused...)
            bool wantDeleted = query.States != null && query.States.Contains(WorkloadState.Deleted);
            var request = new DescribeInstancesRequest
            {
                Filters = BuildFilters(query),
                MaxResults = Math.Max(5, Math.Min(1000, query.PageSize <= 0 ? 1000 : query.PageSize)),
            };

            // Page 1 is not retried here: the engine retries the whole listing until the first page arrives.
            // Later pages are ours: each page fetch goes through the shared retry policy (ProviderServices.Retry,
            // sdkRetries = false), and a retried page restarts from the NextToken the previous page gave.
            string? resumeToken = null;
            bool first = true;
#if NET8_0_OR_GREATER
            IAsyncEnumerator<DescribeInstancesResponse>? pages = null;
            IAsyncEnumerator<DescribeInstancesResponse> Start(string? token)
            {
                var req = new DescribeInstancesRequest { Filters = request.Filters, MaxResults = request.MaxResults, NextToken = token };
                return _client.Paginators.DescribeInstances(req).Responses.GetAsyncEnumerator(cancellationToken);
            }
            async Task<DescribeInstancesResponse?> NextAsync(CancellationToken ct)
            {
                pages ??= Start(resumeToken);
                try { return await pages.MoveNextAsync().ConfigureAwait(false) ? pages.Current : null; }
                catch (Exception ex)
                {
                    // A paginator that failed cannot go on: drop it, a retry starts a new one from resumeToken.
                    try { await pages.DisposeAsync().ConfigureAwait(false); } catch { }
                    pages = null;
                    throw AwsErrors.Map(ex, "DescribeInstances", Datacenter.Name, ct, _scrub);
                }
            }
            try
            {
                while (true)
                {
                    var resp = first || _retry == null
                        ? await NextAsync(cancellationToken).ConfigureAwait(false)
                        : await _retry.ExecuteAsync(Datacenter.Name, NextAsync, false, cancellationToken).ConfigureAwait(false);
                    if (resp == null) break;
                    first = false;
                    resumeToken = string.IsNullOrEmpty(resp.NextToken) ? null : resp.NextToken;
                    yield return await ToPageAsync(resp, wantDeleted, cancellationToken).ConfigureAwait(false);
                    if (resumeToken == null) break;
                }
            }
            finally { if (pages != null) await pages.DisposeAsync().ConfigureAwait(false); }
#else
            // netstandard2.0: the same NextToken loop the paginator runs, one call per page.
            do
            {
                request.NextToken = resumeToken;
                Task<DescribeInstancesResponse> Fetch(CancellationToken c) => CallAsync("DescribeInstances", Datacenter.Name, t => _client.DescribeInstancesAsync(request, t), c);
                var resp = first || _retry == null
                    ? await Fetch(cancellationToken).ConfigureAwait(false)
                    : await _retry.ExecuteAsync(Datacenter.Name, Fetch, false, cancellationToken).ConfigureAwait(false);
                first = false;
                resumeToken = string.IsNullOrEmpty(resp.NextToken) ? null : resp.NextToken;
                yield return await ToPageAsync(resp, wantDeleted, cancellationToken).ConfigureAwait(false);
            } while (resumeToken != null);
#endif
        }

        private async Task<IReadOnlyList<GridWorkload>> ToPageAsync(DescribeInstancesResponse resp, bool wantDeleted, CancellationToken ct)
        {
            var reservations = resp.Reservations ?? new List<Reservation>();
            await EnsureTypesAsync(reservations.SelectMany(r => r.Instances ?? new List<Instance>()).Select(i => i.InstanceType?.Value), ct).ConfigureAwait(false);
            var page = new List<GridWorkload>();
            foreach (var r in reservations)
                foreach (var i in r.Instances ?? new List<Instance>())
                {
                    if (i.InstanceId == null) continue;
                    if (!wantDeleted && i.State?.Name?.Value == "terminated") continue;
                    page.Add(AwsMapper.ToWorkload(i, Datacenter.Name, _region, LookupType, r));
                }
            return page;
        }

        public async Task<GridWorkload> GetWorkloadAsync(string nativeId, CancellationToken cancellationToken)
        {
            var (instance, reservation) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            await EnsureTypesAsync(new[] { instance.InstanceType?.Value }, cancellationToken).ConfigureAwait(false);
            return AwsMapper.ToWorkload(instance, Datacenter.Name, _region, LookupType, reservation);
        }

        private async Task<(Instance, Reservation)> DescribeOneAsync(string nativeId, CancellationToken ct)
        {
            if (string.IsNullOrWhiteSpace(nativeId))
                throw GridException.NotFound("No instance id was given.", AwsErrors.WorkloadNotFound, nativeId);
            string id = nativeId.Trim();
            if (id.StartsWith("i-", StringComparison.OrdinalIgnoreCase)) id = id.ToLowerInvariant(); // EC2 ids are lowercase hex
            var req = new DescribeInstancesRequest { InstanceIds = new List<string> { id } };
            var resp = await CallAsync("DescribeInstances", WorkloadId.Format(Datacenter.Name, id), c => _client.DescribeInstancesAsync(req, c), ct).ConfigureAwait(false);
            foreach (var r in resp.Reservations ?? new List<Reservation>())
                foreach (var i in r.Instances ?? new List<Instance>())
                    if (string.Equals(i.InstanceId, id, StringComparison.OrdinalIgnoreCase)) return (i, r);
            throw new GridException(GridErrorKind.NotFound, $"EC2 instance '{id}' does not exist in {_region}.", AwsErrors.WorkloadNotFound) { Target = WorkloadId.Format(Datacenter.Name, id), NativeCode = "InvalidInstanceID.NotFound" };
        }

        // ---- lifecycle ---------------------------------------------------------------------------------------

        /// <summary>
        /// The RunInstances ClientToken for an idempotency key: "ga-" + 40 hex chars of SHA-256 over the datacenter's
        /// region and the key (EC2 allows 64 ASCII characters). The same key always gives the same token, so a
        /// retried or resumed create returns the instance the first attempt launched.
        /// </summary>
        public static string ClientTokenFor(string region, string idempotencyKey)
        {
            using var sha = SHA256.Create();
            var hash = sha.ComputeHash(Encoding.UTF8.GetBytes(region + "\n" + idempotencyKey));
            var sb = new StringBuilder("ga-", 43);
            for (int i = 0; i < 20; i++) sb.Append(hash[i].ToString("x2", CultureInfo.InvariantCulture));
            return sb.ToString();
        }

        private static readonly string[] KnownOptions = { "SubnetId", "SecurityGroupIds", "KeyName", "IamInstanceProfile", "UserData", "Hibernate", "EbsOptimized", "PrivateIpAddress", "PlacementGroup", "Architecture" };

        public async Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (request == null) throw GridException.InvalidRequest("No create request was given.", AwsErrors.InvalidRequest);
            if (string.IsNullOrWhiteSpace(request.Name)) throw GridException.InvalidRequest("A workload name is required.", "NameRequired");
            if (string.IsNullOrWhiteSpace(request.Image))
                throw GridException.InvalidRequest("EC2 needs an image (AMI id, e.g. -Image ami-0123456789abcdef0) to launch an instance.", "ImageRequired", request.Name);
            var options = new Dictionary<string, string>(request.Options ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase);
            var unknown = options.Keys.Where(k => !KnownOptions.Contains(k, StringComparer.OrdinalIgnoreCase)).ToList();
            if (unknown.Count > 0)
                throw GridException.InvalidRequest($"Unknown Aws create option(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", KnownOptions)}.", "AwsUnknownOption", request.Name);
            if (request.Secrets != null && request.Secrets.Count > 0)
                _verbose($"Aws '{Datacenter.Name}': create secrets ({string.Join(", ", request.Secrets.Keys)}) are not used by EC2 (use a key pair: option KeyName).");

            string key = !string.IsNullOrEmpty(request.IdempotencyKey) ? request.IdempotencyKey : scope?.IdempotencyKey ?? "";
            if (string.IsNullOrEmpty(key)) throw GridException.InvalidRequest("A create needs an idempotency key.", "IdempotencyKeyMissing", request.Name);
            string size = await ResolveSizeAsync(request.Size, request.CpuCount, request.MemoryMB, Opt(options, "Architecture") ?? "x86_64", request.Name, cancellationToken).ConfigureAwait(false);
            string token = ClientTokenFor(_region, key);
            string target = request.Name;

            var tags = new List<Tag> { new Tag("Name", request.Name) };
            foreach (var kv in request.Tags ?? new Dictionary<string, string>())
            {
                if (string.Equals(kv.Key, "Name", StringComparison.OrdinalIgnoreCase)) continue;
                CheckTagKey(kv.Key);
                tags.Add(new Tag(kv.Key, kv.Value ?? ""));
            }
            var run = new RunInstancesRequest
            {
                ImageId = request.Image!.Trim(),
                InstanceType = InstanceType.FindValue(size),
                MinCount = 1,
                MaxCount = 1,
                ClientToken = token,
                TagSpecifications = new List<TagSpecification>
                {
                    new TagSpecification { ResourceType = ResourceType.Instance, Tags = tags },
                    new TagSpecification { ResourceType = ResourceType.Volume, Tags = tags.Select(t => new Tag(t.Key, t.Value)).ToList() },
                },
            };
            if (!string.IsNullOrEmpty(request.TargetHost)) run.Placement = new Placement { AvailabilityZone = request.TargetHost };
            if (Opt(options, "PlacementGroup") is string pg) (run.Placement ??= new Placement()).GroupName = pg;
            if (Opt(options, "SubnetId") is string subnet) run.SubnetId = subnet;
            if (Opt(options, "SecurityGroupIds") is string sgs) run.SecurityGroupIds = SplitList(sgs);
            if (Opt(options, "KeyName") is string keyName) run.KeyName = keyName;
            if (Opt(options, "PrivateIpAddress") is string pip) run.PrivateIpAddress = pip;
            if (Opt(options, "IamInstanceProfile") is string iam)
                run.IamInstanceProfile = iam.StartsWith("arn:", StringComparison.Ordinal) ? new IamInstanceProfileSpecification { Arn = iam } : new IamInstanceProfileSpecification { Name = iam };
            if (Opt(options, "UserData") is string ud) run.UserData = Convert.ToBase64String(Encoding.UTF8.GetBytes(ud));
            if (Opt(options, "Hibernate") is string hib) run.HibernationOptions = new HibernationOptionsRequest { Configured = ParseBool(hib, "Hibernate") };
            if (Opt(options, "EbsOptimized") is string eo) run.EbsOptimized = ParseBool(eo, "EbsOptimized");

            // Write-ahead: the token is recorded before the launch acts, so a resume re-sends the same one.
            scope?.Checkpoint("ClientToken", token);
            scope?.Report(new GridProgress("Create " + request.Name, $"Launching {size} from {run.ImageId}", 0));
            var resp = await CallAsync("RunInstances", target, c => _client.RunInstancesAsync(run, c), cancellationToken).ConfigureAwait(false);
            var launched = resp.Reservation?.Instances?.FirstOrDefault();
            if (launched?.InstanceId == null)
                throw new GridException(GridErrorKind.Unavailable, "EC2 RunInstances answered without an instance.", AwsErrors.BadResponse) { Target = target };
            string id = launched.InstanceId;
            scope?.Checkpoint("InstanceId", id);
            string launchedState = launched.State?.Name?.Value ?? "";
            if (launchedState == "terminated" || launchedState == "shutting-down")
                throw new GridException(GridErrorKind.Conflict,
                    $"The idempotency key of this create already launched {id}, which is now {launchedState}" +
                    (launched.StateReason?.Code != null ? $" ({launched.StateReason.Code})" : "") + ". Use a new key to launch another instance.",
                    "IdempotencyKeyUsed") { Target = WorkloadId.Format(Datacenter.Name, id), NativeCode = launched.StateReason?.Code };

            // Wait for it to leave pending (tolerating EC2's eventual consistency right after a launch).
            var inst = await WaitForAsync(id, s => s != "pending", "Create " + request.Name, scope, cancellationToken, tolerateNotFound: true).ConfigureAwait(false);
            string now = inst.State?.Name?.Value ?? "";
            if (now == "shutting-down" || now == "terminated")
                throw new GridException(GridErrorKind.ResourceUnavailable,
                    $"EC2 terminated {id} right after launch: {inst.StateReason?.Code} {inst.StateReason?.Message}".TrimEnd(),
                    "LaunchFailed") { Target = WorkloadId.Format(Datacenter.Name, id), NativeCode = inst.StateReason?.Code };
            if (!request.PowerOn && now == "running")
            {
                // EC2 cannot launch an instance stopped: stop it once it runs.
                await StopCoreAsync(id, StopMode.Graceful, hibernate: false, scope, cancellationToken).ConfigureAwait(false);
            }
            var w = await GetWorkloadAsync(id, cancellationToken).ConfigureAwait(false);
            if (w.State == WorkloadState.Starting) w.State = WorkloadState.Provisioning; // we know it is a new launch
            scope?.Report(new GridProgress("Create " + request.Name, $"{id} is {w.NativeState}", 100));
            return w;
        }

        private async Task<string> ResolveSizeAsync(string? size, int? cpu, long? memoryMB, string architecture, object target, CancellationToken ct)
        {
            if (!string.IsNullOrWhiteSpace(size)) return size!.Trim();
            if (cpu == null && memoryMB == null)
                throw GridException.InvalidRequest("EC2 needs a size (instance type, e.g. -Size t3.micro) or a CPU/memory shape to choose one.", "SizeRequired", target);
            var catalogue = await GetCatalogueAsync(ct).ConfigureAwait(false);
            var pick = catalogue
                .Where(t => t.CurrentGeneration == true && t.BareMetal != true)
                .Where(t => t.ProcessorInfo?.SupportedArchitectures == null || t.ProcessorInfo.SupportedArchitectures.Contains(architecture))
                .Where(t => (t.VCpuInfo?.DefaultVCpus ?? 0) >= (cpu ?? 0) && (t.MemoryInfo?.SizeInMiB ?? 0) >= (memoryMB ?? 0))
                .OrderBy(t => t.VCpuInfo?.DefaultVCpus ?? int.MaxValue)
                .ThenBy(t => t.MemoryInfo?.SizeInMiB ?? long.MaxValue)
                .ThenBy(t => t.InstanceType?.Value, StringComparer.Ordinal)
                .FirstOrDefault();
            if (pick?.InstanceType?.Value == null)
                throw GridException.InvalidRequest($"No current-generation {architecture} instance type in {_region} has {cpu?.ToString(CultureInfo.InvariantCulture) ?? "any"} vCPU and {memoryMB?.ToString(CultureInfo.InvariantCulture) ?? "any"} MiB.", AwsErrors.SizeNotFound, target);
            _verbose($"Aws '{Datacenter.Name}': chose instance type {pick.InstanceType.Value} for {cpu} vCPU / {memoryMB} MiB.");
            return pick.InstanceType.Value;
        }

        public async Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            string activity = "Start " + nativeId;
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string id = inst.InstanceId!;
            string st = inst.State?.Name?.Value ?? "";
            if (st == "running") return;
            if (st == "shutting-down" || st == "terminated") throw Terminated(id, st);
            if (st == "stopping")
                inst = await WaitForAsync(id, s => s != "stopping", activity, scope, cancellationToken).ConfigureAwait(false);
            if (inst.State?.Name?.Value == "stopped")
            {
                scope?.Report(new GridProgress(activity, "Starting " + id, 10));
                var started = await CallAsync("StartInstances", Target(id), c => _client.StartInstancesAsync(new StartInstancesRequest { InstanceIds = new List<string> { id } }, c), cancellationToken).ConfigureAwait(false);
                ReportChange(scope, activity, started.StartingInstances, 20);
            }
            inst = await WaitForAsync(id, s => s != "pending", activity, scope, cancellationToken).ConfigureAwait(false);
            if (inst.State?.Name?.Value != "running")
                throw new GridException(GridErrorKind.Conflict, $"{id} did not start: it is {inst.State?.Name?.Value} ({inst.StateReason?.Code}).", AwsErrors.InvalidState) { Target = Target(id), NativeCode = inst.StateReason?.Code };
        }

        public Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (mode == StopMode.Deallocate)
                throw GridException.Unsupported("EC2 has no separate deallocate: a stopped instance is already not billed for compute. Stop without -Deallocate.", "CapabilityNotSupported", Target(nativeId));
            return StopCoreAsync(nativeId, mode, hibernate: false, scope, cancellationToken);
        }

        private async Task StopCoreAsync(string nativeId, StopMode mode, bool hibernate, IOperationScope? scope, CancellationToken ct)
        {
            string activity = (hibernate ? "Suspend " : "Stop ") + nativeId;
            var (inst, _) = await DescribeOneAsync(nativeId, ct).ConfigureAwait(false);
            string id = inst.InstanceId!;
            string st = inst.State?.Name?.Value ?? "";
            if (st == "shutting-down" || st == "terminated") throw Terminated(id, st);
            if (st == "stopped")
            {
                if (hibernate && inst.StateReason?.Code != AwsMapper.HibernateReason)
                    throw GridException.Conflict($"{id} is stopped, not running: there is no memory to hibernate.", AwsErrors.InvalidState, Target(id));
                return;
            }
            if (st == "pending")
                inst = await WaitForAsync(id, s => s != "pending", activity, scope, ct).ConfigureAwait(false);
            if (inst.State?.Name?.Value == "running")
            {
                if (hibernate && inst.HibernationOptions?.Configured != true)
                    throw new GridException(GridErrorKind.Conflict, $"{id} was not launched with hibernation configured, so it cannot be suspended (create it with option Hibernate=true).", "HibernationNotConfigured") { Target = Target(id), NativeCode = "UnsupportedHibernationConfiguration" };
                var req = new StopInstancesRequest { InstanceIds = new List<string> { id } };
                if (mode == StopMode.TurnOff) req.Force = true;
                if (hibernate) req.Hibernate = true;
                scope?.Report(new GridProgress(activity, (hibernate ? "Hibernating " : mode == StopMode.TurnOff ? "Force-stopping " : "Stopping ") + id, 10));
                var stopping = await CallAsync("StopInstances", Target(id), c => _client.StopInstancesAsync(req, c), ct).ConfigureAwait(false);
                ReportChange(scope, activity, stopping.StoppingInstances, 20);
            }
            inst = await WaitForAsync(id, s => s != "stopping" && s != "running" && s != "pending", activity, scope, ct).ConfigureAwait(false);
            if (inst.State?.Name?.Value != "stopped")
                throw new GridException(GridErrorKind.Conflict, $"{id} did not stop: it is {inst.State?.Name?.Value}.", AwsErrors.InvalidState) { Target = Target(id) };
        }

        public async Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string id = inst.InstanceId!;
            string st = inst.State?.Name?.Value ?? "";
            if (st == "pending") inst = await WaitForAsync(id, s => s != "pending", "Restart " + id, scope, cancellationToken).ConfigureAwait(false);
            if (inst.State?.Name?.Value != "running")
                throw new GridException(GridErrorKind.Conflict, $"{id} is {inst.State?.Name?.Value}: only a running instance can be restarted (use Start).", AwsErrors.InvalidState) { Target = Target(id), NativeCode = "IncorrectInstanceState" };
            scope?.Report(new GridProgress("Restart " + id, "Rebooting " + id, 50));
            await CallAsync("RebootInstances", Target(id), c => _client.RebootInstancesAsync(new RebootInstancesRequest { InstanceIds = new List<string> { id } }, c), cancellationToken).ConfigureAwait(false);
            scope?.Report(new GridProgress("Restart " + id, "Reboot requested for " + id, 100));
        }

        /// <summary>Suspend = EC2 hibernation (StopInstances Hibernate=true): memory goes to the encrypted EBS root volume.</summary>
        public Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => StopCoreAsync(nativeId, StopMode.Graceful, hibernate: true, scope, cancellationToken);

        public async Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
        {
            string activity = "Remove " + nativeId;
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string id = inst.InstanceId!;
            var kept = new List<string>();
            if (scope != null && scope.Checkpoints.TryGetValue("KeptVolumes", out var earlier) && !string.IsNullOrEmpty(earlier))
                kept.AddRange(SplitList(earlier));
            foreach (var b in inst.BlockDeviceMappings ?? new List<InstanceBlockDeviceMapping>())
                if (b.Ebs?.VolumeId != null && b.Ebs.DeleteOnTermination != true && !kept.Contains(b.Ebs.VolumeId)) kept.Add(b.Ebs.VolumeId);

            string st = inst.State?.Name?.Value ?? "";
            if (st != "terminated")
            {
                if (removeStorage) scope?.Checkpoint("KeptVolumes", string.Join(",", kept)); // write-ahead: terminated instances forget their volumes
                if (st != "shutting-down")
                {
                    scope?.Report(new GridProgress(activity, "Terminating " + id, 10));
                    var terminating = await CallAsync("TerminateInstances", Target(id), c => _client.TerminateInstancesAsync(new TerminateInstancesRequest { InstanceIds = new List<string> { id } }, c), cancellationToken).ConfigureAwait(false);
                    ReportChange(scope, activity, terminating.TerminatingInstances, 20);
                }
                await WaitForAsync(id, s => s == "terminated", activity, scope, cancellationToken).ConfigureAwait(false);
            }
            if (kept.Count == 0) return;
            if (!removeStorage)
            {
                _verbose($"Aws '{Datacenter.Name}': {id} terminated; volumes kept (not delete-on-termination): {string.Join(", ", kept)}.");
                return;
            }
            int n = 0;
            foreach (var vol in kept)
            {
                n++;
                scope?.Report(new GridProgress(activity, $"Deleting volume {vol} ({n}/{kept.Count})", 80));
                await DeleteVolumeWhenDetachedAsync(vol, activity, scope, cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task DeleteVolumeWhenDetachedAsync(string volumeId, string activity, IOperationScope? scope, CancellationToken ct)
        {
            var deadline = DateTime.UtcNow + WaitTimeout;
            int polls = 0;
            while (true)
            {
                DescribeVolumesResponse resp;
                try
                {
                    resp = await CallAsync("DescribeVolumes", volumeId, c => _client.DescribeVolumesAsync(new DescribeVolumesRequest { VolumeIds = new List<string> { volumeId } }, c), ct).ConfigureAwait(false);
                }
                catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { return; } // already gone
                var v = resp.Volumes?.FirstOrDefault();
                string? state = v?.State?.Value;
                if (v == null || state == "deleted" || state == "deleting") return;
                if (state == "available")
                {
                    try
                    {
                        await CallAsync("DeleteVolume", volumeId, c => _client.DeleteVolumeAsync(new DeleteVolumeRequest { VolumeId = volumeId }, c), ct).ConfigureAwait(false);
                        return;
                    }
                    catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { return; }
                    catch (GridException ex) when (ex.NativeCode == "VolumeInUse" && DateTime.UtcNow < deadline) { /* still detaching: poll again */ }
                }
                if (DateTime.UtcNow > deadline)
                    throw new GridException(GridErrorKind.Conflict, $"Volume {volumeId} stayed {state}; it was not deleted.", AwsErrors.InvalidState) { Target = volumeId, IsTransient = false };
                scope?.Report(new GridProgress(activity, $"Waiting for volume {volumeId} to detach ({state})", -1));
                try { await Task.Delay(PollDelay(polls++), ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { throw AwsErrors.Map(new OperationCanceledException(ct), "wait", volumeId, ct); }
            }
        }

        public async Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (request == null) throw GridException.InvalidRequest("No resize request was given.", AwsErrors.InvalidRequest);
            string activity = "Resize " + nativeId;
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string id = inst.InstanceId!;
            string size = await ResolveSizeAsync(request.Size, request.CpuCount, request.MemoryMB, inst.Architecture?.Value ?? "x86_64", Target(id), cancellationToken).ConfigureAwait(false);
            if (string.Equals(inst.InstanceType?.Value, size, StringComparison.Ordinal)) return;
            string st = inst.State?.Name?.Value ?? "";
            if (st == "shutting-down" || st == "terminated") throw Terminated(id, st);
            bool restart = false;
            if (st != "stopped")
            {
                if (!request.AllowRestart)
                    throw new GridException(GridErrorKind.Conflict, $"{id} is {st}: EC2 changes the instance type only while stopped. Stop it first or allow a restart.", "ResizeRequiresStop") { Target = Target(id) };
                restart = st == "running" || st == "pending";
                scope?.Checkpoint("StoppedForResize", "true");
                await StopCoreAsync(id, StopMode.Graceful, hibernate: false, scope, cancellationToken).ConfigureAwait(false);
            }
            else if (scope != null && scope.Checkpoints.TryGetValue("StoppedForResize", out var s) && s == "true") restart = true; // resumed after our own stop
            scope?.Report(new GridProgress(activity, $"Changing {id} to {size}", 50));
            var mod = new ModifyInstanceAttributeRequest { InstanceId = id, InstanceType = size };
            await CallAsync("ModifyInstanceAttribute", Target(id), c => _client.ModifyInstanceAttributeAsync(mod, c), cancellationToken).ConfigureAwait(false);
            if (restart) await StartAsync(id, scope!, cancellationToken).ConfigureAwait(false);
        }

        public async Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (tags == null || tags.Count == 0) return;
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string id = inst.InstanceId!;
            var set = new List<Tag>();
            var remove = new List<Tag>();
            foreach (var kv in tags)
            {
                CheckTagKey(kv.Key);
                // Tag keys are case-sensitive in EC2 but case-insensitive in the model: act on the key as the instance has it.
                string actual = inst.Tags?.FirstOrDefault(t => string.Equals(t.Key, kv.Key, StringComparison.OrdinalIgnoreCase))?.Key ?? kv.Key;
                if (kv.Value == null) { if (inst.Tags?.Any(t => t.Key == actual) == true) remove.Add(new Tag { Key = actual }); }
                else set.Add(new Tag(actual, kv.Value));
            }
            if (set.Count > 0)
                await CallAsync("CreateTags", Target(id), c => _client.CreateTagsAsync(new CreateTagsRequest { Resources = new List<string> { id }, Tags = set }, c), cancellationToken).ConfigureAwait(false);
            if (remove.Count > 0)
                await CallAsync("DeleteTags", Target(id), c => _client.DeleteTagsAsync(new DeleteTagsRequest { Resources = new List<string> { id }, Tags = remove }, c), cancellationToken).ConfigureAwait(false);
        }

        public Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
            => throw GridException.Unsupported("EC2 cannot move an instance to another availability zone (a new instance from a snapshot would be a different workload).", "CapabilityNotSupported", Target(nativeId));

        /// <summary>
        /// Only the roll-back of an interrupted create is the provider's own: the instance it launched (from the
        /// InstanceId checkpoint, else found by the ClientToken checkpoint written before RunInstances acted) is
        /// terminated with the storage the launch made, and false is returned. Everything else answers Unsupported,
        /// so the engine re-runs the same idempotent step (same ClientToken; recorded volumes for a remove).
        /// </summary>
        public async Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (operation == null || !operation.RollbackRequested || !string.Equals(operation.Kind, "Create", StringComparison.OrdinalIgnoreCase))
                throw GridException.Unsupported("Aws operations are re-run idempotently (ClientToken, recorded volumes) instead of resumed step by step.", "CapabilityNotSupported", operation?.Target);
            var cps = operation.Checkpoints ?? new Dictionary<string, string>();
            string? id = cps.TryGetValue("InstanceId", out var i) && !string.IsNullOrEmpty(i) ? i : null;
            if (id == null && cps.TryGetValue("ClientToken", out var token) && !string.IsNullOrEmpty(token))
            {
                var req = new DescribeInstancesRequest { Filters = new List<Filter> { new Filter { Name = "client-token", Values = new List<string> { token } } } };
                var resp = await CallAsync("DescribeInstances", operation.Target, c => _client.DescribeInstancesAsync(req, c), cancellationToken).ConfigureAwait(false);
                id = resp.Reservations?.SelectMany(r => r.Instances ?? new List<Instance>()).FirstOrDefault(x => x.State?.Name?.Value != "terminated")?.InstanceId;
            }
            if (id == null)
            {
                _verbose($"Aws '{Datacenter.Name}': the interrupted create {operation.Id} launched nothing; nothing to roll back.");
                return false;
            }
            scope?.Checkpoint("RollbackInstanceId", id);
            try { await RemoveAsync(id, removeStorage: true, scope!, cancellationToken).ConfigureAwait(false); }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { }
            return false;
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
            _catalogueGate.Dispose();
        }

        // ---- helpers -----------------------------------------------------------------------------------------

        /// <summary>Polls DescribeInstances until <paramref name="done"/> holds for the native state, reporting progress.</summary>
        private async Task<Instance> WaitForAsync(string id, Func<string, bool> done, string activity, IOperationScope? scope, CancellationToken ct, bool tolerateNotFound = false)
        {
            var started = DateTime.UtcNow;
            string? last = null;
            int polls = 0;
            while (true)
            {
                Instance? inst = null;
                try { (inst, _) = await DescribeOneAsync(id, ct).ConfigureAwait(false); }
                // A launched instance is never reported missing on the first look: a slow first call must not use up the grace.
                catch (GridException ex) when (tolerateNotFound && ex.Kind == GridErrorKind.NotFound && (polls == 0 || DateTime.UtcNow - started < LaunchVisibilityGrace)) { }
                if (inst != null)
                {
                    string st = inst.State?.Name?.Value ?? "";
                    if (st != last) { scope?.Report(new GridProgress(activity, $"{id} is {st}", -1)); last = st; }
                    if (done(st)) return inst;
                }
                if (DateTime.UtcNow - started > WaitTimeout)
                    throw new GridException(GridErrorKind.Unavailable, $"{id} did not reach the wanted state within {WaitTimeout.TotalMinutes:0} minutes (last: {last ?? "unknown"}).", "AwsWaitTimedOut") { Target = Target(id), IsTransient = false };
                try { await Task.Delay(PollDelay(polls++), ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { throw AwsErrors.Map(new OperationCanceledException(ct), "wait", Target(id), ct); }
            }
        }

        /// <summary>Reports the state change EC2 answered a Start/Stop/Terminate with ("running -> stopping").</summary>
        private static void ReportChange(IOperationScope? scope, string activity, List<InstanceStateChange>? changes, int percent)
        {
            if (scope == null || changes == null) return;
            foreach (var c in changes)
                scope.Report(new GridProgress(activity, $"{c.InstanceId}: {c.PreviousState?.Name?.Value ?? "?"} -> {c.CurrentState?.Name?.Value ?? "?"}", percent));
        }

        private async Task<T> CallAsync<T>(string action, object? target, Func<CancellationToken, Task<T>> call, CancellationToken ct)
        {
            try { return await call(ct).ConfigureAwait(false); }
            catch (Exception ex) { throw AwsErrors.Map(ex, action, target, ct, _scrub); }
        }

        private string Target(string id) => WorkloadId.Format(Datacenter.Name, id);

        private GridException Terminated(string id, string state)
            => new GridException(GridErrorKind.Conflict, $"{id} is {state}: a terminated instance cannot be changed.", "WorkloadTerminated") { Target = Target(id), NativeCode = "IncorrectInstanceState" };

        private static void CheckTagKey(string key)
        {
            // One error id for every tag refusal (InvalidTag), EC2's own rule said in the message.
            if (string.IsNullOrEmpty(key)) throw GridException.InvalidRequest("Invalid tags for EC2: a tag key may not be empty.", "InvalidTag");
            var why = AwsNameRules.WhyInvalidTagKey(key);
            if (why != null) throw GridException.InvalidRequest($"Invalid tags for EC2: tag key '{key}': {why}.", "InvalidTag", key);
        }

        private static string? Opt(Dictionary<string, string> options, string key)
            => options.TryGetValue(key, out var v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;

        private static bool ParseBool(string v, string name)
        {
            if (bool.TryParse(v, out var b)) return b;
            if (v == "1") return true;
            if (v == "0") return false;
            throw GridException.InvalidRequest($"Option {name} must be true or false, not '{v}'.", "AwsOptionInvalid", name);
        }

        internal static List<string> SplitList(string? s)
            => string.IsNullOrWhiteSpace(s) ? new List<string>() : s!.Split(new[] { ',', ';', '\n' }, StringSplitOptions.RemoveEmptyEntries).Select(x => x.Trim()).Where(x => x.Length > 0).Distinct(StringComparer.Ordinal).ToList();

        private static IEnumerable<List<string>> Chunk(List<string> items, int size)
        {
            for (int i = 0; i < items.Count; i += size) yield return items.GetRange(i, Math.Min(size, items.Count - i));
        }
    }
}
