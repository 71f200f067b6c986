using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Engine
{
    /// <summary>
    /// The one entry point the cmdlets call. Holds the state store, the journal, the retry policy and the live
    /// connections of this process. Cmdlets bind parameters, call one method here and write what comes back.
    /// </summary>
    public sealed partial class GridEngine : IDisposable
    {
        /// <summary>
        /// The engine for this process and configuration (cached per state path). <paramref name="readOnly"/> (under
        /// -WhatIf) gives an engine whose store refuses every write transaction and whose changing methods throw.
        /// </summary>
        public static GridEngine Get(GridConfiguration configuration, bool readOnly) => throw new NotImplementedException();

        public GridConfiguration Configuration { get; private set; } = null!;
        public IStateStore Store { get; private set; } = null!;
        public IOperationJournal Journal { get; private set; } = null!;
        public bool ReadOnly { get; private set; }

        // ---- datacenters -------------------------------------------------------------------------------------

        /// <summary>Registers (or re-registers) and connects a datacenter. Secrets stay in this process only.</summary>
        public Task<GridDatacenter> ConnectDatacenterAsync(string provider, string name, string? owner, string? site,
            IDictionary<string, string> settings, IDictionary<string, object> secrets, IEngineObserver observer, CancellationToken ct) => throw new NotImplementedException();

        /// <summary>Registered datacenters matching the name patterns (null = all), with this process's connection status.</summary>
        public IReadOnlyList<GridDatacenter> GetDatacenters(IReadOnlyList<string>? namePatterns) => throw new NotImplementedException();

        /// <summary>The registered datacenter, or NotFound "DatacenterNotFound".</summary>
        public GridDatacenter GetDatacenter(string name) => throw new NotImplementedException();

        /// <summary>Logs out and forgets the live connection (registration kept).</summary>
        public Task DisconnectDatacenterAsync(string name, CancellationToken ct) => throw new NotImplementedException();

        /// <summary>Disconnects and deletes the registration (workloads in a provider are untouched).</summary>
        public Task UnregisterDatacenterAsync(string name, CancellationToken ct) => throw new NotImplementedException();

        // ---- inventory (fan-out in parallel; a failing datacenter yields an error item, the rest still answer) --

        public IAsyncEnumerable<FanOutResult<GridWorkload>> GetWorkloadsAsync(WorkloadFilter filter, IEngineObserver observer, CancellationToken ct) => throw new NotImplementedException();
        public IAsyncEnumerable<FanOutResult<GridHost>> GetHostsAsync(IReadOnlyList<string>? datacenters, IEngineObserver observer, CancellationToken ct) => throw new NotImplementedException();
        public IAsyncEnumerable<FanOutResult<GridSize>> GetSizesAsync(IReadOnlyList<string>? datacenters, IEngineObserver observer, CancellationToken ct) => throw new NotImplementedException();
        public IAsyncEnumerable<FanOutResult<GridImage>> GetImagesAsync(IReadOnlyList<string>? datacenters, IReadOnlyDictionary<string, string> filter, IEngineObserver observer, CancellationToken ct) => throw new NotImplementedException();

        /// <summary>One workload by id; NotFound "WorkloadNotFound".</summary>
        public Task<GridWorkload> GetWorkloadAsync(string id, CancellationToken ct) => throw new NotImplementedException();

        // ---- changes (journaled: intent before acting, result after) ---------------------------------------

        /// <summary>
        /// Creates a workload. Validates the datacenter, size and capacity-related input before acting.
        /// IdempotencyKey defaults to "&lt;datacenter&gt;/&lt;name&gt;" while a create of that name is unfinished: a
        /// re-run after a crash returns the workload the first run made instead of making a second.
        /// </summary>
        public Task<GridWorkload> CreateWorkloadAsync(string datacenter, CreateWorkloadRequest request, Guid? batchId, IEngineObserver observer, CancellationToken ct) => throw new NotImplementedException();

        /// <summary>
        /// Checks that the datacenter's capabilities allow the action (Unsupported "CapabilityNotSupported" before anything
        /// is journaled), journals it, runs it through the retry policy, and returns the updated workload
        /// (null after Remove).
        /// </summary>
        public Task<GridWorkload?> InvokeAsync(GridWorkload target, WorkloadActionRequest request, Guid? batchId, IEngineObserver observer, CancellationToken ct) => throw new NotImplementedException();

        /// <summary>Throws Unsupported "CapabilityNotSupported" if the datacenter of <paramref name="target"/> cannot do the action (used by cmdlets before ShouldProcess/AsJob, so nothing half-acts).</summary>
        public void EnsureCapable(GridWorkload target, WorkloadActionRequest request) => throw new NotImplementedException();

        // ---- journal -------------------------------------------------------------------------------------------

        public IReadOnlyList<GridOperation> GetOperations(OperationFilter filter) => throw new NotImplementedException();

        /// <summary>Finishes (or with <paramref name="rollback"/> rolls back) an Interrupted operation. Conflict "OperationStillRunning" if its lease holder is alive.</summary>
        public Task<GridOperation> ResumeOperationAsync(Guid id, bool rollback, IEngineObserver observer, CancellationToken ct) => throw new NotImplementedException();

        public void Dispose() { }
    }
}
