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
        public void CoreSchema_IsVersion3_AndANewerSchemaIsRefused(string backend)
        {
            using var tmp = new TempDir();
            using (var s = Backends.Open(backend, tmp))
            {
                Assert.Equal(3L, s.Read(c => c.ScalarInt64("SELECT version FROM schema_version WHERE component = 'core'")));
                s.Write(c => c.Execute("UPDATE schema_version SET version = 99 WHERE component = 'core'"));
            }
            var ex = Assert.Throws<GridException>(() => Backends.Reopen(backend, tmp, false).Dispose());
            Assert.Equal("StateStoreNewerSchema", ex.ErrorId);
            Assert.Contains("99", ex.Message);
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

        [PostgreSqlFact]
        public void PostgreSql_ParallelOpens_MigrateOnce()
        {
            string db = PgCluster.Instance.NewDatabase();
            var stores = Enumerable.Range(0, 6).AsParallel().WithDegreeOfParallelism(6).Select(_ => PgCluster.Instance.Open(db)).ToList();
            try
            {
                Assert.All(stores, st => Assert.Equal(3, st.GetSchemaVersion("core")));
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
