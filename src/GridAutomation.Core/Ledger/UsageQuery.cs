using System;
using System.Collections.Generic;
using System.Linq;
using System.Globalization;
using GridAutomation.Core.Engine;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Ledger
{
    /// <summary>What Get-GridUsage / Export-GridUsage ask for. Owner, Consumer and Datacenter are wildcard patterns.</summary>
    public sealed class UsageQuery
    {
        public DateTimeOffset? From { get; set; }
        public DateTimeOffset? To { get; set; }
        public IReadOnlyList<string>? Owners { get; set; }
        public IReadOnlyList<string>? Consumers { get; set; }
        public IReadOnlyList<string>? Datacenters { get; set; }
        public UsageGroupBy GroupBy { get; set; }
        /// <summary>Price every interval again from today's agreements, list prices and rate cards (nothing is written).</summary>
        public bool Recalculate { get; set; }
    }

    /// <summary>One priced piece of an interval inside the asked period (one per day when grouped by day): the row of a FOCUS export.</summary>
    public sealed class UsageCharge
    {
        public UsageInterval Interval { get; set; } = null!;
        public DateTimeOffset Start { get; set; }
        public DateTimeOffset End { get; set; }
        public double Hours { get; set; }
        public double BilledHours { get; set; }
        public decimal? PricePerHour { get; set; }
        public string? PriceSource { get; set; }
        public string? Currency { get; set; }
        public decimal Cost { get; set; }
        public double VCpuHours => Interval.CpuCount * BilledHours;
        public double GBHours => Interval.MemoryMB / 1024.0 * BilledHours;
    }

    public sealed partial class UsageLedger
    {
        /// <summary>
        /// The priced pieces of every interval that matches <paramref name="q"/>, clipped to [From, To) and split per UTC day
        /// when <paramref name="splitDays"/>. An open interval runs until To or its datacenter's clock (<paramref name="now"/>),
        /// whichever is earlier. Billed time follows the interval's rule: seconds of a run of billed states are rounded to
        /// the rule's unit and raised to its minimum per start; each piece gets the difference the rounding makes at its ends,
        /// so pieces of one run always add up to the run's billed time.
        /// </summary>
        public IReadOnlyList<UsageCharge> GetCharges(UsageQuery q, Func<string, DateTimeOffset> now, bool splitDays)
            => GetCharges(q, now, splitDays, null);

        private IReadOnlyList<UsageCharge> GetCharges(UsageQuery q, Func<string, DateTimeOffset> now, bool splitDays, string? except)
        {
            if (q == null) throw new ArgumentNullException(nameof(q));
            var owners = Wildcard.CompileAll(q.Owners);
            var consumers = Wildcard.CompileAll(q.Consumers);
            var dcs = Wildcard.CompileAll(q.Datacenters);
            if (q.From.HasValue && q.To.HasValue && q.To <= q.From)
                throw Model.GridException.InvalidRequest($"-To ({q.To:u}) must be later than -From ({q.From:u}).", "InvalidUsagePeriod");
            var cards = q.Recalculate ? GetRateCards() : Array.Empty<GridRateCard>();
            var agreements = q.Recalculate ? Store.Read(s => Agreements.In(s)) : Agreements;
            var clocks = new Dictionary<string, DateTimeOffset>(StringComparer.OrdinalIgnoreCase);
            var charges = new List<UsageCharge>();
            foreach (var i in GetIntervals(q.From, q.To, except))
            {
                if (!Wildcard.MatchesAny(i.Datacenter, dcs) || !Wildcard.MatchesAny(i.DatacenterOwner ?? "", owners) || !Wildcard.MatchesAny(i.WorkloadOwner ?? "", consumers)) continue;
                var rule = BillingRule.Find(i.BillingRule) ?? BillingRule.RateCard;
                DateTimeOffset end;
                if (i.End.HasValue) end = i.End.Value;
                else
                {
                    if (!clocks.TryGetValue(i.Datacenter, out var n)) clocks[i.Datacenter] = n = now(i.Datacenter);
                    end = n;
                }
                if (q.To.HasValue && end > q.To.Value) end = q.To.Value;
                var start = q.From.HasValue && i.Start < q.From.Value ? q.From.Value : i.Start;
                if (end <= start) continue;
                decimal? price = i.PricePerHour;
                string? source = i.PriceSource, currency = i.Currency;
                if (q.Recalculate)
                    (price, source, currency) = ResolvePrice(i.Datacenter, i.DatacenterOwner, i.WorkloadOwner, i.CpuCount, i.MemoryMB, i.ListPricePerHour, i.Start, cards, agreements);
                var pieceStart = start;
                while (pieceStart < end)
                {
                    var pieceEnd = end;
                    if (splitDays)
                    {
                        var nextDay = new DateTimeOffset(pieceStart.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
                        if (nextDay < pieceEnd) pieceEnd = nextDay;
                    }
                    double billedSeconds = 0;
                    if (i.ComputeBilled)
                        billedSeconds = rule.Round(i.RunBeforeSeconds + (pieceEnd - i.Start).TotalSeconds) - rule.Round(i.RunBeforeSeconds + (pieceStart - i.Start).TotalSeconds);
                    var c = new UsageCharge
                    {
                        Interval = i, Start = pieceStart, End = pieceEnd, Hours = (pieceEnd - pieceStart).TotalHours,
                        BilledHours = billedSeconds / 3600.0, PricePerHour = price, PriceSource = source, Currency = currency,
                    };
                    if (price.HasValue) c.Cost = price.Value * (decimal)billedSeconds / 3600m;
                    charges.Add(c);
                    pieceStart = pieceEnd;
                }
            }
            return charges;
        }

        /// <summary>
        /// Usage grouped as asked, then one total row (IsTotal). Without GroupBy the only row is the total. Closed intervals
        /// wholly inside the period (and inside one day, when grouped by day) are added up by the database from their
        /// stored billed seconds; the others (open, cut by the period or by midnight, or everything under -Recalculate)
        /// are priced piece by piece — both give the same figures.
        /// </summary>
        public IReadOnlyList<GridUsage> GetUsage(UsageQuery q, Func<string, DateTimeOffset> now)
        {
            if (q == null) throw new ArgumentNullException(nameof(q));
            bool days = (q.GroupBy & UsageGroupBy.Day) != 0;
            var acc = new Dictionary<(string?, string?, string?, string?, DateTime?), Acc>();
            var total = new Acc();
            string? fast = null;
            if (!q.Recalculate && HasSchema())
            {
                fast = "end_time IS NOT NULL AND billed_s IS NOT NULL AND start_time >= @from AND end_time <= @to" + (days ? " AND substr(start_time, 1, 10) = substr(end_time, 1, 10)" : "");
                AddAggregates(q, fast, days, acc, total);
            }
            foreach (var c in GetCharges(q, now, days, fast))
            {
                var i = c.Interval;
                var key = Key(q.GroupBy, i.DatacenterOwner, i.WorkloadOwner, i.Datacenter, i.WorkloadId, c.Start.UtcDateTime.Date);
                foreach (var a in new[] { Get(acc, key, q.GroupBy), total })
                    a.Add(c.Hours * 3600, c.BilledHours * 3600, i.CpuCount * c.BilledHours * 3600, i.MemoryMB * c.BilledHours * 3600, c.Cost,
                        c.PricePerHour == null ? c.BilledHours * 3600 : 0, c.PricePerHour == null ? null : c.Currency, i.Estimated, c.Start, c.End);
            }
            var from = q.From ?? total.Min ?? DateTimeOffset.MinValue;
            var to = q.To ?? total.Max ?? DateTimeOffset.MinValue;
            var rows = new List<GridUsage>();
            if (q.GroupBy != UsageGroupBy.None)
                foreach (var kv in acc.OrderBy(x => x.Key.Item1, StringComparer.OrdinalIgnoreCase).ThenBy(x => x.Key.Item2, StringComparer.OrdinalIgnoreCase)
                    .ThenBy(x => x.Key.Item3, StringComparer.OrdinalIgnoreCase).ThenBy(x => x.Key.Item4, StringComparer.Ordinal).ThenBy(x => x.Key.Item5))
                {
                    var row = kv.Value.ToUsage(from, to);
                    row.Owner = kv.Key.Item1; row.Consumer = kv.Key.Item2; row.Datacenter = kv.Key.Item3; row.Workload = kv.Key.Item4;
                    row.Day = kv.Key.Item5.HasValue ? DateTime.SpecifyKind(kv.Key.Item5.Value, DateTimeKind.Utc) : (DateTime?)null;
                    rows.Add(row);
                }
            var t = total.ToUsage(from, to);
            t.IsTotal = true;
            rows.Add(t);
            return rows;
        }

        private static (string?, string?, string?, string?, DateTime?) Key(UsageGroupBy g, string? owner, string? consumer, string dc, string workload, DateTime day)
            => ((g & UsageGroupBy.Owner) != 0 ? owner ?? "" : null,
                (g & UsageGroupBy.Consumer) != 0 ? consumer ?? "" : null,
                (g & UsageGroupBy.Datacenter) != 0 ? dc : null,
                (g & UsageGroupBy.Workload) != 0 ? workload : null,
                (g & UsageGroupBy.Day) != 0 ? day : (DateTime?)null);

        private static Acc Get(Dictionary<(string?, string?, string?, string?, DateTime?), Acc> acc, (string?, string?, string?, string?, DateTime?) key, UsageGroupBy g)
        {
            if (g == UsageGroupBy.None) return new Acc(); // only the total is kept
            if (!acc.TryGetValue(key, out var a)) acc[key] = a = new Acc();
            return a;
        }

        /// <summary>The closed intervals inside the period, added up by the database per datacenter, owner, consumer (and workload, day), then filtered and grouped here.</summary>
        private void AddAggregates(UsageQuery q, string fast, bool days, Dictionary<(string?, string?, string?, string?, DateTime?), Acc> acc, Acc total)
        {
            var owners = Wildcard.CompileAll(q.Owners);
            var consumers = Wildcard.CompileAll(q.Consumers);
            var dcs = Wildcard.CompileAll(q.Datacenters);
            bool byWorkload = (q.GroupBy & UsageGroupBy.Workload) != 0;
            string sql = $@"SELECT datacenter, datacenter_owner, workload_owner, {(byWorkload ? "workload_id" : "NULL")}, {(days ? "substr(start_time, 1, 10)" : "NULL")}, currency,
                    SUM(duration_s), SUM(billed_s), SUM(billed_s * cpu), SUM(billed_s * memory_mb), SUM(billed_s * price_per_hour),
                    SUM(CASE WHEN price_per_hour IS NULL THEN billed_s ELSE 0 END), MAX(estimated), MIN(start_time), MAX(end_time)
                FROM usage_intervals WHERE {fast}
                GROUP BY datacenter, datacenter_owner, workload_owner, {(byWorkload ? "workload_id, " : "")}{(days ? "substr(start_time, 1, 10), " : "")}currency";
            Store.Read(s =>
            {
                using var cmd = s.Command(sql);
                cmd.Bind("@from", q.From.HasValue ? StateStore.FormatTime(q.From.Value) : "");
                cmd.Bind("@to", q.To.HasValue ? StateStore.FormatTime(q.To.Value) : "9999");
                using var r = cmd.ExecuteReader();
                while (r.Read())
                {
                    string dc = r.GetString(0);
                    string? owner = r.IsDBNull(1) ? null : r.GetString(1), consumer = r.IsDBNull(2) ? null : r.GetString(2);
                    if (!Wildcard.MatchesAny(dc, dcs) || !Wildcard.MatchesAny(owner ?? "", owners) || !Wildcard.MatchesAny(consumer ?? "", consumers)) continue;
                    string workload = r.IsDBNull(3) ? "" : r.GetString(3);
                    DateTime day = r.IsDBNull(4) ? default : DateTime.ParseExact(r.GetString(4), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
                    string? currency = r.IsDBNull(5) ? null : r.GetString(5);
                    double D(int k) => r.IsDBNull(k) ? 0 : Convert.ToDouble(r.GetValue(k), CultureInfo.InvariantCulture);
                    decimal cost = r.IsDBNull(10) ? 0m : Convert.ToDecimal(r.GetValue(10), CultureInfo.InvariantCulture) / 3600m;
                    bool estimated = !r.IsDBNull(12) && Convert.ToInt64(r.GetValue(12), CultureInfo.InvariantCulture) != 0;
                    var min = StateStore.ParseTime(r.GetString(13));
                    var max = StateStore.ParseTime(r.GetString(14));
                    var key = Key(q.GroupBy, owner, consumer, dc, workload, day);
                    foreach (var a in new[] { Get(acc, key, q.GroupBy), total })
                        a.Add(D(6), D(7), D(8), D(9), cost, D(11), D(7) - D(11) > 0 ? currency : null, estimated, min, max);
                }
                return 0;
            });
        }

        /// <summary>A running sum of one group (seconds; memory in MB-seconds).</summary>
        private sealed class Acc
        {
            private double _s, _billed, _cpu, _mem, _unpriced;
            private decimal _cost;
            private bool _estimated;
            private readonly HashSet<string> _currencies = new HashSet<string>(StringComparer.Ordinal);
            public DateTimeOffset? Min, Max;

            public void Add(double seconds, double billed, double cpuSeconds, double memMBSeconds, decimal cost, double unpriced, string? currency, bool estimated, DateTimeOffset start, DateTimeOffset end)
            {
                _s += seconds; _billed += billed; _cpu += cpuSeconds; _mem += memMBSeconds; _cost += cost; _unpriced += unpriced;
                if (currency != null) _currencies.Add(currency);
                _estimated |= estimated;
                if (Min == null || start < Min) Min = start;
                if (Max == null || end > Max) Max = end;
            }

            public GridUsage ToUsage(DateTimeOffset from, DateTimeOffset to) => new GridUsage
            {
                From = from, To = to,
                Hours = Math.Round(_s / 3600, 6), BilledHours = Math.Round(_billed / 3600, 6),
                VCpuHours = Math.Round(_cpu / 3600, 6), GBHours = Math.Round(_mem / 1024 / 3600, 6),
                Cost = Math.Round(_cost, 6), UnpricedHours = Math.Round(_unpriced / 3600, 6), Estimated = _estimated,
                Currency = _currencies.Count == 0 ? null : string.Join("+", _currencies.OrderBy(x => x, StringComparer.Ordinal)),
            };
        }
    }
}
