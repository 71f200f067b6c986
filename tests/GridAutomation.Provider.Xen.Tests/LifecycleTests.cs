using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Provider.Xen.Tests.Server;
using GridAutomation.Providers.Xen;
using Xunit;

namespace GridAutomation.Provider.Xen.Tests
{
    public class LifecycleTests
    {
        private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

        private static async Task<GridWorkload> CreateAsync(XenConnection c, string name, string size = "small", string? key = null, bool powerOn = true, TestScope? scope = null, string? host = null)
        {
            var req = new CreateWorkloadRequest { Name = name, Image = XenContractTests.Template, Size = size, IdempotencyKey = key ?? "k/" + name, PowerOn = powerOn, TargetHost = host };
            return await c.CreateWorkloadAsync(req, scope ?? new TestScope(req.IdempotencyKey), Ct);
        }

        private static string RefOf(FakeXapi s, string uuid) => s.Db["VM"].First(kv => (string?)kv.Value["uuid"] == uuid).Key;

        [XapiFact]
        public async Task Create_ClonesProvisionsAndStarts_WithTaskProgress_AndKeyInOtherConfig()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool);
            using var c = await TestConnect.ConnectAsync(s);
            int vdisBefore = s.Db["VDI"].Count;
            var scope = new TestScope("key-1");
            var w = await CreateAsync(c, "web-01", "medium", "key-1", scope: scope);
            Assert.Equal(WorkloadState.Running, w.State);
            Assert.Equal(2, w.CpuCount);
            Assert.Equal(4096, w.MemoryMB);
            Assert.Equal("medium", w.Size);
            Assert.Equal(XenContractTests.Template, w.Image);
            Assert.NotNull(w.Host);
            var row = s.Db["VM"][RefOf(s, w.NativeId)];
            Assert.Equal("key-1", ((Dictionary<string, object?>)row["other_config"]!)["gridautomation_idempotency_key"]);
            Assert.False(((Dictionary<string, object?>)row["other_config"]!).ContainsKey("disks"));
            Assert.Equal(vdisBefore + 1, s.Db["VDI"].Count); // the template's 8 GiB system disk, provisioned
            Assert.Contains(scope.ProgressReports, p => p.PercentComplete == 100 && p.Status.Contains("VM.start"));
            Assert.True(s.Count("Async.VM.clone") == 1 && s.Count("Async.VM.provision") == 1 && s.Count("Async.VM.start") == 1);
            Assert.True(s.Count("task.get_record") >= 3);
            Assert.Equal(0, s.Db["task"].Count); // every task destroyed after use

