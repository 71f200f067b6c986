using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using Xunit;

namespace GridAutomation.Core.Tests
{
    /// <summary>
    /// A plan lists a datacenter's workloads only where a filter reads them (GridService.WorkloadsNeeded): anti-affinity
    /// (every datacenter), an agreement with quotas whose consumer is in the request (every datacenter it covers), and
    /// pending reservations. Anything else plans from the hosts' listing alone.
    /// </summary>
    public class PlacementListingTests
    {
        private static readonly DateTimeOffset Now = new DateTimeOffset(2026, 12, 7, 8, 0, 0, TimeSpan.Zero);

        private static readonly GridDatacenter[] Dcs =
        {
            new GridDatacenter { Name = "ams-1", Provider = "Simulator", Owner = "Contoso" },
            new GridDatacenter { Name = "dub-1", Provider = "Simulator", Owner = "Fabrikam" },
            new GridDatacenter { Name = "dub-2", Provider = "Simulator", Owner = "Fabrikam" },
            new GridDatacenter { Name = "par-1", Provider = "Simulator", Owner = "Northwind" },
        };

        private static PlacementRequest Request(string owner, string? antiAffinity = null)
            => new PlacementRequest { Pool = "eu", AntiAffinity = antiAffinity, Workloads = { new WorkloadSpec { Name = "w1", Cpu = 2, MemoryMB = 4096, Owner = owner } } };

        private static GridAgreement Agreement(string owner, string consumer, string dc, int? maxCpu = null, int? maxWorkloads = null, DateTimeOffset? end = null)
            => new GridAgreement { Id = Guid.NewGuid().ToString("n"), Owner = owner, Consumer = consumer, Datacenter = dc, MaxCpu = maxCpu, MaxWorkloads = maxWorkloads, End = end, Created = Now.AddDays(-1) };

        private static string[] Needed(PlacementRequest r, IReadOnlyList<GridAgreement> a, IReadOnlyList<GridData.Reservation>? res = null)
            => GridService.WorkloadsNeeded(r, Dcs, a, res ?? new List<GridData.Reservation>(), Now).OrderBy(x => x, StringComparer.Ordinal).ToArray();

        [Fact]
        public void OwnCapacity_AndAgreementsWithoutQuotas_ListNoWorkloads()
        {
            Assert.Empty(Needed(Request("Contoso"), Array.Empty<GridAgreement>()));
            Assert.Empty(Needed(Request("Contoso"), new[] { Agreement("Fabrikam", "Contoso", "dub-*") }));
            // A quota of another consumer, or one no longer in force, is not counted for this request.
            Assert.Empty(Needed(Request("Contoso"), new[] { Agreement("Fabrikam", "Northwind", "dub-*", maxCpu: 8) }));
            Assert.Empty(Needed(Request("Contoso"), new[] { Agreement("Fabrikam", "Contoso", "dub-*", maxCpu: 8, end: Now.AddDays(-1)) }));
        }

        [Fact]
        public void AgreementQuota_ListsEveryDatacenterItCovers()
        {
            Assert.Equal(new[] { "dub-1", "dub-2" }, Needed(Request("Contoso"), new[] { Agreement("Fabrikam", "Contoso", "dub-*", maxWorkloads: 5) }));
            Assert.Equal(new[] { "dub-1", "dub-2" }, Needed(Request("Contoso"), new[] { Agreement("Fabrikam", "Contoso", "dub-*", maxCpu: 8), Agreement("Fabrikam", "Contoso", "dub-2", maxCpu: 4) }));
            Assert.Equal(new[] { "par-1" }, Needed(Request("Contoso"), new[] { Agreement("Northwind", "Contoso", "par-1", maxCpu: 8) }));
        }

        [Fact]
        public void AntiAffinity_ListsEveryDatacenter_AndReservationsTheirs()
        {
            Assert.Equal(Dcs.Select(d => d.Name).ToArray(), Needed(Request("Contoso", antiAffinity: "web"), Array.Empty<GridAgreement>()));
            var res = new List<GridData.Reservation> { new GridData.Reservation { Key = "dub-2/x", Datacenter = "dub-2", Host = "host-1", Cpu = 2, MemoryMB = 1024, Consumer = "Contoso" } };
            Assert.Equal(new[] { "dub-2" }, Needed(Request("Contoso"), Array.Empty<GridAgreement>(), res));
        }
    }
}
