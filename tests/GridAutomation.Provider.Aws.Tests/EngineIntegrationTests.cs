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
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>
    /// The provider as the module uses it: found by ProviderRegistry beside the core, connected and driven by the
    /// real GridEngine (state store, journal, the one Polly retry policy) against the loopback EC2 endpoint.
    /// </summary>
    public sealed class EngineIntegrationTests : IDisposable
    {
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-aws-engine-" + Guid.NewGuid().ToString("N"));
        private readonly FakeEc2 _fake = new FakeEc2();
        private readonly GridEngine _engine;

        public EngineIntegrationTests()
        {
            Directory.CreateDirectory(_dir);
            var config = new GridConfiguration { StatePath = Path.Combine(_dir, "state.db"), RetryCount = 3, RetryMaxDelaySeconds = 5, PageSize = 1000, LeaseTimeoutSeconds = 120 };
            _engine = GridEngine.Get(config, readOnly: false);
        }

        public void Dispose()
        {
            _fake.Dispose();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        private sealed class Observer : IEngineObserver
        {
            public List<string> Lines { get; } = new List<string>();
            public void Progress(string target, GridProgress progress) { lock (Lines) Lines.Add("progress " + target + ": " + progress.Status); }
            public void Verbose(string message) { lock (Lines) Lines.Add("verbose " + message); }
            public void Warning(string message) { lock (Lines) Lines.Add("warning " + message); }
        }

        [Fact]
        public async Task Registry_Engine_Journal_AndTheOneRetryLayer()
        {
            Assert.True(ProviderRegistry.TryGet("aws", out var provider), string.Join("; ", ProviderRegistry.LoadErrors));
            Assert.IsType<AwsProvider>(provider);

            string name = "aws-" + Guid.NewGuid().ToString("N").Substring(0, 6);
            var obs = new Observer();
            var settings = new Dictionary<string, string> { ["Region"] = "us-east-1", ["Endpoint"] = _fake.Url };
            var secrets = new Dictionary<string, object> { ["Credential"] = new NetworkCredential(TestEnvironment.AccessKey, TestEnvironment.SecretKey) };
            var dc = await _engine.ConnectDatacenterAsync("Aws", name, "Contoso", "Virginia", settings, secrets, obs, default);
            Assert.Equal(ConnectionStatus.Connected, dc.Status);
            Assert.Equal(_fake.Url, dc.Endpoint);
            Assert.DoesNotContain(_engine.GetDatacenter(name).Settings.Values, v => v.Contains(TestEnvironment.SecretKey) || v.Contains(TestEnvironment.AccessKey));

            // A throttled launch: the engine's policy retries it, the SDK does not, the ClientToken keeps it to one instance.
            _fake.Throttle("RunInstances", 1);
            var req = new CreateWorkloadRequest { Name = "E2E-Web", Image = FakeEc2.ImageId, Size = "t3.micro" };
            req.Tags["env"] = "e2e";
            var w = await _engine.CreateWorkloadAsync(name, req, null, obs, default);
            Assert.Equal(WorkloadState.Running, w.State);
            Assert.Equal("Contoso", w.Owner);
            var runs = _fake.Server.RequestsFor("RunInstances").ToList();
            Assert.Equal(2, runs.Count);                                  // one throttled attempt + one retry, no SDK retries
            Assert.Equal(runs[0].Get("ClientToken"), runs[1].Get("ClientToken"));
            Assert.Single(_fake.Instances);
            Assert.Contains(obs.Lines, l => l.StartsWith("progress") && l.Contains("is running"));

            // Listing through the engine: a case-insensitive name pattern finds it (the provider did not push it).
            var found = new List<GridWorkload>();
            await foreach (var r in _engine.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { name }, Names = new[] { "e2e-*" } }, obs, default))
            {
                Assert.False(r.IsError, r.Error?.Message);
                found.Add(r.Value!);
            }
            Assert.Equal(w.NativeId, Assert.Single(found).NativeId);

            // A throttled stop, retried by the engine, then the journal says it succeeded.
            _fake.Throttle("StopInstances", 1);
            var stopped = await _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, obs, default);
            Assert.Equal(WorkloadState.Stopped, stopped!.State);
            Assert.False(stopped.ComputeBilled);
            Assert.Equal(2, _fake.Server.RequestsFor("StopInstances").Count());

            var ops = _engine.GetOperations(new OperationFilter { Datacenters = new[] { name } });
            Assert.Contains(ops, o => o.Kind == "Create" && o.State == OperationState.Succeeded && o.Checkpoints.ContainsKey("ClientToken"));
            Assert.Contains(ops, o => o.Kind == "Stop" && o.State == OperationState.Succeeded);
            Assert.All(ops, o => Assert.DoesNotContain(TestEnvironment.SecretKey, o.Request ?? ""));

            // Move is refused before anything is journaled.
            var ex = Assert.Throws<GridException>(() => _engine.EnsureCapable(w, new WorkloadActionRequest { Action = WorkloadAction.Move, DestinationHost = "us-east-1b" }));
            Assert.Equal(GridErrorKind.Unsupported, ex.Kind);

            await _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true }, null, obs, default);
            Assert.Equal("terminated", _fake.Instances[w.NativeId].State);
        }
    }
}
