using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using GridAutomation.Core.Model;
using Microsoft.Data.Sqlite;

namespace GridAutomation.Core.State
{
    /// <summary>
    /// The SQLite state store. WAL journal, secure_delete on every connection, foreign keys on, a busy timeout.
    /// One connection per call (Microsoft.Data.Sqlite pools them), so it is usable from several threads and, through
    /// SQLite's own locking, from several processes at once. Every write goes through <see cref="Write{T}"/>
    /// (BEGIN IMMEDIATE ... COMMIT), which refuses while the store is read-only (-WhatIf).
    /// An existing file is never reset, recreated or deleted: a corrupt, locked or newer-schema file gives a
    /// GridException of kind StateStore ("StateStoreCorrupt", "StateStoreLocked", "StateStoreNewerSchema").
    /// </summary>
    public sealed partial class StateStore : IStateStore
    {
        /// <summary>The component name of the core's own schema in the schema_version table.</summary>
        public const string CoreComponent = "core";
        /// <summary>
        /// How long a writer waits for another writer's commit before StateStoreLocked. 30 s, not the 5 s it was: one
        /// process moving 500 workloads in parallel queues many short durable commits, and on a loaded 2-core machine the
        /// queue passed 5 s, so moves failed for a lock that would have come. A user waits longer only when another
        /// session really holds the store.
        /// </summary>
        public static readonly TimeSpan DefaultBusyTimeout = TimeSpan.FromSeconds(30);

        /// <summary>
        /// The core schema's migrations in SQLite's dialect: index i brings version i to i+1. The PostgreSQL backend
        /// derives its list from this one (<see cref="SqlDialect.SqliteToPostgreSql"/>), so version i means the same
        /// tables and columns on both and there is one schema to change.
        /// </summary>
        public static IReadOnlyList<string> CoreMigrationsSqlite => CoreMigrations;

        internal static readonly string[] CoreMigrations =
        {
            // v1
            @"CREATE TABLE datacenters(
                name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
                provider TEXT NOT NULL,
                endpoint TEXT,
                owner TEXT,
                site TEXT,
                capabilities INTEGER NOT NULL DEFAULT 0,
                settings TEXT NOT NULL DEFAULT '{}',
                registered_at TEXT NOT NULL);
              CREATE TABLE operations(
                seq INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                datacenter TEXT NOT NULL,
                target TEXT NOT NULL,
                state TEXT NOT NULL,
                started TEXT NOT NULL,
                finished TEXT,
                error TEXT,
                error_id TEXT,
                idempotency_key TEXT,
                batch_id TEXT,
                request TEXT,
                result TEXT,
                lease_pid INTEGER,
                lease_machine TEXT,
                lease_process_start TEXT,
                heartbeat TEXT);
              CREATE INDEX ix_operations_idempotency ON operations(kind, idempotency_key);
              CREATE INDEX ix_operations_batch ON operations(batch_id);
              CREATE INDEX ix_operations_state ON operations(state);
              CREATE INDEX ix_operations_datacenter ON operations(datacenter COLLATE NOCASE);
              CREATE TABLE operation_checkpoints(
                operation_id TEXT NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY(operation_id, key));",
            // v2: the name of the workload an operation acts on, as it was when the operation began (Get-GridOperation shows it)
            @"ALTER TABLE operations ADD COLUMN target_name TEXT;",
            // v3 (docs/state-store.md, 'Schema v3'): per-workload locks with fencing tokens, parent/child operations,
            // operations spanning two datacenters and resumed by the core, and the state Cancelled (which a v2 module
            // could not parse: the version bump makes it refuse the file with StateStoreNewerSchema instead).
            @"ALTER TABLE operations ADD COLUMN parent_id TEXT REFERENCES operations(id) ON DELETE CASCADE;
              ALTER TABLE operations ADD COLUMN lock_key TEXT;
              ALTER TABLE operations ADD COLUMN fencing_token INTEGER;
              ALTER TABLE operations ADD COLUMN destination_datacenter TEXT;
              ALTER TABLE operations ADD COLUMN coordinator TEXT;
              CREATE INDEX ix_operations_parent ON operations(parent_id);
              CREATE INDEX ix_operations_target ON operations(kind, target COLLATE NOCASE, state);
              CREATE TABLE workload_locks(
                lock_key TEXT NOT NULL PRIMARY KEY,
                operation_id TEXT,
                fencing_token INTEGER NOT NULL,
                acquired TEXT NOT NULL);",
            // v4 (issue 12): the lease names its holder's client id (ClientId / GRIDAUTOMATION_CLIENT_ID) beside machine
            // and process, so holders that share a machine name (sandboxes, containers, tests) are told apart.
            @"ALTER TABLE operations ADD COLUMN lease_client TEXT;",
            // v5 (issue 17): changes no table. It marks a store that may hold the operation state Waiting (a recovery
            // plan run paused at a manual step), which a v4 module cannot parse: as with Cancelled in v3, the bump makes
            // an older module refuse the store with StateStoreNewerSchema ("update the module") instead of calling a
            // Waiting row damage (StateStoreCorrupt).
            @"SELECT 1;",
        };

