using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using GridAutomation.Core.State;
using GridAutomation.State.PostgreSql;
using Npgsql;
using Xunit;

namespace GridAutomation.Core.Tests
{
    /// <summary>
    /// A fresh PostgreSQL 15 cluster for this test run: initdb into a temp folder (as the 'postgres' user when run as
    /// root: initdb refuses root), started on a free loopback port with scram-sha-256 and a random password, stopped
    /// and deleted when the test process exits. tests/GridAutomation.Core.Tests/setup.sh installs postgresql-15.
    /// </summary>
    public sealed class PgCluster : IDisposable
    {
        private static readonly Lazy<PgCluster> _instance = new Lazy<PgCluster>(() => new PgCluster(), LazyThreadSafetyMode.ExecutionAndPublication);
        public static PgCluster Instance => _instance.Value;

        public const string BinDir = "/usr/lib/postgresql/15/bin";
        public static bool RequireAll => Environment.GetEnvironmentVariable("GRIDAUTOMATION_REQUIRE_ALL") == "1";

        /// <summary>Why the PostgreSQL tests cannot run here, or null.</summary>
        public static string? Missing()
            => File.Exists(Path.Combine(BinDir, "initdb")) && File.Exists(Path.Combine(BinDir, "pg_ctl")) ? null
             : "PostgreSQL 15 is not installed (" + BinDir + "/initdb): run tests/GridAutomation.Core.Tests/setup.sh (or this project's) as root.";

        public int Port { get; }
        public string Password { get; } = Guid.NewGuid().ToString("N");
        private readonly string _dir;
        private int _dbCounter;

        /// <summary>A cluster of its own (for a test that stops or restarts the server, which the shared one must not see). Dispose stops it.</summary>
        public static PgCluster StartPrivate() => new PgCluster();

        private readonly bool _root = Environment.UserName == "root";
        private string DataDir => Path.Combine(_dir, "data");

        /// <summary>pg_ctl restart -m fast: every session is ended, the server comes back on the same port.</summary>
        public void Restart() => RunAs(_root, Path.Combine(BinDir, "pg_ctl"), "-D", DataDir, "-m", "fast", "-w", "-t", "60", "restart");

        /// <summary>pg_ctl stop -m fast (Start brings it back).</summary>
        public void Stop() => RunAs(_root, Path.Combine(BinDir, "pg_ctl"), "-D", DataDir, "-m", "fast", "-w", "-t", "60", "stop");

        public void Start() => RunAs(_root, Path.Combine(BinDir, "pg_ctl"), "-D", DataDir, "-l", Path.Combine(_dir, "log"), "-w", "-t", "60", "start",
            "-o", $"-p {Port} -k {_dir} -c listen_addresses=127.0.0.1 -c max_connections=200");

        private PgCluster()
        {
            var missing = Missing();
            if (missing != null) throw new InvalidOperationException(missing);
            RemoveStale();
            _dir = Path.Combine(Path.GetTempPath(), "gridpg-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(_dir);
            bool root = Environment.UserName == "root";
            string pw = Path.Combine(_dir, "pw");
            File.WriteAllText(pw, Password + "\n");
            if (root) Run("chown", "-R", "postgres:postgres", _dir);
            Port = FreePort();
            string data = Path.Combine(_dir, "data");
            RunAs(root, Path.Combine(BinDir, "initdb"), "-D", data, "-U", "postgres", "-A", "scram-sha-256", "--pwfile", pw, "-E", "UTF8", "--locale=C", "--no-sync");
            RunAs(root, Path.Combine(BinDir, "pg_ctl"), "-D", data, "-l", Path.Combine(_dir, "log"), "-w", "-t", "60", "start",
                "-o", $"-p {Port} -k {_dir} -c listen_addresses=127.0.0.1 -c max_connections=200");
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();
        }

        private int _disposed;

        /// <summary>Stops the server and deletes its folder (at process exit for the shared one).</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            try { RunAs(_root, Path.Combine(BinDir, "pg_ctl"), "-D", DataDir, "-m", "immediate", "-w", "stop"); } catch (Exception) { }
            try { Directory.Delete(_dir, true); } catch (Exception) { }
        }

        /// <summary>
        /// Folders of earlier runs whose server is stopped (no postmaster.pid): the test host may be ended before the
        /// exit handler has deleted them.
        /// </summary>
        private static void RemoveStale()
        {
            foreach (var d in Directory.GetDirectories(Path.GetTempPath(), "gridpg-*"))
            {
                if (File.Exists(Path.Combine(d, "data", "postmaster.pid"))) continue; // a live cluster (another run)
                if (Directory.GetCreationTimeUtc(d) > DateTime.UtcNow.AddMinutes(-1)) continue; // just being made
                try { Directory.Delete(d, true); } catch (Exception) { }
            }
        }

