using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.VSphere;
using GridAutomation.Providers.VSphere.Vim25;
using Xunit;

namespace GridAutomation.Provider.VSphere.Tests
{
    /// <summary>Integration tests against our govmomi vCenter simulator (real SOAP over loopback HTTP/HTTPS).</summary>
    public sealed class VSphereSimulatorTests
    {
        private static CancellationToken Ct(int minutes = 2) => new CancellationTokenSource(TimeSpan.FromMinutes(minutes)).Token;

        private static async Task<List<GridWorkload>> ListAsync(IGridConnection c, int pageSize = 1000)
        {
            var all = new List<GridWorkload>();
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery { PageSize = pageSize }, Ct())) all.AddRange(page);
            return all;
        }

        private static async Task<GridWorkload> CloneAsync(IGridConnection c, string name, string? target = null, string? size = null, bool powerOn = true, Dictionary<string, string>? tags = null)
        {
            var req = new CreateWorkloadRequest { Name = name, Image = "template-0", Size = size, TargetHost = target, PowerOn = powerOn, IdempotencyKey = "test/" + name };
            if (tags != null) foreach (var kv in tags) req.Tags[kv.Key] = kv.Value;
            return await c.CreateWorkloadAsync(req, new TestScope(req.IdempotencyKey), Ct());
        }

        /// <summary>What govmomi itself (our Go peer, property.Collector into mo.VirtualMachine) sees: the oracle.</summary>
        private static List<JsonElement> Peer(VcSim sim)
        {
            var psi = new ProcessStartInfo(VcSim.PeerPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "-url", sim.Url.ToString(), "-user", VcSim.User, "-pass", VcSim.Password, "-json" }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit(60000);
            Assert.True(p.ExitCode == 0, "peer failed: " + p.StandardError.ReadToEnd());
            return output.Split('\n').Where(l => l.StartsWith("{")).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        }

        [SimulatorFact]
        public async Task Inventory_CountsAndFields_MatchGovmomi()
        {
            using var sim = VcSim.Start("-cluster", "2", "-host", "2", "-standalone-host", "1", "-vm", "3", "-templates", "2");
            using var c = await sim.ConnectAsync();
            var ours = await ListAsync(c, pageSize: 4);
            var peer = Peer(sim);
            var peerVms = peer.Where(e => !e.GetProperty("template").GetBoolean()).ToList();
            // 2 clusters + 1 standalone host = 3 resource pools x 3 VMs = 9 VMs, 2 of them made templates.
            Assert.Equal(9, peer.Count);
            Assert.Equal(7, peerVms.Count);
            Assert.Equal(peerVms.Count, ours.Count);
            var hosts = await c.ListHostsAsync(Ct());
            foreach (var e in peerVms)
            {
                var w = Assert.Single(ours, x => x.NativeId == e.GetProperty("instanceUuid").GetString());
                Assert.Equal(e.GetProperty("name").GetString(), w.Name);
                Assert.Equal("vs", w.Datacenter);
                Assert.Equal("VSphere", w.Provider);
                Assert.Equal(WorkloadId.Format("vs", w.NativeId), w.Id);
                Assert.Equal(e.GetProperty("powerState").GetString(), w.NativeState);
                Assert.Equal(WorkloadState.Running, w.State);
                Assert.Null(w.ComputeBilled);
                Assert.Equal(e.GetProperty("numCPU").GetInt32(), w.CpuCount);
                Assert.Equal(e.GetProperty("memoryMB").GetInt32(), w.MemoryMB);
                Assert.Equal(e.GetProperty("hostName").GetString(), w.Host);
                Assert.Equal(e.GetProperty("moref").GetString(), w.Properties["MoRef"]);
                Assert.Equal(e.GetProperty("resourcePool").GetString(), w.Properties["ResourcePool"]);
                Assert.Equal(VSphereMapping.FormatSize(w.CpuCount!.Value, w.MemoryMB!.Value), w.Size);
                var h = Assert.Single(hosts, x => x.Name == w.Host);
                Assert.Equal(h.Cluster, w.Cluster);
            }
            // Templates are images, not workloads.
            var images = await c.ListImagesAsync(new Dictionary<string, string>(), Ct());
            Assert.Equal(new[] { "template-0", "template-1" }, images.Select(i => i.Name).ToArray());
            Assert.All(images, i => Assert.Contains(peer, e => e.GetProperty("instanceUuid").GetString() == i.NativeId));
            Assert.DoesNotContain(ours, w => w.Name.StartsWith("template-"));
            foreach (var act in new Func<Task>[]
            {
                () => c.GetWorkloadAsync(images[0].NativeId!, Ct()),
                () => c.StartAsync(images[0].NativeId!, new TestScope(), Ct()),
                () => c.ResizeAsync(images[0].NativeId!, new ResizeRequest { CpuCount = 2 }, new TestScope(), Ct()),
                () => c.MoveAsync(images[0].NativeId!, hosts[0].Name, new TestScope(), Ct()),
                () => c.SetTagsAsync(images[0].NativeId!, new Dictionary<string, string?> { ["a"] = "b" }, new TestScope(), Ct()),
            })
            {
                var ex = await Assert.ThrowsAsync<GridException>(act);
                Assert.Equal("WorkloadNotFound", ex.ErrorId);
                Assert.Contains("template", ex.Message);
            }
        }

        [SimulatorFact]
        public async Task Hosts_HaveClusterCapacityAndAllocation()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "2", "-standalone-host", "1", "-vm", "2", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var hosts = await c.ListHostsAsync(Ct());
            Assert.Equal(3, hosts.Count);
            Assert.Equal(2, hosts.Count(h => h.Cluster == "DC0_C0"));
            Assert.Single(hosts, h => h.Cluster == null);
            var vms = await ListAsync(c);
            foreach (var h in hosts)
            {
                Assert.Equal(HostState.Connected, h.State);
                Assert.Equal("connected", h.NativeState);
                Assert.True(h.CpuCores > 0);
                Assert.True(h.MemoryMB > 0);
                var mine = vms.Where(v => v.Host == h.Name && v.State == WorkloadState.Running).ToList();
                Assert.Equal(mine.Sum(v => v.CpuCount ?? 0), h.AllocatedCpu);
                Assert.Equal(mine.Sum(v => v.MemoryMB ?? 0), h.AllocatedMemoryMB);
            }
            var sizes = await c.ListSizesAsync(Ct());
            Assert.Contains(sizes, s => s.Name == "2x4" && s.CpuCount == 2 && s.MemoryMB == 4096 && s.PricePerHour == null);
        }

        [SimulatorFact]
        public async Task PowerOperations_AreVSphereTasks_AndReportProgress()
        {
            using var sim = VcSim.Start("-templates", "1");
            using var c = await sim.ConnectAsync();
            var w = await CloneAsync(c, "power-1");
            Assert.Equal(WorkloadState.Running, w.State);
            string id = w.NativeId;

            var scope = new TestScope();
            await c.StopAsync(id, StopMode.Graceful, scope, Ct());                          // ShutdownGuest
            Assert.Equal("poweredOff", (await c.GetWorkloadAsync(id, Ct())).NativeState);
            Assert.NotEmpty(scope.ProgressReports);
            await c.StopAsync(id, StopMode.Graceful, new TestScope(), Ct());               // no-op

            var ex = await Assert.ThrowsAsync<GridException>(() => c.RestartAsync(id, new TestScope(), Ct()));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);

            scope = new TestScope();
            await c.StartAsync(id, scope, Ct());                                              // PowerOnVM_Task
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(id, Ct())).State);
            Assert.Contains(scope.ProgressReports, p => p.PercentComplete == 100);

            await c.RestartAsync(id, new TestScope(), Ct());                                  // ResetVM_Task
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(id, Ct())).State);

            await c.SuspendAsync(id, new TestScope(), Ct());                                  // SuspendVM_Task
            var s = await c.GetWorkloadAsync(id, Ct());
            Assert.Equal(WorkloadState.Suspended, s.State);
            Assert.Equal("suspended", s.NativeState);
            ex = await Assert.ThrowsAsync<GridException>(() => c.StopAsync(id, StopMode.Graceful, new TestScope(), Ct()));
            Assert.Equal("WorkloadSuspended", ex.ErrorId);

            await c.StartAsync(id, new TestScope(), Ct());                                    // resume from suspended
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(id, Ct())).State);

            await c.StopAsync(id, StopMode.TurnOff, new TestScope(), Ct());                  // PowerOffVM_Task
            Assert.Equal(WorkloadState.Stopped, (await c.GetWorkloadAsync(id, Ct())).State);

            ex = await Assert.ThrowsAsync<GridException>(() => c.StopAsync(id, StopMode.Deallocate, new TestScope(), Ct()));
            Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
        }

        [SimulatorFact]
        public async Task Clone_OnTargetHost_WithShapeAndTags_IsIdempotent()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "2", "-standalone-host", "1", "-templates", "1");
            using var c = await sim.ConnectAsync();
            var w = await CloneAsync(c, "clone-1", target: "DC0_C0", size: "2x2", tags: new Dictionary<string, string> { ["env"] = "test", ["owner"] = "ops" });
            Assert.Equal("clone-1", w.Name);
            Assert.Equal(2, w.CpuCount);
            Assert.Equal(2048, w.MemoryMB);
            Assert.Equal("2x2", w.Size);
            Assert.Equal(WorkloadState.Running, w.State);
            Assert.Equal("test", w.Tags["env"]);
            Assert.Equal("ops", w.Tags["OWNER"]);
            Assert.True(Guid.TryParse(w.NativeId, out _));
            Assert.NotEmpty(w.Disks);
            // The simulator puts the clone in the pool we chose (cluster DC0_C0), on the template's host (a simulator limit).
            Assert.NotNull(w.Properties["ResourcePool"]);

            var again = await CloneAsync(c, "clone-1", target: "DC0_C0", size: "2x2");
            Assert.Equal(w.NativeId, again.NativeId);
            var all = await ListAsync(c);
            Assert.Single(all, x => x.Name == "clone-1");
            Assert.Equal("test", all.Single(x => x.Name == "clone-1").Tags["env"]);

            // The key is also in the VM's extraConfig, and a VM of that name made for another key is a Conflict.
            var moref = new MoRef("VirtualMachine", (string)w.Properties["MoRef"]!);
            var ec = await c.Vim.GetPropertiesAsync(moref, new[] { "config.extraConfig" }, Ct());
            Assert.Contains(ec!.Get("config.extraConfig")!.Children, o => o.ChildText("key") == "gridautomation.idempotencyKey" && o.ChildText("value") == "test/clone-1");
            var ex = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "clone-1", Image = "template-0", IdempotencyKey = "someone-else" }, new TestScope(), Ct()));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("WorkloadNameExists", ex.ErrorId);

            ex = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "x", Image = "no-such-template", IdempotencyKey = "k-x" }, new TestScope(), Ct()));
            Assert.Equal("ImageNotFound", ex.ErrorId);
            ex = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "y", Image = "template-0", TargetHost = "no-such-host", IdempotencyKey = "k-y" }, new TestScope(), Ct()));
            Assert.Equal("HostNotFound", ex.ErrorId);
            ex = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "z", Image = "template-0", Size = "huge", IdempotencyKey = "k-z" }, new TestScope(), Ct()));
            Assert.Equal("SizeNotFound", ex.ErrorId);
        }

        [SimulatorFact]
        public async Task FailedTask_BecomesAGridException_WithVSpheresMessage()
        {
            using var sim = VcSim.Start("-templates", "0", "-vm", "1", "-standalone-host", "0");
            using var c = await sim.ConnectAsync();
            var vm = (await ListAsync(c)).First();
            var moref = new MoRef("VirtualMachine", (string)vm.Properties["MoRef"]!);
            // Powering on a powered-on VM: vSphere accepts the call and fails the task (InvalidPowerState), as when
            // another client powered it on between our state check and our call.
            var resp = await c.Vim.InvokeAsync("PowerOnVM_Task", moref, null, Ct());
            var task = resp!.Child("returnval")!.AsMoRef();
            Assert.Equal("Task", task.Type);
            var reports = new List<int>();
            var ex = await Assert.ThrowsAsync<GridException>(() => VimTasks.WaitAsync(c.Vim, task, "Start workload 'x'", (p, s) => reports.Add(p), Ct()));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("InvalidPowerState", ex.NativeCode);
            Assert.Equal("InvalidPowerState", ex.ErrorId);
            Assert.StartsWith("Start workload 'x': vSphere fault InvalidPowerState: ", ex.Message);
        }

        [SimulatorFact]
        public async Task Clone_IntoANamedResourcePool()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "2", "-standalone-host", "1", "-pool", "1", "-vm", "1", "-templates", "1");
            using var c = await sim.ConnectAsync();
            var view = await c.Vim.CreateContainerViewAsync(c.Vim.Content.RootFolder, new[] { "ResourcePool" }, Ct());
            var pools = await c.Vim.RetrieveAllAsync(new FilterSpec { Root = view, ViaView = true }.Add("ResourcePool", "name"), Ct());
            string rp1 = pools.Single(p => p.Text("name") == "DC0_C0_RP1").Obj.Value;
            var w = await CloneAsync(c, "in-pool", target: "DC0_C0_RP1");
            Assert.Equal(rp1, w.Properties["ResourcePool"]);
            Assert.Equal(WorkloadState.Running, w.State);
        }

        [SimulatorFact]
        public async Task Disconnect_LogsOut_AndNeverLogsInAgainSilently()
        {
            using var sim = VcSim.Start("-templates", "0");
            using var c = await sim.ConnectAsync();
            Assert.NotEmpty(await ListAsync(c));
            var id = (await ListAsync(c)).First().NativeId;
            await c.DisconnectAsync(Ct());
            var ex = await Assert.ThrowsAsync<GridException>(() => ListAsync(c));
            Assert.Equal(GridErrorKind.Unauthorized, ex.Kind);
            Assert.Equal("NotAuthenticated", ex.ErrorId);
            ex = await Assert.ThrowsAsync<GridException>(() => c.SetTagsAsync(id, new Dictionary<string, string?> { ["k"] = "v" }, new TestScope(), Ct()));
            Assert.Equal(GridErrorKind.Unauthorized, ex.Kind);
        }

        [SimulatorFact]
        public async Task Reconfigure_NeedsPowerOffOrAllowRestart()
        {
            using var sim = VcSim.Start("-templates", "1");
            using var c = await sim.ConnectAsync();
            var w = await CloneAsync(c, "resize-1", size: "1x1");
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ResizeAsync(w.NativeId, new ResizeRequest { Size = "2x4" }, new TestScope(), Ct()));
            Assert.Equal("ResizeRequiresRestart", ex.ErrorId);
            await c.ResizeAsync(w.NativeId, new ResizeRequest { Size = "2x4", AllowRestart = true }, new TestScope(), Ct());
            var got = await c.GetWorkloadAsync(w.NativeId, Ct());
            Assert.Equal(2, got.CpuCount);
            Assert.Equal(4096, got.MemoryMB);
            Assert.Equal(WorkloadState.Running, got.State);
            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct());
            await c.ResizeAsync(w.NativeId, new ResizeRequest { CpuCount = 4, MemoryMB = 3072 }, new TestScope(), Ct());
            got = await c.GetWorkloadAsync(w.NativeId, Ct());
            Assert.Equal("4x3", got.Size);
            Assert.Equal(WorkloadState.Stopped, got.State);
        }

        [SimulatorFact]
        public async Task VMotion_ToAnotherHostAndCluster_KeepsItRunning()
        {
            using var sim = VcSim.Start("-cluster", "1", "-host", "2", "-standalone-host", "1", "-vm", "1", "-templates", "0");
            using var c = await sim.ConnectAsync();
            var vm = (await ListAsync(c)).First(v => v.Cluster == "DC0_C0");
            var hosts = await c.ListHostsAsync(Ct());
            // Within the cluster.
            var other = hosts.First(h => h.Cluster == "DC0_C0" && h.Name != vm.Host);
            var scope = new TestScope();
            await c.MoveAsync(vm.NativeId, other.Name, scope, Ct());
            var moved = await c.GetWorkloadAsync(vm.NativeId, Ct());
            Assert.Equal(other.Name, moved.Host);
            Assert.Equal(WorkloadState.Running, moved.State);
            Assert.Contains(scope.ProgressReports, p => p.Activity.Contains("vMotion (live)"));
            Assert.Equal(vm.Properties["ResourcePool"], moved.Properties["ResourcePool"]);
            // To the standalone host: the resource pool changes with it.
            var standalone = hosts.Single(h => h.Cluster == null);
            await c.MoveAsync(vm.NativeId, standalone.Name, new TestScope(), Ct());
            moved = await c.GetWorkloadAsync(vm.NativeId, Ct());
            Assert.Equal(standalone.Name, moved.Host);
            Assert.Null(moved.Cluster);
            Assert.NotEqual(vm.Properties["ResourcePool"], moved.Properties["ResourcePool"]);
            Assert.Equal(WorkloadState.Running, moved.State);
            var ex = await Assert.ThrowsAsync<GridException>(() => c.MoveAsync(vm.NativeId, "nowhere", new TestScope(), Ct()));
            Assert.Equal(GridErrorKind.NotFound, ex.Kind);
            Assert.Equal("HostNotFound", ex.ErrorId);
        }

        [SimulatorFact]
        public async Task Remove_UnregistersByDefault_DestroysWithRemoveStorage()
        {
            using var sim = VcSim.Start("-templates", "1");
            using var c = await sim.ConnectAsync();
            var a = await CloneAsync(c, "rm-keep");
            var b = await CloneAsync(c, "rm-destroy", powerOn: false);
            var scope = new TestScope();
            await c.RemoveAsync(a.NativeId, removeStorage: false, scope, Ct());
            Assert.Contains(scope.ProgressReports, p => p.Activity.Contains("files kept"));
            await c.RemoveAsync(b.NativeId, removeStorage: true, new TestScope(), Ct());
            foreach (var id in new[] { a.NativeId, b.NativeId })
            {
                var ex = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(id, Ct()));
                Assert.Equal(GridErrorKind.NotFound, ex.Kind);
            }
            var all = await ListAsync(c);
            Assert.DoesNotContain(all, w => w.Name.StartsWith("rm-"));
        }

        [SimulatorFact]
        public async Task WrongPassword_IsUnauthorized_WithoutTheSecret()
        {
            using var sim = VcSim.Start("-templates", "0");
            var req = VcSim.Request(sim.Url, password: "wrong-Pa55word");
            var ex = await Assert.ThrowsAsync<GridException>(() => new VSphereProvider().ConnectAsync(req, Ct()));
            Assert.Equal(GridErrorKind.Unauthorized, ex.Kind);
            Assert.Equal("InvalidLogin", ex.ErrorId);
            Assert.Equal("InvalidLogin", ex.NativeCode);
            Assert.DoesNotContain("wrong-Pa55word", ex.ToString());
        }

        [SimulatorFact]
        public async Task VmDeletedBehindOurBack_IsNotFound()
        {
            using var sim = VcSim.Start("-templates", "0", "-vm", "1", "-standalone-host", "0");
            using var c = await sim.ConnectAsync();
            using var other = await sim.ConnectAsync("other");
            var vm = (await ListAsync(c)).First();
            await other.RemoveAsync(vm.NativeId, true, new TestScope(), Ct());
            foreach (var act in new Func<Task>[]
            {
                () => c.GetWorkloadAsync(vm.NativeId, Ct()),
                () => c.StartAsync(vm.NativeId, new TestScope(), Ct()),
                () => c.StopAsync(vm.NativeId, StopMode.TurnOff, new TestScope(), Ct()),
                () => c.MoveAsync(vm.NativeId, "DC0_C0_H0", new TestScope(), Ct()),
                () => c.RemoveAsync(vm.NativeId, false, new TestScope(), Ct()),
            })
            {
                var ex = await Assert.ThrowsAsync<GridException>(act);
                Assert.Equal(GridErrorKind.NotFound, ex.Kind);
                Assert.Equal("WorkloadNotFound", ex.ErrorId);
            }
        }

        [SimulatorFact]
        public async Task ExpiredSession_IsRenewedByLoggingInAgain()
        {
            using var sim = VcSim.Start("-templates", "0");
            using var c = await sim.ConnectAsync();
            using var admin = await sim.ConnectAsync("admin");
            var before = (await ListAsync(c)).Count;
            var session = await c.Vim.GetPropertiesAsync(c.Vim.Content.SessionManager, new[] { "currentSession" }, Ct());
            string key = session!.Get("currentSession")!.ChildText("key")!;
            int gen = c.Vim.SessionGeneration;
            await admin.Vim.InvokeAsync("TerminateSession", admin.Vim.Content.SessionManager, w => w.WriteElementString("sessionId", key), Ct());
            Assert.Equal(before, (await ListAsync(c)).Count);     // NotAuthenticated → Login → the view re-created → listed
            Assert.Equal(gen + 1, c.Vim.SessionGeneration);
            var hosts = await c.ListHostsAsync(Ct());
            Assert.NotEmpty(hosts);
            await c.DisconnectAsync(Ct());
        }

        [SimulatorFact]
        public async Task Cancellation_StopsAWaitingCall()
        {
            using var sim = VcSim.Start("-templates", "0", "-method-delay", "RetrievePropertiesEx:4000");
            var req = VcSim.Request(sim.Url);
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(800));
            var sw = Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<GridException>(() => new VSphereProvider().ConnectAsync(req, cts.Token));
            Assert.Equal(GridErrorKind.Cancelled, ex.Kind);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3.5), sw.Elapsed.ToString());
        }

        // ---- TLS ----------------------------------------------------------------------------------------------

        private static (string Cert, string Key, X509Certificate2 X509) MakeCertificate(string dir)
        {
            using var rsa = RSA.Create(2048);
            var req = new CertificateRequest("CN=gridvcsim.test", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            san.AddDnsName("localhost");
            req.CertificateExtensions.Add(san.Build());
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
            var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
            string certPath = Path.Combine(dir, "cert.pem"), keyPath = Path.Combine(dir, "key.pem");
            File.WriteAllText(certPath, cert.ExportCertificatePem());
            File.WriteAllText(keyPath, rsa.ExportRSAPrivateKeyPem());
            return (certPath, keyPath, cert);
        }

        [SimulatorFact]
        public async Task UntrustedCertificate_RefusedByDefault_AcceptedPinnedOrSkipped()
        {
            string dir = Directory.CreateTempSubdirectory("gridvcsim-tls-").FullName;
            try
            {
                var (certPath, keyPath, cert) = MakeCertificate(dir);
                using var sim = VcSim.Start("-templates", "0", "-tls-cert", certPath, "-tls-key", keyPath);
                Assert.Equal("https", sim.Url.Scheme);
                string sha256 = TlsSettings.Sha256(cert.RawData), sha1 = TlsSettings.Sha1(cert.RawData);

                var ex = await Assert.ThrowsAsync<GridException>(() => new VSphereProvider().ConnectAsync(VcSim.Request(sim.Url), Ct()));
                Assert.Equal(GridErrorKind.Unauthorized, ex.Kind);
                Assert.Equal("CertificateNotTrusted", ex.ErrorId);
                Assert.Contains(TlsSettings.Colons(sha256), ex.Message);
                Assert.Contains(TlsSettings.Colons(sha1), ex.Message);
                Assert.Contains("-ServerCertificateThumbprint", ex.Message);
                Assert.Contains("-SkipCertificateCheck", ex.Message);

                // Pinned: SHA-256 with colons as vCenter shows it, and SHA-1 lowercase without colons.
                foreach (var thumb in new[] { TlsSettings.Colons(sha256), sha1.ToLowerInvariant() })
                {
                    using var c = (VSphereConnection)await new VSphereProvider().ConnectAsync(VcSim.Request(sim.Url, settings: new Dictionary<string, string> { ["ServerCertificateThumbprint"] = thumb }), Ct());
                    Assert.NotEmpty(await c.ListHostsAsync(Ct()));
                    Assert.True(c.TagsAvailable); // the vAPI client uses the same pin
                }
                ex = await Assert.ThrowsAsync<GridException>(() => new VSphereProvider().ConnectAsync(VcSim.Request(sim.Url, settings: new Dictionary<string, string> { ["ServerCertificateThumbprint"] = new string('A', 64) }), Ct()));
                Assert.Equal("CertificateNotTrusted", ex.ErrorId);
                Assert.Contains("does not match", ex.Message);

                using var skipped = (VSphereConnection)await new VSphereProvider().ConnectAsync(VcSim.Request(sim.Url, settings: new Dictionary<string, string> { ["SkipCertificateCheck"] = "True" }), Ct());
                Assert.NotEmpty(await skipped.ListHostsAsync(Ct()));
            }
            finally { Directory.Delete(dir, true); }
        }

        [SimulatorFact]
        public async Task DatacenterName_SelectsTheDatacenter_UnknownIsNotFound()
        {
            using var sim = VcSim.Start("-dc", "2", "-templates", "0", "-vm", "1");
            using var c = await sim.ConnectAsync(settings: new Dictionary<string, string> { ["DatacenterName"] = "dc1" });
            Assert.Equal("DC1", c.VSphereDatacenter);
            var vms = await ListAsync(c);
            Assert.NotEmpty(vms);
            Assert.All(vms, v => Assert.StartsWith("DC1_", v.Name));
            var ex = await Assert.ThrowsAsync<GridException>(() => sim.ConnectAsync(settings: new Dictionary<string, string> { ["DatacenterName"] = "nope" }));
            Assert.Equal("DatacenterNotFound", ex.ErrorId);
            Assert.Contains("DC0", ex.Message);
        }
    }
}
