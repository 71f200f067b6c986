using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Replication;
using GridAutomation.Core.State;
using Xunit;

namespace GridAutomation.Provider.Simulator.Tests
{
    /// <summary>Replication (issue 17) through the real engine over two simulated datacenters, on both store backends.</summary>
    [Collection("Engine")]
    public class ReplicationTests
    {
        /// <summary>An engine of this process over the env's store; another <paramref name="clientId"/> is another runner (its own engine and store connection).</summary>
        internal static GridEngine Engine(SimEnv env, string clientId = "runner-1")
        {
            var p = new Dictionary<string, string> { ["ClientId"] = clientId, ["LockWaitSeconds"] = "30" };
            if (env.Backend == "Sqlite") p["StatePath"] = env.StatePath;
            else
            {
                SharedStateStore.PostgreSqlOpener ??= (cs, ro, pw) => GridAutomation.State.PostgreSql.PostgreSqlStateStore.Open(cs, ro, pw ?? GridAutomation.Core.Tests.PgCluster.Instance.Password);
                p["StateStore"] = "PostgreSql";
                p["StateConnectionString"] = env.Location.Substring(3);
                p["StatePath"] = env.StatePath;
            }
            return GridEngine.Get(GridConfiguration.Load(p), false);
        }

        internal static async Task<GridEngine> TwoDatacentersAsync(SimEnv env, int workloads, string dstOwner = "Contoso", CancellationToken ct = default)
        {
            var e = Engine(env);
            var fast = new Dictionary<string, string> { ["Workloads"] = workloads.ToString(System.Globalization.CultureInfo.InvariantCulture), ["BandwidthMBps"] = "16000000", ["ActionLog"] = "true" };
            await e.ConnectDatacenterAsync("Simulator", "prim", "Contoso", "Lab", fast, new Dictionary<string, object>(), NullObserver.Instance, ct);
            await e.ConnectDatacenterAsync("Simulator", "rec", dstOwner, "Lab2", new Dictionary<string, string> { ["BandwidthMBps"] = "16000000", ["ActionLog"] = "true" }, new Dictionary<string, object>(), NullObserver.Instance, ct);
            return e;
        }

