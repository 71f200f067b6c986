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
    /// Update-GridUsage writes what changed in multi-row statements (UsageLedger.BatchRows rows each). An observation of
    /// many changes at once must leave the same ledger (intervals and daily roll-ups) as the same changes recorded one
    /// workload at a time, across more than two batches, a midnight and workloads that are gone.
    /// </summary>
    public class UsageBatchTests
    {
        private static readonly DateTimeOffset T0 = new DateTimeOffset(2026, 11, 2, 15, 0, 7, TimeSpan.Zero);
        private const int Count = UsageLedger.BatchRows * 2 + 57;

        private static GridWorkload W(int k, WorkloadState state)
            => new GridWorkload { Id = "dc1/vm-" + k, NativeId = "vm-" + k, Name = "vm-" + k, Datacenter = "dc1", Provider = "Simulator", State = state,
                CpuCount = 1 + k % 4, MemoryMB = 1024 * (1 + k % 3), Owner = k % 5 == 0 ? "Fabrikam" : "Contoso" };

        private static WorkloadState After(int k) => k % 3 == 0 ? WorkloadState.Stopped : k % 3 == 1 ? WorkloadState.Suspending : WorkloadState.Running;

        private static string Dump(IStateStore s, UsageLedger l, DateTimeOffset now)
        {
            var intervals = l.GetIntervals(null, null).Select(i => $"{i.WorkloadId}|{i.State}|{i.Start:o}|{i.End:o}|{i.CpuCount}|{i.MemoryMB}|{i.WorkloadOwner}|{i.ComputeBilled}|{i.RunBeforeSeconds}|{i.PricePerHour}|{i.PriceSource}|{i.Estimated}");
            var daily = s.Read(x =>
            {
                var rows = new List<string>();
                using var cmd = x.Command("SELECT day, workload_id, workload_owner, currency, duration_s, billed_s, cpu_s, mem_s, cost_s, priced_n, estimated, min_start, max_end FROM usage_daily ORDER BY day, workload_id");
                using var r = cmd.ExecuteReader();
                while (r.Read()) rows.Add(string.Join("|", Enumerable.Range(0, 13).Select(c => Convert.ToString(r.GetValue(c), System.Globalization.CultureInfo.InvariantCulture))));
                return rows;
            });
            var usage = l.GetUsage(new UsageQuery { To = now, GroupBy = UsageGroupBy.Workload | UsageGroupBy.Day }, _ => now)
                .Select(u => $"{u.Workload}|{u.Day:u}|{u.IsTotal}|{u.BilledHours}|{u.VCpuHours}|{u.GBHours}|{u.Cost}|{u.Estimated}");
            return string.Join("\n", intervals) + "\n--\n" + string.Join("\n", daily) + "\n--\n" + string.Join("\n", usage);
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void ObservationOfManyChanges_EqualsTheSameChangesOneByOne(string backend)
        {
            using var tmp = new TempDir();
            using var batched = Backends.Open(backend, tmp, "batched.db");
            using var single = Backends.Open(backend, tmp, "single.db");
            var dc = new GridDatacenter { Name = "dc1", Provider = "Simulator", Owner = "Fabrikam" };
            var rule = BillingRule.Ec2;
            var t1 = T0.AddHours(11).AddSeconds(13.5); // across midnight: two days of roll-ups per interval
            var gone = Enumerable.Range(0, Count).Where(k => k % 7 == 3).ToHashSet();
            var now = t1.AddHours(2);
            foreach (var s in new[] { batched, single })
                new UsageLedger(s).SetRateCard(new GridRateCard { Owner = "Fabrikam", PricePerCpuHour = 0.05m, PricePerGBHour = 0.01m, Currency = "EUR", EffectiveFrom = T0.AddDays(-1) });

            // Batched: two observations of the whole datacenter.
            var lb = new UsageLedger(batched);
            var first = lb.Record(dc, rule, Enumerable.Range(0, Count).Select(k => W(k, WorkloadState.Running)).ToList(), T0, "Observation", null, completeListing: true);
            Assert.Equal(Count, first.Opened);
            var second = lb.Record(dc, rule, Enumerable.Range(0, Count).Where(k => !gone.Contains(k)).Select(k => W(k, After(k))).ToList(), t1, "Observation", null, completeListing: true);
            int changed = Enumerable.Range(0, Count).Count(k => !gone.Contains(k) && After(k) != WorkloadState.Running);
            Assert.Equal(changed + gone.Count, second.Closed);
            Assert.Equal(second.Closed, second.Estimated);
            Assert.Equal(changed, second.Opened);
            Assert.NotNull(second.Timings);

            // One by one: the same changes, one workload per call.
            var ls = new UsageLedger(single);
            for (int k = 0; k < Count; k++) ls.Record(dc, rule, new[] { W(k, WorkloadState.Running) }, T0, "Observation", null, completeListing: false);
            for (int k = 0; k < Count; k++)
                if (gone.Contains(k)) ls.Record(dc, rule, Array.Empty<GridWorkload>(), t1, "Observation", null, completeListing: false, goneIds: new[] { "dc1/vm-" + k });
                else ls.Record(dc, rule, new[] { W(k, After(k)) }, t1, "Observation", null, completeListing: false);

            string a = Dump(batched, lb, now), b = Dump(single, ls, now);
            Assert.Equal(b, a);
            Assert.True(batched.Read(x => x.ScalarInt64("SELECT COUNT(DISTINCT day) FROM usage_daily")) == 2);

            // The same observation again (a second scheduler, or a retry after a kill): nothing more is written.
            var again = new UsageLedger(batched).Record(dc, rule, Enumerable.Range(0, Count).Where(k => !gone.Contains(k)).Select(k => W(k, After(k))).ToList(), t1, "Observation", null, completeListing: true);
            Assert.Equal(0, again.Opened + again.Closed);
            Assert.Equal(a, Dump(batched, new UsageLedger(batched), now));
        }
    }
}
