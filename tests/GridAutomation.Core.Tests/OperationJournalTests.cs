using System;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using Xunit;

namespace GridAutomation.Core.Tests
{
    public class OperationJournalTests
    {
        private static void SetLease(IStateStore s, Guid id, int pid, string machine, string? startToken, DateTimeOffset heartbeat)
            => s.Write(c =>
            {
                using var cmd = c.Command("");
                cmd.CommandText = "UPDATE operations SET lease_pid=@p, lease_machine=@m, lease_process_start=@s, heartbeat=@h WHERE id=@id";
                cmd.Bind("@p", pid);
                cmd.Bind("@m", machine);
                cmd.Bind("@s", (object?)startToken ?? DBNull.Value);
                cmd.Bind("@h", StateStore.FormatTime(heartbeat));
                cmd.Bind("@id", id.ToString("D"));
                return cmd.ExecuteNonQuery();
            });

        private static string StoredState(IStateStore s, Guid id)
            => s.Read(c => { using var cmd = c.Command(""); cmd.CommandText = "SELECT state FROM operations WHERE id=@id"; cmd.Bind("@id", id.ToString("D")); return (string)cmd.ExecuteScalar()!; });

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void Begin_Checkpoint_Complete_RoundTrip(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
            var batch = Guid.NewGuid();
            var op = j.Begin("Create", "dc1", "web01", "dc1/web01", "{\"Name\":\"web01\"}", batch);
            Assert.Equal(OperationState.Running, op.State);
            j.Checkpoint(op.Id, "step", "1");
            j.Checkpoint(op.Id, "host", "h2");
            j.Checkpoint(op.Id, "step", "2");
            var got = j.Get(op.Id)!;
            Assert.Equal(OperationState.Running, got.State);
            Assert.Equal(Environment.ProcessId, got.LeaseProcessId);
            Assert.Equal(Environment.MachineName, got.LeaseMachine);
            Assert.Equal(new[] { "host", "step" }, got.Checkpoints.Keys.ToArray()); // order of last write
            Assert.Equal("2", got.Checkpoints["step"]);
            Assert.Equal(batch, got.BatchId);
            Assert.Equal("{\"Name\":\"web01\"}", got.Request);
            j.Heartbeat(op.Id);
            j.Complete(op.Id, "{\"NativeId\":\"x\"}");
            got = j.Get(op.Id)!;
            Assert.Equal(OperationState.Succeeded, got.State);
            Assert.NotNull(got.Finished);
            Assert.Equal("{\"NativeId\":\"x\"}", got.Result);
            Assert.False(j.TryTakeOver(op.Id));
            Assert.Equal("OperationNotFound", Assert.Throws<GridException>(() => j.Complete(Guid.NewGuid(), null)).ErrorId);
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void Fail_And_RolledBack_AreRecorded(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
            var a = j.Begin("Start", "dc1", "dc1/a", null, null, null);
            j.Fail(a.Id, "InsufficientCapacity", "no room");
            var b = j.Begin("Move", "dc1", "dc1/b", null, null, null);
            j.MarkRolledBack(b.Id, "rolled back by user");
            Assert.Equal(OperationState.Failed, j.Get(a.Id)!.State);
            Assert.Equal("InsufficientCapacity", j.Get(a.Id)!.ErrorId);
            Assert.Equal("no room", j.Get(a.Id)!.Error);
            Assert.Equal(OperationState.RolledBack, j.Get(b.Id)!.State);
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void DeadPid_OnThisMachine_ReadsInterrupted_WithoutWriting_AndCanBeTakenOver(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
            var op = j.Begin("Stop", "dc1", "dc1/vm", null, null, null);

            // a real child process that has exited: its pid is no longer alive
            var psi = new ProcessStartInfo("/bin/sh", "-c \"exit 0\"") { UseShellExecute = false };
            int deadPid;
            using (var p = Process.Start(psi)!) { deadPid = p.Id; p.WaitForExit(); }
            SetLease(s, op.Id, deadPid, Environment.MachineName, "proc:1", DateTimeOffset.UtcNow);

            Assert.Equal(OperationState.Interrupted, j.Get(op.Id)!.State);
            Assert.Equal("Running", StoredState(s, op.Id)); // reading never writes
            Assert.Single(j.List(new OperationFilter { States = new[] { OperationState.Interrupted } }));
            Assert.Empty(j.List(new OperationFilter { States = new[] { OperationState.Running } }));

            Assert.True(j.TryTakeOver(op.Id));
            var taken = j.Get(op.Id)!;
            Assert.Equal(OperationState.Running, taken.State);
            Assert.Equal(Environment.ProcessId, taken.LeaseProcessId);
            Assert.False(j.TryTakeOver(op.Id)); // now held by a live process (us)
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void KilledChildProcess_LeaseHolder_ReadsInterrupted(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
            var op = j.Begin("Create", "dc1", "vm", "k", null, null);
            using var child = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
            try
            {
                string token = LeaseHolder.GetStartToken(child.Id)!;
                Assert.NotNull(token);
                SetLease(s, op.Id, child.Id, Environment.MachineName, token, DateTimeOffset.UtcNow.AddHours(-1));
                Assert.Equal(OperationState.Running, j.Get(op.Id)!.State); // alive on this machine: old heartbeat does not matter
                Assert.False(j.TryTakeOver(op.Id));
            }
            finally { child.Kill(); child.WaitForExit(); }
            Assert.Equal(OperationState.Interrupted, j.Get(op.Id)!.State);
            Assert.True(j.TryTakeOver(op.Id));
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void ReusedPid_WithOtherStartTime_ReadsInterrupted(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
            var op = j.Begin("Start", "dc1", "dc1/vm", null, null, null);
            // our own (alive) pid but a start time that is not ours: the pid was reused
            string mine = LeaseHolder.GetStartToken(Environment.ProcessId)!;
            string other = mine.StartsWith("proc:") ? "proc:1" : "utc:1";
            SetLease(s, op.Id, Environment.ProcessId, Environment.MachineName, other, DateTimeOffset.UtcNow);
            Assert.Equal(OperationState.Interrupted, j.Get(op.Id)!.State);
            SetLease(s, op.Id, Environment.ProcessId, Environment.MachineName, mine, DateTimeOffset.UtcNow);
            Assert.Equal(OperationState.Running, j.Get(op.Id)!.State);
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void OtherMachine_UsesHeartbeatAge(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var j = new OperationJournal(s, TimeSpan.FromSeconds(60));
            var op = j.Begin("Start", "dc1", "dc1/vm", null, null, null);
            SetLease(s, op.Id, 1, "some-other-machine", "proc:5", DateTimeOffset.UtcNow.AddSeconds(-10));
            Assert.Equal(OperationState.Running, j.Get(op.Id)!.State);
            Assert.False(j.TryTakeOver(op.Id));
            SetLease(s, op.Id, 1, "some-other-machine", "proc:5", DateTimeOffset.UtcNow.AddSeconds(-120));
            Assert.Equal(OperationState.Interrupted, j.Get(op.Id)!.State);
            Assert.True(j.TryTakeOver(op.Id));
            Assert.Equal(Environment.MachineName, j.Get(op.Id)!.LeaseMachine);
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void FindByIdempotencyKey_SkipsFailed_PrefersNewest(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
            var a = j.Begin("Create", "dc1", "web", "dc1/web", null, null);
            j.Fail(a.Id, "X", "x");
            Assert.Null(j.FindByIdempotencyKey("Create", "dc1/web"));
            var b = j.Begin("Create", "dc1", "web", "dc1/web", null, null);
            Assert.Equal(b.Id, j.FindByIdempotencyKey("Create", "dc1/web")!.Id);
            j.Complete(b.Id, "{}");
            Assert.Equal(b.Id, j.FindByIdempotencyKey("Create", "dc1/web")!.Id);
            Assert.Null(j.FindByIdempotencyKey("Start", "dc1/web"));
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void List_Filters_ByDatacenterWildcard_Kind_Batch_AndLast(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
            var batch = Guid.NewGuid();
            for (int i = 0; i < 5; i++) j.Complete(j.Begin("Start", "Ams-" + i, "t" + i, null, null, batch).Id, null);
            j.Begin("Stop", "Rtm-1", "x", null, null, null);
            Assert.Equal(5, j.List(new OperationFilter { Datacenters = new[] { "ams-*" } }).Count);
            // The same wildcard rules as every other -Datacenter filter, character sets included.
            Assert.Equal(new[] { "Ams-1", "Ams-2" }, j.List(new OperationFilter { Datacenters = new[] { "AMS-[12]" } }).Select(o => o.Datacenter).ToArray());
            Assert.Single(j.List(new OperationFilter { Kind = "stop" }));
            Assert.Equal(5, j.List(new OperationFilter { BatchId = batch }).Count);
            var last2 = j.List(new OperationFilter { Last = 2 });
            Assert.Equal(new[] { "t4", "x" }, last2.Select(o => o.Target).ToArray());
            Assert.Equal(6, j.List(new OperationFilter()).Count);
            Assert.Equal(5, j.List(new OperationFilter { States = new[] { OperationState.Succeeded } }).Count);
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void Prune_DeletesOnlyOldFinishedOperations_WithTheirCheckpoints(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
            var done = j.Begin("Start", "dc", "a", null, null, null);
            j.Checkpoint(done.Id, "k", "v");
            j.Complete(done.Id, null);
            var failed = j.Begin("Stop", "dc", "b", null, null, null);
            j.Fail(failed.Id, "X", "x");
            var running = j.Begin("Move", "dc", "c", null, null, null);
            Assert.Equal(0, j.Prune(DateTimeOffset.UtcNow.AddHours(-1)));
            Assert.Equal(2, j.Prune(DateTimeOffset.UtcNow.AddSeconds(1)));
            Assert.Single(j.List(new OperationFilter()));
            Assert.Equal(running.Id, j.List(new OperationFilter()).Single().Id);
            Assert.Equal(0L, s.Read(c => { using var cmd = c.Command(""); cmd.CommandText = "SELECT count(*) FROM operation_checkpoints"; return (long)cmd.ExecuteScalar()!; }));
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void ReadOnlyStore_JournalWritesAreRefused(string backend)
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            Guid id;
            using (var s = Backends.Open(backend, tmp)) id = new OperationJournal(s, TimeSpan.FromMinutes(2)).Begin("Start", "dc", "t", null, null, null).Id;
            using var ro = Backends.Reopen(backend, tmp, true);
            var j = new OperationJournal(ro, TimeSpan.FromMinutes(2));
            Assert.Equal("StateStoreReadOnly", Assert.Throws<GridException>(() => j.Begin("Start", "dc", "t", null, null, null)).ErrorId);
            Assert.Equal("StateStoreReadOnly", Assert.Throws<GridException>(() => j.Complete(id, null)).ErrorId);
            Assert.NotNull(j.Get(id));
        }
    }
}
