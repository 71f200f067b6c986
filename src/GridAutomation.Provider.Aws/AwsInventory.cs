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
    /// <summary>AwsConnection, inventory: hosts (zones), sizes (instance types), images, workloads.</summary>
    public sealed partial class AwsConnection
    {
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
    }
}
