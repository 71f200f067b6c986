using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Providers
{
    /// <summary>
    /// A backend kind (Simulator, VSphere, Libvirt, HyperV, Aws, Azure...). Implementations live in their own assembly
    /// named GridAutomation.Provider.*.dll beside the core and are found by <see cref="ProviderRegistry"/>
    /// (a public class implementing this interface with a public parameterless constructor). Adding a provider
    /// never edits a cmdlet.
    /// </summary>
    public interface IGridProvider
    {
        /// <summary>The -Provider value, e.g. "VSphere". Case-insensitive.</summary>
        string Name { get; }
        /// <summary>One line shown in help and completion.</summary>
        string Description { get; }
        /// <summary>What any datacenter of this provider can do (a connection may narrow it).</summary>
        GridCapabilities Capabilities { get; }
        /// <summary>Connection parameters, exposed by Connect-GridDatacenter as dynamic parameters.</summary>
        IReadOnlyList<ProviderParameter> ConnectionParameters { get; }
        /// <summary>Whether the provider can run on this platform/process (e.g. libvirt library present). Return a reason when not.</summary>
        bool IsAvailable(out string? reason);
        /// <summary>Connects and validates (log in, check the endpoint). Returns the endpoint text to show in the registration.</summary>
        Task<IGridConnection> ConnectAsync(ProviderConnectRequest request, CancellationToken cancellationToken);
    }

    /// <summary>
    /// A live connection to one datacenter. Every method may throw <see cref="GridException"/> only (providers
    /// map their native errors). Methods are safe to call concurrently (the engine limits concurrency per datacenter).
    /// Workloads returned carry Datacenter, Id (<see cref="WorkloadId.Format"/>), NativeId, NativeState and Properties.
    /// </summary>
    public interface IGridConnection : IDisposable
    {
        GridDatacenter Datacenter { get; }
        /// <summary>Capabilities of this datacenter (provider's, possibly narrowed by the endpoint).</summary>
        GridCapabilities Capabilities { get; }
        /// <summary>Text for GridDatacenter.Endpoint (URL, URIs, region).</summary>
        string Endpoint { get; }
        /// <summary>True when the provider's SDK already retries transient errors itself, so the engine must not retry them again.</summary>
        bool HandlesOwnRetries { get; }

        Task<IReadOnlyList<GridHost>> ListHostsAsync(CancellationToken cancellationToken);
        Task<IReadOnlyList<GridSize>> ListSizesAsync(CancellationToken cancellationToken);
        /// <summary>Images; <paramref name="filter"/> is provider-specific (Azure publisher/offer), may be empty.</summary>
        Task<IReadOnlyList<GridImage>> ListImagesAsync(IReadOnlyDictionary<string, string> filter, CancellationToken cancellationToken);
        /// <summary>Streams workloads page by page (one server round trip per page, never one per workload).</summary>
        IAsyncEnumerable<IReadOnlyList<GridWorkload>> ListWorkloadsAsync(WorkloadQuery query, CancellationToken cancellationToken);
        /// <summary>One workload by native id; throws NotFound (GridErrorKind.NotFound) when it does not exist.</summary>
        Task<GridWorkload> GetWorkloadAsync(string nativeId, CancellationToken cancellationToken);

        /// <summary>Creates (and by default starts) a workload. Idempotent on request.IdempotencyKey / scope.IdempotencyKey.</summary>
        Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken cancellationToken);
        /// <summary>Powers on; also resumes a suspended or paused workload. No-op when already running.</summary>
        Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken);
        /// <summary>Stops. No-op when already stopped (or deallocated, for Graceful/TurnOff).</summary>
        Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken);
        Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken);
        Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken);
        /// <summary>Removes the workload; keeps its disks unless <paramref name="removeStorage"/>.</summary>
        Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken);
        Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken);
        /// <summary>Merges <paramref name="tags"/> into the workload's tags: a key with a null value is removed, the others are set, keys not named are kept.</summary>
        Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken);
        /// <summary>Moves to another host of this datacenter (live where <see cref="GridCapabilities.LiveMove"/>). Multi-step moves checkpoint through <paramref name="scope"/>.</summary>
        Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken);
        /// <summary>
        /// Finishes or rolls back an interrupted operation of this datacenter from its checkpoints
        /// (e.g. a save/restore move). Return true if finished, false if rolled back. Providers whose
        /// operations are single-step may simply re-run the operation idempotently (the default engine behaviour
        /// when this throws Unsupported).
        /// </summary>
        Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken cancellationToken);
        /// <summary>Logs out / releases native resources.</summary>
        Task DisconnectAsync(CancellationToken cancellationToken);
    }
}
