using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.Linq;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Ledger
{
    /// <summary>
    /// The usage ledger (component "ledger"): records intervals from the changes the module makes and from
    /// observations (Update-GridUsage), and keeps the owners' rate cards. Reading never writes: a store without the
    /// ledger's tables reads as an empty ledger.
    /// </summary>
    public sealed partial class UsageLedger
    {
        private const string Columns = "id, workload_id, workload_name, datacenter, provider, state, native_state, start_time, end_time, cpu, memory_mb, size, datacenter_owner, workload_owner, billed, billing_rule, run_before_s, list_price_per_hour, price_per_hour, price_source, currency, estimated, source, operation_id";
        public const string DefaultCurrency = "USD";

        public UsageLedger(IStateStore store, IAgreementPrices? agreements = null)
        {
            Store = store ?? throw new ArgumentNullException(nameof(store));
            Agreements = agreements ?? NoAgreementPrices.Instance;
        }

        public IStateStore Store { get; }
        public IAgreementPrices Agreements { get; }

        private bool _rollupsReady;

        /// <summary>Makes the ledger's tables (and, once after the upgrade to schema version 2, the roll-ups of intervals closed before it).</summary>
        public void EnsureSchema()
        {
            EnsureSchemaOnly();
            if (_rollupsReady) return;
            if (!Store.Read(RollupsBuilt)) RebuildRollups();
            _rollupsReady = true;
        }

        private void EnsureSchemaOnly() => LedgerSchema.Ensure(Store);

        /// <summary>Whether the ledger's tables exist (read only; never creates them).</summary>
        public bool HasSchema()
            => Store.Read(s => s.Scalar("SELECT version FROM schema_version WHERE component = @c", ("@c", LedgerSchema.Component))) != null;

        // ---- recording ---------------------------------------------------------------------------------------

        /// <summary>
        /// Records what was seen of workloads of one datacenter at <paramref name="time"/>, in one transaction. A workload
        /// whose state, size, CPU, memory or owner differs from its open interval closes that interval at
        /// <paramref name="time"/> and opens a new one. With <paramref name="completeListing"/> (an observation of the whole
        /// datacenter), an open interval of a workload that was not seen is closed too (the workload is gone).
        /// Observations (source "Observation") flag what they close as Estimated: the change was not seen when it happened.
        /// Closing is conditional on the row still being open, so two observers of one change record it once.
        /// </summary>
        public GridUsageObservation Record(GridDatacenter datacenter, BillingRule rule, IReadOnlyCollection<GridWorkload> workloads, DateTimeOffset time,
            string source, string? operationId, bool completeListing, IReadOnlyCollection<string>? goneIds = null)
        {
            if (datacenter == null) throw new ArgumentNullException(nameof(datacenter));
            EnsureSchema();
            bool estimated = string.Equals(source, "Observation", StringComparison.Ordinal);
            var result = new GridUsageObservation { Datacenter = datacenter.Name, Time = time, Workloads = workloads.Count };
            string t = StateStore.FormatTime(time);
            return Store.Write(s =>
            {
                // Rate cards and agreements are read only when an interval opens (a steady-state observation opens none).
                IReadOnlyList<GridRateCard>? cards = null;
                IAgreementPrices? agreements = null;
                // What is compared is read light (six columns, no parsing); the full row only of what changed.
                Dictionary<string, OpenKey> open;
                if (completeListing) open = ReadOpenKeys(s, "datacenter = @dc", ("@dc", datacenter.Name));
                else
                {
                    open = new Dictionary<string, OpenKey>(StringComparer.Ordinal);
                    foreach (var id in workloads.Select(w => w.Id).Concat(goneIds ?? Array.Empty<string>()))
                        foreach (var kv in ReadOpenKeys(s, "workload_id = @w", ("@w", id))) open[kv.Key] = kv.Value;
                }
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var w in workloads)
                {
                    if (!seen.Add(w.Id)) continue;
                    open.TryGetValue(w.Id, out var key);
                    bool gone = w.State == WorkloadState.Deleted;
                    if (key != null && !gone && key.Same(w)) continue;
                    double runBefore = 0;
                    var current = key == null ? null : ReadOpenById(s, key.Id);
                    if (current != null)
                    {
                        if (!Close(s, current, time, t, estimated)) continue; // another observer recorded this change first
                        result.Closed++;
                        if (estimated) result.Estimated++;
                        if (current.ComputeBilled && rule.IsBilled(w.State))
                            runBefore = current.RunBeforeSeconds + Math.Max(0, (time - current.Start).TotalSeconds);
                    }
                    if (gone) continue;
                    cards ??= LoadRateCards(s);
                    agreements ??= Agreements.In(s);
                    if (Open(s, datacenter, rule, w, time, t, runBefore, source, operationId, cards, agreements)) result.Opened++;
                }
                IEnumerable<OpenKey> vanished = completeListing
                    ? open.Values.Where(o => !seen.Contains(o.WorkloadId))
                    : open.Values.Where(o => goneIds != null && goneIds.Contains(o.WorkloadId));
                foreach (var k in vanished.ToList())
                {
                    var o = ReadOpenById(s, k.Id);
                    if (o == null || !Close(s, o, time, t, estimated)) continue;
                    result.Closed++;
                    if (estimated) result.Estimated++;
                }
                return result;
            });
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
                => string.Equals(State, w.State.ToString(), StringComparison.Ordinal)
                   && Cpu == (w.CpuCount ?? 0) && MemoryMB == (w.MemoryMB ?? 0)
                   && string.Equals(Size ?? "", w.Size ?? "", StringComparison.OrdinalIgnoreCase)
                   && string.Equals(Owner ?? "", w.Owner ?? "", StringComparison.OrdinalIgnoreCase);
        }

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

        private static UsageInterval? ReadOpenById(IStateSession s, long id)
        {
            foreach (var i in ReadOpen(s, "id = @id", ("@id", id)).Values) return i;
            return null;
        }

        private static bool Close(IStateSession s, UsageInterval i, DateTimeOffset time, string t, bool estimated)
        {
            string end = time < i.Start ? StateStore.FormatTime(i.Start) : t;
            double duration = Math.Max(0, (time - i.Start).TotalSeconds);
            var rule = BillingRule.Find(i.BillingRule) ?? BillingRule.RateCard;
            double billed = i.ComputeBilled ? rule.Round(i.RunBeforeSeconds + duration) - rule.Round(i.RunBeforeSeconds) : 0;
            if (s.Execute("UPDATE usage_intervals SET end_time = @e, estimated = @est, duration_s = @d, billed_s = @b WHERE id = @id AND end_time IS NULL",
                ("@e", end), ("@est", estimated ? 1 : 0), ("@d", duration), ("@b", billed), ("@id", i.Id)) != 1) return false;
            AddToRollup(s, i, time < i.Start ? i.Start : time, estimated); // same transaction: the day's roll-up never misses a closed interval
            return true;
        }

        private bool Open(IStateSession s, GridDatacenter dc, BillingRule rule, GridWorkload w, DateTimeOffset time, string t, double runBefore,
            string source, string? operationId, IReadOnlyList<GridRateCard> cards, IAgreementPrices agreements)
        {
            decimal? list = ListPrice(w);
            var (price, priceSource, currency) = ResolvePrice(dc.Name, dc.Owner, w.Owner, w.CpuCount ?? 0, w.MemoryMB ?? 0, list, time, cards, agreements);
            // ON CONFLICT: a concurrent observer already opened this workload's interval; the change is recorded once.
            int n = s.Execute(@"INSERT INTO usage_intervals(workload_id, workload_name, datacenter, provider, state, native_state, start_time, end_time,
                    cpu, memory_mb, size, datacenter_owner, workload_owner, billed, billing_rule, run_before_s, list_price_per_hour, price_per_hour,
                    price_source, currency, estimated, source, operation_id)
                VALUES(@w, @n, @dc, @p, @st, @ns, @t, NULL, @cpu, @mem, @size, @dco, @wo, @b, @rule, @rb, @lp, @pp, @ps, @cur, 0, @src, @op)
                ON CONFLICT (workload_id) WHERE end_time IS NULL DO NOTHING",
                ("@w", w.Id), ("@n", w.Name), ("@dc", dc.Name), ("@p", dc.Provider), ("@st", w.State.ToString()), ("@ns", w.NativeState), ("@t", t),
                ("@cpu", w.CpuCount ?? 0), ("@mem", w.MemoryMB ?? 0), ("@size", w.Size), ("@dco", dc.Owner), ("@wo", w.Owner),
                ("@b", rule.IsBilled(w.State) ? 1 : 0), ("@rule", rule.Name), ("@rb", runBefore), ("@lp", list), ("@pp", price), ("@ps", priceSource),
                ("@cur", currency), ("@src", source), ("@op", operationId));
            return n == 1;
        }

        private static decimal? ListPrice(GridWorkload w)
        {
            if (w.Properties != null && w.Properties.TryGetValue("PricePerHour", out var p) && p != null)
            {
                try { return Convert.ToDecimal(p, CultureInfo.InvariantCulture); } catch (FormatException) { } catch (InvalidCastException) { }
            }
            return null;
        }

        /// <summary>
        /// The price per hour of a workload's billed time: the agreement between the datacenter's owner and the workload's
        /// owner (when they differ), else the size's list price, else the datacenter owner's rate card in effect at <paramref name="time"/>.
        /// </summary>
        internal (decimal? price, string? source, string? currency) ResolvePrice(string datacenter, string? owner, string? consumer, int cpu, long memoryMB,
            decimal? listPrice, DateTimeOffset time, IReadOnlyList<GridRateCard> cards, IAgreementPrices agreements)
        {
            decimal gb = memoryMB / 1024m;
            if (!string.IsNullOrEmpty(owner) && !string.IsNullOrEmpty(consumer) && !string.Equals(owner, consumer, StringComparison.OrdinalIgnoreCase))
            {
                var a = agreements.Find(owner!, consumer!, datacenter, time);
                if (a != null) return (cpu * a.PerCpuHour + gb * a.PerGBHour, "Agreement", a.Currency);
            }
            if (listPrice.HasValue) return (listPrice, "ListPrice", DefaultCurrency);
            var card = EffectiveCard(cards, owner, time);
            if (card != null) return (cpu * card.PricePerCpuHour + gb * card.PricePerGBHour, "RateCard", card.Currency);
            return (null, null, null);
        }

        internal static GridRateCard? EffectiveCard(IReadOnlyList<GridRateCard> cards, string? owner, DateTimeOffset time)
        {
            if (string.IsNullOrEmpty(owner)) return null;
            GridRateCard? best = null;
            foreach (var c in cards)
                if (string.Equals(c.Owner, owner, StringComparison.OrdinalIgnoreCase) && c.EffectiveFrom <= time && (best == null || c.EffectiveFrom > best.EffectiveFrom))
                    best = c;
            return best;
        }

        private static Dictionary<string, UsageInterval> ReadOpen(IStateSession s, string where, params (string, object?)[] args)
        {
            var d = new Dictionary<string, UsageInterval>(StringComparer.Ordinal);
            using var cmd = s.Command($"SELECT {Columns} FROM usage_intervals WHERE end_time IS NULL AND {where}");
            foreach (var (n, v) in args) cmd.Bind(n, v);
            using var r = cmd.ExecuteReader();
            while (r.Read()) { var i = ReadInterval(r); d[i.WorkloadId] = i; }
            return d;
        }

        internal static UsageInterval ReadInterval(DbDataReader r)
        {
            return new UsageInterval
            {
                Id = r.GetInt64(0),
                WorkloadId = r.GetString(1),
                WorkloadName = r.IsDBNull(2) ? null : r.GetString(2),
                Datacenter = r.GetString(3),
                Provider = r.GetString(4),
                State = r.GetString(5),
                NativeState = r.IsDBNull(6) ? null : r.GetString(6),
                Start = StateStore.ParseTime(r.GetString(7)),
                End = r.IsDBNull(8) ? (DateTimeOffset?)null : StateStore.ParseTime(r.GetString(8)),
                CpuCount = Convert.ToInt32(r.GetValue(9), CultureInfo.InvariantCulture),
                MemoryMB = Convert.ToInt64(r.GetValue(10), CultureInfo.InvariantCulture),
                Size = r.IsDBNull(11) ? null : r.GetString(11),
                DatacenterOwner = r.IsDBNull(12) ? null : r.GetString(12),
                WorkloadOwner = r.IsDBNull(13) ? null : r.GetString(13),
                ComputeBilled = Convert.ToInt64(r.GetValue(14), CultureInfo.InvariantCulture) != 0,
                BillingRule = r.GetString(15),
                RunBeforeSeconds = Convert.ToDouble(r.GetValue(16), CultureInfo.InvariantCulture),
                ListPricePerHour = r.IsDBNull(17) ? (decimal?)null : Convert.ToDecimal(r.GetValue(17), CultureInfo.InvariantCulture),
                PricePerHour = r.IsDBNull(18) ? (decimal?)null : Convert.ToDecimal(r.GetValue(18), CultureInfo.InvariantCulture),
                PriceSource = r.IsDBNull(19) ? null : r.GetString(19),
                Currency = r.IsDBNull(20) ? null : r.GetString(20),
                Estimated = Convert.ToInt64(r.GetValue(21), CultureInfo.InvariantCulture) != 0,
                Source = r.GetString(22),
                OperationId = r.IsDBNull(23) ? null : r.GetString(23),
            };
        }

        /// <summary>Every interval overlapping [from, to) (null = unbounded), in workload and start order; with <paramref name="openOnly"/> only the open ones (read by the open-interval index).</summary>
        public IReadOnlyList<UsageInterval> GetIntervals(DateTimeOffset? from, DateTimeOffset? to, bool openOnly = false)
        {
            if (!HasSchema()) return Array.Empty<UsageInterval>();
            return Store.Read(s =>
            {
                var list = new List<UsageInterval>();
                using var cmd = s.Command(openOnly
                    ? $"SELECT {Columns} FROM usage_intervals WHERE end_time IS NULL AND start_time < @to ORDER BY workload_id, start_time, id"
                    : $"SELECT {Columns} FROM usage_intervals WHERE start_time < @to AND (end_time IS NULL OR end_time > @from) ORDER BY workload_id, start_time, id");
                cmd.Bind("@to", to.HasValue ? StateStore.FormatTime(to.Value) : "9999");
                if (!openOnly) cmd.Bind("@from", from.HasValue ? StateStore.FormatTime(from.Value) : "");
                using var r = cmd.ExecuteReader();
                while (r.Read()) list.Add(ReadInterval(r));
                return list;
            });
        }

        // ---- rate cards --------------------------------------------------------------------------------------

        /// <summary>Sets an owner's prices from <paramref name="card"/>.EffectiveFrom on (replacing a card of the same owner and time).</summary>
        public GridRateCard SetRateCard(GridRateCard card)
        {
            if (card == null) throw new ArgumentNullException(nameof(card));
            ValidateCard(card);
            EnsureSchema();
            card.SetAt = DateTimeOffset.UtcNow;
            Store.Write(s =>
            {
                s.Execute("DELETE FROM rate_cards WHERE owner_key = @k AND effective_from = @f", ("@k", card.Owner.ToUpperInvariant()), ("@f", StateStore.FormatTime(card.EffectiveFrom)));
                return s.Execute("INSERT INTO rate_cards(owner, owner_key, effective_from, price_cpu_hour, price_gb_hour, currency, set_at) VALUES(@o, @k, @f, @c, @g, @cur, @at)",
                    ("@o", card.Owner), ("@k", card.Owner.ToUpperInvariant()), ("@f", StateStore.FormatTime(card.EffectiveFrom)), ("@c", card.PricePerCpuHour),
                    ("@g", card.PricePerGBHour), ("@cur", card.Currency), ("@at", StateStore.FormatTime(card.SetAt)));
            });
            return card;
        }

        /// <summary>Refused before anything is written: InvalidRequest "InvalidRateCard".</summary>
        public static void ValidateCard(GridRateCard card)
        {
            if (string.IsNullOrWhiteSpace(card.Owner))
                throw GridException.InvalidRequest("A rate card needs an owner (-Owner).", "InvalidRateCard");
            if (card.Owner.Length > 128 || card.Owner.Any(char.IsControl))
                throw GridException.InvalidRequest("A rate card's owner is a name of at most 128 characters without control characters.", "InvalidRateCard", card.Owner);
            if (card.PricePerCpuHour < 0 || card.PricePerGBHour < 0)
                throw GridException.InvalidRequest($"Rate card of '{card.Owner}': prices cannot be negative ({card.PricePerCpuHour} per CPU-hour, {card.PricePerGBHour} per GB-hour).", "InvalidRateCard", card.Owner);
            if (string.IsNullOrEmpty(card.Currency) || card.Currency.Length != 3 || !card.Currency.All(ch => ch >= 'A' && ch <= 'Z'))
                throw GridException.InvalidRequest($"Rate card of '{card.Owner}': currency '{card.Currency}' is not an ISO 4217 code of three capital letters (e.g. USD, EUR).", "InvalidRateCard", card.Owner);
        }

        public IReadOnlyList<GridRateCard> GetRateCards()
        {
            if (!HasSchema()) return Array.Empty<GridRateCard>();
            return Store.Read(LoadRateCards);
        }

        /// <summary>Removes an owner's cards (all, or the one from <paramref name="effectiveFrom"/>); returns how many.</summary>
        public int RemoveRateCards(string owner, DateTimeOffset? effectiveFrom)
        {
            if (!HasSchema()) return 0;
            return Store.Write(s => effectiveFrom.HasValue
                ? s.Execute("DELETE FROM rate_cards WHERE owner_key = @k AND effective_from = @f", ("@k", owner.ToUpperInvariant()), ("@f", StateStore.FormatTime(effectiveFrom.Value)))
                : s.Execute("DELETE FROM rate_cards WHERE owner_key = @k", ("@k", owner.ToUpperInvariant())));
        }

        private static IReadOnlyList<GridRateCard> LoadRateCards(IStateSession s)
        {
            var list = new List<GridRateCard>();
            using var cmd = s.Command("SELECT owner, effective_from, price_cpu_hour, price_gb_hour, currency, set_at FROM rate_cards ORDER BY owner_key, effective_from");
            using var r = cmd.ExecuteReader();
            while (r.Read())
                list.Add(new GridRateCard
                {
                    Owner = r.GetString(0),
                    EffectiveFrom = StateStore.ParseTime(r.GetString(1)),
                    PricePerCpuHour = Convert.ToDecimal(r.GetValue(2), CultureInfo.InvariantCulture),
                    PricePerGBHour = Convert.ToDecimal(r.GetValue(3), CultureInfo.InvariantCulture),
                    Currency = r.GetString(4),
                    SetAt = StateStore.ParseTime(r.GetString(5)),
                });
            return list;
        }
    }
}
