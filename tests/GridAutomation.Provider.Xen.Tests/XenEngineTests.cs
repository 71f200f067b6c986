using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using GridAutomation.Provider.Xen.Tests.Server;
using GridAutomation.Providers.Xen;
using Xunit;

namespace GridAutomation.Provider.Xen.Tests
{
    /// <summary>The Xen provider under the real engine (what the cmdlets call): registration, listing, journaled changes, no secret stored.</summary>
    [Collection("engine")]
    public sealed class XenEngineTests
    {
        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

        [XapiFact]
        public async Task Engine_ConnectsListsCreatesMovesAndStops_Journaled_WithoutPersistingTheSecret()
        {
            using var server = FakeXapi.FromFixture(XenContractTests.Pool);
            server.Password = "Xen-Engine-Pa55";
            string dir = Directory.CreateTempSubdirectory("xen-engine-").FullName;
            try
            {
                ProviderRegistry.Register(new XenProvider());
                var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(dir, "state.db") }, false);
                var dc = await engine.ConnectDatacenterAsync("Xen", "tampa", "Contoso", "Cambridge",
                    new Dictionary<string, string> { ["Server"] = server.Url },
                    new Dictionary<string, object> { ["Credential"] = new NetworkCredential("root", "Xen-Engine-Pa55") }, NullObserver.Instance, Ct());
                Assert.Equal(ConnectionStatus.Connected, dc.Status);
                Assert.True(dc.Capabilities.HasFlag(GridCapabilities.LiveMove));
                Assert.Contains("/jsonrpc", dc.Endpoint);
                Assert.Contains("16And23", dc.Endpoint);

