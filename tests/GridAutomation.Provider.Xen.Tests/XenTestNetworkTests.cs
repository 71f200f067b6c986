using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Replication;
using GridAutomation.Core.State;
using GridAutomation.Provider.Xen.Tests.Server;
using GridAutomation.Providers.Xen;
using Xunit;

namespace GridAutomation.Provider.Xen.Tests
{
    /// <summary>
    /// Start-GridFailover -Mode Test -TestNetwork into a Xen pool: the pool lists its networks (XAPI network objects), the
    /// test copy's card 0 is on the named network, the primary is untouched; an unknown name is refused before anything
    /// is journaled or made.
    /// </summary>
    [Collection("engine")]
    public sealed class XenTestNetworkTests
    {
        private const string TestNet = "Pool-wide network associated with eth0";
        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token;

        [XapiFact]
        public async Task TestNetwork_PutsTheCopysCardOnTheNamedNetwork_AndAnUnknownNameIsRefusedBeforeTheJournal()
        {
            using var a = FakeXapi.FromFixture(XenContractTests.Pool);
            using var b = FakeXapi.FromFixture(XenContractTests.Pool);
            await XenEngineTests.WithEngineAsync(async engine =>
            {
                var w = await engine.CreateWorkloadAsync("pool-a", new CreateWorkloadRequest { Name = "ledger", Image = XenContractTests.Template, Size = "small", PowerOn = false }, null, NullObserver.Instance, Ct());
                a.SetVdiContent(XenEngineTests.DiskOf(a, w.NativeId), new byte[1024 * 1024]);
                var req = new ReplicationRequest { DestinationDatacenter = "pool-b", RecoveryPointCount = 2 };
                req.Options["Image"] = XenContractTests.Template;
                var item = await engine.Replication.EnableAsync(w, req, NullObserver.Instance, Ct());
                Assert.Equal(ReplicationState.Protected, item.State);

                // the catalog: the pool's networks by name, the host-internal management network left out
                var nets = await engine.Replication.GetDestinationNetworksAsync(NullObserver.Instance, Ct());
                Assert.Contains(("pool-b", TestNet), nets);
                Assert.DoesNotContain(nets, n => n.Network == "Host internal management network");
                string expectedNet = b.Db["network"].Single(kv => (string?)kv.Value["name_label"] == TestNet).Key;

                // an unknown name: NetworkNotFound naming the real ones; nothing journaled, nothing cloned
                int ops = engine.GetOperations(new OperationFilter { IncludeChildren = true }).Count;
                int vmsAtB = b.Db["VM"].Count, clonesAtB = b.Count("VM.clone") + b.Count("Async.VM.clone");
                var ex = await Assert.ThrowsAsync<GridException>(() => engine.Replication.FailoverAsync(new[] { w }, FailoverMode.Test, null, "no-such-net", NullObserver.Instance, Ct()));
                Assert.Equal("NetworkNotFound", ex.ErrorId);
                Assert.Contains(TestNet, ex.Message);
                Assert.Equal(ops, engine.GetOperations(new OperationFilter { IncludeChildren = true }).Count);
                Assert.Equal((vmsAtB, clonesAtB), (b.Db["VM"].Count, b.Count("VM.clone") + b.Count("Async.VM.clone")));

                // the test copy: card 0 on the test network; the primary at pool-a has no card added
                int primaryCards = a.Db["VIF"].Count;
                var r = Assert.Single(await engine.Replication.FailoverAsync(new[] { w }, FailoverMode.Test, null, TestNet, NullObserver.Instance, Ct()));
                Assert.True(r.Status == "Running", $"{r.Status} {r.ErrorId} {r.Error}");
                Assert.True(WorkloadId.TryParse(r.DestinationId!, out _, out var copyUuid));
                string copyVm = b.Db["VM"].Single(kv => (string?)kv.Value["uuid"] == copyUuid).Key;
                var card = Assert.Single(b.Db["VIF"].Values, v => (string?)v["VM"] == copyVm);
                Assert.Equal(("0", expectedNet), ((string?)card["device"], (string?)card["network"]));
                Assert.Equal(primaryCards, a.Db["VIF"].Count);

                // the stop removes the copy and its card
                await engine.Replication.StopTestAsync(new[] { engine.Replication.Find(w.Id)! }, NullObserver.Instance, Ct());
                Assert.False(b.Db["VM"].ContainsKey(copyVm));
                Assert.DoesNotContain(b.Db["VIF"].Values, v => (string?)v["VM"] == copyVm);
            }, ("pool-a", a), ("pool-b", b));
        }
    }
}
