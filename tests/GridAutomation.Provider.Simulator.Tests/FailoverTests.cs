using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Core.Replication;
using GridAutomation.Core.State;
using Xunit;
using static GridAutomation.Provider.Simulator.Tests.ReplicationTests;

namespace GridAutomation.Provider.Simulator.Tests
{
    /// <summary>Failover (issue 17) through the real engine over two simulated datacenters, on both backends: tests 2 and 5 of the issue.</summary>
    [Collection("Engine")]
    public class FailoverTests
    {
        private static async Task<List<GridWorkload>> ProtectAsync(GridEngine e, int n, CancellationToken ct)
        {
            var running = (await WorkloadsAsync(e, "prim", ct)).Where(w => w.State == WorkloadState.Running).Take(n).ToList();
            Assert.Equal(n, running.Count);
            foreach (var w in running)
                await e.Replication.EnableAsync(w, new ReplicationRequest { DestinationDatacenter = "rec", RpoMinutes = 15, RecoveryPointCount = 4 }, NullObserver.Instance, ct);
            return running;
        }

        /// <summary>The simulator's own log of changing calls (datacenter, native id, action), in the order the server received them.</summary>
        private static List<(string dc, string id, string action)> ActionLog(GridEngine e)
            => e.Store.Read(s =>
            {
                var l = new List<(string, string, string)>();
                using var cmd = s.Command("SELECT datacenter, native_id, action FROM sim_actions ORDER BY id");
                using var r = cmd.ExecuteReader();
                while (r.Read()) l.Add((r.GetString(0), r.GetString(1), r.GetString(2)));
                return l;
            });

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task TestFailover_PrimariesKeepRunning_CleanupLeavesNothing_ThenPlannedUnplannedFenceCompleteReverse(string backend)
        {
            using var env = new SimEnv(backend);
            GridEngine.Reset();
            try
            {
                var ct = new CancellationTokenSource(TimeSpan.FromMinutes(4)).Token;
                var e = await TwoDatacentersAsync(env, 12, ct: ct);
                var ws = await ProtectAsync(e, 3, ct);
                int logBefore = ActionLog(e).Count;

                // Test: copies boot at the destination while the primaries keep running untouched
                var test = await e.Replication.FailoverAsync(ws, FailoverMode.Test, null, NullObserver.Instance, ct);
                Assert.All(test, r => Assert.Equal("Running", r.Status));
                var copies = await WorkloadsAsync(e, "rec", ct);
                Assert.Equal(3, copies.Count);
                Assert.All(copies, c => { Assert.Equal(WorkloadState.Running, c.State); Assert.NotNull(c.Tags[ReplicationService.TestTag]); });
                Assert.All(await WorkloadsAsync(e, "prim", ct), w => { if (ws.Any(x => x.Id == w.Id)) Assert.Equal(WorkloadState.Running, w.State); });
                // from the server's side: nothing was asked of the primaries' datacenter
                Assert.DoesNotContain(ActionLog(e).Skip(logBefore), a => a.dc == "prim");
                Assert.All(e.Replication.Get(), i => Assert.Equal(ReplicationState.Protected, i.State));
                var twice = await Assert.ThrowsAsync<GridException>(() => e.Replication.FailoverAsync(ws, FailoverMode.Test, null, NullObserver.Instance, ct));
                Assert.Equal("TestFailoverRunning", twice.ErrorId);

                // cleanup leaves nothing at the destination (not even a deleted row of the simulator)
                await e.Replication.StopTestAsync(e.Replication.Get(), NullObserver.Instance, ct);
                Assert.Empty(await WorkloadsAsync(e, "rec", ct));
                Assert.Equal(0L, e.Store.Read(s => s.ScalarInt64("SELECT COUNT(*) FROM sim_workloads WHERE datacenter = 'rec' AND state <> 'deleted'")));
                Assert.All(e.Replication.Get(), i => Assert.Empty(i.TestWorkloadIds));

                // Planned: the source stops, a last point is taken, the copy runs at the destination, the old primary is fenced
                var planned = (await e.Replication.FailoverAsync(new[] { ws[0] }, FailoverMode.Planned, null, NullObserver.Instance, ct)).Single();
                Assert.Equal("Running", planned.Status);
                Assert.Equal(TimeSpan.Zero, planned.DataLoss);
                Assert.Equal(WorkloadState.Stopped, (await e.GetWorkloadAsync(ws[0].Id, ct)).State);
                Assert.Equal(WorkloadState.Running, (await e.GetWorkloadAsync(planned.DestinationId!, ct)).State);
                var item = e.Replication.Find(ws[0].Id)!;
                Assert.Equal((ReplicationState.FailedOver, true), (item.State, item.Fenced));
                Assert.False(item.Fenced && (await e.GetWorkloadAsync(ws[0].Id, ct)).State == WorkloadState.Running); // never at both sites
                var fenced = await Assert.ThrowsAsync<GridException>(() => e.InvokeAsync(ws[0], new WorkloadActionRequest { Action = WorkloadAction.Start }, null, NullObserver.Instance, ct));
                Assert.Equal("FencedAfterFailover", fenced.ErrorId);
                Assert.Equal(WorkloadState.Stopped, (await e.GetWorkloadAsync(ws[0].Id, ct)).State);
                var parent = e.GetOperations(new OperationFilter { Kind = ReplicationService.FailoverKind }).OrderBy(o => o.Started).Last();
                Assert.Equal(OperationState.Succeeded, parent.State);
                Assert.Contains(e.GetOperations(new OperationFilter { Kind = ReplicationService.FailoverChildKind, ParentId = parent.Id }), o => o.ParentId == parent.Id && o.State == OperationState.Succeeded); // children are listed under their parent (issue 13)

                // Complete commits; -Reverse protects the new primary back to 'prim' and lifts the fence
                Assert.Equal(ReplicationState.Committed, e.Replication.Complete(item).State);
                var back = await e.Replication.ReverseAsync(e.Replication.Find(ws[0].Id)!, new ReplicationRequest(), NullObserver.Instance, ct);
                Assert.Equal((planned.DestinationId, "prim", ReplicationState.Protected), (back.SourceId, back.DestinationDatacenter, back.State));
                Assert.Null(e.Replication.Find(ws[0].Id));
                e.Replication.RefuseFenced(ws[0].Id); // not fenced any more

                // Unplanned: the source is down; the newest point starts, the data loss is its age
                await e.InvokeAsync(ws[1], new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, ct);
                e.Store.Write(s => s.Execute("UPDATE rep_points SET taken = @t WHERE item_id = @i", ("t", StateStore.FormatTime(DateTimeOffset.UtcNow.AddMinutes(-5))), ("i", e.Replication.Find(ws[1].Id)!.Id)));
                int primCalls = ActionLog(e).Count(a => a.dc == "prim");
                var un = (await e.Replication.FailoverAsync(new[] { ws[1] }, FailoverMode.Unplanned, null, NullObserver.Instance, ct)).Single();
                Assert.Equal("Running", un.Status);
                Assert.InRange(un.DataLoss!.Value.TotalMinutes, 4.9, 6);
                Assert.Equal(primCalls, ActionLog(e).Count(a => a.dc == "prim")); // the source was not asked
                Assert.True(e.Replication.Find(ws[1].Id)!.Fenced);
                Assert.Equal("FencedAfterFailover", (await Assert.ThrowsAsync<GridException>(() => e.InvokeAsync(ws[1], new WorkloadActionRequest { Action = WorkloadAction.Start }, null, NullObserver.Instance, ct))).ErrorId);
            }
            finally { GridEngine.Reset(); }
        }

