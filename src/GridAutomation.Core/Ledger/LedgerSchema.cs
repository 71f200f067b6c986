using GridAutomation.Core.State;

namespace GridAutomation.Core.Ledger
{
    /// <summary>
    /// The ledger's tables (component "ledger", its own version numbers), in each backend's dialect.
    /// usage_intervals: one row per workload per state period; at most one open row (end_time NULL) per workload,
    /// enforced by a unique partial index, so two observers of the same change record it once. duration_s and billed_s
    /// are set when the interval closes (billed_s after the rule's rounding and minimum), so reports add closed rows up in SQL.
    /// rate_cards: an owner's prices, each from a time on.
    /// </summary>
    internal static class LedgerSchema
    {
        public const string Component = "ledger";

        private const string IntervalColumns = @"
                workload_id TEXT NOT NULL,
                workload_name TEXT,
                datacenter TEXT NOT NULL,
                provider TEXT NOT NULL,
                state TEXT NOT NULL,
                native_state TEXT,
                start_time TEXT NOT NULL,
                end_time TEXT,
                cpu INTEGER NOT NULL,
                memory_mb INTEGER NOT NULL,
                size TEXT,
                datacenter_owner TEXT,
                workload_owner TEXT,
                billed INTEGER NOT NULL,
                billing_rule TEXT NOT NULL,
                run_before_s DOUBLE PRECISION NOT NULL DEFAULT 0,
                list_price_per_hour NUMERIC,
                price_per_hour NUMERIC,
                price_source TEXT,
                currency TEXT,
                estimated INTEGER NOT NULL DEFAULT 0,
                source TEXT NOT NULL,
                operation_id TEXT,
                duration_s DOUBLE PRECISION,
                billed_s DOUBLE PRECISION)";

        private const string Indexes = @"
              CREATE UNIQUE INDEX ux_usage_open ON usage_intervals(workload_id) WHERE end_time IS NULL;
              CREATE INDEX ix_usage_start ON usage_intervals(start_time);
              CREATE INDEX ix_usage_workload ON usage_intervals(workload_id, start_time);";

        private const string RateCards = @"
              CREATE TABLE rate_cards(
                owner TEXT NOT NULL,
                owner_key TEXT NOT NULL,
                effective_from TEXT NOT NULL,
                price_cpu_hour NUMERIC NOT NULL,
                price_gb_hour NUMERIC NOT NULL,
                currency TEXT NOT NULL,
                set_at TEXT NOT NULL,
                PRIMARY KEY(owner_key, effective_from));";

        /// <summary>The sums of a roll-up row (usage_daily, usage_daily_totals).</summary>
        private const string RollupSums = @"
                duration_s DOUBLE PRECISION NOT NULL,
                billed_s DOUBLE PRECISION NOT NULL,
                cpu_s DOUBLE PRECISION NOT NULL,
                mem_s DOUBLE PRECISION NOT NULL,
                cost_s DOUBLE PRECISION NOT NULL,
                unpriced_s DOUBLE PRECISION NOT NULL,
                priced_n INTEGER NOT NULL,
                estimated INTEGER NOT NULL,
                min_start TEXT NOT NULL,
                max_end TEXT NOT NULL,";

        /// <summary>
        /// Version 2: usage_daily, the closed intervals' pieces per UTC day (split as Get-GridUsage -GroupBy Day splits them)
        /// added up per workload, datacenter, owner, consumer and currency, written in the transaction that closes an interval.
        /// Key columns hold '' for an unknown owner or currency. cost_s is price per hour × billed seconds (÷ 3600 = cost);
        /// priced_n counts the pieces that had a price. usage_rollup_state.built is 0 until the rows of intervals closed
        /// before this version were added (UsageLedger.RebuildRollups, run by the next write); reports use the roll-ups only once it is 1.
        /// </summary>
        private const string Daily = @"
              CREATE TABLE usage_daily(
                day TEXT NOT NULL,
                workload_id TEXT NOT NULL,
                datacenter TEXT NOT NULL,
                datacenter_owner TEXT NOT NULL,
                workload_owner TEXT NOT NULL,
                currency TEXT NOT NULL," + RollupSums + @"
                PRIMARY KEY(day, workload_id, datacenter, datacenter_owner, workload_owner, currency));
              CREATE TABLE usage_rollup_state(id INTEGER PRIMARY KEY, built INTEGER NOT NULL);
              INSERT INTO usage_rollup_state(id, built) VALUES(1, 0);";

        /// <summary>
        /// Version 3: (1) a covering partial index of the open intervals by datacenter, holding every column an observation
        /// compares, so Update-GridUsage reads a datacenter's open intervals from the index alone (no row look-ups into a
        /// table of millions of closed intervals); (2) usage_daily_totals, the same daily roll-ups without the workload
        /// (day, datacenter, owner, consumer, currency: a few rows a day), written with usage_daily, so a report not
        /// grouped by workload adds up a few hundred rows for a month instead of one row per workload and day. built
        /// is set back to 0: the next write fills the new table from the intervals (RebuildRollups).
        /// </summary>
        private const string OpenKeysAndTotals = @"
              CREATE INDEX ix_usage_open_keys ON usage_intervals(datacenter, workload_id, state, cpu, memory_mb, size, workload_owner, id) WHERE end_time IS NULL;
              CREATE TABLE usage_daily_totals(
                day TEXT NOT NULL,
                datacenter TEXT NOT NULL,
                datacenter_owner TEXT NOT NULL,
                workload_owner TEXT NOT NULL,
                currency TEXT NOT NULL," + RollupSums + @"
                PRIMARY KEY(day, datacenter, datacenter_owner, workload_owner, currency));
              UPDATE usage_rollup_state SET built = 0 WHERE id = 1;";

        public static readonly string[] Sqlite =
        {
            "CREATE TABLE usage_intervals(id INTEGER PRIMARY KEY," + IntervalColumns.Replace("DOUBLE PRECISION", "REAL") + ";" + Indexes + RateCards,
            Daily.Replace("DOUBLE PRECISION", "REAL"),
            OpenKeysAndTotals.Replace("DOUBLE PRECISION", "REAL"),
        };

        public static readonly string[] PostgreSql =
        {
            "CREATE TABLE usage_intervals(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY," + IntervalColumns.Replace("INTEGER", "BIGINT") + ";" + Indexes + RateCards,
            Daily.Replace("INTEGER", "BIGINT"),
            OpenKeysAndTotals.Replace("INTEGER", "BIGINT"),
        };

        /// <summary>
        /// What Copy-GridState needs to know of this component. The roll-ups (usage_daily, usage_daily_totals, usage_rollup_state) are not
        /// copied: the target's schema starts with built = 0, so its reports read intervals until its next ledger write
        /// rebuilds the roll-ups from the copied intervals (RebuildRollups clears them first).
        /// </summary>
        public static readonly StateComponent StateComponent = new StateComponent(Component, Sqlite, PostgreSql,
            ("usage_intervals", "id"), ("rate_cards", "owner_key, effective_from"));

        public static void Ensure(IStateStore store) => StateComponent.Ensure(store);
    }
}
