using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using GridAutomation.Providers.Simulator;
using Microsoft.Data.Sqlite;

namespace GridAutomation.Provider.Simulator.Tests
{
    /// <summary>A retry policy that does not retry (the simulator tests look at raw provider behaviour).</summary>
    public sealed class NoRetry : IRetryPolicy
    {
        public Task<T> ExecuteAsync<T>(string datacenter, Func<CancellationToken, Task<T>> call, bool sdkRetries, CancellationToken cancellationToken) => call(cancellationToken);
    }

    /// <summary>A temp folder with a state store in it.</summary>
    public sealed class SimEnv : IDisposable
    {
        public SimEnv() : this("Sqlite") { }

        /// <summary>A store of <paramref name="backend"/> (Sqlite: a file here; PostgreSql: a new database in the run's cluster).</summary>
        public SimEnv(string backend)
        {
            Dir = Path.Combine(Path.GetTempPath(), "gridsim-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Dir);
            StatePath = Path.Combine(Dir, "state.db");
            Backend = backend;
            if (backend == "Sqlite") Store = StateStore.Open(StatePath, false);
            else
            {
                var missing = GridAutomation.Core.Tests.PgCluster.Missing();
                if (missing != null) Xunit.Assert.Fail("Prerequisite missing: " + missing);
                _db = GridAutomation.Core.Tests.PgCluster.Instance.NewDatabase();
                Store = GridAutomation.Core.Tests.PgCluster.Instance.Open(_db);
            }
        }

        private readonly string? _db;
        public string Backend { get; }
        /// <summary>Where a child process finds this store: the SQLite file, or "pg:" + the connection string (no password; the child gets PGPASSWORD).</summary>
        public string Location => _db == null ? StatePath : "pg:" + GridAutomation.Core.Tests.PgCluster.Instance.ConnectionString(_db);

        /// <summary>Opens the store a <see cref="Location"/> names (in a child process).</summary>
        public static IStateStore OpenLocation(string location)
            => location.StartsWith("pg:", StringComparison.Ordinal)
                ? GridAutomation.State.PostgreSql.PostgreSqlStateStore.Open(location.Substring(3), false, Environment.GetEnvironmentVariable("PGPASSWORD"))
                : StateStore.Open(location, false);

        /// <summary>A digest of every row of the simulator's and the journal's tables (PostgreSQL: proof that nothing was written).</summary>
        public string PostgreSqlDigest()
            => GridAutomation.Core.Tests.PgCluster.Instance.Admin(_db!, "SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM sim_workloads t), '') || coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM sim_datacenters t), '') || coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM sim_hosts t), '') || (SELECT count(*) FROM operations)::text || (SELECT string_agg(t::text, '|' ORDER BY t::text) FROM schema_version t))")!.ToString()!;
        public string Dir { get; }
        public string StatePath { get; }
        public IStateStore Store { get; private set; }

        public void Reopen(bool readOnly = false)
        {
            Store.Dispose();
            SqliteConnection.ClearAllPools();
            Store = _db == null ? StateStore.Open(StatePath, readOnly) : GridAutomation.Core.Tests.PgCluster.Instance.Open(_db, readOnly);
        }

        public static async Task<SimulatorConnection> ConnectAsync(IStateStore store, string name, IDictionary<string, string>? settings = null)
        {
            var dc = new GridDatacenter { Name = name, Provider = "Simulator" };
            if (settings != null) foreach (var kv in settings) dc.Settings[kv.Key] = kv.Value;
            var req = new ProviderConnectRequest { Datacenter = dc, Services = new ProviderServices(store, new NoRetry()) };
            return (SimulatorConnection)await new SimulatorProvider().ConnectAsync(req, CancellationToken.None);
        }

        public Task<SimulatorConnection> ConnectAsync(string name, IDictionary<string, string>? settings = null) => ConnectAsync(Store, name, settings);

        public void Dispose()
        {
            Store.Dispose();
            SqliteConnection.ClearAllPools();
            try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
