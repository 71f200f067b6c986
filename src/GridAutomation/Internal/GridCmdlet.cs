using System;
using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Internal
{
    /// <summary>
    /// Base of every GridAutomation cmdlet. The engine is async; PowerShell's pipeline is not thread-safe. So the
    /// engine work runs on the thread pool, and everything it produces (objects, errors, verbose, warnings, progress)
    /// is queued and written by the pipeline thread, which pumps the queue until the work is done.
    /// StopProcessing (Ctrl+C) cancels the token every engine call gets.
    /// </summary>
    public abstract class GridCmdlet : PSCmdlet, IDisposable
    {
        private readonly CancellationTokenSource _cts = new CancellationTokenSource();
        private readonly BlockingCollection<object> _queue = new BlockingCollection<object>(new ConcurrentQueue<object>());
        private GridEngine? _engine;
        private int _pipelineThread;
        private PipelineObserver? _observer;
        private bool? _showProgress;
        /// <summary>Overall bytes of a bulk transfer (moves between datacenters), for the parent progress bar.</summary>
        internal BulkBytes Bytes { get; } = new BulkBytes();
        /// <summary>The bulk run's activity and counts, for the parent bar a byte report redraws.</summary>
        private string _bulkActivity = "GridAutomation";
        private int _bulkTotal, _bulkDone, _bulkFailed;

        /// <summary>How long, after Ctrl+C, the cmdlet waits for the engine to record the cancellation in the journal.</summary>
        private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(15);

        protected CancellationToken CancellationToken => _cts.Token;

        /// <summary>True for cmdlets that change something (they open a read-only engine under -WhatIf).</summary>
        protected virtual bool IsChangingCmdlet => false;

        /// <summary>-WhatIf given (or $WhatIfPreference set) on a changing cmdlet.</summary>
        protected bool IsWhatIf
        {
            get
            {
                if (!IsChangingCmdlet) return false;
                if (MyInvocation.BoundParameters.TryGetValue("WhatIf", out var v)) return LanguagePrimitives.IsTrue(v);
                object? pref = null;
                try { pref = GetVariableValue("WhatIfPreference"); } catch { }
                return pref != null && LanguagePrimitives.IsTrue(pref);
            }
        }

        static GridCmdlet() => RegisterStores();

        /// <summary>Registers the PostgreSQL store where it can run (PowerShell 7); on 5.1 choosing it is StateStoreUnsupported.</summary>
        internal static void RegisterStores()
        {
#if NET8_0_OR_GREATER
            GridAutomation.Core.State.SharedStateStore.PostgreSqlOpener ??= (cs, readOnly, password)
                => GridAutomation.State.PostgreSql.PostgreSqlStateStore.Open(cs, readOnly, password);
            GridAutomation.Core.State.SharedStateStore.PostgreSqlManagedIdentityOpener ??= (cs, readOnly)
                => GridAutomation.State.PostgreSql.PostgreSqlStateStore.Open(cs, readOnly, null, null, new GridAutomation.State.PostgreSql.AzureManagedIdentityToken());
#endif
        }

        /// <summary>The engine for the resolved configuration; read-only under -WhatIf. A failure here is terminating.</summary>
        protected GridEngine Engine
        {
            get
            {
                if (_engine != null) return _engine;
                try
                {
                    var config = GridConfiguration.Load();
                    _engine = GridEngine.Get(config, readOnly: IsWhatIf);
                    var created = _engine.TakeNewStateFileNotice();
                    if (created != null)
                    {
                        config.Sources.TryGetValue("StatePath", out var source);
                        string how = source == "Environment" ? "from GRIDAUTOMATION_STATE" : source == "File" ? "from the configuration file" : source == "Parameter" ? "as given" : "the default path";
                        string message = $"A new, empty state file was created at '{created}' ({how}). If you expected an existing grid, check the path: Get-GridConfiguration StatePath.";
                        if (Environment.CurrentManagedThreadId == _pipelineThread) WriteWarning(message);
                        else Post(() => WriteWarning(message));
                    }
                }
                catch (Exception ex) when (!(ex is PipelineStoppedException))
                {
                    ThrowTerminatingError(ErrorMapping.ToErrorRecord(ex, null));
                }
                return _engine!;
            }
        }

        internal IEngineObserver Observer => _observer ??= new PipelineObserver(this);

        /// <summary>
        /// Write-Progress only when a person is watching: an interactive host with a console that is not redirected,
        /// not started -NonInteractive, and not under CI. ($ProgressPreference is honoured by PowerShell as usual.)
        /// </summary>
        protected bool ShowProgress
        {
            get
            {
                if (_showProgress.HasValue) return _showProgress.Value;
                bool show;
                // GRIDAUTOMATION_PROGRESS=Always (or 1) writes progress anyway (a host that reads the progress stream, a test); Never (or 0) never
                string? forced = Environment.GetEnvironmentVariable("GRIDAUTOMATION_PROGRESS");
                if (string.Equals(forced, "Always", StringComparison.OrdinalIgnoreCase) || forced == "1") return (_showProgress = true).Value;
                if (string.Equals(forced, "Never", StringComparison.OrdinalIgnoreCase) || forced == "0") return (_showProgress = false).Value;
                try
                {
                    show = Environment.UserInteractive
                        && Host?.UI?.RawUI != null
                        && !Console.IsOutputRedirected
                        && !Console.IsInputRedirected
                        && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"))
                        && !Environment.GetCommandLineArgs().Any(a => a.StartsWith("-noni", StringComparison.OrdinalIgnoreCase));
                }
                catch { show = false; }
                _showProgress = show;
                return show;
            }
        }

        protected override void BeginProcessing()
        {
            _pipelineThread = Environment.CurrentManagedThreadId;
            _ = ShowProgress; // decided once, on the pipeline thread
            // A bulk change stopped by Ctrl+C could not say what it left behind: say it now, once.
            foreach (var notice in CancellationNotices.Take(SessionId)) WriteWarning(notice);
        }

        /// <summary>The runspace this cmdlet runs in (the "session" of the Ctrl+C notice).</summary>
        internal Guid SessionId
        {
            get
            {
                if (_sessionId == Guid.Empty)
                    _sessionId = System.Management.Automation.Runspaces.Runspace.DefaultRunspace?.InstanceId ?? Guid.Empty;
                return _sessionId;
            }
        }
        private Guid _sessionId;

        /// <summary>The engine work of the current Run (kept so a stopped pipeline can wait for it to journal its end).</summary>
        private Task? _work;

        /// <summary>Waits (bounded) for the work of a stopped pipeline to record how each operation ended.</summary>
        protected void WaitForStoppedWork()
        {
            try { _work?.Wait(StopGrace); } catch (Exception) { /* its errors are the journal's to tell */ }
        }

        /// <summary>
        /// Tells the user what a stopped command left behind: now, if PowerShell still takes output (Select-Object
        /// -First), else (Ctrl+C) once at the start of the next GridAutomation command of this session.
        /// </summary>
        protected void TellStopped(string message)
        {
            if (_userStopped || Stopping)
            {
                CancellationNotices.Add(SessionId, message);
                return;
            }
            try { WriteWarning(message); }
            catch (Exception) { CancellationNotices.Add(SessionId, message); }
        }

        internal bool ShowProgressInternal => _showProgress ?? false;

        /// <summary>
        /// PowerShell disposes the cmdlet when its pipeline ends. A throwaway engine (-WhatIf before any state file
        /// exists) is closed here; the shared ones live on for the session (and for jobs still running on them).
        /// </summary>
        public void Dispose()
        {
            var e = _engine;
            _engine = null;
            if (e != null && !e.IsShared) e.Dispose();
        }

        protected override void StopProcessing()
        {
            _userStopped = true;
            try { _cts.Cancel(); } catch (ObjectDisposedException) { }
        }

        /// <summary>Ctrl+C / Stop-Job / PowerShell.Stop() asked this command to stop.</summary>
        private volatile bool _userStopped;
        /// <summary>A downstream command stopped taking output (Select-Object -First).</summary>
        private volatile bool _downstreamStopped;

        // ---- marshalling to the pipeline thread -----------------------------------------------------------------

        /// <summary>Queues an action for the pipeline thread (or runs it now when already on it and not pumping elsewhere).</summary>
        internal void Post(Action action)
        {
            try { _queue.Add(action); } catch (InvalidOperationException) { }
        }

        private sealed class Done { public Done(Task t) { Task = t; } public Task Task { get; } }

        /// <summary>Pumps the queue on the pipeline thread until <paramref name="task"/> is finished.</summary>
        private void Pump(Task task)
        {
            if (_pipelineThread == 0) _pipelineThread = Environment.CurrentManagedThreadId;
            var marker = new Done(task);
            task.ContinueWith(_ => { try { _queue.Add(marker); } catch (InvalidOperationException) { } },
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            while (true)
            {
                object item;
                try
                {
                    item = _queue.Take(_cts.Token);
                }
                catch (OperationCanceledException)
                {
                    // Ctrl+C: give the engine a moment to journal the cancellation, then stop the pipeline.
                    try { task.Wait(StopGrace); } catch { }
                    throw new PipelineStoppedException();
                }
                if (item is Done d)
                {
                    if (ReferenceEquals(d, marker)) return;
                    continue; // a stale marker of an earlier task
                }
                try { ((Action)item)(); }
                catch (Exception ex)
                {
                    if (ex is PipelineStoppedException || ex is FlowControlException) _downstreamStopped = true;
                    // The pipeline stopped under us (Select-Object -First, Ctrl+C, a terminating error): cancel the work.
                    try { _cts.Cancel(); } catch (ObjectDisposedException) { }
                    throw;
                }
            }
        }

        /// <summary>Drains whatever is queued right now (late observer messages) on the pipeline thread.</summary>
        protected void Drain()
        {
            while (_queue.TryTake(out var item))
                if (item is Action a) a();
        }

        /// <summary>Runs async engine work on the thread pool, pumping its output on this thread; returns its result or throws its exception.</summary>
        protected T Run<T>(Func<CancellationToken, Task<T>> work)
        {
            var ct = _cts.Token;
            var task = Task.Run(() => work(ct), ct);
            _work = task;
            Pump(task);
            Drain();
            try { return task.GetAwaiter().GetResult(); }
            catch (Exception ex) when (ct.IsCancellationRequested && IsCancellation(ex)) { throw new PipelineStoppedException(); }
        }

        internal static bool IsCancellation(Exception ex)
        {
            ex = ErrorMapping.Unwrap(ex);
            return ex is OperationCanceledException || (ex is GridException g && g.Kind == GridErrorKind.Cancelled);
        }

        protected void Run(Func<CancellationToken, Task> work)
            => Run<bool>(async ct => { await work(ct).ConfigureAwait(false); return true; });

        /// <summary>
        /// Streams a fan-out: each value is handed to <paramref name="onValue"/> on the pipeline thread as it arrives;
        /// a datacenter that fails gives a non-terminating error (or a terminating one when the state store is unusable).
        /// </summary>
        /// <returns>False when a datacenter (or the whole call) failed, so "not found" conclusions cannot be drawn.</returns>
        protected bool Stream<T>(Func<CancellationToken, IAsyncEnumerable<FanOutResult<T>>> source, Action<T> onValue)
        {
            bool complete = true;
            Exception? fatal = null, failed = null;
            var pending = new ConcurrentQueue<T>();
            int scheduled = 0;
            Action drain = () =>
            {
                Volatile.Write(ref scheduled, 0);
                while (pending.TryDequeue(out var x)) onValue(x);
            };
            try
            {
            Run(async ct =>
            {
                IAsyncEnumerator<FanOutResult<T>> e;
                try { e = source(ct).GetAsyncEnumerator(ct); }
                catch (Exception ex) { failed = ex; return; } // e.g. DatacenterNotFound, raised before any datacenter is asked
                try
                {
                    while (await e.MoveNextAsync().ConfigureAwait(false))
                    {
                        var r = e.Current;
                        if (r.IsError)
                        {
                            var err = r.Error!;
                            if (ErrorMapping.IsFatal(err)) { fatal = err; return; }
                            complete = false;
                            Post(() => WriteError(ErrorMapping.ToErrorRecord(err, r.Datacenter)));
                        }
                        else
                        {
                            // Values are queued and drained in batches: one pipeline-thread wake-up per burst, not per object.
                            pending.Enqueue(r.Value!);
                            if (Interlocked.Exchange(ref scheduled, 1) == 0) Post(drain);
                        }
                    }
                }
                finally { await e.DisposeAsync().ConfigureAwait(false); }
            });
            }
            catch (PipelineStoppedException) { throw; }
            catch (Exception ex) { failed = ex; }
            if (fatal != null) ThrowTerminatingError(ErrorMapping.ToErrorRecord(fatal, null));
            if (failed != null) { WriteGridError(failed, null); complete = false; }
            return complete;
        }

        /// <summary>Runs a call; a GridException becomes a non-terminating error (terminating when fatal). Returns false on error.</summary>
        protected bool TryRun<T>(Func<CancellationToken, Task<T>> work, object? target, out T result)
        {
            result = default!;
            try { result = Run(work); return true; }
            catch (PipelineStoppedException) { throw; }
            catch (Exception ex) { WriteGridError(ex, target); return false; }
        }

        /// <summary>WriteError for a per-object failure; ThrowTerminatingError when the state store is unusable.</summary>
        protected void WriteGridError(Exception ex, object? target)
        {
            if (ex is PipelineStoppedException) throw ex;
            var rec = ErrorMapping.ToErrorRecord(ex, target);
            if (ErrorMapping.IsFatal(ex)) ThrowTerminatingError(rec);
            WriteError(rec);
        }

        protected void ThrowGridError(Exception ex, object? target) => ThrowTerminatingError(ErrorMapping.ToErrorRecord(ex, target));

        // ---- bulk work ---------------------------------------------------------------------------------------------

        /// <summary>
        /// Runs the approved work items in parallel (the engine limits concurrency per datacenter), writing each
        /// result as it completes, each failure as a non-terminating error, and overall progress when interactive.
        /// </summary>
        internal void RunBulk(IReadOnlyList<WorkItem> items, string activity, int maxParallel = WorkItem.MaxParallel)
        {
            if (items.Count == 0) return;
            int total = items.Count, done = 0, failed = 0, errored = 0;
            Exception? fatal = null;
            var showProgress = ShowProgress && total > 1;
            const int activityId = 1;
            _bulkActivity = activity; _bulkTotal = total;
            var throttle = new SemaphoreSlim(Math.Max(1, maxParallel));
            var observer = Observer;
            var failedIds = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
            try
            {
            Run(async ct =>
            {
                var tasks = new List<Task>(total);
                foreach (var item in items)
                {
                    // Ctrl+C: start nothing more, but let the work in flight record its cancellation in the journal.
                    try { await throttle.WaitAsync(ct).ConfigureAwait(false); }
                    catch (OperationCanceledException) { break; }
                    var it = item;
                    tasks.Add(Task.Run(async () =>
                    {
                        try
                        {
                            var result = await it.Run(observer, ct).ConfigureAwait(false);
                            if (result != null) Post(() => WriteObject(result));
                        }
                        catch (Exception ex)
                        {
                            Interlocked.Increment(ref failed);
                            failedIds.AddOrUpdate(ErrorMapping.Unwrap(ex) is GridException g ? g.ErrorId : ErrorMapping.Unwrap(ex).GetType().Name, 1, (_, n) => n + 1);
                            if (!(ct.IsCancellationRequested && IsCancellation(ex))) Interlocked.Increment(ref errored);
                            if (ErrorMapping.IsFatal(ex)) Interlocked.CompareExchange(ref fatal, ex, null);
                            else if (!(ct.IsCancellationRequested && IsCancellation(ex)))
                                Post(() => WriteError(ErrorMapping.ToErrorRecord(ex, it.Target)));
                        }
                        finally
                        {
                            throttle.Release();
                            int n = Interlocked.Increment(ref done);
                            _bulkDone = n; _bulkFailed = failed;
                            if (showProgress)
                                Post(() => WriteProgress(BulkRecord(", last: " + it.ShortLabel)));
                        }
                    }, CancellationToken.None));
                }
                await Task.WhenAll(tasks).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
            });
            }
            catch (Exception) when (_userStopped || _downstreamStopped)
            {
                // Ctrl+C, or a downstream Select-Object -First: let the work in flight journal its end, then say what happened.
                try { _cts.Cancel(); } catch (ObjectDisposedException) { }
                WaitForStoppedWork();
                var summary = StoppedSummary(items.Count, Volatile.Read(ref errored));
                if (summary != null) TellStopped(summary);
                throw;
            }
            if (showProgress) WriteProgress(new ProgressRecord(activityId, activity, "Done") { RecordType = ProgressRecordType.Completed });
            if (fatal != null) ThrowTerminatingError(ErrorMapping.ToErrorRecord(fatal, null));
            // After a run of errors, one line says how the whole batch went (the errors alone do not add up).
            if (failed > 0 && total > 1)
                WriteWarning(BulkSummary(activity, total, done, failed, failedIds));
        }

        /// <summary>
        /// The parent bar of a bulk run: "3 of 10 done", with the overall bytes (done of total) and a percentage by bytes
        /// when the work transfers bytes (a move between datacenters), else by items.
        /// </summary>
        internal ProgressRecord BulkRecord(string tail) => Bytes.Record(_bulkActivity, _bulkDone, _bulkTotal, _bulkFailed, tail);

        /// <summary>"Stop workloads: 702 done, 297 failed (InsufficientCapacity 297) of 999."</summary>
        internal static string BulkSummary(string activity, int total, int finished, int failed, IReadOnlyDictionary<string, int> failedIds)
        {
            int notRun = total - finished;
            var ids = string.Join(", ", failedIds.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + " " + kv.Value));
            return $"{activity}: {finished - failed} done, {failed} failed ({ids})" + (notRun > 0 ? $", {notRun} not started" : "") + $" of {total}.";
        }

        /// <summary>
        /// The "N done, M cancelled, K interrupted" line of a stopped bulk change (null for cmdlets without a journal
        /// batch); <paramref name="errored"/> items ended in an error of their own (refused or failed), not by the stop.
        /// </summary>
        internal virtual string? StoppedSummary(int approved, int errored) => null;

        // ---- helpers -----------------------------------------------------------------------------------------------

        /// <summary>An unescaped * ? or [ (the core's rule, the same as PowerShell's).</summary>
        /// <summary>
        /// The workloads <paramref name="names"/> (wildcards) match in <paramref name="datacenters"/> (all registered by
        /// default), each with the note its prompt shows when a call names more than one ("[match 2 of 3 for -Name ...]").
        /// A literal name that matches nothing is a non-terminating WorkloadNotFound (unless a datacenter did not answer).
        /// Shared by every cmdlet with a -Name/-Datacenter set (WorkloadChangeCmdlet, Enable-GridReplication, Test-GridMove).
        /// </summary>
        protected List<(GridWorkload Workload, string Note)> FindWorkloadsByName(string[] names, string[]? datacenters)
        {
            var found = new List<GridWorkload>();
            var filter = new WorkloadFilter { Names = names, Datacenters = datacenters };
            bool complete = Stream(ct => Engine.GetWorkloadsAsync(filter, Observer, ct), w => found.Add(w));
            foreach (var n in names)
            {
                if (HasWildcard(n) || !complete) continue;
                if (!found.Any(w => IsLiteralMatch(w.Name, n)))
                    WriteError(ErrorMapping.Create("WorkloadNotFound", ErrorCategory.ObjectNotFound,
                        $"No workload named '{n}'" + (datacenters != null ? " in datacenter " + string.Join(", ", datacenters) : "") + ".",
                        n, GridErrorKind.NotFound));
            }
            bool several = found.Count > 1 || names.Any(HasWildcard);
            var list = new List<(GridWorkload, string)>(found.Count);
            for (int i = 0; i < found.Count; i++)
                list.Add((found[i], several ? $" [match {i + 1} of {found.Count} for -Name {string.Join(",", names.Select(x => "'" + x + "'"))}]" : ""));
            return list;
        }

        protected static bool HasWildcard(string s) => Wildcard.HasWildcards(s);

        /// <summary>True when a -Name without wildcards names <paramref name="actual"/> (escapes removed: 'web`*' names 'web*').</summary>
        protected static bool IsLiteralMatch(string? actual, string name)
            => string.Equals(actual, Wildcard.Unescape(name), StringComparison.OrdinalIgnoreCase);

        /// <summary>The core's linear matcher; an invalid pattern is InvalidRequest "InvalidWildcardPattern" (never a raw WildcardPatternException).</summary>
        protected static bool MatchesAny(string? value, IReadOnlyList<string>? patterns)
        {
            if (patterns == null || patterns.Count == 0) return true;
            if (value == null) return false;
            return Wildcard.MatchesAny(value, patterns);
        }

        /// <summary>Converts a -Tag hashtable to the engine's dictionary; a value that is not a scalar is a malformed tag.</summary>
        internal static Dictionary<string, string?> ConvertTags(Hashtable? tags, bool allowNullValues, string parameterName = "Tag")
        {
            var d = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            if (tags == null) return d;
            var pairs = new List<KeyValuePair<string, string?>>();
            foreach (DictionaryEntry e in tags)
            {
                var key = e.Key is PSObject pk ? pk.BaseObject : e.Key;
                var keyText = key?.ToString();
                if (string.IsNullOrWhiteSpace(keyText))
                    throw GridException.InvalidRequest($"-{parameterName}: a tag name must not be empty.", "InvalidTag", tags);
                var value = e.Value is PSObject pv ? pv.BaseObject : e.Value;
                if (value == null)
                {
                    if (!allowNullValues) throw GridException.InvalidRequest($"-{parameterName}: tag '{keyText}' has no value.", "InvalidTag", keyText);
                    pairs.Add(new KeyValuePair<string, string?>(keyText!, null));
                    continue;
                }
                if (value is string || value.GetType().IsPrimitive || value is decimal || value is Enum || value is DateTime || value is Guid)
                    pairs.Add(new KeyValuePair<string, string?>(keyText!, LanguagePrimitives.ConvertTo<string>(value)));
                else
                    throw GridException.InvalidRequest($"-{parameterName}: the value of tag '{keyText}' must be a single string, not a {value.GetType().Name}.", "InvalidTag", keyText);
            }
            // Keys differing only in case are refused here, before the case-insensitive dictionary would merge them.
            for (int i = 0; i < pairs.Count; i++)
                for (int j = 0; j < i; j++)
                    if (NameRules.Comparer.Equals(pairs[i].Key, pairs[j].Key))
                        throw GridException.InvalidRequest($"-{parameterName}: tag keys '{NameRules.Show(pairs[j].Key)}' and '{NameRules.Show(pairs[i].Key)}' differ only in case; keys are case-insensitive, so give one.", "InvalidTag", tags);
            foreach (var kv in pairs) d[kv.Key] = kv.Value;
            return d;
        }
    }

    /// <summary>Warnings owed to a session whose command was stopped by Ctrl+C (written by its next GridAutomation command).</summary>
    internal static class CancellationNotices
    {
        private static readonly ConcurrentDictionary<Guid, ConcurrentQueue<string>> Pending = new ConcurrentDictionary<Guid, ConcurrentQueue<string>>();

        public static void Add(Guid session, string message) => Pending.GetOrAdd(session, _ => new ConcurrentQueue<string>()).Enqueue(message);

        public static IEnumerable<string> Take(Guid session)
        {
            if (!Pending.TryRemove(session, out var q)) return Array.Empty<string>();
            return q.ToArray();
        }
    }

    /// <summary>One unit of bulk work (one workload): run on the thread pool, by a cmdlet or by a job's child.</summary>
    internal sealed class WorkItem
    {
        /// <summary>Work items started at once; the engine's per-datacenter limit does the real throttling.</summary>
        internal const int MaxParallel = 32;

        public WorkItem(string label, object target, Func<IEngineObserver, CancellationToken, Task<object?>> run)
        { Label = label; Target = target; Run = run; }
        public string Label { get; }
        /// <summary>The label without its parenthesized id, for progress lines.</summary>
        public string ShortLabel { get { int i = Label.IndexOf(" (", StringComparison.Ordinal); return i > 0 ? Label.Substring(0, i) : Label; } }
        public object Target { get; }
        public Func<IEngineObserver, CancellationToken, Task<object?>> Run { get; }
    }

    /// <summary>Engine callbacks, marshalled to the pipeline thread.</summary>
    internal sealed class PipelineObserver : IEngineObserver
    {
        private readonly GridCmdlet _cmdlet;
        private int _nextActivity = 10;
        private readonly ConcurrentDictionary<string, int> _activityIds = new ConcurrentDictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        public PipelineObserver(GridCmdlet cmdlet) { _cmdlet = cmdlet; }

        public void Verbose(string message) => _cmdlet.Post(() => _cmdlet.WriteVerbose(message));
        public void Warning(string message) => _cmdlet.Post(() => _cmdlet.WriteWarning(message));
        public void Progress(string target, GridProgress progress)
        {
            if (!_cmdlet.ShowProgressInternal) return;
            int id = _activityIds.GetOrAdd(target ?? "", _ => Interlocked.Increment(ref _nextActivity));
            string status = string.IsNullOrEmpty(progress.Status) ? (target ?? "") : target + ": " + progress.Status;
            bool bytes = progress.BytesTotal > 0 && progress.BytesDone >= 0;
            if (bytes)
            {
                // a workload's bytes (a move: export and import of its disks) also feed the overall bar
                _cmdlet.Bytes.Update(target ?? "", progress.BytesDone, progress.BytesTotal);
                status += " (" + BulkBytes.Format(progress.BytesDone, progress.BytesTotal) + ")";
            }
            var rec = new ProgressRecord(id, string.IsNullOrEmpty(progress.Activity) ? "GridAutomation" : progress.Activity, status)
            { ParentActivityId = 1 };
            if (progress.PercentComplete >= 0) rec.PercentComplete = Math.Min(100, progress.PercentComplete);
            if (progress.PercentComplete >= 100) rec.RecordType = ProgressRecordType.Completed;
            bool parent = bytes && _cmdlet.Bytes.Due(progress.BytesDone >= progress.BytesTotal);
            // the parent's sum is taken on the pipeline thread, in the order the bars are drawn
            _cmdlet.Post(() => { if (parent) _cmdlet.WriteProgress(_cmdlet.BulkRecord("")); _cmdlet.WriteProgress(rec); });
        }
    }
}
