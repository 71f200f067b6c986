using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using System.Xml.Linq;
using GridAutomation.Core.Ledger;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using Xunit;

namespace GridAutomation.Core.Tests
{
    public class UsageLedgerTests
    {
        private static readonly DateTimeOffset T0 = new DateTimeOffset(2026, 11, 2, 8, 0, 0, TimeSpan.Zero);

        private static GridDatacenter Dc(string name = "dc1", string owner = "Fabrikam") => new GridDatacenter { Name = name, Provider = "Simulator", Owner = owner };

        private static GridWorkload W(string dc, string id, WorkloadState state, int cpu = 2, long memMB = 4096, string owner = "Contoso", decimal? listPrice = null)
        {
            var w = new GridWorkload { Id = dc + "/" + id, NativeId = id, Name = id, Datacenter = dc, Provider = "Simulator", State = state, CpuCount = cpu, MemoryMB = memMB, Owner = owner };
            if (listPrice.HasValue) w.Properties["PricePerHour"] = listPrice.Value;
            return w;
        }

        private static void Change(UsageLedger l, GridDatacenter dc, BillingRule rule, GridWorkload w, DateTimeOffset t)
            => l.Record(dc, rule, new[] { w }, t, "Journal", Guid.NewGuid().ToString("D"), completeListing: false);

