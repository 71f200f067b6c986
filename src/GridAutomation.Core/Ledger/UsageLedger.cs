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
