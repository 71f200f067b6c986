using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Provider.Xen.Tests.Server;
using Xunit;

namespace GridAutomation.Provider.Xen.Tests
{
    /// <summary>
    /// Every recorded pool database of ../shared/fixtures/xapi loads into the fake XAPI and lists through the provider
    /// with the counts SOURCES.md gives (computed there independently of our parser).
    /// </summary>
    public class DumpInventoryTests
    {
        // file, pool name, hosts, halted, running, suspended, templates, snapshots, dom0 rows — from SOURCES.md.
        public static readonly object[][] Expected =
        {
            new object[] { "state.db", "", 1, 5, 2, 0, 42, 0, 1 },
            new object[] { "state1.xml", "Hottub", 2, 1, 3, 0, 51, 2, 2 },
            new object[] { "state3.xml", "Grimsby pool", 2, 3, 3, 0, 49, 0, 2 },
            new object[] { "snapshots.xml", "", 1, 0, 1, 0, 52, 2, 1 },
            new object[] { "updatesState.xml", "", 1, 1, 1, 0, 63, 1, 1 },
            new object[] { "state4.xml", "Hottub", 2, 1, 4, 0, 50, 2, 2 },
            new object[] { "Cowley-db.xml", "GUI team permanent 5.6 FP1 (Cowley)", 1, 0, 8, 0, 49, 15, 1 },
            new object[] { "cowley1.xml", "Grimsby Pool", 2, 1, 3, 0, 87, 1, 2 },
            new object[] { "state5.xml", "", 1, 1, 1, 0, 64, 0, 1 },
            new object[] { "boston-db.xml", "New Pool", 2, 0, 2, 0, 56, 0, 2 },
            new object[] { "small_vms.xml", "", 1, 2, 0, 0, 57, 0, 1 },
            new object[] { "xapidb_app.xml", "Boston Pool", 2, 2, 2, 0, 60, 0, 2 },
            new object[] { "tampa-poolof16and23-xapi-db.xml", "16And23", 2, 0, 4, 0, 61, 0, 2 },
            new object[] { "TampaTwoHostPoolSelectioniSCSI.xml", "Pool", 2, 0, 4, 0, 61, 0, 2 },
            new object[] { "tampa-db_inc_snapshots.xml", "TampaPool", 2, 0, 2, 0, 61, 5, 2 },
            new object[] { "tampa_poolofone_40.xml", "PoolOfOne", 1, 0, 2, 0, 61, 0, 1 },
            new object[] { "interesting-development.xml", "R & D", 2, 8, 6, 2, 0, 0, 0 },
            new object[] { "interesting-xenapp.xml", "XenApp Farm", 2, 0, 7, 2, 0, 0, 0 },
            new object[] { "interesting-production.xml", "Main Production", 1, 0, 6, 0, 0, 0, 0 },
        };

        public static IEnumerable<object[]> Rows()
        {
            foreach (var row in Expected)
                foreach (var protocol in new[] { "JsonRpc", "XmlRpc" })
                    yield return row.Concat(new object[] { protocol }).ToArray();
        }

        [XapiTheory]
        [MemberData(nameof(Rows))]
        public async Task EveryDump_LoadsAndLists_WithTheCountsOfSources(string file, string pool, int hosts, int halted, int running, int suspended,
            int templates, int snapshots, int dom0, string protocol)
        {
            using var server = FakeXapi.FromFixture(file);
            var vms = server.Db["VM"].Values.ToList();
            Assert.Equal(snapshots, vms.Count(v => v["is_a_snapshot"] is true));
            Assert.Equal(dom0, vms.Count(v => v["is_control_domain"] is true));

            using var c = await TestConnect.ConnectAsync(server, protocol);
            Assert.Equal(pool, c.PoolName);
            server.ClearCalls();
            var all = new List<GridWorkload>();
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery { PageSize = 3 }, CancellationToken.None)) all.AddRange(page);
            Assert.Equal(halted + running + suspended, all.Count);
            Assert.Equal(halted, all.Count(w => w.State == WorkloadState.Stopped && w.NativeState == "Halted"));
            Assert.Equal(running, all.Count(w => w.State == WorkloadState.Running && w.NativeState == "Running"));
            Assert.Equal(suspended, all.Count(w => w.State == WorkloadState.Suspended && w.NativeState == "Suspended"));
            // One call per class, never one per VM.
            Assert.Equal(1, server.Count("VM.get_all_records"));
            Assert.Equal(1, server.Count("VM_metrics.get_all_records"));
            Assert.Equal(1, server.Count("VM_guest_metrics.get_all_records"));
            Assert.Equal(0, server.Count("VM.get_record"));
            Assert.All(server.Protocols, p => Assert.Equal(protocol == "JsonRpc" ? "json" : "xml", p));