        private static GridUsage Total(UsageLedger l, DateTimeOffset? from, DateTimeOffset to, UsageGroupBy g = UsageGroupBy.None, bool recalc = false)
            => l.GetUsage(new UsageQuery { From = from, To = to, GroupBy = g, Recalculate = recalc }, _ => to).Single(u => u.IsTotal);

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void Ec2Rule_PerSecond_With60sMinimumPerStart(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var l = new UsageLedger(s);
            var dc = Dc();
            l.SetRateCard(new GridRateCard { Owner = "Fabrikam", PricePerCpuHour = 0.05m, PricePerGBHour = 0.01m, Currency = "USD", EffectiveFrom = T0.AddDays(-30) });
            var rule = BillingRule.Ec2;
            Change(l, dc, rule, W("dc1", "a", WorkloadState.Running), T0);
            Change(l, dc, rule, W("dc1", "a", WorkloadState.Stopped), T0.AddSeconds(30));        // 30 s run: billed 60 s
            Change(l, dc, rule, W("dc1", "a", WorkloadState.Running), T0.AddSeconds(100));
            Change(l, dc, rule, W("dc1", "a", WorkloadState.Suspending), T0.AddSeconds(100 + 3000)); // hibernating: still billed, same run
            Change(l, dc, rule, W("dc1", "a", WorkloadState.Suspended), T0.AddSeconds(100 + 3601));
            var t = Total(l, null, T0.AddHours(3));
            Assert.Equal(Math.Round((60 + 3601) / 3600.0, 6), t.BilledHours);
            Assert.Equal(Math.Round(2 * (60 + 3601) / 3600.0, 6), t.VCpuHours);
            Assert.Equal(Math.Round(4 * (60 + 3601) / 3600.0, 6), t.GBHours);
            Assert.Equal(Math.Round(0.14m * 3661m / 3600m, 6), t.Cost);
            Assert.Equal("USD", t.Currency);
            Assert.Equal(3.0, t.Hours, 6);
            // The minimum is billed in the period where the run starts; periods that split a run add up to the run.
            Assert.Equal(Math.Round(60 / 3600.0, 6), Total(l, T0, T0.AddSeconds(10)).BilledHours);
            Assert.Equal(0, Total(l, T0.AddSeconds(10), T0.AddSeconds(50)).BilledHours);
            Assert.Equal(Math.Round(1800 / 3600.0, 6), Total(l, T0.AddSeconds(1000), T0.AddSeconds(2800)).BilledHours);
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void AzureRule_PerMinute_StoppedIsBilled_DeallocatedIsNot(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var l = new UsageLedger(s);
            var dc = Dc();
            var rule = BillingRule.Azure;
            Change(l, dc, rule, W("dc1", "vm", WorkloadState.Running, cpu: 4, memMB: 8192, listPrice: 0.60m), T0);
            Change(l, dc, rule, W("dc1", "vm", WorkloadState.Stopped, cpu: 4, memMB: 8192, listPrice: 0.60m), T0.AddSeconds(61));     // still billed
            Change(l, dc, rule, W("dc1", "vm", WorkloadState.Deallocated, cpu: 4, memMB: 8192, listPrice: 0.60m), T0.AddSeconds(125)); // 125 s billed: 3 minutes
            Change(l, dc, rule, W("dc1", "vm", WorkloadState.Running, cpu: 4, memMB: 8192, listPrice: 0.60m), T0.AddSeconds(1000));
            Change(l, dc, rule, W("dc1", "vm", WorkloadState.Deallocated, cpu: 4, memMB: 8192, listPrice: 0.60m), T0.AddSeconds(1010)); // 10 s: 1 minute
            var t = Total(l, null, T0.AddHours(1));
            Assert.Equal(Math.Round(240 / 3600.0, 6), t.BilledHours);
            Assert.Equal(Math.Round(4 * 240 / 3600.0, 6), t.VCpuHours);
            Assert.Equal(Math.Round(0.60m * 240m / 3600m, 6), t.Cost); // the size's list price
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public async Task Observation_ClosesUnseenEnd_Estimated_AndTwoObserversRecordOnce(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var dc = Dc();
            var rule = BillingRule.RateCard;
            var first = new UsageLedger(s).Record(dc, rule, new[] { W("dc1", "a", WorkloadState.Running), W("dc1", "b", WorkloadState.Running) }, T0, "Observation", null, true);
            Assert.Equal(2, first.Opened);
            // Outside the module: a stopped, b removed. Two processes observe the same listing at once.
            using var s2 = Backends.Reopen(backend, tmp, readOnly: false);
            var seen = new[] { W("dc1", "a", WorkloadState.Stopped) };
            var results = await Task.WhenAll(
                Task.Run(() => new UsageLedger(s).Record(dc, rule, seen, T0.AddHours(2), "Observation", null, true)),
                Task.Run(() => new UsageLedger(s2).Record(dc, rule, seen, T0.AddHours(2), "Observation", null, true)));
            Assert.Equal(2, results.Sum(r => r.Closed));
            Assert.Equal(1, results.Sum(r => r.Opened));
            var all = new UsageLedger(s).GetIntervals(null, null);
            Assert.Equal(3, all.Count);
            Assert.All(all.Where(i => i.End.HasValue), i => { Assert.True(i.Estimated); Assert.Equal(T0.AddHours(2), i.End); });
            Assert.Single(all, i => i.End == null && i.WorkloadId == "dc1/a" && i.State == "Stopped");
            // Observing again with nothing changed writes nothing.
            var again = new UsageLedger(s).Record(dc, rule, seen, T0.AddHours(3), "Observation", null, true);
            Assert.Equal(0, again.Opened + again.Closed);
            Assert.Equal(3, new UsageLedger(s).GetIntervals(null, null).Count);
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void Reading_NeverWrites_AndRecalculateUsesTodaysRateCard(string backend)
        {
            using var tmp = new TempDir();
            using (var s0 = Backends.Open(backend, tmp)) { }
            using (var ro = Backends.Reopen(backend, tmp, readOnly: true))
            {
                var l = new UsageLedger(ro);
                Assert.Equal(0m, Total(l, null, T0).Cost);      // no ledger tables: an empty ledger, nothing created
                Assert.Empty(l.GetRateCards());
                Assert.False(l.HasSchema());
            }
            using var s = Backends.Reopen(backend, tmp, readOnly: false);
            var ledger = new UsageLedger(s);
            var dc = Dc();
            ledger.SetRateCard(new GridRateCard { Owner = "fabrikam", PricePerCpuHour = 1m, PricePerGBHour = 0m, Currency = "EUR", EffectiveFrom = T0.AddDays(-1) });
            Change(ledger, dc, BillingRule.RateCard, W("dc1", "a", WorkloadState.Running, cpu: 1), T0);
            Change(ledger, dc, BillingRule.RateCard, W("dc1", "a", WorkloadState.Stopped, cpu: 1), T0.AddHours(10));
            // A rate change back-dated after the fact: recorded cost stays, -Recalculate prices again.
            ledger.SetRateCard(new GridRateCard { Owner = "Fabrikam", PricePerCpuHour = 2m, PricePerGBHour = 0m, Currency = "EUR", EffectiveFrom = T0.AddDays(-1) });
            Assert.Single(ledger.GetRateCards());
            Assert.Equal(10m, Total(ledger, null, T0.AddDays(1)).Cost);
            Assert.Equal(20m, Total(ledger, null, T0.AddDays(1), recalc: true).Cost);
            Assert.Equal("EUR", Total(ledger, null, T0.AddDays(1)).Currency);
            Assert.Equal("InvalidRateCard", Assert.Throws<GridException>(() => ledger.SetRateCard(new GridRateCard { Owner = "X", PricePerCpuHour = -1m, Currency = "USD" })).ErrorId);
            Assert.Equal("InvalidRateCard", Assert.Throws<GridException>(() => ledger.SetRateCard(new GridRateCard { Owner = "X", Currency = "usd" })).ErrorId);
        }

        [Fact]
        public void AgreementPrice_ComesBeforeListPriceAndRateCard()
        {
            using var tmp = new TempDir();
            using var s = StateStore.Open(tmp.File("s.db"), false);
            var l = new UsageLedger(s, new FixedAgreement());
            var dc = Dc();
            Change(l, dc, BillingRule.RateCard, W("dc1", "a", WorkloadState.Running, cpu: 2, memMB: 2048, owner: "Contoso", listPrice: 9m), T0);
            Change(l, dc, BillingRule.RateCard, W("dc1", "own", WorkloadState.Running, cpu: 2, memMB: 2048, owner: "Fabrikam", listPrice: 9m), T0);
            var rows = l.GetUsage(new UsageQuery { To = T0.AddHours(1), GroupBy = UsageGroupBy.Consumer }, _ => T0.AddHours(1));
            Assert.Equal(2m * 0.5m + 2m * 0.25m, rows.Single(r => r.Consumer == "Contoso").Cost); // agreement
            Assert.Equal(9m, rows.Single(r => r.Consumer == "Fabrikam").Cost);                    // own capacity: list price
            Assert.Equal(10.5m, rows.Single(r => r.IsTotal).Cost);
        }

        private sealed class FixedAgreement : IAgreementPrices
        {
            public CapacityPrice? Find(string owner, string consumer, string datacenter, DateTimeOffset time)
                => owner == "Fabrikam" && consumer == "Contoso" ? new CapacityPrice(0.5m, 0.25m, "USD") : null;
            public IAgreementPrices In(GridAutomation.Core.State.IStateSession session) => this;
        }

        private static UsageLedger TwoDays(IStateStore s)
        {
            var l = new UsageLedger(s);
            l.SetRateCard(new GridRateCard { Owner = "Fabrikam", PricePerCpuHour = 0.04m, PricePerGBHour = 0.005m, EffectiveFrom = T0.AddDays(-10) });
            l.SetRateCard(new GridRateCard { Owner = "Contoso", PricePerCpuHour = 0.03m, PricePerGBHour = 0.004m, EffectiveFrom = T0.AddDays(-10) });
            var fab = Dc("fab", "Fabrikam");
            var con = Dc("con", "Contoso");
            Change(l, fab, BillingRule.RateCard, W("fab", "x", WorkloadState.Running, owner: "Contoso"), T0);
            Change(l, fab, BillingRule.RateCard, W("fab", "y", WorkloadState.Running, cpu: 8, memMB: 16384, owner: "Fabrikam"), T0.AddHours(3));
            Change(l, con, BillingRule.Ec2, W("con", "z", WorkloadState.Running, cpu: 1, memMB: 1024, owner: "Fabrikam", listPrice: 0.0116m), T0.AddHours(20));
            Change(l, fab, BillingRule.RateCard, W("fab", "x", WorkloadState.Stopped, owner: "Contoso"), T0.AddHours(30)); // crosses midnight
            return l;
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void FocusCsv_HasEveryMandatoryColumn_AndTotalsEqualGetUsage(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var l = TwoDays(s);
            var q = new UsageQuery { From = T0.AddHours(-8), To = T0.AddHours(40) };
            Func<string, DateTimeOffset> now = _ => T0.AddHours(40);
            var sw = new StringWriter();
            FocusExport.WriteCsv(sw, l.GetCharges(q, now, splitDays: true));
            var lines = sw.ToString().Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
            var header = lines[0].Split(',');
            string[] mandatory = { "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
                "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity", "PricingUnit",
                "ProviderName", "PublisherName", "ServiceCategory", "ServiceName", "ConsumedQuantity", "ConsumedUnit", "RegionName", "ResourceId", "ResourceName", "SubAccountId", "Tags" };
            foreach (var m in mandatory) Assert.Contains(m, header);
            Assert.Equal(header.Length, header.Distinct().Count());
            var rows = lines.Skip(1).Select(ParseCsv).ToList();
            Assert.All(rows, r => Assert.Equal(header.Length, r.Length));
            int Col(string n) => Array.IndexOf(header, n);
            foreach (var (name, type, _) in FocusExport.Columns)
                foreach (var r in rows)
                {
                    var v = r[Col(name)];
                    if (v.Length == 0) continue;
                    if (type == "Decimal") Assert.True(decimal.TryParse(v, NumberStyles.Number, CultureInfo.InvariantCulture, out _), $"{name}: {v}");
                    if (type == "Date/Time") Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", v);
                    if (type == "JSON") System.Text.Json.JsonDocument.Parse(v).Dispose();
                }
            Assert.Contains(rows, r => r[Col("InvoiceIssuerName")] == "Fabrikam" && r[Col("SubAccountId")] == "Contoso");
            Assert.All(rows, r => Assert.Equal("Usage", r[Col("ChargeCategory")]));
            var total = l.GetUsage(q, now).Single(u => u.IsTotal);
            Assert.Equal(total.Cost, Math.Round(rows.Sum(r => decimal.Parse(r[Col("BilledCost")], CultureInfo.InvariantCulture)), 6));
            Assert.Equal(total.BilledHours, Math.Round(rows.Sum(r => double.Parse(r[Col("PricingQuantity")], CultureInfo.InvariantCulture)), 6));
            Assert.True(total.Cost > 0);
            // The split per day never changes the total.
            Assert.Equal(total.Cost, l.GetUsage(new UsageQuery { From = q.From, To = q.To, GroupBy = UsageGroupBy.Day }, now).Single(u => u.IsTotal).Cost);
        }

        [Fact]
        public void Html_ParsesAsXml_AndBarsAddUpToTheTotals()
        {
            using var tmp = new TempDir();
            using var s = StateStore.Open(tmp.File("s.db"), false);
            var l = TwoDays(s);
            var q = new UsageQuery { To = T0.AddHours(40) };
            Func<string, DateTimeOffset> now = _ => T0.AddHours(40);
            var totals = l.GetUsage(new UsageQuery { To = q.To, GroupBy = UsageGroupBy.Owner | UsageGroupBy.Consumer }, now);
            var sw = new StringWriter();
            HtmlUsageReport.Write(sw, l.GetCharges(q, now, true), totals, "Usage <test> & more", T0);
            var html = sw.ToString();
            Assert.StartsWith("<!DOCTYPE html>", html);
            var doc = XDocument.Parse(html);
            XNamespace svg = "http://www.w3.org/2000/svg";
            var bars = doc.Descendants(svg + "rect").Where(r => (string?)r.Attribute("class") == "bar").ToList();
            Assert.NotEmpty(bars);
            Assert.True(bars.Select(b => (string)b.Attribute("data-day")!).Distinct().Count() >= 2);
            decimal Cost(XElement e) => decimal.Parse((string)e.Attribute("data-cost")!, CultureInfo.InvariantCulture);
            foreach (var t in totals.Where(x => !x.IsTotal))
                Assert.Equal(t.Cost, bars.Where(b => (string)b.Attribute("data-owner")! == t.Owner && (string)b.Attribute("data-consumer")! == t.Consumer).Sum(Cost), 5);
            Assert.Equal(totals.Single(x => x.IsTotal).Cost, bars.Sum(Cost), 5);
            Assert.DoesNotContain(doc.Descendants(), e => e.Name.LocalName == "script");
        }

        private static string[] ParseCsv(string line)
        {
            var cells = new List<string>();
            var cur = new System.Text.StringBuilder();
            bool q = false;
            for (int i = 0; i < line.Length; i++)
            {
                char c = line[i];
                if (q)
                {
                    if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cur.Append('"'); i++; }
                    else if (c == '"') q = false;
                    else cur.Append(c);
                }
                else if (c == '"') q = true;
                else if (c == ',') { cells.Add(cur.ToString()); cur.Clear(); }
                else cur.Append(c);
            }
            cells.Add(cur.ToString());
            return cells.ToArray();
        }
    }
}
