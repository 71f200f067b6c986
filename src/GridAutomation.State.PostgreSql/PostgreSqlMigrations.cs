using System.Linq;
using GridAutomation.Core.State;

namespace GridAutomation.State.PostgreSql
{
    /// <summary>
    /// The core schema in PostgreSQL's dialect, derived from SQLite's (StateStore.CoreMigrations) through
    /// <see cref="SqlDialect.SqliteToPostgreSql"/>: same versions, so version i of 'core' means the same tables and
    /// columns on both backends, and Copy-GridState and the version check agree. Differences: BIGINT for INTEGER, an
    /// identity column for <c>seq</c>, and a case-insensitive ICU collation named <c>nocase</c> (created first), so the
    /// shared SQL's <c>COLLATE NOCASE</c> means the same on both.
    /// </summary>
    internal static class PostgreSqlMigrations
    {
        internal const string NocaseCollation = "CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);\n";

        public static readonly string[] Core = StateStore.CoreMigrationsSqlite
            .Select((ddl, i) => (i == 0 ? NocaseCollation : "") + SqlDialect.SqliteToPostgreSql(ddl))
            .ToArray();
    }
}