            // Running VMs are placed on a host of the pool; halted and suspended ones on none.
            var hostList = await c.ListHostsAsync(CancellationToken.None);
            Assert.Equal(hosts, hostList.Count);
            var names = hostList.Select(h => h.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
            Assert.All(all.Where(w => w.State == WorkloadState.Running), w => Assert.Contains(w.Host!, names));
            Assert.All(all.Where(w => w.State != WorkloadState.Running), w => Assert.Null(w.Host));
            Assert.All(all, w => { Assert.False(string.IsNullOrEmpty(w.NativeId)); Assert.Equal("Xen", w.Provider); });

            var images = await c.ListImagesAsync(new Dictionary<string, string>(), CancellationToken.None);
            Assert.Equal(templates, images.Count);
        }

        [XapiFact]
        public async Task SampleDb_RowsAreKeyedByRef_NotByTheDiverging_ref()
        {
            // interesting-xenapp.xml: host 'inflames' has ref …73f3429521fc but _ref …73f3429421fc; four Running VMs point at the ref.
            using var server = FakeXapi.FromFixture("interesting-xenapp.xml");
            using var c = await TestConnect.ConnectAsync(server);
            var all = new List<GridWorkload>();
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery(), CancellationToken.None)) all.AddRange(page);
            foreach (var name in new[] { "XenApp 4", "XenApp 5", "XenApp 6", "NetBackup 2" })
                Assert.Equal("inflames", Assert.Single(all, w => w.Name == name).Host);
        }

        [XapiTheory]
        [InlineData("Cowley-db.xml", 1, 24, 32.0)]
        [InlineData("boston-db.xml", 2, 2, 3.0)]
        [InlineData("cowley1.xml", 2, 2, 3.9)]
        [InlineData("small_vms.xml", 1, 8, 8.0)]
        [InlineData("tampa-poolof16and23-xapi-db.xml", 2, 8, 8.0)]
        public async Task HostCapacity_ComesFrom_host_metrics_And_host_cpu(string file, int hosts, int cpus, double gib)
        {
            using var server = FakeXapi.FromFixture(file);
            using var c = await TestConnect.ConnectAsync(server);
            var list = await c.ListHostsAsync(CancellationToken.None);
            Assert.Equal(hosts, list.Count);
            Assert.All(list, h =>
            {
                Assert.Equal(cpus, h.CpuCores);
                Assert.NotNull(h.MemoryGB);
                Assert.InRange(h.MemoryGB!.Value, gib - 0.15, gib + 0.15);
                Assert.Equal(HostState.Connected, h.State);
            });
        }

        [XapiFact]
        public async Task OldDumps_WithoutHostMetrics_HaveNoInventedCapacity()
        {
            using var server = FakeXapi.FromFixture("state3.xml");
            using var c = await TestConnect.ConnectAsync(server);
            var list = await c.ListHostsAsync(CancellationToken.None);
            Assert.All(list, h => { Assert.Null(h.MemoryMB); Assert.Equal(2, h.CpuCores); });
        }

        [XapiFact]
        public void LineEndings_CR_CRLF_LF_AndNone_AllParse()
        {
            var model = Datamodel.Load(Fixtures.Datamodel);
            foreach (var file in new[] { "xapidb_app.xml", "state.db", "state1.xml", "boston-db.xml" })
            {
                var dump = DumpLoader.Load(Fixtures.Dump(file), model);
                Assert.True(dump.Tables["VM"].Count > 0, file);
                Assert.All(dump.Tables["VM"].Values, v => Assert.IsType<long>(v["memory_static_max"]));
                Assert.All(dump.Tables["VM"].Values, v => Assert.IsType<List<object?>>(v["tags"]));
            }
        }
    }
}
