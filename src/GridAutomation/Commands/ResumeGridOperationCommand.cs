using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Finishes (or with -Rollback rolls back) interrupted operations: those whose process died or whose lease
    /// expired. An operation still running elsewhere is refused (OperationStillRunning). Operations are resumed one
    /// at a time, in the order they were started.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Resume, "GridOperation", DefaultParameterSetName = ById, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridOperation))]
    public sealed class ResumeGridOperationCommand : ChangeCmdlet
    {
        private const string ById = "ById";
        private const string ByObject = "ByObject";
        private const string ByBatch = "ByBatch";

        /// <summary>Ids of the operations to resume (see Get-GridOperation -State Interrupted).</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = ById, ValueFromPipelineByPropertyName = true)]
        [ArgumentCompleter(typeof(OperationIdCompleter))]
        public Guid[] Id { get; set; } = null!;

        /// <summary>Operation objects (from Get-GridOperation).</summary>
        [Parameter(Mandatory = true, ParameterSetName = ByObject, ValueFromPipeline = true)]
        [ValidateNotNull]
        public GridOperation[] InputObject { get; set; } = null!;

        /// <summary>Resume every interrupted operation of one command (the batch id its "was stopped" warning names, or Get-GridOperation's BatchId).</summary>
        [Parameter(Mandatory = true, ParameterSetName = ByBatch)]
        public new Guid BatchId { get; set; }

        /// <summary>Undo what the operation did so far instead of finishing it.</summary>
        [Parameter]
        public SwitchParameter Rollback { get; set; }

        /// <summary>Write the operation, as finished, when done.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        private readonly List<GridOperation> _targets = new List<GridOperation>();
        private readonly HashSet<Guid> _seen = new HashSet<Guid>();

        protected override void ProcessRecord()
        {
            if (ParameterSetName == ByBatch)
            {
                IReadOnlyList<GridOperation> inBatch;
                try { inBatch = Engine.GetOperations(new OperationFilter { BatchId = BatchId, States = new[] { OperationState.Interrupted } }); }
                catch (PipelineStoppedException) { throw; }
                catch (Exception ex) { ThrowGridError(ex, BatchId); return; }
                if (inBatch.Count == 0)
                    WriteVerbose($"Batch {BatchId} has no interrupted operation.");
                foreach (var op in inBatch) if (_seen.Add(op.Id)) _targets.Add(op);
                return;
            }
            IEnumerable<Guid> ids = ParameterSetName == ByObject ? InputObject.Select(o => o.Id) : Id;
            foreach (var id in ids)
            {
                if (!_seen.Add(id)) continue;
                IReadOnlyList<GridOperation> found;
                try { found = Engine.GetOperations(new OperationFilter { Id = id }); }
                catch (PipelineStoppedException) { throw; }
                catch (Exception ex) { ThrowGridError(ex, id); return; }
                if (found.Count == 0)
                {
                    WriteError(ErrorMapping.Create("OperationNotFound", ErrorCategory.ObjectNotFound, $"No operation with id {id} in the journal.", id, GridErrorKind.NotFound));
                    continue;
                }
                _targets.Add(found[0]);
            }
        }

        protected override void EndProcessing()
        {
            var engine = Engine;
            bool rollback = Rollback.IsPresent, passThru = PassThru.IsPresent;
            foreach (var op in _targets.OrderBy(o => o.Started))
            {
                var label = op.Kind + " " + op.Target + " (" + op.Id + ", " + op.State + ")";
                if (!Approve(label, rollback ? "Roll back" : "Resume")) continue;
                var id = op.Id;
                Approved.Add(new WorkItem(label, op, async (observer, ct) =>
                {
                    var done = await engine.ResumeOperationAsync(id, rollback, observer, ct).ConfigureAwait(false);
                    return passThru ? done : null;
                }));
            }
            Execute(false, rollback ? "Roll back operations" : "Resume operations", maxParallel: 1);
        }
    }
}
