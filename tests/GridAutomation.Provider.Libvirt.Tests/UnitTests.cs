using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt;
using GridAutomation.Providers.Libvirt.Native;
using Xunit;

namespace GridAutomation.Provider.Libvirt.Tests
{
    public sealed class LiveMigrationCallTests
    {
        /// <summary>
        /// The URI, flags and typed parameters virDomainMigrateToURI3 receives (built by libvirt's own
        /// virTypedParamsAddString and read back with virTypedParamsGetString). The call itself runs against two
        /// real daemons in <see cref="LiveMoveTests"/>.
        /// </summary>
        [LibvirtFact]
        public void MigrateToUri3_Call_IsLivePeerToPeer_PersistentOnTarget_CopiesOnlyPoolDisks()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            var dst = new LibvirtHost("qemu+ssh://root@h2.example/system", "h2.example", HostKind.RemoteDaemon, new ConnectHandle(), "QEMU", null);
            string xml = "<domain type='kvm'><name>web1</name><metadata><grid:workload xmlns:grid='" + DomainXml.MetadataNamespace + "'/></metadata></domain>";
            var plan = new LivePlan { Name = "web1", DestinationXml = "<domain>live</domain>", PersistentXml = xml };
            plan.Disks.Add(new DiskMove { SourcePath = "/a/web1.img", TargetPath = "/b/web1.img", Dev = "vda" });
            var call = LiveMigration.Plan(dst, plan);
            Assert.Equal("qemu+ssh://root@h2.example/system", call.DestinationUri);
            Assert.Equal(1u | 2u | 8u | 64u | 4096u, call.Flags); // LIVE | PEER2PEER | PERSIST_DEST | NON_SHARED_DISK | ABORT_ON_ERROR
            Assert.Equal(0u, call.Flags & (4u | 16u | 512u));      // not TUNNELLED, not UNDEFINE_SOURCE (our own checkpointed step), not UNSAFE
            var read = Virt.WithTypedStringParams(call.Parameters, (p, n) =>
            {
                Assert.Equal(4, n);
                return (Name: Virt.TypedParamString(p, n, "destination_name"), Xml: Virt.TypedParamString(p, n, "persistent_xml"),
                        Live: Virt.TypedParamString(p, n, "destination_xml"), Disks: Virt.TypedParamString(p, n, "migrate_disks"),
                        Missing: Virt.TypedParamString(p, n, "migrate_uri"));
            });
            Assert.Equal("web1", read.Name);
            Assert.Equal(xml, read.Xml);
            Assert.Equal("<domain>live</domain>", read.Live);
            Assert.Equal("vda", read.Disks);
            Assert.Null(read.Missing);

            // Declared shared: nothing copied, libvirt told the storage is safe (it cannot see that a local folder is shared).
            plan.Disks[0].Shared = true;
            plan.Disks[0].TargetPath = plan.Disks[0].SourcePath;
            var shared = LiveMigration.Plan(dst, plan);
            Assert.Equal(1u | 2u | 8u | 512u | 4096u, shared.Flags);
            Assert.DoesNotContain(shared.Parameters, kv => kv.Key == "migrate_disks");
        }

