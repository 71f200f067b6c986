using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using Xunit;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>The provider under the real engine: registry discovery, state store, journal with durable checkpoints.</summary>
    // In the daemons' collection: its GridEngine.Reset() must not dispose the engine of a datacenter-move test running beside it.
    [Collection(DaemonCollection.Name)]
    public sealed class EngineIntegrationTests : IDisposable
    {
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-lv-engine-" + Guid.NewGuid().ToString("N").Substring(0, 8));
        private readonly TestDriverDatacenter _hosts = new TestDriverDatacenter("host-a", "host-b");

        public void Dispose()
        {
            GridEngine.Reset();
            _hosts.Dispose();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        [LibvirtFact]
        public async Task Engine_Discovers_Connects_Creates_Moves_WithJournaledCheckpoints()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            Directory.CreateDirectory(_dir);
            Assert.True(ProviderRegistry.TryGet("libvirt", out var p), "ProviderRegistry did not discover GridAutomation.Provider.Libvirt.dll: " + string.Join("; ", ProviderRegistry.LoadErrors));
            Assert.Equal("Libvirt", p.Name);
            var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(_dir, "state.db"), LeaseTimeoutSeconds = 120 }, readOnly: false);
            var settings = new Dictionary<string, string> { ["Uri"] = string.Join("\n", _hosts.Uris), ["SaveDirectory"] = Path.Combine(_hosts.Dir, "save") };
            var dc = await engine.ConnectDatacenterAsync("Libvirt", "kvmlab", "Contoso", "Lab", settings, new Dictionary<string, object>(), NullObserver.Instance, default);
            Assert.Equal(ConnectionStatus.Connected, dc.Status);
            Assert.True(dc.Capabilities.HasFlag(GridCapabilities.Move));
            Assert.False(dc.Capabilities.HasFlag(GridCapabilities.LiveMove));

            var w = await engine.CreateWorkloadAsync("kvmlab", new CreateWorkloadRequest { Name = "eng1", Image = "base.img", Size = "small", TargetHost = "host-a" }, null, NullObserver.Instance, default);
            Assert.Equal("host-a", w.Host);
            var moved = await engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Move, DestinationHost = "host-b" }, null, NullObserver.Instance, default);
            Assert.Equal("host-b", moved!.Host);
            Assert.Equal(WorkloadState.Running, moved.State);

            var op = engine.Journal.List(new OperationFilter { Kind = "Move" }).Single();
            Assert.Equal(OperationState.Succeeded, op.State);
            foreach (var key in new[] { "move.plan", "move.1.save", "move.2.copy", "move.3.define", "move.4.restore", "move.5.cleanup", "move.done" })
                Assert.True(op.Checkpoints.ContainsKey(key), "journal lacks checkpoint " + key);
        }
            /// <summary>Issue 10: an unknown image, host or image path is refused before anything is journaled; a path that exists on the host is an image.</summary>
        [LibvirtFact]
        public async Task Engine_RefusesUnknownImageHostAndPath_BeforeJournaling_AndTakesAVolumePath()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            Directory.CreateDirectory(_dir);
            var engine = GridEngine.Get(new GridConfiguration { StatePath = Path.Combine(_dir, "state.db"), LeaseTimeoutSeconds = 120 }, readOnly: false);
            var settings = new Dictionary<string, string> { ["Uri"] = string.Join("\n", _hosts.Uris), ["SaveDirectory"] = Path.Combine(_hosts.Dir, "save") };
            await engine.ConnectDatacenterAsync("Libvirt", "kvmrules", null, null, settings, new Dictionary<string, object>(), NullObserver.Instance, default);
            int before = engine.Journal.List(new OperationFilter()).Count;
            foreach (var (req, id, kind) in new[]
            {
                (new CreateWorkloadRequest { Name = "r1", Image = "no-such.img" }, "ImageNotFound", GridErrorKind.NotFound),
                (new CreateWorkloadRequest { Name = "r2", Image = "base.img", TargetHost = "host-z" }, "HostNotFound", GridErrorKind.NotFound),
                (new CreateWorkloadRequest { Name = "r3", Image = "/var/lib/grid-test/host-a/missing.img", TargetHost = "host-a" }, "ImageNotFound", GridErrorKind.NotFound),
                (new CreateWorkloadRequest { Name = "r4", Image = "/var/lib/grid-test/../etc/passwd" }, "InvalidImageName", GridErrorKind.InvalidRequest),
                (new CreateWorkloadRequest { Name = "r5", Size = "no-such-size" }, "SizeNotFound", GridErrorKind.NotFound),
            })
            {
                var ex = await Assert.ThrowsAsync<GridException>(() => engine.CreateWorkloadAsync("kvmrules", req, null, NullObserver.Instance, default));
                Assert.Equal((id, kind), (ex.ErrorId, ex.Kind));
            }
            Assert.Equal(before, engine.Journal.List(new OperationFilter()).Count); // no Failed row

            // A path no listing shows but the host has (a volume of host-b's pool, by its path) is a valid image.
            var w = await engine.CreateWorkloadAsync("kvmrules", new CreateWorkloadRequest { Name = "bypath", Image = "/var/lib/grid-test/host-b/other.qcow2", Size = "small" }, null, NullObserver.Instance, default);
            Assert.Equal("host-b", w.Host);
            Assert.Equal(before + 1, engine.Journal.List(new OperationFilter()).Count);
        }
    }
}
