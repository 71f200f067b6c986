using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;

namespace GridAutomation.Internal
{
    /// <summary>
    /// Base of every changing cmdlet: -Force (do not ask), one ShouldProcess per object, a read-only engine under
    /// -WhatIf, and the bulk / -AsJob execution of the approved objects once all input is in.
    /// </summary>
    public abstract class ChangeCmdlet : GridCmdlet
    {
        /// <summary>Do not ask for confirmation. It never changes what is done; -WhatIf and an explicit -Confirm still win.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override bool IsChangingCmdlet => true;

        /// <summary>One batch id per invocation: all the operations it journals share it.</summary>
        protected Guid BatchId { get; } = Guid.NewGuid();

        private readonly List<WorkItem> _approved = new List<WorkItem>();
        internal List<WorkItem> Approved => _approved;

        /// <summary>
        /// Asks (or not) for one object. Under -WhatIf it prints the what-if line and returns false.
        /// With -Force and no explicit -Confirm it does not ask.
        /// </summary>
        protected bool Approve(string target, string action)
        {
            if (IsWhatIf)
            {
                ShouldProcess(target, action);
                return false;
            }
            if (Force.IsPresent && !MyInvocation.BoundParameters.ContainsKey("Confirm"))
            {
                WriteVerbose($"Performing the operation \"{action}\" on target \"{target}\" (-Force: not asked).");
                return true;
            }
            try { return ShouldProcess(target, action); }
            catch (Exception ex) when (ex is PSInvalidOperationException || ex is System.Management.Automation.Host.HostException)
            {
                // -NonInteractive (or a host without a UI) cannot ask: say how to go on instead of a bare host error.
                ThrowTerminatingError(ErrorMapping.Create("ConfirmationNotPossible", ErrorCategory.InvalidOperation,
                    $"Cannot ask to confirm \"{action}\" on \"{target}\": this session is non-interactive ({ex.Message.TrimEnd('.')}). " +
                    "Add -Confirm:$false (or -Force) to go ahead without asking, or -WhatIf to see what would be done.", target));
                return false;
            }
        }

        /// <summary>Runs the approved work now (bulk, with progress when interactive) or as one job with a child per item.</summary>
        protected void Execute(bool asJob, string activity, int maxParallel = WorkItem.MaxParallel)
        {
            if (asJob)
            {
                if (_approved.Count == 0) return; // nothing approved (e.g. -WhatIf, or every prompt answered No): no job
                var name = MyInvocation.MyCommand.Name;
                var engine = Engine;
                var batch = BatchId;
                int approved = _approved.Count;
                // a transfer of bytes (a move between datacenters) gives the job an overall bar of its own, as a bulk run draws one
                var job = new GridJob(MyInvocation.Line?.Trim() ?? name, name, _approved.ToArray(), () => Summarize(engine, batch, approved, name),
                    Bytes.Any ? Bytes : null, activity);
                JobRepository.Add(job);
                job.StartJob();
                WriteObject(job);
                return;
            }
            RunBulk(_approved, activity, maxParallel);
        }

        internal override string? StoppedSummary(int approved, int errored) => Summarize(Engine, BatchId, approved, MyInvocation.MyCommand.Name, errored);

        /// <summary>
        /// What a stopped bulk change left behind, from the journal: done (Succeeded), cancelled (journaled Cancelled,
        /// or never begun), interrupted (Resume-GridOperation -BatchId finishes them). An item that ended in an error
        /// of its own without a journal row (refused before anything was journaled, e.g. -ErrorAction Stop on an
        /// unknown size) is "refused", not cancelled; when every item was refused there is nothing to summarise
        /// (the errors say it) and no batch to resume: null.
        /// </summary>
        internal static string? Summarize(GridAutomation.Core.Engine.GridEngine engine, Guid batch, int approved, string command, int errored = 0)
        {
            try
            {
                var ops = engine.GetOperations(new GridAutomation.Core.State.OperationFilter { BatchId = batch });
                int done = 0, cancelled = 0, interrupted = 0, failed = 0, running = 0;
                foreach (var o in ops)
                {
                    switch (o.State)
                    {
                        case GridAutomation.Core.Model.OperationState.Succeeded: done++; break;
                        case GridAutomation.Core.Model.OperationState.Cancelled: cancelled++; break;
                        case GridAutomation.Core.Model.OperationState.Interrupted: interrupted++; break;
                        case GridAutomation.Core.Model.OperationState.Running: case GridAutomation.Core.Model.OperationState.Pending: running++; break;
                        default: failed++; break;
                    }
                }
                int targets = ops.Select(o => o.Target).Distinct(StringComparer.OrdinalIgnoreCase).Count();
                int refused = Math.Min(Math.Max(0, errored - failed), Math.Max(0, approved - targets)); // errors with no journal row
                cancelled += Math.Max(0, approved - targets - refused); // never begun: nothing journaled, nothing changed
                if (ops.Count == 0 && cancelled == 0) return null;
                return $"{command} was stopped: {done} done, {cancelled} cancelled, {interrupted} interrupted"
                       + (failed > 0 ? $", {failed} failed" : "") + (refused > 0 ? $", {refused} refused" : "") + (running > 0 ? $", {running} still running" : "")
                       + $" — Resume-GridOperation -BatchId {batch}";
            }
            catch (Exception) { return null; }
        }
    }
}
