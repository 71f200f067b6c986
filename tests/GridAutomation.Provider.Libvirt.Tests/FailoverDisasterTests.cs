using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Replication;
using GridAutomation.Providers.Libvirt;
using Xunit;
using Xunit.Abstractions;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// Issue 17, test 1: a real guest and a real disaster through the CORE replication/failover service. The counting
    /// guest runs in datacenter lv-a (daemon A) and is protected to lv-b (daemon B) with recovery points taken while it
    /// runs; A's QEMU is killed -9 and daemon A stopped; an unplanned failover boots the latest point on B, where it
    /// counts. When A is back the old primary is fenced; Complete, Reverse (B → A) and a planned failover bring the guest
    /// home, where it counts again.
    /// </summary>
    [Collection(DaemonCollection.Name)]
    public sealed class FailoverDisasterTests : IDisposable
    {
        private readonly DaemonPair _pair;
        private readonly ITestOutputHelper _out;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-fo-" + Guid.NewGuid().ToString("N").Substring(0, 8));
        private string StatePath => Path.Combine(_dir, "state.db");

        public FailoverDisasterTests(DaemonPair pair, ITestOutputHelper output)
        {
            _pair = pair; _out = output;
            Directory.CreateDirectory(Path.Combine(_dir, "staging"));
        }

        public void Dispose()
        {
            GridEngine.Reset();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        private async Task<GridEngine> Lab()
        {
            _pair.Require();
            Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", Path.Combine(_dir, "staging"));
            var engine = DatacenterMoveTests.Engine(StatePath);
            foreach (var (name, uri) in new[] { ("lv-a", _pair.UriA), ("lv-b", _pair.UriB) })
            {
                var dc = await engine.ConnectDatacenterAsync("Libvirt", name, "Contoso", null, new Dictionary<string, string> { ["Uri"] = uri }, new Dictionary<string, object>(), NullObserver.Instance, DisasterLab.Ct());
                Assert.Equal(ConnectionStatus.Connected, dc.Status);
            }
            return engine;
        }

        /// <summary>A new session on the same store (the old one's connection to daemon A died with it).</summary>
        private GridEngine Reopen()
        {
            GridEngine.Reset();
            return DatacenterMoveTests.Engine(StatePath);
        }

        private static ReplicationRequest Protect(string dc, string serial) => new ReplicationRequest
        {
            DestinationDatacenter = dc, RpoMinutes = 15, RecoveryPointCount = 5,
            Options = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["DiskBus"] = "ide", ["SerialLog"] = serial },
        };

        private static Task<GridWorkload?> Act(GridEngine e, GridWorkload w, WorkloadActionRequest r) => e.InvokeAsync(w, r, null, NullObserver.Instance, DisasterLab.Ct());

        [DaemonFact]
        public async Task CountingGuest_ProtectedAToB_HostALost_UnplannedFailoverCountsOnB_FencedOnReturn_ReverseAndFailBackCountsOnA()
        {
            const string name = "fo1";
            string serialA = DisasterLab.SerialLog(_pair, name, "a"), serialB = DisasterLab.SerialLog(_pair, name, "b"), serialHome = DisasterLab.SerialLog(_pair, name, "home");
            var engine = await Lab();
            var req = new CreateWorkloadRequest { Name = name, Image = DaemonPair.ImageName, Size = "micro" };
            req.Options["DiskBus"] = "ide";
            req.Options["SerialLog"] = serialA;
            req.Tags["purpose"] = "failover-test";
            var guest = await engine.CreateWorkloadAsync("lv-a", req, null, NullObserver.Instance, DisasterLab.Ct());
            var made = new List<string> { guest.Id };
            bool lost = false;
            try
            {
                await EmbedLab.WaitForCounts(serialA, x => x.Count >= 3, DisasterLab.Wait);

                // protection: Enable takes the first point; two more while the guest runs, which never stops counting
                var item = await engine.Replication.EnableAsync(guest, Protect("lv-b", serialB), NullObserver.Instance, DisasterLab.Ct());
                Assert.Equal(ReplicationState.Protected, item.State);
                for (int i = 0; i < 2; i++)
                {
                    int seen = EmbedLab.Counts(serialA).Count;
                    var sync = Assert.Single(await engine.Replication.SyncAsync(new[] { engine.Replication.Find(guest.Id)! }, force: true, NullObserver.Instance, DisasterLab.Ct()));
                    Assert.Null(sync.Error);
                    Assert.True(sync.Point!.CrashConsistent); // taken of the running guest
                    DisasterLab.AssertCountsFromZero(await EmbedLab.WaitForCounts(serialA, x => x.Count > seen, DisasterLab.Wait));
                }
                var points = engine.Replication.GetPoints(engine.Replication.Find(guest.Id));
                Assert.True(points.Count >= 3, $"{points.Count} point(s)");
                Assert.Equal(WorkloadState.Running, (await engine.GetWorkloadAsync(guest.Id, DisasterLab.Ct())).State);
                Assert.False(File.Exists(serialB)); // nothing runs at B before a failover

                // the disaster: A's QEMU killed -9, daemon A stopped
                int before = EmbedLab.Counts(serialA).Count;
                DisasterLab.LoseHostA(_pair, name);
                lost = true;
                await Task.Delay(1500);
                Assert.InRange(EmbedLab.Counts(serialA).Count, before, before + 2);
                Assert.NotEqual(0, DisasterLab.Run("virsh", "-q", "-c", _pair.UriA, "list").Code);

                // unplanned failover: the latest point starts on B and counts there from 0
                var r = Assert.Single(await engine.Replication.FailoverAsync(new[] { guest }, FailoverMode.Unplanned, null, NullObserver.Instance, DisasterLab.Ct()));
                Assert.True(r.ErrorId == null, r.ErrorId + ": " + r.Error);
                Assert.Equal("Running", r.Status);
                made.Add(r.DestinationId!);
                Assert.Equal(points.Last().Time, r.RecoveryPointTime);
                Assert.NotNull(r.DataLoss);
                Assert.True(r.DataLoss > TimeSpan.Zero);
                _out.WriteLine($"unplanned failover: RTO {r.Rto.TotalSeconds:0.00} s, data loss {r.DataLoss!.Value.TotalSeconds:0.00} s (point {r.RecoveryPointTime:u})");
                Console.WriteLine($"FAILOVER-UNPLANNED rto-seconds={r.Rto.TotalSeconds:0.00} data-loss-seconds={r.DataLoss!.Value.TotalSeconds:0.00}");
                DisasterLab.AssertCountsFromZero(await EmbedLab.WaitForCounts(serialB, x => x.Count >= 3, DisasterLab.Wait));
                var failed = engine.Replication.Find(guest.Id)!;
                Assert.Equal(ReplicationState.FailedOver, failed.State);
                Assert.True(failed.Fenced);

                // A comes back (a new session: the old one's connection to A died with the daemon)
                DisasterLab.RestoreHostA(_pair);
                lost = false;
                engine = Reopen();
                var old = await engine.GetWorkloadAsync(guest.Id, DisasterLab.Ct());
                Assert.Equal(WorkloadState.Stopped, old.State);
                int oldLines = EmbedLab.Counts(serialA).Count;
                var fenced = await Assert.ThrowsAsync<GridException>(() => Act(engine, old, new WorkloadActionRequest { Action = WorkloadAction.Start }));
                Assert.Equal(("FencedAfterFailover", GridErrorKind.Conflict), (fenced.ErrorId, fenced.Kind));
                Assert.Equal(WorkloadState.Stopped, (await engine.GetWorkloadAsync(guest.Id, DisasterLab.Ct())).State);
                Assert.Equal(oldLines, EmbedLab.Counts(serialA).Count);

                // commit; the stale old primary is discarded (its name is the guest's name on A, where it comes back)
                Assert.Equal(ReplicationState.Committed, engine.Replication.Complete(engine.Replication.Find(guest.Id)!).State);
                await Act(engine, old, new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true });
                made.Remove(guest.Id);

                // reprotect B → A: the copy on B is the protected primary now, its first point taken while it runs
                var back = await engine.Replication.ReverseAsync(engine.Replication.Find(guest.Id)!, Protect("", serialHome), NullObserver.Instance, DisasterLab.Ct());
                Assert.Equal((r.DestinationId, "lv-a", ReplicationState.Protected), (back.SourceId, back.DestinationDatacenter, back.State));
                Assert.Null(engine.Replication.Find(guest.Id)); // the old item went, and its fence with it
                Assert.NotEmpty(engine.Replication.GetPoints(back));

                // failback: planned failover of the B copy to A (powered off first: the boot-sector guest has no ACPI)
                var onB = await engine.GetWorkloadAsync(r.DestinationId!, DisasterLab.Ct());
                await Act(engine, onB, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff });
                var home = Assert.Single(await engine.Replication.FailoverAsync(new[] { await engine.GetWorkloadAsync(r.DestinationId!, DisasterLab.Ct()) }, FailoverMode.Planned, null, NullObserver.Instance, DisasterLab.Ct()));
                Assert.True(home.ErrorId == null, home.ErrorId + ": " + home.Error);
                made.Add(home.DestinationId!);
                Assert.StartsWith("lv-a", home.DestinationId!, StringComparison.OrdinalIgnoreCase);
                Assert.Equal(TimeSpan.Zero, home.DataLoss);
                _out.WriteLine($"planned failback: RTO {home.Rto.TotalSeconds:0.00} s, data loss {home.DataLoss!.Value.TotalSeconds:0.00} s");
                Console.WriteLine($"FAILOVER-PLANNED-FAILBACK rto-seconds={home.Rto.TotalSeconds:0.00} data-loss-seconds=0");
                DisasterLab.AssertCountsFromZero(await EmbedLab.WaitForCounts(serialHome, x => x.Count >= 3, DisasterLab.Wait));
                Assert.Equal(WorkloadState.Running, (await engine.GetWorkloadAsync(home.DestinationId!, DisasterLab.Ct())).State);
                var backItem = engine.Replication.Find(r.DestinationId!)!;
                Assert.Equal((ReplicationState.FailedOver, true), (backItem.State, backItem.Fenced));
            }
            finally
            {
                if (lost) { DisasterLab.RestoreHostA(_pair); engine = Reopen(); }
                foreach (var i in engine.Replication.Get())
                    try { await engine.Replication.DisableAsync(i, false, NullObserver.Instance, DisasterLab.Ct()); } catch (GridException e) { _out.WriteLine("disable: " + e.Message); }
                foreach (var id in made)
                {
                    try
                    {
                        var w = await engine.GetWorkloadAsync(id, DisasterLab.Ct());
                        if (w.State != WorkloadState.Stopped) await Act(engine, w, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff });
                        await Act(engine, w, new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true });
                    }
                    catch (GridException e) { _out.WriteLine($"remove {id}: {e.ErrorId} {e.Message}"); }
                }
            }

            // the pair is left as it was: both daemons answer, no domain of this test, no imported point left in a pool
            foreach (var uri in new[] { _pair.UriA, _pair.UriB })
            {
                var list = DisasterLab.Run("virsh", "-q", "-c", uri, "list", "--all", "--name");
                Assert.Equal(0, list.Code);
                Assert.DoesNotContain(name, list.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()));
                Assert.DoesNotContain(DatacenterMoveTests.Volumes(uri), v => v.StartsWith(LibvirtConnection.ImportPrefix, StringComparison.Ordinal) || v.StartsWith(LibvirtConnection.PointPrefix, StringComparison.Ordinal));
            }
        }
    }
}
