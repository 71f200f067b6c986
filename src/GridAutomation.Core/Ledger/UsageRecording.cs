using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Ledger
{
    /// <summary>
    /// Recording: the journal's changes and Update-GridUsage's observations become intervals. One transaction per call;
    /// the open intervals are read once (a light key per workload, from a covering index), compared in memory, and what
    /// changed is written in multi-row statements (closes, roll-ups, opens), never one round trip per row.
    /// </summary>
    public sealed partial class UsageLedger
    {
        /// <summary>Rows per multi-row statement on PostgreSQL (one round trip each; 22 parameters per opened row, far below its 65,535).</summary>
        internal const int BatchRows = 200;
        /// <summary>
        /// Rows per statement on SQLite for closes, roll-ups and reads by id: in-process, so no round trips to save, and
        /// binding a parameter looks its name up linearly (a statement of n parameters costs n²): 200 rows (4,400
        /// parameters) made opening 100,000 intervals take minutes. Opens, the bulk of a first observation, go as one
        /// JSON parameter per <see cref="SqliteJsonRows"/> rows instead (OpenMany).
        /// </summary>
        internal const int SqliteBatchRows = 16;

        private static int RowsPerStatement(IStateSession s) => s.Backend == StateBackend.PostgreSql ? BatchRows : SqliteBatchRows;

        /// <summary>
        /// Records what was seen of workloads of one datacenter at <paramref name="time"/>, in one transaction. A workload
        /// whose state, size, CPU, memory or owner differs from its open interval closes that interval at
        /// <paramref name="time"/> and opens a new one. With <paramref name="completeListing"/> (an observation of the whole
        /// datacenter), an open interval of a workload that was not seen is closed too (the workload is gone).
        /// Observations (source "Observation") flag what they close as Estimated: the change was not seen when it happened.
        /// Closing is conditional on the row still being open, and opening skips a workload that has an open row, so two
        /// observers of one change record it once.
        /// </summary>
        public GridUsageObservation Record(GridDatacenter datacenter, BillingRule rule, IReadOnlyCollection<GridWorkload> workloads, DateTimeOffset time,
            string source, string? operationId, bool completeListing, IReadOnlyCollection<string>? goneIds = null)
        {
            if (datacenter == null) throw new ArgumentNullException(nameof(datacenter));
            EnsureSchema();
            bool estimated = string.Equals(source, "Observation", StringComparison.Ordinal);
            var result = new GridUsageObservation { Datacenter = datacenter.Name, Time = time, Workloads = workloads.Count };
            var timings = result.Timings = new UsageRecordTimings();
            string t = StateStore.FormatTime(time);
            var total = Stopwatch.StartNew();
            Store.Write(s =>
            {
                var sw = Stopwatch.StartNew();
                // 1. The open intervals, light (seven columns, no parsing): one query for the datacenter.
                Dictionary<string, OpenKey> open;
                if (completeListing) open = ReadOpenKeys(s, "datacenter = @dc", ("@dc", datacenter.Name));
                else
                {
                    open = new Dictionary<string, OpenKey>(StringComparer.Ordinal);
                    foreach (var id in workloads.Select(w => w.Id).Concat(goneIds ?? Array.Empty<string>()))
                        foreach (var kv in ReadOpenKeys(s, "workload_id = @w", ("@w", id))) open[kv.Key] = kv.Value;
                }
                timings.LedgerRead = sw.Elapsed; sw.Restart();

                // 2. In memory: what changed, what is gone.
                var changed = new List<(GridWorkload w, OpenKey? key)>();
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var w in workloads)
                {
                    if (!seen.Add(w.Id)) continue;
                    open.TryGetValue(w.Id, out var key);
                    if (key != null && w.State != WorkloadState.Deleted && key.Same(w)) continue;
                    if (key == null && w.State == WorkloadState.Deleted) continue;
                    changed.Add((w, key));
                }
                var vanished = (completeListing
                    ? open.Values.Where(o => !seen.Contains(o.WorkloadId))
                    : open.Values.Where(o => goneIds != null && goneIds.Contains(o.WorkloadId))).ToList();
                timings.Diff = sw.Elapsed; sw.Restart();
                if (changed.Count == 0 && vanished.Count == 0) return 0;

                // 3. Full rows of what closes (batched by id), then the closes (conditional, batched) and their roll-ups.
                var rows = ReadIntervalsById(s, changed.Where(c => c.key != null).Select(c => c.key!.Id).Concat(vanished.Select(k => k.Id)));
                timings.LedgerRead += sw.Elapsed; sw.Restart();
                var closed = CloseMany(s, rows.Values, time, t, estimated);

                // 4. The next intervals: prices are read only when something opens (a steady-state observation opens none).
                IReadOnlyList<GridRateCard>? cards = null;
                IAgreementPrices? agreements = null;
                var opens = new List<PendingOpen>();
                var prices = new Dictionary<(string, int, long, decimal?), (decimal?, string?, string?)>();
                foreach (var (w, key) in changed)
                {
                    double runBefore = 0;
                    if (key != null)
                    {
                        if (!closed.Contains(key.Id)) continue; // another observer recorded this change first
                        var current = rows[key.Id];
                        result.Closed++;
                        if (estimated) result.Estimated++;
                        if (current.ComputeBilled && rule.IsBilled(w.State))
                            runBefore = current.RunBeforeSeconds + Math.Max(0, (time - current.Start).TotalSeconds);
                    }
                    if (w.State == WorkloadState.Deleted) continue;
                    cards ??= LoadRateCards(s);
                    agreements ??= Agreements.In(s);
                    decimal? list = ListPrice(w);
                    // The price depends only on the owner, the shape and the list price here (one datacenter, one time):
                    // resolved once per distinct combination, not once per workload.
                    var priceKey = (w.Owner ?? "", w.CpuCount ?? 0, w.MemoryMB ?? 0, list);
                    if (!prices.TryGetValue(priceKey, out var resolved))
                        prices[priceKey] = resolved = ResolvePrice(datacenter.Name, datacenter.Owner, w.Owner, w.CpuCount ?? 0, w.MemoryMB ?? 0, list, time, cards, agreements);
                    var (price, priceSource, currency) = resolved;
                    opens.Add(new PendingOpen(w, runBefore, list, price, priceSource, currency));
                }
                foreach (var k in vanished)
                {
                    if (!closed.Contains(k.Id)) continue;
                    result.Closed++;
                    if (estimated) result.Estimated++;
                }
                // In key order: the rows go into three indexes keyed by workload id (ux_usage_open, ix_usage_workload,
                // ix_usage_open_keys), and provider ids are often random (UUIDs). Inserted in listing order, every row
                // touched another page of each index, and once those indexes outgrew SQLite's page cache (2 MB) every
                // insert re-read and re-spilled pages: ~0.6 ms per opened interval at 20,000, ~5 ms at 100,000. In key
                // order each index fills its pages one after another.
                opens.Sort((a, b) => string.CompareOrdinal(a.Workload.Id, b.Workload.Id));
                result.Opened = OpenMany(s, datacenter, rule, opens, t, source, operationId);
                timings.Writes = sw.Elapsed;
                return 0;
            });
            timings.Commit = total.Elapsed - timings.LedgerRead - timings.Diff - timings.Writes;
            return result;
        }

        /// <summary>What an observation compares of an open interval: a change of any of these closes it.</summary>
        private sealed class OpenKey
        {
            public long Id;
            public string WorkloadId = "", State = "";
            public int Cpu;
            public long MemoryMB;
            public string? Size, Owner;

            public bool Same(GridWorkload w)
                => string.Equals(State, StateName(w.State), StringComparison.Ordinal)
                   && Cpu == (w.CpuCount ?? 0) && MemoryMB == (w.MemoryMB ?? 0)
                   && string.Equals(Size ?? "", w.Size ?? "", StringComparison.OrdinalIgnoreCase)
                   && string.Equals(Owner ?? "", w.Owner ?? "", StringComparison.OrdinalIgnoreCase);
        }

        private static readonly Dictionary<WorkloadState, string> _stateNames = Enum.GetValues(typeof(WorkloadState)).Cast<WorkloadState>().Distinct().ToDictionary(x => x, x => x.ToString());
        private static string StateName(WorkloadState s) => _stateNames.TryGetValue(s, out var n) ? n : s.ToString();

        private sealed class PendingOpen
        {
            public PendingOpen(GridWorkload w, double runBefore, decimal? list, decimal? price, string? priceSource, string? currency)
            { Workload = w; RunBefore = runBefore; ListPrice = list; Price = price; PriceSource = priceSource; Currency = currency; }
            public GridWorkload Workload { get; }
            public double RunBefore { get; }
            public decimal? ListPrice { get; }
            public decimal? Price { get; }
            public string? PriceSource { get; }
            public string? Currency { get; }
        }

        /// <summary>The open intervals' keys (read from the covering partial index ix_usage_open_keys, schema version 3).</summary>
        private static Dictionary<string, OpenKey> ReadOpenKeys(IStateSession s, string where, params (string, object?)[] args)
        {
            var d = new Dictionary<string, OpenKey>(StringComparer.Ordinal);
            using var cmd = s.Command($"SELECT id, workload_id, state, cpu, memory_mb, size, workload_owner FROM usage_intervals WHERE end_time IS NULL AND {where}");
            foreach (var (n, v) in args) cmd.Bind(n, v);
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var k = new OpenKey
                {
                    Id = r.GetInt64(0), WorkloadId = r.GetString(1), State = r.GetString(2),
                    Cpu = Convert.ToInt32(r.GetValue(3), CultureInfo.InvariantCulture), MemoryMB = Convert.ToInt64(r.GetValue(4), CultureInfo.InvariantCulture),
                    Size = r.IsDBNull(5) ? null : r.GetString(5), Owner = r.IsDBNull(6) ? null : r.GetString(6),
                };
                d[k.WorkloadId] = k;
            }
            return d;
        }

        /// <summary>The open intervals with these ids, full rows, <see cref="BatchRows"/> ids per query.</summary>
        private static Dictionary<long, UsageInterval> ReadIntervalsById(IStateSession s, IEnumerable<long> ids)
        {
            var d = new Dictionary<long, UsageInterval>();
            foreach (var chunk in Chunks(ids.Distinct().ToList(), RowsPerStatement(s)))
            {
                var sql = new StringBuilder($"SELECT {Columns} FROM usage_intervals WHERE end_time IS NULL AND id IN (");
                for (int i = 0; i < chunk.Count; i++) sql.Append(i == 0 ? "" : ", ").Append("@i").Append(i);
                using var cmd = s.Command(sql.Append(')').ToString());
                for (int i = 0; i < chunk.Count; i++) cmd.Bind("@i" + i, chunk[i]);
                using var r = cmd.ExecuteReader();
                while (r.Read()) { var iv = ReadInterval(r); d[iv.Id] = iv; }
            }
            return d;
        }

        /// <summary>
        /// Closes the intervals at <paramref name="time"/> with one UPDATE per <see cref="BatchRows"/> rows, each row only if
        /// it is still open (RETURNING says which were); the closed ones' pieces go into the daily roll-ups in the same
        /// transaction. Returns the ids this call closed.
        /// </summary>
        private static HashSet<long> CloseMany(IStateSession s, IEnumerable<UsageInterval> intervals, DateTimeOffset time, string t, bool estimated)
        {
            var closed = new HashSet<long>();
            var byId = new Dictionary<long, UsageInterval>();
            // In id order (the order they were opened in, so also near key order): the pages they leave are neighbours.
            foreach (var chunk in Chunks(intervals.OrderBy(i => i.Id).ToList(), RowsPerStatement(s)))
            {
                var sql = new StringBuilder("WITH v(id, e, d, b) AS (VALUES ");
                for (int k = 0; k < chunk.Count; k++) sql.Append(k == 0 ? "" : ", ").Append($"(@i{k}, @e{k}, @d{k}, @b{k})");
                sql.Append(@") UPDATE usage_intervals SET end_time = v.e, estimated = @est, duration_s = v.d, billed_s = v.b
                    FROM v WHERE usage_intervals.id = v.id AND usage_intervals.end_time IS NULL RETURNING usage_intervals.id");
                using var cmd = s.Command(sql.ToString());
                cmd.Bind("@est", estimated ? 1 : 0);
                for (int k = 0; k < chunk.Count; k++)
                {
                    var i = chunk[k];
                    double duration = Math.Max(0, (time - i.Start).TotalSeconds);
                    var rule = BillingRule.Find(i.BillingRule) ?? BillingRule.RateCard;
                    double billed = i.ComputeBilled ? rule.Round(i.RunBeforeSeconds + duration) - rule.Round(i.RunBeforeSeconds) : 0;
                    cmd.Bind("@i" + k, i.Id).Bind("@e" + k, time < i.Start ? StateStore.FormatTime(i.Start) : t).Bind("@d" + k, duration).Bind("@b" + k, billed);
                    byId[i.Id] = i;
                }
                using var r = cmd.ExecuteReader();
                while (r.Read()) closed.Add(r.GetInt64(0));
            }
            // Same transaction: a day's roll-up never misses (or counts twice) a closed interval.
            var rollup = new RollupBatch();
            foreach (var id in closed)
            {
                var i = byId[id];
                rollup.Add(i, time < i.Start ? i.Start : time, estimated);
            }
            rollup.Write(s);
            return closed;
        }

        private const string OpenColumns = @"INSERT INTO usage_intervals(workload_id, workload_name, datacenter, provider, state, native_state, start_time, end_time,
                    cpu, memory_mb, size, datacenter_owner, workload_owner, billed, billing_rule, run_before_s, list_price_per_hour, price_per_hour,
                    price_source, currency, estimated, source, operation_id) ";
        // ON CONFLICT: a concurrent observer already opened this workload's interval; the change is recorded once.
        private const string OpenConflict = " ON CONFLICT (workload_id) WHERE end_time IS NULL DO NOTHING RETURNING id";

        /// <summary>PostgreSQL: rows of parameters (one round trip per <see cref="BatchRows"/> rows).</summary>
        private static string OpenSql(int rows)
        {
            var sql = new StringBuilder(OpenColumns).Append("VALUES ");
            for (int k = 0; k < rows; k++)
                sql.Append(k == 0 ? "" : ", ").Append($"(@w{k}, @n{k}, @dc, @p, @st{k}, @ns{k}, @t, NULL, @cpu{k}, @mem{k}, @size{k}, @dco, @wo{k}, @b{k}, @rule, @rb{k}, @lp{k}, @pp{k}, @ps{k}, @cur{k}, 0, @src, @op)");
            return sql.Append(OpenConflict).ToString();
        }

        /// <summary>
        /// SQLite: the rows as one JSON array parameter, read by json_each. Every per-row parameter of a multi-row
        /// statement is a prepare-time and bind-time cost in SQLite (a name look-up linear in the statement's
        /// parameters, so a statement of n rows costs n²), and a statement per row costs a prepare and a bind per row;
        /// one text parameter per <see cref="SqliteJsonRows"/> rows costs neither.
        /// </summary>
        private const string OpenSqliteJson = OpenColumns + @"SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), @dc, @p,
                    json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]'), @t, NULL, json_extract(j.value, '$[4]'), json_extract(j.value, '$[5]'),
                    json_extract(j.value, '$[6]'), @dco, json_extract(j.value, '$[7]'), json_extract(j.value, '$[8]'), @rule, json_extract(j.value, '$[9]'),
                    json_extract(j.value, '$[10]'), json_extract(j.value, '$[11]'), json_extract(j.value, '$[12]'), json_extract(j.value, '$[13]'), 0, @src, @op
                FROM json_each(@rows) AS j WHERE true" + OpenConflict;

        /// <summary>Rows per SQLite statement of opens (one JSON parameter each).</summary>
        internal const int SqliteJsonRows = 2000;

        /// <summary>Opens the next intervals in batches; a workload that already has an open row (a concurrent observer) is skipped. Returns how many opened.</summary>
        private static int OpenMany(IStateSession s, GridDatacenter dc, BillingRule rule, IReadOnlyList<PendingOpen> opens, string t, string source, string? operationId)
        {
            int opened = 0;
            if (s.Backend == StateBackend.Sqlite)
            {
                using var cmd = s.Command(OpenSqliteJson);
                cmd.Bind("@dc", dc.Name).Bind("@p", dc.Provider).Bind("@t", t).Bind("@dco", dc.Owner).Bind("@rule", rule.Name).Bind("@src", source).Bind("@op", operationId).Bind("@rows", null);
                var rowsParam = cmd.Parameters[cmd.Parameters.Count - 1];
                foreach (var chunk in Chunks(opens, SqliteJsonRows))
                {
                    rowsParam.Value = OpenRowsJson(chunk, rule);
                    using var r = cmd.ExecuteReader();
                    while (r.Read()) opened++;
                }
                return opened;
            }
            foreach (var chunk in Chunks(opens, BatchRows))
            {
                using var cmd = s.Command(OpenSql(chunk.Count));
                cmd.Bind("@dc", dc.Name).Bind("@p", dc.Provider).Bind("@t", t).Bind("@dco", dc.Owner).Bind("@rule", rule.Name).Bind("@src", source).Bind("@op", operationId);
                for (int k = 0; k < chunk.Count; k++)
                {
                    var o = chunk[k];
                    var w = o.Workload;
                    cmd.Bind("@w" + k, w.Id).Bind("@n" + k, w.Name).Bind("@st" + k, StateName(w.State)).Bind("@ns" + k, w.NativeState)
                        .Bind("@cpu" + k, w.CpuCount ?? 0).Bind("@mem" + k, w.MemoryMB ?? 0).Bind("@size" + k, w.Size).Bind("@wo" + k, w.Owner)
                        .Bind("@b" + k, rule.IsBilled(w.State) ? 1 : 0).Bind("@rb" + k, o.RunBefore).Bind("@lp" + k, o.ListPrice).Bind("@pp" + k, o.Price)
                        .Bind("@ps" + k, o.PriceSource).Bind("@cur" + k, o.Currency);
                }
                using var r = cmd.ExecuteReader();
                while (r.Read()) opened++;
            }
            return opened;
        }

        /// <summary>
        /// One array per row, in the order of <see cref="OpenSqliteJson"/>'s columns. Prices are written as strings (as
        /// a bound decimal is: exact, then stored by the column's NUMERIC affinity), numbers as numbers.
        /// </summary>
        private static string OpenRowsJson(List<PendingOpen> rows, BillingRule rule)
        {
            using var buffer = new System.IO.MemoryStream();
            using (var j = new System.Text.Json.Utf8JsonWriter(buffer))
            {
                j.WriteStartArray();
                foreach (var o in rows)
                {
                    var w = o.Workload;
                    j.WriteStartArray();
                    j.WriteStringValue(w.Id); Str(j, w.Name); j.WriteStringValue(StateName(w.State)); Str(j, w.NativeState);
                    j.WriteNumberValue(w.CpuCount ?? 0); j.WriteNumberValue(w.MemoryMB ?? 0); Str(j, w.Size); Str(j, w.Owner);
                    j.WriteNumberValue(rule.IsBilled(w.State) ? 1 : 0); j.WriteNumberValue(o.RunBefore);
                    Str(j, o.ListPrice?.ToString(CultureInfo.InvariantCulture)); Str(j, o.Price?.ToString(CultureInfo.InvariantCulture));
                    Str(j, o.PriceSource); Str(j, o.Currency);
                    j.WriteEndArray();
                }
                j.WriteEndArray();
            }
            return Encoding.UTF8.GetString(buffer.ToArray());
        }

        private static void Str(System.Text.Json.Utf8JsonWriter j, string? v)
        {
            if (v == null) j.WriteNullValue(); else j.WriteStringValue(v);
        }

        private static IEnumerable<List<T>> Chunks<T>(IReadOnlyList<T> items, int size)
        {
            for (int i = 0; i < items.Count; i += size)
            {
                var c = new List<T>(Math.Min(size, items.Count - i));
                for (int k = i; k < items.Count && k < i + size; k++) c.Add(items[k]);
                yield return c;
            }
        }
    }

    /// <summary>Where one Record call spent its time (Update-GridUsage -Verbose prints it; bench/usage.ps1 reads it).</summary>
    public sealed class UsageRecordTimings
    {
        public TimeSpan LedgerRead { get; set; }
        public TimeSpan Diff { get; set; }
        public TimeSpan Writes { get; set; }
        public TimeSpan Commit { get; set; }

        public override string ToString()
            => string.Format(CultureInfo.InvariantCulture, "ledger read {0:0} ms, compare {1:0} ms, writes {2:0} ms, transaction and commit {3:0} ms",
                LedgerRead.TotalMilliseconds, Diff.TotalMilliseconds, Writes.TotalMilliseconds, Commit.TotalMilliseconds);
    }
}
