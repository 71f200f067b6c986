using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Ledger;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using Xunit;

namespace GridAutomation.Core.Tests
{
    /// <summary>
    /// Issue 16: Get-GridUsage adds up daily roll-ups for whole days. Every figure must equal the one computed from the
    /// intervals alone (the roll-ups switched off), on scripted EC2 (per second, 60 s minimum) and Azure (per minute)
    /// timelines that cross midnights and a rate change, for periods on and off day boundaries and every grouping.
    /// </summary>
    public class UsageRollupTests
    {
        private static readonly DateTimeOffset T0 = new DateTimeOffset(2026, 11, 2, 22, 30, 15, TimeSpan.Zero);
        private static readonly DateTimeOffset Now = T0.AddDays(3).AddHours(1.25);

        private static GridWorkload W(string dc, string id, WorkloadState state, int cpu, long memMB, string owner, decimal? listPrice = null)
        {
            var w = new GridWorkload { Id = dc + "/" + id, NativeId = id, Name = id, Datacenter = dc, Provider = "Simulator", State = state, CpuCount = cpu, MemoryMB = memMB, Owner = owner };
            if (listPrice.HasValue) w.Properties["PricePerHour"] = listPrice.Value;
            return w;
        }

        /// <summary>Three days of changes: EC2-style short runs around midnight, Azure per-minute runs, a rate card change mid-way, a stop that was not seen (observed later), one interval still open.</summary>
        private static UsageLedger Timeline(IStateStore s)
        {
            var l = new UsageLedger(s);
            l.SetRateCard(new GridRateCard { Owner = "Fabrikam", PricePerCpuHour = 0.04m, PricePerGBHour = 0.005m, EffectiveFrom = T0.AddDays(-10) });
            l.SetRateCard(new GridRateCard { Owner = "Contoso", PricePerCpuHour = 0.03m, PricePerGBHour = 0.004m, EffectiveFrom = T0.AddDays(-10) });
            var ec2 = new GridDatacenter { Name = "ec2", Provider = "Simulator", Owner = "Fabrikam" };
            var az = new GridDatacenter { Name = "az", Provider = "Simulator", Owner = "Contoso" };
            void C(GridDatacenter dc, BillingRule r, GridWorkload w, DateTimeOffset t) => l.Record(dc, r, new[] { w }, t, "Journal", Guid.NewGuid().ToString("D"), false);
            var t = T0;
            for (int k = 0; k < 40; k++)
            {
                // EC2: runs of 17 s .. ~2 h, the first ones crossing midnight; hibernation keeps billing.
                C(ec2, BillingRule.Ec2, W("ec2", "a", WorkloadState.Running, 2, 4096, "Contoso"), t);
                C(ec2, BillingRule.Ec2, W("ec2", "a", k % 3 == 0 ? WorkloadState.Suspending : WorkloadState.Stopped, 2, 4096, "Contoso"), t.AddSeconds(17 + k * 191.3));
                if (k % 3 == 0) C(ec2, BillingRule.Ec2, W("ec2", "a", WorkloadState.Suspended, 2, 4096, "Contoso"), t.AddSeconds(17 + k * 191.3 + 45));
                // Azure: per minute, Stopped still billed, Deallocated not; the list price of the size.
                C(az, BillingRule.Azure, W("az", "b", WorkloadState.Running, 4, 8192, "Fabrikam", 0.6m), t.AddSeconds(5));
                C(az, BillingRule.Azure, W("az", "b", WorkloadState.Stopped, 4, 8192, "Fabrikam", 0.6m), t.AddSeconds(5 + 61 + k * 37));
                C(az, BillingRule.Azure, W("az", "b", WorkloadState.Deallocated, 4, 8192, "Fabrikam", 0.6m), t.AddSeconds(5 + 61 + k * 37 + 125));
                // Rate card owner's own workload; the price changes half-way.
                if (k == 20) l.SetRateCard(new GridRateCard { Owner = "Contoso", PricePerCpuHour = 0.05m, PricePerGBHour = 0.006m, EffectiveFrom = t });
                C(az, BillingRule.RateCard, W("az", "c", k % 2 == 0 ? WorkloadState.Running : WorkloadState.Stopped, 1, 2048, "Contoso"), t.AddSeconds(9));
                t = t.AddSeconds(1800 + k * 97);
            }
            // A change outside the module, seen later by an observation (Estimated), and a workload still running (open interval).
            l.Record(az, BillingRule.RateCard, new[] { W("az", "c", WorkloadState.Running, 1, 2048, "Contoso") }, t.AddHours(5), "Observation", null, false);
            C(ec2, BillingRule.Ec2, W("ec2", "d", WorkloadState.Running, 8, 32768, "Contoso"), T0.AddDays(1).AddHours(3));
            return l;
        }

