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
            options.SetApiVersion(VnetType, VnetApiVersion); // AzureNetworks.cs
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

        public Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
            => Task.FromException(GridException.Unsupported("An Azure VM cannot move to another zone in place.", "CapabilityNotSupported", nativeId));

        public Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken cancellationToken)
            => Task.FromException<bool>(GridException.Unsupported("Azure operations are single-step and idempotent: the engine re-runs them.", "CapabilityNotSupported", operation?.Target));

        public Task DisconnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void Dispose() { _sizesGate.Dispose(); }
    }
}
