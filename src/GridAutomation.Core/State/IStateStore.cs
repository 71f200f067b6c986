using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Data.Sqlite;

namespace GridAutomation.Core.State
{
    /// <summary>
    /// The SQLite state store (WAL, secure_delete). Every write goes through <see cref="Write{T}"/>, which refuses
    /// (throws GridException StateStore/"StateStoreReadOnly") while the store is read-only, as under -WhatIf.
    /// </summary>
    public interface IStateStore : IDisposable
    {
        string Path { get; }
        /// <summary>True under -WhatIf: no write transaction may be opened.</summary>
        bool ReadOnly { get; }
        /// <summary>Runs a read on a connection (no transaction is opened for writing).</summary>
        T Read<T>(Func<SqliteConnection, T> work);
        /// <summary>Runs work in one IMMEDIATE write transaction, committed if work returns.</summary>
        T Write<T>(Func<SqliteConnection, SqliteTransaction, T> work);
        /// <summary>
        /// Lets a component (e.g. a store-backed provider) own tables: applies its migrations in order, recording
        /// the component's schema version. Scripts at index i bring the component from version i to i+1.
        /// Throws StateStore/"StateStoreNewerSchema" if the file's version for the component is newer.
        /// </summary>
        void EnsureComponentSchema(string component, params string[] migrations);
    }

    /// <summary>The one retry/throttle policy (bounded retries with jitter, Retry-After honoured, per-datacenter concurrency limit).</summary>
    public interface IRetryPolicy
    {
        /// <summary>Runs a call for a datacenter, retrying transient GridExceptions (Throttled/Unavailable) unless <paramref name="sdkRetries"/>.</summary>
        Task<T> ExecuteAsync<T>(string datacenter, Func<CancellationToken, Task<T>> call, bool sdkRetries, CancellationToken cancellationToken);
    }
}
