using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Azure.Core;
using Azure.ResourceManager.Compute;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Azure
{
    /// <summary>
    /// The region's capacity for placement: Microsoft.Compute/locations/{location}/usages (what Get-AzVMUsage shows).
    /// "cores" (Total Regional vCPUs) bounds the vCPUs and "virtualMachines" the number of VMs of the subscription in the
    /// location. The per-family vCPU quotas (e.g. standardDSv3Family) are not applied: a size's family is not in the
    /// size listing the provider reads, so mapping a size to its family would be a guess.
    /// </summary>
    public sealed partial class AzureConnection : IQuotaCapacity
    {
        private static readonly (string name, QuotaUnit unit)[] PlacementQuotas = { ("cores", QuotaUnit.Vcpu), ("virtualMachines", QuotaUnit.Workloads) };

        public Task<IReadOnlyList<GridQuota>> GetQuotasAsync(CancellationToken cancellationToken)
            => Guard<IReadOnlyList<GridQuota>>(async () =>
            {
                var list = new List<GridQuota>();
                await foreach (var u in _subscription.GetUsagesAsync(new AzureLocation(_s.Location), cancellationToken).ConfigureAwait(false))
                {
                    string? name = u.Name?.Value;
                    foreach (var (n, unit) in PlacementQuotas)
                        if (string.Equals(name, n, StringComparison.OrdinalIgnoreCase))
                            list.Add(new GridQuota { Name = name!, Description = u.Name?.LocalizedValue, Unit = unit, Limit = u.Limit, Used = u.CurrentValue });
                }
                return list;
            }, _s.Location, cancellationToken);
    }
}
