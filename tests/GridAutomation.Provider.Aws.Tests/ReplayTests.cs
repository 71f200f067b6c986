using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using System.Xml.Linq;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>
    /// The real AWSSDK.EC2 parses the real EC2 responses in shared/fixtures (libcloud 2016-11-15, botocore
    /// 2014-06-15, jclouds 2009-11-30), served over loopback HTTP; the mapped objects are compared field by
    /// field with what the fixture XML says (read independently here with XDocument).
    /// </summary>
    public sealed class ReplayTests
    {
        private static readonly CancellationToken Ct = CancellationToken.None;

        // ---- XML helpers (namespace-agnostic, the three API versions use different namespaces) --------------
        private static XElement? El(XElement? e, params string[] path)
        {
            foreach (var p in path) { if (e == null) return null; e = e.Elements().FirstOrDefault(x => x.Name.LocalName == p); }
            return e;
        }
        private static IEnumerable<XElement> Items(XElement? set) => set == null ? Enumerable.Empty<XElement>() : set.Elements().Where(x => x.Name.LocalName == "item");
        private static string? Text(XElement? e, params string[] path) { var x = El(e, path); return x == null || x.Value.Length == 0 ? null : x.Value; }
        private static DateTimeOffset Time(string s) => DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

        private static string RegionOf(string fixtureDir) => fixtureDir switch { "botocore-ec2" => "us-west-2", "libcloud-ec2" => "eu-west-1", _ => "us-east-1" };

        private static void AssertInstance(XElement reservation, XElement it, GridWorkload w, string datacenter, string region)
        {
            string id = Text(it, "instanceId")!;
            Assert.Equal(id, w.NativeId);
            Assert.Equal(datacenter + "/" + id, w.Id);
            Assert.Equal(datacenter, w.Datacenter);
            Assert.Equal("Aws", w.Provider);
            var tags = Items(El(it, "tagSet")).ToDictionary(t => Text(t, "key")!, t => Text(t, "value") ?? "");
            Assert.Equal(tags.TryGetValue("Name", out var n) && n.Length > 0 ? n : id, w.Name);
            Assert.Equal(Text(it, "placement", "availabilityZone")!.Trim(), w.Host);
            Assert.Equal(region, w.Cluster);
            string native = Text(it, "instanceState", "name")!;
            Assert.Equal(native, w.NativeState);
            Assert.Equal(native == "running" ? WorkloadState.Running : native == "stopped" ? WorkloadState.Stopped : native == "pending" ? WorkloadState.Starting : WorkloadState.Unknown, w.State);
            Assert.Equal(native == "running", w.ComputeBilled);
            Assert.Equal(Text(it, "instanceType"), w.Size);
            Assert.Equal(Text(it, "imageId"), w.Image);
            Assert.Null(w.Owner);

            // Tags: everything but Name (which is the workload's name), values as given (empty stays empty).
            Assert.Equal(tags.Where(t => t.Key != "Name").OrderBy(t => t.Key).ToList(),
                w.Tags.Cast<System.Collections.DictionaryEntry>().Select(e => new KeyValuePair<string, string>((string)e.Key, (string)e.Value!)).OrderBy(t => t.Key).ToList());

            // Disks: one per block device mapping.
            var bdms = Items(El(it, "blockDeviceMapping")).ToList();
            Assert.Equal(bdms.Count, w.Disks.Count);
            string? rootName = Text(it, "rootDeviceName");
            for (int i = 0; i < bdms.Count; i++)
            {
                Assert.Equal(Text(bdms[i], "deviceName"), w.Disks[i].Name);
                Assert.Equal(Text(bdms[i], "ebs", "volumeId"), w.Disks[i].NativeId);
                Assert.Equal(bool.Parse(Text(bdms[i], "ebs", "deleteOnTermination")!), w.Disks[i].DeleteWithWorkload);
                Assert.Equal(Text(bdms[i], "deviceName") == rootName, w.Disks[i].IsOsDisk);
                Assert.Null(w.Disks[i].SizeGB); // DescribeInstances does not carry volume sizes; never invented
            }

            // Addresses: private, public, then every interface's addresses, without duplicates.
            var ips = new List<string>();
            void Ip(string? a) { a = a?.Trim(); if (!string.IsNullOrEmpty(a) && !ips.Contains(a)) ips.Add(a); }
            Ip(Text(it, "privateIpAddress")); Ip(Text(it, "ipAddress"));
            foreach (var ni in Items(El(it, "networkInterfaceSet")))
            {
                Ip(Text(ni, "privateIpAddress"));
                foreach (var pa in Items(El(ni, "privateIpAddressesSet"))) { Ip(Text(pa, "privateIpAddress")); Ip(Text(pa, "association", "publicIp")); }
                Ip(Text(ni, "association", "publicIp"));
            }
            Assert.Equal(ips, w.IPAddresses);

            // Created: primary interface attach time, else root volume attach time, else launch time.
            var eni0 = Items(El(it, "networkInterfaceSet")).FirstOrDefault(x => Text(x, "attachment", "deviceIndex") == "0");
            var rootAttach = bdms.FirstOrDefault(b => Text(b, "deviceName") == rootName);
            string created = Text(eni0, "attachment", "attachTime") ?? Text(rootAttach, "ebs", "attachTime") ?? Text(it, "launchTime")!;
            Assert.Equal(Time(created), w.CreatedTime);

            // Raw properties.
            var p = w.Properties;
            Assert.Equal(Text(reservation, "reservationId"), p["ReservationId"]);
            Assert.Equal(Text(reservation, "ownerId"), p["OwnerId"]);
            Assert.Equal(int.Parse(Text(it, "instanceState", "code")!, CultureInfo.InvariantCulture), p["StateCode"]);
            Assert.Equal(Text(it, "keyName"), p["KeyName"]);
            Assert.Equal(Text(it, "subnetId"), p["SubnetId"]);
            Assert.Equal(Text(it, "vpcId"), p["VpcId"]);
            Assert.Equal(Text(it, "clientToken"), p["ClientToken"]);
            Assert.Equal(Text(it, "kernelId"), p["KernelId"]);
            Assert.Equal(Text(it, "ramdiskId"), p["RamdiskId"]);
            Assert.Equal(Text(it, "architecture"), p["Architecture"]);
            Assert.Equal(Text(it, "hypervisor")?.Trim(), p["Hypervisor"]);
            Assert.Equal(Text(it, "virtualizationType"), p["VirtualizationType"]);
            // The SDK interns enum-like values into its constants (PlatformValues.Windows is "Windows"): same value, SDK's casing.
            Assert.Equal(Text(it, "platform"), (string?)p["Platform"], StringComparer.OrdinalIgnoreCase);
            Assert.Equal(Text(it, "rootDeviceType"), p["RootDeviceType"]);
            Assert.Equal(rootName, p["RootDeviceName"]);
            Assert.Equal(Text(it, "reason"), p["StateTransitionReason"]);
            Assert.Equal(Text(it, "stateReason", "code"), p["StateReasonCode"]);
            Assert.Equal(Text(it, "stateReason", "message"), p["StateReasonMessage"]);
            Assert.Equal(Text(it, "privateIpAddress"), p["PrivateIpAddress"]);
            Assert.Equal(Text(it, "ipAddress"), p["PublicIpAddress"]);
            Assert.Equal(Text(it, "privateDnsName"), p["PrivateDnsName"]);
            Assert.Equal(Text(it, "dnsName"), p["PublicDnsName"]);
            Assert.Equal(Text(it, "monitoring", "state"), p["Monitoring"]);
            Assert.Equal(Time(Text(it, "launchTime")!), p["LaunchTime"]);
            Assert.Equal(Items(El(it, "groupSet")).Select(g => Text(g, "groupId")!).ToArray(), (string[])p["SecurityGroups"]!);
            Assert.Equal(Items(El(it, "networkInterfaceSet")).Select(g => Text(g, "networkInterfaceId")!).ToArray(), (string[])p["NetworkInterfaces"]!);
            var ebsOpt = Text(it, "ebsOptimized");
            Assert.Equal(ebsOpt == null ? (bool?)null : bool.Parse(ebsOpt), p["EbsOptimized"]);
        }

        [FixtureTheory]
        [InlineData("libcloud-ec2", "describe_instances.xml", "describe_availability_zones.xml", "2016-11-15")]
        [InlineData("botocore-ec2", "responses/ec2-describe-instances.xml", "responses/ec2-describe-availability-zones.xml", "2014-06-15")]
        [InlineData("jclouds-ec2", "describe_instances_running.xml", "availabilityZones.xml", "2009-11-30")]
        public async Task DescribeInstances_MapsEveryInstance_FieldByField(string dir, string describe, string zones, string apiVersion)
        {
            string file = dir + "/" + describe;
            var doc = XDocument.Load(TestEnvironment.Fixture(file));
            Assert.EndsWith(apiVersion + "/", doc.Root!.Name.NamespaceName);
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", dir + "/" + zones)
                .Route("DescribeInstances", file)
                // No fixture has DescribeInstanceTypes: answer as a read-only policy without that permission would.
                .Route("DescribeInstanceTypes", "botocore-ec2/errors/ec2-describe-instances.xml", 400);
            var verbose = new List<string>();
            string region = RegionOf(dir);
            using var c = await TestEnvironment.ConnectAsync(replay.Url, "replay", region, verbose: verbose);

            var pages = new List<IReadOnlyList<GridWorkload>>();
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery { PageSize = 50 }, Ct)) pages.Add(page);
            Assert.Single(pages); // one response, one page
            var listed = pages[0];

            var expected = Items(El(doc.Root, "reservationSet"))
                .SelectMany(r => Items(El(r, "instancesSet")).Select(i => (r, i))).ToList();
            Assert.Equal(expected.Count, listed.Count); // instances, not reservations
            for (int k = 0; k < expected.Count; k++) AssertInstance(expected[k].r, expected[k].i, listed[k], "replay", region);
            Assert.All(listed, w => { Assert.Null(w.MemoryMB); });
            Assert.Contains(verbose, m => m.Contains("instance type details unavailable"));

            // The request the SDK sent: paged, state filter pushed (terminated left out unless asked).
            var req = replay.Server.RequestsFor("DescribeInstances").Single();
            Assert.Equal("50", req.Get("MaxResults"));
            var f = req.Filters().Single(x => x.Name == "instance-state-name");
            Assert.DoesNotContain("terminated", f.Values);
            Assert.Equal(new[] { "pending", "running", "shutting-down", "stopped", "stopping" }, f.Values.OrderBy(x => x, StringComparer.Ordinal).ToArray());
            Assert.Null(req.Get("InstanceId.1"));
        }

        [FixtureFact]
        public async Task DescribeInstances_EmptyReservation_GivesNoWorkloads()
        {
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", "jclouds-ec2/availabilityZones.xml")
                .Route("DescribeInstances", "jclouds-ec2/describe_instances_empty.xml");
            using var c = await TestEnvironment.ConnectAsync(replay.Url);
            int pages = 0, count = 0;
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery(), Ct)) { pages++; count += page.Count; }
            Assert.Equal(1, pages);
            Assert.Equal(0, count);
        }

        [FixtureFact]
        public async Task GetWorkload_FromFixture_AndStoppedIsNotBilled()
        {
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", "libcloud-ec2/describe_availability_zones.xml")
                .Route("DescribeInstances", "libcloud-ec2/describe_instances.xml")
                .Route("DescribeInstanceTypes", "botocore-ec2/errors/ec2-describe-instances.xml", 400);
            using var c = await TestEnvironment.ConnectAsync(replay.Url, "dc1", "eu-west-1");
            var w = await c.GetWorkloadAsync("i-8474834a", Ct);
            Assert.Equal("Test Server 2", w.Name);
            Assert.Equal("VPC Test", w.Tags["Group"]);
            Assert.Equal("VPC Test", w.Tags["group"]); // keys case-insensitive in the model
            Assert.Equal(WorkloadState.Stopped, w.State);
            Assert.False(w.ComputeBilled);
            Assert.Equal(new[] { "172.16.9.139", "1.2.3.5", "172.16.4.139" }, w.IPAddresses);
            Assert.Equal(DateTimeOffset.Parse("2013-12-02T15:58:29.000Z", CultureInfo.InvariantCulture), w.CreatedTime);
            Assert.Equal("i-8474834a", replay.Server.RequestsFor("DescribeInstances").Last().Get("InstanceId.1"));
            Assert.Null(replay.Server.RequestsFor("DescribeInstances").Last().Get("MaxResults")); // EC2 refuses MaxResults with InstanceId
        }

        [FixtureTheory]
        [InlineData("libcloud-ec2/describe_availability_zones.xml", "eu-west-1")]
        [InlineData("botocore-ec2/responses/ec2-describe-availability-zones.xml", "us-west-2")]
        [InlineData("jclouds-ec2/availabilityZones.xml", "us-east-1")]
        public async Task AvailabilityZones_AreHosts(string file, string region)
        {
            var doc = XDocument.Load(TestEnvironment.Fixture(file));
            using var replay = new ReplayEc2().Route("DescribeAvailabilityZones", file);
            using var c = await TestEnvironment.ConnectAsync(replay.Url, "zones", region);
            var hosts = await c.ListHostsAsync(Ct);
            var zones = Items(El(doc.Root, "availabilityZoneInfo")).ToList();
            Assert.Equal(zones.Count, hosts.Count);
            for (int i = 0; i < zones.Count; i++)
            {
                var z = zones[i]; var h = hosts[i];
                Assert.Equal("zones", h.Datacenter);
                Assert.Equal(Text(z, "zoneName"), h.Name);
                Assert.Equal(Text(z, "zoneName"), h.NativeId); // no zoneId in these API versions
                Assert.Equal(Text(z, "regionName"), h.Cluster);
                Assert.Equal(Text(z, "zoneState"), h.NativeState);
                Assert.Equal(Text(z, "zoneState") == "available" ? HostState.Connected : HostState.Unknown, h.State);
                Assert.Null(h.CpuCores); Assert.Null(h.MemoryMB); Assert.Null(h.AllocatedCpu); Assert.Null(h.FreeCpu);
                Assert.Equal(Items(El(z, "messageSet")).Select(m => Text(m, "message")!).ToArray(), (string[])h.Properties["Messages"]!);
            }
        }

        [FixtureFact]
        public async Task Images_OwnedBySelf_PlusNamedIds()
        {
            var doc = XDocument.Load(TestEnvironment.Fixture("libcloud-ec2/describe_images.xml"));
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", "libcloud-ec2/describe_availability_zones.xml")
                .Route("DescribeImages", "libcloud-ec2/describe_images_ex_imageids.xml", when: r => r.Get("Owner.1") == "self")
                .Route("DescribeImages", "libcloud-ec2/describe_images.xml", when: r => r.Get("ImageId.1") != null);
            using var c = await TestEnvironment.ConnectAsync(replay.Url, "img", "eu-west-1");
            var images = await c.ListImagesAsync(new Dictionary<string, string> { ["imageid"] = "ami-85b2a8ae, ami-85b2a8ac" }, Ct);

            var calls = replay.Server.RequestsFor("DescribeImages").ToList();
            Assert.Equal(2, calls.Count);
            Assert.Equal("self", calls[0].Get("Owner.1"));
            Assert.Equal(new[] { "ami-85b2a8ae", "ami-85b2a8ac" }, calls[1].List("ImageId"));
            Assert.Null(calls[1].Get("MaxResults"));

            var expected = Items(El(doc.Root, "imagesSet")).ToList();
            Assert.Equal(expected.Count, images.Count);
            foreach (var x in expected)
            {
                var g = images.Single(i => i.NativeId == Text(x, "imageId"));
                Assert.Equal("img", g.Datacenter);
                Assert.Equal(Text(x, "name"), g.Name);
                Assert.Equal(Text(x, "description"), g.Description);
                Assert.Null(g.OsType); // neither platform nor platformDetails in this API version: not invented
                Assert.Null(g.PricePerHour);
                double size = Items(El(x, "blockDeviceMapping")).Select(b => Text(b, "ebs", "volumeSize")).Where(v => v != null).Sum(v => double.Parse(v!, CultureInfo.InvariantCulture));
                Assert.Equal(size, g.SizeGB);
                Assert.Equal(Text(x, "imageLocation"), g.Properties["ImageLocation"]);
                Assert.Equal(Text(x, "imageOwnerId"), g.Properties["OwnerId"]);
                Assert.Equal(Text(x, "imageState"), g.Properties["State"]);
                Assert.Equal(Text(x, "architecture"), g.Properties["Architecture"]);
                Assert.Equal(Text(x, "creationDate"), g.Properties["CreationDate"]);
                Assert.Equal(false, g.Properties["Public"]);
            }
        }

        [FixtureTheory]
        [InlineData("libcloud-ec2/run_instances.xml")]
        [InlineData("libcloud-ec2/run_instances_idem.xml")]
        [InlineData("botocore-ec2/responses/ec2-run-instances.xml")]
        [InlineData("jclouds-ec2/run_instances.xml")]
        public async Task RunInstances_SendsClientTokenAndTags_AndRecordsTheLaunchedId(string file)
        {
            var doc = XDocument.Load(TestEnvironment.Fixture(file));
            string launched = Text(Items(El(doc.Root, "instancesSet")).First(), "instanceId")!;
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", "jclouds-ec2/availabilityZones.xml")
                .Route("RunInstances", file)
                // The fixtures' describe responses do not contain the launched id: the provider keeps polling
                // (eventual consistency) and then reports the instance as not found.
                .Route("DescribeInstances", "jclouds-ec2/describe_instances_empty.xml");
            using var c = await TestEnvironment.ConnectAsync(replay.Url);
            c.LaunchVisibilityGrace = TimeSpan.FromMilliseconds(300);
            var scope = new TestScope("key-1");
            var req = new CreateWorkloadRequest { Name = "web-01", Image = "ami-be3adfd7", Size = "m1.small", IdempotencyKey = "key-1", TargetHost = "us-east-1b" };
            req.Tags["Owner"] = "ops";
            var ex = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(req, scope, Ct));
            Assert.Equal(GridErrorKind.NotFound, ex.Kind);

            Assert.Equal(launched, scope.Checkpoints["InstanceId"]);
            string token = AwsConnection.ClientTokenFor("us-east-1", "key-1");
            Assert.Equal(token, scope.Checkpoints["ClientToken"]);
            var run = replay.Server.RequestsFor("RunInstances").Single();
            Assert.Equal(token, run.Get("ClientToken"));
            Assert.True(token.Length <= 64);
            Assert.Equal("ami-be3adfd7", run.Get("ImageId"));
            Assert.Equal("m1.small", run.Get("InstanceType"));
            Assert.Equal("1", run.Get("MinCount")); Assert.Equal("1", run.Get("MaxCount"));
            Assert.Equal("us-east-1b", run.Get("Placement.AvailabilityZone"));
            Assert.Equal("instance", run.Get("TagSpecification.1.ResourceType"));
            Assert.Equal("Name", run.Get("TagSpecification.1.Tag.1.Key"));
            Assert.Equal("web-01", run.Get("TagSpecification.1.Tag.1.Value"));
            Assert.Equal("Owner", run.Get("TagSpecification.1.Tag.2.Key"));
            Assert.Equal("ops", run.Get("TagSpecification.1.Tag.2.Value"));
            Assert.Equal("volume", run.Get("TagSpecification.2.ResourceType"));
            Assert.True(replay.Server.RequestsFor("DescribeInstances").Count() >= 2);
            Assert.Equal(launched, replay.Server.RequestsFor("DescribeInstances").First().Get("InstanceId.1"));
        }

        [FixtureFact]
        public async Task RunInstances_IdempotentParameterMismatch_IsConflict()
        {
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", "libcloud-ec2/describe_availability_zones.xml")
                .Route("RunInstances", "libcloud-ec2/run_instances_idem_mismatch.xml", 400);
            using var c = await TestEnvironment.ConnectAsync(replay.Url, "dc", "eu-west-1");
            var ex = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(
                new CreateWorkloadRequest { Name = "x", Image = "ami-1", Size = "m1.small", IdempotencyKey = "k" }, new TestScope("k"), Ct));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("IdempotencyKeyReused", ex.ErrorId);
            Assert.Equal("IdempotentParameterMismatch", ex.NativeCode);
            Assert.Contains("inconsistent with arguments used in previous request", ex.Message);
            Assert.Single(replay.Server.RequestsFor("RunInstances")); // the SDK did not retry
        }

        [FixtureFact]
        public async Task ErrorBody_Malformed_IsNotFound()
        {
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", "botocore-ec2/responses/ec2-describe-availability-zones.xml")
                .Route("DescribeInstances", "botocore-ec2/errors/ec2-describe-instances.xml", 400);
            using var c = await TestEnvironment.ConnectAsync(replay.Url, "dc", "us-west-2");
            var ex = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync("foobar", Ct));
            Assert.Equal(GridErrorKind.NotFound, ex.Kind);
            Assert.Equal("WorkloadNotFound", ex.ErrorId);
            Assert.Equal("InvalidInstanceID.Malformed", ex.NativeCode);
            Assert.Contains("Invalid id: \"foobar\"", ex.Message);
            Assert.Equal("dc/foobar", ex.Target);
        }

        [FixtureFact]
        public async Task ErrorBody_OtherNotFound_IsNotFound()
        {
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", "libcloud-ec2/describe_availability_zones.xml")
                .Route("DescribeInstances", "libcloud-ec2/describe_key_pairs_doesnt_exist.xml", 400);
            using var c = await TestEnvironment.ConnectAsync(replay.Url, "dc", "eu-west-1");
            var ex = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync("i-12345678", Ct));
            Assert.Equal(GridErrorKind.NotFound, ex.Kind);
            Assert.Equal("InvalidKeyPair.NotFound", ex.NativeCode);
        }

        [FixtureTheory]
        [InlineData("libcloud-ec2/stop_instances.xml", "running -> stopping")]
        [InlineData("botocore-ec2/responses/ec2-stop-instances.xml", "running -> stopping")]
        [InlineData("jclouds-ec2/stop_instances.xml", "running -> stopping")]
        public async Task StopInstances_ResponseIsReported_ThenTheWaitPolls(string file, string transition)
        {
            var doc = XDocument.Load(TestEnvironment.Fixture(file));
            string changed = Text(Items(El(doc.Root, "instancesSet")).First(), "instanceId")!;
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", "botocore-ec2/responses/ec2-describe-availability-zones.xml")
                .Route("DescribeInstances", "botocore-ec2/responses/ec2-describe-instances.xml")
                .Route("StopInstances", file);
            using var c = await TestEnvironment.ConnectAsync(replay.Url, "dc", "us-west-2");
            c.WaitTimeout = TimeSpan.FromMilliseconds(300);
            var scope = new TestScope();
            // i-78f1b94a is running in the botocore describe fixture and stays so (a replay has no clock).
            var ex = await Assert.ThrowsAsync<GridException>(() => c.StopAsync("i-78f1b94a", StopMode.TurnOff, scope, Ct));
            Assert.Equal("AwsWaitTimedOut", ex.ErrorId);
            Assert.Contains(scope.ProgressReports, p => p.Status == changed + ": " + transition);
            var stop = replay.Server.RequestsFor("StopInstances").Single();
            Assert.Equal("i-78f1b94a", stop.Get("InstanceId.1"));
            Assert.Equal("true", stop.Get("Force"));
        }

        [FixtureTheory]
        [InlineData("libcloud-ec2/start_instances.xml")]
        [InlineData("botocore-ec2/responses/ec2-start-instances.xml")]
        [InlineData("jclouds-ec2/start_instances.xml")]
        public async Task StartInstances_ResponseIsReported(string file)
        {
            var doc = XDocument.Load(TestEnvironment.Fixture(file));
            string changed = Text(Items(El(doc.Root, "instancesSet")).First(), "instanceId")!;
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", "libcloud-ec2/describe_availability_zones.xml")
                .Route("DescribeInstances", "libcloud-ec2/describe_instances.xml")
                .Route("StartInstances", file);
            using var c = await TestEnvironment.ConnectAsync(replay.Url, "dc", "eu-west-1");
            var scope = new TestScope();
            // i-4382922a is stopped in the fixture and stays stopped: the start is reported as not having happened.
            var ex = await Assert.ThrowsAsync<GridException>(() => c.StartAsync("i-4382922a", scope, Ct));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Contains(scope.ProgressReports, p => p.Status == changed + ": stopped -> pending");
            Assert.Equal("i-4382922a", replay.Server.RequestsFor("StartInstances").Single().Get("InstanceId.1"));
        }

        [FixtureTheory]
        [InlineData("libcloud-ec2/terminate_instances.xml")]
        [InlineData("jclouds-ec2/terminate_instances.xml")]
        public async Task TerminateInstances_OldShutdownStateShape_IsAccepted(string file)
        {
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", "jclouds-ec2/availabilityZones.xml")
                .Route("DescribeInstances", "jclouds-ec2/describe_instances_running.xml")
                .Route("TerminateInstances", file);
            using var c = await TestEnvironment.ConnectAsync(replay.Url);
            c.WaitTimeout = TimeSpan.FromMilliseconds(300);
            var scope = new TestScope();
            var ex = await Assert.ThrowsAsync<GridException>(() => c.RemoveAsync("i-0799056f", false, scope, Ct));
            Assert.Equal("AwsWaitTimedOut", ex.ErrorId); // the replayed instance never terminates
            Assert.Equal("i-0799056f", replay.Server.RequestsFor("TerminateInstances").Single().Get("InstanceId.1"));
            // These API versions answer <shutdownState>, which today's model names currentState: the previous state still parses.
            Assert.Contains(scope.ProgressReports, p => p.Status.EndsWith(": running -> ?"));
        }

        [FixtureFact]
        public async Task Reboot_ModifyAndCreateTags_Responses()
        {
            using var replay = new ReplayEc2()
                .Route("DescribeAvailabilityZones", "botocore-ec2/responses/ec2-describe-availability-zones.xml")
                .Route("DescribeInstances", "botocore-ec2/responses/ec2-describe-instances.xml")
                .Route("RebootInstances", "libcloud-ec2/reboot_instances.xml")
                .Route("ModifyInstanceAttribute", "libcloud-ec2/modify_instance_attribute.xml")
                .Route("CreateTags", "libcloud-ec2/create_tags.xml")
                .Route("DeleteTags", "libcloud-ec2/create_tags.xml");
            using var c = await TestEnvironment.ConnectAsync(replay.Url, "dc", "us-west-2");

            await c.RestartAsync("i-78f1b94a", new TestScope(), Ct);
            Assert.Equal("i-78f1b94a", replay.Server.RequestsFor("RebootInstances").Single().Get("InstanceId.1"));

            // i-fde9cece is stopped: the type changes without a restart.
            await c.ResizeAsync("i-fde9cece", new ResizeRequest { Size = "m1.large" }, new TestScope(), Ct);
            var mod = replay.Server.RequestsFor("ModifyInstanceAttribute").Single();
            Assert.Equal("i-fde9cece", mod.Get("InstanceId"));
            Assert.Equal("m1.large", mod.Get("InstanceType.Value"));

            // i-78f1b94a is running: resize without AllowRestart is refused before anything acts.
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ResizeAsync("i-78f1b94a", new ResizeRequest { Size = "m1.large" }, new TestScope(), Ct));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("ResizeRequiresStop", ex.ErrorId);
            Assert.Single(replay.Server.RequestsFor("ModifyInstanceAttribute"));

            // Tag key case follows the instance ("NOTEBOOK" removes "notebook").
            await c.SetTagsAsync("i-fde9cece", new Dictionary<string, string?> { ["env"] = "prod", ["NOTEBOOK"] = null }, new TestScope(), Ct);
            var create = replay.Server.RequestsFor("CreateTags").Single();
            Assert.Equal("i-fde9cece", create.Get("ResourceId.1"));
            Assert.Equal("env", create.Get("Tag.1.Key")); Assert.Equal("prod", create.Get("Tag.1.Value"));
            var del = replay.Server.RequestsFor("DeleteTags").Single();
            Assert.Equal("notebook", del.Get("Tag.1.Key"));
        }
    }

    public sealed class FixtureTheoryAttribute : TheoryAttribute
    {
        public FixtureTheoryAttribute() { Skip = new FixtureFactAttribute().Skip; }
    }
}
