using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using Npgsql;

namespace GridAutomation.State.PostgreSql
{
    /// <summary>
    /// The shared state store on PostgreSQL (docs/state-store.md, 'PostgreSQL'). Same contract as the SQLite store:
    /// one transaction per <see cref="Write{T}"/>, writers serialized by a transaction-scoped advisory lock (the
    /// journal's lock/fencing logic relies on that, as it does on SQLite's IMMEDIATE transactions), the schema versioned
    /// per component and migrated under the same advisory lock, a newer schema refused.
    /// The password is never part of <see cref="Path"/>, errors or logs: it comes from the caller (Connect-GridState
    /// -StateCredential), PGPASSWORD or a .pgpass file (both read by Npgsql).
    /// </summary>
    public sealed class PostgreSqlStateStore : IStateStore
    {
        /// <summary>Advisory lock key of every write transaction and migration ("GRID").</summary>
        public const long WriteLockKey = 0x47524944;

        [ThreadStatic] private static Ambient? _ambient;

        private sealed class Ambient
        {
            public Ambient(PostgreSqlStateStore store, Session session) { Store = store; Session = session; }
            public PostgreSqlStateStore Store { get; }
            public Session Session { get; }
            public Ambient? Outer { get; set; }
        }

        private sealed class Session : IStateSession
        {
            private readonly NpgsqlConnection _c;
            private readonly NpgsqlTransaction? _tx;
            public Session(NpgsqlConnection c, NpgsqlTransaction? tx) { _c = c; _tx = tx; }
            public StateBackend Backend => StateBackend.PostgreSql;
            public bool InTransaction => _tx != null;
            public DbCommand Command(string sql) => new NpgsqlCommand(sql, _c, _tx);
        }

        private readonly NpgsqlDataSource _source;
        private AzureManagedIdentityToken? _token;
        private readonly TimeSpan _lockTimeout;
        private bool _disposed;

        public string Path { get; }
        public bool ReadOnly { get; }
        public StateBackend Backend => StateBackend.PostgreSql;

        private PostgreSqlStateStore(NpgsqlDataSource source, string display, bool readOnly, TimeSpan lockTimeout)
        {
            _source = source; Path = display; ReadOnly = readOnly; _lockTimeout = lockTimeout;
        }

        /// <summary>Where the store is, without any secret: <c>postgresql://user@host:port/database</c>.</summary>
        public static string Describe(string connectionString)
        {
            var b = new NpgsqlConnectionStringBuilder(connectionString);
            string user = string.IsNullOrEmpty(b.Username) ? "" : b.Username + "@";
            return $"postgresql://{user}{b.Host}:{b.Port}/{b.Database}";
        }

        /// <summary>
        /// Opens the store at <paramref name="connectionString"/> (which should carry no password; <paramref name="password"/>
        /// is kept only in memory) and, unless read-only, creates or migrates the core schema.
        /// </summary>
        /// <param name="token">Azure managed identity: its token is the password of each new physical connection (asked again before it expires). The store owns it.</param>
        public static PostgreSqlStateStore Open(string connectionString, bool readOnly, string? password = null, TimeSpan? lockTimeout = null, AzureManagedIdentityToken? token = null)
        {
            if (string.IsNullOrWhiteSpace(connectionString))
                throw new GridException(GridErrorKind.InvalidRequest, "The PostgreSQL state store needs a connection string (Set-GridConfiguration -Name StateConnectionString, or GRIDAUTOMATION_STATE_CONNECTION).", "InvalidConfiguration");
            NpgsqlConnectionStringBuilder b;
            try { b = new NpgsqlConnectionStringBuilder(connectionString); }
            catch (ArgumentException ex)
            {
                throw new GridException(GridErrorKind.InvalidRequest, $"The state connection string is not valid: {ex.Message}", "InvalidConfiguration", ex);
            }
            if (password != null) b.Password = password;
            if (string.IsNullOrEmpty(b.ApplicationName)) b.ApplicationName = "GridAutomation";
            string display = Describe(connectionString);
            NpgsqlDataSource source;
            if (token == null) source = NpgsqlDataSource.Create(b.ConnectionString);
            else
            {
                var builder = new NpgsqlDataSourceBuilder(b.ConnectionString);
                builder.UsePasswordProvider(_ => token.Get(), (_, ct) => token.GetAsync(ct));
                source = builder.Build();
            }
            var store = new PostgreSqlStateStore(source, display, readOnly, lockTimeout ?? StateStore.DefaultBusyTimeout) { _token = token };
            try
            {
                store.ApplyMigrations(StateStore.CoreComponent, PostgreSqlMigrations.Core);
                return store;
            }
            catch
            {
                store.Dispose();
                throw;
            }
        }

