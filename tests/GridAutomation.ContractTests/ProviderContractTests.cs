using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using Xunit;

namespace GridAutomation.ContractTests
{
    /// <summary>What a provider's test project hands the contract suite.</summary>
    public sealed class ContractTarget : IDisposable
    {
        public ContractTarget(IGridConnection connection) { Connection = connection; }
        public IGridConnection Connection { get; }
        /// <summary>An image and size that a create succeeds with.</summary>
        public string? Image { get; set; }
        public string? Size { get; set; }
        public int? CpuCount { get; set; }
        public long? MemoryMB { get; set; }
        /// <summary>Extra create options the provider needs (network, datastore...).</summary>
        public IDictionary<string, string> CreateOptions { get; set; } = new Dictionary<string, string>();
        /// <summary>Called after each test (stop servers, delete temp dirs).</summary>
        public Action? Cleanup { get; set; }
        public void Dispose() { try { Connection.Dispose(); } finally { Cleanup?.Invoke(); } }
    }

    /// <summary>A journal-free scope for contract tests: checkpoints live in memory.</summary>
    public sealed class TestScope : IOperationScope
    {
        private readonly Dictionary<string, string> _checkpoints = new Dictionary<string, string>();
        public TestScope(string? key = null) { IdempotencyKey = key ?? OperationId.ToString("N"); }
        public Guid OperationId { get; } = Guid.NewGuid();
        public string IdempotencyKey { get; }
        public bool IsResume { get; set; }
        public IReadOnlyDictionary<string, string> Checkpoints => _checkpoints;
        public List<GridProgress> ProgressReports { get; } = new List<GridProgress>();
        public void Checkpoint(string key, string value) => _checkpoints[key] = value;
        public void Report(GridProgress progress) { lock (ProgressReports) ProgressReports.Add(progress); }
    }

    /// <summary>
    /// The provider contract, written once. A provider's test project derives one class from it and
    /// implements <see cref="CreateTarget"/>. Capability-dependent checks assert the refusal (Unsupported)
    /// when the provider does not declare the capability, so no check is ever silently skipped.
    /// </summary>
    public abstract class ProviderContractTests
    {
        protected static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

        /// <summary>A fresh connected datacenter with at least one host and a usable image/size.</summary>
        protected abstract ContractTarget CreateTarget();

        protected static CancellationToken Ct() => new CancellationTokenSource(Timeout).Token;

        protected async Task<GridWorkload> CreateAsync(ContractTarget t, string name, string? key = null, bool powerOn = true)
        {
            var req = new CreateWorkloadRequest
            {
                Name = name, Image = t.Image, Size = t.Size, CpuCount = t.CpuCount, MemoryMB = t.MemoryMB,
                IdempotencyKey = key ?? ("contract/" + name), PowerOn = powerOn,
            };
            foreach (var kv in t.CreateOptions) req.Options[kv.Key] = kv.Value;
            req.Tags["contract"] = "yes";
            return await t.Connection.CreateWorkloadAsync(req, new TestScope(req.IdempotencyKey), Ct());
        }

        protected static async Task<List<GridWorkload>> ListAllAsync(IGridConnection c, WorkloadQuery? q = null)
        {
            var all = new List<GridWorkload>();
            await foreach (var page in c.ListWorkloadsAsync(q ?? new WorkloadQuery(), Ct())) all.AddRange(page);
            return all;
        }

        /// <summary>Waits until the workload reaches one of the states (providers may be asynchronous).</summary>
        protected static async Task<GridWorkload> WaitForAsync(IGridConnection c, string nativeId, params WorkloadState[] states)
        {
            var deadline = DateTime.UtcNow + Timeout;
            while (true)
            {
                var w = await c.GetWorkloadAsync(nativeId, Ct());
                if (states.Contains(w.State)) return w;
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"{nativeId} stayed {w.State} ({w.NativeState}), wanted {string.Join("/", states)}");
                await Task.Delay(200);
            }
        }

        private static string NewName(string what) => "ct-" + what + "-" + Guid.NewGuid().ToString("N").Substring(0, 6);