            // Same key again: the same VM, nothing cloned.
            var again = await CreateAsync(c, "web-01", "medium", "key-1");
            Assert.Equal(w.NativeId, again.NativeId);
            Assert.Equal(1, s.Count("Async.VM.clone"));
        }

        [XapiFact]
        public async Task Create_InterruptedBetweenCloneAndKey_IsFinishedOnTheSameVm()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool);
            using var c = await TestConnect.ConnectAsync(s);
            // What a crash right after VM.clone leaves: a template-flagged clone named like the workload, without the key.
            string template = s.Db["VM"].First(kv => (string?)kv.Value["name_label"] == XenContractTests.Template).Key;
            await c.Client.RunTaskAsync("VM.clone", null, Ct, template, "db-01");
            int before = s.Db["VM"].Count;
            var scope = new TestScope("key-db") { IsResume = true };
            scope.Checkpoint("clone", "template");
            var w = await CreateAsync(c, "db-01", key: "key-db", scope: scope);
            Assert.Equal(before, s.Db["VM"].Count);
            Assert.Equal(WorkloadState.Running, w.State);
            Assert.Equal(1, s.Count("Async.VM.clone"));
        }

        [XapiFact]
        public async Task Create_NameOfAnExistingVm_IsRefused_XapiWouldAllowDuplicates()
        {
            using var s = FakeXapi.FromFixture("boston-db.xml");
            using var c = await TestConnect.ConnectAsync(s);
            var all = new List<GridWorkload>();
            await foreach (var p in c.ListWorkloadsAsync(new WorkloadQuery(), Ct)) all.AddRange(p);
            var ex = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(new CreateWorkloadRequest
            {
                Name = all[0].Name.ToUpperInvariant(), Image = s.Db["VM"].Values.First(v => v["is_a_template"] is true && v["is_a_snapshot"] is false).GetValueOrDefault("name_label") as string,
                Size = "micro", IdempotencyKey = "other",
            }, new TestScope("other"), Ct));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("WorkloadNameExists", ex.ErrorId);
            Assert.Equal(0, s.Count("Async.VM.clone"));
        }

        [XapiFact]
        public async Task Start_WithoutHostMemory_IsResourceUnavailable_WithTheXapiCodeKept()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool); // two hosts of 8 GiB
            using var c = await TestConnect.ConnectAsync(s);
            var ex = await Assert.ThrowsAsync<GridException>(() => CreateAsync(c, "huge", "xlarge")); // 16 GiB
            Assert.Equal(GridErrorKind.ResourceUnavailable, ex.Kind);
            Assert.Equal("HOST_NOT_ENOUGH_FREE_MEMORY", ex.ErrorId);
            Assert.Equal("HOST_NOT_ENOUGH_FREE_MEMORY", ex.NativeCode);
            Assert.Contains("free", ex.Message);
        }

        [XapiFact]
        public async Task BadPowerState_FromATask_MapsToConflict_WithTheCode()
        {
            using var s = FakeXapi.FromFixture("boston-db.xml");
            using var c = await TestConnect.ConnectAsync(s);
            string running = s.Db["VM"].First(kv => kv.Value["power_state"] as string == "Running" && kv.Value["is_control_domain"] is false).Key;
            var ex = await Assert.ThrowsAsync<GridException>(() => XenConnection.XapiAsync(() => c.Client.RunTaskAsync("VM.start", null, Ct, running, false, false), "Starting"));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("VM_BAD_POWER_STATE", ex.ErrorId);
            Assert.Contains("running", ex.Message);
        }

        [XapiFact]
        public async Task PowerCycle_SuspendResume_Reboot_TurnOff_FollowTheRules()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool);
            using var c = await TestConnect.ConnectAsync(s);
            var w = await CreateAsync(c, "cycle");
            await c.SuspendAsync(w.NativeId, new TestScope(), Ct);
            var g = await c.GetWorkloadAsync(w.NativeId, Ct);
            Assert.Equal(("Suspended", WorkloadState.Suspended), (g.NativeState, g.State));
            Assert.Null(g.Host);
            // A suspended guest cannot shut down cleanly: refused before any call, with the way out named.
            var ex = await Assert.ThrowsAsync<GridException>(() => c.StopAsync(w.NativeId, StopMode.Graceful, new TestScope(), Ct));
            Assert.Equal("WorkloadNotRunning", ex.ErrorId);
            Assert.Contains("-TurnOff", ex.Message);
            await c.StartAsync(w.NativeId, new TestScope(), Ct); // VM.resume
            Assert.Equal(1, s.Count("Async.VM.resume"));
            await c.RestartAsync(w.NativeId, new TestScope(), Ct);
            Assert.Equal(1, s.Count("Async.VM.clean_reboot"));
            // Paused (outside GridAutomation): Start unpauses.
            await c.Client.RunTaskAsync("VM.pause", null, Ct, RefOf(s, w.NativeId));
            Assert.Equal(WorkloadState.Paused, (await c.GetWorkloadAsync(w.NativeId, Ct)).State);
            await c.StartAsync(w.NativeId, new TestScope(), Ct);
            Assert.Equal(1, s.Count("Async.VM.unpause"));
            await c.StopAsync(w.NativeId, StopMode.Graceful, new TestScope(), Ct);
            Assert.Equal(1, s.Count("Async.VM.clean_shutdown"));
            await c.StartAsync(w.NativeId, new TestScope(), Ct);
            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct);
            Assert.Equal(1, s.Count("Async.VM.hard_shutdown"));
            var r = await Assert.ThrowsAsync<GridException>(() => c.RestartAsync(w.NativeId, new TestScope(), Ct));
            Assert.Equal("WorkloadNotRunning", r.ErrorId);
            var d = await Assert.ThrowsAsync<GridException>(() => c.StopAsync(w.NativeId, StopMode.Deallocate, new TestScope(), Ct));
            Assert.Equal(GridErrorKind.Unsupported, d.Kind);
        }

        [XapiFact]
        public async Task Resize_RunningWithoutAllowRestart_IsRefused_WithAllowRestart_StopsResizesStarts()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool);
            using var c = await TestConnect.ConnectAsync(s);
            var w = await CreateAsync(c, "rs");
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ResizeAsync(w.NativeId, new ResizeRequest { CpuCount = 4 }, new TestScope(), Ct));
            Assert.Equal("ResizeRequiresRestart", ex.ErrorId);
            var scope = new TestScope();
            await c.ResizeAsync(w.NativeId, new ResizeRequest { Size = "medium", AllowRestart = true }, scope, Ct);
            var g = await c.GetWorkloadAsync(w.NativeId, Ct);
            Assert.Equal((2, 4096L, "medium", WorkloadState.Running), (g.CpuCount!.Value, g.MemoryMB!.Value, g.Size!, g.State));
            Assert.Equal("starting", scope.Checkpoints["restart"]);
            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct);
            await c.ResizeAsync(w.NativeId, new ResizeRequest { CpuCount = 1 }, new TestScope(), Ct); // lower: at_startup before max
            Assert.Equal(1, (await c.GetWorkloadAsync(w.NativeId, Ct)).CpuCount);
        }

        [XapiFact]
        public async Task Move_Running_IsPoolMigrateLive_Halted_SetsAffinity()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool);
            using var c = await TestConnect.ConnectAsync(s);
            var hosts = await c.ListHostsAsync(Ct);
            var w = await CreateAsync(c, "mv", host: hosts[0].Name);
            Assert.Equal(hosts[0].Name, w.Host);
            await c.MoveAsync(w.NativeId, hosts[1].Name, new TestScope(), Ct);
            Assert.Equal(hosts[1].Name, (await c.GetWorkloadAsync(w.NativeId, Ct)).Host);
            Assert.Equal(1, s.Count("Async.VM.pool_migrate"));
            var after = await c.ListHostsAsync(Ct);
            Assert.Equal(1, after.Single(h => h.Name == hosts[1].Name).AllocatedCpu - hosts[1].AllocatedCpu);
            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct);
            await c.MoveAsync(w.NativeId, hosts[0].Name, new TestScope(), Ct);
            Assert.Equal(hosts[0].Properties["Ref"], s.Db["VM"][RefOf(s, w.NativeId)]["affinity"]);
            await c.StartAsync(w.NativeId, new TestScope(), Ct);
            Assert.Equal(hosts[0].Name, (await c.GetWorkloadAsync(w.NativeId, Ct)).Host);
        }

        [XapiFact]
        public async Task Remove_WithStorage_DestroysTheDisks_WithoutKeepsThem()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool);
            using var c = await TestConnect.ConnectAsync(s);
            int vdis = s.Db["VDI"].Count;
            var a = await CreateAsync(c, "keep");
            var b = await CreateAsync(c, "drop");
            Assert.Equal(vdis + 2, s.Db["VDI"].Count);
            await c.RemoveAsync(a.NativeId, false, new TestScope(), Ct);
            Assert.Equal(vdis + 2, s.Db["VDI"].Count);
            await c.RemoveAsync(b.NativeId, true, new TestScope(), Ct);
            Assert.Equal(vdis + 1, s.Db["VDI"].Count);
            Assert.Equal(1, s.Count("Async.VDI.destroy"));
            var nf = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(b.NativeId, Ct));
            Assert.Equal(GridErrorKind.NotFound, nf.Kind);
        }

        [XapiFact]
        public async Task Tags_AreXapiTagLabels_KeyEqualsValue()
        {
            using var s = FakeXapi.FromFixture(XenContractTests.Pool);
            using var c = await TestConnect.ConnectAsync(s);
            var w = await CreateAsync(c, "tg", powerOn: false);
            await c.SetTagsAsync(w.NativeId, new Dictionary<string, string?> { ["env"] = "prod", ["team"] = "web" }, new TestScope(), Ct);
            await c.SetTagsAsync(w.NativeId, new Dictionary<string, string?> { ["env"] = "test", ["team"] = null }, new TestScope(), Ct);
            var tags = ((List<object?>)s.Db["VM"][RefOf(s, w.NativeId)]["tags"]!).Cast<string>().ToList();
            Assert.Equal(new[] { "env=test" }, tags);
            Assert.Equal("test", (await c.GetWorkloadAsync(w.NativeId, Ct)).Tags["env"]);
        }

        [XapiFact]
        public async Task Tags_AlsoReadAndWrite_XenCenterCustomFields_InOtherConfig()
        {
            // state.db (XenServer 5.0): "Kirkwood Server" has the labels Kirkwood and "Do not delete", and the custom
            // fields Location "", Department "Engineering" and "Installed on".
            using var s = FakeXapi.FromFixture("state.db");
            using var c = await TestConnect.ConnectAsync(s);
            var all = new List<GridWorkload>();
            await foreach (var p in c.ListWorkloadsAsync(new WorkloadQuery(), Ct)) all.AddRange(p);
            var k = Assert.Single(all, w => w.Name == "Kirkwood Server");
            Assert.Equal("", k.Tags["Kirkwood"]);
            Assert.Equal("", k.Tags["Do not delete"]);
            Assert.Equal("Engineering", k.Tags["Department"]);
            Assert.Equal("12/3/2008 7:32:12 PM", k.Tags["Installed on"]);
            Assert.Equal("", k.Tags["Location"]);
            await c.SetTagsAsync(k.NativeId, new Dictionary<string, string?> { ["department"] = "Finance", ["Location"] = null, ["Do not delete"] = null, ["env"] = "prod" }, new TestScope(), Ct);
            var row = s.Db["VM"][RefOf(s, k.NativeId)];
            var other = (Dictionary<string, object?>)row["other_config"]!;
            Assert.Equal("Finance", other["XenCenter.CustomFields.Department"]);
            Assert.False(other.ContainsKey("XenCenter.CustomFields.Location"));
            Assert.Equal(new[] { "Kirkwood", "env=prod" }, ((List<object?>)row["tags"]!).Cast<string>().OrderBy(x => x, StringComparer.Ordinal).ToArray());
            var g = await c.GetWorkloadAsync(k.NativeId, Ct);
            Assert.Equal(("Finance", "prod"), ((string)g.Tags["Department"]!, (string)g.Tags["env"]!));
            Assert.False(g.Tags.ContainsKey("Location"));
        }

        [XapiFact]
        public async Task SessionInvalid_LogsInAgain_Once()
        {
            using var s = FakeXapi.FromFixture("boston-db.xml");
            var verbose = new List<string>();
            using var c = await TestConnect.ConnectAsync(s, verbose: verbose);
            s.InvalidateSessions();
            var hosts = await c.ListHostsAsync(Ct);
            Assert.Equal(2, hosts.Count);
            Assert.Equal(2, s.Count("session.login_with_password"));
            Assert.Contains(verbose, v => v.Contains("logging in again"));
        }

        [XapiFact]
        public async Task WrongPassword_IsUnauthorized_AndTheSecretIsNowhere()
        {
            using var s = FakeXapi.FromFixture("boston-db.xml");
            var verbose = new List<string>();
            var ex = await Assert.ThrowsAsync<GridException>(() => TestConnect.ConnectAsync(s, password: "S3cret-Wrong!", verbose: verbose));
            Assert.Equal(GridErrorKind.Unauthorized, ex.Kind);
            Assert.Equal("SESSION_AUTHENTICATION_FAILED", ex.ErrorId);
            Assert.DoesNotContain("S3cret-Wrong!", ex.ToString());
            Assert.DoesNotContain(verbose, v => v.Contains("S3cret-Wrong!"));
        }

        [XapiFact]
        public async Task HostIsSlave_IsFollowedToTheMaster()
        {
            using var master = FakeXapi.FromFixture("boston-db.xml");
            using var member = FakeXapi.FromFixture("boston-db.xml");
            member.SlaveOf = "127.0.0.1:" + master.Port; // XAPI sends the address only; our loopback master has its own port
            var verbose = new List<string>();
            using var c = await TestConnect.ConnectAsync(master, url: member.Url, verbose: verbose);
            Assert.Equal(master.Port, c.Client.BaseUrl.Port);
            Assert.Equal(1, member.Count("session.login_with_password"));
            Assert.Equal(0, member.Count("pool.get_all_records"));
            Assert.Equal(2, (await c.ListHostsAsync(Ct)).Count);
            Assert.Contains(verbose, v => v.Contains("HOST_IS_SLAVE"));
            Assert.Equal("https://10.0.0.1/", GridAutomation.Providers.Xen.Xapi.XapiClient.MasterUrl(new Uri("https://xs2:443"), "10.0.0.1").ToString());
        }

        [XapiFact]
        public async Task JsonRpc_OnAPoolWithoutIt_SaysToUseXmlRpc_OrFallsBackWhenNoProtocolIsGiven()
        {
            using var s = FakeXapi.FromFixture("state.db");
            s.JsonRpcEnabled = false;
            var ex = await Assert.ThrowsAsync<GridException>(() => TestConnect.ConnectAsync(s, "JsonRpc"));
            Assert.Equal("XenJsonRpcNotSupported", ex.ErrorId);
            Assert.Contains("-Protocol XmlRpc", ex.Message);
            using (var c = await TestConnect.ConnectAsync(s, "XmlRpc"))
                Assert.Single(await c.ListHostsAsync(Ct));
            s.Protocols.Clear();
            var verbose = new List<string>();
            using var auto = await TestConnect.ConnectAsync(s, protocol: null, verbose: verbose);
            Assert.Single(await auto.ListHostsAsync(Ct));
            Assert.Equal(new[] { "json-refused" }, s.Protocols.Where(p => p != "xml").ToArray());
            Assert.EndsWith("/ (pool )", auto.Endpoint);
            Assert.Contains(verbose, v => v.Contains("using XML-RPC"));
            // A pool that has JSON-RPC keeps it.
            using var modern = FakeXapi.FromFixture("boston-db.xml");
            using var j = await TestConnect.ConnectAsync(modern, protocol: null);
            Assert.Contains("/jsonrpc", j.Endpoint);
            Assert.All(modern.Protocols, p => Assert.Equal("json", p));
        }

        [XapiFact]
        public async Task Tls_RefusedByDefault_AcceptedPinnedOrSkipped()
        {
            using var rsa = RSA.Create(2048);
            var req = new CertificateRequest("CN=xapi-test", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            using var pfx = new X509Certificate2(cert.Export(X509ContentType.Pfx));
            using var s = FakeXapi.FromFixture("boston-db.xml", pfx);
            Assert.StartsWith("https://", s.Url);
            var ex = await Assert.ThrowsAsync<GridException>(() => TestConnect.ConnectAsync(s));
            Assert.Equal("CertificateNotTrusted", ex.ErrorId);
            string sha256 = TlsSettings.Colons(TlsSettings.Sha256(pfx.RawData));
            Assert.Contains(sha256, ex.Message);
            using (var pinned = await TestConnect.ConnectAsync(s, settings: new Dictionary<string, string> { ["ServerCertificateThumbprint"] = sha256 }))
                Assert.Equal(2, (await pinned.ListHostsAsync(Ct)).Count);
            var wrong = await Assert.ThrowsAsync<GridException>(() => TestConnect.ConnectAsync(s, settings: new Dictionary<string, string> { ["ServerCertificateThumbprint"] = new string('A', 64) }));
            Assert.Equal("CertificateNotTrusted", wrong.ErrorId);
            Assert.Contains("does not match", wrong.Message);
            using var skip = await TestConnect.ConnectAsync(s, settings: new Dictionary<string, string> { ["SkipCertificateCheck"] = "True" });
            Assert.Equal(2, (await skip.ListHostsAsync(Ct)).Count);
        }

        [XapiFact]
        public async Task GetUnknown_AndTemplates_AreNotFound()
        {
            using var s = FakeXapi.FromFixture("boston-db.xml");
            using var c = await TestConnect.ConnectAsync(s);
            var ex = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(Guid.NewGuid().ToString(), Ct));
            Assert.Equal(("WorkloadNotFound", "UUID_INVALID"), (ex.ErrorId, ex.NativeCode));
            var tpl = s.Db["VM"].Values.First(v => v["is_a_template"] is true && v["is_a_snapshot"] is false);
            var t = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync((string)tpl["uuid"]!, Ct));
            Assert.Equal(GridErrorKind.NotFound, t.Kind);
        }
    }
}
