using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using Xunit;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>The real Azure SDK against our stateful loopback ARM endpoint over HTTPS.</summary>
    public sealed class LifecycleTests
    {
        [ChildFact]
        public async Task Create_List_Deallocate_Start_StayProvisioned_Remove()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            var verbose = new List<string>();
            using var c = await Harness.ConnectAsync(sim, verbose: verbose);
            Assert.True(c.HandlesOwnRetries);

            var scope = new TestScope("life-1");
            var w = await c.CreateWorkloadAsync(Harness.Create("life-1"), scope, Harness.Ct());
            Assert.Equal(ArmSimulator.VmId(Harness.Rg, "life-1"), w.NativeId);
            Assert.Equal(WorkloadState.Running, w.State);
            Assert.Equal("PowerState/running", w.NativeState);
            Assert.Equal("Succeeded", w.ProvisioningState);
            Assert.True(w.ComputeBilled);
            Assert.Equal("Standard_B2s", w.Size);
            Assert.Equal(2, w.CpuCount);
            Assert.Equal(4096, w.MemoryMB);
            Assert.Equal("Canonical:ubuntu-24_04-lts:server:latest", w.Image);
            Assert.Equal("regional", w.Host);
            Assert.Null(w.Owner);
            var os = Assert.Single(w.Disks, d => d.IsOsDisk);
            Assert.True(os.DeleteWithWorkload);
            Assert.Equal("az-weu/life-1", w.Properties["IdempotencyKey"]);
            Assert.Contains(scope.ProgressReports, p => p.PercentComplete == 100);
            Assert.Equal(ArmSimulator.VmId(Harness.Rg, "life-1"), scope.Checkpoints["azure.vmId"]);
            // The PUT asked Azure to delete the OS disk and the NIC with the VM.
            var put = server.Requests.Single(r => r.Method == "PUT");
            Assert.Contains("\"deleteOption\":\"Delete\"", put.Body.Replace(" ", ""));
            Assert.DoesNotContain("ssh-ed25519", string.Join("\n", verbose));

            var listed = await Harness.ListAllAsync(c);
            var mine = Assert.Single(listed, x => x.Id == w.Id);
            Assert.Equal(WorkloadState.Running, mine.State);

            await c.StopAsync(w.NativeId, StopMode.Graceful, new TestScope(), Harness.Ct());
            var got = await c.GetWorkloadAsync(w.NativeId, Harness.Ct());
            Assert.Equal(WorkloadState.Deallocated, got.State);
            Assert.Equal("PowerState/deallocated", got.NativeState);
            Assert.False(got.ComputeBilled);
            Assert.Contains(server.Requests, r => r.Method == "POST" && r.Path.EndsWith("/deallocate"));

            // Listing reflects the change (the shared listing is invalidated by our own changes).
            Assert.Equal(WorkloadState.Deallocated, (await Harness.ListAllAsync(c)).Single(x => x.Id == w.Id).State);

            await c.StartAsync(w.NativeId, new TestScope(), Harness.Ct());
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Harness.Ct())).State);

            await c.StopAsync(w.NativeId, StopMode.StayProvisioned, new TestScope(), Harness.Ct());
            got = await c.GetWorkloadAsync(w.NativeId, Harness.Ct());
            Assert.Equal(WorkloadState.Stopped, got.State);
            Assert.Equal("PowerState/stopped", got.NativeState);
            Assert.True(got.ComputeBilled);
            var powerOff = server.Requests.Last(r => r.Method == "POST" && r.Path.EndsWith("/powerOff"));
            Assert.DoesNotContain("skipShutdown=true", powerOff.Query);

            int posts = server.Requests.Count(r => r.Method == "POST");
            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Harness.Ct()); // already stopped: no-op
            Assert.Equal(posts, server.Requests.Count(r => r.Method == "POST"));

            // Restart of a stopped VM: Azure's CloudError becomes a GridException with Azure's code.
            var ex = await Assert.ThrowsAsync<GridException>(() => c.RestartAsync(w.NativeId, new TestScope(), Harness.Ct()));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("OperationNotAllowed", ex.NativeCode);
            Assert.Contains("not allowed", ex.Message);

            // Remove keeping storage: deleteOption is switched to Detach first, so the disk and NIC stay.
            string disk = w.Disks.Single(d => d.IsOsDisk).NativeId!;
            string nic = ((string[])w.Properties["NetworkInterfaceIds"]!).Single();
            await c.RemoveAsync(w.NativeId, removeStorage: false, new TestScope(), Harness.Ct());
            Assert.Null(sim.PowerOf(w.NativeId));
            Assert.True(sim.ResourceExists(disk));
            Assert.True(sim.ResourceExists(nic));
            await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(w.NativeId, Harness.Ct()));
            await c.RemoveAsync(w.NativeId, removeStorage: false, new TestScope(), Harness.Ct()); // already gone: no-op
        }

        [ChildFact]
        public async Task Remove_WithStorage_DeletesDiskAndNic_AndTurnOffSkipsShutdown()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using var c = await Harness.ConnectAsync(sim);
            var w = await c.CreateWorkloadAsync(Harness.Create("rm-1"), new TestScope(), Harness.Ct());
            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Harness.Ct());
            Assert.Contains("skipShutdown=true", server.Requests.Last(r => r.Path.EndsWith("/powerOff")).Query);
            string disk = w.Disks.Single(d => d.IsOsDisk).NativeId!;
            string nic = ((string[])w.Properties["NetworkInterfaceIds"]!).Single();
            await c.RemoveAsync(w.NativeId, removeStorage: true, new TestScope(), Harness.Ct());
            Assert.False(sim.ResourceExists(disk));
            Assert.False(sim.ResourceExists(nic));
            Assert.Equal(0, sim.VmCount);
        }

        [ChildFact]
        public async Task Resize_Running_NeedsRestart_ElseConflict()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using var c = await Harness.ConnectAsync(sim);
            var w = await c.CreateWorkloadAsync(Harness.Create("rs-1"), new TestScope(), Harness.Ct());
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ResizeAsync(w.NativeId, new ResizeRequest { Size = "Standard_D2s_v3" }, new TestScope(), Harness.Ct()));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("ResizeRequiresRestart", ex.ErrorId);
            await c.ResizeAsync(w.NativeId, new ResizeRequest { Size = "Standard_D2s_v3", AllowRestart = true }, new TestScope(), Harness.Ct());
            Assert.Equal("Standard_D2s_v3", (await c.GetWorkloadAsync(w.NativeId, Harness.Ct())).Size);
            var bad = await Assert.ThrowsAsync<GridException>(() => c.ResizeAsync(w.NativeId, new ResizeRequest { Size = "Standard_Nope", AllowRestart = true }, new TestScope(), Harness.Ct()));
            Assert.Equal("SizeNotFound", bad.ErrorId);
        }

        [ChildFact]
        public async Task Create_IsIdempotent_ByKey_AndRefusesSomeoneElsesVm()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using var c = await Harness.ConnectAsync(sim);
            var req = Harness.Create("idem-1", key: "k-1");
            req.Secrets["AdminCredential"] = new System.Net.NetworkCredential("gridadmin", "P@ssw0rd-not-logged");
            var a = await c.CreateWorkloadAsync(req, new TestScope("k-1"), Harness.Ct());
            var b = await c.CreateWorkloadAsync(req, new TestScope("k-1"), Harness.Ct());
            Assert.Equal(a.NativeId, b.NativeId);
            Assert.Equal(1, server.Requests.Count(r => r.Method == "PUT"));
            Assert.Equal(1, sim.VmCount);
            var other = Harness.Create("idem-1", key: "k-2");
            var ex = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(other, new TestScope("k-2"), Harness.Ct()));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("WorkloadExists", ex.ErrorId);
            Assert.DoesNotContain("P@ssw0rd", ex.Message);
        }

        [ChildFact]
        public async Task BadRequest_CloudError_BecomesGridException_WithAzureCode()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using var c = await Harness.ConnectAsync(sim);
            var req = Harness.Create("bad-1");
            req.Size = "Standard_Nope";
            var ex = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(req, new TestScope(), Harness.Ct()));
            Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
            Assert.Equal("AzureInvalidRequest", ex.ErrorId);
            Assert.Equal("InvalidParameter", ex.NativeCode);
            Assert.Contains("The value 'Standard_Nope' of parameter 'vmSize' is not allowed", ex.Message);

            var noNet = Harness.Create("bad-2");
            noNet.Options.Remove("Network");
            var ex2 = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(noNet, new TestScope(), Harness.Ct()));
            Assert.Equal("AzureNetworkRequired", ex2.ErrorId);
            var badImage = Harness.Create("bad-3");
            badImage.Image = "ubuntu";
            Assert.Equal("AzureInvalidImage", (await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(badImage, new TestScope(), Harness.Ct()))).ErrorId);
            Assert.Equal(0, sim.VmCount);
        }

        [ChildFact]
        public async Task Paging_1500Vms_WithStatus_InRequestsProportionalToPages_AndSharedAcrossLocations()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server) { PageSize = 200 };
            sim.Seed("bulk", 1500);
            sim.Seed("far", 10, location: "northeurope", prefix: "far");
            var noRg = new Dictionary<string, string>();
            using var weu = await Harness.ConnectAsync(sim, "az-weu", settings: noRg);
            using var neu = await Harness.ConnectAsync(sim, "az-neu", location: "northeurope", settings: noRg);
            int before = server.Requests.Count;

            int pages = 0;
            var all = new List<GridWorkload>();
            await foreach (var page in weu.ListWorkloadsAsync(new WorkloadQuery(), Harness.Ct())) { pages++; all.AddRange(page); }
            var listRequests = server.Requests.Skip(before).ToList();
            Assert.Equal(1500, all.Count);
            Assert.True(pages >= 8, "streams page by page");
            // 1510 VMs / 200 per page = 8 status-only pages + 8 model pages + 1 sizes request; never one GET per VM.
            Assert.Equal(8, listRequests.Count(r => r.Query.Contains("statusOnly=true")));
            Assert.Equal(8, listRequests.Count(r => r.Path.EndsWith("/virtualMachines") && !r.Query.Contains("statusOnly")));
            Assert.DoesNotContain(listRequests, r => r.Path.Contains("/virtualMachines/"));
            Assert.True(listRequests.Count <= 17, "requests: " + listRequests.Count);

            var byName = all.ToDictionary(w => w.Name);
            Assert.Equal(WorkloadState.Running, byName["bulk-00000"].State);
            Assert.True(byName["bulk-00000"].ComputeBilled);
            Assert.Equal(WorkloadState.Deallocated, byName["bulk-00001"].State);
            Assert.False(byName["bulk-00001"].ComputeBilled);
            Assert.Equal("PowerState/deallocated", byName["bulk-00001"].NativeState);
            Assert.Equal(WorkloadState.Stopped, byName["bulk-00002"].State);
            Assert.True(byName["bulk-00002"].ComputeBilled);
            Assert.Equal(1, byName["bulk-01499"].CpuCount);
            Assert.All(all, w => Assert.Equal("az-weu", w.Datacenter));

            // A second datacenter of the same subscription shares the listing: no new list request.
            int mark = server.Requests.Count;
            var far = await Harness.ListAllAsync(neu);
            Assert.Equal(10, far.Count);
            Assert.All(far, w => Assert.Equal("az-neu", w.Datacenter));
            Assert.DoesNotContain(server.Requests.Skip(mark), r => r.Path.EndsWith("/virtualMachines"));
        }

        [ChildFact]
        public async Task Throttled_429_RetryAfter_IsHonouredOnce_ByTheSdk()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using var c = await Harness.ConnectAsync(sim);
            var w = await c.CreateWorkloadAsync(Harness.Create("thr-1"), new TestScope(), Harness.Ct());

            int mark = server.Requests.Count;
            sim.ThrottleNext(1, 1);
            var got = await c.GetWorkloadAsync(w.NativeId, Harness.Ct());
            Assert.Equal(WorkloadState.Running, got.State);
            var gets = server.Requests.Skip(mark).Where(r => r.Path.EndsWith("/virtualMachines/thr-1")).ToList();
            Assert.Equal(2, gets.Count); // the 429 and one retry
            Assert.True(gets[1].At - gets[0].At >= TimeSpan.FromMilliseconds(950), "waited " + (gets[1].At - gets[0].At));

            // Still throttled after the SDK's retries: Throttled with RetryAfter and Azure's code; the engine must not retry (HandlesOwnRetries).
            sim.ThrottleNext(100, 0);
            var ex = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(w.NativeId, Harness.Ct()));
            sim.ThrottleNext(0, 0);
            Assert.Equal(GridErrorKind.Throttled, ex.Kind);
            Assert.Equal("TooManyRequests", ex.NativeCode);
            Assert.Equal(TimeSpan.Zero, ex.RetryAfter);
            Assert.True(ex.IsTransient);
        }

        [ChildFact]
        public async Task Hosts_AreZones_PlusRegional_Sizes_AndImagesNeedAPublisher()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using var c = await Harness.ConnectAsync(sim);
            var hosts = await c.ListHostsAsync(Harness.Ct());
            Assert.Equal(new[] { "1", "2", "3", "regional" }, hosts.Select(h => h.Name).ToArray());
            Assert.Equal("westeurope-az3", hosts[1].NativeId);
            var sizes = await c.ListSizesAsync(Harness.Ct());
            Assert.Equal(ArmSimulator.Sizes.Length, sizes.Count);
            Assert.All(sizes, s => Assert.Null(s.PricePerHour));
            int mark = server.Requests.Count;
            var images = await c.ListImagesAsync(new Dictionary<string, string>(), Harness.Ct());
            Assert.Empty(images);
            Assert.Equal(mark, server.Requests.Count); // no call without a publisher
            await Assert.ThrowsAsync<GridException>(() => c.SuspendAsync("x", new TestScope(), Harness.Ct()));

            // Publisher only: offers (1 call) + SKUs per offer (1 call each), version "latest".
            mark = server.Requests.Count;
            var byPublisher = await c.ListImagesAsync(new Dictionary<string, string> { ["publisher"] = "Canonical" }, Harness.Ct());
            Assert.Equal(new[] { "Canonical:ubuntu-24_04-lts:server:latest", "Canonical:ubuntu-24_04-lts:server-gen1:latest", "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest" }, byPublisher.Select(i => i.Name).ToArray());
            Assert.Equal(3, server.Requests.Count - mark);
            // Publisher + Offer + Sku: every version, one call.
            mark = server.Requests.Count;
            var versions = await c.ListImagesAsync(new Dictionary<string, string> { ["Publisher"] = "Canonical", ["Offer"] = "ubuntu-24_04-lts", ["Sku"] = "server" }, Harness.Ct());
            Assert.Equal(new[] { "Canonical:ubuntu-24_04-lts:server:24.04.202410170", "Canonical:ubuntu-24_04-lts:server:24.04.202411030" }, versions.Select(i => i.Name).ToArray());
            Assert.Equal("24.04.202411030", versions[1].Properties["Version"]);
            Assert.Equal(1, server.Requests.Count - mark);
        }

        [ChildFact]
        public async Task FailedOperation_CarriesAzureCode_ProvisioningFailed_IsFailed_AndCancelStops()
        {
            await using var server = await TestHttpsServer.StartAsync();
            var sim = new ArmSimulator(server);
            using var c = await Harness.ConnectAsync(sim);
            var w = await c.CreateWorkloadAsync(Harness.Create("fail-1"), new TestScope(), Harness.Ct());

            // A long-running operation that ends Failed: Azure's error code and message, capacity errors as ResourceUnavailable.
            sim.SetState(w.NativeId, "Succeeded", "deallocated");
            sim.FailNextOperation("AllocationFailed", "Allocation failed. We do not have sufficient capacity for the requested VM size in this region.");
            var ex = await Assert.ThrowsAsync<GridException>(() => c.StartAsync(w.NativeId, new TestScope(), Harness.Ct()));
            Assert.Equal(GridErrorKind.ResourceUnavailable, ex.Kind);
            Assert.Equal("AzureCapacity", ex.ErrorId);
            Assert.Equal("AllocationFailed", ex.NativeCode);
            Assert.Contains("sufficient capacity", ex.Message);

            // Provisioning failed and no power state: Failed; provisioning kept apart.
            sim.SetState(w.NativeId, "Failed", null);
            var failed = await c.GetWorkloadAsync(w.NativeId, Harness.Ct());
            Assert.Equal(WorkloadState.Failed, failed.State);
            Assert.Equal("ProvisioningState/failed", failed.NativeState);
            Assert.Equal("Failed", failed.ProvisioningState);
            Assert.Null(failed.ComputeBilled);
            // Provisioning failed but running: the power state wins.
            sim.SetState(w.NativeId, "Failed", "running");
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Harness.Ct())).State);

            // Cancelling while an operation is followed: Cancelled, promptly.
            sim.PollsPerOperation = 100000;
            using var cts = new System.Threading.CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            var started = DateTime.UtcNow;
            var cex = await Assert.ThrowsAsync<GridException>(() => c.StopAsync(w.NativeId, StopMode.Deallocate, new TestScope(), cts.Token));
            Assert.Equal(GridErrorKind.Cancelled, cex.Kind);
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
        }

        [ChildFact]
        public async Task UnreachableEndpoint_IsUnavailable_AfterTheSdksRetries()
        {
            var req = Harness.Request("az-down", "https://127.0.0.1:9/", ArmSimulator.Subscription, ArmSimulator.Location, null,
                new Dictionary<string, object> { ["AccessToken"] = ArmSimulator.CallerToken });
            var ex = await Assert.ThrowsAsync<GridException>(() => new GridAutomation.Providers.Azure.AzureProvider().ConnectAsync(req, Harness.Ct()));
            Assert.Equal(GridErrorKind.Unavailable, ex.Kind);
            Assert.Equal("AzureUnavailable", ex.ErrorId);
            Assert.True(ex.IsTransient);
            Assert.DoesNotContain(ArmSimulator.CallerToken, ex.Message);
        }
    }
}
