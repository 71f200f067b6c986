using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using Xunit;

namespace GridAutomation.Core.Tests
{
    /// <summary>The grid component's tables and the quota transaction, on both backends.</summary>
    public class GridStoreTests
    {
        private static GridAgreement Agreement(string id, string dc = "dub-*", int? maxWorkloads = null, int? maxCpu = null)
            => new GridAgreement { Id = id, Owner = "Fabrikam", Consumer = "Contoso", Datacenter = dc, MaxWorkloads = maxWorkloads, MaxCpu = maxCpu, PricePerCpuHour = 0.02m, PricePerGBHour = 0.005m, Created = DateTimeOffset.UtcNow };

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void Agreements_And_Pools_RoundTrip_InTheGridComponent(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            GridData.EnsureSchema(s);
            GridData.EnsureSchema(s); // idempotent
            var a = Agreement("a1", maxWorkloads: 5, maxCpu: 64);
            a.MaxMemoryGB = 256; a.Start = DateTimeOffset.UtcNow.AddDays(-1); a.End = DateTimeOffset.UtcNow.AddDays(30);
            s.Write(c => { GridData.SaveAgreement(c, a, insert: true); return 0; });
            var got = s.Read(GridData.ListAgreements).Single();
            Assert.Equal(("a1", "Fabrikam", "Contoso", "dub-*"), (got.Id, got.Owner, got.Consumer, got.Datacenter));
            Assert.Equal((5, 64, 256.0), (got.MaxWorkloads!.Value, got.MaxCpu!.Value, got.MaxMemoryGB!.Value));
            Assert.Equal(0.02m, got.PricePerCpuHour);
            Assert.Equal(0.005m, got.PricePerGBHour);
            Assert.Equal(a.End!.Value.UtcTicks, got.End!.Value.UtcTicks);
            got.MaxCpu = 8;
            s.Write(c => { GridData.SaveAgreement(c, got, insert: false); return 0; });
            Assert.Equal(8, s.Read(GridData.ListAgreements).Single().MaxCpu);
            s.Write(c => { GridData.SavePool(c, new GridPool { Name = "eu", Datacenter = { "ams-*", "dub-1" }, Policy = PlacementPolicy.Spread, Created = DateTimeOffset.UtcNow }, insert: true); return 0; });
            var pool = s.Read(GridData.ListPools).Single();
            Assert.Equal(new[] { "ams-*", "dub-1" }, pool.Datacenter.ToArray());
            Assert.Equal(PlacementPolicy.Spread, pool.Policy);
            Assert.True(s.Write(c => GridData.DeleteAgreement(c, "a1")));
            Assert.True(s.Write(c => GridData.DeletePool(c, "EU"))); // names are case-insensitive
            Assert.Empty(s.Read(GridData.ListAgreements));
            Assert.Empty(s.Read(GridData.ListPools));
        }

        [Fact]
        public void FindInForce_LiteralBeatsWildcard_AndDatesBound()
        {
            var now = DateTimeOffset.UtcNow;
            var wide = Agreement("wide"); wide.Created = now.AddMinutes(-5);
            var exact = Agreement("exact", dc: "dub-1"); exact.Created = now.AddMinutes(-10);
            var future = Agreement("future", dc: "dub-2"); future.Start = now.AddDays(1);
            var all = new[] { wide, exact, future };
            Assert.Equal("exact", GridService.Choose(all, "fabrikam", "CONTOSO", "dub-1", now)!.Id);
            Assert.Equal("wide", GridService.Choose(all, "Fabrikam", "Contoso", "dub-2", now)!.Id); // 'future' not yet in force
            Assert.Equal("future", GridService.Choose(new[] { future }, "Fabrikam", "Contoso", "dub-2", now.AddDays(2))!.Id);
            Assert.Null(GridService.Choose(all, "Fabrikam", "Contoso", "ams-1", now));
            Assert.Null(GridService.Choose(all, "Contoso", "Fabrikam", "dub-1", now)); // direction matters
            Assert.Equal(0.02m * 4 + 0.005m * 16, exact.PricePerHour(4, 16));
        }

