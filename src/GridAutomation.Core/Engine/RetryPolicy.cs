using System;
using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using Polly;
using Polly.Retry;

namespace GridAutomation.Core.Engine
{
    /// <summary>
    /// The one retry/throttle policy for every provider (Polly.Core): bounded retries of transient
    /// GridExceptions (Throttled, Unavailable) with exponential backoff and jitter, the server's Retry-After
    /// honoured (a Retry-After longer than the configured maximum fails the call instead of stalling it), and a
    /// per-datacenter concurrency limit around each attempt. Calls whose SDK already retries are not retried again
    /// (they still take a concurrency slot).
    /// </summary>
    public sealed class RetryPolicy : IRetryPolicy
    {
        private readonly ResiliencePipeline _pipeline;
        private readonly ConcurrentDictionary<string, SemaphoreSlim> _slots = new ConcurrentDictionary<string, SemaphoreSlim>(StringComparer.OrdinalIgnoreCase);
        private readonly int _maxConcurrency;
        private static readonly ResiliencePropertyKey<string> DatacenterKey = new ResiliencePropertyKey<string>("datacenter");

        /// <summary>Raised before each retry wait (datacenter, attempt, delay, error). For verbose output; never carries a secret.</summary>
        public event Action<string, int, TimeSpan, GridException>? Retrying;

        public RetryPolicy(int retryCount, TimeSpan maxDelay, int maxConcurrencyPerDatacenter, TimeSpan? baseDelay = null)
        {
            _maxConcurrency = Math.Max(1, maxConcurrencyPerDatacenter);
            MaxDelay = maxDelay;
            if (retryCount <= 0)
            {
                _pipeline = ResiliencePipeline.Empty;
                return;
            }
            _pipeline = new ResiliencePipelineBuilder()
                .AddRetry(new RetryStrategyOptions
                {
                    MaxRetryAttempts = retryCount,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    Delay = baseDelay ?? TimeSpan.FromMilliseconds(500),
                    MaxDelay = maxDelay,
                    ShouldHandle = args => new ValueTask<bool>(args.Outcome.Exception is GridException g && g.IsTransient
                        && !(g.RetryAfter.HasValue && g.RetryAfter.Value > maxDelay)),
                    DelayGenerator = args =>
                    {
                        if (args.Outcome.Exception is GridException g && g.RetryAfter.HasValue)
                            return new ValueTask<TimeSpan?>(g.RetryAfter.Value < TimeSpan.Zero ? TimeSpan.Zero : g.RetryAfter.Value);
                        return new ValueTask<TimeSpan?>((TimeSpan?)null);
                    },
                    OnRetry = args =>
                    {
                        if (args.Outcome.Exception is GridException g)
                        {
                            args.Context.Properties.TryGetValue(DatacenterKey, out var dc);
                            Retrying?.Invoke(dc ?? "", args.AttemptNumber + 1, args.RetryDelay, g);
                        }
                        return default;
                    },
                })
                .Build();
        }

        public TimeSpan MaxDelay { get; }

        public async Task<T> ExecuteAsync<T>(string datacenter, Func<CancellationToken, Task<T>> call, bool sdkRetries, CancellationToken cancellationToken)
        {
            var slot = _slots.GetOrAdd(datacenter, _ => new SemaphoreSlim(_maxConcurrency, _maxConcurrency));
            async ValueTask<T> Attempt(CancellationToken ct)
            {
                await slot.WaitAsync(ct).ConfigureAwait(false);
                try { return await call(ct).ConfigureAwait(false); }
                finally { slot.Release(); }
            }
            if (sdkRetries) return await Attempt(cancellationToken).ConfigureAwait(false);

            var context = ResilienceContextPool.Shared.Get(cancellationToken);
            context.Properties.Set(DatacenterKey, datacenter);
            try
            {
                return await _pipeline.ExecuteAsync((ctx, state) => Attempt(ctx.CancellationToken), context, 0).ConfigureAwait(false);
            }
            finally { ResilienceContextPool.Shared.Return(context); }
        }

        public Task ExecuteAsync(string datacenter, Func<CancellationToken, Task> call, bool sdkRetries, CancellationToken cancellationToken)
            => ExecuteAsync<bool>(datacenter, async ct => { await call(ct).ConfigureAwait(false); return true; }, sdkRetries, cancellationToken);
    }
}