                var listed = new List<GridWorkload>();
                await foreach (var r in engine.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { "tampa" } }, NullObserver.Instance, Ct()))
                {
                    Assert.False(r.IsError, r.Error?.Message);
                    listed.Add(r.Value!);
                }
                Assert.Equal(4, listed.Count); // SOURCES.md: guest VMs 4: 4 Running
                Assert.All(listed, w => Assert.Equal("Contoso", w.Owner));

                var req = new CreateWorkloadRequest { Name = "eng-1", Image = XenContractTests.Template, Size = "small" };
                req.Tags["env"] = "prod";
                var w1 = await engine.CreateWorkloadAsync("tampa", req, null, NullObserver.Instance, Ct());
                Assert.Equal(("small", "prod", WorkloadState.Running), (w1.Size, (string)w1.Tags["env"]!, w1.State));

                var hosts = new List<GridHost>();
                await foreach (var h in engine.GetHostsAsync(new[] { "tampa" }, NullObserver.Instance, Ct())) hosts.Add(h.Value!);
                string dest = hosts.First(h => h.Name != w1.Host).Name;
                var moved = await engine.InvokeAsync(w1, new WorkloadActionRequest { Action = WorkloadAction.Move, DestinationHost = dest }, null, NullObserver.Instance, Ct());
                Assert.Equal((dest, WorkloadState.Running), (moved!.Host, moved.State));
                var stopped = await engine.InvokeAsync(moved, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, Ct());
                Assert.Equal(WorkloadState.Stopped, stopped!.State);
                var ex = await Assert.ThrowsAsync<GridException>(() => engine.InvokeAsync(stopped, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.Deallocate }, null, NullObserver.Instance, Ct()));
                Assert.Equal(GridErrorKind.Unsupported, ex.Kind);

                var ops = engine.GetOperations(new OperationFilter { Datacenters = new[] { "tampa" } });
                foreach (var kind in new[] { "Create", "Move", "Stop" })
                    Assert.Contains(ops, o => o.Kind == kind && o.State == OperationState.Succeeded);

                var saved = engine.GetDatacenter("tampa");
                Assert.Equal(server.Url, saved.Settings["Server"]);
                Assert.False(saved.Settings.ContainsKey("Credential"));
                await engine.DisconnectDatacenterAsync("tampa", Ct());
                Assert.True(server.Count("session.logout") >= 1);
                engine.Store.Dispose();
                GridEngine.Reset();
                foreach (var f in Directory.GetFiles(dir))
                    Assert.DoesNotContain("Xen-Engine-Pa55", File.ReadAllText(f));
            }
            finally
            {
                GridEngine.Reset();
                try { Directory.Delete(dir, true); } catch { }
            }
        }
        /// <summary>A fresh engine on its own state file, with these loopback pools connected as Xen datacenters; reset afterwards.</summary>
        internal static async Task WithEngineAsync(Func<GridEngine, Task> body, params (string Name, FakeXapi Server)[] pools)
        {
            string dir = Directory.CreateTempSubdirectory("xen-engine-").FullName;
            try
            {
                ProviderRegistry.Register(new XenProvider());
                var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(dir, "state.db") }, false);
                foreach (var (name, server) in pools)
                    await engine.ConnectDatacenterAsync("Xen", name, null, null, new Dictionary<string, string> { ["Server"] = server.Url },
                        new Dictionary<string, object> { ["Credential"] = new NetworkCredential(server.User, server.Password) }, NullObserver.Instance, Ct());
                await body(engine);
                engine.Store.Dispose();
            }
            finally
            {
                GridEngine.Reset();
                try { Directory.Delete(dir, true); } catch { }
            }
        }

        /// <summary>Issue 10: an unknown template or host is refused before the create is journaled (no Failed row, nothing cloned).</summary>
        [XapiFact]
        public async Task Engine_RefusesUnknownTemplateAndHost_BeforeJournaling()
        {
            using var server = FakeXapi.FromFixture(XenContractTests.Pool);
            await WithEngineAsync(async engine =>
            {
                int opsBefore = engine.GetOperations(new OperationFilter()).Count();
                int clonesBefore = server.Count("VM.clone") + server.Count("Async.VM.clone");
                var cases = new[]
                {
                    (new CreateWorkloadRequest { Name = "bad-image", Image = "no-such-template" }, "ImageNotFound", GridErrorKind.NotFound),
                    (new CreateWorkloadRequest { Name = "no-image" }, "ImageRequired", GridErrorKind.InvalidRequest),
                    (new CreateWorkloadRequest { Name = "bad-host", Image = XenContractTests.Template, TargetHost = "no-such-host" }, "HostNotFound", GridErrorKind.NotFound),
                };
                foreach (var (req, id, kind) in cases)
                {
                    var ex = await Assert.ThrowsAsync<GridException>(() => engine.CreateWorkloadAsync("tampa", req, null, NullObserver.Instance, Ct()));
                    Assert.Equal((id, kind), (ex.ErrorId, ex.Kind));
                }
                Assert.Equal(opsBefore, engine.GetOperations(new OperationFilter()).Count()); // no Failed row: refused before the journal
                Assert.Equal(clonesBefore, server.Count("VM.clone") + server.Count("Async.VM.clone"));
            }, ("tampa", server));
        }

        /// <summary>Issue 19: a halted VM moves between two pools through the core's move steps and the VDI handlers; the bytes arrive equal.</summary>
        [XapiFact]
        public async Task Engine_MovesAHaltedVm_BetweenTwoPools_ThroughTheVdiHandlers()
        {
            using var a = FakeXapi.FromFixture(XenContractTests.Pool);
            using var b = FakeXapi.FromFixture(XenContractTests.Pool);
            await WithEngineAsync(async engine =>
            {
                var w = await engine.CreateWorkloadAsync("pool-a", new CreateWorkloadRequest { Name = "mover", Image = XenContractTests.Template, Size = "small", PowerOn = false }, null, NullObserver.Instance, Ct());
                var content = new byte[2 * 1024 * 1024 + 333];
                new Random(7).NextBytes(content);
                a.SetVdiContent(DiskOf(a, w.NativeId), content);

                var request = new GridAutomation.Core.Moves.MoveRequest { DestinationDatacenter = "pool-b" };
                request.Options["Image"] = XenContractTests.Template;
                var moved = await new GridAutomation.Core.Moves.MoveOrchestrator(engine).MoveAsync(w, request, false, false, false, null, NullObserver.Instance, Ct());
                Assert.Equal(("pool-b", "mover", WorkloadState.Stopped, "small"), (moved.Datacenter, moved.Name, moved.State, moved.Size));
                Assert.Equal(content, b.VdiContent(DiskOf(b, moved.NativeId)));
                var op = engine.GetOperations(new OperationFilter()).Single(o => o.Kind == "MoveDatacenter");
                Assert.Equal(OperationState.Succeeded, op.State);
            }, ("pool-a", a), ("pool-b", b));
        }

        /// <summary>The VDI of a VM's one disk, by the VM's uuid.</summary>
        internal static string DiskOf(FakeXapi s, string vmUuid)
        {
            string vm = s.Db["VM"].First(kv => (string?)kv.Value["uuid"] == vmUuid).Key;
            return s.Db["VBD"].Values.Where(x => (string?)x["VM"] == vm && (string?)x["type"] == "Disk").Select(x => (string)x["VDI"]!).Single();
        }
    }
}
