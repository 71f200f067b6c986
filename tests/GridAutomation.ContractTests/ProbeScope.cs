using System;
using System.Collections.Generic;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.ContractTests
{
    /// <summary>
    /// An operation scope that hands each progress report to the test while the provider call runs: to look at the
    /// provider's side mid-way (a snapshot that exists during a download) or to break the call there (cancel).
    /// </summary>
    public sealed class ProbeScope : IOperationScope
    {
        private readonly Dictionary<string, string> _checkpoints = new Dictionary<string, string>();
        public ProbeScope(Action<GridProgress>? onReport = null) { OnReport = onReport; }
        public Action<GridProgress>? OnReport { get; }
        public Guid OperationId { get; } = Guid.NewGuid();
        public string IdempotencyKey => OperationId.ToString("N");
        public bool IsResume => false;
        public IReadOnlyDictionary<string, string> Checkpoints => _checkpoints;
        public void Checkpoint(string key, string value) => _checkpoints[key] = value;
        public void Report(GridProgress progress) => OnReport?.Invoke(progress);
    }
}