        /// <summary>SQLite <c>PRAGMA application_id</c> of a GridAutomation state file ("GRID").</summary>
        public const int ApplicationId = 0x47524944;

        private static readonly byte[] SqliteMagic = System.Text.Encoding.ASCII.GetBytes("SQLite format 3\0");

        [ThreadStatic] private static Ambient? _ambient;

        private sealed class Ambient
        {
            public Ambient(StateStore store, Session session)
            { Store = store; Session = session; }
            public StateStore Store { get; }
            public Session Session { get; }
            public Ambient? Outer { get; set; }
        }

        /// <summary>The SQLite session: one pooled connection, and the IMMEDIATE transaction of a write.</summary>
        private sealed class Session : IStateSession
        {
            private readonly SqliteConnection _c;
            private readonly SqliteTransaction? _tx;
            public Session(SqliteConnection c, SqliteTransaction? tx) { _c = c; _tx = tx; }
            public StateBackend Backend => StateBackend.Sqlite;
            public bool InTransaction => _tx != null;
            public System.Data.Common.DbCommand Command(string sql)
            {
                var cmd = _c.CreateCommand();
                cmd.Transaction = _tx;
                cmd.CommandText = sql;
                return cmd;
            }
        }

        public StateBackend Backend => StateBackend.Sqlite;
        /// <summary>The SQLite connection string of this store (for tests and tools that open the file beside it).</summary>
        public string SqliteConnectionString => _connectionString;

        private readonly string _connectionString;
        private readonly TimeSpan _busyTimeout;
        private SqliteConnection? _memoryKeeper;
        private bool _disposed;

        public string Path { get; }
        public bool ReadOnly { get; }
        /// <summary>True when opened read-only on a file that does not exist: an empty in-memory store that is never written to disk.</summary>
        public bool IsEphemeral => _memoryKeeper != null;
        public TimeSpan BusyTimeout => _busyTimeout;
        /// <summary>True when this Open created the file (no file existed at the path).</summary>
        public bool CreatedNew { get; private set; }
        private int _createdNoticeTaken;
        /// <summary>True once, for a store this open created: whoever gets it tells the user (so it is said once).</summary>
        public bool TakeCreatedNotice() => CreatedNew && System.Threading.Interlocked.Exchange(ref _createdNoticeTaken, 1) == 0;

        private StateStore(string path, bool readOnly, TimeSpan busyTimeout, string connectionString, SqliteConnection? memoryKeeper)
        {
            Path = path; ReadOnly = readOnly; _busyTimeout = busyTimeout; _connectionString = connectionString; _memoryKeeper = memoryKeeper;
        }

