using System;
using System.Linq;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using Xunit;

namespace GridAutomation.Core.Tests
{
    /// <summary>
    /// The store contract on both backends (issue 12): schema versions, leases with fencing tokens, and on PostgreSQL
    /// concurrent migration, a dropped connection and secrets kept out of what the store says.
    /// </summary>
    public class SharedStoreTests
    {
        private static void ExpireLease(IStateStore s, Guid id)
            => s.Write(c => c.Execute("UPDATE operations SET lease_machine = 'another-machine', heartbeat = @h WHERE id = @id",
                ("h", StateStore.FormatTime(DateTimeOffset.UtcNow.AddHours(-1))), ("id", id.ToString("D"))));

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void CoreSchema_IsCurrent_AndANewerSchemaIsRefused(string backend)
        {
            using var tmp = new TempDir();
            using (var s = Backends.Open(backend, tmp))
            {
                Assert.Equal(5, StateStore.CoreSchemaVersion); // v4: lease_client; v5: the state Waiting
                Assert.Equal((long)StateStore.CoreSchemaVersion, s.Read(c => c.ScalarInt64("SELECT version FROM schema_version WHERE component = 'core'")));
                s.Write(c => c.Execute("UPDATE schema_version SET version = 99 WHERE component = 'core'"));
            }
            var ex = Assert.Throws<GridException>(() => Backends.Reopen(backend, tmp, false).Dispose());
            Assert.Equal("StateStoreNewerSchema", ex.ErrorId);
            Assert.Contains("99", ex.Message);
        }

        /// <summary>The core tables and their columns, as the database itself reports them.</summary>
        private static string[] CoreColumns(IStateStore s, string backend) => s.Read(c =>
        {
            using var cmd = c.Command(backend == "Sqlite"
                ? "SELECT m.name || '.' || p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name IN ('datacenters', 'operations', 'operation_checkpoints', 'workload_locks')"
                : "SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN ('datacenters', 'operations', 'operation_checkpoints', 'workload_locks')");
            using var r = cmd.ExecuteReader();
            var names = new System.Collections.Generic.List<string>();
            while (r.Read()) names.Add(r.GetString(0));
            return names.OrderBy(x => x, StringComparer.Ordinal).ToArray();
        });

