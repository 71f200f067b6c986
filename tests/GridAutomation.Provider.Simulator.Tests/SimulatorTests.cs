using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Simulator;
using Xunit;
using Xunit.Abstractions;

namespace GridAutomation.Provider.Simulator.Tests
{
    public class SimulatorTests
    {
        private readonly ITestOutputHelper _out;
        public SimulatorTests(ITestOutputHelper output) { _out = output; }

        private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

        private static Task<GridWorkload> Create(IGridConnection c, string name, string? size = "sim.small", bool powerOn = true, string? host = null, string? key = null)
            => c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = name, Size = size, Image = "debian-12", PowerOn = powerOn, TargetHost = host, IdempotencyKey = key ?? ("t/" + name) }, new TestScope(key ?? ("t/" + name)), Ct);

        private static async Task<List<GridWorkload>> ListAll(IGridConnection c, WorkloadQuery? q = null)
        {
            var all = new List<GridWorkload>();
            await foreach (var page in c.ListWorkloadsAsync(q ?? new WorkloadQuery(), Ct)) all.AddRange(page);
            return all;
        }

        private static Dictionary<string, string> Small => new Dictionary<string, string> { ["Hosts"] = "2", ["HostCpu"] = "4", ["HostMemoryGB"] = "8" };

        /// <summary>Says (skipped, with the reason) when the PostgreSQL rows of the theories below were left out.</summary>
        [GridAutomation.Core.Tests.PostgreSqlFact]
        public void PostgreSqlBackend_Opens()
        {
            using var env = new SimEnv("PostgreSql");
            Assert.Equal("PostgreSql", env.Backend);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Provider_DeclaresItself(string backend)
        {
            var p = new SimulatorProvider();
            Assert.Equal("Simulator", p.Name);
            Assert.True(p.IsAvailable(out _));
            Assert.True(p.Capabilities.HasFlag(GridCapabilities.LiveMove));
            Assert.False(p.Capabilities.HasFlag(GridCapabilities.Deallocate));
            Assert.False(p.Capabilities.HasFlag(GridCapabilities.ResizeRunning));
            Assert.True(p.Capabilities.HasFlag(GridCapabilities.Pause)); // Suspend-GridWorkload -Pause (issue 19)
            Assert.DoesNotContain(p.ConnectionParameters, x => x.IsSecret);
            using var env = new SimEnv(backend);
            using var c = await env.ConnectAsync("dc");
            Assert.Equal("sim://dc", c.Endpoint);
            Assert.Equal(3, (await c.ListHostsAsync(Ct)).Count);
            Assert.Equal(4, (await c.ListSizesAsync(Ct)).Count);
            Assert.Contains(await c.ListSizesAsync(Ct), s => s.Name == "sim.large" && s.CpuCount == 4 && s.MemoryMB == 16384 && s.PricePerHour == 0.16m);
            var images = await c.ListImagesAsync(new Dictionary<string, string>(), Ct);
            Assert.Contains(images, i => i.Name == "windows-2022" && i.OsType == "Windows");
            Assert.Equal(2, (await c.ListImagesAsync(new Dictionary<string, string> { ["OsType"] = "linux" }, Ct)).Count);
        }

        [Theory]
        [InlineData("Hosts", "0")]
        [InlineData("Hosts", "x")]
        [InlineData("FaultRate", "1.5")]
        [InlineData("LatencyMs", "-1")]
        public async Task BadParameter_IsInvalidParameter(string name, string value)
        {
            using var env = new SimEnv();
            var ex = await Assert.ThrowsAsync<GridException>(() => env.ConnectAsync("dc", new Dictionary<string, string> { [name] = value }));
            Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
            Assert.Equal("InvalidParameter", ex.ErrorId);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Capacity_CreateThatFitsNowhere_IsInsufficientCapacity_NamingWhatIsMissing(string backend)
        {
            using var env = new SimEnv(backend);
            using var c = await env.ConnectAsync("cap", Small);
            var ex = await Assert.ThrowsAsync<GridException>(() => Create(c, "too-big", "sim.xlarge"));
            Assert.Equal(GridErrorKind.ResourceUnavailable, ex.Kind);
            Assert.Equal("InsufficientCapacity", ex.ErrorId);
            Assert.Contains("CPU and memory", ex.Message);
            Assert.Contains("8 vCPU", ex.Message);
            Assert.Contains("4 vCPU", ex.Message); // the most free on any host
            Assert.Empty(await ListAll(c));

            // fill both hosts: 2 x sim.medium (2 vCPU / 4 GB) per host
            for (int i = 0; i < 4; i++) await Create(c, "m" + i, "sim.medium");
            var hosts = await c.ListHostsAsync(Ct);
            Assert.All(hosts, h => { Assert.Equal(4, h.AllocatedCpu); Assert.Equal(8192, h.AllocatedMemoryMB); Assert.Equal(0, h.FreeCpu); });
            var full = await Assert.ThrowsAsync<GridException>(() => Create(c, "one-more", "sim.small"));
            Assert.Equal("InsufficientCapacity", full.ErrorId);
            Assert.Contains("0 vCPU", full.Message);
            Assert.DoesNotContain(await ListAll(c), w => w.Name == "one-more");

            // powered off it fits (stopped workloads hold nothing), but it cannot start
            var off = await Create(c, "cold", "sim.small", powerOn: false);
            Assert.Equal(WorkloadState.Stopped, off.State);
            Assert.Equal("InsufficientCapacity", (await Assert.ThrowsAsync<GridException>(() => c.StartAsync(off.NativeId, new TestScope(), Ct))).ErrorId);
            Assert.Equal(WorkloadState.Stopped, (await c.GetWorkloadAsync(off.NativeId, Ct)).State);

            // a stop frees room: now it starts
            var m0 = (await ListAll(c)).First(w => w.Name == "m0");
            await c.StopAsync(m0.NativeId, StopMode.Graceful, new TestScope(), Ct);
            if (!string.Equals(m0.Host, off.Host, StringComparison.OrdinalIgnoreCase))
                await c.MoveAsync(off.NativeId, m0.Host!, new TestScope(), Ct); // cold move to the host with room
            await c.StartAsync(off.NativeId, new TestScope(), Ct);
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(off.NativeId, Ct)).State);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Capacity_ResizeAndMove_AreChecked(string backend)
        {
            using var env = new SimEnv(backend);
            using var c = await env.ConnectAsync("cap2", new Dictionary<string, string> { ["Hosts"] = "2", ["HostCpu"] = "4", ["HostMemoryGB"] = "16" });
            var a = await Create(c, "a", "sim.medium", host: "host-01");
            var b = await Create(c, "b", "sim.medium", host: "host-01");
            var x = await Create(c, "x", "sim.large", host: "host-02");
            // host-02 is full: neither a nor b can move live onto it
            var ex = await Assert.ThrowsAsync<GridException>(() => c.MoveAsync(a.NativeId, "host-02", new TestScope(), Ct));
            Assert.Equal("InsufficientCapacity", ex.ErrorId);
            Assert.Equal("host-01", (await c.GetWorkloadAsync(a.NativeId, Ct)).Host);
            // resizing a running workload without a restart is a conflict; with a restart it must still fit
            var rr = await Assert.ThrowsAsync<GridException>(() => c.ResizeAsync(a.NativeId, new ResizeRequest { Size = "sim.large" }, new TestScope(), Ct));
            Assert.Equal(GridErrorKind.Conflict, rr.Kind);
            Assert.Equal("ResizeRequiresRestart", rr.ErrorId);
            var big = await Assert.ThrowsAsync<GridException>(() => c.ResizeAsync(a.NativeId, new ResizeRequest { Size = "sim.xlarge", AllowRestart = true }, new TestScope(), Ct));
            Assert.Equal("InsufficientCapacity", big.ErrorId);
            Assert.Equal("sim.medium", (await c.GetWorkloadAsync(a.NativeId, Ct)).Size);
            // stop b: a can grow into its room (restart allowed)
            await c.StopAsync(b.NativeId, StopMode.TurnOff, new TestScope(), Ct);
            await c.ResizeAsync(a.NativeId, new ResizeRequest { Size = "sim.large", AllowRestart = true }, new TestScope(), Ct);
            var ga = await c.GetWorkloadAsync(a.NativeId, Ct);
            Assert.Equal("sim.large", ga.Size);
            Assert.Equal(4, ga.CpuCount);
            Assert.Equal(WorkloadState.Running, ga.State);
            // custom shape
            await c.ResizeAsync(b.NativeId, new ResizeRequest { CpuCount = 3 }, new TestScope(), Ct);
            var gb = await c.GetWorkloadAsync(b.NativeId, Ct);
            Assert.Equal(3, gb.CpuCount);
            Assert.Null(gb.Size);
            Assert.Equal("SizeNotFound", (await Assert.ThrowsAsync<GridException>(() => c.ResizeAsync(b.NativeId, new ResizeRequest { Size = "huge" }, new TestScope(), Ct))).ErrorId);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task LiveMove_KeepsRunning_AndRecordsCheckpoints(string backend)
        {
            using var env = new SimEnv(backend);
            using var c = await env.ConnectAsync("mv");
            var w = await Create(c, "mover", host: "host-01");
            var scope = new TestScope();
            await c.MoveAsync(w.NativeId, "HOST-03", scope, Ct);
            var got = await c.GetWorkloadAsync(w.NativeId, Ct);
            Assert.Equal("host-03", got.Host);
            Assert.Equal(WorkloadState.Running, got.State);
            Assert.Equal("host-01", scope.Checkpoints["Move.Source"]);
            Assert.Equal("host-03", scope.Checkpoints["Move.Destination"]);
            var hosts = await c.ListHostsAsync(Ct);
            Assert.Equal(0, hosts.Single(h => h.Name == "host-01").AllocatedCpu);
            Assert.Equal(1, hosts.Single(h => h.Name == "host-03").AllocatedCpu);
            Assert.Equal("HostNotFound", (await Assert.ThrowsAsync<GridException>(() => c.MoveAsync(w.NativeId, "nope", new TestScope(), Ct))).ErrorId);

            // resume of an interrupted move finishes it from its checkpoint
            var resumeScope = new TestScope { IsResume = true };
            resumeScope.Checkpoint("Move.Destination", "host-02");
            var op = new GridOperation { Id = Guid.NewGuid(), Kind = "Move", Datacenter = "mv", Target = w.Id };
            Assert.True(await c.ResumeAsync(op, resumeScope, Ct));
            Assert.Equal("host-02", (await c.GetWorkloadAsync(w.NativeId, Ct)).Host);

            // roll back: back to the recorded source
            var rbScope = new TestScope { IsResume = true };
            rbScope.Checkpoint("Move.Source", "host-01");
            rbScope.Checkpoint("Move.Destination", "host-02");
            Assert.False(await c.ResumeAsync(new GridOperation { Id = Guid.NewGuid(), Kind = "Move", Datacenter = "mv", Target = w.Id, RollbackRequested = true }, rbScope, Ct));
            Assert.Equal("host-01", (await c.GetWorkloadAsync(w.NativeId, Ct)).Host);
            Assert.Equal("host-02", rbScope.Checkpoints["Move.Destination"]);
            // other kinds: the engine re-runs them (they are idempotent)
            Assert.Equal(GridErrorKind.Unsupported, (await Assert.ThrowsAsync<GridException>(() => c.ResumeAsync(new GridOperation { Kind = "Start", Target = w.Id }, new TestScope(), Ct))).Kind);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Deallocate_IsRefused_AsUnsupported(string backend)
        {
            using var env = new SimEnv(backend);
            using var c = await env.ConnectAsync("dealloc");
            var w = await Create(c, "w");
            var ex = await Assert.ThrowsAsync<GridException>(() => c.StopAsync(w.NativeId, StopMode.Deallocate, new TestScope(), Ct));
            Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
            Assert.Equal("CapabilityNotSupported", ex.ErrorId);
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Ct)).State);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Transitions_AreWrittenByTheChangingCall_NotByReads(string backend)
        {
            using var env = new SimEnv(backend);
            using var c = await env.ConnectAsync("tr");
            // a second connection to the same datacenter with latency (runtime knobs given at connect apply to that connection only)
            using var slow = await env.ConnectAsync("tr", new Dictionary<string, string> { ["LatencyMs"] = "1500" });
            var w = await Create(c, "slow");
            Assert.Equal("poweredOn", w.NativeState);
            Assert.True(w.ComputeBilled);
            Assert.NotEmpty(w.IPAddresses);
            var stop = slow.StopAsync(w.NativeId, StopMode.Graceful, new TestScope(), Ct);
            // while the stop is in flight, readers see the intermediate state, however often they look
            GridWorkload? mid = null;
            for (int i = 0; i < 400 && (mid == null || mid.State != WorkloadState.Stopping); i++)
            {
                mid = (await ListAll(c)).Single();
                if (mid.State != WorkloadState.Stopping) await Task.Delay(10);
            }
            Assert.Equal(WorkloadState.Stopping, mid!.State);
            Assert.Equal("stopping", mid.NativeState);
            for (int i = 0; i < 2; i++) Assert.Equal(WorkloadState.Stopping, (await c.GetWorkloadAsync(w.NativeId, Ct)).State);
            await stop;
            var after = await c.GetWorkloadAsync(w.NativeId, Ct);
            Assert.Equal(WorkloadState.Stopped, after.State);
            Assert.Equal("poweredOff", after.NativeState);
            Assert.False(after.ComputeBilled);
            Assert.Empty(after.IPAddresses);

            // suspend/resume through Start
            await c.StartAsync(w.NativeId, new TestScope(), Ct);
            await c.SuspendAsync(w.NativeId, new TestScope(), Ct);
            Assert.Equal("suspended", (await c.GetWorkloadAsync(w.NativeId, Ct)).NativeState);
            await c.StartAsync(w.NativeId, new TestScope(), Ct);
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Ct)).State);
            await c.RestartAsync(w.NativeId, new TestScope(), Ct);
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Ct)).State);
            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct);
            Assert.Equal("WorkloadNotRunning", (await Assert.ThrowsAsync<GridException>(() => c.RestartAsync(w.NativeId, new TestScope(), Ct))).ErrorId);
            Assert.Equal("WorkloadNotRunning", (await Assert.ThrowsAsync<GridException>(() => c.SuspendAsync(w.NativeId, new TestScope(), Ct))).ErrorId);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task ReadOnlyStore_ListsAndGets_ButRefusesChanges_AndWritesNothing(string backend)
        {
            using var env = new SimEnv(backend);
            bool sqlite = backend == "Sqlite";
            string id;
            using (var c = await env.ConnectAsync("ro", new Dictionary<string, string> { ["Workloads"] = "50" })) id = (await ListAll(c)).First().NativeId;
            env.Reopen(readOnly: false);
            long walBefore = 0; byte[]? dbBefore = null; string? digestBefore = null;
            if (sqlite)
            {
                // SQLite: the file's own bytes and its -wal (after a checkpoint) prove nothing was written.
                env.Store.Read(cn => { using var cmd = cn.Command(""); cmd.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)"; return cmd.ExecuteScalar(); });
                walBefore = new FileInfo(env.StatePath + "-wal").Length;
                dbBefore = File.ReadAllBytes(env.StatePath);
            }
            else digestBefore = env.PostgreSqlDigest(); // PostgreSQL: every row of the tables involved
            env.Reopen(readOnly: true);
            using var ro = await env.ConnectAsync("ro");
            Assert.Equal(50, (await ListAll(ro)).Count);
            await ro.GetWorkloadAsync(id, Ct);
            await ro.ListHostsAsync(Ct);
            var ex = await Assert.ThrowsAsync<GridException>(() => ro.StopAsync(id, StopMode.TurnOff, new TestScope(), Ct));
            Assert.Equal("StateStoreReadOnly", ex.ErrorId);
            Assert.Equal("StateStoreReadOnly", (await Assert.ThrowsAsync<GridException>(() => Create(ro, "new"))).ErrorId);
            Assert.Equal("StateStoreReadOnly", (await Assert.ThrowsAsync<GridException>(() => env.ConnectAsync("not-yet-created"))).ErrorId);
            if (!sqlite) { Assert.Equal(digestBefore, env.PostgreSqlDigest()); return; }
            env.Store.Dispose();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Assert.Equal(walBefore, new FileInfo(env.StatePath + "-wal").Length);
            Assert.Equal(dbBefore, File.ReadAllBytes(env.StatePath));
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Persistence_AcrossStoreInstances_CreationParametersKept(string backend)
        {
            using var env = new SimEnv(backend);
            string id;
            using (var c = await env.ConnectAsync("persist", new Dictionary<string, string> { ["Hosts"] = "4", ["Seed"] = "9" }))
            {
                var w = await Create(c, "keeper", "sim.large");
                await c.SetTagsAsync(w.NativeId, new Dictionary<string, string?> { ["owner"] = "ops" }, new TestScope(), Ct);
                await c.StopAsync(w.NativeId, StopMode.Graceful, new TestScope(), Ct);
                id = w.NativeId;
            }
            env.Reopen();
            using var again = await env.ConnectAsync("PERSIST", new Dictionary<string, string> { ["Hosts"] = "2" }); // creation parameters are not re-applied
            Assert.Equal(4, (await again.ListHostsAsync(Ct)).Count);
            Assert.Equal(9, again.Seed);
            var got = await again.GetWorkloadAsync(id, Ct);
            Assert.Equal("keeper", got.Name);
            Assert.Equal(WorkloadState.Stopped, got.State);
            Assert.Equal("ops", got.Tags["owner"]);
            Assert.Equal("sim.large", got.Size);
            // the idempotency key is kept with the workload
            var same = await Create(again, "keeper", "sim.large");
            Assert.Equal(id, same.NativeId);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Persistence_AcrossTwoProcesses(string backend)
        {
            using var env = new SimEnv(backend);
            using (var c = await env.ConnectAsync("proc", new Dictionary<string, string> { ["Workloads"] = "10" })) { }
            env.Store.Dispose();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            // a second process (the child helper) creates a workload in the same state file
            string output = ChildProcess.Run(env.Location, "proc", "create", "from-child");
            Assert.Contains("created", output);
            env.Reopen();
            using var c2 = await env.ConnectAsync("proc");
            var all = await ListAll(c2);
            Assert.Equal(11, all.Count);
            var child = all.Single(w => w.Name == "from-child");
            Assert.Equal(WorkloadState.Running, child.State);
            // and the child sees what this process changes
            await c2.StopAsync(child.NativeId, StopMode.TurnOff, new TestScope(), Ct);
            env.Store.Dispose();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Assert.Contains("poweredOff", ChildProcess.Run(env.Location, "proc", "state", child.NativeId));
            env.Reopen();
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task ConcurrentWriters_InThreeProcesses_AllCommit_WithUniqueIds(string backend)
        {
            using var env = new SimEnv(backend);
            using var c = await env.ConnectAsync("multi", new Dictionary<string, string> { ["Hosts"] = "4" });
            var children = new[] { ChildProcess.Start(env.Location, "multi", "create-many", "a:25"), ChildProcess.Start(env.Location, "multi", "create-many", "b:25") };
            try
            {
                for (int i = 0; i < 25; i++) await Create(c, "p-" + i);
                foreach (var ch in children)
                {
                    string output = await ch.StandardOutput.ReadToEndAsync();
                    string err = await ch.StandardError.ReadToEndAsync();
                    Assert.True(ch.WaitForExit(120000), "child timed out");
                    Assert.True(ch.ExitCode == 0, "child failed: " + err + output);
                }
            }
            finally { foreach (var ch in children) { if (!ch.HasExited) ch.Kill(true); ch.Dispose(); } }
            var all = await ListAll(c);
            Assert.Equal(75, all.Count);
            Assert.Equal(75, all.Select(w => w.NativeId).Distinct().Count());
            Assert.Equal(75, all.Select(w => (long)w.Properties["Seq"]!).Distinct().Count());
            Assert.Equal(75, (await c.ListHostsAsync(Ct)).Sum(h => h.AllocatedCpu));
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task NativeIds_AreDeterministic_FromSeedAndCounter(string backend)
        {
            var ids = new List<List<string>>();
            for (int run = 0; run < 2; run++)
            {
                using var env = new SimEnv(backend);
                using var c = await env.ConnectAsync("det", new Dictionary<string, string> { ["Seed"] = "7", ["Workloads"] = "3" });
                var list = (await ListAll(c)).Select(w => w.NativeId).ToList();
                list.Add((await Create(c, "extra")).NativeId);
                ids.Add(list);
            }
            Assert.Equal(ids[0], ids[1]);
            Assert.Equal(4, ids[0].Distinct().Count());
            Assert.All(ids[0], id => Assert.True(Guid.TryParse(id, out _)));
            Assert.Equal(SimulatorCatalog.NativeIdFor("det", 7, 1), ids[0][0]);
            Assert.NotEqual(SimulatorCatalog.NativeIdFor("det", 8, 1), ids[0][0]);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Ids_DifferPerDatacenter_EvenWithTheSameSeed(string backend)
        {
            using var env = new SimEnv(backend);
            using var a = await env.ConnectAsync("ams-1", new Dictionary<string, string> { ["Workloads"] = "2" });
            using var b = await env.ConnectAsync("dub-1", new Dictionary<string, string> { ["Workloads"] = "2" });
            var ia = (await ListAll(a)).Select(w => w.NativeId).ToList();
            var ib = (await ListAll(b)).Select(w => w.NativeId).ToList();
            Assert.Empty(ia.Intersect(ib));
            Assert.NotEqual((await Create(a, "web-06")).NativeId, (await Create(b, "web-06")).NativeId);
            // the datacenter's name is case-insensitive, so is its id stream
            Assert.Equal(SimulatorCatalog.NativeIdFor("AMS-1", 1, 1), SimulatorCatalog.NativeIdFor("ams-1", 1, 1));
        }

        [Theory]
        [InlineData("Hosts", "0")]
        [InlineData("FaultRate", "2")]
        [InlineData("Clusters", "4")]
        [InlineData("Clock", "yesterday")]
        [InlineData("BillingRule", "Gcp")]
        public void BadParameter_IsRefusedByValidateSettings_WithoutConnecting(string name, string value)
        {
            var ex = Assert.Throws<GridException>(() => new SimulatorProvider().ValidateSettings(new Dictionary<string, string> { [name] = value }));
            Assert.Equal("InvalidParameter", ex.ErrorId);
            new SimulatorProvider().ValidateSettings(new Dictionary<string, string> { ["Hosts"] = "4", ["Clusters"] = "4", ["FaultRate"] = "0.5" });
        }

        [Fact]
        public async Task Clock_And_BillingRule_AreSettingsOfTheDatacenter()
        {
            var p = new SimulatorProvider();
            var dc = new GridDatacenter { Name = "dc", Provider = "Simulator" };
            var before = DateTimeOffset.UtcNow;
            Assert.InRange(p.Now(dc), before, DateTimeOffset.UtcNow);     // no Clock: the system clock
            Assert.Null(p.BillingRuleName(dc));
            dc.Settings["Clock"] = "2026-11-02T08:00:00Z";
            dc.Settings["BillingRule"] = "Ec2";
            Assert.Equal(new DateTimeOffset(2026, 11, 2, 8, 0, 0, TimeSpan.Zero), p.Now(dc)); // stands still
            Assert.Equal("Ec2", p.BillingRuleName(dc));
            // ComputeBilled follows the rule: under EC2's a stopped workload is not billed, under Azure's it is.
            using var env = new SimEnv();
            using var ec2 = await env.ConnectAsync("ec2", new Dictionary<string, string> { ["BillingRule"] = "Ec2" });
            using var az = await env.ConnectAsync("az", new Dictionary<string, string> { ["BillingRule"] = "Azure" });
            foreach (var (c, billedWhenStopped) in new[] { (ec2, false), (az, true) })
            {
                var w = await Create(c, "w1");
                Assert.True((await c.GetWorkloadAsync(w.NativeId, Ct)).ComputeBilled);
                await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct);
                Assert.Equal(billedWhenStopped, (await c.GetWorkloadAsync(w.NativeId, Ct)).ComputeBilled);
            }
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task FaultSchedule_IsReproducible_ForTheSameSeed(string backend)
        {
            async Task<List<string>> Run(int seed)
            {
                using var env = new SimEnv(backend);
                using var c = await env.ConnectAsync("faulty", new Dictionary<string, string> { ["FaultRate"] = "0.3", ["FaultSeed"] = seed.ToString() });
                var outcomes = new List<string>();
                for (int i = 0; i < 60; i++)
                {
                    try { await c.ListSizesAsync(Ct); outcomes.Add("ok"); }
                    catch (GridException ex)
                    {
                        outcomes.Add(ex.ErrorId);
                        Assert.True(ex.IsTransient);
                        if (ex.Kind == GridErrorKind.Throttled) Assert.Equal(TimeSpan.FromSeconds(1), ex.RetryAfter);
                        else Assert.Equal(GridErrorKind.Unavailable, ex.Kind);
                    }
                }
                return outcomes;
            }
            var a = await Run(42);
            var b = await Run(42);
            var other = await Run(43);
            Assert.Equal(a, b);
            Assert.NotEqual(a, other);
            int faults = a.Count(x => x != "ok");
            Assert.InRange(faults, 6, 35);
            Assert.Contains("SimulatedThrottled", a.Concat(other));
            Assert.Contains("SimulatedUnavailable", a.Concat(other));
            Assert.Equal(Enumerable.Range(0, 1000).Select(i => SimulatorFaults.Decide(5, 0.2, i)), Enumerable.Range(0, 1000).Select(i => SimulatorFaults.Decide(5, 0.2, i)));
            Assert.All(Enumerable.Range(0, 1000), i => Assert.Equal(SimulatedFault.None, SimulatorFaults.Decide(5, 0, i)));
            Assert.Contains(Enumerable.Range(0, 1000).Select(i => SimulatorFaults.Decide(5, 0.2, i)), f => f == SimulatedFault.Timeout);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task FaultedChange_ChangedNothing(string backend)
        {
            using var env = new SimEnv(backend);
            using var c = await env.ConnectAsync("f2", new Dictionary<string, string> { ["FaultRate"] = "1", ["FaultSeed"] = "3" });
            await Assert.ThrowsAsync<GridException>(() => Create(c, "never"));
            using var clean = await env.ConnectAsync("f2", new Dictionary<string, string> { ["FaultRate"] = "0" });
            Assert.Empty(await ListAll(clean));
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Remove_KeepsDisks_UnlessRemoveStorage(string backend)
        {
            using var env = new SimEnv(backend);
            using var c = await env.ConnectAsync("rm");
            var a = await Create(c, "a");
            var b = await Create(c, "b");
            await c.RemoveAsync(a.NativeId, false, new TestScope(), Ct);
            await c.RemoveAsync(b.NativeId, true, new TestScope(), Ct);
            var kept = c.ListDetachedDisks();
            Assert.Single(kept);
            Assert.StartsWith(a.NativeId, kept[0].NativeId);
            Assert.Equal("WorkloadNotFound", (await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(a.NativeId, Ct))).ErrorId);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Create_Validates_AndIdempotencyKeyIsTiedToName(string backend)
        {
            using var env = new SimEnv(backend);
            using var c = await env.ConnectAsync("val");
            Assert.Equal("SizeNotFound", (await Assert.ThrowsAsync<GridException>(() => Create(c, "x", "sim.galactic"))).ErrorId);
            Assert.Equal("ImageNotFound", (await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "x", Image = "beos", IdempotencyKey = "k" }, new TestScope("k"), Ct))).ErrorId);
            Assert.Equal("HostNotFound", (await Assert.ThrowsAsync<GridException>(() => Create(c, "x", host: "host-99"))).ErrorId);
            var w = await Create(c, "named", key: "K1");
            var ex = await Assert.ThrowsAsync<GridException>(() => Create(c, "other-name", key: "K1"));
            Assert.Equal("IdempotencyKeyMismatch", ex.ErrorId);
            // non-ASCII names are not pushed down to SQLite's ASCII-only case folding: no match is lost
            var accented = await Create(c, "Étoile-01");
            Assert.Contains(await ListAll(c, new WorkloadQuery { NamePatterns = new[] { "étoile-*" } }), x => x.Id == accented.Id);
            var custom = await c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "custom", CpuCount = 3, MemoryMB = 3000, IdempotencyKey = "k3" }, new TestScope("k3"), Ct);
            Assert.Equal(3, custom.CpuCount);
            Assert.Equal(3000, custom.MemoryMB);
            Assert.Null(custom.Size);
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task HundredThousandWorkloads_ListCompletely_FastAndWithoutDuplicates(string backend)
        {
            using var env = new SimEnv(backend);
            var sw = Stopwatch.StartNew();
            using var c = await env.ConnectAsync("big", new Dictionary<string, string> { ["Hosts"] = "16", ["Workloads"] = "100000" });
            var created = sw.Elapsed;
            sw.Restart();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            int count = 0, pages = 0;
            var ids = new HashSet<string>();
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery { PageSize = 1000 }, Ct))
            {
                pages++;
                foreach (var w in page) { count++; ids.Add(w.Id); }
            }
            var listed = sw.Elapsed;
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0; // the whole test process (other tests run in parallel)
            _out.WriteLine($"created 100,000 workloads in {created.TotalMilliseconds:0} ms; listed them in {listed.TotalMilliseconds:0} ms ({pages} pages, process CPU {cpu.TotalMilliseconds:0} ms)");
            Console.WriteLine($"[simulator {backend}] 100,000 workloads: created in {created.TotalMilliseconds:0} ms, listed in {listed.TotalMilliseconds:0} ms (process CPU {cpu.TotalMilliseconds:0} ms)");
            Assert.Equal(100000, count);
            Assert.Equal(100000, ids.Count);
            Assert.Equal(100, pages);
            // SQLite keeps its bound from before; PostgreSQL's speed against SQLite is measured in bench/state-postgres.ps1
            // (a server process on a loaded machine makes a wall-clock bound here mean nothing).
            if (backend == "Sqlite") Assert.True(listed < TimeSpan.FromSeconds(20), $"listing took {listed}");

            // pushed-down filters still work at this size
            var one = await ListAll(c, new WorkloadQuery { NamePatterns = new[] { "VM-05000?" } });
            Assert.Equal(10, one.Count);
            var running = await ListAll(c, new WorkloadQuery { States = new[] { WorkloadState.Running }, PageSize = 5000 });
            Assert.All(running, w => Assert.Equal(WorkloadState.Running, w.State));
            Assert.NotEmpty(running);
            var hosts = await c.ListHostsAsync(Ct);
            Assert.Equal(running.Sum(w => w.CpuCount), hosts.Sum(h => h.AllocatedCpu));
            Assert.All(hosts, h => Assert.True(h.FreeCpu >= 0 && h.FreeMemoryMB >= 0));
        }
    }
}
