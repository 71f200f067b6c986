using System;
using System.Collections.Generic;
using GridAutomation.Core.Providers;

namespace GridAutomation.Core.Moves
{
    /// <summary>
    /// Byte progress of one workload's move between datacenters, for the overall bar of a bulk move: its disks are
    /// carried twice (export into staging, import into the destination), so the workload's total is twice the bytes
    /// to transfer (the report's BytesToTransfer) and each provider's per-disk report (GridProgress.BytesDone of
    /// BytesTotal) is placed in it: export of disk i after the disks before it, import after all exports. Every
    /// report of the move then carries the workload's BytesDone/BytesTotal.
    /// </summary>
    internal sealed class MoveByteProgress
    {
        private readonly object _gate = new object();
        private long _planned;   // bytes to transfer (one pass)
        private long _finished;  // bytes of the transfers already finished, over both passes
        private long _current;   // bytes of the transfer in flight

        public MoveByteProgress(long bytesToTransfer) { _planned = Math.Max(0, bytesToTransfer); }

        public long Total { get { lock (_gate) return 2 * _planned; } }
        public long Done { get { lock (_gate) return Math.Min(2 * _planned, _finished + _current); } }

        /// <summary>The exported disks are known: their bytes are what is carried (a resume or an older record had no plan).</summary>
        public void Plan(long bytesToTransfer) { lock (_gate) if (bytesToTransfer > 0) _planned = bytesToTransfer; }

        /// <summary>The provider's scope for one disk transfer: its reports are placed in the workload's bytes.</summary>
        public IOperationScope For(IOperationScope inner) => new Scope(this, inner);

        /// <summary>One transfer (one disk, one pass) finished: the bytes it reported count as done.</summary>
        public void Finished() { lock (_gate) { _finished += _current; _current = 0; } }

        /// <summary>A phase (export or import) finished: done is at least that phase's share (a transfer that reported no bytes).</summary>
        public void PhaseDone(int phase) { lock (_gate) { _finished = Math.Max(_finished, phase * _planned); _current = 0; } }

        public GridProgress Stamp(GridProgress p) { p.BytesDone = Done; p.BytesTotal = Total; return p; }

        private sealed class Scope : IOperationScope
        {
            private readonly MoveByteProgress _owner;
            private readonly IOperationScope _inner;
            public Scope(MoveByteProgress owner, IOperationScope inner) { _owner = owner; _inner = inner; }
            public Guid OperationId => _inner.OperationId;
            public string IdempotencyKey => _inner.IdempotencyKey;
            public bool IsResume => _inner.IsResume;
            public IReadOnlyDictionary<string, string> Checkpoints => _inner.Checkpoints;
            public void Checkpoint(string key, string value) => _inner.Checkpoint(key, value);
            public void Report(GridProgress progress)
            {
                if (progress.BytesDone >= 0) lock (_owner._gate) _owner._current = progress.BytesDone;
                _inner.Report(new GridProgress(progress.Activity, progress.Status, progress.PercentComplete) { BytesDone = _owner.Done, BytesTotal = _owner.Total });
            }
        }
    }
}
