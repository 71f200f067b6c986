using System;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Xunit;

namespace GridAutomation.Core.Tests
{
    public class StateStoreTests
    {
        private static string Pragma(IStateStore s, string name)
            => s.Read(c => { using var cmd = c.Command(""); cmd.CommandText = "PRAGMA " + name; return Convert.ToString(cmd.ExecuteScalar())!; });

        private static long Scalar(IStateStore s, string sql)
            => s.Read(c => { using var cmd = c.Command(""); cmd.CommandText = sql; return Convert.ToInt64(cmd.ExecuteScalar()); });

        [Fact]
        public void Open_CreatesFile_InWalMode_WithSecureDelete_ForeignKeys_AndCoreSchema()
        {
            using var tmp = new TempDir();
            string path = tmp.File("sub/dir/state.db");
            using (var s = StateStore.Open(path, readOnly: false))
            {
                Assert.True(File.Exists(path));
                Assert.Equal("wal", Pragma(s, "journal_mode"));
                Assert.Equal("1", Pragma(s, "secure_delete"));
                Assert.Equal("1", Pragma(s, "foreign_keys"));
                Assert.Equal(StateStore.CoreMigrations.Length, s.GetSchemaVersion(StateStore.CoreComponent));
                foreach (var t in new[] { "datacenters", "operations", "operation_checkpoints", "schema_version" })
                    Assert.Equal(1, Scalar(s, $"SELECT count(*) FROM sqlite_master WHERE type='table' AND name='{t}'"));
            }
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
            }
        }

        [Fact]
        public void CoreSchemaV1File_IsUpgraded_OldRowsKeepNoName_NewRowsCarryIt()
        {
            using var tmp = new TempDir();
            string path = tmp.File("v1.db");
            // A state file as version 1 of the module wrote it, with one journaled operation.
            using (var c = new SqliteConnection("Data Source=" + path + ";Pooling=False"))
            {
                c.Open();
                using var cmd = c.CreateCommand();
                cmd.CommandText = "PRAGMA journal_mode=WAL;" + StateStore.CoreMigrations[0]
                    + ";CREATE TABLE schema_version(component TEXT NOT NULL PRIMARY KEY, version INTEGER NOT NULL, updated_at TEXT NOT NULL);"
                    + "INSERT INTO schema_version VALUES('core', 1, '2026-01-01T00:00:00.0000000Z');"
                    + "INSERT INTO operations(id, kind, datacenter, target, state, started, finished) VALUES('" + Guid.NewGuid().ToString("D")
                    + "', 'Stop', 'dc1', 'dc1/vm-1', 'Succeeded', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:01.0000000Z');";
                cmd.ExecuteNonQuery();
            }
            // -WhatIf (read-only) cannot upgrade it and says so, leaving it at version 1.
            var ro = Assert.Throws<GridException>(() => StateStore.Open(path, readOnly: true).Dispose());
            Assert.Equal("StateStoreReadOnly", ro.ErrorId);
            using (var s = StateStore.Open(path, readOnly: false))
            {
                Assert.Equal(StateStore.CoreSchemaVersion, s.GetSchemaVersion(StateStore.CoreComponent));
                Assert.Equal(StateStore.ApplicationId, s.ReadApplicationId()); // adopted: it has our schema_version table
                var journal = new OperationJournal(s, TimeSpan.FromMinutes(2));
                var old = Assert.Single(journal.List(new OperationFilter()));
                Assert.Null(old.TargetName);
                Assert.Equal("dc1/vm-1", old.Target);
                var op = journal.Begin("Start", "dc1", "dc1/vm-1", null, null, null, "web-01");
                journal.Complete(op.Id, null);
                Assert.Equal("web-01", journal.List(new OperationFilter { Id = op.Id }).Single().TargetName);
                Assert.Equal(2, journal.List(new OperationFilter { Targets = new[] { "dc1/vm-*" } }).Count);
                Assert.Equal(op.Id, journal.List(new OperationFilter { Targets = new[] { "WEB-*" } }).Single().Id);
            }
        }

