using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Providers;

namespace GridAutomation.Internal
{
    /// <summary>
    /// The job of one -AsJob invocation: one child job per workload. Confirmation already happened in the cmdlet.
    /// Works with Get-Job / Wait-Job / Receive-Job / Stop-Job; Stop-Job cancels the engine calls. A job with a
    /// failed child ends Failed, and the child's error comes back through Receive-Job.
    /// </summary>
    public sealed class GridJob : Job2
    {
        internal const string JobTypeName = "GridJob";
        private readonly CancellationTokenSource _cts = new CancellationTokenSource();
        private readonly List<GridChildJob> _children = new List<GridChildJob>();
        private int _remaining;
        private int _started;
        private readonly ManualResetEventSlim _finished = new ManualResetEventSlim(false);

        private readonly Func<string?>? _summarize;
        /// <summary>Overall bytes of the children (a move between datacenters), null when the work transfers none.</summary>
        private readonly BulkBytes? _bytes;
        private readonly string _activity;
        private int _done, _failed;

        internal GridJob(string command, string name, IReadOnlyList<WorkItem> items, Func<string?>? summarize = null, BulkBytes? bytes = null, string? activity = null)
            : base(command, name)
        {
            _summarize = summarize;
            _bytes = bytes;
            _activity = activity ?? name;
            PSJobTypeName = JobTypeName;
            foreach (var item in items)
            {
                var child = new GridChildJob(command, item.Label, item, this, _children.Count + 2);
                _children.Add(child);
                ChildJobs.Add(child);
            }
            _remaining = _children.Count;
        }

        public override string Location => "localhost";
        public override bool HasMoreData => Warning.Count > 0 || _children.Any(c => c.HasMoreData);
        public override string StatusMessage
        {
            get
            {
                int done = _children.Count(c => IsFinished(c.JobStateInfo.State));
                return $"{done} of {_children.Count} done";
            }
        }

        private static bool IsFinished(JobState s) => s == JobState.Completed || s == JobState.Failed || s == JobState.Stopped;

        public override void StartJob()
        {
            if (Interlocked.Exchange(ref _started, 1) == 1) return;
            SetJobState(JobState.Running);
            if (_children.Count == 0) { Finish(); return; }
            var throttle = new SemaphoreSlim(WorkItem.MaxParallel);
            var ct = _cts.Token;
            Task.Run(async () =>
            {
                foreach (var child in _children)
                {
                    try { await throttle.WaitAsync(ct).ConfigureAwait(false); }
                    catch (OperationCanceledException) { child.MarkNotRun(); continue; }
                    var c = child;
                    _ = Task.Run(async () =>
                    {
                        try { await c.RunAsync(ct).ConfigureAwait(false); }
                        finally { throttle.Release(); }
                    });
                }
            });
        }

        internal void ChildFinished(bool failed)
        {
            if (failed) Interlocked.Increment(ref _failed);
            Interlocked.Increment(ref _done);
            if (_bytes != null) AddOverall(force: true);
            if (Interlocked.Decrement(ref _remaining) == 0) Finish();
        }

        /// <summary>A child's bytes (its move's export and import): the job's own Progress stream gets the overall bar (activity 1, percent by bytes) at most 4 times a second, and always when a child ends.</summary>
        internal void ChildBytes(string target, long done, long total)
        {
            if (_bytes == null) return;
            _bytes.Update(target, done, total);
            AddOverall(force: done >= total);
        }

        private readonly object _overallGate = new object();

        private void AddOverall(bool force)
        {
            if (_bytes == null || !_bytes.Due(force)) return;
            // taken and added under one lock, so the job's records read in the order of their sums
            lock (_overallGate) Progress.Add(_bytes.Record(_activity, Volatile.Read(ref _done), _children.Count, Volatile.Read(ref _failed), ""));
        }

        private void Finish()
        {
            JobState final;
            if (_children.Any(c => c.JobStateInfo.State == JobState.Failed)) final = JobState.Failed;
            else if (_cts.IsCancellationRequested || _children.Any(c => c.JobStateInfo.State == JobState.Stopped)) final = JobState.Stopped;
            else final = JobState.Completed;
            if (_cts.IsCancellationRequested && _summarize != null)
            {
                // Stop-Job: the job's warning stream says what was done, cancelled and interrupted.
                var summary = _summarize();
                if (summary != null) Warning.Add(new WarningRecord(summary));
            }
            SetJobState(final);
            _finished.Set();
        }

        public override void StartJobAsync() { StartJob(); OnStartJobCompleted(new System.ComponentModel.AsyncCompletedEventArgs(null, false, null)); }

        public override void StopJob() => StopJob(false, null);

