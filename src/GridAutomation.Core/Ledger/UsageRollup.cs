using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using GridAutomation.Core.Engine;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Ledger
{
    /// <summary>
    /// The ledger's daily roll-ups (table usage_daily, ledger schema version 2): every closed interval is cut at UTC
    /// midnights exactly as Get-GridUsage -GroupBy Day cuts it, and each piece is added to the row of its day, workload,
    /// datacenter, owner, consumer and currency in the same transaction that closes the interval. A report over whole
    /// days then adds up roll-up rows; only the partial days at its edges and the open intervals are read as intervals.
    /// </summary>
    public sealed partial class UsageLedger
    {
        private const string Sums = "duration_s, billed_s, cpu_s, mem_s, cost_s, unpriced_s, priced_n, estimated, min_start, max_end";
        private const string AddUp = @"
                duration_s = {0}.duration_s + excluded.duration_s, billed_s = {0}.billed_s + excluded.billed_s,
                cpu_s = {0}.cpu_s + excluded.cpu_s, mem_s = {0}.mem_s + excluded.mem_s,
                cost_s = {0}.cost_s + excluded.cost_s, unpriced_s = {0}.unpriced_s + excluded.unpriced_s,
                priced_n = {0}.priced_n + excluded.priced_n,
                estimated = CASE WHEN excluded.estimated > {0}.estimated THEN excluded.estimated ELSE {0}.estimated END,
                min_start = CASE WHEN excluded.min_start < {0}.min_start THEN excluded.min_start ELSE {0}.min_start END,
                max_end = CASE WHEN excluded.max_end > {0}.max_end THEN excluded.max_end ELSE {0}.max_end END";

        /// <summary>The two roll-up tables: per workload (usage_daily) and without it (usage_daily_totals, schema version 3).</summary>
        private static readonly (string Table, bool ByWorkload)[] RollupTables = { ("usage_daily", true), ("usage_daily_totals", false) };

        /// <summary>
        /// Pieces of closed intervals, added up in memory per roll-up row (day, workload, datacenter, owner, consumer,
        /// currency) and written with one multi-row upsert per <see cref="BatchRows"/> rows. Each key appears once per
        /// statement (PostgreSQL refuses to update a row twice in one upsert).
        /// </summary>
        private sealed class RollupBatch
        {
            private sealed class Row
            {
                public double Duration, Billed, Cpu, Mem, Cost, Unpriced;
                public long Priced;
                public bool Estimated;
                public DateTimeOffset MinStart, MaxEnd;
            }

            // Key of usage_daily; usage_daily_totals' key is the same with an empty workload.
            private readonly Dictionary<(string day, string w, string dc, string dco, string wo, string cur), Row>[] _rows =
                { new Dictionary<(string, string, string, string, string, string), Row>(), new Dictionary<(string, string, string, string, string, string), Row>() };

            /// <summary>Adds the pieces of interval <paramref name="i"/>, closed at <paramref name="end"/>, cut at UTC midnights.</summary>
            public void Add(UsageInterval i, DateTimeOffset end, bool estimated)
            {
                var rule = BillingRule.Find(i.BillingRule) ?? BillingRule.RateCard;
                var pieceStart = i.Start;
                bool priced = i.PricePerHour.HasValue;
                while (pieceStart < end)
                {
                    var nextDay = new DateTimeOffset(pieceStart.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
                    var pieceEnd = nextDay < end ? nextDay : end;
                    double billed = 0;
                    if (i.ComputeBilled)
                        billed = rule.Round(i.RunBeforeSeconds + (pieceEnd - i.Start).TotalSeconds) - rule.Round(i.RunBeforeSeconds + (pieceStart - i.Start).TotalSeconds);
                    var key = (pieceStart.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), i.WorkloadId, i.Datacenter,
                        i.DatacenterOwner ?? "", i.WorkloadOwner ?? "", priced ? i.Currency ?? "" : "");
                    for (int t = 0; t < _rows.Length; t++)
                    {
                        var k = RollupTables[t].ByWorkload ? key : (key.Item1, "", key.Item3, key.Item4, key.Item5, key.Item6);
                        if (!_rows[t].TryGetValue(k, out var r)) _rows[t][k] = r = new Row { MinStart = pieceStart, MaxEnd = pieceEnd };
                        r.Duration += (pieceEnd - pieceStart).TotalSeconds; r.Billed += billed; r.Cpu += i.CpuCount * billed; r.Mem += i.MemoryMB * billed;
                        r.Cost += priced ? (double)i.PricePerHour!.Value * billed : 0.0; r.Unpriced += priced ? 0.0 : billed; r.Priced += priced ? 1 : 0;
                        r.Estimated |= estimated;
                        if (pieceStart < r.MinStart) r.MinStart = pieceStart;
                        if (pieceEnd > r.MaxEnd) r.MaxEnd = pieceEnd;
                    }
                    pieceStart = pieceEnd;
                }
            }

            public void Write(IStateSession s)
            {
                for (int t = 0; t < _rows.Length; t++)
                {
                    var (table, byWorkload) = RollupTables[t];
                    string keys = byWorkload ? "day, workload_id, datacenter, datacenter_owner, workload_owner, currency" : "day, datacenter, datacenter_owner, workload_owner, currency";
                    foreach (var chunk in Chunks(_rows[t].ToList(), RowsPerStatement(s)))
                    {
                        var sql = new StringBuilder($"INSERT INTO {table}({keys}, {Sums}) VALUES ");
                        for (int k = 0; k < chunk.Count; k++)
                            sql.Append(k == 0 ? "" : ", ").Append(byWorkload ? $"(@day{k}, @w{k}, " : $"(@day{k}, ")
                                .Append($"@dc{k}, @dco{k}, @wo{k}, @cur{k}, @d{k}, @b{k}, @cpu{k}, @mem{k}, @cost{k}, @up{k}, @pn{k}, @est{k}, @s{k}, @e{k})");
                        sql.Append($" ON CONFLICT ({keys}) DO UPDATE SET ").Append(string.Format(CultureInfo.InvariantCulture, AddUp, table));
                        using var cmd = s.Command(sql.ToString());
                        for (int k = 0; k < chunk.Count; k++)
                        {
                            var (key, r) = (chunk[k].Key, chunk[k].Value);
                            cmd.Bind("@day" + k, key.day);
                            if (byWorkload) cmd.Bind("@w" + k, key.w);
                            cmd.Bind("@dc" + k, key.dc).Bind("@dco" + k, key.dco).Bind("@wo" + k, key.wo).Bind("@cur" + k, key.cur)
                                .Bind("@d" + k, r.Duration).Bind("@b" + k, r.Billed).Bind("@cpu" + k, r.Cpu).Bind("@mem" + k, r.Mem).Bind("@cost" + k, r.Cost)
                                .Bind("@up" + k, r.Unpriced).Bind("@pn" + k, r.Priced).Bind("@est" + k, r.Estimated ? 1 : 0)
                                .Bind("@s" + k, StateStore.FormatTime(r.MinStart)).Bind("@e" + k, StateStore.FormatTime(r.MaxEnd));
                        }
                        cmd.ExecuteNonQuery();
                    }
                    _rows[t].Clear();
                }
            }
        }

        private static bool RollupsBuilt(IStateSession s)
        {
            var v = s.Scalar("SELECT version FROM schema_version WHERE component = @c", ("@c", LedgerSchema.Component));
            if (v == null || v is DBNull || Convert.ToInt32(v, CultureInfo.InvariantCulture) < 2) return false;
            var b = s.Scalar("SELECT built FROM usage_rollup_state WHERE id = 1");
            return b != null && !(b is DBNull) && Convert.ToInt64(b, CultureInfo.InvariantCulture) == 1;
        }

        /// <summary>
        /// Recomputes every roll-up row from the closed intervals, in one transaction (returns how many intervals were added).
        /// Run by the first write after the ledger's schema reaches version 2 (intervals closed before it have no roll-ups
        /// yet); until then reports read the intervals. Safe to run again at any time.
        /// </summary>
        public int RebuildRollups()
        {
            EnsureSchemaOnly();
            return Store.Write(s =>
            {
                s.Execute("DELETE FROM usage_daily");
                s.Execute("DELETE FROM usage_daily_totals");
                var closed = new List<UsageInterval>();
                using (var cmd = s.Command($"SELECT {Columns} FROM usage_intervals WHERE end_time IS NOT NULL"))
                using (var r = cmd.ExecuteReader())
                    while (r.Read()) closed.Add(ReadInterval(r));
                var rollup = new RollupBatch();
                foreach (var i in closed) rollup.Add(i, i.End!.Value, i.Estimated);
                rollup.Write(s);
                s.Execute("UPDATE usage_rollup_state SET built = 1 WHERE id = 1");
                return closed.Count;
            });
        }

        /// <summary>The roll-ups of the whole UTC days [<paramref name="fromDay"/>, <paramref name="toDay"/>) (null = unbounded), filtered and grouped as asked.</summary>
        private void AddRollups(UsageQuery q, DateTimeOffset? fromDay, DateTimeOffset? toDay, Dictionary<(string?, string?, string?, string?, DateTime?), Acc> acc, Acc total)
        {
            var owners = Wildcard.CompileAll(q.Owners);
            var consumers = Wildcard.CompileAll(q.Consumers);
            var dcs = Wildcard.CompileAll(q.Datacenters);
            bool byWorkload = (q.GroupBy & UsageGroupBy.Workload) != 0, days = (q.GroupBy & UsageGroupBy.Day) != 0;
            string sql = $@"SELECT datacenter, datacenter_owner, workload_owner, {(byWorkload ? "workload_id" : "NULL")}, {(days ? "day" : "NULL")}, currency,
                    SUM(duration_s), SUM(billed_s), SUM(cpu_s), SUM(mem_s), SUM(cost_s), SUM(unpriced_s), SUM(priced_n), MAX(estimated), MIN(min_start), MAX(max_end)
                FROM {(byWorkload ? "usage_daily" : "usage_daily_totals")} WHERE day >= @fd AND day < @td
                GROUP BY datacenter, datacenter_owner, workload_owner, {(byWorkload ? "workload_id, " : "")}{(days ? "day, " : "")}currency";
            Store.Read(s =>
            {
                using var cmd = s.Command(sql);
                cmd.Bind("@fd", fromDay.HasValue ? fromDay.Value.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : "");
                cmd.Bind("@td", toDay.HasValue ? toDay.Value.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : "9999");
                using var r = cmd.ExecuteReader();
                while (r.Read())
                {
                    string dc = r.GetString(0), owner = r.GetString(1), consumer = r.GetString(2), currency = r.GetString(5);
                    if (!Wildcard.MatchesAny(dc, dcs) || !Wildcard.MatchesAny(owner, owners) || !Wildcard.MatchesAny(consumer, consumers)) continue;
                    string workload = r.IsDBNull(3) ? "" : r.GetString(3);
                    DateTime day = r.IsDBNull(4) ? default : DateTime.ParseExact(r.GetString(4), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
                    double D(int k) => r.IsDBNull(k) ? 0 : Convert.ToDouble(r.GetValue(k), CultureInfo.InvariantCulture);
                    decimal cost = (decimal)D(10) / 3600m;
                    bool priced = D(12) > 0, estimated = D(13) > 0;
                    var key = Key(q.GroupBy, owner.Length == 0 ? null : owner, consumer.Length == 0 ? null : consumer, dc, workload, day);
                    foreach (var a in new[] { Get(acc, key, q.GroupBy), total })
                        a.Add(D(6), D(7), D(8), D(9), cost, D(11), priced && currency.Length > 0 ? currency : null, estimated,
                            StateStore.ParseTime(r.GetString(14)), StateStore.ParseTime(r.GetString(15)));
                }
                return 0;
            });
        }
    }
}
