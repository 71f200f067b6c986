using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Core.Providers
{
    /// <summary>
    /// Optional, on an <see cref="IGridConnection"/>: the networks a workload created here can be attached to, by the
    /// create option "Network" (CreateWorkloadRequest.Options["Network"] = one of these names). The core lists them to
    /// refuse an unknown network before anything is journaled (Start-GridFailover -Mode Test -TestNetwork); a
    /// connection without it has no network the core can name, so -TestNetwork is refused there (TestNetworkUnsupported).
    /// Reads only.
    /// </summary>
    public interface INetworkCatalog
    {
        Task<IReadOnlyList<string>> GetNetworksAsync(CancellationToken cancellationToken);
    }
}