        private NpgsqlConnection OpenConnection()
        {
            if (_disposed) throw new ObjectDisposedException(nameof(PostgreSqlStateStore));
            return _source.OpenConnection();
        }

        public T Read<T>(Func<IStateSession, T> work)
        {
            if (work == null) throw new ArgumentNullException(nameof(work));
            try
            {
                using var c = OpenConnection();
                return work(new Session(c, null));
            }
            catch (NpgsqlException ex) { throw Map(ex); }
        }

        public T Write<T>(Func<IStateSession, T> work)
        {
            if (work == null) throw new ArgumentNullException(nameof(work));
            if (ReadOnly)
                throw new GridException(GridErrorKind.StateStore,
                    $"The state store '{Path}' is open read-only (-WhatIf): no change is written.", "StateStoreReadOnly") { Target = Path };
            var amb = _ambient;
            if (amb != null && ReferenceEquals(amb.Store, this)) return work(amb.Session); // a nested write joins the outer transaction
            return WriteLocked(work);
        }

        /// <summary>One transaction holding the store's write lock; committed if <paramref name="work"/> returns.</summary>
        private T WriteLocked<T>(Func<IStateSession, T> work)
        {
            try
            {
                using var c = OpenConnection();
                using var tx = c.BeginTransaction();
                using (var lk = new NpgsqlCommand("SELECT set_config('lock_timeout', @t, true); SELECT pg_advisory_xact_lock(@k);", c, tx))
                {
                    lk.Parameters.AddWithValue("t", ((long)_lockTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms");
                    lk.Parameters.AddWithValue("k", WriteLockKey);
                    lk.ExecuteNonQuery();
                }
                var mine = new Ambient(this, new Session(c, tx)) { Outer = _ambient };
                _ambient = mine;
                T result;
                try { result = work(mine.Session); }
                finally { _ambient = mine.Outer; }
                tx.Commit();
                return result;
            }
            catch (NpgsqlException ex) { throw Map(ex); }
        }

        public void EnsureComponentSchema(string component, params string[] migrations)
        {
            if (string.IsNullOrEmpty(component)) throw new ArgumentException("component is empty", nameof(component));
            if (string.Equals(component, StateStore.CoreComponent, StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException("'core' is the store's own component name.", nameof(component));
            ApplyMigrations(component, migrations ?? new string[0]);
        }

        /// <summary>The schema version recorded for a component (0 when none).</summary>
        public int GetSchemaVersion(string component) => Read(s => ReadVersion(s, component));

        public IReadOnlyDictionary<string, int> GetSchemaVersions()
            => Read(s =>
            {
                var d = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
                if (!VersionTableExists(s)) return (IReadOnlyDictionary<string, int>)d;
                using var cmd = s.Command("SELECT component, version FROM schema_version");
                using var r = cmd.ExecuteReader();
                while (r.Read()) d[r.GetString(0)] = Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture);
                return d;
            });

        private static bool VersionTableExists(IStateSession s)
            => s.Scalar("SELECT to_regclass('schema_version') IS NOT NULL") is bool b && b;

        private static int ReadVersion(IStateSession s, string component)
        {
            if (!VersionTableExists(s)) return 0;
            var v = s.Scalar("SELECT version FROM schema_version WHERE component = @c", ("c", component));
            return v == null ? 0 : Convert.ToInt32(v, CultureInfo.InvariantCulture);
        }

        private GridException Newer(string component, int found, int known)
            => new GridException(GridErrorKind.StateStore,
                $"The state store '{Path}' has schema version {found} for '{component}', newer than this version of GridAutomation knows ({known}). Update the module; the database was left untouched.",
                "StateStoreNewerSchema") { Target = Path };

        private void ApplyMigrations(string component, string[] migrations)
        {
            int target = migrations.Length;
            int current = Read(s => ReadVersion(s, component));
            if (current > target) throw Newer(component, current, target);
            if (current == target) return;
            if (ReadOnly)
                throw new GridException(GridErrorKind.StateStore,
                    $"The state store '{Path}' needs '{component}' at schema version {target} (it has {current}), which cannot be done read-only (-WhatIf). Run any command without -WhatIf once.",
                    "StateStoreReadOnly") { Target = Path };
            WriteLocked(s =>
            {
                // Under the advisory lock: another process may have migrated meanwhile, so read the version again.
                s.Execute("CREATE TABLE IF NOT EXISTS schema_version(component TEXT NOT NULL PRIMARY KEY, version BIGINT NOT NULL, updated_at TEXT NOT NULL)");
                int v = ReadVersion(s, component);
                if (v > target) throw Newer(component, v, target);
                for (; v < target; v++) s.Execute(migrations[v]);
                s.Execute("INSERT INTO schema_version(component, version, updated_at) VALUES(@c, @v, @t) ON CONFLICT(component) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                    ("c", component), ("v", (long)target), ("t", DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture)));
                return 0;
            });
        }

        /// <summary>
        /// One GridException per failure. A lost connection (server restart, pg_terminate_backend, network) is
        /// transient: the step's transaction was rolled back as a whole, so the command can be retried or resumed.
        /// </summary>
        private GridException Map(NpgsqlException ex)
        {
            // Our own error from inside Npgsql (the managed-identity token could not be had): as it is.
            for (Exception? inner = ex.InnerException; inner != null; inner = inner.InnerException)
                if (inner is GridException own) return own;
            string? state = (ex as PostgresException)?.SqlState;
            string code = state ?? "";
            if (state == "55P03" || state == "40001" || state == "40P01")
                return new GridException(GridErrorKind.StateStore, $"The state store '{Path}' is busy (another writer held its lock past {_lockTimeout.TotalSeconds:0.#} s); nothing was written. Try again.", "StateStoreLocked", ex) { Target = Path, NativeCode = code, IsTransient = true };
            if (state == "28P01" || state == "28000" || state == "3D000")
                return new GridException(GridErrorKind.StateStore, $"Cannot open the state store '{Path}': {ex.Message} (the password comes from Connect-GridState -StateCredential, PGPASSWORD or a .pgpass file).", "StateStoreCannotOpen", ex) { Target = Path, NativeCode = code };
            if (state == null || state.StartsWith("08", StringComparison.Ordinal) || state.StartsWith("57P", StringComparison.Ordinal) || ex.IsTransient)
                return new GridException(GridErrorKind.StateStore, $"The connection to the state store '{Path}' was lost or refused ({ex.Message}); this step was not written (it is one transaction). Try again; an interrupted operation resumes with Resume-GridOperation.", "StateStoreUnavailable", ex) { Target = Path, NativeCode = code, IsTransient = true };
            return new GridException(GridErrorKind.StateStore, $"State store error on '{Path}': {ex.Message}", "StateStoreError", ex) { Target = Path, NativeCode = code };
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _source.Dispose();
            _token?.Dispose();
        }
    }
}
