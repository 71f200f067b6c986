using System;
using System.Collections.Generic;
using GridAutomation.Core.Ledger;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Grid
{
    /// <summary>
    /// The usage ledger's view of agreements: the price a consumer agreed to pay for an owner's capacity in a datacenter
    /// at a time (the agreement in force then, chosen as admission chooses it). An agreement without prices answers
    /// null, so the price falls through to the size's list price and then the owner's rate card.
    /// </summary>
    public sealed class AgreementPrices : IAgreementPrices
    {
        private readonly GridService? _grid;
        private readonly IReadOnlyList<GridAgreement>? _snapshot;

        public AgreementPrices(GridService grid) { _grid = grid ?? throw new ArgumentNullException(nameof(grid)); }
        private AgreementPrices(IReadOnlyList<GridAgreement> snapshot) { _snapshot = snapshot; }

        public CapacityPrice? Find(string owner, string consumer, string datacenter, DateTimeOffset time)
        {
            var a = _snapshot != null ? GridService.Choose(_snapshot, owner, consumer, datacenter, time) : _grid!.FindInForce(owner, consumer, datacenter, time);
            if (a == null || (a.PricePerCpuHour == null && a.PricePerGBHour == null)) return null;
            return new CapacityPrice(a.PricePerCpuHour ?? 0m, a.PricePerGBHour ?? 0m, UsageLedger.DefaultCurrency);
        }

        /// <summary>The agreements read in the given session; none when this store has no agreements table yet.</summary>
        public IAgreementPrices In(IStateSession session)
            => new AgreementPrices(GridData.HasSchema(session) ? GridData.ListAgreements(session) : new List<GridAgreement>());
    }
}
