using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Replication;
using GridAutomation.Provider.Xen.Tests.Server;
using Xunit;

namespace GridAutomation.Provider.Xen.Tests
{
    /// <summary>
    /// A failover's copy is made from a COPY of the recovery point's VDI (VDI.copy), never from the point itself: a test
    /// failover boots without writing to the point, Stop-GridFailover -Test removes the copy and leaves the point, and
    /// a second failover from the same point works.
    /// </summary>
    [Collection("engine")]
    public sealed class XenFailoverPointTests
    {
        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token;

        [XapiFact]
        public async Task TestFailover_BootsACopyOfThePoint_AndStopLeavesThePointForTheNextFailover()
        {
            using var a = FakeXapi.FromFixture(XenContractTests.Pool);
            using var b = FakeXapi.FromFixture(XenContractTests.Pool);
            await XenEngineTests.WithEngineAsync(async engine =>
            {
                var w = await engine.CreateWorkloadAsync("pool-a", new CreateWorkloadRequest { Name = "ledger", Image = XenContractTests.Template, Size = "small", PowerOn = false }, null, NullObserver.Instance, Ct());
                var bytes = new byte[1024 * 1024];
                new Random(7).NextBytes(bytes);
                a.SetVdiContent(XenEngineTests.DiskOf(a, w.NativeId), bytes);
                var req = new ReplicationRequest { DestinationDatacenter = "pool-b", RecoveryPointCount = 2 };
                req.Options["Image"] = XenContractTests.Template;
                var item = await engine.Replication.EnableAsync(w, req, NullObserver.Instance, Ct());
                var point = engine.Replication.GetPoints(item).Last();
                string pointVdi = b.Db["VDI"].First(kv => (string?)kv.Value["uuid"] == point.ImportedDisks[0]).Key;

                for (int round = 1; round <= 2; round++)
                {
                    var results = await engine.Replication.FailoverAsync(new[] { w }, FailoverMode.Test, null, NullObserver.Instance, Ct());
                    var r = Assert.Single(results);
                    Assert.True(r.Status == "Running", $"round {round}: {r.Status} {r.ErrorId} {r.Error}");
                    // the copy runs on a disk of its own with the point's bytes; the point's VDI is attached to nothing
                    Assert.True(WorkloadId.TryParse(r.DestinationId!, out _, out var copyNative));
                    string copyVdi = XenEngineTests.DiskOf(b, copyNative);
                    Assert.NotEqual(pointVdi, copyVdi);
                    Assert.Equal(bytes, b.VdiContent(copyVdi));
                    Assert.DoesNotContain(b.Db["VBD"].Values, x => (string?)x["VDI"] == pointVdi);

                    await engine.Replication.StopTestAsync(new[] { engine.Replication.Find(w.Id)! }, NullObserver.Instance, Ct());
                    // the copy and its disk are gone; the point is still there, unchanged, and still listed
                    Assert.False(b.Db["VDI"].ContainsKey(copyVdi));
                    Assert.True(b.Db["VDI"].ContainsKey(pointVdi), $"round {round}: the recovery point's VDI was removed with the test copy");
                    Assert.Equal(bytes, b.VdiContent(pointVdi));
                    Assert.Contains(engine.Replication.GetPoints(engine.Replication.Find(w.Id)!), p => p.Sequence == point.Sequence);
                }
                Assert.Equal(2, b.Count("VDI.copy") + b.Count("Async.VDI.copy"));
            }, ("pool-a", a), ("pool-b", b));
        }
    }
}