        internal static async Task<List<GridWorkload>> WorkloadsAsync(GridEngine e, string dc, CancellationToken ct)
        {
            var list = new List<GridWorkload>();
            await foreach (var r in e.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { dc } }, NullObserver.Instance, ct))
                if (r.Value != null && r.Value.State != WorkloadState.Deleted) list.Add(r.Value);
            return list;
        }

        private static void Backdate(GridEngine e, TimeSpan by)
            => e.Store.Write(s => s.Execute("UPDATE rep_points SET taken = @t", ("t", StateStore.FormatTime(DateTimeOffset.UtcNow - by))));

        [Theory, MemberData(nameof(GridAutomation.Core.Tests.Backends.All), MemberType = typeof(GridAutomation.Core.Tests.Backends))]
        public async Task Enable_Sync_Prune_Disable_TwoRunnersNeverShipOnePointTwice(string backend)
        {
            using var env = new SimEnv(backend);
            GridEngine.Reset();
            try
            {
                var ct = new CancellationTokenSource(TimeSpan.FromMinutes(4)).Token;
                var e = await TwoDatacentersAsync(env, 16, ct: ct);
                var all = (await WorkloadsAsync(e, "prim", ct)).Where(w => w.State == WorkloadState.Running).Take(9).ToList();
                Assert.Equal(9, all.Count);
                var running = all.Take(8).ToList();
                var stopped = (await e.InvokeAsync(all[8], new WorkloadActionRequest { Action = WorkloadAction.Stop }, null, NullObserver.Instance, ct))!;
                var ws = await WorkloadsAsync(e, "prim", ct);

                foreach (var w in running.Append(stopped))
                {
                    var item = await e.Replication.EnableAsync(w, new ReplicationRequest { DestinationDatacenter = "rec", RpoMinutes = 15, RecoveryPointCount = 3 }, NullObserver.Instance, ct);
                    Assert.Equal(ReplicationState.Protected, item.State);
                    Assert.Equal(ReplicationHealth.Healthy, item.Health);
                    Assert.Equal(1, item.PointCount);
                }
                // the running ones were copied while running (crash-consistent), the stopped one through the stopped export
                var points = e.Replication.GetPoints();
                Assert.Equal(9, points.Count);
                Assert.All(points.Where(p => p.SourceId != stopped.Id), p => Assert.True(p.CrashConsistent));
                Assert.False(points.Single(p => p.SourceId == stopped.Id).CrashConsistent);
                Assert.All(points, p => Assert.NotEmpty(p.ImportedDisks[0]));
                // the primaries kept running, and nothing runs (or exists) at the destination before a failover
                Assert.All(await WorkloadsAsync(e, "prim", ct), w => Assert.Equal(ws.Single(x => x.Id == w.Id).State, w.State));
                Assert.Empty(await WorkloadsAsync(e, "rec", ct));
                // already protected
                var again = await Assert.ThrowsAsync<GridException>(() => e.Replication.EnableAsync(running[0], new ReplicationRequest { DestinationDatacenter = "rec" }, NullObserver.Instance, ct));
                Assert.Equal("AlreadyProtected", again.ErrorId);

                // nothing is due right after the first copy
                var none = await e.Replication.SyncAsync(null, false, NullObserver.Instance, ct);
                Assert.Empty(none);

                // 10 minutes later (past half the RPO) every item is due: two runners race, each point is shipped once
                Backdate(e, TimeSpan.FromMinutes(10));
                var e2 = Engine(env, "runner-2");
                for (int round = 0; round < 3; round++)
                {
                    var both = await Task.WhenAll(e.Replication.SyncAsync(null, false, NullObserver.Instance, ct), e2.Replication.SyncAsync(null, false, NullObserver.Instance, ct));
                    Assert.All(both.SelectMany(b => b), r => Assert.Null(r.Error));
                    Assert.Equal(9, both.SelectMany(b => b).Count(r => r.Point != null));
                    var items = e.Replication.Get();
                    Assert.All(items, i => Assert.Equal(Math.Min(3, round + 2), i.PointCount)); // keeps the newest 3
                    Backdate(e, TimeSpan.FromMinutes(10));
                }
                var seqs = e.Replication.GetPoints(e.Replication.Find(running[0].Id)).Select(p => p.Sequence).ToArray();
                Assert.Equal(new long[] { 2, 3, 4 }, seqs); // 1 was discarded: never the same number twice
                Assert.Equal(9 * 4, e.GetOperations(new OperationFilter { Kind = ReplicationService.SyncKind, IncludeChildren = true }).Count(o => o.State == OperationState.Succeeded)); // the first point is a child of its EnableReplication

                // health: older than the RPO = Lagging; a failed sync = Stalled with its error
                Backdate(e, TimeSpan.FromMinutes(20));
                Assert.All(e.Replication.Get(), i => Assert.Equal(ReplicationHealth.Lagging, i.Health));
                Assert.True(e.Replication.Get().Single(i => i.SourceId == running[1].Id).Lag > TimeSpan.FromMinutes(19));
                await e.InvokeAsync(running[1], new WorkloadActionRequest { Action = WorkloadAction.Suspend }, null, NullObserver.Instance, ct);
                var res = await e.Replication.SyncAsync(null, false, NullObserver.Instance, ct);
                var bad = res.Single(r => r.Item.SourceId == running[1].Id);
                Assert.Equal("WorkloadNotExportable", bad.Error!.ErrorId);
                var stalled = e.Replication.Find(running[1].Id)!;
                Assert.Equal(ReplicationHealth.Stalled, stalled.Health);
                Assert.Contains("WorkloadNotExportable", stalled.LastError);
                Assert.Equal(8, res.Count(r => r.Point != null));

                // disable: -KeepReplica keeps the points; without it the item and its points are gone
                await e.Replication.DisableAsync(e.Replication.Find(running[2].Id)!, true, NullObserver.Instance, ct);
                Assert.Equal(ReplicationState.Disabled, e.Replication.Find(running[2].Id)!.State);
                Assert.Equal(3, e.Replication.GetPoints(e.Replication.Find(running[2].Id)).Count);
                Assert.Empty(await e.Replication.SyncAsync(null, true, NullObserver.Instance, ct) is var f && f.Any(r => r.Item.SourceId == running[2].Id) ? new[] { 1 } : Array.Empty<int>());
                await e.Replication.DisableAsync(e.Replication.Find(running[3].Id)!, false, NullObserver.Instance, ct);
                Assert.Null(e.Replication.Find(running[3].Id));
                Assert.DoesNotContain(e.Replication.GetPoints(), p => p.SourceId == running[3].Id);
            }
            finally { GridEngine.Reset(); }
        }
    }
}
