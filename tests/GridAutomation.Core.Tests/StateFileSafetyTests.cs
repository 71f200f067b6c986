using System;
using System.IO;
using System.Linq;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Xunit;

namespace GridAutomation.Core.Tests
{
    /// <summary>Each state-file fault gives its documented error and leaves the file untouched (docs/state-store.md).</summary>
    public class StateFileSafetyTests
    {
        private static void Raw(string path, string sql)
        {
            using var c = new SqliteConnection("Data Source=" + path + ";Pooling=False");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = sql;
            cmd.ExecuteNonQuery();
        }

        private static void AssertUntouched(string path, byte[] before)
        {
            Assert.Equal(before, File.ReadAllBytes(path));
            Assert.False(File.Exists(path + "-wal"), "no -wal was created beside it");
        }

        [Theory]
        [InlineData(false)]
        [InlineData(true)]
        public void ZeroByteFile_IsRefused_AsForeign_AndLeftEmpty(bool readOnly)
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            File.WriteAllBytes(path, Array.Empty<byte>());
            var ex = Assert.Throws<GridException>(() => StateStore.Open(path, readOnly).Dispose());
            Assert.Equal("StateStoreForeign", ex.ErrorId);
            Assert.Equal(GridErrorKind.StateStore, ex.Kind);
            Assert.Contains("0-byte", ex.Message);
            AssertUntouched(path, Array.Empty<byte>());
        }

        [Theory]
        [InlineData(false)]
        [InlineData(true)]
        public void ForeignSqliteFile_IsRefused_AndNeitherMigratedNorSwitchedToWal(bool readOnly)
        {
            using var tmp = new TempDir();
            string path = tmp.File("notes.db");
            Raw(path, "CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes(text) VALUES('keep me');");
            var before = File.ReadAllBytes(path);
            var ex = Assert.Throws<GridException>(() => StateStore.Open(path, readOnly).Dispose());
            Assert.Equal("StateStoreForeign", ex.ErrorId);
            SqliteConnection.ClearAllPools();
            AssertUntouched(path, before);
        }

        [Fact]
        public void SqliteFileOfAnotherApplication_IsRefused()
        {
            using var tmp = new TempDir();
            string path = tmp.File("other.db");
            Raw(path, "PRAGMA application_id = 12345; CREATE TABLE schema_version(component TEXT PRIMARY KEY, version INTEGER, updated_at TEXT);");
            var before = File.ReadAllBytes(path);
            var ex = Assert.Throws<GridException>(() => StateStore.Open(path, false).Dispose());
            Assert.Equal("StateStoreForeign", ex.ErrorId);
            Assert.Contains("12345", ex.Message);
            AssertUntouched(path, before);
        }

