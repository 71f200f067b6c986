using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Amazon.EC2.Model;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Aws
{
    /// <summary>
    /// The networks of an EC2 region a create can launch into: its subnets (DescribeSubnets), named by their Name tag
    /// and by their id. The create option Network names one of them and becomes RunInstances' SubnetId (it wins over
    /// the option SubnetId: Start-GridFailover -Mode Test -TestNetwork puts the test copy in its isolated subnet). A
    /// Name tag two subnets share names neither (NetworkAmbiguous: give the id). Reads only.
    /// </summary>
    public sealed partial class AwsConnection : INetworkCatalog
    {
        public async Task<IReadOnlyList<string>> GetNetworksAsync(CancellationToken cancellationToken)
        {
            var subnets = await ListSubnetsAsync(cancellationToken).ConfigureAwait(false);
            var names = new List<string>();
            foreach (var g in subnets.Where(s => NameOf(s) != null).GroupBy(s => NameOf(s)!, StringComparer.Ordinal))
                if (g.Count() == 1) names.Add(g.Key);
            names.Sort(StringComparer.Ordinal);
            names.AddRange(subnets.Select(s => s.SubnetId).OrderBy(id => id, StringComparer.Ordinal));
            return names.Distinct(StringComparer.Ordinal).ToList();
        }

        private async Task<List<Subnet>> ListSubnetsAsync(CancellationToken ct)
        {
            var all = new List<Subnet>();
            string? next = null;
            do
            {
                var req = new DescribeSubnetsRequest { NextToken = next };
                var resp = await CallAsync("DescribeSubnets", null, c => _client.DescribeSubnetsAsync(req, c), ct).ConfigureAwait(false);
                if (resp.Subnets != null) all.AddRange(resp.Subnets.Where(s => !string.IsNullOrEmpty(s.SubnetId)));
                next = string.IsNullOrEmpty(resp.NextToken) ? null : resp.NextToken;
            } while (next != null);
            return all;
        }

        private static string? NameOf(Subnet s) => s.Tags?.FirstOrDefault(t => string.Equals(t.Key, "Name", StringComparison.Ordinal))?.Value is string n && n.Length > 0 ? n : null;

        /// <summary>The subnet id the create option Network names (a subnet id, or a subnet's Name tag; its own case first).</summary>
        private async Task<string> ResolveSubnetAsync(string network, string target, CancellationToken ct)
        {
            var subnets = await ListSubnetsAsync(ct).ConfigureAwait(false);
            var byId = subnets.FirstOrDefault(s => string.Equals(s.SubnetId, network, StringComparison.Ordinal));
            if (byId != null) return byId.SubnetId;
            foreach (var cmp in new[] { StringComparison.Ordinal, StringComparison.OrdinalIgnoreCase })
            {
                var named = subnets.Where(s => string.Equals(NameOf(s), network, cmp)).ToList();
                if (named.Count == 1) return named[0].SubnetId;
                if (named.Count > 1)
                    throw GridException.InvalidRequest($"{named.Count} subnets of Aws '{Datacenter.Name}' are named '{network}' ({string.Join(", ", named.Select(s => s.SubnetId))}): give the subnet id.", "NetworkAmbiguous", target);
            }
            throw GridException.NotFound($"No subnet '{network}' (Name tag or subnet id) in Aws '{Datacenter.Name}'. Subnets: {string.Join(", ", subnets.Select(s => NameOf(s) is string n ? $"{n} ({s.SubnetId})" : s.SubnetId))}.", "NetworkNotFound", target);
        }
    }
}
