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
            => GetCharges(q, now, splitDays, false);

        private IReadOnlyList<UsageCharge> GetCharges(UsageQuery q, Func<string, DateTimeOffset> now, bool splitDays, bool openOnly)
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
            foreach (var i in GetIntervals(q.From, q.To, openOnly))
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
        /// Usage grouped as asked, then one total row (IsTotal). Without GroupBy the only row is the total. The whole UTC
        /// days of the period are added up from the daily roll-ups (closed intervals, cut at midnight); the partial days at
        /// its edges and the open intervals are priced piece by piece from the intervals, as is everything under -Recalculate
        /// or before the roll-ups were built. Both give the same figures (UsageRollupTests).
        /// </summary>
        public IReadOnlyList<GridUsage> GetUsage(UsageQuery q, Func<string, DateTimeOffset> now)
        {
            if (q == null) throw new ArgumentNullException(nameof(q));
            if (q.From.HasValue && q.To.HasValue && q.To <= q.From)
                throw Model.GridException.InvalidRequest($"-To ({q.To:u}) must be later than -From ({q.From:u}).", "InvalidUsagePeriod");
            bool days = (q.GroupBy & UsageGroupBy.Day) != 0;
            var acc = new Dictionary<(string?, string?, string?, string?, DateTime?), Acc>();
            var total = new Acc();
            void AddCharges(IEnumerable<UsageCharge> charges)
            {
                foreach (var c in charges)
                {
                    var i = c.Interval;
                    var key = Key(q.GroupBy, i.DatacenterOwner, i.WorkloadOwner, i.Datacenter, i.WorkloadId, c.Start.UtcDateTime.Date);
                    foreach (var a in new[] { Get(acc, key, q.GroupBy), total })
                        a.Add(c.Hours * 3600, c.BilledHours * 3600, i.CpuCount * c.BilledHours * 3600, i.MemoryMB * c.BilledHours * 3600, c.Cost,
                            c.PricePerHour == null ? c.BilledHours * 3600 : 0, c.PricePerHour == null ? null : c.Currency, i.Estimated, c.Start, c.End);
                }
            }
            // Whole days inside the period: [fromDay, toDay), null = unbounded.
            DateTimeOffset? fromDay = q.From.HasValue ? CeilingDay(q.From.Value) : (DateTimeOffset?)null;
            DateTimeOffset? toDay = q.To.HasValue ? new DateTimeOffset(q.To.Value.UtcDateTime.Date, TimeSpan.Zero) : (DateTimeOffset?)null;
            bool rollups = !q.Recalculate && (!fromDay.HasValue || !toDay.HasValue || fromDay < toDay) && HasSchema() && Store.Read(RollupsBuilt);
            if (!rollups) AddCharges(GetCharges(q, now, days, false));
            else
            {
                AddRollups(q, fromDay, toDay, acc, total);
                UsageQuery Part(DateTimeOffset? f, DateTimeOffset? t) => new UsageQuery { From = f, To = t, Owners = q.Owners, Consumers = q.Consumers, Datacenters = q.Datacenters, GroupBy = q.GroupBy };
                if (fromDay.HasValue && q.From < fromDay) AddCharges(GetCharges(Part(q.From, fromDay), now, days, false));
                if (toDay.HasValue && q.To > toDay) AddCharges(GetCharges(Part(toDay, q.To), now, days, false));
                AddCharges(GetCharges(Part(fromDay, toDay), now, days, openOnly: true)); // open intervals have no roll-ups yet
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

        private static DateTimeOffset CeilingDay(DateTimeOffset t)
        {
            var d = new DateTimeOffset(t.UtcDateTime.Date, TimeSpan.Zero);
            return d < t ? d.AddDays(1) : d;
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