        [Fact]
        public void NewStore_IsCreatedOnlyWhereNoFileExists_Stamped_AndSaysSo()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using (var s = StateStore.Open(path, false))
            {
                Assert.True(s.CreatedNew);
                Assert.Equal(StateStore.ApplicationId, s.ReadApplicationId());
            }
            using (var s = StateStore.Open(path, false)) Assert.False(s.CreatedNew);
            Assert.Empty(Directory.GetFiles(tmp.Path, "*.new-*")); // the temp file it was built in is gone
        }

        [Fact]
        public void UnreadableJournalRow_IsStateStoreCorrupt_NotAParseException()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using var s = StateStore.Open(path, false);
            var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
            var op = j.Begin("Stop", "dc", "dc/1", null, null, null);
            j.Complete(op.Id, null);
            s.Write(c => { using var cmd = c.Command(""); cmd.CommandText = "UPDATE operations SET state = 'Succeesed'"; return cmd.ExecuteNonQuery(); });
            var ex = Assert.Throws<GridException>(() => j.List(new OperationFilter()));
            Assert.Equal("StateStoreCorrupt", ex.ErrorId);
            Assert.Contains("Succeesed", ex.Message);
            s.Write(c => { using var cmd = c.Command(""); cmd.CommandText = "UPDATE operations SET state = 'Succeeded', started = 'not a time'"; return cmd.ExecuteNonQuery(); });
            ex = Assert.Throws<GridException>(() => j.Get(op.Id));
            Assert.Equal("StateStoreCorrupt", ex.ErrorId);
            var report = StateStoreInspector.Inspect(path);
            Assert.True(report.Healthy); // the state names are fine now; the bad time is a row problem the journal reports
        }

        /// <summary>A store with enough rows that a page in the middle of its table can be damaged while sqlite_master still reads.</summary>
        private static string DamagedStore(TempDir tmp)
        {
            string path = tmp.File("state.db");
            using (var s = StateStore.Open(path, false))
            {
                var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
                for (int i = 0; i < 300; i++) { var op = j.Begin("Stop", "dc", "dc/" + i, null, new string('x', 400), null); j.Complete(op.Id, null); }
            }
            SqliteConnection.ClearAllPools();
            Assert.False(File.Exists(path + "-wal"));
            var bytes = File.ReadAllBytes(path);
            int page = 4096;
            Assert.True(bytes.Length > page * 20);
            for (int p = 10; p < 14; p++) for (int i = 0; i < page; i++) bytes[p * page + i] = (byte)(i * 7 + p);
            File.WriteAllBytes(path, bytes);
            return path;
        }

        [Fact]
        public void QuickCheck_AfterAnUncleanShutdown_RefusesADamagedFile_AndTestGridStateReportsIt()
        {
            using var tmp = new TempDir();
            string path = DamagedStore(tmp);
            var report = StateStoreInspector.Inspect(path);
            Assert.False(report.Healthy);
            Assert.Equal("StateStoreCorrupt", report.ErrorId);
            Assert.NotEmpty(report.Problems);
            // A -wal left behind means the last session did not close cleanly: the open checks the pages first.
            File.WriteAllBytes(path + "-wal", new byte[32]);
            var before = File.ReadAllBytes(path);
            var ex = Assert.Throws<GridException>(() => StateStore.Open(path, false).Dispose());
            Assert.Equal("StateStoreCorrupt", ex.ErrorId);
            Assert.Contains("quick_check", ex.Message);
            SqliteConnection.ClearAllPools();
            Assert.Equal(before, File.ReadAllBytes(path));
        }

        [Fact]
        public void TestGridState_ReportsSizeCountsAndSchemaVersions_OfAHealthyStore()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using (var s = StateStore.Open(path, false))
            {
                var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
                var a = j.Begin("Stop", "dc", "dc/1", null, null, null); j.Complete(a.Id, null);
                var b = j.Begin("Start", "dc", "dc/2", null, null, null); j.Cancel(b.Id, "test");
                var r = StateStoreInspector.Inspect(path);
                Assert.True(r.Healthy, string.Join("; ", r.Problems));
                Assert.Equal(2, r.Operations);
                Assert.Equal(1, r.OperationsByState["Succeeded"]);
                Assert.Equal(1, r.OperationsByState["Cancelled"]);
                Assert.Equal(StateStore.CoreSchemaVersion, r.SchemaVersions["core"]);
                Assert.Equal(StateStore.ApplicationId, r.ApplicationId);
                Assert.True(r.SizeBytes > 0);
            }
        }

        [Fact]
        public void VanishedWal_UnderALiveConnection_FailsTheNextWrite_AndSaysCommitsMayBeLost()
        {
            using var tmp = new TempDir();
            string path = tmp.File("state.db");
            using var s = StateStore.Open(path, false);
            var j = new OperationJournal(s, TimeSpan.FromMinutes(2));
            var held = new SqliteConnection(s.SqliteConnectionString); held.Open(); // a live connection keeps the WAL open
            try
            {
                var op = j.Begin("Stop", "dc", "dc/1", null, null, null);
                Assert.True(File.Exists(path + "-wal"));
                File.Delete(path + "-wal");
                var ex = Assert.Throws<GridException>(() => j.Complete(op.Id, null));
                Assert.Equal("StateStoreWalLost", ex.ErrorId);
                Assert.Contains("lost", ex.Message);
                ex = Assert.Throws<GridException>(() => j.Begin("Start", "dc", "dc/2", null, null, null));
                Assert.Equal("StateStoreWalLost", ex.ErrorId);
            }
            finally { held.Dispose(); }
        }

        [Fact]
        public void ConfigFile_IsCreatedAndKept0600()
        {
            if (OperatingSystem.IsWindows()) return;
            using var tmp = new TempDir();
            string path = tmp.File("config.json");
            GridConfiguration.Save(new System.Collections.Generic.Dictionary<string, string?> { ["PageSize"] = "10" }, path);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            GridConfiguration.Save(new System.Collections.Generic.Dictionary<string, string?> { ["LockWaitSeconds"] = "5" }, path);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Contains("LockWaitSeconds", File.ReadAllText(path));
            Assert.Contains("PageSize", File.ReadAllText(path)); // the keys already there are kept
        }
    }
}
