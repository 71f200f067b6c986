using System;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Providers
{
    /// <summary>
    /// Optional, on an <see cref="IGridProvider"/>: what the usage ledger needs to know about a datacenter without
    /// connecting to it — its clock (a simulated datacenter may run on a scripted clock) and the billing rule it
    /// follows when that is a setting of the datacenter rather than a fact of the provider.
    /// </summary>
    public interface IUsageMetering
    {
        /// <summary>The datacenter's current time (UTC).</summary>
        DateTimeOffset Now(GridDatacenter datacenter);

        /// <summary>The name of the billing rule (see Ledger.BillingRule) the datacenter follows, or null for the provider's own.</summary>
        string? BillingRuleName(GridDatacenter datacenter);
    }
}