        public override void StopJob(bool force, string? reason)
        {
            if (IsFinished(JobStateInfo.State)) return;
            SetJobState(JobState.Stopping);
            try { _cts.Cancel(); } catch (ObjectDisposedException) { }
            if (_started == 0) { foreach (var c in _children) c.MarkNotRun(); }
            // Give the engine time to journal the cancellation of each running child.
            _finished.Wait(TimeSpan.FromSeconds(30));
            if (!IsFinished(JobStateInfo.State)) SetJobState(JobState.Stopped);
        }

        public override void StopJobAsync() { StopJob(); OnStopJobCompleted(new System.ComponentModel.AsyncCompletedEventArgs(null, false, null)); }
        public override void StopJobAsync(bool force, string? reason) { StopJob(force, reason); OnStopJobCompleted(new System.ComponentModel.AsyncCompletedEventArgs(null, false, null)); }

        public override void SuspendJob() => throw new NotSupportedException("A GridAutomation job cannot be suspended; use Stop-Job.");
        public override void SuspendJobAsync() => SuspendJob();
        public override void SuspendJob(bool force, string? reason) => SuspendJob();
        public override void SuspendJobAsync(bool force, string? reason) => SuspendJob();
        public override void ResumeJob() => throw new NotSupportedException("A GridAutomation job cannot be resumed; use Resume-GridOperation for interrupted operations.");
        public override void ResumeJobAsync() => ResumeJob();
        public override void UnblockJob() => throw new NotSupportedException("A GridAutomation job is never blocked.");
        public override void UnblockJobAsync() => UnblockJob();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                try { _cts.Cancel(); } catch (ObjectDisposedException) { }
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>One workload's work inside a <see cref="GridJob"/>.</summary>
    public sealed class GridChildJob : Job
    {
        private readonly WorkItem _item;
        private readonly GridJob _parent;
        private readonly int _activityId;
        private int _finished;

        internal GridChildJob(string command, string name, WorkItem item, GridJob parent, int activityId) : base(command, name)
        {
            _item = item; _parent = parent; _activityId = activityId;
            PSJobTypeName = GridJob.JobTypeName;
        }

        public override string Location => "localhost";
        public override bool HasMoreData => Output.Count > 0 || Error.Count > 0 || Warning.Count > 0 || Verbose.Count > 0 || Progress.Count > 0;
        public override string StatusMessage => _item.Label;

        internal async Task RunAsync(CancellationToken ct)
        {
            SetJobState(JobState.Running);
            JobState final = JobState.Completed;
            try
            {
                var observer = new JobObserver(this);
                var result = await _item.Run(observer, ct).ConfigureAwait(false);
                if (result != null) Output.Add(PSObject.AsPSObject(result));
            }
            catch (Exception ex)
            {
                if (ct.IsCancellationRequested && GridCmdlet.IsCancellation(ex))
                {
                    final = JobState.Stopped;
                }
                else
                {
                    Error.Add(ErrorMapping.ToErrorRecord(ex, _item.Target));
                    final = JobState.Failed;
                }
            }
            Complete(final);
        }

        internal void MarkNotRun() => Complete(JobState.Stopped);

        private void Complete(JobState state)
        {
            if (Interlocked.Exchange(ref _finished, 1) == 1) return;
            SetJobState(state);
            _parent.ChildFinished(state == JobState.Failed);
        }

        public override void StopJob() => _parent.StopJob();

        private sealed class JobObserver : IEngineObserver
        {
            private readonly GridChildJob _job;
            public JobObserver(GridChildJob job) { _job = job; }
            public void Verbose(string message) => _job.Verbose.Add(new VerboseRecord(message));
            public void Warning(string message) => _job.Warning.Add(new WarningRecord(message));
            public void Progress(string target, GridProgress progress)
            {
                bool bytes = progress.BytesTotal > 0 && progress.BytesDone >= 0;
                string status = string.IsNullOrEmpty(progress.Status) ? (target ?? "-") : progress.Status;
                if (bytes) status += " (" + BulkBytes.Format(progress.BytesDone, progress.BytesTotal) + ")";
                // each child's bar sits under the job's overall bar (activity 1)
                var rec = new ProgressRecord(_job._activityId, string.IsNullOrEmpty(progress.Activity) ? "GridAutomation" : progress.Activity, status) { ParentActivityId = 1 };
                if (progress.PercentComplete >= 0) rec.PercentComplete = Math.Min(100, progress.PercentComplete);
                _job.Progress.Add(rec);
                if (bytes) _job._parent.ChildBytes(target ?? "", progress.BytesDone, progress.BytesTotal);
            }
        }
    }
}