        /// <summary>
        /// Eight placements race for a quota of five from four store connections (as four processes would): the count and
        /// the reservation are one transaction, so exactly five win, whatever the interleaving.
        /// </summary>
        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void ParallelReservations_NeverExceedTheQuota(string backend)
        {
            using var tmp = new TempDir();
            using (var first = Backends.Open(backend, tmp)) GridData.EnsureSchema(first);
            var stores = Enumerable.Range(0, 4).Select(_ => Backends.Reopen(backend, tmp, readOnly: false)).ToArray();
            try
            {
                var a = Agreement("q", maxWorkloads: 5);
                int won = 0, refused = 0;
                var errors = new List<Exception>();
                using var go = new ManualResetEventSlim(false);
                var threads = Enumerable.Range(0, 8).Select(i => new Thread(() =>
                {
                    go.Wait();
                    try
                    {
                        GridService.ReserveUnderQuota(stores[i % 4], a, "Contoso", new[] { "dub-1", "dub-2" }, (1, 0, 0), new HashSet<string>(),
                            new Demand { Cpu = 2, MemoryMB = 2048 }, i % 2 == 0 ? "dub-1" : "dub-2", $"dub-{i % 2 + 1}/w{i}", "w" + i);
                        Interlocked.Increment(ref won);
                    }
                    catch (GridException g) when (g.ErrorId == "AgreementQuotaExceeded") { Interlocked.Increment(ref refused); }
                    catch (Exception ex) { lock (errors) errors.Add(ex); }
                })).ToList();
                threads.ForEach(t => t.Start());
                go.Set();
                threads.ForEach(t => t.Join());
                Assert.Empty(errors);
                Assert.Equal(4, won); // one workload already listed: 4 more fit under MaxWorkloads 5
                Assert.Equal(4, refused);
                var live = stores[0].Read(c => GridData.LiveReservations(c, new[] { "dub-1", "dub-2" }));
                Assert.Equal(4, live.Count);
            }
            finally { foreach (var s in stores) s.Dispose(); }
        }

        [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
        public void Quota_NamesTheLimit_AndListedWorkloadsAreNotCountedTwice(string backend)
        {
            using var tmp = new TempDir();
            using var s = Backends.Open(backend, tmp);
            GridData.EnsureSchema(s);
            var a = Agreement("c", maxCpu: 8);
            GridService.ReserveUnderQuota(s, a, "Contoso", new[] { "dub-1" }, (0, 0, 0), new HashSet<string>(), new Demand { Cpu = 4, MemoryMB = 1024 }, "dub-1", "dub-1/a", "a");
            // 'a' is now listed by the provider (4 CPU): its reservation is not counted again.
            GridService.ReserveUnderQuota(s, a, "Contoso", new[] { "dub-1" }, (1, 4, 1024), new HashSet<string> { "dub-1/a" }, new Demand { Cpu = 4, MemoryMB = 1024 }, "dub-1", "dub-1/b", "b");
            var ex = Assert.Throws<GridException>(() =>
                GridService.ReserveUnderQuota(s, a, "Contoso", new[] { "dub-1" }, (1, 4, 1024), new HashSet<string> { "dub-1/a" }, new Demand { Cpu = 1, MemoryMB = 1024 }, "dub-1", "dub-1/c", "c"));
            Assert.Equal("AgreementQuotaExceeded", ex.ErrorId);
            Assert.Equal(GridErrorKind.ResourceUnavailable, ex.Kind);
            Assert.Contains("MaxCpu 8: 8 in use, this needs 1 more", ex.Message);
            // Another consumer's reservations do not count against Contoso.
            var other = Agreement("o", maxCpu: 8); other.Consumer = "Tailspin";
            GridService.ReserveUnderQuota(s, other, "Tailspin", new[] { "dub-1" }, (0, 0, 0), new HashSet<string>(), new Demand { Cpu = 8, MemoryMB = 1024 }, "dub-1", "dub-1/t", "t");
        }
    }

    public class RequirementTests
    {
        private static readonly Dictionary<string, object?>[] Hosts =
        {
            new Dictionary<string, object?> { ["Name"] = "ams-1/h1", ["Provider"] = "Simulator", ["Owner"] = "Contoso", ["Site"] = "Amsterdam", ["Datacenter"] = "ams-1", ["Cluster"] = "c1", ["Host"] = "h1", ["FreeCpu"] = 12.0, ["FreeMemoryGB"] = 96.0, ["Price"] = 0.10m, ["Tag.ssd"] = "true" },
            new Dictionary<string, object?> { ["Name"] = "dub-1/h2", ["Provider"] = "Simulator", ["Owner"] = "Fabrikam", ["Site"] = "Dublin", ["Datacenter"] = "dub-1", ["Cluster"] = "c2", ["Host"] = "h2", ["FreeCpu"] = 4.0, ["FreeMemoryGB"] = 8.0, ["Price"] = 0.05m },
            new Dictionary<string, object?> { ["Name"] = "azure-we/-", ["Provider"] = "Azure", ["Owner"] = "Contoso", ["Site"] = "West Europe", ["Datacenter"] = "azure-we", ["Cluster"] = null, ["Host"] = null, ["FreeCpu"] = null, ["FreeMemoryGB"] = null, ["Price"] = null },
        };

