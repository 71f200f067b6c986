using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;

namespace GridAutomation.Internal
{
    /// <summary>Start-GridFailover -TestNetwork: the networks the destinations of the protected workloads list (tooltip: whose).</summary>
    public sealed class TestNetworkCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => GetEntries(parameterName, word, bound, ct).Select(e => e.value);

        protected override IEnumerable<(string value, string tip)> GetEntries(string parameterName, string word, IDictionary bound, CancellationToken ct)
        {
            var engine = OpenEngine();
            var nets = Task.Run(() => engine.Replication.GetDestinationNetworksAsync(NullObserver.Instance, ct), ct).GetAwaiter().GetResult();
            return nets.GroupBy(n => n.Network, StringComparer.Ordinal)
                .Select(g => (g.Key, $"{g.Key} (network of {string.Join(", ", g.Select(x => x.Datacenter))})"))
                .ToList();
        }
    }
}
