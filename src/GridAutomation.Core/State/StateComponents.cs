using System;
using System.Collections.Generic;
using System.Linq;

namespace GridAutomation.Core.State
{
    /// <summary>
    /// A component that owns tables in the state store (its own schema versions, see
    /// <see cref="IStateStore.EnsureComponentSchema"/>): its migrations in both dialects and the tables
    /// Copy-GridState carries over, each with the columns that order its rows.
    /// </summary>
    public sealed class StateComponent
    {
        private readonly string[] _sqlite;
        private readonly string[] _postgreSql;

        public StateComponent(string name, string[] sqliteMigrations, string[] postgreSqlMigrations, params (string Table, string Order)[] tables)
        {
            Name = name ?? throw new ArgumentNullException(nameof(name));
            _sqlite = sqliteMigrations ?? throw new ArgumentNullException(nameof(sqliteMigrations));
            _postgreSql = postgreSqlMigrations ?? throw new ArgumentNullException(nameof(postgreSqlMigrations));
            Tables = tables ?? Array.Empty<(string, string)>();
        }

        public string Name { get; }
        public IReadOnlyList<(string Table, string Order)> Tables { get; }
        /// <summary>The version these migrations bring a store to.</summary>
        public int Version => _sqlite.Length;

        /// <summary>Creates or migrates the component's tables in <paramref name="store"/>, in its dialect.</summary>
        public void Ensure(IStateStore store)
            => store.EnsureComponentSchema(Name, store.Backend == StateBackend.PostgreSql ? _postgreSql : _sqlite);
    }

    /// <summary>Optional interface of an <see cref="Providers.IGridProvider"/> whose connections keep tables of their own (the simulator's).</summary>
    public interface IStateComponentOwner
    {
        StateComponent StateComponent { get; }
    }

    /// <summary>Every component with tables this module knows: the core's grid services, and the loaded providers that own tables.</summary>
    public static class StateComponents
    {
        private static readonly object Gate = new object();
        private static readonly List<StateComponent> Core = new List<StateComponent>();

        /// <summary>Called once by a core service that owns tables (its static constructor or schema class).</summary>
        public static void Register(StateComponent component)
        {
            lock (Gate)
            {
                Core.RemoveAll(c => string.Equals(c.Name, component.Name, StringComparison.OrdinalIgnoreCase));
                Core.Add(component);
            }
        }

        public static IReadOnlyList<StateComponent> Known
        {
            get
            {
                EnsureCoreRegistered();
                List<StateComponent> all;
                lock (Gate) all = new List<StateComponent>(Core);
                foreach (var p in Providers.ProviderRegistry.All.OfType<IStateComponentOwner>())
                    if (!all.Any(c => string.Equals(c.Name, p.StateComponent.Name, StringComparison.OrdinalIgnoreCase))) all.Add(p.StateComponent);
                return all;
            }
        }

        public static StateComponent? Find(string name)
            => Known.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));

        /// <summary>The core's own grid services (their schema classes are internal to this assembly).</summary>
        private static void EnsureCoreRegistered()
        {
            lock (Gate)
            {
                if (Core.Any(c => c.Name == Grid.GridData.Component)) return;
                Core.Add(Grid.GridData.StateComponent);
                Core.Add(Ledger.LedgerSchema.StateComponent);
                Core.Add(Replication.ReplicationData.StateComponent);
            }
        }
    }
}