        [Theory]
        [InlineData("Provider -eq 'Simulator'", "ams-1/h1,dub-1/h2")]
        [InlineData("Provider == Azure", "azure-we/-")]
        [InlineData("FreeCpu -ge 8", "ams-1/h1")]
        [InlineData("FreeCpu >= 4 and FreeMemoryGB > 8", "ams-1/h1")]
        [InlineData("Site -in ('Amsterdam', 'West Europe')", "ams-1/h1,azure-we/-")]
        [InlineData("Site -notin 'Dublin'", "ams-1/h1,azure-we/-")]
        [InlineData("not (Owner -eq 'Contoso')", "dub-1/h2")]
        [InlineData("-not Owner -eq Contoso -or Price -lt 0.08", "dub-1/h2")]
        [InlineData("Owner -eq 'Contoso' -and (Provider -eq 'Azure' or FreeCpu -gt 100)", "azure-we/-")]
        [InlineData("Price -le 0.10", "ams-1/h1,dub-1/h2")]          // an unknown price never compares true
        [InlineData("Price -ne 0.05", "ams-1/h1,azure-we/-")]        // ... except -ne
        [InlineData("Datacenter -like 'dub-*' or Tag.ssd -eq true", "ams-1/h1,dub-1/h2")]
        [InlineData("Cluster -notlike 'c*'", "azure-we/-")]
        [InlineData("site -EQ 'amsterdam'", "ams-1/h1")]              // names and text compare case-insensitively
        [InlineData("Host -eq 'h1' or Host -eq \"h2\"", "ams-1/h1,dub-1/h2")]
        public void Expressions_AcceptTheExpectedHosts(string expression, string expected)
        {
            var r = Requirement.Parse(expression);
            var accepted = Hosts.Where(h => r.Evaluate(n => h.TryGetValue(n, out var v) ? v : null)).Select(h => (string)h["Name"]!);
            Assert.Equal(expected, string.Join(",", accepted));
        }

        [Theory]
        [InlineData("Site -eq 'Dublin' and Price -lt 1", "Price,Site")]            // datacenter fields only: evaluated once per datacenter
        [InlineData("not (freecpu -ge 8) or Provider == Azure", "FreeCpu,Provider")] // canonical names
        [InlineData("Tag.ssd -eq true", "Tag.ssd")]
        public void PropertiesUsed_NamesWhatTheExpressionReads(string expression, string expected)
            => Assert.Equal(expected, string.Join(",", Requirement.Parse(expression).PropertiesUsed.OrderBy(p => p, StringComparer.Ordinal)));

        [Theory]
        [InlineData("", 1, "empty")]
        [InlineData("FreeCpu -ge", 12, "expected a value after 'ge'")]
        [InlineData("FreeCpu 8", 9, "expected a comparison")]
        [InlineData("Cpus -ge 8", 1, "unknown property 'Cpus'")]
        [InlineData("(Site -eq 'Dublin'", 19, "expected ')' to close the '(' at position 1")]
        [InlineData("Site -eq 'Dublin", 10, "string is not closed")]
        [InlineData("Site -equals 'x'", 6, "unknown operator '-equals'")]
        [InlineData("Site -in ('a', 'b'", 19, "expected ',' or ')'")]
        [InlineData("Site -eq 'a' Owner -eq 'b'", 14, "unexpected 'Owner'")]
        [InlineData("FreeCpu = 8", 9, "'=' alone")]
        [InlineData("Site -eq 'a' and", 17, "expected a property")]
        [InlineData("Site -eq 'a' # x", 14, "unexpected character '#'")]
        public void Malformed_NamesThePosition(string expression, int position, string what)
        {
            var ex = Assert.Throws<GridException>(() => Requirement.Parse(expression));
            Assert.Equal("InvalidRequirement", ex.ErrorId);
            Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
            Assert.Contains($"position {position}:", ex.Message);
            Assert.Contains(what, ex.Message);
        }
    }
}