        [Theory]
        [InlineData("qemu+ssh://h1/system", "qemu+tls://h2/system", true)]
        [InlineData("qemu:///system", "qemu+ssh://h2/system", true)]
        [InlineData("test:///tmp/a.xml", "test:///tmp/b.xml", false)]
        [InlineData("qemu:///embed?root=/tmp/a", "qemu+ssh://h2/system", false)]
        public void LiveMigration_OnlyBetweenDaemons(string a, string b, bool live)
        {
            LibvirtHost H(string uri) { var k = LibvirtHost.Classify(uri, out var root); return new LibvirtHost(uri, uri, k, new ConnectHandle(), uri.StartsWith("test") ? "Test" : "QEMU", root); }
            Assert.Equal(live, LiveMigration.CanUse(H(a), H(b)));
        }
    }

    public sealed class HostNamingTests
    {
        [Theory]
        [InlineData("test:///tmp/x/host-a.xml", "Test", "host-a")]
        [InlineData("qemu:///embed?root=/var/lib/grid/node1", "Embed", "node1")]
        [InlineData("qemu+ssh://admin@kvm01.example.org/system", "RemoteDaemon", "kvm01.example.org")]
        [InlineData("qemu+tls://kvm02/system", "RemoteDaemon", "kvm02")]
        [InlineData("qemu:///system", "LocalDaemon", "thishost")]
        [InlineData("qemu+unix:///system", "LocalDaemon", "thishost")]
        [InlineData("qemu+unix:///system?socket=/srv/kvm-a/libvirt-sock", "LocalDaemon", "kvm-a")]
        public void Names_AreStableAndReadable(string uri, string kind, string name)
        {
            var k = LibvirtHost.Classify(uri, out var root);
            Assert.Equal(kind, k.ToString());
            Assert.Equal(name, LibvirtHost.DeriveName(uri, k, root, () => "thishost"));
        }

        [Fact]
        public void DuplicateNames_GetSuffixes_InUriOrder()
            => Assert.Equal(new[] { "kvm", "kvm-2", "other", "kvm-3" }, LibvirtHost.UniqueNames(new[] { "kvm", "kvm", "other", "kvm" }));

        [LibvirtFact]
        public async Task TwoEmbedRoots_InOneDatacenter_AreRefusedClearly()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            var dc = new GridDatacenter { Name = "x" };
            dc.Settings["Uri"] = "qemu:///embed?root=/tmp/a\nqemu:///embed?root=/tmp/b";
            var ex = await Assert.ThrowsAsync<GridException>(() => new LibvirtProvider().ConnectAsync(new ProviderConnectRequest { Datacenter = dc }, CancellationToken.None));
            Assert.Equal("EmbedRootPerProcess", ex.ErrorId);
            Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
        }
    }

    public sealed class MissingLibraryTests
    {
        /// <summary>In a child process whose probe cannot find the library: IsAvailable is false and Connect fails, both naming the package.</summary>
        [Fact]
        public void MissingLibrary_IsNotAvailable_AndNamesThePackage()
        {
            var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
            psi.ArgumentList.Add(typeof(EmbedAgent).Assembly.Location);
            psi.ArgumentList.Add("missing-library");
            using var p = System.Diagnostics.Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            Assert.True(p.WaitForExit(60_000));
            Assert.Contains("AVAILABLE False", output);
            Assert.Contains("REASON The libvirt client library (libvirt.so.0) is not installed. Install the 'libvirt0' package", output);
            Assert.Contains("ERROR Unavailable LibvirtNotInstalled", output);
            Assert.DoesNotContain("CONNECTED", output);
        }
    }

    public sealed class StateMapTests
    {
        [Theory]
        [InlineData(1, false, WorkloadState.Running, "running")]
        [InlineData(2, false, WorkloadState.Running, "blocked")]
        [InlineData(3, false, WorkloadState.Paused, "paused")]
        [InlineData(4, false, WorkloadState.Stopping, "shutdown")]
        [InlineData(5, false, WorkloadState.Stopped, "shutoff")]
        [InlineData(5, true, WorkloadState.Suspended, "shutoff")]
        [InlineData(6, false, WorkloadState.Failed, "crashed")]
        [InlineData(7, false, WorkloadState.Paused, "pmsuspended")]
        [InlineData(0, false, WorkloadState.Unknown, "nostate")]
        public void Map(int native, bool managedSave, WorkloadState state, string name)
        {
            Assert.Equal(state, StateMap.Normalize(native, managedSave));
            Assert.Equal(name, StateMap.NativeName(native));
        }
    }

    public sealed class ProviderSurfaceTests
    {
        [Fact]
        public void Provider_IsDiscoverable_AndDeclaresItsParameters()
        {
            var p = new LibvirtProvider();
            Assert.Equal("Libvirt", p.Name);
            var uri = p.ConnectionParameters.Single(x => x.Name == "Uri");
            Assert.Equal(ProviderParameterKind.StringArray, uri.Kind);
            Assert.True(uri.Mandatory);
            Assert.True(p.ConnectionParameters.Single(x => x.Name == "Credential").IsSecret);
            Assert.False(p.Capabilities.HasFlag(GridCapabilities.Deallocate));
            Assert.NotNull(typeof(LibvirtProvider).GetConstructor(Type.EmptyTypes));
        }

        [Fact]
        public void Sizes_AreAFixedList_WithoutPrices()
        {
            var sizes = SizeCatalog.ToSizes("dc");
            Assert.Equal(new[] { "micro", "small", "medium", "large", "xlarge" }, sizes.Select(s => s.Name));
            Assert.All(sizes, s => Assert.Null(s.PricePerHour));
        }

        [Fact]
        public void UuidFromKey_IsStable_AndDiffersPerKeyAndDatacenter()
        {
            var a = LibvirtConnection.UuidFromKey("dc", "k1");
            Assert.Equal(a, LibvirtConnection.UuidFromKey("DC", "k1"));
            Assert.NotEqual(a, LibvirtConnection.UuidFromKey("dc", "k2"));
            Assert.NotEqual(a, LibvirtConnection.UuidFromKey("dc2", "k1"));
            Assert.True(Guid.TryParse(a, out _));
        }

        [Fact]
        public void Metadata_RoundTrips_InOurNamespace()
        {
            var md = new GridMetadata { IdempotencyKey = "key<&>", Size = "micro", Image = "base.img", Created = DateTimeOffset.Parse("2026-01-02T03:04:05Z") };
            md.Tags["Env"] = "prod & test";
            string xml = DomainXml.Build(new DomainSpec { Name = "n", Uuid = Guid.NewGuid().ToString(), Metadata = md });
            var info = DomainXml.Parse(xml, "n");
            Assert.Equal("key<&>", info.Metadata.IdempotencyKey);
            Assert.Equal("prod & test", info.Metadata.Tags["env"]);
            Assert.Contains("xmlns:grid=\"" + DomainXml.MetadataNamespace + "\"", xml);
        }

        [Fact]
        public void MalformedXml_IsAGridException_NotAnXmlException()
        {
            var ex = Assert.Throws<GridException>(() => DomainXml.Parse("<domain><name>x</domain>", "x"));
            Assert.Equal("LibvirtBadXml", ex.ErrorId);
        }
    }

    public sealed class TestDriverBehaviourTests
    {
        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(1)).Token;

        [LibvirtFact]
        public async Task Inventory_Hosts_Images_Workloads()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            using var dc = new TestDriverDatacenter("host-a", "host-b");
            using var c = dc.Connect();
            Assert.Equal(string.Join(", ", dc.Uris), c.Endpoint);
            var hosts = await c.ListHostsAsync(Ct());
            Assert.Equal(new[] { "host-a", "host-b" }, hosts.Select(h => h.Name));
            Assert.All(hosts, h => { Assert.Equal(8, h.CpuCores); Assert.Equal(32768, h.MemoryMB); Assert.Equal(HostState.Connected, h.State); });

            var images = await c.ListImagesAsync(new Dictionary<string, string>(), Ct());
            Assert.Contains(images, i => i.Name == "base.img" && (string?)i.Properties["Host"] == "host-a");
            Assert.Contains(images, i => i.Name == "other.qcow2" && i.SizeGB == 2.0);

            var req = new CreateWorkloadRequest { Name = "inv1", Image = "other.qcow2", CpuCount = 2, MemoryMB = 4096, TargetHost = "host-b", IdempotencyKey = "inv1" };
            var w = await c.CreateWorkloadAsync(req, new TestScope(), Ct());
            Assert.Equal("medium", w.Size); // 2 vCPU / 4 GiB is the 'medium' shape
            Assert.Equal("host-b", w.Host);
            Assert.Equal("/var/lib/grid-test/host-b/inv1-disk0.qcow2", w.Disks.Single().NativeId);
            Assert.Null(w.ComputeBilled);
            var after = await c.ListImagesAsync(new Dictionary<string, string>(), Ct());
            Assert.DoesNotContain(after, i => i.Name == "inv1-disk0.qcow2"); // a workload's disk is not an image
            var hostB = (await c.ListHostsAsync(Ct())).Single(h => h.Name == "host-b");
            Assert.Equal(2, hostB.AllocatedCpu);
            Assert.Equal(4096, hostB.AllocatedMemoryMB);

            // Remove keeps the volume; RemoveStorage deletes it.
            await c.RemoveAsync(w.NativeId, removeStorage: false, new TestScope(), Ct());
            var lc = (LibvirtConnection)c;
            using (var pool = Virt.LookupPool(lc.Hosts[1].Conn, "default")!)
            using (var v = Virt.LookupVolume(pool, "inv1-disk0.qcow2")) Assert.NotNull(v);
            var w2 = await c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "inv2", Image = "base.img", TargetHost = "host-b", IdempotencyKey = "inv2" }, new TestScope(), Ct());
            await c.RemoveAsync(w2.NativeId, removeStorage: true, new TestScope(), Ct());
            using (var pool = Virt.LookupPool(lc.Hosts[1].Conn, "default")!)
            using (var v = Virt.LookupVolume(pool, "inv2-disk0.img")) Assert.Null(v);
        }

        [LibvirtFact]
        public async Task Errors_AreGridExceptions_WithIdsAndNativeCodes()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            using var dc = new TestDriverDatacenter("host-a", "host-b");
            using var c = dc.Connect();
            var nf = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(Guid.NewGuid().ToString(), Ct()));
            Assert.Equal("WorkloadNotFound", nf.ErrorId);
            var size = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "s", Size = "huge", IdempotencyKey = "s" }, new TestScope(), Ct()));
            Assert.Equal("SizeNotFound", size.ErrorId);
            var img = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "i", Image = "nope.img", IdempotencyKey = "i" }, new TestScope(), Ct()));
            Assert.Equal("ImageNotFound", img.ErrorId);
            var host = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "h", TargetHost = "nowhere", IdempotencyKey = "h" }, new TestScope(), Ct()));
            Assert.Equal("HostNotFound", host.ErrorId);
            var w = await c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "dup", Image = "base.img", IdempotencyKey = "dup-1" }, new TestScope(), Ct());
            var dup = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "dup", Image = "base.img", IdempotencyKey = "dup-2" }, new TestScope(), Ct()));
            Assert.Equal("WorkloadNameExists", dup.ErrorId);
            var dealloc = await Assert.ThrowsAsync<GridException>(() => c.StopAsync(w.NativeId, StopMode.Deallocate, new TestScope(), Ct()));
            Assert.Equal(GridErrorKind.Unsupported, dealloc.Kind);
            // A native libvirt error (invalid XML) comes back mapped, with libvirt's error number.
            var lc = (LibvirtConnection)c;
            var native = Assert.Throws<GridException>(() => Virt.Define(lc.Hosts[0].Conn, "<domain type='test'><name>bad</name></domain>"));
            Assert.NotNull(native.NativeCode);
            Assert.True(int.Parse(native.NativeCode!) > 0);
            // Graceful stop of a running test guest works (the test driver shuts down at once) and is a no-op when repeated.
            await c.StopAsync(w.NativeId, StopMode.Graceful, new TestScope(), Ct());
            await c.StopAsync(w.NativeId, StopMode.Graceful, new TestScope(), Ct());
            Assert.Equal(WorkloadState.Stopped, (await c.GetWorkloadAsync(w.NativeId, Ct())).State);
        }

        /// <summary>The Credential parameter answers libvirt's authentication callback (our malloc'ed answers are freed by libvirt).</summary>
        [LibvirtFact]
        public void Credential_AnswersLibvirtAuthentication_AndWrongOnesAreUnauthorized()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            using var dc = TestDriverDatacenter.WithAuth("<auth><user password='s3cret-pw'>alice</user></auth>", "host-a", "host-b");
            using (var c = dc.Connect(credential: new System.Net.NetworkCredential("alice", "s3cret-pw")))
                Assert.Equal(2, c.ListHostsAsync(Ct()).GetAwaiter().GetResult().Count);
            var bad = Assert.ThrowsAny<GridException>(() => dc.Connect(credential: new System.Net.NetworkCredential("alice", "wrong-pw")));
            Assert.True(bad.Kind == GridErrorKind.Unauthorized, bad.Kind + " " + bad.ErrorId + " " + bad.NativeCode + " " + bad.Message);
            Assert.Equal("LibvirtAuthFailed", bad.ErrorId);
            Assert.DoesNotContain("wrong-pw", bad.Message);
            Assert.DoesNotContain("s3cret-pw", bad.Message);
            var none = Assert.ThrowsAny<GridException>(() => dc.Connect());
            Assert.True(none.Kind == GridErrorKind.Unauthorized, none.Kind + " " + none.ErrorId + " " + none.NativeCode + " " + none.Message);
        }

        /// <summary>Thousands of calls returning caller-owned (XML, paths) and libvirt-owned (names, errors) strings: a wrong free would crash the process.</summary>
        [LibvirtFact]
        public async Task StringOwnership_ManyCalls_DoNotCorruptTheHeap()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            using var dc = new TestDriverDatacenter("host-a", "host-b");
            using var c = dc.Connect();
            var w = await c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = "own", Image = "base.img", IdempotencyKey = "own" }, new TestScope(), Ct());
            for (int i = 0; i < 2000; i++)
            {
                var got = await c.GetWorkloadAsync(w.NativeId, Ct());
                Assert.Equal("own", got.Name);
                await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync("00000000-0000-0000-0000-00000000000" + (i % 10), Ct()));
            }
            GC.Collect(); GC.WaitForPendingFinalizers();
            var images = await c.ListImagesAsync(new Dictionary<string, string>(), Ct());
            Assert.NotEmpty(images);
        }
    }
}
