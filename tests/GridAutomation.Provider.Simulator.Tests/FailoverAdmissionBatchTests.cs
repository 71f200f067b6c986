using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Replication;
using GridAutomation.Core.State;
using Xunit;
using static GridAutomation.Provider.Simulator.Tests.ReplicationTests;
using static GridAutomation.Provider.Simulator.Tests.RecoveryPlanTests;

namespace GridAutomation.Provider.Simulator.Tests
{
    /// <summary>
    /// Issue 17 (admission speed): a failover run admits its copies under the agreement as ONE batch, listing each
    /// datacenter the agreement covers once per run (not once per workload), with the quota still counted exactly: a
    /// batch that exceeds it is refused whole before anything is journaled or reserved, the next run lists again (no
    /// cache across calls), and two runs admitted at the same time never overrun it.
    /// </summary>
    [Collection("Engine")]
    public class FailoverAdmissionBatchTests
    {
        private sealed class Recorder : IEngineObserver
        {
            public readonly ConcurrentQueue<string> Lines = new ConcurrentQueue<string>();
            public void Progress(string target, GridProgress progress) { }
            public void Verbose(string message) => Lines.Enqueue(message);
            public void Warning(string message) => Lines.Enqueue("WARNING: " + message);
            public int Listed(string dc) => Lines.Count(l => l.StartsWith("Admission: listed '" + dc + "' once", StringComparison.Ordinal));
        }

        private static long LiveReservations(GridEngine e)
            => e.Store.Read(s => s.ScalarInt64("SELECT COUNT(*) FROM grid_reservations WHERE expires_ticks >= " + DateTimeOffset.UtcNow.UtcTicks));

        /// <summary>'prim' (Contoso, 12 running), and Fabrikam's 'rec' and 'rec2', both covered by one agreement 'rec*' lending <paramref name="maxWorkloads"/>.</summary>
        private static async Task<GridEngine> SetUpAsync(SimEnv env, int maxWorkloads, CancellationToken ct)
        {
            var e = await TwoDatacentersAsync(env, 12, dstOwner: "Fabrikam", ct: ct);
            await e.ConnectDatacenterAsync("Simulator", "rec2", "Fabrikam", "Lab3", new Dictionary<string, string> { ["BandwidthMBps"] = "16000000" }, new Dictionary<string, object>(), NullObserver.Instance, ct);
            e.Grid.NewAgreement(new GridAgreement { Owner = "Fabrikam", Consumer = "Contoso", Datacenter = "rec*", MaxWorkloads = maxWorkloads });
            return e;
        }

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Batch_ListsEachCoveredDatacenterOncePerRun_AndARunOverTheQuotaIsRefusedWhole(string backend)
        {
            using var env = new SimEnv(backend);
            GridEngine.Reset();
            try
            {
                var ct = new CancellationTokenSource(TimeSpan.FromMinutes(4)).Token;
                var e = await SetUpAsync(env, 5, ct);
                var ws = await ProtectAsync(e, 8, ct);
                int ops = e.GetOperations(new OperationFilter { IncludeChildren = true }).Count;

                // 8 copies under a quota of 5: refused as a whole before the journal; nothing reserved, nothing at the destination
                var rec = new Recorder();
                var g = await Assert.ThrowsAsync<GridException>(() => e.Replication.FailoverAsync(ws, FailoverMode.Planned, null, rec, ct));
                Assert.Equal("AgreementQuotaExceeded", g.ErrorId);
                Assert.Contains("MaxWorkloads 5: 5 in use", g.Message); // the batch's own first 5 are counted
                Assert.Equal(ops, e.GetOperations(new OperationFilter { IncludeChildren = true }).Count);
                Assert.Equal(0, LiveReservations(e));
                Assert.Empty(await WorkloadsAsync(e, "rec", ct));
                Assert.All(ws, w => Assert.Equal(ReplicationState.Protected, e.Replication.Find(w.Id)!.State));
                Assert.All((await WorkloadsAsync(e, "prim", ct)).Where(w => ws.Any(x => x.Id == w.Id)), w => Assert.Equal(WorkloadState.Running, w.State));
                // each datacenter the agreement covers was listed once for the 8, not once per workload
                Assert.Equal((1, 1), (rec.Listed("rec"), rec.Listed("rec2")));

                // 5 fit: admitted, failed over; again one listing per covered datacenter (a new run lists again)
                rec = new Recorder();
                var results = await e.Replication.FailoverAsync(ws.Take(5).ToList(), FailoverMode.Unplanned, null, rec, ct);
                Assert.All(results, r => Assert.Equal("Running", r.Status));
                Assert.Equal((1, 1), (rec.Listed("rec"), rec.Listed("rec2")));
                Assert.Contains(rec.Lines, l => l.StartsWith("Admission: 5 of 5 workload(s) admitted", StringComparison.Ordinal));
                Assert.Contains(rec.Lines, l => l.StartsWith("Failover: group 1 (5 workload(s), 0 failed) took", StringComparison.Ordinal));

                // the sixth: the listing now shows the 5 running copies, so it is refused too
                var sixth = await Assert.ThrowsAsync<GridException>(() => e.Replication.FailoverAsync(new[] { ws[5] }, FailoverMode.Unplanned, null, NullObserver.Instance, ct));
                Assert.Equal("AgreementQuotaExceeded", sixth.ErrorId);
                Assert.Equal(5, (await WorkloadsAsync(e, "rec", ct)).Count(w => w.Owner == "Contoso" && w.State == WorkloadState.Running));
            }
            finally { GridEngine.Reset(); }
        }

        /// <summary>Two test runs of 3 copies each started at the same time under a quota of 5: exactly one is admitted, the other refused whole.</summary>
        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task TwoConcurrentRuns_NeverOverrunTheQuota(string backend)
        {
            using var env = new SimEnv(backend);
            GridEngine.Reset();
            try
            {
                var ct = new CancellationTokenSource(TimeSpan.FromMinutes(4)).Token;
                var e = await SetUpAsync(env, 5, ct);
                var ws = await ProtectAsync(e, 6, ct);
                using var go = new ManualResetEventSlim(false);
                async Task<Exception?> Run(IReadOnlyList<GridWorkload> part)
                {
                    await Task.Yield();
                    go.Wait(ct);
                    try { await e.Replication.FailoverAsync(part, FailoverMode.Test, null, NullObserver.Instance, ct); return null; }
                    catch (Exception ex) { return ex; }
                }
                var a = Task.Run(() => Run(ws.Take(3).ToList()));
                var b = Task.Run(() => Run(ws.Skip(3).ToList()));
                go.Set();
                var errors = await Task.WhenAll(a, b);
                Assert.Single(errors, x => x == null);
                var refused = Assert.IsType<GridException>(errors.Single(x => x != null));
                Assert.Equal("AgreementQuotaExceeded", refused.ErrorId);
                var copies = (await WorkloadsAsync(e, "rec", ct)).Where(w => w.Tags.ContainsKey(ReplicationService.TestTag)).ToList();
                Assert.Equal(3, copies.Count);
                Assert.Single(e.GetOperations(new OperationFilter { Kind = ReplicationService.FailoverKind }));
            }
            finally { GridEngine.Reset(); }
        }
    }
}
