using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>
    /// The libvirt networks a create can attach its interface to (option Network: &lt;interface type='network'&gt; with
    /// &lt;source network='…'/&gt;, see DomainXml): the networks every host of the datacenter defines, so a copy placed on
    /// any host finds its network. Reads only (virConnectListAllNetworks).
    /// </summary>
    internal sealed partial class LibvirtConnection : INetworkCatalog
    {
        public Task<IReadOnlyList<string>> GetNetworksAsync(CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run<IReadOnlyList<string>>(() =>
            {
                IEnumerable<string>? common = null;
                foreach (var h in _hosts)
                {
                    var names = Virt.ListNetworkNames(h.Conn);
                    common = common == null ? names : common.Intersect(names, StringComparer.Ordinal).ToList();
                }
                return (common ?? Enumerable.Empty<string>()).OrderBy(n => n, StringComparer.Ordinal).ToList();
            }, cancellationToken);
        }
    }
}
