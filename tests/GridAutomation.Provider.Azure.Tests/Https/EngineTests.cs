using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using Xunit;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>The Azure provider through the engine (state store, journal, retry policy) against the loopback ARM endpoint.</summary>
    [Collection("environment")]
    public sealed class EngineTests
    {
        private sealed class Observer : IEngineObserver
        {
            public List<string> Messages { get; } = new List<string>();
            public List<GridProgress> Progresses { get; } = new List<GridProgress>();
            public void Progress(string target, GridProgress progress) { lock (Progresses) Progresses.Add(progress); }
            public void Verbose(string message) { lock (Messages) Messages.Add(message); }
            public void Warning(string message) { lock (Messages) Messages.Add("WARNING: " + message); }
        }

        [ChildFact]
        public async Task Engine_Connect_Create_List_Stop_Remove_KeepsSecretsOutOfTheStore()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            string dir = Path.Combine(Path.GetTempPath(), "gridaz-engine-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            var config = new GridConfiguration { StatePath = Path.Combine(dir, "state.db"), RetryCount = 3, RetryMaxDelaySeconds = 5, LeaseTimeoutSeconds = 120 };
            var engine = GridEngine.Get(config, readOnly: false);
            var obs = new Observer();
            try
            {
                Assert.True(ProviderRegistry.TryGet("Azure", out _), "the Azure provider is found by the registry: " + string.Join("; ", ProviderRegistry.LoadErrors));
                var settings = new Dictionary<string, string>
                {
                    ["SubscriptionId"] = ArmSimulator.Subscription, ["Location"] = ArmSimulator.Location, ["ResourceGroupName"] = Harness.Rg, ["ArmEndpoint"] = sim.ArmEndpoint,
                };
                var secrets = new Dictionary<string, object> { ["AccessToken"] = ArmSimulator.CallerToken };
                var dc = await engine.ConnectDatacenterAsync("Azure", "az-weu", "Contoso", "Amsterdam", settings, secrets, obs, Harness.Ct());
                Assert.Equal(ConnectionStatus.Connected, dc.Status);
                Assert.Contains("/subscriptions/" + ArmSimulator.Subscription, dc.Endpoint);
                Assert.True(dc.Capabilities.HasFlag(GridCapabilities.Deallocate));

                var req = Harness.Create("eng-1", key: "eng-key-1");
                var w = await engine.CreateWorkloadAsync("az-weu", req, null, obs, Harness.Ct());
                Assert.Equal("az-weu/" + WorkloadId.Escape(ArmSimulator.VmId(Harness.Rg, "eng-1")), w.Id);
                Assert.Equal(WorkloadState.Running, w.State);
                Assert.Contains(obs.Progresses, p => p.PercentComplete == 100);
                // The same key again (e.g. a re-run runbook): no second VM.
                var again = await engine.CreateWorkloadAsync("az-weu", Harness.Create("eng-1", key: "eng-key-1"), null, obs, Harness.Ct());
                Assert.Equal(w.Id, again.Id);
                Assert.Equal(1, server.Requests.Count(r => r.Method == "PUT"));

                var listed = new List<GridWorkload>();
                await foreach (var r in engine.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { "az-weu" } }, obs, Harness.Ct()))
                {
                    Assert.False(r.IsError, r.Error?.Message);
                    listed.Add(r.Value!);
                }
                Assert.Single(listed, x => x.Id == w.Id);

                var stopped = await engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.Graceful }, null, obs, Harness.Ct());
                Assert.Equal(WorkloadState.Deallocated, (await engine.GetWorkloadAsync(w.Id, Harness.Ct())).State);
                await engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true }, null, obs, Harness.Ct());
                Assert.Equal(0, sim.VmCount);
            }
            finally
            {
                GridEngine.Reset();
            }
            // Nothing secret in the state file (the token, the SSH key is not secret but the token is).
            foreach (var f in Directory.GetFiles(dir))
            {
                byte[] bytes = File.ReadAllBytes(f);
                string text = System.Text.Encoding.UTF8.GetString(bytes);
                Assert.DoesNotContain(ArmSimulator.CallerToken, text);
            }
            Assert.DoesNotContain(obs.Messages, m => m.Contains(ArmSimulator.CallerToken));
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
