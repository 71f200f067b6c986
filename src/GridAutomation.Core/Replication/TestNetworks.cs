using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Core.Replication
{
    public sealed partial class ReplicationService
    {
        /// <summary>
        /// The networks -TestNetwork may name: (destination datacenter, network) for every destination of a protected
        /// workload whose provider lists its networks (INetworkCatalog). For tab completion: reads only; a destination
        /// that does not answer or does not list networks is left out.
        /// </summary>
        public async Task<IReadOnlyList<(string Datacenter, string Network)>> GetDestinationNetworksAsync(IEngineObserver observer, CancellationToken ct)
        {
            var result = new List<(string, string)>();
            foreach (var dc in Get().Select(i => i.DestinationDatacenter).Distinct(StringComparer.OrdinalIgnoreCase))
            {
                try
                {
                    var conn = await _engine.GetConnectionAsync(dc, observer, ct).ConfigureAwait(false);
                    if (conn is not INetworkCatalog catalog) continue;
                    foreach (var n in await catalog.GetNetworksAsync(ct).ConfigureAwait(false)) result.Add((dc, n));
                }
                catch (GridException) { }
            }
            return result;
        }
    }
}
