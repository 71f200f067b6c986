using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using GridAutomation.Core.Ledger;

namespace GridAutomation.Internal
{
    /// <summary>The period and filters shared by Get-GridUsage and Export-GridUsage.</summary>
    public abstract class UsageQueryCmdlet : GridCmdlet
    {
        /// <summary>Start of the period (inclusive). A time without a zone is UTC.</summary>
        [Parameter]
        public DateTime? From { get; set; }

        /// <summary>End of the period (exclusive). Default: now (open intervals run to their datacenter's clock).</summary>
        [Parameter]
        public DateTime? To { get; set; }

        /// <summary>Datacenter owners, who are owed (wildcards).</summary>
        [Parameter]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(OwnerCompleter))]
        public string[]? Owner { get; set; }

        /// <summary>Workload owners, who owe (wildcards).</summary>
        [Parameter]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(OwnerCompleter))]
        public string[]? Consumer { get; set; }

        /// <summary>Datacenter names (wildcards).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[]? Datacenter { get; set; }

        /// <summary>Price every interval again from today's agreements, list prices and rate cards (a rate changed since).</summary>
        [Parameter]
        public SwitchParameter Recalculate { get; set; }

        internal static DateTimeOffset? Utc(DateTime? t)
        {
            if (!t.HasValue) return null;
            var v = t.Value;
            if (v.Kind == DateTimeKind.Unspecified) v = DateTime.SpecifyKind(v, DateTimeKind.Utc);
            return new DateTimeOffset(v.ToUniversalTime(), TimeSpan.Zero);
        }

        internal UsageQuery Query(UsageGroupBy groupBy) => new UsageQuery
        {
            From = Utc(From), To = Utc(To), Owners = Owner, Consumers = Consumer, Datacenters = Datacenter,
            GroupBy = groupBy, Recalculate = Recalculate.IsPresent,
        };
    }

    /// <summary>Owners: of the registered datacenters and of the rate cards.</summary>
    public sealed class OwnerCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
        {
            var e = OpenEngine();
            return e.GetDatacenters(null).Select(d => d.Owner).Where(o => !string.IsNullOrEmpty(o)).Select(o => o!)
                .Concat(e.GetRateCards(null).Select(c => c.Owner));
        }
    }
}
