using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>
    /// The subnets of the loopback EC2 (shaped after shared/fixtures/botocore-ec2/responses/ec2-describe-subnets.xml
    /// plus the tagSet the EC2 API reference shows): DescribeSubnets (SubnetId.N, filters subnet-id, vpc-id and
    /// tag:Name; an unknown id answers InvalidSubnetID.NotFound), and RunInstances records the subnet it was given
    /// (unknown: InvalidSubnetID.NotFound) so DescribeInstances shows it. Two VPCs: the production one with "lan" and
    /// an untagged subnet-0abc (the moves' tests name it), and an isolated one with "dr-test".
    /// </summary>
    public sealed partial class FakeEc2
    {
        public const string DefaultSubnet = "subnet-0a1b2c3d";
        public const string IsolatedSubnet = "subnet-0e5f6a7b8c9d0e1f2";

        public sealed class Subnet { public string Id = ""; public string VpcId = ""; public string Cidr = ""; public string Zone = "us-east-1a"; public Dictionary<string, string> Tags = new Dictionary<string, string>(StringComparer.Ordinal); }

        public Dictionary<string, Subnet> Subnets { get; } = new Dictionary<string, Subnet>(StringComparer.Ordinal)
        {
            [DefaultSubnet] = new Subnet { Id = DefaultSubnet, VpcId = "vpc-0a1b2c3d", Cidr = "10.0.0.0/24", Tags = { ["Name"] = "lan" } },
            ["subnet-0abc"] = new Subnet { Id = "subnet-0abc", VpcId = "vpc-0a1b2c3d", Cidr = "10.0.1.0/24", Zone = "us-east-1b" }, // no Name tag: named by its id
            [IsolatedSubnet] = new Subnet { Id = IsolatedSubnet, VpcId = "vpc-0f9e8d7c6b5a49382", Cidr = "10.99.0.0/24", Tags = { ["Name"] = "dr-test" } },
        };

        /// <summary>The subnet each instance was launched into (instances not listed here are in <see cref="DefaultSubnet"/>).</summary>
        public Dictionary<string, string> InstanceSubnets { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

        private Ec2Response DescribeSubnets(Ec2Request r)
        {
            IEnumerable<Subnet> set = Subnets.Values;
            var ids = r.List("SubnetId");
            foreach (var id in ids)
                if (!Subnets.ContainsKey(id)) return Ec2Response.Error(400, "InvalidSubnetID.NotFound", $"The subnet ID '{id}' does not exist");
            if (ids.Count > 0) set = set.Where(s => ids.Contains(s.Id));
            foreach (var (name, values) in r.Filters())
            {
                if (name == "subnet-id") set = set.Where(s => values.Contains(s.Id));
                else if (name == "vpc-id") set = set.Where(s => values.Contains(s.VpcId));
                else if (name == "tag:Name") set = set.Where(s => s.Tags.TryGetValue("Name", out var n) && values.Contains(n));
                else return Ec2Response.Error(400, "InvalidParameterValue", $"The filter '{name}' is invalid");
            }
            var sb = Begin("DescribeSubnetsResponse").Append("<subnetSet>");
            foreach (var s in set)
            {
                sb.Append("<item><subnetId>").Append(s.Id).Append("</subnetId><state>available</state><vpcId>").Append(s.VpcId).Append("</vpcId><cidrBlock>").Append(s.Cidr)
                  .Append("</cidrBlock><availableIpAddressCount>251</availableIpAddressCount><availabilityZone>").Append(s.Zone)
                  .Append("</availabilityZone><defaultForAz>false</defaultForAz><mapPublicIpOnLaunch>false</mapPublicIpOnLaunch>");
                if (s.Tags.Count == 0) sb.Append("<tagSet/>");
                else
                {
                    sb.Append("<tagSet>");
                    foreach (var kv in s.Tags) sb.Append("<item><key>").Append(Ec2Response.SecurityElementEscape(kv.Key)).Append("</key><value>").Append(Ec2Response.SecurityElementEscape(kv.Value)).Append("</value></item>");
                    sb.Append("</tagSet>");
                }
                sb.Append("</item>");
            }
            return Ec2Response.Ok(sb.Append("</subnetSet>").Append(End("DescribeSubnetsResponse")).ToString());
        }

        /// <summary>RunInstances' SubnetId: null when absent or known; the error the real API answers for an unknown one.</summary>
        private Ec2Response? CheckRunSubnet(Ec2Request r)
        {
            string? subnet = r.Get("SubnetId");
            if (subnet == null || Subnets.ContainsKey(subnet)) return null;
            return Ec2Response.Error(400, "InvalidSubnetID.NotFound", $"The subnet ID '{subnet}' does not exist");
        }

        private void RecordRunSubnet(Ec2Request r, Inst i) { if (r.Get("SubnetId") is string s) InstanceSubnets[i.Id] = s; }

        /// <summary>The subnet and VPC elements of an instance as DescribeInstances shows them.</summary>
        private string SubnetXml(Inst i)
        {
            var s = Subnets[InstanceSubnets.TryGetValue(i.Id, out var id) ? id : DefaultSubnet];
            return "<subnetId>" + s.Id + "</subnetId><vpcId>" + s.VpcId + "</vpcId>";
        }
    }
}