        /// <summary>
        /// The PostgreSQL core schema is derived from SQLite's (one list of migrations): both backends end with the
        /// same tables and columns, the key column an identity, and names compared case-insensitively.
        /// </summary>
        [PostgreSqlFact]
        public void CoreSchema_DerivedForPostgreSql_HasTheSameTablesAndColumns()
        {
            using var tmp = new TempDir();
            using var lite = Backends.Open("Sqlite", tmp);
            using var pg = Backends.Open("PostgreSql", tmp, "pg");
            var a = CoreColumns(lite, "Sqlite");
            Assert.Equal(a, CoreColumns(pg, "PostgreSql"));
            Assert.Contains("operations.lease_client", a);
            Assert.Equal("YES", pg.Read(c => c.Scalar("SELECT is_identity FROM information_schema.columns WHERE table_name = 'operations' AND column_name = 'seq'")));
            pg.Write(c => c.Execute("INSERT INTO datacenters(name, provider, registered_at) VALUES ('Lab-1', 'Simulator', 'x')"));
            Assert.Equal(1L, pg.Read(c => c.ScalarInt64("SELECT COUNT(*) FROM datacenters WHERE name = 'LAB-1'")));
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void ComponentSchema_IsMigratedOnce_AndNewerRefused(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            s.EnsureComponentSchema("pools", "CREATE TABLE pool_a(x INTEGER NOT NULL)", "CREATE TABLE pool_b(y INTEGER NOT NULL)");
            s.EnsureComponentSchema("pools", "CREATE TABLE pool_a(x INTEGER NOT NULL)", "CREATE TABLE pool_b(y INTEGER NOT NULL)"); // no-op
            Assert.Equal(2L, s.Read(c => c.ScalarInt64("SELECT version FROM schema_version WHERE component = 'pools'")));
            var ex = Assert.Throws<GridException>(() => s.EnsureComponentSchema("pools", "CREATE TABLE pool_a(x INTEGER NOT NULL)"));
            Assert.Equal("StateStoreNewerSchema", ex.ErrorId);
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void WriterWhoseLeaseWasTakenOver_CannotWriteCheckpointsOrResult(string backend)
        {
            using var tmp = new TempDir();
            using var s1 = Backends.Open(backend, tmp);
            using var s2 = Backends.Reopen(backend, tmp, false);
            var first = new OperationJournal(s1, TimeSpan.FromSeconds(30));
            var second = new OperationJournal(s2, TimeSpan.FromSeconds(30));
            var a = first.TryBegin(new OperationIntent { Kind = "Stop", Datacenter = "dc", Target = "dc/1", LockKey = "workload:dc/1" }).Operation!;
            first.Checkpoint(a.Id, "step", "1");
            // While A's lease is alive the lock is busy.
            var busy = second.TryBegin(new OperationIntent { Kind = "Start", Datacenter = "dc", Target = "dc/1", LockKey = "workload:dc/1" });
            Assert.Null(busy.Operation);
            Assert.Equal(a.Id, busy.LockHolder!.Id);
            // A's holder goes silent (another machine, heartbeat an hour old): B takes the lock with a higher token.
            ExpireLease(s1, a.Id);
            var b = second.TryBegin(new OperationIntent { Kind = "Start", Datacenter = "dc", Target = "dc/1", LockKey = "workload:dc/1" }).Operation!;
            Assert.True(b.FencingToken > a.FencingToken);
            Assert.Equal("LeaseLost", Assert.Throws<GridException>(() => first.Checkpoint(a.Id, "step", "2")).ErrorId);
            Assert.Equal("LeaseLost", Assert.Throws<GridException>(() => first.Complete(a.Id, "{\"late\":true}")).ErrorId);
            var stored = second.Get(a.Id)!;
            Assert.Equal("1", stored.Checkpoints["step"]);
            Assert.Null(stored.Result);
            second.Checkpoint(b.Id, "step", "1");
            second.Complete(b.Id, null);
            Assert.Equal(OperationState.Succeeded, second.Get(b.Id)!.State);
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void Lease_NamesItsClient_AndAnotherClientJudgesItByHeartbeat_TakeoverOnlyByResume(string backend)
        {
            using var tmp = new TempDir();
            using var s1 = Backends.Open(backend, tmp);
            using var s2 = Backends.Reopen(backend, tmp, false);
            var timeout = TimeSpan.FromMilliseconds(700);
            var a = new OperationJournal(s1, timeout, "runner-a");
            var b = new OperationJournal(s2, timeout, "runner-b");
            var op = a.TryBegin(new OperationIntent { Kind = "Stop", Datacenter = "dc", Target = "dc/7", LockKey = "workload:dc/7" }).Operation!;
            a.Checkpoint(op.Id, "step", "1");
            var seen = b.Get(op.Id)!;
            Assert.Equal("runner-a", seen.LeaseClientId);
            Assert.Equal(Environment.ProcessId, seen.LeaseProcessId);
            Assert.Equal(Environment.MachineName, seen.LeaseMachine);
            Assert.Contains("client runner-a", seen.DescribeLeaseHolder());
            // Same machine, same (live) pid, but another client: judged by its heartbeat, so alive until the timeout.
            Assert.Equal(OperationState.Running, seen.State);
            Assert.False(b.TryTakeOver(op.Id));
            System.Threading.Thread.Sleep(timeout + TimeSpan.FromMilliseconds(400));
            Assert.Equal(OperationState.Interrupted, b.Get(op.Id)!.State);
            Assert.Equal(OperationState.Running, a.Get(op.Id)!.State); // its own client still checks the (live) process
            // Nothing took it over by reading: the lock is still A's until B resumes.
            Assert.Equal(op.FencingToken, s2.Read(c => c.ScalarInt64("SELECT fencing_token FROM workload_locks WHERE lock_key = 'workload:dc/7'")));
            Assert.True(b.TryTakeOver(op.Id));
            var taken = b.Get(op.Id)!;
            Assert.Equal("runner-b", taken.LeaseClientId);
            Assert.True(taken.FencingToken > op.FencingToken);
            Assert.Equal("LeaseLost", Assert.Throws<GridException>(() => a.Checkpoint(op.Id, "step", "late")).ErrorId);
            Assert.Equal("LeaseLost", Assert.Throws<GridException>(() => a.Complete(op.Id, "{\"late\":true}")).ErrorId);
            b.Checkpoint(op.Id, "step", "2");
            b.Complete(op.Id, "{\"by\":\"b\"}");
            var done = b.Get(op.Id)!;
            Assert.Equal(OperationState.Succeeded, done.State);
            Assert.Equal("2", done.Checkpoints["step"]);
            Assert.Equal("{\"by\":\"b\"}", done.Result);
            // No client id: the lease is stored without one and checked by process as before.
            var plain = new OperationJournal(s1, timeout).Begin("Start", "dc", "dc/8", null, null, null);
            Assert.Null(b.Get(plain.Id)!.LeaseClientId);
        }

        [PostgreSqlFact]
        public void PostgreSql_ServerRestart_MidWrite_IsTransient_NothingHalfWritten_AndTheOperationResumes()
        {
            using var cluster = PgCluster.StartPrivate();
            string db = cluster.NewDatabase();
            using var s = cluster.Open(db);
            var j = new OperationJournal(s, TimeSpan.FromSeconds(30), "runner-a");
            var op = j.TryBegin(new OperationIntent { Kind = "Stop", Datacenter = "dc", Target = "dc/5", LockKey = "workload:dc/5" }).Operation!;
            j.Checkpoint(op.Id, "step", "1");
            // A write in flight when the server restarts: its first statement ran, its second never does.
            var inFlight = Task.Run(() => s.Write(c =>
            {
                c.Execute("INSERT INTO operation_checkpoints(operation_id, seq, key, value) VALUES(@id, 99, 'half', 'x')", ("id", op.Id.ToString("D")));
                c.Execute("SELECT pg_sleep(30)");
                c.Execute("INSERT INTO operation_checkpoints(operation_id, seq, key, value) VALUES(@id, 100, 'other-half', 'x')", ("id", op.Id.ToString("D")));
                return 0;
            }));
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (Convert.ToInt64(cluster.Admin(db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()")) == 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "the in-flight write never reached pg_sleep");
                System.Threading.Thread.Sleep(50);
            }
            cluster.Restart();
            var ex = Assert.Throws<GridException>(() => { try { inFlight.Wait(); } catch (AggregateException ae) { throw ae.InnerException!; } });
            Assert.Equal("StateStoreUnavailable", ex.ErrorId);
            Assert.True(ex.IsTransient);
            Assert.Equal(GridErrorKind.StateStore, ex.Kind);
            // The next journal steps: a pooled connection from before the restart may fail once more, always the same clear, transient error.
            int failures = 0;
            for (int attempt = 0; ; attempt++)
            {
                try { j.Checkpoint(op.Id, "step", "2"); break; }
                catch (GridException again) when (again.ErrorId == "StateStoreUnavailable" && again.IsTransient && attempt < 5) { failures++; }
            }
            Assert.True(failures <= 5);
            var got = j.Get(op.Id)!;
            Assert.False(got.Checkpoints.ContainsKey("half"));        // nothing half-written
            Assert.False(got.Checkpoints.ContainsKey("other-half"));
            Assert.Equal("2", got.Checkpoints["step"]);
            Assert.Equal(OperationState.Running, got.State);
            j.Complete(op.Id, null);
            Assert.Equal(OperationState.Succeeded, j.Get(op.Id)!.State);
        }

        [PostgreSqlFact]
        public void PostgreSql_ServerDown_IsTransient_StateStoreUnavailable_ThenBack()
        {
            using var cluster = PgCluster.StartPrivate();
            string db = cluster.NewDatabase();
            using var s = cluster.Open(db);
            var j = new OperationJournal(s, TimeSpan.FromSeconds(30));
            var op = j.TryBegin(new OperationIntent { Kind = "Stop", Datacenter = "dc", Target = "dc/6", LockKey = "workload:dc/6" }).Operation!;
            cluster.Stop();
            var down = Assert.Throws<GridException>(() => j.Checkpoint(op.Id, "step", "1"));
            Assert.Equal("StateStoreUnavailable", down.ErrorId);
            Assert.True(down.IsTransient);
            Assert.DoesNotContain(cluster.Password, down.Message);
            cluster.Start();
            for (int attempt = 0; ; attempt++)
            {
                try { j.Checkpoint(op.Id, "step", "1"); break; }
                catch (GridException again) when (again.ErrorId == "StateStoreUnavailable" && attempt < 5) { }
            }
            j.Complete(op.Id, null);
            Assert.Equal(OperationState.Succeeded, j.Get(op.Id)!.State);
        }

        [PostgreSqlFact]
        public void PostgreSql_ParallelOpens_MigrateOnce()
        {
            string db = PgCluster.Instance.NewDatabase();
            var stores = Enumerable.Range(0, 6).AsParallel().WithDegreeOfParallelism(6).Select(_ => PgCluster.Instance.Open(db)).ToList();
            try
            {
                Assert.All(stores, st => Assert.Equal(StateStore.CoreSchemaVersion, st.GetSchemaVersion("core")));
                Assert.Equal(1L, Convert.ToInt64(PgCluster.Instance.Admin(db, "SELECT count(*) FROM schema_version")));
            }
            finally { foreach (var st in stores) st.Dispose(); }
        }

        [PostgreSqlFact]
        public void PostgreSql_DroppedConnection_IsTransient_NothingHalfWritten_AndTheOperationGoesOn()
        {
            string db = PgCluster.Instance.NewDatabase();
            using var s = PgCluster.Instance.Open(db);
            var j = new OperationJournal(s, TimeSpan.FromSeconds(30));
            var op = j.TryBegin(new OperationIntent { Kind = "Stop", Datacenter = "dc", Target = "dc/9", LockKey = "workload:dc/9" }).Operation!;
            j.Checkpoint(op.Id, "step", "1");
            // Kill every session of this database (as an admin or a failover would), then write the next step.
            PgCluster.Instance.Admin(db, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
            GridException? lost = null;
            try { j.Checkpoint(op.Id, "step", "2"); }
            catch (GridException ex) { lost = ex; }
            Assert.NotNull(lost); // the pooled connection was killed: the step fails as one unit
            Assert.Equal("StateStoreUnavailable", lost!.ErrorId);
            Assert.True(lost.IsTransient);
            Assert.Equal("1", j.Get(op.Id)!.Checkpoints["step"]); // nothing half-written
            j.Checkpoint(op.Id, "step", "2"); // the retry goes through on a new connection
            j.Complete(op.Id, null);
            var done = j.Get(op.Id)!;
            Assert.Equal(OperationState.Succeeded, done.State);
            Assert.Equal("2", done.Checkpoints["step"]);
        }

        [PostgreSqlFact]
        public void PostgreSql_Password_IsNeverInPathOrErrors()
        {
            string db = PgCluster.Instance.NewDatabase();
            using (var s = PgCluster.Instance.Open(db))
            {
                Assert.DoesNotContain(PgCluster.Instance.Password, s.Path);
                Assert.StartsWith("postgresql://postgres@127.0.0.1:", s.Path);
            }
            string wrong = "wrong-" + Guid.NewGuid().ToString("N");
            var ex = Assert.Throws<GridException>(() => GridAutomation.State.PostgreSql.PostgreSqlStateStore.Open(PgCluster.Instance.ConnectionString(db), false, wrong).Dispose());
            Assert.Equal("StateStoreCannotOpen", ex.ErrorId);
            Assert.DoesNotContain(wrong, ex.Message);
            Assert.DoesNotContain(wrong, ex.Target?.ToString() ?? "");
        }

        [PostgreSqlFact]
        public void PostgreSql_ReadOnly_RefusesWrites()
        {
            string db = PgCluster.Instance.NewDatabase();
            using (var s = PgCluster.Instance.Open(db)) new OperationJournal(s, TimeSpan.FromMinutes(2)).Begin("Start", "dc", "t", null, null, null);
            using var ro = PgCluster.Instance.Open(db, readOnly: true);
            Assert.Equal("StateStoreReadOnly", Assert.Throws<GridException>(() => ro.Write(c => 1)).ErrorId);
            Assert.Single(new OperationJournal(ro, TimeSpan.FromMinutes(2)).List(new OperationFilter()));
        }
    }
}
