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
    /// <summary>
    /// One Azure datacenter (subscription + location). Retries: the Azure SDK pipeline retries 429/5xx itself
    /// and honours Retry-After (Azure.Core's RetryPolicy), so <see cref="HandlesOwnRetries"/> is true and the
    /// engine does not retry again. What is still throttled after the SDK's retries surfaces as Throttled with RetryAfter.
    /// </summary>
    public sealed partial class AzureConnection : IGridConnection
    {
        internal const string NicApiVersion = "2023-05-01";
        internal const string DiskApiVersion = "2023-04-02";

        private readonly AzureSettings _s;
        private readonly ArmClient _arm;
        private readonly SubscriptionResource _subscription;
        private readonly ProviderServices? _services;
        private readonly string _cacheKey;
        private IReadOnlyDictionary<string, VirtualMachineSize>? _sizes;
        private readonly SemaphoreSlim _sizesGate = new SemaphoreSlim(1, 1);

        /// <summary>Poll interval when a long-running operation's response carries no Retry-After (tests shorten it).</summary>
        internal TimeSpan FallbackPollInterval { get; set; } = TimeSpan.FromSeconds(5);
        /// <summary>Lower bound of one poll wait (a server saying Retry-After: 0 is not polled in a tight loop; tests set it to zero).</summary>
        internal TimeSpan MinPollInterval { get; set; } = TimeSpan.FromSeconds(1);
        /// <summary>Upper bound of one poll wait (a server asking for more is capped).</summary>
        internal TimeSpan MaxPollInterval { get; set; } = TimeSpan.FromSeconds(60);
        /// <summary>Lifetime of the process-wide listing cache shared by datacenters of one subscription.</summary>
        internal static TimeSpan ListingLifetime { get; set; } = TimeSpan.FromSeconds(15);

        internal AzureConnection(AzureProvider provider, ProviderConnectRequest request, AzureSettings settings, TokenCredential credential, string principal)
        {
            _s = settings;
            _services = request.Services;
            Datacenter = request.Datacenter;
            var options = new ArmClientOptions { Environment = settings.Environment };
            options.Retry.Mode = RetryMode.Exponential;
            options.Retry.MaxRetries = 3;
            options.Retry.Delay = TimeSpan.FromSeconds(1);
            options.Retry.MaxDelay = TimeSpan.FromSeconds(60);
            options.Diagnostics.IsLoggingContentEnabled = false;
            options.Diagnostics.IsTelemetryEnabled = false;
            options.SetApiVersion(new ResourceType("Microsoft.Network/networkInterfaces"), NicApiVersion);
            options.SetApiVersion(new ResourceType("Microsoft.Compute/disks"), DiskApiVersion);
            _arm = new ArmClient(credential, settings.SubscriptionId, options);
            _subscription = _arm.GetSubscriptionResource(SubscriptionResource.CreateResourceIdentifier(settings.SubscriptionId));
            Endpoint = settings.Environment.Endpoint.GetLeftPart(UriPartial.Authority) + "/subscriptions/" + settings.SubscriptionId + "/locations/" + settings.Location
                       + (settings.ResourceGroup != null ? "/resourceGroups/" + settings.ResourceGroup : "");
            _cacheKey = settings.Environment.Endpoint.GetLeftPart(UriPartial.Authority).ToLowerInvariant() + "|" + settings.SubscriptionId.ToLowerInvariant() + "|" + principal;
            Capabilities = provider.Capabilities;
        }

        public GridDatacenter Datacenter { get; }
        public GridCapabilities Capabilities { get; }
        public string Endpoint { get; }
        public bool HandlesOwnRetries => true;
        private string DcName => Datacenter.Name;

        private void Verbose(string message) => _services?.Verbose(message);

        internal async Task ValidateAsync(CancellationToken ct)
        {
            await Guard(async () =>
            {
                if (_s.ResourceGroup != null)
                {
                    // A principal with rights on one resource group only may not read the subscription.
                    var rg = await _arm.GetResourceGroupResource(ResourceGroupResource.CreateResourceIdentifier(_s.SubscriptionId, _s.ResourceGroup)).GetAsync(ct).ConfigureAwait(false);
                    Verbose($"Azure: connected to resource group {rg.Value.Data.Name} of subscription {_s.SubscriptionId}, location {_s.Location}.");
                }
                else
                {
                    var sub = await _subscription.GetAsync(ct).ConfigureAwait(false);
                    Verbose($"Azure: connected to subscription {sub.Value.Data.DisplayName} ({_s.SubscriptionId}), location {_s.Location}.");
                }
                return 0;
            }, _s.SubscriptionId, ct).ConfigureAwait(false);
        }

        // ---------------------------------------------------------------- error guard

        private static async Task<T> Guard<T>(Func<Task<T>> call, object? target, CancellationToken ct)
        {
            try { return await call().ConfigureAwait(false); }
            catch (Exception ex) { throw AzureErrors.Map(ex, target, ct); }
        }

        private static async Task Guard(Func<Task> call, object? target, CancellationToken ct)
        {
            try { await call().ConfigureAwait(false); }
            catch (Exception ex) { throw AzureErrors.Map(ex, target, ct); }
        }

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

        // ---------------------------------------------------------------- single VM

        /// <summary>Parses a native id; anything that is not a VM of this subscription is NotFound.</summary>
        private ResourceIdentifier ParseVmId(string nativeId)
        {
            bool ok;
            ResourceIdentifier? id = null;
            try
            {
                // ResourceIdentifier parses lazily: touch its parts here so a malformed id is NotFound, not a crash later.
                id = new ResourceIdentifier(nativeId ?? "");
                ok = (nativeId ?? "").StartsWith("/subscriptions/", StringComparison.OrdinalIgnoreCase)
                     && id.ResourceType == VirtualMachineResource.ResourceType
                     && string.Equals(id.SubscriptionId, _s.SubscriptionId, StringComparison.OrdinalIgnoreCase)
                     && (_s.ResourceGroup == null || string.Equals(id.ResourceGroupName, _s.ResourceGroup, StringComparison.OrdinalIgnoreCase));
            }
            catch (Exception) { ok = false; }
            if (!ok || id is null) throw WorkloadNotFound(nativeId ?? "");
            return id;
        }

        private GridException WorkloadNotFound(string nativeId)
            => GridException.NotFound($"No Azure VM '{nativeId}' in datacenter '{DcName}' (subscription {_s.SubscriptionId}, location {_s.Location}).", "WorkloadNotFound", nativeId);

        /// <summary>GET with $expand=instanceView (one VM: one request).</summary>
        private async Task<VirtualMachineResource> GetVmAsync(string nativeId, CancellationToken ct)
        {
            var id = ParseVmId(nativeId);
            try
            {
                var vm = (await _arm.GetVirtualMachineResource(id).GetAsync(InstanceViewType.InstanceView, ct).ConfigureAwait(false)).Value;
                if (!InLocation(vm.Data)) throw WorkloadNotFound(nativeId);
                return vm;
            }
            catch (RequestFailedException rf) when (rf.Status == 404)
            {
                var g = AzureErrors.FromRequestFailed(rf, nativeId);
                throw new GridException(GridErrorKind.NotFound, g.Message, "WorkloadNotFound", rf) { NativeCode = g.NativeCode, Target = nativeId };
            }
        }

        private async Task<GridWorkload> MapOneAsync(VirtualMachineResource vm, CancellationToken ct)
        {
            var sizes = await TryGetSizesAsync(ct).ConfigureAwait(false);
            return AzureMapping.ToWorkload(vm.Data, VmStatus.From(vm.Data.InstanceView), DcName, sizes);
        }

        public Task<GridWorkload> GetWorkloadAsync(string nativeId, CancellationToken cancellationToken)
            => Guard(async () => await MapOneAsync(await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false), nativeId, cancellationToken);

        // ---------------------------------------------------------------- long-running operations

        /// <summary>Follows a started long-running operation, reporting progress, waiting as the server's Retry-After says.</summary>
        private async Task FollowAsync(Operation op, string activity, IOperationScope scope, CancellationToken ct)
        {
            var started = DateTime.UtcNow;
            scope.Report(new GridProgress(activity, "Accepted by Azure", 0));
            int polls = 0;
            while (!op.HasCompleted)
            {
                TimeSpan wait = AzureErrors.RetryAfter(op.GetRawResponse()) ?? FallbackPollInterval;
                if (wait > MaxPollInterval) wait = MaxPollInterval;
                if (wait < MinPollInterval) wait = MinPollInterval;
                if (wait > TimeSpan.Zero) await Task.Delay(wait, ct).ConfigureAwait(false);
                await op.UpdateStatusAsync(ct).ConfigureAwait(false);
                polls++;
                if (!op.HasCompleted)
                    scope.Report(new GridProgress(activity, $"In progress ({(int)(DateTime.UtcNow - started).TotalSeconds}s, poll {polls})", -1));
            }
            scope.Report(new GridProgress(activity, "Completed", 100));
            Verbose($"Azure: {activity} completed after {polls} poll(s).");
        }

        // ---------------------------------------------------------------- create

        public Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                if (request == null) throw new ArgumentNullException(nameof(request));
                if (string.IsNullOrWhiteSpace(request.Name))
                    throw GridException.InvalidRequest("A VM name is required.", "AzureNameRequired");
                string rg = Get(ToRo(request.Options), "ResourceGroupName") ?? _s.ResourceGroup
                    ?? throw GridException.InvalidRequest("Give -ResourceGroupName on the connection or Options[\"ResourceGroupName\"] for a new VM.", "AzureResourceGroupRequired");
                if (_s.ResourceGroup != null && !string.Equals(rg, _s.ResourceGroup, StringComparison.OrdinalIgnoreCase))
                    throw GridException.InvalidRequest($"This datacenter is limited to resource group '{_s.ResourceGroup}'.", "AzureResourceGroupOutOfScope");
                string key = string.IsNullOrEmpty(request.IdempotencyKey) ? scope.IdempotencyKey : request.IdempotencyKey;
                string keyTag = TagValue(key);
                var id = VirtualMachineResource.CreateResourceIdentifier(_s.SubscriptionId, rg, request.Name);

                // Idempotency: PUT is idempotent by name, but a second PUT is an update (and Azure refuses to change
                // osProfile), so look first: our VM (same key) is returned as is; someone else's is a conflict.
                var existing = await TryGetAsync(id, cancellationToken).ConfigureAwait(false);
                if (existing != null)
                {
                    existing.Data.Tags.TryGetValue(AzureMapping.IdempotencyTag, out var existingKey);
                    if (!string.Equals(existingKey, keyTag, StringComparison.Ordinal))
                        throw GridException.Conflict($"An Azure VM named '{request.Name}' already exists in resource group '{rg}' and was not created by this request.", "WorkloadExists", id.ToString());
                    Verbose($"Azure: VM {id} already exists for idempotency key; not creating again.");
                    return await MapOneAsync(existing, cancellationToken).ConfigureAwait(false);
                }

                var data = await BuildVmDataAsync(request, keyTag, cancellationToken).ConfigureAwait(false);
                scope.Checkpoint("azure.vmId", id.ToString());
                var rgResource = _arm.GetResourceGroupResource(ResourceGroupResource.CreateResourceIdentifier(_s.SubscriptionId, rg));
                Invalidate();
                var op = await rgResource.GetVirtualMachines().CreateOrUpdateAsync(WaitUntil.Started, request.Name, data, cancellationToken).ConfigureAwait(false);
                await FollowAsync(op, "Creating Azure VM " + request.Name, scope, cancellationToken).ConfigureAwait(false);
                if (!request.PowerOn)
                {
                    var dop = await _arm.GetVirtualMachineResource(id).DeallocateAsync(WaitUntil.Started, null, cancellationToken).ConfigureAwait(false);
                    await FollowAsync(dop, "Deallocating new Azure VM " + request.Name, scope, cancellationToken).ConfigureAwait(false);
                }
                Invalidate();
                return await GetWorkloadAsync(id.ToString(), cancellationToken).ConfigureAwait(false);
            }, request?.Name, cancellationToken);

        private static IReadOnlyDictionary<string, string> ToRo(IDictionary<string, string> d)
            => d as IReadOnlyDictionary<string, string> ?? new Dictionary<string, string>(d, StringComparer.OrdinalIgnoreCase);

        /// <summary>Tag values are limited to 256 characters: long keys are hashed.</summary>
        internal static string TagValue(string key)
        {
            if (key.Length <= 200) return key;
            using var sha = SHA256.Create();
            return "sha256:" + BitConverter.ToString(sha.ComputeHash(Encoding.UTF8.GetBytes(key))).Replace("-", "").ToLowerInvariant();
        }

        private async Task<VirtualMachineResource?> TryGetAsync(ResourceIdentifier id, CancellationToken ct)
        {
            try { return (await _arm.GetVirtualMachineResource(id).GetAsync(InstanceViewType.InstanceView, ct).ConfigureAwait(false)).Value; }
            catch (RequestFailedException rf) when (rf.Status == 404) { return null; }
        }

        private async Task<VirtualMachineData> BuildVmDataAsync(CreateWorkloadRequest request, string keyTag, CancellationToken ct)
        {
            var opts = ToRo(request.Options);
            // Size: named, or the smallest of the location that fits CPU/memory.
            string? size = request.Size;
            if (string.IsNullOrEmpty(size))
            {
                if (request.CpuCount == null && request.MemoryMB == null)
                    throw GridException.InvalidRequest("Give a VM size (e.g. Standard_B2s) or CPU/memory.", "AzureSizeRequired");
                var sizes = await GetSizesAsync(ct).ConfigureAwait(false);
                size = sizes.Values
                    .Where(s => (request.CpuCount == null || s.NumberOfCores >= request.CpuCount) && (request.MemoryMB == null || s.MemoryInMB >= request.MemoryMB))
                    .OrderBy(s => s.NumberOfCores).ThenBy(s => s.MemoryInMB).Select(s => s.Name).FirstOrDefault()
                    ?? throw GridException.InvalidRequest("No VM size of this location has that many CPUs and that much memory.", "SizeNotFound");
            }

            string? imported = Get(opts, "ImportedDisk");
            var image = imported == null ? ParseImage(request.Image) : null;
            string network = Get(opts, "Network") ?? Get(opts, "SubnetId") ?? Get(opts, "NetworkInterfaceId")
                ?? throw GridException.InvalidRequest("Options[\"Network\"] must name an existing subnet id or network interface id.", "AzureNetworkRequired");
            ResourceIdentifier netId;
            try { netId = new ResourceIdentifier(network); }
            catch (Exception) { throw GridException.InvalidRequest("Options[\"Network\"] is not an Azure resource id of a subnet or network interface.", "AzureInvalidNetwork"); }

            var data = new VirtualMachineData(new AzureLocation(_s.Location))
            {
                HardwareProfile = new VirtualMachineHardwareProfile { VmSize = new VirtualMachineSizeType(size!) },
                StorageProfile = new VirtualMachineStorageProfile
                {
                    ImageReference = image,
                    OSDisk = new VirtualMachineOSDisk(DiskCreateOptionType.FromImage)
                    {
                        Name = request.Name + "-osdisk",
                        Caching = CachingType.ReadWrite,
                        DeleteOption = DiskDeleteOptionType.Delete,
                        ManagedDisk = new VirtualMachineManagedDisk(),
                    },
                },
                NetworkProfile = new VirtualMachineNetworkProfile(),
            };
            string? diskType = Get(opts, "OsDiskType");
            if (diskType != null) data.StorageProfile.OSDisk.ManagedDisk.StorageAccountType = new StorageAccountType(diskType);
            string? diskGb = Get(opts, "OsDiskSizeGB");
            if (diskGb != null && int.TryParse(diskGb, out int gb)) data.StorageProfile.OSDisk.DiskSizeGB = gb;

            if (string.Equals(netId.ResourceType.ToString(), "Microsoft.Network/virtualNetworks/subnets", StringComparison.OrdinalIgnoreCase))
            {
                // Compute creates (and, with deleteOption=Delete, deletes) the NIC itself: no Network SDK needed.
                data.NetworkProfile.NetworkApiVersion = NetworkApiVersion.TwoThousandTwenty1101;
                var ipc = new VirtualMachineNetworkInterfaceIPConfiguration("ipconfig1") { Primary = true, SubnetId = netId };
                var nic = new VirtualMachineNetworkInterfaceConfiguration(request.Name + "-nic") { Primary = true, DeleteOption = ComputeDeleteOption.Delete };
                nic.IPConfigurations.Add(ipc);
                data.NetworkProfile.NetworkInterfaceConfigurations.Add(nic);
            }
            else if (string.Equals(netId.ResourceType.ToString(), "Microsoft.Network/networkInterfaces", StringComparison.OrdinalIgnoreCase))
            {
                data.NetworkProfile.NetworkInterfaces.Add(new VirtualMachineNetworkInterfaceReference { Id = netId, Primary = true, DeleteOption = ComputeDeleteOption.Delete });
            }
            else
            {
                throw GridException.InvalidRequest($"Options[\"Network\"] must be a subnet or network interface id, not a {netId.ResourceType}.", "AzureInvalidNetwork");
            }

            if (imported != null) return AttachImportedDisk(data, opts, imported, request, keyTag);
            // Admin: an SSH key (Linux) or a credential (password). Secrets never leave this method except to Azure.
            string? sshKey = Get(opts, "SshPublicKey") ?? (request.Secrets.TryGetValue("SshPublicKey", out var sk) ? sk as string : null);
            var adminCred = request.Secrets.TryGetValue("AdminCredential", out var ac) ? ac as NetworkCredential : null;
            string adminUser = adminCred?.UserName is { Length: > 0 } u ? u : (Get(opts, "AdminUsername") ?? "azureuser");
            string computerName = Get(opts, "ComputerName") ?? (request.Name.Length > 15 && string.Equals(Get(opts, "OsType"), "Windows", StringComparison.OrdinalIgnoreCase) ? request.Name.Substring(0, 15) : request.Name);
            var osProfile = new VirtualMachineOSProfile { ComputerName = computerName, AdminUsername = adminUser };
            if (!string.IsNullOrEmpty(sshKey))
            {
                osProfile.LinuxConfiguration = new LinuxConfiguration { DisablePasswordAuthentication = string.IsNullOrEmpty(adminCred?.Password) };
                osProfile.LinuxConfiguration.SshPublicKeys.Add(new SshPublicKeyConfiguration { Path = "/home/" + adminUser + "/.ssh/authorized_keys", KeyData = sshKey });
                if (!string.IsNullOrEmpty(adminCred?.Password)) osProfile.AdminPassword = adminCred!.Password;
            }
            else if (!string.IsNullOrEmpty(adminCred?.Password))
            {
                osProfile.AdminPassword = adminCred!.Password;
            }
            else
            {
                throw GridException.InvalidRequest("Give Options[\"SshPublicKey\"] or Secrets[\"AdminCredential\"] (user name and password) for the VM's administrator.", "AzureAdminCredentialRequired");
            }
            data.OSProfile = osProfile;

            if (!string.IsNullOrEmpty(request.TargetHost) && !string.Equals(request.TargetHost, AzureMapping.RegionalHost, StringComparison.OrdinalIgnoreCase))
                data.Zones.Add(request.TargetHost);
            foreach (var t in request.Tags) data.Tags[t.Key] = t.Value;
            data.Tags[AzureMapping.IdempotencyTag] = keyTag;
            return data;
        }

        /// <summary>publisher:offer:sku:version (URN), or an image / gallery image resource id.</summary>
        internal static ImageReference ParseImage(string? image)
        {
            if (string.IsNullOrWhiteSpace(image))
                throw GridException.InvalidRequest("An image is required: publisher:offer:sku:version (e.g. Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest) or an image resource id.", "AzureImageRequired");
            image = image!.Trim();
            if (image.StartsWith("/", StringComparison.Ordinal))
            {
                try { return new ImageReference { Id = new ResourceIdentifier(image) }; }
                catch (Exception) { throw GridException.InvalidRequest($"'{image}' is not an image resource id.", "AzureInvalidImage"); }
            }
            var parts = image.Split(':');
            if (parts.Length != 4 || parts.Any(p => p.Trim().Length == 0))
                throw GridException.InvalidRequest($"Image '{image}' is not publisher:offer:sku:version.", "AzureInvalidImage");
            return new ImageReference { Publisher = parts[0].Trim(), Offer = parts[1].Trim(), Sku = parts[2].Trim(), Version = parts[3].Trim() };
        }

        // ---------------------------------------------------------------- power

        private static (WorkloadState state, string? power) PowerOf(VirtualMachineResource vm)
        {
            var st = VmStatus.From(vm.Data.InstanceView);
            var (state, _) = AzureMapping.MapState(st?.PowerCode, st?.ProvisioningCode ?? vm.Data.ProvisioningState);
            return (state, st?.PowerCode);
        }

        public Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var (state, _) = PowerOf(vm);
                if (state == WorkloadState.Running || state == WorkloadState.Starting) return;
                Invalidate();
                var op = await vm.PowerOnAsync(WaitUntil.Started, cancellationToken).ConfigureAwait(false);
                await FollowAsync(op, "Starting Azure VM " + vm.Data.Name, scope, cancellationToken).ConfigureAwait(false);
                Invalidate();
            }, nativeId, cancellationToken);

        /// <summary>
        /// Graceful (the default) and Deallocate deallocate, as Stop-AzVM does, so compute stops being billed;
        /// StayProvisioned powers off keeping the allocation (still billed); TurnOff powers off with skipShutdown.
        /// </summary>
        public Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var (state, _) = PowerOf(vm);
                Operation op;
                switch (mode)
                {
                    case StopMode.Graceful:
                    case StopMode.Deallocate:
                        if (state == WorkloadState.Deallocated || state == WorkloadState.Deallocating) return;
                        Invalidate();
                        op = await vm.DeallocateAsync(WaitUntil.Started, null, cancellationToken).ConfigureAwait(false);
                        await FollowAsync(op, "Deallocating Azure VM " + vm.Data.Name, scope, cancellationToken).ConfigureAwait(false);
                        break;
                    case StopMode.StayProvisioned:
                    case StopMode.TurnOff:
                        if (state == WorkloadState.Stopped || state == WorkloadState.Stopping || state == WorkloadState.Deallocated || state == WorkloadState.Deallocating) return;
                        Invalidate();
                        op = await vm.PowerOffAsync(WaitUntil.Started, mode == StopMode.TurnOff ? true : (bool?)null, cancellationToken).ConfigureAwait(false);
                        await FollowAsync(op, (mode == StopMode.TurnOff ? "Turning off" : "Powering off") + " Azure VM " + vm.Data.Name, scope, cancellationToken).ConfigureAwait(false);
                        break;
                    default:
                        throw GridException.InvalidRequest("Unknown stop mode " + mode + ".", "AzureInvalidStopMode");
                }
                Invalidate();
            }, nativeId, cancellationToken);

        public Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                Invalidate();
                var op = await vm.RestartAsync(WaitUntil.Started, cancellationToken).ConfigureAwait(false);
                await FollowAsync(op, "Restarting Azure VM " + vm.Data.Name, scope, cancellationToken).ConfigureAwait(false);
                Invalidate();
            }, nativeId, cancellationToken);

        public Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => Task.FromException(GridException.Unsupported("Azure VMs cannot be suspended by this provider (hibernation is not supported); use Stop-GridWorkload.", "CapabilityNotSupported", nativeId));

        // ---------------------------------------------------------------- remove

        /// <summary>
        /// Deletes the VM. Without removeStorage, resources created with deleteOption=Delete (OS disk, NIC) are
        /// first switched to Detach so they stay. With removeStorage, the OS disk, data disks and NICs that Azure
        /// did not delete with the VM are deleted through the generic resource API (Compute has no call for NICs).
        /// A VM that is already gone is a no-op.
        /// </summary>
        public Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var id = ParseVmId(nativeId);
                var vm = await TryGetAsync(id, cancellationToken).ConfigureAwait(false);
                if (vm == null) { Verbose($"Azure: VM {nativeId} is already gone."); return; }
                Invalidate();
                var d = vm.Data;
                var dependents = new List<ResourceIdentifier>();
                if (d.StorageProfile?.OSDisk?.ManagedDisk?.Id is ResourceIdentifier osId) dependents.Add(osId);
                if (d.StorageProfile?.DataDisks != null)
                    foreach (var dd in d.StorageProfile.DataDisks) if (dd.ManagedDisk?.Id is ResourceIdentifier ddId) dependents.Add(ddId);
                if (d.NetworkProfile?.NetworkInterfaces != null)
                    foreach (var n in d.NetworkProfile.NetworkInterfaces) if (n.Id is ResourceIdentifier nicId) dependents.Add(nicId);

                if (!removeStorage && HasDeleteOptions(d))
                {
                    var patch = DetachPatch(d);
                    var pop = await vm.UpdateAsync(WaitUntil.Started, patch, cancellationToken).ConfigureAwait(false);
                    await FollowAsync(pop, "Keeping the disks and NICs of Azure VM " + d.Name, scope, cancellationToken).ConfigureAwait(false);
                }

                scope.Checkpoint("azure.remove", nativeId);
                var op = await vm.DeleteAsync(WaitUntil.Started, null, cancellationToken).ConfigureAwait(false);
                await FollowAsync(op, "Removing Azure VM " + d.Name, scope, cancellationToken).ConfigureAwait(false);

                if (removeStorage)
                {
                    // NICs first (a disk is free once the VM is gone; a NIC too), each DELETE is idempotent (404 = gone).
                    foreach (var dep in dependents.OrderBy(x => x.ResourceType.ToString().IndexOf("networkInterfaces", StringComparison.OrdinalIgnoreCase) >= 0 ? 0 : 1))
                    {
                        try
                        {
                            var gop = await _arm.GetGenericResource(dep).DeleteAsync(WaitUntil.Started, cancellationToken).ConfigureAwait(false);
                            await FollowAsync(gop, "Removing " + dep.Name, scope, cancellationToken).ConfigureAwait(false);
                        }
                        catch (RequestFailedException rf) when (rf.Status == 404)
                        {
                            Verbose($"Azure: {dep} was already deleted with the VM.");
                        }
                    }
                }
                Invalidate();
            }, nativeId, cancellationToken);

        private static bool HasDeleteOptions(VirtualMachineData d)
            => d.StorageProfile?.OSDisk?.DeleteOption == DiskDeleteOptionType.Delete
               || (d.StorageProfile?.DataDisks?.Any(x => x.DeleteOption == DiskDeleteOptionType.Delete) ?? false)
               || (d.NetworkProfile?.NetworkInterfaces?.Any(n => n.DeleteOption == ComputeDeleteOption.Delete) ?? false)
               || (d.NetworkProfile?.NetworkInterfaceConfigurations?.Any(n => n.DeleteOption == ComputeDeleteOption.Delete) ?? false);

        private static VirtualMachinePatch DetachPatch(VirtualMachineData d)
        {
            var patch = new VirtualMachinePatch();
            if (d.StorageProfile != null)
            {
                patch.StorageProfile = new VirtualMachineStorageProfile();
                if (d.StorageProfile.OSDisk != null)
                {
                    d.StorageProfile.OSDisk.DeleteOption = DiskDeleteOptionType.Detach;
                    patch.StorageProfile.OSDisk = d.StorageProfile.OSDisk;
                }
                foreach (var dd in d.StorageProfile.DataDisks)
                {
                    dd.DeleteOption = DiskDeleteOptionType.Detach;
                    patch.StorageProfile.DataDisks.Add(dd);
                }
            }
            if (d.NetworkProfile != null)
            {
                foreach (var n in d.NetworkProfile.NetworkInterfaces) n.DeleteOption = ComputeDeleteOption.Detach;
                foreach (var n in d.NetworkProfile.NetworkInterfaceConfigurations) n.DeleteOption = ComputeDeleteOption.Detach;
                patch.NetworkProfile = d.NetworkProfile;
            }
            return patch;
        }

        // ---------------------------------------------------------------- resize, tags

        public Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                string? size = request.Size;
                var sizes = await GetSizesAsync(cancellationToken).ConfigureAwait(false);
                if (string.IsNullOrEmpty(size))
                {
                    if (request.CpuCount == null && request.MemoryMB == null)
                        throw GridException.InvalidRequest("Give a size, or CPU/memory, to resize to.", "AzureSizeRequired");
                    size = sizes.Values
                        .Where(s => (request.CpuCount == null || s.NumberOfCores >= request.CpuCount) && (request.MemoryMB == null || s.MemoryInMB >= request.MemoryMB))
                        .OrderBy(s => s.NumberOfCores).ThenBy(s => s.MemoryInMB).Select(s => s.Name).FirstOrDefault()
                        ?? throw GridException.InvalidRequest("No VM size of this location has that many CPUs and that much memory.", "SizeNotFound");
                }
                else if (sizes.Count > 0 && !sizes.ContainsKey(size!))
                {
                    throw GridException.InvalidRequest($"Size '{size}' is not offered in {_s.Location}.", "SizeNotFound", size);
                }
                if (string.Equals(vm.Data.HardwareProfile?.VmSize?.ToString(), size, StringComparison.OrdinalIgnoreCase)) return;
                var (state, power) = PowerOf(vm);
                if ((state == WorkloadState.Running || state == WorkloadState.Starting) && !request.AllowRestart)
                    throw GridException.Conflict($"Resizing running Azure VM '{vm.Data.Name}' restarts it; stop it first or allow the restart (-Restart).", "ResizeRequiresRestart", nativeId);
                Invalidate();
                var patch = new VirtualMachinePatch { HardwareProfile = new VirtualMachineHardwareProfile { VmSize = new VirtualMachineSizeType(size!) } };
                var op = await vm.UpdateAsync(WaitUntil.Started, patch, cancellationToken).ConfigureAwait(false);
                await FollowAsync(op, $"Resizing Azure VM {vm.Data.Name} to {size}", scope, cancellationToken).ConfigureAwait(false);
                Invalidate();
            }, nativeId, cancellationToken);

        public Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var merged = new Dictionary<string, string>(vm.Data.Tags, StringComparer.OrdinalIgnoreCase);
                foreach (var kv in tags)
                {
                    if (string.Equals(kv.Key, AzureMapping.IdempotencyTag, StringComparison.OrdinalIgnoreCase)) continue;
                    if (kv.Value == null) merged.Remove(kv.Key); else merged[kv.Key] = kv.Value;
                }
                var patch = new VirtualMachinePatch();
                foreach (var kv in merged) patch.Tags[kv.Key] = kv.Value;
                Invalidate();
                var op = await vm.UpdateAsync(WaitUntil.Started, patch, cancellationToken).ConfigureAwait(false);
                await FollowAsync(op, "Tagging Azure VM " + vm.Data.Name, scope, cancellationToken).ConfigureAwait(false);
                Invalidate();
            }, nativeId, cancellationToken);

        public Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
            => Task.FromException(GridException.Unsupported("An Azure VM cannot move to another zone in place.", "CapabilityNotSupported", nativeId));

        public Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken cancellationToken)
            => Task.FromException<bool>(GridException.Unsupported("Azure operations are single-step and idempotent: the engine re-runs them.", "CapabilityNotSupported", operation?.Target));

        public Task DisconnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void Dispose() { _sizesGate.Dispose(); }
    }
}
