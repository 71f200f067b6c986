using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Moves
{
    /// <summary>
    /// The child operations of a move between datacenters: one per step (kind "Move" + the step in Pascal case:
    /// MoveStop, MoveExport, MoveConvert, MoveVerify, MoveImport, MoveCreate, MoveVerifyDestination, MoveStart,
    /// MoveCutover, and MoveRollback), each with the parent's id, begun in the same write as the parent's "step"
    /// checkpoint and completed in the same write as its "done:&lt;step&gt;" checkpoint (a child costs no extra
    /// transaction: a bulk move of 500 workloads writes as often as before). The parent keeps the lock, the
    /// checkpoints and the resume; its heartbeat is its running children's. A child is a record of what each step did
    /// (Get-GridOperation -Parent), never resumed on its own (Resume-GridOperation of a child resumes the parent).
    /// Children carry no lock: their writes ride on the parent's fenced checkpoint, so a writer whose lease was taken
    /// over is refused before it touches a child.
    /// </summary>
    internal sealed class MoveStepJournal
    {
        private readonly IOperationJournal _journal;
        private readonly GridOperation _parent;
        private readonly MoveRecord _rec;
        private readonly JournalScope _scope;
        private readonly Dictionary<string, GridOperation> _open = new Dictionary<string, GridOperation>(StringComparer.Ordinal);

        public MoveStepJournal(IOperationJournal journal, GridOperation parent, MoveRecord rec, JournalScope scope, bool isResume)
        {
            _journal = journal; _parent = parent; _rec = rec; _scope = scope;
            if (!isResume) return;
            // A resumed parent: the child of the step the process died in reads Interrupted (its lease holder is gone).
            foreach (var child in journal.List(new OperationFilter { ParentId = parent.Id }))
                if (child.State == OperationState.Interrupted && journal.TryTakeOver(child.Id))
                    _open[child.Kind] = child;
        }

        /// <summary>The child kind of a step: "verify-destination" → "MoveVerifyDestination".</summary>
        public static string KindOf(string step)
            => "Move" + string.Concat(step.Split('-').Select(p => p.Length == 0 ? p : char.ToUpperInvariant(p[0]) + p.Substring(1)));

        /// <summary>
        /// Records the parent's checkpoint <paramref name="key"/> = <paramref name="value"/> (before the step acts) with
        /// the step's child: the interrupted child of the same step when the parent is resumed (taken over, so a step
        /// that ran twice is still one child), else a new one begun in the same write.
        /// </summary>
        public GridOperation Begin(string step, string datacenter, string key, string value)
        {
            string kind = KindOf(step);
            if (_open.TryGetValue(kind, out var open)) { _scope.Checkpoint(key, value); return open; }
            var child = _scope.CheckpointAndBeginChild(key, value, new OperationIntent
            {
                Kind = kind, Datacenter = datacenter, Target = _rec.SourceId, TargetName = _rec.Name, BatchId = _parent.BatchId,
                DestinationDatacenter = _rec.DestinationDatacenter, Coordinator = "core",
                RequestJson = JsonUtil.Serialize(new { Step = step, Parent = _parent.Id }),
            });
            _open[kind] = child;
            return child;
        }

        /// <summary>The step finished: the parent's checkpoint <paramref name="key"/> and the child's success with the step's result, in one write.</summary>
        public void Complete(string step, string key, string result)
        {
            if (!_open.TryGetValue(KindOf(step), out var child)) { _scope.Checkpoint(key, result); return; }
            _scope.CheckpointAndCompleteChild(key, result, child.Id, JsonUtil.Serialize(new { Step = step, Result = result }));
            _open.Remove(KindOf(step));
        }

        /// <summary>Every open child (normally one: the step in progress) ends as the parent does.</summary>
        public void FailOpen(string errorId, string message) => FinishOpen(c => _journal.Fail(c.Id, errorId, message));
        public void InterruptOpen(string message) => FinishOpen(c => _journal.Interrupt(c.Id, message));
        public void RollBackOpen(string message) => FinishOpen(c => _journal.MarkRolledBack(c.Id, message));

        /// <summary>Defensive, on resume: a child left open although the parent records its step done is completed (the two are one write, so this finds nothing normally).</summary>
        public void CompleteDone(IReadOnlyDictionary<string, string> checkpoints, IEnumerable<string> steps)
        {
            foreach (var step in steps)
                if (checkpoints.TryGetValue("done:" + step, out var result) && _open.TryGetValue(KindOf(step), out var child))
                {
                    try { _journal.Complete(child.Id, JsonUtil.Serialize(new { Step = step, Result = result })); } catch (GridException) { }
                    _open.Remove(KindOf(step));
                }
        }

        private void FinishOpen(Action<GridOperation> finish)
        {
            foreach (var child in _open.Values.ToList())
            {
                try { finish(child); } catch (GridException) { /* the parent's state is what decides; a child left open reads Interrupted */ }
            }
            _open.Clear();
        }
    }
}