        [Fact]
        public void ComponentMigrations_ApplyInOrder_AndOnlyOnce_AcrossReopen()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using (var s = StateStore.Open(path, false))
            {
                s.EnsureComponentSchema("comp", "CREATE TABLE comp_a(x INTEGER)");
                Assert.Equal(1, s.GetSchemaVersion("comp"));
                s.Write(c => { using var cmd = c.Command(""); cmd.CommandText = "INSERT INTO comp_a VALUES(7)"; return cmd.ExecuteNonQuery(); });
            }
            using (var s = StateStore.Open(path, false))
            {
                // v1 again (would fail if re-run: table exists), then v2 adds a column.
                s.EnsureComponentSchema("comp", "CREATE TABLE comp_a(x INTEGER)", "ALTER TABLE comp_a ADD COLUMN y TEXT DEFAULT 'v2'");
                Assert.Equal(2, s.GetSchemaVersion("comp"));
                Assert.Equal(7, Scalar(s, "SELECT x FROM comp_a"));
                Assert.Equal(1, Scalar(s, "SELECT count(*) FROM comp_a WHERE y = 'v2'"));
                s.EnsureComponentSchema("comp", "CREATE TABLE comp_a(x INTEGER)", "ALTER TABLE comp_a ADD COLUMN y TEXT DEFAULT 'v2'");
            }
        }

        [Fact]
        public void FailedMigration_RollsBack_AndLeavesVersion()
        {
            using var tmp = new TempDir();
            using var s = StateStore.Open(tmp.File("state.db"), false);
            Assert.ThrowsAny<Exception>(() => s.EnsureComponentSchema("bad", "CREATE TABLE bad_a(x)", "THIS IS NOT SQL"));
            Assert.Equal(0, s.GetSchemaVersion("bad"));
            Assert.Equal(0, Scalar(s, "SELECT count(*) FROM sqlite_master WHERE name='bad_a'"));
        }

        [Fact]
        public void NewerComponentSchema_IsRefused()
        {
            using var tmp = new TempDir();
            using var s = StateStore.Open(tmp.File("state.db"), false);
            s.EnsureComponentSchema("comp", "CREATE TABLE c1(x)", "CREATE TABLE c2(x)");
            var ex = Assert.Throws<GridException>(() => s.EnsureComponentSchema("comp", "CREATE TABLE c1(x)"));
            Assert.Equal(GridErrorKind.StateStore, ex.Kind);
            Assert.Equal("StateStoreNewerSchema", ex.ErrorId);
        }

        [Fact]
        public void NewerCoreSchema_IsRefused_AndFileUntouched()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using (var s = StateStore.Open(path, false))
                s.Write(c => { using var cmd = c.Command(""); cmd.CommandText = "UPDATE schema_version SET version = 99 WHERE component = 'core'"; return cmd.ExecuteNonQuery(); });
            SqliteConnection.ClearAllPools();
            var before = File.ReadAllBytes(path);
            var ex = Assert.Throws<GridException>(() => StateStore.Open(path, false));
            Assert.Equal("StateStoreNewerSchema", ex.ErrorId);
            Assert.Contains(path, ex.Message);
            SqliteConnection.ClearAllPools();
            Assert.Equal(before, File.ReadAllBytes(path));
            var ex2 = Assert.Throws<GridException>(() => StateStore.Open(path, true));
            Assert.Equal("StateStoreNewerSchema", ex2.ErrorId);
        }

        [Theory]
        [InlineData(false)]
        [InlineData(true)]
        public void CorruptFile_NotADatabase_IsRefused_AndUntouched(bool readOnly)
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            var garbage = Enumerable.Range(0, 8192).Select(i => (byte)(i * 31 % 251)).ToArray();
            File.WriteAllBytes(path, garbage);
            var ex = Assert.Throws<GridException>(() => StateStore.Open(path, readOnly));
            Assert.Equal(GridErrorKind.StateStore, ex.Kind);
            Assert.Equal("StateStoreCorrupt", ex.ErrorId);
            Assert.Contains(path, ex.Message);
            Assert.Equal(garbage, File.ReadAllBytes(path));
            Assert.False(File.Exists(path + "-wal"));
        }

        [Fact]
        public void CorruptFile_ValidHeaderDamagedPages_IsRefused_AndUntouched()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using (var s = StateStore.Open(path, false)) { }
            SqliteConnection.ClearAllPools();
            var bytes = File.ReadAllBytes(path);
            Assert.True(bytes.Length > 4096);
            // keep the 100-byte header, destroy the rest of page 1 (sqlite_master) and everything after
            for (int i = 100; i < bytes.Length; i++) bytes[i] = 0xA5;
            File.WriteAllBytes(path, bytes);
            File.Delete(path + "-wal"); File.Delete(path + "-shm");
            var ex = Assert.Throws<GridException>(() => StateStore.Open(path, false));
            Assert.Equal("StateStoreCorrupt", ex.ErrorId);
            Assert.Contains(path, ex.Message);
            SqliteConnection.ClearAllPools();
            Assert.Equal(bytes, File.ReadAllBytes(path));
        }

        [Fact]
        public void LockedFile_GivesStateStoreLocked_AfterBusyTimeout()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using var s = StateStore.Open(path, false, TimeSpan.FromSeconds(1));
            using var other = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
            other.Open();
            using var tx = other.BeginTransaction(deferred: false); // another writer holds the write lock
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var ex = Assert.Throws<GridException>(() => s.Write(c => 0));
            Assert.Equal(GridErrorKind.StateStore, ex.Kind);
            Assert.Equal("StateStoreLocked", ex.ErrorId);
            Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(0.9), sw.Elapsed.ToString());
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), sw.Elapsed.ToString());
            // readers are not blocked by the writer (WAL)
            Assert.True(Scalar(s, "SELECT count(*) FROM datacenters") >= 0);
            tx.Rollback();
            Assert.Equal(0, s.Write(c => 0));
        }

        [Fact]
        public void LockedFile_AtOpen_GivesStateStoreLocked()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using (StateStore.Open(path, false)) { }
            SqliteConnection.ClearAllPools();
            using var other = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
            other.Open();
            using (var cmd = other.CreateCommand()) { cmd.CommandText = "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE;"; cmd.ExecuteNonQuery(); }
            // a brand-new component forces a write at open-time-like migration
            var ex = Assert.Throws<GridException>(() =>
            {
                using var s = StateStore.Open(path, false, TimeSpan.FromSeconds(1));
                s.EnsureComponentSchema("x", "CREATE TABLE x(a)");
            });
            Assert.Equal("StateStoreLocked", ex.ErrorId);
        }

        [Fact]
        public void ReadOnly_RefusesWrites_AndLeavesWalEmpty()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using (var w = StateStore.Open(path, false))
                new DatacenterRepository(w).Save(new GridDatacenter { Name = "dc1", Provider = "Simulator" });
            // a connection held open by the test, WAL checkpointed and truncated
            using var holder = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
            holder.Open();
            using (var cmd = holder.CreateCommand()) { cmd.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)"; cmd.ExecuteNonQuery(); }
            Assert.Equal(0, new FileInfo(path + "-wal").Length);
            var before = File.ReadAllBytes(path);

            using (var ro = StateStore.Open(path, readOnly: true))
            {
                Assert.True(ro.ReadOnly);
                var repo = new DatacenterRepository(ro);
                Assert.Single(repo.List());
                var ex = Assert.Throws<GridException>(() => repo.Save(new GridDatacenter { Name = "dc2", Provider = "Simulator" }));
                Assert.Equal("StateStoreReadOnly", ex.ErrorId);
                Assert.Equal(GridErrorKind.StateStore, ex.Kind);
                var ex2 = Assert.Throws<GridException>(() => ro.Write(c => 1));
                Assert.Equal("StateStoreReadOnly", ex2.ErrorId);
                Assert.Throws<GridException>(() => repo.Delete("dc1"));
                // an already-current component schema is fine read-only; a missing one cannot be created
                Assert.Equal("StateStoreReadOnly", Assert.Throws<GridException>(() => ro.EnsureComponentSchema("newcomp", "CREATE TABLE n(x)")).ErrorId);
            }
            SqliteConnection.ClearAllPools();
            Assert.Equal(0, new FileInfo(path + "-wal").Length);
            Assert.Equal(before, File.ReadAllBytes(path));
        }

        [Fact]
        public void ReadOnly_MissingFile_IsAnEmptyStore_AndNothingIsCreated()
        {
            using var tmp = new TempDir();
            string path = tmp.File("nope/state.db");
            using (var ro = StateStore.Open(path, readOnly: true))
            {
                Assert.Empty(new DatacenterRepository(ro).List());
                ro.EnsureComponentSchema("comp", "CREATE TABLE comp_t(x)");
                Assert.Equal(0, Scalar(ro, "SELECT count(*) FROM comp_t"));
                Assert.Equal("StateStoreReadOnly", Assert.Throws<GridException>(() => ro.Write(c => 1)).ErrorId);
                Assert.Empty(new OperationJournal(ro, TimeSpan.FromMinutes(2)).List(new OperationFilter()));
            }
            Assert.False(File.Exists(path));
            Assert.False(Directory.Exists(Path.GetDirectoryName(path)));
        }

        [Fact]
        public void Concurrent_Writers_FromManyThreads_AllCommit()
        {
            using var tmp = new TempDir();
            using var s = StateStore.Open(tmp.File("state.db"), false);
            s.EnsureComponentSchema("cnt", "CREATE TABLE cnt(n INTEGER)");
            Parallel.For(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
                s.Write(c => { using var cmd = c.Command(""); cmd.CommandText = "INSERT INTO cnt VALUES(1)"; return cmd.ExecuteNonQuery(); }));
            Assert.Equal(200, Scalar(s, "SELECT count(*) FROM cnt"));
        }

        [Fact]
        public void TwoStoreInstances_OnOneFile_SeeEachOthersWrites()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using var a = StateStore.Open(path, false);
            using var b = StateStore.Open(path, false);
            new DatacenterRepository(a).Save(new GridDatacenter { Name = "Ams", Provider = "Simulator", Owner = "Contoso" });
            var got = new DatacenterRepository(b).Get("AMS");
            Assert.NotNull(got);
            Assert.Equal("Contoso", got!.Owner);
        }

        [Fact]
        public void NestedWrite_JoinsOuterTransaction()
        {
            using var tmp = new TempDir();
            using var s = StateStore.Open(tmp.File("state.db"), false, TimeSpan.FromSeconds(1));
            var repo = new DatacenterRepository(s);
            Assert.Throws<InvalidOperationException>(() => s.Write<int>(c =>
            {
                repo.Save(new GridDatacenter { Name = "inner", Provider = "Simulator" }); // nested: same transaction, no deadlock
                throw new InvalidOperationException("roll back");
            }));
            Assert.Null(repo.Get("inner"));
        }

        [Fact]
        public void DatacenterRepository_Crud_AndSecretsAreNeverStored()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using (var s = StateStore.Open(path, false))
            {
                var repo = new DatacenterRepository(s);
                var dc = new GridDatacenter { Name = "Amsterdam-1", Provider = "Simulator", Owner = "Contoso", Site = "Amsterdam", Endpoint = "sim://x", Capabilities = GridCapabilities.Start | GridCapabilities.Stop };
                dc.Settings["Hosts"] = "4";
                dc.Settings["ApiKey"] = "s3cr3t-value-XYZ";
                var parameters = new[] { new ProviderParameter("Hosts", ProviderParameterKind.Int, "h"), new ProviderParameter("ApiKey", ProviderParameterKind.SecretString, "k") };
                repo.Save(dc, parameters);
                var got = repo.Get("amsterdam-1")!;
                Assert.Equal("Amsterdam-1", got.Name);
                Assert.Equal("Contoso", got.Owner);
                Assert.Equal("Amsterdam", got.Site);
                Assert.Equal("sim://x", got.Endpoint);
                Assert.Equal(GridCapabilities.Start | GridCapabilities.Stop, got.Capabilities);
                Assert.Equal("4", got.Settings["hosts"]);
                Assert.False(got.Settings.ContainsKey("ApiKey"));
                var registered = got.RegisteredAt;
                got.Site = "Rotterdam";
                repo.Save(got);
                Assert.Equal("Rotterdam", repo.Get("Amsterdam-1")!.Site);
                Assert.Equal(registered, repo.Get("Amsterdam-1")!.RegisteredAt);
                Assert.Single(repo.List());
                Assert.Equal("InvalidName", Assert.Throws<GridException>(() => repo.Save(new GridDatacenter { Name = "a/b", Provider = "Simulator" })).ErrorId);
                Assert.True(repo.Delete("AMSTERDAM-1"));
                Assert.False(repo.Delete("AMSTERDAM-1"));
                Assert.Empty(repo.List());
            }
            SqliteConnection.ClearAllPools();
            foreach (var f in new[] { path, path + "-wal", path + "-shm" })
                if (File.Exists(f)) Assert.DoesNotContain("s3cr3t-value-XYZ", System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(f)));
        }
    }
}
