using System;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Core.State
{
    /// <summary>
    /// The state store contract, one for every backend (SQLite: <see cref="StateStore"/>; PostgreSQL: the
    /// GridAutomation.State.PostgreSql assembly). The core, the journal and store-backed providers use only this:
    /// they get an <see cref="IStateSession"/> and pick backend-specific SQL by <see cref="Backend"/>.
    /// Every write goes through <see cref="Write{T}"/>, one transaction, which refuses
    /// (throws GridException StateStore/"StateStoreReadOnly") while the store is read-only, as under -WhatIf.
    /// </summary>
    public interface IStateStore : IDisposable
    {
        /// <summary>Where the state is: the SQLite file, or the PostgreSQL server/database (never a password).</summary>
        string Path { get; }
        StateBackend Backend { get; }
        /// <summary>True under -WhatIf: no write transaction may be opened.</summary>
        bool ReadOnly { get; }
        /// <summary>Runs a read on a connection (no transaction is opened for writing).</summary>
        T Read<T>(Func<IStateSession, T> work);
        /// <summary>Runs work in one IMMEDIATE write transaction, committed if work returns.</summary>
        T Write<T>(Func<IStateSession, T> work);
        /// <summary>
        /// Lets a component (e.g. a store-backed provider) own tables: applies its migrations in order, recording
        /// the component's schema version. Scripts at index i bring the component from version i to i+1; they are in
        /// this store's dialect (a component passes the list for <see cref="Backend"/>).
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
