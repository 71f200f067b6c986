using System;

namespace GridAutomation.Core.Ledger
{
    /// <summary>A price per CPU-hour and per GB-hour of memory, in a currency.</summary>
    public sealed class CapacityPrice
    {
        public CapacityPrice(decimal perCpuHour, decimal perGBHour, string currency)
        {
            PerCpuHour = perCpuHour;
            PerGBHour = perGBHour;
            Currency = currency;
        }
        public decimal PerCpuHour { get; }
        public decimal PerGBHour { get; }
        public string Currency { get; }
    }

    /// <summary>
    /// The agreed price for a consumer's use of an owner's capacity in a datacenter at a time (agreements between
    /// owners). First in the price order: agreement, then the size's list price, then the owner's rate card.
    /// </summary>
    public interface IAgreementPrices
    {
        /// <summary>The agreed price, or null when no agreement covers this use.</summary>
        CapacityPrice? Find(string owner, string consumer, string datacenter, DateTimeOffset time);

        /// <summary>
        /// The agreements as they are in this session (inside the ledger's own transaction, so a lookup never opens a
        /// second connection while the ledger holds the write lock).
        /// </summary>
        IAgreementPrices In(State.IStateSession session);
    }

    /// <summary>No agreements: every lookup answers null (the price falls through to list price and rate card).</summary>
    public sealed class NoAgreementPrices : IAgreementPrices
    {
        public static readonly NoAgreementPrices Instance = new NoAgreementPrices();
        public CapacityPrice? Find(string owner, string consumer, string datacenter, DateTimeOffset time) => null;
        public IAgreementPrices In(State.IStateSession session) => this;
    }
}
