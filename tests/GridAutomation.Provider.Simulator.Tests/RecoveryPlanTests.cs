using System;
using System.Collections.Generic;
using System.IO;
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
    /// <summary>Recovery plans (issue 17): test 3 (500 workloads, 3 groups, two owners), the plan cases of test 5, manual steps and resume.</summary>
    [Collection("Engine")]
    public class RecoveryPlanTests
    {
        private static List<(string dc, string id, string action, long id2)> ActionLog(GridEngine e)
            => e.Store.Read(s =>
            {
                var l = new List<(string, string, string, long)>();
                using var cmd = s.Command("SELECT datacenter, native_id, action, id FROM sim_actions ORDER BY id");
                using var r = cmd.ExecuteReader();
                while (r.Read()) l.Add((r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3)));
                return l;
            });

        internal static async Task<List<GridWorkload>> ProtectAsync(GridEngine e, int n, CancellationToken ct)
        {
            var running = (await WorkloadsAsync(e, "prim", ct)).Where(w => w.State == WorkloadState.Running).Take(n).ToList();
            Assert.Equal(n, running.Count);
            foreach (var w in running)
                await e.Replication.EnableAsync(w, new ReplicationRequest { DestinationDatacenter = "rec", RecoveryPointCount = 2 }, NullObserver.Instance, ct);
            return running;
        }

        /// <summary>Contoso's 'prim' with <paramref name="workloads"/> running ones and Fabrikam's 'rec' with room for them (64 large hosts each: the copies of one point land on the host of its disk).</summary>
        internal static async Task<GridEngine> BigPairAsync(SimEnv env, int workloads, CancellationToken ct)
        {
            var e = Engine(env);
            Dictionary<string, string> Big(bool populate) => new Dictionary<string, string>
            {
                ["Hosts"] = "64", ["HostCpu"] = "4096", ["HostMemoryGB"] = "65536", ["BandwidthMBps"] = "16000000", ["ActionLog"] = "true",
                ["Workloads"] = populate ? workloads.ToString(System.Globalization.CultureInfo.InvariantCulture) : "0",
            };
            await e.ConnectDatacenterAsync("Simulator", "prim", "Contoso", "Lab", Big(true), new Dictionary<string, object>(), NullObserver.Instance, ct);
            await e.ConnectDatacenterAsync("Simulator", "rec", "Fabrikam", "Lab2", Big(false), new Dictionary<string, object>(), NullObserver.Instance, ct);
            return e;
        }

        private static RecoveryPlanGroupSpec G(IEnumerable<GridWorkload> ws, string? pre = null, string? post = null, string? manual = null)
            => new RecoveryPlanGroupSpec { Workloads = ws.Select(w => w.Name).ToList(), PreScript = pre, PostScript = post, ManualStep = manual };

        /// <summary>Test 3: 500 workloads of Contoso replicated into Fabrikam's datacenter under an agreement; a planned failover of a 3-group plan; the simulator's log shows every start of group N after every start of group N-1, and every stop before any start.</summary>
        [Fact]
        public async Task Plan_500Workloads_ThreeGroups_TwoOwners_GroupOrderHoldsInTheSimulatorsLog()
        {
            using var env = new SimEnv("Sqlite");
            GridEngine.Reset();
            try
            {
                var ct = new CancellationTokenSource(TimeSpan.FromMinutes(10)).Token;
                var e = await BigPairAsync(env, 500, ct);
                e.Grid.NewAgreement(new GridAgreement { Owner = "Fabrikam", Consumer = "Contoso", Datacenter = "rec", MaxWorkloads = 500 });
                var ws = await ProtectAsync(e, 500, ct);
                var groups = new[] { ws.Take(100).ToList(), ws.Skip(100).Take(150).ToList(), ws.Skip(250).ToList() };
                var plan = e.Replication.NewPlan("erp", groups.Select(g => G(g)).ToList(), "three tiers");
                Assert.Equal(3, plan.GroupCount);
                int logFrom = ActionLog(e).Count;

                var run = await e.Replication.RunPlanAsync(plan, FailoverMode.Planned, null, NullObserver.Instance, ct);
                Assert.True(run.State == "Succeeded", run.State + ": " + string.Join("; ", run.Results.Where(r => r.ErrorId != null).Take(3).Select(r => r.Name + " " + r.ErrorId + " " + r.Error)));
                Assert.Equal(500, run.Results.Count);
                Assert.All(run.Results, r => Assert.Equal("Running", r.Status));
                Assert.Equal(3, run.Groups.Count);
                Assert.All(run.Groups, g => Assert.NotNull(g.Rto));
                Assert.True(run.Groups[0].Rto <= run.Groups[1].Rto && run.Groups[1].Rto <= run.Groups[2].Rto && run.Groups[2].Rto <= run.Rto);

                // the server's own log: every start of group N after every start of group N-1, every source stop before any start
                var log = ActionLog(e).Skip(logFrom).ToList();
                var destOf = run.Results.ToDictionary(r => r.DestinationId!.Split('/')[1], r => r.SourceId);
                int GroupOf(string sourceId) => Array.FindIndex(groups, g => g.Any(w => w.Id == sourceId));
                // (a start or stop cut off by a busy store is taken over and asked again: count workloads, order every call)
                var starts = log.Where(a => a.dc == "rec" && a.action == "Start").Select(a => (pos: a.id2, g: GroupOf(destOf[a.id]), id: a.id)).ToList();
                Assert.Equal(500, starts.Select(s => s.id).Distinct().Count());
                for (int k = 1; k < 3; k++)
                    Assert.True(starts.Where(s => s.g == k - 1).Max(s => s.pos) < starts.Where(s => s.g == k).Min(s => s.pos), $"a start of group {k + 1} came before the last start of group {k}");
                var stops = log.Where(a => a.dc == "prim" && a.action == "Stop").ToList();
                Assert.Equal(500, stops.Select(s => s.id).Distinct().Count());
                Assert.True(stops.Max(s => s.id2) < starts.Min(s => s.pos));
                // stops in reverse group order
                var stopGroups = stops.Select(s => GroupOf("prim/" + s.id)).ToList();
                Assert.True(stopGroups.IndexOf(0) > stopGroups.LastIndexOf(1) && stopGroups.IndexOf(1) > stopGroups.LastIndexOf(2));

                // never at both sites: every source stopped and fenced, every copy running under the consumer's agreement
                var prim = (await WorkloadsAsync(e, "prim", ct)).ToDictionary(w => w.Id);
                Assert.All(ws, w => Assert.Equal(WorkloadState.Stopped, prim[w.Id].State));
                Assert.All(e.Replication.Get(), i => Assert.Equal((ReplicationState.FailedOver, true), (i.State, i.Fenced)));
                Assert.Equal(500, (await WorkloadsAsync(e, "rec", ct)).Count(w => w.State == WorkloadState.Running && w.Owner == "Contoso"));
                var parent = e.GetOperations(new OperationFilter { Kind = ReplicationService.FailoverKind }).Single();
                Assert.Equal(OperationState.Succeeded, parent.State);
                Assert.Equal(1000, e.GetOperations(new OperationFilter { ParentId = parent.Id }).Count); // a stop and a failover child per workload
            }
            finally { GridEngine.Reset(); }
        }

        /// <summary>Test 5's plan cases: a workload in two groups, a changed script: clear error ids, nothing changed (tables, journal, both datacenters).</summary>
        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Plan_BadInput_ClearErrors_NothingChanged(string backend)
        {
            using var env = new SimEnv(backend);
            using var dir = new GridAutomation.Core.Tests.TempDir();
            GridEngine.Reset();
            try
            {
                var ct = new CancellationTokenSource(TimeSpan.FromMinutes(4)).Token;
                var e = await TwoDatacentersAsync(env, 12, ct: ct);
                var ws = await ProtectAsync(e, 4, ct);
                string script = dir.File("pre.sh");
                File.WriteAllText(script, "#!/bin/sh\nexit 0\n");
                File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                var plan = e.Replication.NewPlan("erp", new[] { G(ws.Take(2), pre: script), G(ws.Skip(2)) }, null);
                Assert.Equal(64, plan.Groups[0].PreScript!.Sha256.Length);

                string Snapshot() => e.Replication.DumpTables() + "\nops:" + e.GetOperations(new OperationFilter { IncludeChildren = true }).Count
                    + "\nsim:" + e.Store.Read(s => s.ScalarInt64("SELECT COUNT(*) FROM sim_workloads WHERE datacenter = 'rec'"))
                    + "\nrunning:" + e.Store.Read(s => s.ScalarInt64("SELECT COUNT(*) FROM sim_workloads WHERE datacenter = 'prim' AND state = 'poweredOn'"));
                var before = Snapshot();
                async Task Refused(string id, Func<Task> act) { var g = await Assert.ThrowsAsync<GridException>(act); Assert.Equal(id, g.ErrorId); Assert.False(string.IsNullOrWhiteSpace(g.Message)); Assert.Equal(before, Snapshot()); }

                // a workload in two groups (one by its name, one by a pattern): refused when the plan is made ...
                await Refused("WorkloadGivenTwice", () => Task.FromResult(e.Replication.NewPlan("two", new[] { G(ws.Take(1)), new RecoveryPlanGroupSpec { Workloads = { ws[0].Name.Substring(0, 3) + "*" } } }, null)));
                await Refused("WorkloadGivenTwice", () => Task.FromResult(e.Replication.NewPlan("two", new[] { G(ws.Take(1)), G(ws.Take(1)) }, null)));
                // ... and when it runs (a workload protected later matches a second group)
                e.Store.Write(s => s.Execute("UPDATE rep_plans SET groups_json = REPLACE(groups_json, @a, @b) WHERE name = 'erp'", ("a", "\"" + ws[3].Name + "\""), ("b", "\"" + ws[3].Name + "\",\"" + ws[0].Name + "\"")));
                before = Snapshot();
                await Refused("WorkloadGivenTwice", () => e.Replication.RunPlanAsync(e.Replication.RequirePlan("erp"), FailoverMode.Planned, null, NullObserver.Instance, ct));
                e.Replication.SetPlan("erp", new[] { G(ws.Take(2), pre: script), G(ws.Skip(2)) }, null, false);
                before = Snapshot();
                await Refused("RecoveryPointNotFound", () => e.Replication.RunPlanAsync(e.Replication.RequirePlan("erp"), FailoverMode.Unplanned, DateTimeOffset.UtcNow.AddDays(-1), NullObserver.Instance, ct));
                // a changed script: refused before anything is journaled, for every mode
                File.AppendAllText(script, "echo changed\n");
                foreach (var mode in new[] { FailoverMode.Test, FailoverMode.Planned, FailoverMode.Unplanned })
                    await Refused("PlanScriptChanged", () => e.Replication.RunPlanAsync(e.Replication.RequirePlan("erp"), mode, null, NullObserver.Instance, ct));
                await Refused("RecoveryPlanExists", () => Task.FromResult(e.Replication.NewPlan("ERP", new[] { G(ws.Take(1)) }, null)));
                await Refused("RecoveryPlanNotFound", () => e.Replication.RunPlanAsync(new GridRecoveryPlan { Name = "nope" }, FailoverMode.Test, null, NullObserver.Instance, ct));
                await Refused("RecoveryPlanGroupEmpty", () => Task.FromResult(e.Replication.NewPlan("empty", new[] { new RecoveryPlanGroupSpec() }, null)));
                await Refused("PlanScriptNotFound", () => Task.FromResult(e.Replication.NewPlan("gone", new[] { G(ws.Take(1), post: dir.File("missing.sh")) }, null)));
                // accepting the changed script (Set -UpdateScriptHash) makes the plan run again
                e.Replication.SetPlan("erp", null, null, rehashScripts: true);
                var run = await e.Replication.RunPlanAsync(e.Replication.RequirePlan("erp"), FailoverMode.Test, null, NullObserver.Instance, ct);
                Assert.Equal("Succeeded", run.State);
                Assert.Equal(4, run.Results.Count(r => r.Status == "Running"));
            }
            finally { GridEngine.Reset(); }
        }

        /// <summary>Scripts receive the plan context; a manual step pauses the run (Waiting, no lease) until Resume-GridOperation; a cancelled run is resumed to the end.</summary>
        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Plan_ScriptsGetContext_ManualStepWaits_ResumeFinishes(string backend)
        {
            using var env = new SimEnv(backend);
            using var dir = new GridAutomation.Core.Tests.TempDir();
            GridEngine.Reset();
            try
            {
                var ct = new CancellationTokenSource(TimeSpan.FromMinutes(4)).Token;
                var e = await TwoDatacentersAsync(env, 12, ct: ct);
                var ws = await ProtectAsync(e, 6, ct);
                string log = dir.File("ctx.log"), post = dir.File("post.sh");
                File.WriteAllText(post, "#!/bin/sh\necho \"$GRIDAUTOMATION_PLAN_CONTEXT\" >> '" + log + "'\n");
                File.SetUnixFileMode(post, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                var plan = e.Replication.NewPlan("erp", new[] { G(ws.Take(2), post: post, manual: "Check the DNS"), G(ws.Skip(2).Take(2)), G(ws.Skip(4)) }, null);

                var run = await e.Replication.RunPlanAsync(plan, FailoverMode.Planned, null, NullObserver.Instance, ct);
                Assert.Equal(("Waiting", "Check the DNS"), (run.State, run.WaitingFor));
                Assert.Equal(2, run.Results.Count(r => r.Status == "Running"));
                var ctx = File.ReadAllLines(log).Single();
                Assert.Contains("\"FailoverType\":\"Planned\"", ctx);
                Assert.Contains("\"GroupId\":1", ctx);
                Assert.Contains("\"Stage\":\"Post\"", ctx);
                Assert.Contains(ws[0].Name, ctx);
                var parent = e.GetOperations(new OperationFilter { Id = run.OperationId }).Single();
                Assert.Equal(OperationState.Waiting, parent.State);
                // while waiting: groups 2 and 3 are stopped at the source (planned: every stop first), not started anywhere, and not free for another failover
                Assert.All(ws.Skip(2), w => Assert.Equal(ReplicationState.FailingOver, e.Replication.Find(w.Id)!.State));
                Assert.Equal(2, (await WorkloadsAsync(e, "rec", ct)).Count);
                Assert.Equal("NotFailoverReady", (await Assert.ThrowsAsync<GridException>(() => e.Replication.FailoverAsync(new[] { ws[5] }, FailoverMode.Planned, null, NullObserver.Instance, ct))).ErrorId);

                // Resume goes on: groups 2 and 3, then the run succeeds
                var done = await e.ResumeOperationAsync(run.OperationId, false, NullObserver.Instance, ct);
                Assert.Equal(OperationState.Succeeded, done.State);
                Assert.All(ws, w => Assert.Equal(ReplicationState.FailedOver, e.Replication.Find(w.Id)!.State));
                Assert.Equal(6, (await WorkloadsAsync(e, "rec", ct)).Count(w => w.State == WorkloadState.Running));
                Assert.Equal(1, File.ReadAllLines(log).Length); // the post script ran once
                Assert.Equal("OperationNotInterrupted", (await Assert.ThrowsAsync<GridException>(() => e.ResumeOperationAsync(run.OperationId, false, NullObserver.Instance, ct))).ErrorId);

                // an interrupted (cancelled) run of given workloads: Resume finishes it, nothing twice
                var more = (await WorkloadsAsync(e, "prim", ct)).Where(w => w.State == WorkloadState.Running).Take(4).ToList();
                foreach (var w in more) await e.Replication.EnableAsync(w, new ReplicationRequest { DestinationDatacenter = "rec" }, NullObserver.Instance, ct);
                // the source answers slowly (50 ms a call): the run is cut off once the server logged two stops
                await e.ConnectDatacenterAsync("Simulator", "prim", "Contoso", "Lab", new Dictionary<string, string> { ["LatencyMs"] = "50", ["ActionLog"] = "true" }, new Dictionary<string, object>(), NullObserver.Instance, ct);
                using var cut = new CancellationTokenSource();
                int stopsBefore = ActionLog(e).Count(a => a.action == "Stop");
                var running = e.Replication.FailoverAsync(more, FailoverMode.Planned, null, NullObserver.Instance, cut.Token);
                while (!running.IsCompleted && ActionLog(e).Count(a => a.action == "Stop") < stopsBefore + 2) await Task.Delay(5, ct);
                cut.Cancel();
                await Assert.ThrowsAnyAsync<Exception>(() => running);
                var interrupted = e.GetOperations(new OperationFilter { Kind = ReplicationService.FailoverKind }).OrderBy(o => o.Started).Last();
                Assert.Equal(OperationState.Interrupted, interrupted.State);
                Assert.Equal(OperationState.Succeeded, (await e.ResumeOperationAsync(interrupted.Id, false, NullObserver.Instance, ct)).State);
                var prim = (await WorkloadsAsync(e, "prim", ct)).ToDictionary(w => w.Id);
                var rec = await WorkloadsAsync(e, "rec", ct);
                foreach (var w in more)
                {
                    var i = e.Replication.Find(w.Id)!;
                    Assert.Equal(ReplicationState.FailedOver, i.State);
                    Assert.Equal(WorkloadState.Stopped, prim[w.Id].State);
                    Assert.Single(rec, r => Equals(r.Tags[ReplicationService.ReplicaOfTag], w.Id));
                }
            }
            finally { GridEngine.Reset(); }
        }
    }
}
