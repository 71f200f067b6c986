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