        /// <summary>Opens (and when writable, creates and migrates) the store at <paramref name="path"/>, with the default busy timeout (5 s).</summary>
        public static StateStore Open(string path, bool readOnly) => Open(path, readOnly, DefaultBusyTimeout);

        /// <summary>
        /// Opens the store. Writable: creates the file (and folder) if missing, sets WAL and applies the core
        /// migrations. Read-only: never writes (no migration, no journal-mode change); a missing file reads as an
        /// empty store and is not created.
        /// </summary>
        public static StateStore Open(string path, bool readOnly, TimeSpan busyTimeout)
        {
            if (string.IsNullOrWhiteSpace(path))
                throw GridException.InvalidRequest("The state store path is empty.", "InvalidConfiguration");
            string full;
            try { full = System.IO.Path.GetFullPath(ExpandHome(path)); }
            catch (Exception ex) { throw new GridException(GridErrorKind.StateStore, $"The state store path '{path}' is not valid: {ex.Message}", "StateStoreCannotOpen", ex) { Target = path }; }
            int timeoutSeconds = Math.Max(1, (int)Math.Ceiling(busyTimeout.TotalSeconds));

            if (Directory.Exists(full))
                throw new GridException(GridErrorKind.StateStore,
                    $"The state store path '{full}' is a folder, not a file. Point StatePath at a file in it, e.g. Set-GridConfiguration -StatePath '{System.IO.Path.Combine(full, "state.db")}' (or set GRIDAUTOMATION_STATE to that path).",
                    "StateStoreCannotOpen") { Target = full };
            bool exists = File.Exists(full);
            bool adopt = false;
            // A file that cannot be written (read-only mount, immutable, no permission) is opened read-only, so reads
            // work; the first write says what to do (StateStoreNotWritable) instead of a bare SQLite error.
            string? notWritable = !readOnly && exists ? WhyNotWritable(full) : null;
            if (notWritable != null) readOnly = true;
            if (exists) adopt = CheckExisting(full, timeoutSeconds, notWritable != null);

            StateStore store;
            if (readOnly && !exists)
            {
                // Behave as an empty store without creating anything on disk.
                string memName = "gridautomation-readonly-" + Guid.NewGuid().ToString("N");
                var csb = new SqliteConnectionStringBuilder
                {
                    DataSource = memName, Mode = SqliteOpenMode.Memory, Cache = SqliteCacheMode.Shared,
                    DefaultTimeout = timeoutSeconds, Pooling = false,
                };
                var keeper = new SqliteConnection(csb.ToString());
                keeper.Open();
                store = new StateStore(full, true, busyTimeout, csb.ToString(), keeper);
                store.ApplyMigrations(CoreComponent, CoreMigrations, force: true);
                return store;
            }

            bool created = false;
            if (!readOnly && !exists)
            {
                created = CreateNew(full, timeoutSeconds);
                if (!created) adopt = CheckExisting(full, timeoutSeconds); // another process created it meanwhile
            }
            // An unclean shutdown leaves a -wal behind (a clean close checkpoints and deletes it): check the pages then.
            bool uncleanShutdown = !readOnly && exists && WalLength(full) > 0;

            var b = new SqliteConnectionStringBuilder
            {
                DataSource = notWritable != null ? ReadOnlyDataSource(full) : full,
                Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
                Cache = SqliteCacheMode.Private,
                DefaultTimeout = timeoutSeconds,
                Pooling = true,
            };
            store = new StateStore(full, readOnly, busyTimeout, b.ToString(), null) { CreatedNew = created, NotWritableReason = notWritable };
            try
            {
                if (!readOnly)
                {
                    store.ReadSqlite(c =>
                    {
                        using var cmd = c.CreateCommand();
                        // Read the schema first: a damaged file fails here, before the journal-mode change could write to it.
                        cmd.CommandText = "SELECT count(*) FROM sqlite_master;";
                        cmd.ExecuteScalar();
                        if (uncleanShutdown)
                        {
                            var problems = QuickCheck(c, 5);
                            if (problems.Count > 0) throw Corrupt(full, null, "PRAGMA quick_check after an unclean shutdown: " + string.Join("; ", problems));
                        }
                        if (adopt)
                        {
                            // A file written by a module before application_id was stamped: adopt it (it has our schema_version table).
                            cmd.CommandText = "PRAGMA application_id = " + ApplicationId.ToString(CultureInfo.InvariantCulture) + ";";
                            cmd.ExecuteNonQuery();
                        }
                        cmd.CommandText = "PRAGMA journal_mode=WAL;";
                        var mode = Convert.ToString(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
                        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
                            throw new GridException(GridErrorKind.StateStore, $"The state store '{full}' could not be put in WAL mode (journal_mode is '{mode}').", "StateStoreCannotOpen") { Target = full };
                        return 0;
                    });
                }
                store.ApplyMigrations(CoreComponent, CoreMigrations, force: false);
            }
            catch
            {
                store.Dispose();
                throw;
            }
            return store;
        }

        /// <summary>
        /// Opens an existing store read-only for Test-GridState: the header and ownership checks of Open, but no
        /// migration (an older schema is reported, not refused).
        /// </summary>
        public static StateStore OpenForInspection(string full)
        {
            int timeoutSeconds = Math.Max(1, (int)Math.Ceiling(DefaultBusyTimeout.TotalSeconds));
            CheckExisting(full, timeoutSeconds);
            var b = new SqliteConnectionStringBuilder { DataSource = full, Mode = SqliteOpenMode.ReadOnly, DefaultTimeout = timeoutSeconds, Pooling = false };
            return new StateStore(full, true, DefaultBusyTimeout, b.ToString(), null);
        }

        private static string ExpandHome(string path)
        {
            if (path == "~" || path.StartsWith("~/", StringComparison.Ordinal) || path.StartsWith("~\\", StringComparison.Ordinal))
                return System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path.Length > 2 ? path.Substring(2) : "");
            return path;
        }

