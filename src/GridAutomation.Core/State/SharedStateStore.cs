using System;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.State
{
    /// <summary>
    /// Chooses the store a configuration names (StateStore = Sqlite | PostgreSql). The PostgreSQL store lives in its own
    /// net8.0 assembly (GridAutomation.State.PostgreSql), which the module registers as <see cref="PostgreSqlOpener"/>
    /// when it loads on PowerShell 7; on Windows PowerShell 5.1 nothing is registered and choosing it is a clear error.
    /// </summary>
    public static class SharedStateStore
    {
        /// <summary>(connection string, read-only, password or null) → an open, migrated store.</summary>
        public static Func<string, bool, string?, IStateStore>? PostgreSqlOpener { get; set; }

        /// <summary>(connection string, read-only) → an open store logged in to with an Azure managed-identity token (StateAuthentication = AzureManagedIdentity).</summary>
        public static Func<string, bool, IStateStore>? PostgreSqlManagedIdentityOpener { get; set; }

        private static readonly object Gate = new object();
        private static string? _sessionConnection;
        private static string? _sessionPassword;

        /// <summary>Set by Connect-GridState: this session's connection string and password (kept in memory only).</summary>
        public static void SetSession(string? connectionString, string? password)
        {
            // Empty means none (PowerShell passes $null to a string parameter as "").
            lock (Gate)
            {
                _sessionConnection = string.IsNullOrEmpty(connectionString) ? null : connectionString;
                _sessionPassword = _sessionConnection == null || string.IsNullOrEmpty(password) ? null : password;
            }
        }

        /// <summary>True when Connect-GridState chose the shared store for this session.</summary>
        public static bool HasSession { get { lock (Gate) return _sessionConnection != null; } }

        /// <summary>Whether <paramref name="cfg"/> (or Connect-GridState) selects PostgreSQL.</summary>
        public static bool IsShared(GridConfiguration cfg)
            => HasSession || string.Equals(cfg.StateStore, GridConfiguration.PostgreSqlStore, StringComparison.OrdinalIgnoreCase);

        /// <summary>The connection string in effect (Connect-GridState's, else the configuration's); never holds a password.</summary>
        public static string ConnectionString(GridConfiguration cfg)
        {
            lock (Gate) return _sessionConnection ?? cfg.StateConnectionString;
        }

        /// <summary>Opens the shared store for <paramref name="cfg"/>.</summary>
        public static IStateStore Open(GridConfiguration cfg, bool readOnly)
        {
            var opener = PostgreSqlOpener ?? throw new GridException(GridErrorKind.Unsupported,
                "The PostgreSQL state store needs PowerShell 7 or later (Npgsql does not run on Windows PowerShell 5.1). Use pwsh, or Set-GridConfiguration -Name StateStore -Value Sqlite.",
                "StateStoreUnsupported") { Target = "StateStore" };
            string cs = ConnectionString(cfg);
            if (string.IsNullOrWhiteSpace(cs))
                throw GridException.InvalidRequest("StateStore is PostgreSql but no connection string is set: Set-GridConfiguration -Name StateConnectionString -Value 'Host=db;Database=grid;Username=grid', GRIDAUTOMATION_STATE_CONNECTION, or Connect-GridState -ConnectionString.", "InvalidConfiguration", "StateConnectionString");
            string? pw;
            lock (Gate) pw = _sessionPassword;
            if (pw == null && string.Equals(cfg.StateAuthentication, GridConfiguration.ManagedIdentityAuthentication, StringComparison.OrdinalIgnoreCase))
                return (PostgreSqlManagedIdentityOpener ?? throw new GridException(GridErrorKind.Unsupported, "Managed-identity login to the PostgreSQL state store needs PowerShell 7 or later.", "StateStoreUnsupported") { Target = "StateAuthentication" })(cs, readOnly);
            return opener(cs, readOnly, pw);
        }
    }
}
