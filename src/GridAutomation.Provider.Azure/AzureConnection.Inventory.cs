using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Core;
using Azure.ResourceManager;
using Azure.ResourceManager.Compute;
using Azure.ResourceManager.Compute.Models;
using Azure.ResourceManager.Resources;
using Azure.ResourceManager.Resources.Models;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Azure
{
    /// <summary>What one Azure datacenter holds: hosts (zones), sizes, images, and the workload listing (paged, cached briefly).</summary>
    public sealed partial class AzureConnection
    {
        // ---------------------------------------------------------------- hosts, sizes, images

        public Task<IReadOnlyList<GridHost>> ListHostsAsync(CancellationToken cancellationToken)
            => Guard<IReadOnlyList<GridHost>>(async () =>
            {
                var hosts = new List<GridHost>();
                await foreach (var loc in _subscription.GetLocationsAsync(null, cancellationToken).ConfigureAwait(false))
                {
                    if (!string.Equals(AzureSettings.NormalizeLocation(loc.Name), _s.Location, StringComparison.Ordinal)) continue;
                    if (loc.AvailabilityZoneMappings != null)
                    {
                        foreach (var z in loc.AvailabilityZoneMappings.OrderBy(z => z.LogicalZone, StringComparer.Ordinal))
                        {
                            if (string.IsNullOrEmpty(z.LogicalZone) || hosts.Any(h => h.Name == z.LogicalZone)) continue;
                            var h = NewHost(z.LogicalZone!, z.PhysicalZone);
                            h.Properties["PhysicalZone"] = z.PhysicalZone;
                            h.Properties["Kind"] = "AvailabilityZone";
                            hosts.Add(h);
                        }
                    }
                    break;
                }
                // VMs not pinned to a zone (and every VM of a location without zones) are placed on "regional".
                var regional = NewHost(AzureMapping.RegionalHost, _s.Location);
                regional.Properties["Kind"] = "Regional";
                hosts.Add(regional);
                return hosts;
            }, _s.Location, cancellationToken);

        private GridHost NewHost(string name, string? nativeId) => new GridHost
        {
            Datacenter = DcName, Name = name, NativeId = nativeId, Cluster = _s.Location, State = HostState.Connected, NativeState = "Available",
        };

        public Task<IReadOnlyList<GridSize>> ListSizesAsync(CancellationToken cancellationToken)
            => Guard<IReadOnlyList<GridSize>>(async () =>
            {
                var sizes = await GetSizesAsync(cancellationToken, refresh: true).ConfigureAwait(false);
                return sizes.Values.OrderBy(s => s.Name, StringComparer.OrdinalIgnoreCase).Select(s => new GridSize
                {
                    Datacenter = DcName,
                    Name = s.Name,
                    CpuCount = s.NumberOfCores,
                    MemoryMB = s.MemoryInMB,
                    Properties =
                    {
                        ["MaxDataDiskCount"] = s.MaxDataDiskCount,
                        ["OSDiskSizeInMB"] = s.OSDiskSizeInMB,
                        ["ResourceDiskSizeInMB"] = s.ResourceDiskSizeInMB,
                    },
                }).ToList();
            }, _s.Location, cancellationToken);

        private async Task<IReadOnlyDictionary<string, VirtualMachineSize>> GetSizesAsync(CancellationToken ct, bool refresh = false)
        {
            if (_sizes != null && !refresh) return _sizes;
            await _sizesGate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (_sizes != null && !refresh) return _sizes;
                var d = new Dictionary<string, VirtualMachineSize>(StringComparer.OrdinalIgnoreCase);
                await foreach (var s in _subscription.GetVirtualMachineSizesAsync(new AzureLocation(_s.Location), ct).ConfigureAwait(false))
                    if (!string.IsNullOrEmpty(s.Name)) d[s.Name] = s;
                _sizes = d;
                return d;
            }
            finally { _sizesGate.Release(); }
        }

        /// <summary>Sizes for mapping CPU/memory; a failure here never fails a listing (CPU/memory stay null).</summary>
        private async Task<IReadOnlyDictionary<string, VirtualMachineSize>?> TryGetSizesAsync(CancellationToken ct)
        {
            try { return await GetSizesAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
            catch (Exception ex) { Verbose("Azure: VM sizes unavailable for CPU/memory mapping: " + AzureErrors.FirstLine(ex.Message)); return null; }
        }

        /// <summary>
        /// Images as publisher:offer:sku:version. Only with filter "Publisher" (optionally "Offer", "Sku"): an
        /// unfiltered marketplace listing takes thousands of calls, so without a publisher the list is empty.
        /// Publisher only: one call for the offers plus one per offer (skus, version "latest");
        /// + Offer: one call (skus, version "latest"); + Sku: one call (every version).
        /// </summary>
        public Task<IReadOnlyList<GridImage>> ListImagesAsync(IReadOnlyDictionary<string, string> filter, CancellationToken cancellationToken)
            => Guard<IReadOnlyList<GridImage>>(async () =>
            {
                string? publisher = Get(filter, "Publisher"), offer = Get(filter, "Offer"), sku = Get(filter, "Sku");
                var result = new List<GridImage>();
                if (publisher == null) return result;
                var location = new AzureLocation(_s.Location);
                var offers = new List<string>();
                if (offer != null) offers.Add(offer);
                else
                    await foreach (var o in _subscription.GetVirtualMachineImageOffersAsync(location, publisher, cancellationToken).ConfigureAwait(false))
                        offers.Add(o.Name);
                foreach (var o in offers)
                {
                    if (sku != null)
                    {
                        await foreach (var v in _subscription.GetVirtualMachineImagesAsync(location, publisher, o, sku, null, null, null, cancellationToken).ConfigureAwait(false))
                            result.Add(NewImage(publisher, o, sku, v.Name));
                    }
                    else
                    {
                        await foreach (var s in _subscription.GetVirtualMachineImageSkusAsync(location, publisher, o, cancellationToken).ConfigureAwait(false))
                            result.Add(NewImage(publisher, o, s.Name, "latest"));
                    }
                }
                return result;
            }, _s.Location, cancellationToken);

        private static string? Get(IReadOnlyDictionary<string, string>? d, string key)
        {
            if (d == null) return null;
            foreach (var kv in d)
                if (string.Equals(kv.Key, key, StringComparison.OrdinalIgnoreCase) && !string.IsNullOrWhiteSpace(kv.Value)) return kv.Value.Trim();
            return null;
        }

        private GridImage NewImage(string publisher, string offer, string sku, string version)
        {
            string urn = publisher + ":" + offer + ":" + sku + ":" + version;
            return new GridImage
            {
                Datacenter = DcName, Name = urn, NativeId = urn,
                Properties = { ["Publisher"] = publisher, ["Offer"] = offer, ["Sku"] = sku, ["Version"] = version },
            };
        }

        // ---------------------------------------------------------------- listing

        private sealed class Listing
        {
            public DateTime At;
            public Dictionary<string, VmStatus> Status = new Dictionary<string, VmStatus>(StringComparer.OrdinalIgnoreCase);
            public Dictionary<string, List<VirtualMachineData>> Models = new Dictionary<string, List<VirtualMachineData>>(StringComparer.OrdinalIgnoreCase);
        }

        /// <summary>Process-wide: datacenters of one subscription (same endpoint and principal) share one listing for a short while.</summary>
        private static readonly ConcurrentDictionary<string, Listing> Listings = new ConcurrentDictionary<string, Listing>(StringComparer.Ordinal);

        internal static void ClearListingCache() => Listings.Clear();
        private void Invalidate() => Listings.TryRemove(_cacheKey, out _);

        private Listing? FreshListing()
            => Listings.TryGetValue(_cacheKey, out var l) && DateTime.UtcNow - l.At < ListingLifetime ? l : null;

        /// <summary>
        /// Inventory with power state in O(pages) requests: the subscription's status-only list (statusOnly=true,
        /// which exists only on the subscription-wide list and carries status, not the model) is read first, then
        /// the model list (subscription, or the resource group) streams page by page; items are merged by resource
        /// id (case-insensitive) and filtered by location.
        /// </summary>
        public async IAsyncEnumerable<IReadOnlyList<GridWorkload>> ListWorkloadsAsync(WorkloadQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            query ??= new WorkloadQuery();
            var sizes = await TryGetSizesAsync(cancellationToken).ConfigureAwait(false);
            string modelKey = _s.ResourceGroup == null ? "*" : _s.ResourceGroup;
            var cached = FreshListing();
            Dictionary<string, VmStatus> status;
            if (cached != null)
            {
                status = cached.Status;
            }
            else
            {
                status = new Dictionary<string, VmStatus>(StringComparer.OrdinalIgnoreCase);
                var pages = _subscription.GetVirtualMachinesAsync("true", null, null, cancellationToken).AsPages().GetAsyncEnumerator(cancellationToken);
                try
                {
                    while (await Next(pages, cancellationToken).ConfigureAwait(false))
                        foreach (var vm in pages.Current.Values)
                        {
                            var st = VmStatus.From(vm.Data.InstanceView);
                            if (st != null) status[vm.Id.ToString()] = st;
                        }
                }
                finally { await pages.DisposeAsync().ConfigureAwait(false); }
                cached = new Listing { At = DateTime.UtcNow, Status = status };
            }

            int pageSize = query.PageSize > 0 ? query.PageSize : 1000;
            if (cached.Models.TryGetValue(modelKey, out var models))
            {
                foreach (var chunk in Chunk(models.Where(InLocation), pageSize))
                    yield return chunk.Select(m => Map(m, status, sizes)).ToList();
                yield break;
            }

            var all = new List<VirtualMachineData>();
            AsyncPageable<VirtualMachineResource> source = _s.ResourceGroup == null
                ? _subscription.GetVirtualMachinesAsync(null, null, null, cancellationToken)
                : _arm.GetResourceGroupResource(ResourceGroupResource.CreateResourceIdentifier(_s.SubscriptionId, _s.ResourceGroup)).GetVirtualMachines().GetAllAsync(null, null, cancellationToken);
            var e = source.AsPages().GetAsyncEnumerator(cancellationToken);
            try
            {
                while (await Next(e, cancellationToken).ConfigureAwait(false))
                {
                    var page = e.Current.Values.Select(v => v.Data).ToList();
                    all.AddRange(page);
                    var mapped = page.Where(InLocation).Select(m => Map(m, status, sizes)).ToList();
                    if (mapped.Count > 0) yield return mapped;
                }
            }
            finally { await e.DisposeAsync().ConfigureAwait(false); }
            cached.Models[modelKey] = all;
            Listings[_cacheKey] = cached;
        }

        private static async Task<bool> Next<T>(IAsyncEnumerator<T> e, CancellationToken ct)
        {
            try { return await e.MoveNextAsync().ConfigureAwait(false); }
            catch (Exception ex) { throw AzureErrors.Map(ex, null, ct); }
        }

        private static IEnumerable<List<T>> Chunk<T>(IEnumerable<T> items, int size)
        {
            var list = new List<T>(Math.Min(size, 1024));
            foreach (var i in items)
            {
                list.Add(i);
                if (list.Count >= size) { yield return list; list = new List<T>(Math.Min(size, 1024)); }
            }
            if (list.Count > 0) yield return list;
        }

        private bool InLocation(VirtualMachineData vm) => string.Equals(AzureSettings.NormalizeLocation(vm.Location.Name), _s.Location, StringComparison.Ordinal);

        private GridWorkload Map(VirtualMachineData vm, IReadOnlyDictionary<string, VmStatus> status, IReadOnlyDictionary<string, VirtualMachineSize>? sizes)
        {
            status.TryGetValue(vm.Id.ToString(), out var st);
            return AzureMapping.ToWorkload(vm, st ?? VmStatus.From(vm.InstanceView), DcName, sizes);
        }
    }
}