        /// <summary>Test 5: bad input is refused with a clear error id and nothing changes (replication tables, journal, both datacenters).</summary>
        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task BadInput_ClearErrors_NothingChanged(string backend)
        {
            using var env = new SimEnv(backend);
            GridEngine.Reset();
            try
            {
                var ct = new CancellationTokenSource(TimeSpan.FromMinutes(4)).Token;
                var e = await TwoDatacentersAsync(env, 12, dstOwner: "Fabrikam", ct: ct);
                var running = (await WorkloadsAsync(e, "prim", ct)).Where(w => w.State == WorkloadState.Running).ToList();
                // a replica in another owner's datacenter needs an agreement
                var noAgreement = await Assert.ThrowsAsync<GridException>(() => e.Replication.EnableAsync(running[0], new ReplicationRequest { DestinationDatacenter = "rec" }, NullObserver.Instance, ct));
                Assert.Equal("NoAgreement", noAgreement.ErrorId);
                Assert.Empty(e.GetOperations(new OperationFilter { Kind = ReplicationService.EnableKind }));
                e.Grid.NewAgreement(new GridAgreement { Owner = "Fabrikam", Consumer = "Contoso", Datacenter = "rec", MaxWorkloads = 1 });
                foreach (var w in running.Take(2))
                    await e.Replication.EnableAsync(w, new ReplicationRequest { DestinationDatacenter = "rec" }, NullObserver.Instance, ct);

                string Snapshot() => e.Replication.DumpTables() + "\nops:" + e.GetOperations(new OperationFilter { IncludeChildren = true }).Count
                    + "\nsim:" + e.Store.Read(s => s.ScalarInt64("SELECT COUNT(*) FROM sim_workloads WHERE datacenter = 'rec'"))
                    + "\nrunning:" + e.Store.Read(s => s.ScalarInt64("SELECT COUNT(*) FROM sim_workloads WHERE datacenter = 'prim' AND state = 'poweredOn'"));
                var before = Snapshot();
                async Task Refused(string id, Func<Task> act) { var g = await Assert.ThrowsAsync<GridException>(act); Assert.Equal(id, g.ErrorId); Assert.False(string.IsNullOrWhiteSpace(g.Message)); Assert.Equal(before, Snapshot()); }

                await Refused("NotProtected", () => e.Replication.FailoverAsync(new[] { running[0], running[5] }, FailoverMode.Planned, null, NullObserver.Instance, ct));
                await Refused("WorkloadGivenTwice", () => e.Replication.FailoverAsync(new[] { running[0], running[0] }, FailoverMode.Planned, null, NullObserver.Instance, ct));
                await Refused("RecoveryPointNotFound", () => e.Replication.FailoverAsync(new[] { running[0] }, FailoverMode.Unplanned, DateTimeOffset.UtcNow.AddDays(-1), NullObserver.Instance, ct));
                // the agreement lends one workload: two replicas running would exceed it
                await Refused("AgreementQuotaExceeded", () => e.Replication.FailoverAsync(running.Take(2).ToList(), FailoverMode.Planned, null, NullObserver.Instance, ct));
                await Refused("AlreadyProtected", () => e.Replication.EnableAsync(running[1], new ReplicationRequest { DestinationDatacenter = "rec" }, NullObserver.Instance, ct));
                await Refused("InvalidRpo", () => e.Replication.EnableAsync(running[3], new ReplicationRequest { DestinationDatacenter = "rec", RpoMinutes = 0 }, NullObserver.Instance, ct));
                await Refused("SameDatacenter", () => e.Replication.EnableAsync(running[3], new ReplicationRequest { DestinationDatacenter = "prim" }, NullObserver.Instance, ct));
                await Refused("NotFailedOver", () => Task.FromResult(e.Replication.Complete(e.Replication.Find(running[0].Id)!)));
            }
            finally { GridEngine.Reset(); }
        }
    }
}
