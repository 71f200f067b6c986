using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Replication;
using Xunit;
using Xunit.Abstractions;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// Start-GridFailover -Mode Test -TestNetwork on the daemon pair: an isolated libvirt network (bridge mode over a
    /// bridge of the test's own with no uplink; removed after) defined on daemon B; the counting guest on A protected to B; a name B does not have is refused before
    /// anything is journaled (NetworkNotFound, listing B's networks); the test copy's domain on B has its interface on
    /// that network and counts; Stop-GridFailover -Test removes it.
    /// </summary>
    [Collection(DaemonCollection.Name)]
    public sealed class FailoverTestNetworkTests : IDisposable
    {
        private readonly DaemonPair _pair;
        private readonly ITestOutputHelper _out;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-fonet-" + Guid.NewGuid().ToString("N").Substring(0, 8));
        private readonly string _net = "gaiso" + Guid.NewGuid().ToString("N").Substring(0, 6);

        public FailoverTestNetworkTests(DaemonPair pair, ITestOutputHelper output)
        {
            _pair = pair; _out = output;
            Directory.CreateDirectory(Path.Combine(_dir, "staging"));
        }

        public void Dispose()
        {
            DisasterLab.Run("virsh", "-q", "-c", _pair.UriB, "net-destroy", _net);
            DisasterLab.Run("virsh", "-q", "-c", _pair.UriB, "net-undefine", _net);
            DisasterLab.Run("ip", "link", "del", _net);
            GridEngine.Reset();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        private static void Virsh(string uri, params string[] args)
        {
            var r = DisasterLab.Run("virsh", new[] { "-q", "-c", uri }.Concat(args).ToArray());
            Assert.True(r.Code == 0, "virsh " + string.Join(" ", args) + ": " + r.Out);
        }

        [DaemonFact]
        public async Task TestNetwork_UnknownRefusedBeforeJournal_CopyInterfaceOnTheNetwork_StopRemovesIt()
        {
            _pair.Require();
            string xml = Path.Combine(_dir, "net.xml");
            // a bridge-mode network over a bridge of our own with no uplink: isolated, and libvirt sets no firewall rule for it
            var br = DisasterLab.Run("ip", "link", "add", _net, "type", "bridge");
            Assert.True(br.Code == 0, "ip link add: " + br.Out);
            Assert.Equal(0, DisasterLab.Run("ip", "link", "set", _net, "up").Code);
            File.WriteAllText(xml, $"<network><name>{_net}</name><forward mode='bridge'/><bridge name='{_net}'/></network>");
            Virsh(_pair.UriB, "net-define", xml);
            Virsh(_pair.UriB, "net-start", _net);

            Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", Path.Combine(_dir, "staging"));
            var engine = DatacenterMoveTests.Engine(Path.Combine(_dir, "state.db"));
            foreach (var (dcName, uri) in new[] { ("ln-a", _pair.UriA), ("ln-b", _pair.UriB) })
                await engine.ConnectDatacenterAsync("Libvirt", dcName, "Contoso", null, new Dictionary<string, string> { ["Uri"] = uri }, new Dictionary<string, object>(), NullObserver.Instance, DisasterLab.Ct());
            const string name = "fonet1";
            string serialA = DisasterLab.SerialLog(_pair, name, "a"), serialB = DisasterLab.SerialLog(_pair, name, "b");
            var req = new CreateWorkloadRequest { Name = name, Image = DaemonPair.ImageName, Size = "micro" };
            req.Options["DiskBus"] = "ide";
            req.Options["SerialLog"] = serialA;
            var guest = await engine.CreateWorkloadAsync("ln-a", req, null, NullObserver.Instance, DisasterLab.Ct());
            try
            {
                await EmbedLab.WaitForCounts(serialA, x => x.Count >= 2, DisasterLab.Wait);
                await engine.Replication.EnableAsync(guest, new ReplicationRequest
                {
                    DestinationDatacenter = "ln-b", RecoveryPointCount = 2,
                    Options = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["DiskBus"] = "ide", ["SerialLog"] = serialB },
                }, NullObserver.Instance, DisasterLab.Ct());

                // a network daemon B does not define: refused before anything is journaled, naming the ones it has
                int ops = engine.GetOperations(new GridAutomation.Core.State.OperationFilter { IncludeChildren = true }).Count;
                var nf = await Assert.ThrowsAsync<GridException>(() => engine.Replication.FailoverAsync(new[] { guest }, FailoverMode.Test, null, "no-such-net", NullObserver.Instance, DisasterLab.Ct()));
                Assert.Equal("NetworkNotFound", nf.ErrorId);
                Assert.Contains(_net, nf.Message);
                Assert.Equal(ops, engine.GetOperations(new GridAutomation.Core.State.OperationFilter { IncludeChildren = true }).Count);

                // the test copy: its interface is on the isolated network, and it boots and counts there
                var r = Assert.Single(await engine.Replication.FailoverAsync(new[] { guest }, FailoverMode.Test, null, _net, NullObserver.Instance, DisasterLab.Ct()));
                Assert.True(r.ErrorId == null, r.ErrorId + ": " + r.Error);
                string uuid = r.DestinationId!.Split('/')[1];
                var dump = DisasterLab.Run("virsh", "-q", "-c", _pair.UriB, "dumpxml", uuid);
                Assert.Equal(0, dump.Code);
                _out.WriteLine(string.Join("\n", dump.Out.Split('\n').Where(l => l.Contains("interface") || l.Contains("source network"))));
                Assert.Contains($"<source network='{_net}'", dump.Out); // running: libvirt shows the bridge it resolved too
                var defined = DisasterLab.Run("virsh", "-q", "-c", _pair.UriB, "dumpxml", "--inactive", uuid);
                Assert.Contains("<interface type='network'>", defined.Out);
                Assert.Contains($"<source network='{_net}'/>", defined.Out);
                DisasterLab.AssertCountsFromZero(await EmbedLab.WaitForCounts(serialB, x => x.Count >= 2, DisasterLab.Wait));

                // Stop-GridFailover -Test: nothing of the copy is left on B
                await engine.Replication.StopTestAsync(engine.Replication.Get(), NullObserver.Instance, DisasterLab.Ct());
                var list = DisasterLab.Run("virsh", "-q", "-c", _pair.UriB, "list", "--all", "--uuid");
                Assert.DoesNotContain(uuid, list.Out);
            }
            finally
            {
                foreach (var i in engine.Replication.Get())
                    try { await engine.Replication.DisableAsync(i, false, NullObserver.Instance, DisasterLab.Ct()); } catch (GridException e) { _out.WriteLine("disable: " + e.Message); }
                try
                {
                    var w = await engine.GetWorkloadAsync(guest.Id, DisasterLab.Ct());
                    await engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, DisasterLab.Ct());
                    await engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true }, null, NullObserver.Instance, DisasterLab.Ct());
                }
                catch (GridException e) { _out.WriteLine($"remove: {e.ErrorId} {e.Message}"); }
            }
        }
    }
}
