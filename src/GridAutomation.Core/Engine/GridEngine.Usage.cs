using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Ledger;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Core.Engine
{
    /// <summary>The usage ledger's side of the engine: recording changes, Update-GridUsage, Get-GridUsage and rate cards.</summary>
    public sealed partial class GridEngine
    {
        private UsageLedger? _ledger;
        /// <summary>The ledger of this engine's store; agreement prices (first in the price order) come from the agreements of the same store.</summary>
        public UsageLedger Ledger => _ledger ??= new UsageLedger(Store, new Grid.AgreementPrices(Grid));

        /// <summary>The datacenter's clock: the provider's (a simulator may run on a scripted clock), else the system's.</summary>
        public DateTimeOffset ClockOf(GridDatacenter dc)
        {
            return ProviderRegistry.TryGet(dc.Provider, out var p) && p is IUsageMetering m ? m.Now(dc) : DateTimeOffset.UtcNow;
        }

        /// <summary>The billing rule the datacenter follows (docs/usage.md).</summary>
        public BillingRule RuleOf(GridDatacenter dc)
        {
            return BillingRule.For(dc.Provider, ProviderRegistry.TryGet(dc.Provider, out var p) && p is IUsageMetering m ? m.BillingRuleName(dc) : null);
        }

        private DateTimeOffset ClockOf(string datacenter)
        {
            var dc = _datacenters.Get(datacenter);
            return dc == null ? DateTimeOffset.UtcNow : ClockOf(dc);
        }

        /// <summary>
        /// After a change this module made (journaled Succeeded): the workload's new state opens its next interval.
        /// The change has happened whatever the ledger says, so a ledger failure is a warning (Update-GridUsage catches up).
        /// </summary>
        internal void RecordUsage(GridDatacenter dc, GridWorkload? workload, string? goneId, Guid operationId, IEngineObserver observer)
        {
            if (ReadOnly) return;
            try
            {
                Ledger.Record(dc, RuleOf(dc), workload == null ? Array.Empty<GridWorkload>() : new[] { workload }, ClockOf(dc), "Journal",
                    operationId.ToString("D"), completeListing: false, goneIds: goneId == null ? null : new[] { goneId });
            }
            catch (Exception ex)
            {
                observer.Warning($"The usage ledger could not record the change of '{workload?.Id ?? goneId}' ({ex.Message}); the next Update-GridUsage records it.");
            }
        }

        /// <summary>
        /// Update-GridUsage: lists each datacenter in full and records what changed since the ledger last knew (changes
        /// made outside this module), one transaction per datacenter. The observation time is the datacenter's clock when
        /// its listing began.
        /// </summary>
        public IAsyncEnumerable<FanOutResult<GridUsageObservation>> UpdateUsageAsync(IReadOnlyList<string>? datacenters, IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            var dcs = ResolveDatacenters(datacenters);
            Ledger.EnsureSchema();
            return FanOutAsync<GridUsageObservation>(dcs, async (dc, conn, writer, token) =>
            {
                var time = ClockOf(dc);
                var rule = RuleOf(dc);
                var seen = new List<GridWorkload>();
                var q = new WorkloadQuery { PageSize = Configuration.PageSize };
                var listing = System.Diagnostics.Stopwatch.StartNew();
                await foreach (var page in ListWithRetryAsync(dc.Name, conn, q, token).ConfigureAwait(false))
                    foreach (var w in page) { Complete(w, dc); seen.Add(w); }
                listing.Stop();
                token.ThrowIfCancellationRequested();
                var result = Ledger.Record(dc, rule, seen, time, "Observation", null, completeListing: true);
                observer.Verbose($"Datacenter '{dc.Name}' observed at {time:u}: {result.Workloads} workloads, {result.Opened} intervals opened, {result.Closed} closed ({result.Estimated} estimated).");
                observer.Verbose(FormattableString.Invariant($"Datacenter '{dc.Name}' timings: listing {listing.Elapsed.TotalMilliseconds:0} ms, {result.Timings}."));
                await writer.WriteAsync(new FanOutResult<GridUsageObservation>(dc.Name, result, null), token).ConfigureAwait(false);
            }, observer, ct);
        }

        /// <summary>Get-GridUsage: reads the ledger only (never writes, never connects).</summary>
        public IReadOnlyList<GridUsage> GetUsage(UsageQuery query) => Ledger.GetUsage(query, ClockOf);

        /// <summary>The priced pieces (per day) behind Get-GridUsage, for Export-GridUsage.</summary>
        public IReadOnlyList<UsageCharge> GetUsageCharges(UsageQuery query) => Ledger.GetCharges(query, ClockOf, splitDays: true);

        public GridRateCard SetRateCard(GridRateCard card)
        {
            EnsureWritable();
            UsageLedger.ValidateCard(card);
            var op = Journal.Begin("SetRateCard", "", card.Owner, null, JsonUtil.Serialize(card), null, card.Owner);
            try
            {
                var r = Ledger.SetRateCard(card);
                Journal.Complete(op.Id, null);
                return r;
            }
            catch (Exception ex)
            {
                var g = Normalize(ex, card.Owner);
                Journal.Fail(op.Id, g.ErrorId, g.Message);
                throw g;
            }
        }

        public IReadOnlyList<GridRateCard> GetRateCards(IReadOnlyList<string>? owners)
        {
            var patterns = Wildcard.CompileAll(owners);
            return Ledger.GetRateCards().Where(c => Wildcard.MatchesAny(c.Owner, patterns)).ToList();
        }

        public int RemoveRateCard(string owner, DateTimeOffset? effectiveFrom)
        {
            EnsureWritable();
            var op = Journal.Begin("RemoveRateCard", "", owner, null, JsonUtil.Serialize(new { Owner = owner, EffectiveFrom = effectiveFrom }), null, owner);
            try
            {
                int n = Ledger.RemoveRateCards(owner, effectiveFrom);
                Journal.Complete(op.Id, JsonUtil.Serialize(new { Removed = n }));
                return n;
            }
            catch (Exception ex)
            {
                var g = Normalize(ex, owner);
                Journal.Fail(op.Id, g.ErrorId, g.Message);
                throw g;
            }
        }
    }
}
