using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Core.Providers
{
    /// <summary>
    /// Optional on an <see cref="IGridConnection"/> of a cloud region (a datacenter whose hosts report no capacity): the
    /// provider's quotas that bound creates there, as its API reports them (Azure: compute usages per location; EC2:
    /// the account's instance limit). Placement filters a cloud candidate by them (constraint ProviderQuota, reason
    /// "ProviderQuotaExceeded" naming the quota), counting what the same plan already put there. A connection without
    /// it, or one that reports no quota, is a cloud unlimited within agreements.
    /// </summary>
    public interface IQuotaCapacity
    {
        /// <summary>The quotas in force now with their use; an empty list when the API says none.</summary>
        Task<IReadOnlyList<GridQuota>> GetQuotasAsync(CancellationToken cancellationToken);
    }

    /// <summary>What a quota counts: vCPUs of the workloads, or workloads (instances).</summary>
    public enum QuotaUnit { Vcpu, Workloads }

    /// <summary>One provider quota of a region: its provider name (e.g. Azure "cores", EC2 "max-instances"), limit and use.</summary>
    public sealed class GridQuota
    {
        /// <summary>The provider's own name of the quota, as its API spells it.</summary>
        public string Name { get; set; } = "";
        /// <summary>The provider's description (e.g. "Total Regional vCPUs"), when it gives one.</summary>
        public string? Description { get; set; }
        public QuotaUnit Unit { get; set; }
        public double Limit { get; set; }
        public double Used { get; set; }
        public override string ToString() => $"{Name} ({Used:0}/{Limit:0} {Unit})";
    }
}