        [Fact]
        public async Task Contract_Hosts_AreListed_WithDatacenterAndState()
        {
            using var t = CreateTarget();
            var hosts = await t.Connection.ListHostsAsync(Ct());
            Assert.NotEmpty(hosts);
            Assert.All(hosts, h =>
            {
                Assert.Equal(t.Connection.Datacenter.Name, h.Datacenter);
                Assert.False(string.IsNullOrEmpty(h.Name));
                if (h.CpuCores.HasValue) Assert.True(h.CpuCores > 0);
                if (h.MemoryMB.HasValue) Assert.True(h.MemoryMB > 0);
            });
            Assert.Equal(hosts.Count, hosts.Select(h => h.Name).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        }

        [Fact]
        public async Task Contract_Sizes_HaveShapes_AndPricesAreNeverInvented()
        {
            using var t = CreateTarget();
            var sizes = await t.Connection.ListSizesAsync(Ct());
            Assert.All(sizes, s =>
            {
                Assert.False(string.IsNullOrEmpty(s.Name));
                Assert.Equal(t.Connection.Datacenter.Name, s.Datacenter);
                if (s.PricePerHour.HasValue) Assert.True(s.PricePerHour >= 0);
            });
        }

        [Fact]
        public async Task Contract_Create_Get_List_Remove()
        {
            using var t = CreateTarget();
            string name = NewName("crud");
            var w = await CreateAsync(t, name);
            Assert.Equal(name, w.Name);
            Assert.Equal(t.Connection.Datacenter.Name, w.Datacenter);
            Assert.False(string.IsNullOrEmpty(w.NativeId));
            Assert.Equal(WorkloadId.Format(t.Connection.Datacenter.Name, w.NativeId), w.Id);
            Assert.False(string.IsNullOrEmpty(w.NativeState));

            var got = await t.Connection.GetWorkloadAsync(w.NativeId, Ct());
            Assert.Equal(w.Id, got.Id);
            Assert.Equal("yes", got.Tags["contract"]);

            var listed = await ListAllAsync(t.Connection);
            Assert.Single(listed, x => x.Id == w.Id);

            await t.Connection.RemoveAsync(w.NativeId, removeStorage: true, new TestScope(), Ct());
            var after = await ListAllAsync(t.Connection);
            Assert.DoesNotContain(after, x => x.Id == w.Id && x.State != WorkloadState.Deleted && x.State != WorkloadState.Deleting);
        }

        [Fact]
        public async Task Contract_Create_IsIdempotent_OnKey()
        {
            using var t = CreateTarget();
            string name = NewName("idem");
            string key = "idem-" + Guid.NewGuid().ToString("N");
            var a = await CreateAsync(t, name, key);
            var b = await CreateAsync(t, name, key);
            Assert.Equal(a.NativeId, b.NativeId);
            var listed = await ListAllAsync(t.Connection);
            Assert.Single(listed, x => x.Name == name && x.State != WorkloadState.Deleted);
            await t.Connection.RemoveAsync(a.NativeId, true, new TestScope(), Ct());
        }

        [Fact]
        public async Task Contract_GetUnknown_IsNotFound()
        {
            using var t = CreateTarget();
            var ex = await Assert.ThrowsAsync<GridException>(() => t.Connection.GetWorkloadAsync("does-not-exist-" + Guid.NewGuid().ToString("N"), Ct()));
            Assert.Equal(GridErrorKind.NotFound, ex.Kind);
        }

        [Fact]
        public async Task Contract_StopStart_ChangesState_AndKeepsNativeState()
        {
            using var t = CreateTarget();
            var w = await CreateAsync(t, NewName("power"));
            await WaitForAsync(t.Connection, w.NativeId, WorkloadState.Running);

            await t.Connection.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct());
            var stopped = await WaitForAsync(t.Connection, w.NativeId, WorkloadState.Stopped, WorkloadState.Deallocated);
            Assert.False(string.IsNullOrEmpty(stopped.NativeState));

            await t.Connection.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct()); // already stopped: no-op