        private static int FreePort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int p = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return p;
        }

        private static void RunAs(bool root, string exe, params string[] args)
        {
            if (!root) { Run(exe, args); return; }
            var all = new string[args.Length + 4];
            all[0] = "-u"; all[1] = "postgres"; all[2] = "--"; all[3] = exe;
            Array.Copy(args, 0, all, 4, args.Length);
            Run("runuser", all);
        }

        private static void Run(string exe, params string[] args)
        {
            var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var outp = p.StandardOutput.ReadToEndAsync();
            if (!p.WaitForExit(120_000)) { p.Kill(); throw new TimeoutException(exe + " did not finish"); }
            if (p.ExitCode != 0) throw new InvalidOperationException($"{exe} {string.Join(" ", args)} exited {p.ExitCode}: {err.Result} {outp.Result}");
        }

        /// <summary>Connection string (without password) of database <paramref name="db"/>.</summary>
        public string ConnectionString(string db) => $"Host=127.0.0.1;Port={Port};Database={db};Username=postgres;Pooling=true;Timeout=15";

        public string AdminConnectionString => ConnectionString("postgres") + ";Password=" + Password;

        /// <summary>A new empty database (one per test: tests never see each other's rows).</summary>
        public string NewDatabase()
        {
            string db = "g" + Environment.ProcessId + "_" + Interlocked.Increment(ref _dbCounter);
            using var c = new NpgsqlConnection(AdminConnectionString);
            c.Open();
            using var cmd = new NpgsqlCommand("CREATE DATABASE " + db, c);
            cmd.ExecuteNonQuery();
            return db;
        }

        public PostgreSqlStateStore Open(string db, bool readOnly = false, TimeSpan? lockTimeout = null)
            => PostgreSqlStateStore.Open(ConnectionString(db), readOnly, Password, lockTimeout);

        /// <summary>Runs one statement as the superuser in <paramref name="db"/> (test setup and sabotage only).</summary>
        public object? Admin(string db, string sql)
        {
            using var c = new NpgsqlConnection(ConnectionString(db) + ";Pooling=false;Password=" + Password);
            c.Open();
            using var cmd = new NpgsqlCommand(sql, c);
            return cmd.ExecuteScalar();
        }
    }

    /// <summary>The store backends every store/journal test runs on (parameterised, so they cannot drift).</summary>
    public static class Backends
    {
        /// <summary>
        /// Both backends; PostgreSQL only where it can run or where it must (REQUIRE_ALL). Without it a user's clone
        /// runs the SQLite rows, and the [PostgreSqlFact] tests report skipped with the reason.
        /// </summary>
        public static TheoryData<string> All
        {
            get
            {
                var d = new TheoryData<string> { "Sqlite" };
                if (PgCluster.Missing() == null || PgCluster.RequireAll) d.Add("PostgreSql");
                return d;
            }
        }

        /// <summary>A fresh store of <paramref name="backend"/>: a file in <paramref name="tmp"/>, or a new database.</summary>
        public static IStateStore Open(string backend, TempDir tmp, string name = "state.db")
        {
            if (backend == "Sqlite") return StateStore.Open(tmp.File(name), false);
            return PgCluster.Instance.Open(Database(tmp, name));
        }

        /// <summary>The same store again (another "process"), or read-only.</summary>
        public static IStateStore Reopen(string backend, TempDir tmp, bool readOnly, string name = "state.db")
        {
            if (backend == "Sqlite") return StateStore.Open(tmp.File(name), readOnly);
            return PgCluster.Instance.Open(Database(tmp, name), readOnly);
        }

        private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _dbs = new System.Collections.Concurrent.ConcurrentDictionary<string, string>();
        private static string Database(TempDir tmp, string name)
        {
            var missing = PgCluster.Missing();
            if (missing != null) Assert.Fail("Prerequisite missing: " + missing);
            return _dbs.GetOrAdd(tmp.File(name), _ => PgCluster.Instance.NewDatabase());
        }
    }

    /// <summary>A fact that needs PostgreSQL 15: skipped with the reason where it is missing, unless REQUIRE_ALL (CI) makes that a failure.</summary>
    public sealed class PostgreSqlFactAttribute : FactAttribute
    {
        public PostgreSqlFactAttribute()
        {
            var missing = PgCluster.Missing();
            if (missing != null && !PgCluster.RequireAll) Skip = missing;
        }
    }
}
