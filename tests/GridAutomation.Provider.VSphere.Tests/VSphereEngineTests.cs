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
using GridAutomation.Providers.VSphere;
using Xunit;

namespace GridAutomation.Provider.VSphere.Tests
{
    /// <summary>The provider under the real engine (what the cmdlets call): registration, listing, journaled changes.</summary>
    [Collection("GridEngine")] // GridEngine.Get is process-wide: the engine tests run one after another
    public sealed class VSphereEngineTests
    {
        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

        [SimulatorFact]
        public async Task Engine_ConnectsListsCreatesAndActs_WithoutPersistingTheSecret()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "2", "-standalone-host", "1", "-vm", "2", "-templates", "1");
            string dir = Directory.CreateTempSubdirectory("vsphere-engine-").FullName;
            try
            {
                ProviderRegistry.Register(new VSphereProvider());
                var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(dir, "state.db") }, false);
                var dc = await engine.ConnectDatacenterAsync("VSphere", "ams", "Contoso", "Amsterdam",
                    new Dictionary<string, string> { ["Server"] = sim.Url.ToString(), ["AllowInsecureHttp"] = "True" },
                    new Dictionary<string, object> { ["Credential"] = new NetworkCredential(VcSim.User, VcSim.Password) }, NullObserver.Instance, Ct());
                Assert.Equal(ConnectionStatus.Connected, dc.Status);
                Assert.True(dc.Capabilities.HasFlag(GridCapabilities.LiveMove));
                Assert.Equal(sim.Url.ToString(), dc.Endpoint);

                var listed = new List<GridWorkload>();
                await foreach (var r in engine.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { "ams" } }, NullObserver.Instance, Ct()))
                {
                    Assert.False(r.IsError, r.Error?.Message);
                    listed.Add(r.Value!);
                }
                Assert.Equal(3, listed.Count); // 2 pools x 2 VMs - 1 template
                Assert.All(listed, w => Assert.Equal("Contoso", w.Owner));

                // Issue 10: an unknown template or host is refused before anything is journaled (no Failed row).
                int opsBefore = engine.GetOperations(new OperationFilter()).Count();
                foreach (var (bad, id) in new[]
                {
                    (new CreateWorkloadRequest { Name = "bad-image", Image = "no-such-template" }, "ImageNotFound"),
                    (new CreateWorkloadRequest { Name = "bad-host", Image = "template-0", TargetHost = "no-such-host" }, "HostNotFound"),
                })
                {
                    var refused = await Assert.ThrowsAsync<GridException>(() => engine.CreateWorkloadAsync("ams", bad, null, NullObserver.Instance, Ct()));
                    Assert.Equal((id, GridErrorKind.NotFound), (refused.ErrorId, refused.Kind));
                }
                Assert.Equal(opsBefore, engine.GetOperations(new OperationFilter()).Count());

                var req = new CreateWorkloadRequest { Name = "eng-1", Image = "template-0", Size = "2x2" };
                req.Tags["env"] = "prod";
                var w1 = await engine.CreateWorkloadAsync("ams", req, null, NullObserver.Instance, Ct());
                Assert.Equal("2x2", w1.Size);
                Assert.Equal("prod", w1.Tags["env"]);

                var stopped = await engine.InvokeAsync(w1, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, Ct());
                Assert.Equal(WorkloadState.Stopped, stopped!.State);
                var ex = await Assert.ThrowsAsync<GridException>(() => engine.InvokeAsync(stopped, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.Deallocate }, null, NullObserver.Instance, Ct()));
                Assert.Equal(GridErrorKind.Unsupported, ex.Kind);

                var ops = engine.GetOperations(new OperationFilter { Datacenters = new[] { "ams" } });
                Assert.Contains(ops, o => o.Kind == "Create" && o.State == OperationState.Succeeded);
                Assert.Contains(ops, o => o.Kind == "Stop" && o.State == OperationState.Succeeded);

                // Only non-secret settings are persisted.
                var saved = engine.GetDatacenter("ams");
                Assert.Equal(sim.Url.ToString(), saved.Settings["Server"]);
                Assert.False(saved.Settings.ContainsKey("Credential"));
                await engine.DisconnectDatacenterAsync("ams", Ct());
                engine.Store.Dispose();
                GridEngine.Reset();
                foreach (var f in Directory.GetFiles(dir))
                    Assert.DoesNotContain(VcSim.Password, File.ReadAllText(f));
            }
            finally
            {
                GridEngine.Reset();
                try { Directory.Delete(dir, true); } catch { }
            }
        }
    }
}
