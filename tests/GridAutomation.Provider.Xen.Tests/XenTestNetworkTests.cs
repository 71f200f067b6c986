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
    /// Start-GridFailover -Mode Test -TestNetwork into a destination whose provider does not list its networks (Xen has
    /// no INetworkCatalog yet): refused with TestNetworkUnsupported before anything is journaled or made.
    /// </summary>
    [Collection("engine")]
    public sealed class XenTestNetworkTests
    {
        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token;

        [XapiFact]
        public async Task TestNetwork_IntoAPoolWithoutANetworkCatalog_IsRefusedBeforeTheJournal()
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
                Assert.NotEmpty(engine.Replication.GetPoints(item));

                int ops = engine.GetOperations(new OperationFilter { IncludeChildren = true }).Count;
                int vmsAtB = b.Db["VM"].Count, clonesAtB = b.Count("VM.clone") + b.Count("Async.VM.clone");
                var ex = await Assert.ThrowsAsync<GridException>(() => engine.Replication.FailoverAsync(new[] { w }, FailoverMode.Test, null, "Pool-wide network associated with eth0", NullObserver.Instance, Ct()));
                Assert.Equal(("TestNetworkUnsupported", GridErrorKind.Unsupported), (ex.ErrorId, ex.Kind));
                Assert.Contains("pool-b", ex.Message);
                Assert.Contains("Leave -TestNetwork out", ex.Message);
                // nothing journaled, nothing made at the destination, the item still Protected with no test copy
                Assert.Equal(ops, engine.GetOperations(new OperationFilter { IncludeChildren = true }).Count);
                Assert.Equal(vmsAtB, b.Db["VM"].Count);
                Assert.Equal(clonesAtB, b.Count("VM.clone") + b.Count("Async.VM.clone"));
                var now = engine.Replication.Find(w.Id)!;
                Assert.Equal(ReplicationState.Protected, now.State);
                Assert.Empty(now.TestWorkloadIds);
            }, ("pool-a", a), ("pool-b", b));
        }
    }
}
