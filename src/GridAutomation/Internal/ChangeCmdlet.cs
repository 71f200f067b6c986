using System;
using System.Collections.Generic;
using System.Management.Automation;

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
                var job = new GridJob(MyInvocation.Line?.Trim() ?? name, name, _approved.ToArray());
                JobRepository.Add(job);
                job.StartJob();
                WriteObject(job);
                return;
            }
            RunBulk(_approved, activity, maxParallel);
        }
    }
}
