using System;
using System.Collections.Generic;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Engine
{
    /// <summary>The IOperationScope the engine hands providers: checkpoints go to the journal before the step acts.</summary>
    internal sealed class JournalScope : IOperationScope
    {
        private readonly IOperationJournal _journal;
        private readonly IEngineObserver _observer;
        private readonly string _target;
        private readonly Dictionary<string, string> _checkpoints;

        public JournalScope(IOperationJournal journal, GridOperation operation, string providerKey, bool isResume, IEngineObserver observer)
        {
            _journal = journal; _observer = observer; _target = operation.Target;
            OperationId = operation.Id;
            IdempotencyKey = providerKey;
            IsResume = isResume;
            _checkpoints = new Dictionary<string, string>(operation.Checkpoints, StringComparer.Ordinal);
        }

        public Guid OperationId { get; }
        public string IdempotencyKey { get; }
        public bool IsResume { get; }
        public IReadOnlyDictionary<string, string> Checkpoints { get { lock (_checkpoints) return new Dictionary<string, string>(_checkpoints); } }

        public void Checkpoint(string key, string value)
        {
            _journal.Checkpoint(OperationId, key, value);
            lock (_checkpoints) _checkpoints[key] = value;
        }

        /// <summary>A checkpoint and, in the same write, a child operation begun (a step of a move).</summary>
        internal GridOperation CheckpointAndBeginChild(string key, string value, OperationIntent child)
        {
            var op = _journal.CheckpointAndBeginChild(OperationId, key, value, child);
            lock (_checkpoints) _checkpoints[key] = value;
            return op;
        }

        /// <summary>A checkpoint and, in the same write, a child operation completed.</summary>
        internal void CheckpointAndCompleteChild(string key, string value, Guid childId, string? childResult)
        {
            _journal.CheckpointAndCompleteChild(OperationId, key, value, childId, childResult);
            lock (_checkpoints) _checkpoints[key] = value;
        }

        public void Report(GridProgress progress) => _observer.Progress(_target, progress);
    }
}
