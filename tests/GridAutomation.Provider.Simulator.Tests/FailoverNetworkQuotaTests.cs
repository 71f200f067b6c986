using System;
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
    /// Issue 17's remaining items: Start-GridFailover -Mode Test -TestNetwork (refusals before the journal, the copies
    /// attached to the named network as the simulator records it), and a resumed run admitted again under the agreement's
    /// quota (another placement took the room meanwhile).
    /// </summary>
    [Collection("Engine")]
    public class FailoverNetworkQuotaTests
    {
        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task TestNetwork_RefusedBeforeJournal_CopiesAttached_StopRemovesAll(string backend)
        {
            using var env = new SimEnv(backend);
            GridEngine.Reset();
            try
            {
                var ct = new CancellationTokenSource(TimeSpan.FromMinutes(4)).Token;
                var e = Engine(env);
                await e.ConnectDatacenterAsync("Simulator", "prim", "Contoso", "Lab", new Dictionary<string, string> { ["Workloads"] = "10", ["BandwidthMBps"] = "16000000" }, new Dictionary<string, object>(), NullObserver.Instance, ct);
                await e.ConnectDatacenterAsync("Simulator", "rec", "Contoso", "Lab2", new Dictionary<string, string> { ["BandwidthMBps"] = "16000000", ["Networks"] = "lan\nisolated" }, new Dictionary<string, object>(), NullObserver.Instance, ct);
                var ws = await ProtectAsync(e, 2, ct);

                // the simulator's networks: the first by default, another refused before the create is journaled
                var plain = await e.CreateWorkloadAsync("rec", new CreateWorkloadRequest { Name = "plain", Size = "sim.small" }, null, NullObserver.Instance, ct);
                Assert.Equal("lan", plain.Properties["Network"]);
                int ops = e.GetOperations(new OperationFilter { IncludeChildren = true }).Count;
                var bad = await Assert.ThrowsAsync<GridException>(() => e.CreateWorkloadAsync("rec", new CreateWorkloadRequest { Name = "lost", Size = "sim.small", Options = { ["Network"] = "dmz" } }, null, NullObserver.Instance, ct));
                Assert.Equal("NetworkNotFound", bad.ErrorId);

                // -TestNetwork: Test mode only; a network the destination does not list; both before anything is journaled
                Assert.Equal("TestNetworkNeedsTestMode", (await Assert.ThrowsAsync<GridException>(() => e.Replication.FailoverAsync(ws, FailoverMode.Planned, null, "isolated", NullObserver.Instance, ct))).ErrorId);
                var nf = await Assert.ThrowsAsync<GridException>(() => e.Replication.FailoverAsync(ws, FailoverMode.Test, null, "dmz", NullObserver.Instance, ct));
                Assert.Equal("NetworkNotFound", nf.ErrorId);
                Assert.Contains("lan, isolated", nf.Message);
                Assert.Equal(ops, e.GetOperations(new OperationFilter { IncludeChildren = true }).Count);
                Assert.All(ws, w => Assert.Equal(ReplicationState.Protected, e.Replication.Find(w.Id)!.State));

                // the test copies run on the named network (the simulator's spelling), tagged as test; the primaries keep running
                var results = await e.Replication.FailoverAsync(ws, FailoverMode.Test, null, "ISOLATED", NullObserver.Instance, ct);
                Assert.All(results, r => Assert.Equal("Running", r.Status));
                var copies = (await WorkloadsAsync(e, "rec", ct)).Where(w => w.Tags.ContainsKey(ReplicationService.TestTag)).ToList();
                Assert.Equal(2, copies.Count);
                Assert.All(copies, c => Assert.Equal("isolated", c.Properties["Network"]));
                Assert.All(await WorkloadsAsync(e, "prim", ct), w => { if (ws.Any(x => x.Id == w.Id)) Assert.Equal(WorkloadState.Running, w.State); });
                var parent = e.GetOperations(new OperationFilter { Kind = ReplicationService.FailoverKind }).Single();
                Assert.Contains("\"TestNetwork\":\"isolated\"", parent.Request);

                // Stop-GridFailover -Test removes every trace: only the plain workload is left at the destination
                await e.Replication.StopTestAsync(e.Replication.Get(), NullObserver.Instance, ct);
                Assert.Equal(new[] { "plain" }, (await WorkloadsAsync(e, "rec", ct)).Select(w => w.Name));
                Assert.All(ws, w => Assert.Empty(e.Replication.Find(w.Id)!.TestWorkloadIds));
            }
            finally { GridEngine.Reset(); }
        }

        /// <summary>
        /// A run paused after group 1 (a manual step: no reservation held); another placement fills the agreement's quota;
        /// Resume admits the workloads not begun again. Planned: refused as a whole with AgreementQuotaExceeded before
        /// anything acts (group 1 stays failed over and fenced, group 2 Protected, nothing of it at the destination).
        /// Unplanned: goes on past the refusal (the one that fits fails over, the other fails with AgreementQuotaExceeded).
        /// </summary>
        [Theory]
        [InlineData(FailoverMode.Planned)]
        [InlineData(FailoverMode.Unplanned)]
        public async Task Resume_AdmitsRemainingWorkloadsAgain_UnderTheAgreementsQuota(FailoverMode mode)
        {
            using var env = new SimEnv("Sqlite");
            GridEngine.Reset();
            try
            {
                var ct = new CancellationTokenSource(TimeSpan.FromMinutes(4)).Token;
                var e = await TwoDatacentersAsync(env, 12, dstOwner: "Fabrikam", ct: ct);
                e.Grid.NewAgreement(new GridAgreement { Owner = "Fabrikam", Consumer = "Contoso", Datacenter = "rec", MaxWorkloads = 4 });
                var ws = await ProtectAsync(e, 4, ct);
                var plan = e.Replication.NewPlan("erp", new[]
                {
                    new RecoveryPlanGroupSpec { Workloads = ws.Take(2).Select(w => w.Name).ToList(), ManualStep = "Check the DNS" },
                    new RecoveryPlanGroupSpec { Workloads = ws.Skip(2).Select(w => w.Name).ToList() },
                }, null);
                var run = await e.Replication.RunPlanAsync(plan, mode, null, NullObserver.Instance, ct);
                Assert.Equal("Waiting", run.State);

                // meanwhile another placement of the consumer takes the room (2 copies + fillers = the quota of 4)
                int fillers = mode == FailoverMode.Planned ? 2 : 1;
                for (int k = 0; k < fillers; k++)
                    await e.CreateWorkloadAsync("rec", new CreateWorkloadRequest { Name = "filler-" + k, Size = "sim.small", Owner = "Contoso", PowerOn = true }, null, NullObserver.Instance, ct);

                GridOperation parent;
                if (mode == FailoverMode.Planned)
                {
                    var g = await Assert.ThrowsAsync<GridException>(() => e.ResumeOperationAsync(run.OperationId, false, NullObserver.Instance, ct));
                    Assert.Equal("AgreementQuotaExceeded", g.ErrorId);
                    parent = e.GetOperations(new OperationFilter { Id = run.OperationId }).Single();
                    Assert.Equal(OperationState.Failed, parent.State);
                    Assert.Equal("AgreementQuotaExceeded", parent.ErrorId);
                    // nothing of group 2 began: no child, no copy; its items are Protected again and not fenced
                    Assert.Equal(2, e.GetOperations(new OperationFilter { ParentId = parent.Id, Kind = ReplicationService.FailoverChildKind }).Count);
                    Assert.All(ws.Skip(2), w => Assert.Equal((ReplicationState.Protected, false), (e.Replication.Find(w.Id)!.State, e.Replication.Find(w.Id)!.Fenced)));
                    // the stopped sources of group 2 may be started again (they never ran elsewhere)
                    var started = await e.InvokeAsync(ws[2], new WorkloadActionRequest { Action = WorkloadAction.Start }, null, NullObserver.Instance, ct);
                    Assert.Equal(WorkloadState.Running, started!.State);
                }
                else
                {
                    parent = await e.ResumeOperationAsync(run.OperationId, false, NullObserver.Instance, ct);
                    Assert.Equal(OperationState.Failed, parent.State);
                    Assert.Equal("AgreementQuotaExceeded", parent.ErrorId);
                    // one of group 2 fitted and failed over; the other was refused and is Protected again
                    var states = ws.Skip(2).Select(w => e.Replication.Find(w.Id)!.State).OrderBy(s => s).ToList();
                    Assert.Equal(new[] { ReplicationState.Protected, ReplicationState.FailedOver }.OrderBy(s => s), states);
                }
                // group 1 stays failed over and fenced; the destination holds exactly the quota, never more
                Assert.All(ws.Take(2), w => Assert.Equal((ReplicationState.FailedOver, true), (e.Replication.Find(w.Id)!.State, e.Replication.Find(w.Id)!.Fenced)));
                var rec = await WorkloadsAsync(e, "rec", ct);
                Assert.Equal(4, rec.Count(w => w.Owner == "Contoso" && w.State == WorkloadState.Running));
                // planned: no protected workload runs at both sites (unplanned leaves the old primaries to the fence)
                if (mode != FailoverMode.Planned) return;
                var prim = (await WorkloadsAsync(e, "prim", ct)).ToDictionary(w => w.Id);
                foreach (var w in ws)
                {
                    int there = rec.Count(r => Equals(r.Tags[ReplicationService.ReplicaOfTag], w.Id) && r.State == WorkloadState.Running);
                    int here = prim[w.Id].State == WorkloadState.Running ? 1 : 0;
                    Assert.True(there + here <= 1, w.Name + " runs at both sites");
                }
            }
            finally { GridEngine.Reset(); }
        }
    }
}
