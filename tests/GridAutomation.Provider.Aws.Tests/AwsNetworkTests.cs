using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>
    /// The subnets as the networks of an EC2 region (INetworkCatalog, what Start-GridFailover -TestNetwork checks a
    /// name against) and the create option Network (a Name tag or a subnet id) becoming RunInstances' SubnetId; the
    /// real AWSSDK.EC2 against the loopback EC2.
    /// </summary>
    public sealed class AwsNetworkTests
    {
        private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

        private static CreateWorkloadRequest Req(string name, string network, string? subnetId = null)
        {
            var r = new CreateWorkloadRequest { Name = name, Image = FakeEc2.ImageId, Size = "t3.micro", IdempotencyKey = "net-" + name, PowerOn = true };
            r.Options["Network"] = network;
            if (subnetId != null) r.Options["SubnetId"] = subnetId;
            return r;
        }

        [Fact]
        public async Task Catalog_ListsSubnetsByNameTagAndId()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var nets = await ((INetworkCatalog)c).GetNetworksAsync(Ct);
            Assert.Equal(new[] { "dr-test", "lan", FakeEc2.DefaultSubnet, "subnet-0abc", FakeEc2.IsolatedSubnet }, nets);

            // a Name tag two subnets share names neither of them (the ids still do)
            fake.Subnets["subnet-0aaa1111"] = new FakeEc2.Subnet { Id = "subnet-0aaa1111", VpcId = "vpc-0a1b2c3d", Cidr = "10.0.2.0/24", Tags = { ["Name"] = "lan" } };
            nets = await ((INetworkCatalog)c).GetNetworksAsync(Ct);
            Assert.DoesNotContain("lan", nets);
            Assert.Contains("subnet-0aaa1111", nets);
            var amb = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(Req("amb", "lan"), new TestScope(), Ct));
            Assert.Equal(("NetworkAmbiguous", GridErrorKind.InvalidRequest), (amb.ErrorId, amb.Kind));
            Assert.Empty(fake.Server.RequestsFor("RunInstances"));
        }

        [Fact]
        public async Task Create_WithNetwork_LaunchesIntoTheNamedSubnet_OverTheSubnetIdOption()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);

            // by Name tag (another case too), winning over SubnetId (a replica's own subnet): the test copy's isolated subnet
            var w = await c.CreateWorkloadAsync(Req("copy", "DR-TEST", subnetId: FakeEc2.DefaultSubnet), new TestScope(), Ct);
            Assert.Equal(FakeEc2.IsolatedSubnet, fake.Server.RequestsFor("RunInstances").Single().Get("SubnetId"));
            Assert.Equal(FakeEc2.IsolatedSubnet, (await c.GetWorkloadAsync(w.NativeId, Ct)).Properties["SubnetId"]);

            // by subnet id
            var byId = await c.CreateWorkloadAsync(Req("by-id", "subnet-0abc"), new TestScope(), Ct);
            Assert.Equal("subnet-0abc", (await c.GetWorkloadAsync(byId.NativeId, Ct)).Properties["SubnetId"]);

            // an unknown name: refused before RunInstances, with the subnets there are
            int runs = fake.Server.RequestsFor("RunInstances").Count();
            var nf = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(Req("lost", "dmz"), new TestScope(), Ct));
            Assert.Equal(("NetworkNotFound", GridErrorKind.NotFound), (nf.ErrorId, nf.Kind));
            Assert.Contains("dr-test (" + FakeEc2.IsolatedSubnet + ")", nf.Message);
            Assert.Equal(runs, fake.Server.RequestsFor("RunInstances").Count());
            Assert.Equal(2, fake.Instances.Count);
        }
    }
}