        private static void CreateEmptyPrivateFile(string full)
        {
#if NET8_0_OR_GREATER
            if (!OperatingSystem.IsWindows())
            {
                var opts = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
                try { using (new FileStream(full, opts)) { } } catch (IOException) when (File.Exists(full)) { }
                return;
            }
#endif
            try { using (new FileStream(full, FileMode.CreateNew, FileAccess.Write)) { } } catch (IOException) when (File.Exists(full)) { }
        }

        /// <summary>
        /// Decides whether an existing file may be used, without writing to it: an SQLite file stamped with our
        /// application_id, or (adopted, returns true) one with application_id 0 that has our schema_version table (a
        /// file written by a module from before the stamp). A 0-byte file, or an SQLite file of something else, is
        /// refused (StateStoreForeign); a file that is not SQLite or is damaged is StateStoreCorrupt.
        /// </summary>
        private static bool CheckExisting(string full, int timeoutSeconds, bool notWritable = false)
        {
            CheckHeader(full);
            var csb = new SqliteConnectionStringBuilder { DataSource = notWritable ? ReadOnlyDataSource(full) : full, Mode = SqliteOpenMode.ReadOnly, DefaultTimeout = timeoutSeconds, Pooling = false };
            try
            {
                using var c = new SqliteConnection(csb.ToString());
                c.Open();
                using var cmd = c.CreateCommand();
                cmd.CommandText = "PRAGMA application_id;";
                long appId = Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
                if (appId == ApplicationId) return false;
                cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'";
                bool ours = Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) > 0;
                if (appId == 0 && ours) return true;
                throw Foreign(full, appId != 0
                    ? $"it is an SQLite database of another application (application_id {appId})"
                    : "it is an SQLite database without GridAutomation's tables");
            }
            catch (SqliteException ex)
            {
                int primary = ex.SqliteErrorCode & 0xFF;
                if (primary == 11 || primary == 26) throw Corrupt(full, ex, ex.Message);
                if (primary == 5 || primary == 6) return false; // locked by a writer right now: it is in use, hence ours; the normal open decides
                throw new GridException(GridErrorKind.StateStore, $"Cannot open the state store '{full}': {ex.Message}", "StateStoreCannotOpen", ex) { Target = full };
            }
        }

        private static GridException Foreign(string path, string detail)
            => new GridException(GridErrorKind.StateStore,
                $"'{path}' is not a GridAutomation state store ({detail}). It was left untouched: point GRIDAUTOMATION_STATE (or Set-GridConfiguration -StatePath) at another file, or move it aside to start a new store.",
                "StateStoreForeign") { Target = path };

        private static long WalLength(string full)
        {
            try { var fi = new FileInfo(full + "-wal"); return fi.Exists ? fi.Length : 0; }
            catch (Exception) { return 0; }
        }

        /// <summary>
        /// Creates a new store atomically: a private temp file beside it gets the application_id, WAL mode and the
        /// schema_version table, then is linked into place only if no file exists there (so no other process ever
        /// sees a 0-byte or half-made file). False when another process created the file first.
        /// </summary>
        private static bool CreateNew(string full, int timeoutSeconds)
        {
            string tmp = full + ".new-" + Guid.NewGuid().ToString("N").Substring(0, 8);
            try
            {
                var dir = System.IO.Path.GetDirectoryName(full);
                if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
                {
#if NET8_0_OR_GREATER
                    if (!OperatingSystem.IsWindows()) Directory.CreateDirectory(dir!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                    else
#endif
                    Directory.CreateDirectory(dir!);
                }
                CreateEmptyPrivateFile(tmp);
                var csb = new SqliteConnectionStringBuilder { DataSource = tmp, Mode = SqliteOpenMode.ReadWrite, DefaultTimeout = timeoutSeconds, Pooling = false };
                using (var c = new SqliteConnection(csb.ToString()))
                {
                    c.Open();
                    using var cmd = c.CreateCommand();
                    cmd.CommandText = "PRAGMA application_id = " + ApplicationId.ToString(CultureInfo.InvariantCulture) + "; PRAGMA journal_mode=WAL; "
                                      + "CREATE TABLE schema_version(component TEXT NOT NULL PRIMARY KEY, version INTEGER NOT NULL, updated_at TEXT NOT NULL);";
                    cmd.ExecuteNonQuery();
                }
                try { File.Move(tmp, full); } // no overwrite: fails if another process created the file meanwhile
                catch (IOException) when (File.Exists(full)) { return false; }
                return true;
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException || ex is SqliteException)
            {
                throw new GridException(GridErrorKind.StateStore, $"Cannot create the state store '{full}': {ex.Message}", "StateStoreCannotOpen", ex) { Target = full };
            }
            finally
            {
                foreach (var f in new[] { tmp, tmp + "-wal", tmp + "-shm" })
                    try { if (File.Exists(f)) File.Delete(f); } catch (Exception) { /* best effort */ }
            }
        }

        /// <summary>PRAGMA quick_check: the problems it reports (empty when the file is sound).</summary>
        private static List<string> QuickCheck(SqliteConnection c, int max)
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA quick_check(" + max.ToString(CultureInfo.InvariantCulture) + ");";
            var list = new List<string>();
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var line = r.IsDBNull(0) ? "" : r.GetString(0);
                if (!string.Equals(line, "ok", StringComparison.OrdinalIgnoreCase)) list.Add(line);
            }
            return list;
        }

        /// <summary>Runs PRAGMA quick_check on the store (Test-GridState). Empty when sound.</summary>
        public IReadOnlyList<string> QuickCheck(int maxErrors = 20) => ReadSqlite(c => QuickCheck(c, Math.Max(1, maxErrors)));

        /// <summary>The file's application_id (ours: <see cref="ApplicationId"/>; 0 on a file not yet stamped).</summary>
        public long ReadApplicationId() => ReadSqlite(c => { using var cmd = c.CreateCommand(); cmd.CommandText = "PRAGMA application_id;"; return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture); });

        /// <summary>Every component's schema version (core, simulator, ...).</summary>
        public IReadOnlyDictionary<string, int> GetSchemaVersions()
            => ReadSqlite(c =>
            {
                var d = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
                if (!VersionTableExists(c, null)) return (IReadOnlyDictionary<string, int>)d;
                using var cmd = c.CreateCommand();
                cmd.CommandText = "SELECT component, version FROM schema_version ORDER BY component";
                using var r = cmd.ExecuteReader();
                while (r.Read()) d[r.GetString(0)] = r.GetInt32(1);
                return d;
            });

        /// <summary>The schema version of the core this module writes.</summary>
        public static int CoreSchemaVersion => CoreMigrations.Length;

        /// <summary>Refuses a file that is not an SQLite database before SQLite touches it. A 0-byte file is refused too (SQLite would silently make it a new database).</summary>
        private static void CheckHeader(string full)
        {
            try
            {
                using var fs = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                if (fs.Length == 0) throw Foreign(full, "it is an empty (0-byte) file");
                var buf = new byte[100];
                int n = 0;
                while (n < buf.Length)
                {
                    int r = fs.Read(buf, n, buf.Length - n);
                    if (r <= 0) break;
                    n += r;
                }
                bool ok = n == buf.Length;
                for (int i = 0; ok && i < SqliteMagic.Length; i++) ok = buf[i] == SqliteMagic[i];
                if (!ok) throw Corrupt(full, null, "it is not an SQLite database");
            }
            catch (IOException ex)
            {
                throw new GridException(GridErrorKind.StateStore, $"Cannot read the state store '{full}': {ex.Message}", "StateStoreCannotOpen", ex) { Target = full };
            }
            catch (UnauthorizedAccessException ex)
            {
                throw new GridException(GridErrorKind.StateStore, $"Cannot read the state store '{full}': {ex.Message}", "StateStoreCannotOpen", ex) { Target = full };
            }
        }

        /// <summary>The StateStoreCorrupt error for this store (a component that finds a row it cannot read raises it).</summary>
        public GridException CorruptError(string detail, Exception? inner = null) => Corrupt(Path, inner, detail);

        private static GridException Corrupt(string path, Exception? inner, string detail)
            => new GridException(GridErrorKind.StateStore,
                $"The state store '{path}' is corrupt ({detail}). It was left untouched: move it aside or restore a backup, or point GRIDAUTOMATION_STATE at another file.",
                "StateStoreCorrupt", inner) { Target = path };

        private GridException Map(SqliteException ex)
        {
            int primary = ex.SqliteErrorCode & 0xFF;
            switch (primary)
            {
                case 5: // SQLITE_BUSY
                case 6: // SQLITE_LOCKED
                    return new GridException(GridErrorKind.StateStore,
                        $"The state store '{Path}' is locked by another writer (waited {_busyTimeout.TotalSeconds:0.#} s). Try again when the other GridAutomation session has finished.",
                        "StateStoreLocked", ex) { Target = Path, NativeCode = ex.SqliteErrorCode.ToString(CultureInfo.InvariantCulture), IsTransient = true };
                case 11: // SQLITE_CORRUPT
                case 26: // SQLITE_NOTADB
                    return Corrupt(Path, ex, ex.Message);
                case 8: // SQLITE_READONLY
                    return NotWritable(Path, null, ex);
                case 14: // SQLITE_CANTOPEN
                    return new GridException(GridErrorKind.StateStore, $"Cannot open the state store '{Path}': {ex.Message}", "StateStoreCannotOpen", ex) { Target = Path, NativeCode = ex.SqliteErrorCode.ToString(CultureInfo.InvariantCulture) };
                case 13: // SQLITE_FULL
                case 10: // SQLITE_IOERR
                    return new GridException(GridErrorKind.StateStore, $"I/O error on the state store '{Path}': {ex.Message}", "StateStoreIOError", ex) { Target = Path, NativeCode = ex.SqliteErrorCode.ToString(CultureInfo.InvariantCulture) };
                default:
                    return new GridException(GridErrorKind.StateStore, $"State store error on '{Path}': {ex.Message}", "StateStoreError", ex) { Target = Path, NativeCode = ex.SqliteErrorCode.ToString(CultureInfo.InvariantCulture) };
            }
        }

        private SqliteConnection OpenConnection()
        {
            if (_disposed) throw new ObjectDisposedException(nameof(StateStore));
            var c = new SqliteConnection(_connectionString);
            try
            {
                c.Open();
                using var cmd = c.CreateCommand();
                // Per-connection settings; none of them writes to the file.
                cmd.CommandText = "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;";
                cmd.ExecuteNonQuery();
                return c;
            }
            catch
            {
                c.Dispose();
                throw;
            }
        }

        public T Read<T>(Func<IStateSession, T> work) => ReadSqlite(c => work(new Session(c, null)));

        /// <summary>A read on the SQLite connection itself (file checks, PRAGMAs): only inside this class.</summary>
        private T ReadSqlite<T>(Func<SqliteConnection, T> work)
        {
            if (work == null) throw new ArgumentNullException(nameof(work));
            // Always its own connection (also inside a Write): in WAL mode a reader never waits for the writer.
            try
            {
                using var c = OpenConnection();
                return work(c);
            }
            catch (SqliteException ex) { throw Map(ex); }
        }

        public T Write<T>(Func<IStateSession, T> work)
        {
            if (work == null) throw new ArgumentNullException(nameof(work));
            if (NotWritableReason != null) throw NotWritable(Path, NotWritableReason, null);
            if (ReadOnly)
                throw new GridException(GridErrorKind.StateStore,
                    $"The state store '{Path}' is open read-only (-WhatIf): no change is written.", "StateStoreReadOnly") { Target = Path };
            var amb = _ambient;
            if (amb != null && ReferenceEquals(amb.Store, this))
            {
                return work(amb.Session); // a nested write joins the outer transaction
            }
            try
            {
                using var c = OpenConnection();
                using var tx = c.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: waits up to the busy timeout for the write lock
                var mine = new Ambient(this, new Session(c, tx)) { Outer = _ambient };
                _ambient = mine;
                T result;
                try { result = work(mine.Session); }
                finally { _ambient = mine.Outer; }
                EnsureWalPresent(); // before the commit: a commit into a deleted -wal would be lost at the next close or crash
                tx.Commit();
                return result;
            }
            catch (SqliteException ex) { throw Map(ex); }
        }

        /// <summary>
        /// In WAL mode the -wal file exists while any connection is open. If it vanished under us (deleted by hand,
        /// a cleaner), commits would go to an unlinked file and be lost: refuse the write and say so.
        /// </summary>
        private void EnsureWalPresent()
        {
            if (IsEphemeral) return;
            if (File.Exists(Path + "-wal")) return;
            throw new GridException(GridErrorKind.StateStore,
                $"The write-ahead log '{Path}-wal' of the state store vanished while the store was open: this change was not written, and changes committed since the log was removed may be lost. Close every GridAutomation session using this file, then run Test-GridState.",
                "StateStoreWalLost") { Target = Path };
        }

        public void EnsureComponentSchema(string component, params string[] migrations)
        {
            if (string.IsNullOrEmpty(component)) throw new ArgumentException("component is empty", nameof(component));
            if (string.Equals(component, CoreComponent, StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException("'core' is the store's own component name.", nameof(component));
            ApplyMigrations(component, migrations ?? new string[0], force: IsEphemeral);
        }

        /// <summary>The schema version recorded for a component (0 when none).</summary>
        public int GetSchemaVersion(string component) => ReadSqlite(c => ReadVersion(c, null, component));

        private static bool VersionTableExists(SqliteConnection c, SqliteTransaction? tx)
        {
            using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'";
            return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) > 0;
        }

        private static int ReadVersion(SqliteConnection c, SqliteTransaction? tx, string component)
        {
            if (!VersionTableExists(c, tx)) return 0;
            using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "SELECT version FROM schema_version WHERE component = $c";
            cmd.Parameters.AddWithValue("$c", component);
            var v = cmd.ExecuteScalar();
            return v == null || v is DBNull ? 0 : Convert.ToInt32(v, CultureInfo.InvariantCulture);
        }

        private GridException Newer(string component, int found, int known)
            => new GridException(GridErrorKind.StateStore,
                $"The state store '{Path}' has schema version {found} for '{component}', newer than this version of GridAutomation knows ({known}). Update the module, or use another state file; the file was left untouched.",
                "StateStoreNewerSchema") { Target = Path };

        /// <param name="force">Apply even though the store is read-only (only for the in-memory empty store).</param>
        private void ApplyMigrations(string component, string[] migrations, bool force)
        {
            int target = migrations.Length;
            int current = ReadSqlite(c => ReadVersion(c, null, component));
            if (current > target) throw Newer(component, current, target);
            if (current == target) return;
            if (NotWritableReason != null && !force) throw NotWritable(Path, NotWritableReason, null);
            if (ReadOnly && !force)
                throw new GridException(GridErrorKind.StateStore,
                    $"The state store '{Path}' needs an upgrade of '{component}' from schema version {current} to {target}, which cannot be done read-only (-WhatIf). Run any command without -WhatIf once.",
                    "StateStoreReadOnly") { Target = Path };
            WriteUnchecked((c, tx) =>
            {
                Exec(c, tx, "CREATE TABLE IF NOT EXISTS schema_version(component TEXT NOT NULL PRIMARY KEY, version INTEGER NOT NULL, updated_at TEXT NOT NULL)");
                int v = ReadVersion(c, tx, component); // re-read under the write lock: another process may have migrated meanwhile
                if (v > target) throw Newer(component, v, target);
                for (; v < target; v++) Exec(c, tx, migrations[v]);
                using var cmd = c.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = "INSERT INTO schema_version(component, version, updated_at) VALUES($c, $v, $t) ON CONFLICT(component) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at";
                cmd.Parameters.AddWithValue("$c", component);
                cmd.Parameters.AddWithValue("$v", target);
                cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture));
                cmd.ExecuteNonQuery();
                return 0;
            });
        }

        /// <summary>Write path used for migrations: the read-only refusal is decided by the caller.</summary>
        private T WriteUnchecked<T>(Func<SqliteConnection, SqliteTransaction, T> work)
        {
            try
            {
                using var c = OpenConnection();
                using var tx = c.BeginTransaction(deferred: false);
                var result = work(c, tx);
                tx.Commit();
                return result;
            }
            catch (SqliteException ex) { throw Map(ex); }
        }

        private static void Exec(SqliteConnection c, SqliteTransaction tx, string sql)
        {
            using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = sql;
            cmd.ExecuteNonQuery();
        }

        /// <summary>Closes pooled connections to this file (SQLite checkpoints the WAL when the last one closes).</summary>
        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            try
            {
                using var c = new SqliteConnection(_connectionString);
                SqliteConnection.ClearPool(c);
            }
            catch (Exception) { /* best effort */ }
            _memoryKeeper?.Dispose();
            _memoryKeeper = null;
        }

        // ---- small helpers for components -----------------------------------------------------------------------

        /// <summary>Formats a timestamp the way the store keeps them (UTC, ISO 8601 round-trip; sorts as text).</summary>
        public static string FormatTime(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

        public static DateTimeOffset ParseTime(string s)
            => DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

        public static DateTimeOffset? ParseTimeOrNull(object? value)
            => value == null || value is DBNull ? (DateTimeOffset?)null : ParseTime(Convert.ToString(value, CultureInfo.InvariantCulture)!);
    }
}
