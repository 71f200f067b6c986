using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Engine;

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
        {
            if (q == null) throw new ArgumentNullException(nameof(q));
            var owners = Wildcard.CompileAll(q.Owners);
            var consumers = Wildcard.CompileAll(q.Consumers);
            var dcs = Wildcard.CompileAll(q.Datacenters);
            if (q.From.HasValue && q.To.HasValue && q.To <= q.From)
                throw Model.GridException.InvalidRequest($"-To ({q.To:u}) must be later than -From ({q.From:u}).", "InvalidUsagePeriod");
            var cards = q.Recalculate ? GetRateCards() : Array.Empty<GridRateCard>();
            var clocks = new Dictionary<string, DateTimeOffset>(StringComparer.OrdinalIgnoreCase);
            var charges = new List<UsageCharge>();
            foreach (var i in GetIntervals(q.From, q.To))
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
                    (price, source, currency) = ResolvePrice(i.Datacenter, i.DatacenterOwner, i.WorkloadOwner, i.CpuCount, i.MemoryMB, i.ListPricePerHour, i.Start, cards);
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

        /// <summary>Usage grouped as asked, then one total row (IsTotal). Without GroupBy the only row is the total.</summary>
        public IReadOnlyList<GridUsage> GetUsage(UsageQuery q, Func<string, DateTimeOffset> now)
        {
            var charges = GetCharges(q, now, (q.GroupBy & UsageGroupBy.Day) != 0);
            var from = q.From ?? (charges.Count > 0 ? charges.Min(c => c.Start) : DateTimeOffset.MinValue);
            var to = q.To ?? (charges.Count > 0 ? charges.Max(c => c.End) : DateTimeOffset.MinValue);
            var rows = new List<GridUsage>();
            if (q.GroupBy != UsageGroupBy.None)
            {
                var g = q.GroupBy;
                foreach (var grp in charges.GroupBy(c => (
                    Owner: (g & UsageGroupBy.Owner) != 0 ? c.Interval.DatacenterOwner ?? "" : null,
                    Consumer: (g & UsageGroupBy.Consumer) != 0 ? c.Interval.WorkloadOwner ?? "" : null,
                    Datacenter: (g & UsageGroupBy.Datacenter) != 0 ? c.Interval.Datacenter : null,
                    Workload: (g & UsageGroupBy.Workload) != 0 ? c.Interval.WorkloadId : null,
                    Day: (g & UsageGroupBy.Day) != 0 ? c.Start.UtcDateTime.Date : (DateTime?)null))
                    .OrderBy(x => x.Key.Owner, StringComparer.OrdinalIgnoreCase).ThenBy(x => x.Key.Consumer, StringComparer.OrdinalIgnoreCase)
                    .ThenBy(x => x.Key.Datacenter, StringComparer.OrdinalIgnoreCase).ThenBy(x => x.Key.Workload, StringComparer.Ordinal).ThenBy(x => x.Key.Day))
                {
                    var row = Sum(grp, from, to);
                    row.Owner = grp.Key.Owner; row.Consumer = grp.Key.Consumer; row.Datacenter = grp.Key.Datacenter; row.Workload = grp.Key.Workload;
                    row.Day = grp.Key.Day.HasValue ? DateTime.SpecifyKind(grp.Key.Day.Value, DateTimeKind.Utc) : (DateTime?)null;
                    rows.Add(row);
                }
            }
            var total = Sum(charges, from, to);
            total.IsTotal = true;
            rows.Add(total);
            return rows;
        }

        private static GridUsage Sum(IEnumerable<UsageCharge> charges, DateTimeOffset from, DateTimeOffset to)
        {
            var u = new GridUsage { From = from, To = to };
            var currencies = new HashSet<string>(StringComparer.Ordinal);
            foreach (var c in charges)
            {
                u.Hours += c.Hours;
                u.BilledHours += c.BilledHours;
                u.VCpuHours += c.VCpuHours;
                u.GBHours += c.GBHours;
                u.Cost += c.Cost;
                if (c.PricePerHour == null) u.UnpricedHours += c.BilledHours;
                else if (c.Currency != null) currencies.Add(c.Currency);
                if (c.Interval.Estimated) u.Estimated = true;
            }
            u.Cost = Math.Round(u.Cost, 6);
            u.Currency = currencies.Count == 0 ? null : string.Join("+", currencies.OrderBy(x => x, StringComparer.Ordinal));
            u.Hours = Math.Round(u.Hours, 6); u.BilledHours = Math.Round(u.BilledHours, 6);
            u.VCpuHours = Math.Round(u.VCpuHours, 6); u.GBHours = Math.Round(u.GBHours, 6);
            return u;
        }
    }
}
