using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.VSphere;
using GridAutomation.Providers.VSphere.Vim25;
using Xunit;

namespace GridAutomation.Provider.VSphere.Tests
{
    /// <summary>The vim25 client against loopback servers of ours: paging, faults, malformed answers, transport errors.</summary>
    public sealed class VimClientTests
    {
        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

        [SimulatorFact]
        public async Task Listing_FollowsContinueTokens_OneRoundTripPerPage()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "2", "-standalone-host", "1", "-vm", "5", "-templates", "1");
            using var proxy = new PagingProxy(sim.Url);
            using var direct = await sim.ConnectAsync("direct");
            var expected = new List<GridWorkload>();
            await foreach (var page in direct.ListWorkloadsAsync(new WorkloadQuery(), Ct())) expected.AddRange(page);
            Assert.Equal(9, expected.Count); // 2 pools x 5 VMs - 1 template

            using var c = (VSphereConnection)await new VSphereProvider().ConnectAsync(VcSim.Request(proxy.Url, "paged"), Ct());
            await c.ListHostsAsync(Ct()); // warm the host cache (hosts are listed once per 30 s)
            int before = proxy.Methods.Count;
            long tripsBefore = c.Vim.RoundTrips;
            var got = new List<GridWorkload>();
            int pages = 0;
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery { PageSize = 2 }, Ct())) { got.AddRange(page); pages++; Assert.True(page.Count <= 2); }
            var calls = proxy.Methods.Skip(before).ToList();
            // 10 VMs (template included) in pages of 2: 1 RetrievePropertiesEx + 4 ContinueRetrievePropertiesEx.
            Assert.Equal(1, calls.Count(m => m == "RetrievePropertiesEx"));
            Assert.Equal(4, calls.Count(m => m == "ContinueRetrievePropertiesEx"));
            Assert.Equal(4, proxy.PagesServedFromTokens);
            Assert.Equal(expected.Select(w => w.NativeId).OrderBy(x => x), got.Select(w => w.NativeId).OrderBy(x => x));
            Assert.Equal(calls.Count(m => m != "?"), c.Vim.RoundTrips - tripsBefore);
            Assert.True(pages >= 5);
        }

        [SimulatorFact]
        public async Task Listing_LaterPageRefused_IsRetriedThroughTheSharedPolicy_HonouringRetryAfter()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "2", "-standalone-host", "1", "-vm", "5", "-templates", "0");
            using var proxy = new PagingProxy(sim.Url);
            var policy = new RetryPolicy(3, TimeSpan.FromSeconds(5), 4, TimeSpan.FromMilliseconds(10));
            var retries = new List<(int Attempt, TimeSpan Delay, string Code)>();
            policy.Retrying += (dc, attempt, delay, ex) => { lock (retries) retries.Add((attempt, delay, ex.NativeCode ?? "")); };
            using var c = (VSphereConnection)await new VSphereProvider().ConnectAsync(VcSim.Request(proxy.Url, "paged", services: new ProviderServices(null!, policy)), Ct());
            proxy.ContinueFaults.Enqueue((503, "1"));
            proxy.ContinueFaults.Enqueue((429, null));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var got = new List<GridWorkload>();
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery { PageSize = 3 }, Ct())) got.AddRange(page);
            Assert.Equal(10, got.Select(w => w.NativeId).Distinct().Count()); // nothing lost, nothing twice
            Assert.Equal(10, got.Count);
            Assert.Equal(new[] { "HTTP503", "HTTP429" }, retries.Select(r => r.Code));
            Assert.Equal(TimeSpan.FromSeconds(1), retries[0].Delay); // the server's Retry-After, not the policy's backoff
            Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(950), "Retry-After of 1 s not honoured: " + sw.Elapsed);
        }

        [SimulatorFact]
        public async Task Listing_LaterPageWithUnknownOutcome_IsNotRetried_SoNoPageIsSkipped()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "2", "-standalone-host", "1", "-vm", "5", "-templates", "0");
            using var proxy = new PagingProxy(sim.Url);
            var policy = new RetryPolicy(3, TimeSpan.FromSeconds(5), 4, TimeSpan.FromMilliseconds(10));
            int retried = 0;
            policy.Retrying += (dc, attempt, delay, ex) => Interlocked.Increment(ref retried);
            using var c = (VSphereConnection)await new VSphereProvider().ConnectAsync(VcSim.Request(proxy.Url, "paged", services: new ProviderServices(null!, policy)), Ct());
            proxy.ContinueFaults.Enqueue((502, null)); // a gateway error: the server may have moved the token on
            var got = new List<GridWorkload>();
            var ex = await Assert.ThrowsAsync<GridException>(async () =>
            {
                await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery { PageSize = 3 }, Ct())) got.AddRange(page);
            });
            Assert.Equal("HTTP502", ex.NativeCode);
            Assert.Equal(GridErrorKind.Unavailable, ex.Kind);
            Assert.False(ex.IsTransient); // so the engine does not retry it either
            Assert.Equal(0, retried);
            Assert.Equal(3, got.Count);
        }

        [SimulatorFact]
        public async Task Listing_StoppedEarly_CancelsTheOutstandingToken()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "2", "-standalone-host", "1", "-vm", "5", "-templates", "0");
            using var proxy = new PagingProxy(sim.Url);
            using var c = (VSphereConnection)await new VSphereProvider().ConnectAsync(VcSim.Request(proxy.Url, "paged"), Ct());
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery { PageSize = 3 }, Ct())) break;
            Assert.Single(proxy.Cancelled);
            Assert.Contains("CancelRetrievePropertiesEx", proxy.Methods);
        }

        private static string Envelope(string inner)
            => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soapenv:Body>"
               + inner + "</soapenv:Body></soapenv:Envelope>";

        private const string ServiceContent = "<RetrieveServiceContentResponse xmlns=\"urn:vim25\"><returnval><rootFolder type=\"Folder\">group-d1</rootFolder><propertyCollector type=\"PropertyCollector\">propertyCollector</propertyCollector><viewManager type=\"ViewManager\">ViewManager</viewManager><about><fullName>Replay</fullName><apiType>VirtualCenter</apiType><apiVersion>7.0.3.0</apiVersion></about><sessionManager type=\"SessionManager\">SessionManager</sessionManager><searchIndex type=\"SearchIndex\">SearchIndex</searchIndex></returnval></RetrieveServiceContentResponse>";

        private static Task<GridException> ConnectFails(LoopbackHttp server)
            => Assert.ThrowsAsync<GridException>(() => new VSphereProvider().ConnectAsync(VcSim.Request(server.Url, password: "hunter2-secret"), Ct()));

        [Fact]
        public async Task MalformedXml_IsAClearError_NotACrash()
        {
            foreach (var bad in new[] { "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><Retrieve", "not xml at all", "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"boom\">]><x>&e;</x>", Envelope("") })
            {
                using var server = new LoopbackHttp((req, body) => Task.FromResult<(int, string, IDictionary<string, string>?)>((200, bad, null)));
                var ex = await ConnectFails(server);
                Assert.Equal("MalformedResponse", ex.ErrorId);
                Assert.Equal(GridErrorKind.Unavailable, ex.Kind);
                Assert.False(ex.IsTransient);
                Assert.Contains("malformed or unexpected", ex.Message);
            }
        }

        [Fact]
        public async Task Faults_MapToKinds_AndLoginNeverLeaksThePassword()
        {
            var cases = new (string Fault, GridErrorKind Kind, string Id)[]
            {
                ("InvalidLogin", GridErrorKind.Unauthorized, "InvalidLogin"),
                ("NoPermission", GridErrorKind.PermissionDenied, "NoPermission"),
                ("ManagedObjectNotFound", GridErrorKind.NotFound, "ManagedObjectNotFound"),
                ("InvalidPowerState", GridErrorKind.Conflict, "InvalidPowerState"),
                ("InsufficientResourcesFault", GridErrorKind.ResourceUnavailable, "InsufficientResourcesFault"),
                ("HostCommunication", GridErrorKind.Unavailable, "HostCommunication"),
                ("NotSupported", GridErrorKind.Unsupported, "NotSupported"),
            };
            foreach (var (fault, kind, id) in cases)
            {
                using var server = new LoopbackHttp((req, body) =>
                {
                    string m = LoopbackHttp.SoapMethod(body);
                    if (m == "RetrieveServiceContent") return Task.FromResult<(int, string, IDictionary<string, string>?)>((200, Envelope(ServiceContent), null));
                    string faultXml = $"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Replayed {fault}</faultstring><detail><{fault}Fault xmlns=\"urn:vim25\" xsi:type=\"{fault}\"><obj type=\"VirtualMachine\">vm-1</obj></{fault}Fault></detail></soapenv:Fault>";
                    return Task.FromResult<(int, string, IDictionary<string, string>?)>((500, Envelope(faultXml), null));
                });
                var ex = await ConnectFails(server);
                Assert.Equal(kind, ex.Kind);
                Assert.Equal(id, ex.ErrorId);
                Assert.Equal(fault, ex.NativeCode);
                Assert.Contains("Replayed " + fault, ex.Message);
                Assert.DoesNotContain("hunter2-secret", ex.ToString());
            }
            Assert.Equal(GridErrorKind.Conflict, VimFaults.Classify("InvalidState").Kind);
            Assert.Equal(GridErrorKind.ResourceUnavailable, VimFaults.Classify("InsufficientMemoryResourcesFault").Kind);
            Assert.Equal(GridErrorKind.InvalidRequest, VimFaults.Classify("SomethingNew").Kind);
        }

        [Fact]
        public async Task HttpErrors_MapToUnavailableAndThrottled()
        {
            using (var server = new LoopbackHttp((req, body) => Task.FromResult<(int, string, IDictionary<string, string>?)>((503, "busy", null))))
            {
                var ex = await ConnectFails(server);
                Assert.Equal(GridErrorKind.Unavailable, ex.Kind);
                Assert.True(ex.IsTransient);
                Assert.Equal("HTTP503", ex.NativeCode);
            }
            using (var server = new LoopbackHttp((req, body) => Task.FromResult<(int, string, IDictionary<string, string>?)>((429, "slow down", new Dictionary<string, string> { ["Retry-After"] = "7" }))))
            {
                var ex = await ConnectFails(server);
                Assert.Equal(GridErrorKind.Throttled, ex.Kind);
                Assert.Equal(TimeSpan.FromSeconds(7), ex.RetryAfter);
            }
            // Nothing listens: Unavailable, transient.
            var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            probe.Start(); int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port; probe.Stop();
            var ex2 = await Assert.ThrowsAsync<GridException>(() => new VSphereProvider().ConnectAsync(VcSim.Request(new Uri($"http://127.0.0.1:{port}/sdk")), Ct()));
            Assert.Equal(GridErrorKind.Unavailable, ex2.Kind);
            Assert.Equal("ServerUnreachable", ex2.ErrorId);
        }

        [Fact]
        public void RetrieveReader_ReadsObjectsAndTokenInEitherOrder()
        {
            string objs = "<objects><obj type=\"VirtualMachine\">vm-1</obj><propSet><name>name</name><val xsi:type=\"xsd:string\">a &amp; b</val></propSet><propSet><name>guest.net</name><val xsi:type=\"ArrayOfGuestNicInfo\"><GuestNicInfo xsi:type=\"GuestNicInfo\"><ipAddress>10.0.0.1</ipAddress><ipAddress>fe80::1</ipAddress></GuestNicInfo></val></propSet><missingSet><path>config.annotation</path><fault><fault xsi:type=\"NoPermission\"></fault></fault></missingSet></objects>"
                          + "<objects><obj type=\"VirtualMachine\">vm-2</obj></objects>";
            foreach (var rv in new[] { "<token>T1</token>" + objs, objs + "<token>T1</token>" })
            {
                var body = new MemoryStream(Encoding.UTF8.GetBytes(Envelope("<RetrievePropertiesExResponse xmlns=\"urn:vim25\"><returnval>" + rv + "</returnval></RetrievePropertiesExResponse>")));
                using var r = new RetrieveResultReader(body, "RetrievePropertiesEx");
                Assert.True(r.Next(out var a));
                Assert.Equal(new MoRef("VirtualMachine", "vm-1"), a.Obj);
                Assert.Equal("a & b", a.Text("name"));
                Assert.Equal(new[] { "10.0.0.1", "fe80::1" }, a.Get("guest.net")!.Children[0].All("ipAddress").Select(n => n.Text).ToArray());
                Assert.Equal("NoPermission", a.Missing!["config.annotation"]);
                Assert.True(r.Next(out var b));
                Assert.Equal("vm-2", b.Obj.Value);
                Assert.False(r.Next(out _));
                Assert.Equal("T1", r.Token);
            }
            // An empty result (no returnval) is no objects and no token.
            using var empty = new RetrieveResultReader(new MemoryStream(Encoding.UTF8.GetBytes(Envelope("<RetrievePropertiesExResponse xmlns=\"urn:vim25\"/>"))), "RetrievePropertiesEx");
            Assert.False(empty.Next(out _));
            Assert.Null(empty.Token);
        }

        [Fact]
        public void Shapes_Servers_Thumbprints_AndUuids()
        {
            Assert.True(VSphereMapping.TryParseSize("2x4", out var c, out var m)); Assert.Equal((2, 4096L), (c, m));
            Assert.True(VSphereMapping.TryParseSize("2X512MB", out c, out m)); Assert.Equal((2, 512L), (c, m));
            Assert.True(VSphereMapping.TryParseSize("4x1.5GB", out c, out m)); Assert.Equal((4, 1536L), (c, m));
            Assert.False(VSphereMapping.TryParseSize("Standard_D2s_v3", out _, out _));
            Assert.Equal("2x4", VSphereMapping.FormatSize(2, 4096));
            Assert.Equal("1x32MB", VSphereMapping.FormatSize(1, 32));
            Assert.Equal(new Uri("https://vc.example.com/sdk"), VSphereProvider.ParseServer("vc.example.com"));
            Assert.Equal(new Uri("https://vc.example.com:8443/sdk"), VSphereProvider.ParseServer("vc.example.com:8443"));
            Assert.Equal(new Uri("http://127.0.0.1:9/sdk"), VSphereProvider.ParseServer("http://127.0.0.1:9/sdk"));
            Assert.Equal("ABCDEF01", TlsSettings.Normalize("ab:cd:ef:01"));
            Assert.Equal("AB:CD:EF", TlsSettings.Colons("ABCDEF"));
            string u1 = VSphereMapping.DeterministicUuid("vc/dc-1", "key"), u2 = VSphereMapping.DeterministicUuid("vc/dc-1", "key");
            Assert.Equal(u1, u2);
            Assert.NotEqual(u1, VSphereMapping.DeterministicUuid("vc/dc-1", "other"));
            Assert.True(Guid.TryParse(u1, out _));
            Assert.Equal(WorkloadState.Suspended, VSphereMapping.State("suspended", "connected"));
            Assert.Equal(WorkloadState.Unknown, VSphereMapping.State("poweredOn", "orphaned"));
        }
    }
}
