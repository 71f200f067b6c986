using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Engine.Tests
{
    /// <summary>
    /// An in-memory provider for engine tests: its behaviour is scripted per datacenter through static state,
    /// so the engine's own logic (fan-out, filters, retries, journal, resume) is what the tests observe.
    /// </summary>
    public sealed class FakeProvider : IGridProvider
    {
        public const string ProviderName = "EngineFake";
        public static readonly ConcurrentDictionary<string, FakeDatacenter> Datacenters = new ConcurrentDictionary<string, FakeDatacenter>(StringComparer.OrdinalIgnoreCase);

        public string Name => ProviderName;
        public string Description => "Engine test double";
        public GridCapabilities Capabilities => FakeDatacenter.DefaultCapabilities;
        public IReadOnlyList<ProviderParameter> ConnectionParameters { get; } = new[]
        {
            new ProviderParameter("Region", ProviderParameterKind.String, "A region"),
            new ProviderParameter("Credential", ProviderParameterKind.Credential, "A credential"),
        };
        public bool IsAvailable(out string? reason) { reason = null; return true; }

        public Task<IGridConnection> ConnectAsync(ProviderConnectRequest request, CancellationToken cancellationToken)
        {
            var dc = Datacenters.GetOrAdd(request.Datacenter.Name, n => new FakeDatacenter());
            if (dc.FailConnect != null) throw dc.FailConnect;
            dc.LastSecrets = request.Secrets;
            return Task.FromResult<IGridConnection>(new FakeConnection(request.Datacenter, dc));
        }
    }

    public sealed class FakeDatacenter
    {
        public const GridCapabilities DefaultCapabilities = GridCapabilities.Create | GridCapabilities.Start | GridCapabilities.Stop | GridCapabilities.TurnOff
            | GridCapabilities.Restart | GridCapabilities.Remove | GridCapabilities.Tags | GridCapabilities.Move | GridCapabilities.Resize;
        public GridCapabilities Capabilities = DefaultCapabilities;
        public readonly ConcurrentDictionary<string, GridWorkload> Workloads = new ConcurrentDictionary<string, GridWorkload>();
        public readonly ConcurrentDictionary<string, string> Keys = new ConcurrentDictionary<string, string>();
        public Exception? FailConnect;
        public Exception? FailList;
        /// <summary>Errors thrown by the next calls of changing methods, in order.</summary>
        public readonly ConcurrentQueue<Exception> NextErrors = new ConcurrentQueue<Exception>();
        public int Calls;
        public int Creates;
        public TimeSpan ActionDelay = TimeSpan.Zero;
        public IReadOnlyDictionary<string, object>? LastSecrets;
        public Func<GridOperation, IOperationScope, bool>? Resume;

        public GridWorkload Add(string dcName, string name, WorkloadState state = WorkloadState.Running, string host = "h1")
        {
            var id = Guid.NewGuid().ToString();
            var w = new GridWorkload { NativeId = id, Id = WorkloadId.Format(dcName, id), Name = name, Datacenter = dcName, Host = host, State = state, NativeState = state.ToString().ToLowerInvariant(), CpuCount = 1, MemoryMB = 1024 };
            Workloads[id] = w;
            return w;
        }
    }

    internal sealed class FakeConnection : IGridConnection
    {
        private readonly FakeDatacenter _dc;
        public FakeConnection(GridDatacenter datacenter, FakeDatacenter dc) { Datacenter = datacenter; _dc = dc; }
        public GridDatacenter Datacenter { get; }
        public GridCapabilities Capabilities => _dc.Capabilities;
        public string Endpoint => "fake://" + Datacenter.Name;
        public bool HandlesOwnRetries => false;

        private async Task Step(CancellationToken ct)
        {
            Interlocked.Increment(ref _dc.Calls);
            if (_dc.ActionDelay > TimeSpan.Zero) await Task.Delay(_dc.ActionDelay, ct);
            if (_dc.NextErrors.TryDequeue(out var ex)) throw ex;
        }

        private GridWorkload Copy(GridWorkload w) => new GridWorkload
        {
            Id = w.Id, NativeId = w.NativeId, Name = w.Name, Datacenter = w.Datacenter, Host = w.Host, State = w.State, NativeState = w.NativeState,
            CpuCount = w.CpuCount, MemoryMB = w.MemoryMB, Size = w.Size, Tags = new System.Collections.Hashtable(w.Tags, StringComparer.OrdinalIgnoreCase),
        };

        private GridWorkload Find(string id) => _dc.Workloads.TryGetValue(id, out var w) ? w : throw GridException.NotFound("no " + id, null, id);

        public Task<IReadOnlyList<GridHost>> ListHostsAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<GridHost>>(new[]
        {
            new GridHost { Datacenter = Datacenter.Name, Name = "h1", CpuCores = 8, MemoryMB = 8192 },
            new GridHost { Datacenter = Datacenter.Name, Name = "h2", CpuCores = 8, MemoryMB = 8192 },
        });
        public Task<IReadOnlyList<GridSize>> ListSizesAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<GridSize>>(new[] { new GridSize { Name = "small", CpuCount = 1, MemoryMB = 1024 } });
        public Task<IReadOnlyList<GridImage>> ListImagesAsync(IReadOnlyDictionary<string, string> filter, CancellationToken ct) => Task.FromResult<IReadOnlyList<GridImage>>(new[] { new GridImage { Name = "img" } });

        public async IAsyncEnumerable<IReadOnlyList<GridWorkload>> ListWorkloadsAsync(WorkloadQuery query, [EnumeratorCancellation] CancellationToken ct)
        {
            await Task.Yield();
            if (_dc.FailList != null) throw _dc.FailList;
            var all = _dc.Workloads.Values.OrderBy(w => w.Name).Select(Copy).ToList();
            for (int i = 0; i < all.Count; i += 2) yield return all.Skip(i).Take(2).ToList();
        }

        public async Task<GridWorkload> GetWorkloadAsync(string nativeId, CancellationToken ct) { await Task.Yield(); return Copy(Find(nativeId)); }

        public async Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken ct)
        {
            await Step(ct);
            if (_dc.Keys.TryGetValue(request.IdempotencyKey, out var existing)) return Copy(_dc.Workloads[existing]);
            Interlocked.Increment(ref _dc.Creates);
            var w = _dc.Add(Datacenter.Name, request.Name);
            foreach (var kv in request.Tags) w.Tags[kv.Key] = kv.Value;
            _dc.Keys[request.IdempotencyKey] = w.NativeId;
            return Copy(w);
        }

        public async Task StartAsync(string nativeId, IOperationScope scope, CancellationToken ct) { await Step(ct); Find(nativeId).State = WorkloadState.Running; }
        public async Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken ct) { await Step(ct); Find(nativeId).State = WorkloadState.Stopped; }
        public async Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken ct) { await Step(ct); Find(nativeId).State = WorkloadState.Running; }
        public Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken ct) => throw GridException.Unsupported("no suspend", "CapabilityNotSupported");
        public async Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken ct) { await Step(ct); _dc.Workloads.TryRemove(nativeId, out _); }
        public async Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken ct) { await Step(ct); var w = Find(nativeId); w.CpuCount = request.CpuCount ?? w.CpuCount; w.Size = request.Size ?? w.Size; }
        public async Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken ct)
        {
            await Step(ct);
            var w = Find(nativeId);
            foreach (var kv in tags) { if (kv.Value == null) w.Tags.Remove(kv.Key); else w.Tags[kv.Key] = kv.Value; }
        }
        public async Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken ct)
        {
            scope.Checkpoint("move.started", destinationHost);
            await Step(ct);
            Find(nativeId).Host = destinationHost;
        }
        public Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken ct)
            => _dc.Resume != null ? Task.FromResult(_dc.Resume(operation, scope)) : throw GridException.Unsupported("single-step", "CapabilityNotSupported");
        public Task DisconnectAsync(CancellationToken ct) => Task.CompletedTask;
        public void Dispose() { }
    }
}