            await t.Connection.StartAsync(w.NativeId, new TestScope(), Ct());
            await WaitForAsync(t.Connection, w.NativeId, WorkloadState.Running);
            await t.Connection.RemoveAsync(w.NativeId, true, new TestScope(), Ct());
        }

        [Fact]
        public async Task Contract_Suspend_ThenStartResumes_OrIsUnsupported()
        {
            using var t = CreateTarget();
            var w = await CreateAsync(t, NewName("susp"));
            await WaitForAsync(t.Connection, w.NativeId, WorkloadState.Running);
            if (!t.Connection.Capabilities.HasFlag(GridCapabilities.Suspend))
            {
                var ex = await Assert.ThrowsAsync<GridException>(() => t.Connection.SuspendAsync(w.NativeId, new TestScope(), Ct()));
                Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
            }
            else
            {
                await t.Connection.SuspendAsync(w.NativeId, new TestScope(), Ct());
                await WaitForAsync(t.Connection, w.NativeId, WorkloadState.Suspended, WorkloadState.Paused);
                await t.Connection.StartAsync(w.NativeId, new TestScope(), Ct());
                await WaitForAsync(t.Connection, w.NativeId, WorkloadState.Running);
            }
            await t.Connection.RemoveAsync(w.NativeId, true, new TestScope(), Ct());
        }

        [Fact]
        public async Task Contract_Tags_RoundTrip()
        {
            using var t = CreateTarget();
            var w = await CreateAsync(t, NewName("tags"));
            if (!t.Connection.Capabilities.HasFlag(GridCapabilities.Tags))
            {
                var ex = await Assert.ThrowsAsync<GridException>(() => t.Connection.SetTagsAsync(w.NativeId, new Dictionary<string, string?> { ["env"] = "test" }, new TestScope(), Ct()));
                Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
            }
            else
            {
                await t.Connection.SetTagsAsync(w.NativeId, new Dictionary<string, string?> { ["env"] = "test", ["contract"] = null }, new TestScope(), Ct());
                var got = await t.Connection.GetWorkloadAsync(w.NativeId, Ct());
                Assert.Equal("test", got.Tags["env"]);
                Assert.False(got.Tags.ContainsKey("contract"));
            }
            await t.Connection.RemoveAsync(w.NativeId, true, new TestScope(), Ct());
        }

        [Fact]
        public async Task Contract_Move_ToOtherHost_OrIsUnsupported()
        {
            using var t = CreateTarget();
            var hosts = await t.Connection.ListHostsAsync(Ct());
            var w = await CreateAsync(t, NewName("move"));
            w = await WaitForAsync(t.Connection, w.NativeId, WorkloadState.Running);
            if (!t.Connection.Capabilities.HasFlag(GridCapabilities.Move) && !t.Connection.Capabilities.HasFlag(GridCapabilities.LiveMove))
            {
                var ex = await Assert.ThrowsAsync<GridException>(() => t.Connection.MoveAsync(w.NativeId, hosts[0].Name, new TestScope(), Ct()));
                Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
            }
            else
            {
                Assert.True(hosts.Count >= 2, "a provider that can move must be tested with two hosts");
                var dest = hosts.First(h => !string.Equals(h.Name, w.Host, StringComparison.OrdinalIgnoreCase));
                await t.Connection.MoveAsync(w.NativeId, dest.Name, new TestScope(), Ct());
                var moved = await t.Connection.GetWorkloadAsync(w.NativeId, Ct());
                Assert.Equal(dest.Name, moved.Host, StringComparer.OrdinalIgnoreCase);
                Assert.Equal(WorkloadState.Running, moved.State);
                var ex = await Assert.ThrowsAsync<GridException>(() => t.Connection.MoveAsync(w.NativeId, "no-such-host-" + Guid.NewGuid().ToString("N"), new TestScope(), Ct()));
                Assert.True(ex.Kind == GridErrorKind.NotFound || ex.Kind == GridErrorKind.InvalidRequest, ex.Kind.ToString());
            }
            await t.Connection.RemoveAsync(w.NativeId, true, new TestScope(), Ct());
        }

        [Fact]
        public async Task Contract_Resize_OrIsUnsupported()
        {
            using var t = CreateTarget();
            var w = await CreateAsync(t, NewName("resize"));
            await WaitForAsync(t.Connection, w.NativeId, WorkloadState.Running);
            if (!t.Connection.Capabilities.HasFlag(GridCapabilities.Resize))
            {
                var ex = await Assert.ThrowsAsync<GridException>(() => t.Connection.ResizeAsync(w.NativeId, new ResizeRequest { CpuCount = 2, AllowRestart = true }, new TestScope(), Ct()));
                Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
            }
            else
            {
                await t.Connection.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct());
                await WaitForAsync(t.Connection, w.NativeId, WorkloadState.Stopped, WorkloadState.Deallocated);
                var sizes = await t.Connection.ListSizesAsync(Ct());
                var req = new ResizeRequest { AllowRestart = true };
                var other = sizes.FirstOrDefault(s => !string.Equals(s.Name, w.Size, StringComparison.OrdinalIgnoreCase));
                if (other != null && (w.Size != null || t.Size != null)) req.Size = other.Name; else req.CpuCount = (w.CpuCount ?? 1) + 1;
                await t.Connection.ResizeAsync(w.NativeId, req, new TestScope(), Ct());
                var got = await t.Connection.GetWorkloadAsync(w.NativeId, Ct());
                if (req.Size != null) Assert.Equal(req.Size, got.Size, StringComparer.OrdinalIgnoreCase);
                else Assert.Equal(req.CpuCount, got.CpuCount);
            }
            await t.Connection.RemoveAsync(w.NativeId, true, new TestScope(), Ct());
        }

        [Fact]
        public async Task Contract_ListFiltersByName_AndPages()
        {
            using var t = CreateTarget();
            var a = await CreateAsync(t, NewName("flt"));
            var b = await CreateAsync(t, NewName("other"));
            var q = new WorkloadQuery { NamePatterns = new[] { "CT-FLT-*" }, PageSize = 1 };
            var listed = await ListAllAsync(t.Connection, q);
            // Providers may ignore filters (the engine re-applies them) but must not drop a match, case-insensitively.
            Assert.Contains(listed, x => x.Id == a.Id);
            await t.Connection.RemoveAsync(a.NativeId, true, new TestScope(), Ct());
            await t.Connection.RemoveAsync(b.NativeId, true, new TestScope(), Ct());
        }
    }
}