        private static IEnumerable<UsageQuery> Queries()
        {
            var day0 = new DateTimeOffset(T0.UtcDateTime.Date, TimeSpan.Zero);
            var periods = new (DateTimeOffset?, DateTimeOffset?)[]
            {
                (null, null), (null, Now), (day0, day0.AddDays(3)), (day0.AddDays(1), day0.AddDays(2)), (day0.AddDays(1), day0.AddDays(4)),
                (T0.AddMinutes(7), T0.AddDays(2).AddMinutes(-3)), (day0.AddDays(1).AddHours(1), day0.AddDays(1).AddHours(5)), (day0.AddHours(23), day0.AddDays(3).AddHours(2)),
                (day0.AddDays(1), null), (null, day0.AddDays(2)),
            };
            var groups = new[] { UsageGroupBy.None, UsageGroupBy.Day, UsageGroupBy.Owner | UsageGroupBy.Consumer, UsageGroupBy.Workload | UsageGroupBy.Day, UsageGroupBy.Datacenter | UsageGroupBy.Consumer | UsageGroupBy.Day };
            foreach (var (f, t) in periods)
                foreach (var g in groups)
                {
                    yield return new UsageQuery { From = f, To = t, GroupBy = g };
                    if (g == UsageGroupBy.Day) yield return new UsageQuery { From = f, To = t, GroupBy = g, Consumers = new[] { "Con*" }, Datacenters = new[] { "ec2", "az" } };
                }
        }

        private static string Dump(IReadOnlyList<GridUsage> rows)
            => string.Join("\n", rows.Select(r => $"{r.Owner}|{r.Consumer}|{r.Datacenter}|{r.Workload}|{r.Day:u}|{r.IsTotal}|{r.From:o}|{r.To:o}|{r.Hours}|{r.BilledHours}|{r.VCpuHours}|{r.GBHours}|{r.Cost}|{r.UnpricedHours}|{r.Currency}|{r.Estimated}"));

        private static void SetBuilt(IStateStore s, bool built) => s.Write(x => x.Execute("UPDATE usage_rollup_state SET built = @b WHERE id = 1", ("@b", built ? 1 : 0)));

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void RollupFigures_EqualIntervalFigures_ForEveryPeriodAndGrouping(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var l = Timeline(s);
            Assert.True(s.Read(x => x.ScalarInt64("SELECT COUNT(DISTINCT day) FROM usage_daily")) >= 3);
            var queries = Queries().ToList();
            var fromRollups = queries.Select(q => Dump(l.GetUsage(q, _ => Now))).ToList();
            SetBuilt(s, false); // reports now read the intervals only
            var fromIntervals = queries.Select(q => Dump(new UsageLedger(s).GetUsage(q, _ => Now))).ToList();
            for (int k = 0; k < queries.Count; k++)
                Assert.True(fromIntervals[k] == fromRollups[k], $"query {k} ({queries[k].From:o} .. {queries[k].To:o}, {queries[k].GroupBy}):\nintervals:\n{fromIntervals[k]}\nroll-ups:\n{fromRollups[k]}");
            // The timelines really bill: EC2 minimums, Azure minutes, both rate cards.
            var total = l.GetUsage(new UsageQuery { To = Now }, _ => Now).Single(u => u.IsTotal);
            Assert.True(total.Cost > 0 && total.BilledHours > 0);
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void Rebuild_GivesTheRowsWrittenWhileClosing_AndAnOlderLedgerIsUpgraded(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            var l = Timeline(s);
            string Rows() => s.Read(x =>
            {
                var list = new List<string>();
                using var cmd = x.Command("SELECT day, workload_id, datacenter, datacenter_owner, workload_owner, currency, duration_s, billed_s, cpu_s, mem_s, cost_s, unpriced_s, priced_n, estimated, min_start, max_end FROM usage_daily ORDER BY day, workload_id, currency");
                using var r = cmd.ExecuteReader();
                while (r.Read()) list.Add(string.Join("|", Enumerable.Range(0, r.FieldCount).Select(i => Convert.ToString(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
                return string.Join("\n", list);
            });
            var incremental = Rows();
            Assert.NotEmpty(incremental);
            int closed = l.RebuildRollups();
            Assert.True(closed > 100);
            Assert.Equal(incremental, Rows());
            // A ledger from before version 2: the roll-ups are empty and not built; the next write builds them, reports agree.
            SetBuilt(s, false);
            s.Write(x => x.Execute("DELETE FROM usage_daily"));
            var q = new UsageQuery { To = Now, GroupBy = UsageGroupBy.Day | UsageGroupBy.Consumer };
            var before = Dump(new UsageLedger(s).GetUsage(q, _ => Now));
            Assert.Empty(Rows());
            new UsageLedger(s).SetRateCard(new GridRateCard { Owner = "Northwind", PricePerCpuHour = 1m, PricePerGBHour = 0m, EffectiveFrom = Now });
            Assert.Equal(incremental, Rows());
            Assert.Equal(1L, s.Read(x => x.ScalarInt64("SELECT built FROM usage_rollup_state WHERE id = 1")));
            Assert.Equal(before, Dump(new UsageLedger(s).GetUsage(q, _ => Now)));
        }
    }
}
