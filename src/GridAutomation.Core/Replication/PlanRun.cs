using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Replication
{
    /// <summary>
    /// A failover run (Start-GridFailover -RecoveryPlan, or -InputObject as a run of one group): everything it can refuse
    /// (scripts whose hash changed, a workload in two groups, not protected, no point, no agreement or quota) is refused
    /// before anything is journaled; then ONE parent operation (Failover) whose request records the groups, points and
    /// scripts, so Resume-GridOperation finishes it from the journal alone. Planned: the sources stop in reverse group
    /// order before anything starts; then group by group (pre script, the group's workloads in parallel at the engine's
    /// concurrency, post script, manual step = pause as Waiting).
    /// </summary>
    public sealed partial class ReplicationService
    {
        /// <summary>Runs a plan's .ps1 scripts (set by the PowerShell module: a new runspace in-process). Other files run as programs.</summary>
        public static Func<string, RecoveryPlanContext, CancellationToken, Task>? PowerShellScriptHost { get; set; }

        private sealed class RunRecord
        {
            public string Mode { get; set; } = "";
            public string? Plan { get; set; }
            public List<string> Items { get; set; } = new List<string>();
            public List<long> Points { get; set; } = new List<long>();
            public List<int> GroupOf { get; set; } = new List<int>();
            public List<GridRecoveryPlanGroup> Groups { get; set; } = new List<GridRecoveryPlanGroup>();
            /// <summary>Test mode: the destination network the copies are attached to (-TestNetwork); null = the replica's own options.</summary>
            public string? TestNetwork { get; set; }
        }

        /// <summary>Start-GridFailover -InputObject: validates all, then runs the workloads as one group (a child per workload of one parent).</summary>
        public Task<IReadOnlyList<GridFailoverResult>> FailoverAsync(IReadOnlyList<GridWorkload> workloads, FailoverMode mode, DateTimeOffset? pointTime,
            IEngineObserver observer, CancellationToken ct)
            => FailoverAsync(workloads, mode, pointTime, null, observer, ct);

        /// <summary>As above; <paramref name="testNetwork"/> (Test mode only): the destination network the copies are attached to.</summary>
        public async Task<IReadOnlyList<GridFailoverResult>> FailoverAsync(IReadOnlyList<GridWorkload> workloads, FailoverMode mode, DateTimeOffset? pointTime, string? testNetwork,
            IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            if (workloads.Count == 0) throw GridException.InvalidRequest("Give the protected workloads to fail over.", "NothingToFailOver");
            var entries = await PrepareAsync(workloads.Select(w => (w, 0)).ToList(), mode, pointTime, testNetwork, observer, ct).ConfigureAwait(false);
            var run = await StartRunAsync(null, new List<GridRecoveryPlanGroup> { new GridRecoveryPlanGroup { Number = 1, Workloads = { "*" } } }, entries, mode, testNetwork, observer, ct).ConfigureAwait(false);
            return run.Results.ToList();
        }

        /// <summary>Start-GridFailover -RecoveryPlan: the plan's groups in order (see the class).</summary>
        public Task<GridRecoveryPlanRun> RunPlanAsync(GridRecoveryPlan plan, FailoverMode mode, DateTimeOffset? pointTime, IEngineObserver observer, CancellationToken ct)
            => RunPlanAsync(plan, mode, pointTime, null, observer, ct);

        /// <summary>As above; <paramref name="testNetwork"/> (Test mode only): the destination network the copies are attached to.</summary>
        public async Task<GridRecoveryPlanRun> RunPlanAsync(GridRecoveryPlan plan, FailoverMode mode, DateTimeOffset? pointTime, string? testNetwork, IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            plan = RequirePlan(plan.Name); // as stored now, not as piped
            CheckScripts(plan);
            var groups = GroupItems(plan.Name, plan.Groups);
            if (groups.All(g => g.Count == 0))
                throw GridException.InvalidRequest($"Recovery plan '{plan.Name}' matches no protected workload (Get-GridReplication lists them).", "NothingToFailOver", plan.Name);
            var sw = Stopwatch.StartNew();
            var workloads = await ResolveWorkloadsAsync(groups.SelectMany(g => g).ToList(), mode, ct).ConfigureAwait(false);
            observer.Verbose(FormattableString.Invariant($"Failover: the plan's {workloads.Count} source workload(s) listed in {sw.Elapsed.TotalSeconds:0.00} s."));
            var given = new List<(GridWorkload, int)>();
            for (int k = 0; k < groups.Count; k++) foreach (var i in groups[k]) given.Add((workloads[i.SourceId], k));
            var entries = await PrepareAsync(given, mode, pointTime, testNetwork, observer, ct).ConfigureAwait(false);
            return await StartRunAsync(plan.Name, plan.Groups.ToList(), entries, mode, testNetwork, observer, ct).ConfigureAwait(false);
        }

        /// <summary>The protected workloads as their providers list them (one listing per source datacenter); Unplanned falls back to what the item says when the source does not answer.</summary>
        private async Task<Dictionary<string, GridWorkload>> ResolveWorkloadsAsync(IReadOnlyList<GridReplication> items, FailoverMode mode, CancellationToken ct)
        {
            var map = new Dictionary<string, GridWorkload>(StringComparer.OrdinalIgnoreCase);
            foreach (var dc in items.Select(i => i.SourceDatacenter).Distinct(StringComparer.OrdinalIgnoreCase))
            {
                try
                {
                    await foreach (var r in _engine.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { dc } }, NullObserver.Instance, ct).ConfigureAwait(false))
                        if (r.Value != null) map[r.Value.Id] = r.Value;
                }
                catch (GridException) when (mode == FailoverMode.Unplanned) { }
            }
            foreach (var i in items)
                if (!map.ContainsKey(i.SourceId))
                {
                    if (mode != FailoverMode.Unplanned)
                        throw GridException.NotFound($"Protected workload '{i.Name}' ({i.SourceId}) is not found at '{i.SourceDatacenter}': only an unplanned failover goes on without its source.", "WorkloadNotFound", i.SourceId);
                    map[i.SourceId] = new GridWorkload { Id = i.SourceId, Name = i.Name, Datacenter = i.SourceDatacenter };
                }
            return map;
        }

        /// <summary>Every refusal before journaling: given twice, not protected or not ready, a test running, no point, agreement room (reserved).</summary>
        private async Task<List<RunEntry>> PrepareAsync(IReadOnlyList<(GridWorkload w, int group)> given, FailoverMode mode, DateTimeOffset? pointTime, string? testNetwork,
            IEngineObserver observer, CancellationToken ct)
        {
            var sw = Stopwatch.StartNew();
            var dup = given.GroupBy(x => x.w.Id, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
            if (dup != null) throw GridException.InvalidRequest($"'{dup.First().w.Name}' is given twice.", "WorkloadGivenTwice", dup.Key);
            var entries = new List<RunEntry>();
            // the items and their points read once for the run (Find and GetPoints per workload read every item each time)
            var items = Get().GroupBy(i => i.SourceId, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);
            var pointsOf = GetPoints().GroupBy(p => p.ReplicationId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (IReadOnlyList<GridRecoveryPoint>)g.ToList(), StringComparer.Ordinal);
            foreach (var (w, group) in given)
            {
                var item = Require(w, items.TryGetValue(w.Id, out var found) ? found : null);
                if (item.State != ReplicationState.Protected)
                    throw GridException.Conflict($"'{w.Name}' is {item.State}: only a Protected workload fails over (Complete-GridFailover, Stop-GridFailover -Test or Enable-GridReplication -Reverse first).", "NotFailoverReady", w.Id);
                if (mode == FailoverMode.Test && item.TestWorkloadIds.Count > 0)
                    throw GridException.Conflict($"'{w.Name}' has a test failover running: Stop-GridFailover -Test removes it first.", "TestFailoverRunning", w.Id);
                entries.Add(new RunEntry { W = w, Item = item, Point = ChoosePoint(item, pointTime, pointsOf.TryGetValue(item.Id, out var ps) ? ps : Array.Empty<GridRecoveryPoint>()), Group = group, TestNetwork = testNetwork });
            }
            await CheckTestNetworkAsync(entries, mode, testNetwork, observer, ct).ConfigureAwait(false);
            var checkedIn = sw.Elapsed;
            // a replica that runs counts against its owner's agreement in the destination: admitted (reserved) before journaling,
            // as one batch (each covered datacenter listed once; all reserved in one transaction, or none)
            var outcomes = await _engine.AdmitMovesAsync(entries.Select(e => (_engine.GetDatacenter(e.Item.DestinationDatacenter), e.W)).ToList(), true, observer, ct).ConfigureAwait(false);
            for (int k = 0; k < entries.Count; k++) entries[k].Admission = outcomes[k].Admission;
            observer.Verbose(FormattableString.Invariant($"Failover: {entries.Count} workload(s) checked in {checkedIn.TotalSeconds:0.00} s, admitted in {(sw.Elapsed - checkedIn).TotalSeconds:0.00} s."));
            return entries;
        }

        private async Task<GridRecoveryPlanRun> StartRunAsync(string? planName, List<GridRecoveryPlanGroup> groups, List<RunEntry> entries, FailoverMode mode, string? testNetwork,
            IEngineObserver observer, CancellationToken ct)
        {
            var record = new RunRecord
            {
                Mode = mode.ToString(), Plan = planName, Groups = groups, TestNetwork = entries[0].TestNetwork ?? testNetwork,
                Items = entries.Select(e => e.Item.Id).ToList(), Points = entries.Select(e => e.Point.Sequence).ToList(), GroupOf = entries.Select(e => e.Group).ToList(),
            };
            GridOperation parent;
            try
            {
                parent = _engine.Journal.TryBegin(new OperationIntent
                {
                    Kind = FailoverKind, Datacenter = entries[0].Item.SourceDatacenter,
                    Target = planName != null ? "plan:" + planName : "failover:" + entries[0].Item.Id,
                    TargetName = planName != null ? $"{mode} failover of plan {planName} ({entries.Count} workload(s), {groups.Count} group(s))" : mode + " failover of " + entries.Count + " workload(s)",
                    DestinationDatacenter = entries[0].Item.DestinationDatacenter, Coordinator = "core", RequestJson = JsonUtil.Serialize(record),
                }).Operation!;
            }
            catch (Exception) { foreach (var e in entries) e.Admission?.Failed(); throw; }
            // every item of the run is FailingOver from now on: no other failover takes one of a later group meanwhile
            if (mode != FailoverMode.Test)
                Store.Write(s => { foreach (var e in entries) { e.Item.State = ReplicationState.FailingOver; ReplicationData.UpdateItem(s, e.Item); } return 0; });
            return await RunGroupsAsync(parent, record, entries, mode, false, observer, ct).ConfigureAwait(false);
        }

        /// <summary>Resume-GridOperation of a Failover run (interrupted, or Waiting at a manual step): goes on from the journal.</summary>
        internal async Task<GridOperation> ResumeRunAsync(GridOperation parent, bool wasWaiting, bool rollback, IEngineObserver observer, CancellationToken ct)
        {
            if (rollback)
            {
                if (wasWaiting) _engine.Journal.Pause(parent.Id, "Waiting (a roll-back was refused)."); else _engine.Journal.Interrupt(parent.Id, "Interrupted (a roll-back was refused).");
                throw GridException.InvalidRequest($"A failover run is not rolled back: resume it (Resume-GridOperation -Id {parent.Id}), then fail back with Enable-GridReplication -Reverse and a planned failover.", "FailoverNotRolledBack", parent.Id);
            }
            Ready();
            var record = JsonUtil.Deserialize<RunRecord>(parent.Request ?? "") ?? throw GridException.InvalidRequest($"Operation {parent.Id} has no recorded run to resume.", "OperationNotResumable", parent.Id);
            var mode = (FailoverMode)Enum.Parse(typeof(FailoverMode), record.Mode);
            try
            {
                if (record.Plan != null) CheckScripts(new GridRecoveryPlan { Name = record.Plan, Groups = record.Groups });
                var all = Get().ToDictionary(i => i.Id, StringComparer.Ordinal);
                var items = record.Items.Select(id => all.TryGetValue(id, out var i) ? i : throw GridException.NotFound($"Protected item {id} of run {parent.Id} is gone (disabled?).", "NotProtected", id)).ToList();
                var workloads = await ResolveWorkloadsAsync(items, FailoverMode.Unplanned, ct).ConfigureAwait(false); // a stopped or gone source must not block the resume
                var entries = new List<RunEntry>();
                for (int k = 0; k < items.Count; k++)
                {
                    var points = GetPoints(items[k]);
                    var p = points.FirstOrDefault(x => x.Sequence == record.Points[k]) ?? points.LastOrDefault()
                        ?? throw GridException.NotFound($"'{items[k].Name}' has no recovery point any more.", "RecoveryPointNotFound", items[k].SourceId);
                    entries.Add(new RunEntry { W = workloads[items[k].SourceId], Item = items[k], Point = p, Group = record.GroupOf[k], TestNetwork = record.TestNetwork });
                }
                await ReadmitAsync(parent, entries, mode, observer, ct).ConfigureAwait(false);
                if (wasWaiting && parent.Checkpoints.TryGetValue("waiting", out var g)) ParentCheckpoint(parent.Id, "done:manual:" + g, DateTimeOffset.UtcNow.ToString("o"));
                var fresh = _engine.Journal.Get(parent.Id)!;
                await RunGroupsAsync(fresh, record, entries, mode, true, observer, ct).ConfigureAwait(false);
            }
            catch (GridException g) when (_engine.Journal.Get(parent.Id)!.State == OperationState.Running)
            {
                _engine.Journal.Fail(parent.Id, g.ErrorId, g.Message);
                throw;
            }
            return _engine.Journal.Get(parent.Id)!;
        }

        /// <summary>
        /// Resume: the workloads whose failover never began (no FailoverWorkload child) are admitted again, as the first
        /// run admitted them (the agreement and its quota, check and reservation in one store transaction): a paused or
        /// interrupted run held no reservation meanwhile, and another placement may have taken the room. Unplanned goes on
        /// past a refusal (that workload fails with the refusal's id); Test and Planned refuse the whole resume before
        /// anything acts: the parent fails with the refusal's id, the workloads already failed over stay where they run
        /// (fenced), the others are Protected again.
        /// </summary>
        private async Task ReadmitAsync(GridOperation parent, List<RunEntry> entries, FailoverMode mode, IEngineObserver observer, CancellationToken ct)
        {
            var begun = new HashSet<string>(_engine.Journal.List(new OperationFilter { ParentId = parent.Id, IncludeChildren = true })
                .Where(c => string.Equals(c.Kind, FailoverChildKind, StringComparison.OrdinalIgnoreCase)).Select(c => c.Target ?? ""), StringComparer.OrdinalIgnoreCase);
            GridException? refused = null;
            var again = entries.Where(x => !begun.Contains(x.W.Id)).ToList();
            try
            {
                // one batch: Unplanned keeps going past a refusal (that workload fails with it); Test and Planned reserve all or none
                var outcomes = await _engine.AdmitMovesAsync(again.Select(e => (_engine.GetDatacenter(e.Item.DestinationDatacenter), e.W)).ToList(), mode != FailoverMode.Unplanned, observer, ct).ConfigureAwait(false);
                for (int k = 0; k < again.Count; k++) { again[k].Admission = outcomes[k].Admission; again[k].Refused = outcomes[k].Refused; }
            }
            catch (GridException g) when (g.Kind is GridErrorKind.ResourceUnavailable or GridErrorKind.PermissionDenied) { refused = g; }
            if (refused == null) return;
            foreach (var e in entries) e.Admission?.Failed();
            if (mode != FailoverMode.Test)
                foreach (var e in entries)
                    if (Find(e.Item.SourceId) is GridReplication i && i.State == ReplicationState.FailingOver) SetState(i, ReplicationState.Protected);
            int notBegun = entries.Count(x => !begun.Contains(x.W.Id));
            _engine.Journal.Fail(parent.Id, refused.ErrorId, $"Resume refused: {refused.Message} Nothing was resumed: the {entries.Count - notBegun} workload(s) whose failover had begun keep their state, the {notBegun} not begun are Protected again"
                + (mode == FailoverMode.Planned ? " (a source this run stopped stays stopped and is not fenced: Start-GridWorkload starts it again)." : "."));
            throw refused;
        }

        private async Task<GridRecoveryPlanRun> RunGroupsAsync(GridOperation parent, RunRecord record, List<RunEntry> entries, FailoverMode mode, bool resume,
            IEngineObserver observer, CancellationToken ct)
        {
            var cps = parent.Checkpoints;
            var started = parent.Started;
            var run = new GridRecoveryPlanRun { RecoveryPlan = record.Plan, Mode = mode, OperationId = parent.Id };
            var results = new Dictionary<RunEntry, GridFailoverResult>();
            using var heartbeat = _engine.StartHeartbeat(parent.Id);
            int n = record.Groups.Count;
            var byGroup = Enumerable.Range(0, n).Select(k => entries.Where(e => e.Group == k).ToList()).ToList();
            // children a previous attempt left: the newest per workload and kind
            var children = resume ? _engine.Journal.List(new OperationFilter { ParentId = parent.Id, IncludeChildren = true })
                .GroupBy(c => c.Kind + "|" + c.Target, StringComparer.OrdinalIgnoreCase).ToDictionary(x => x.Key, x => x.OrderBy(c => c.Started).Last(), StringComparer.OrdinalIgnoreCase)
                : new Dictionary<string, GridOperation>(StringComparer.OrdinalIgnoreCase);
            GridOperation? Prev(string kind, RunEntry e) => children.TryGetValue(kind + "|" + e.W.Id, out var c) ? c : null;
            using var gate = new SemaphoreSlim(Math.Max(1, _engine.Configuration.MaxConcurrencyPerDatacenter));
            async Task ForAll(IEnumerable<RunEntry> list, Func<RunEntry, Task> act)
                => await Task.WhenAll(list.Select(async e => { await gate.WaitAsync(ct).ConfigureAwait(false); try { await act(e).ConfigureAwait(false); } finally { gate.Release(); } })).ConfigureAwait(false);
            string? stopError = null; string? stopErrorId = null;

            try
            {
                if (mode == FailoverMode.Planned && !cps.ContainsKey("done:stop"))
                {
                    // graceful stops in reverse group order, all before anything starts at the destination
                    for (int k = n - 1; k >= 0 && stopError == null; k--)
                        await ForAll(byGroup[k], async e =>
                        {
                            var prev = Prev(FailoverStopKind, e);
                            if (prev?.State == OperationState.Succeeded || Prev(FailoverChildKind, e)?.State == OperationState.Succeeded) return;
                            var err = await StopSourceAsync(parent.Id, e, prev?.State == OperationState.Interrupted ? prev : null, observer, ct).ConfigureAwait(false);
                            if (err != null)
                                lock (results)
                                {
                                    results[e] = new GridFailoverResult { Name = e.W.Name, SourceId = e.W.Id, Mode = mode, Status = "Failed", ErrorId = err.ErrorId, Error = err.Message };
                                    stopErrorId ??= err.ErrorId; stopError ??= err.Message;
                                }
                        }).ConfigureAwait(false);
                    if (stopError == null) ParentCheckpoint(parent.Id, "done:stop", "stopped");
                    observer.Verbose(FormattableString.Invariant($"Failover: {entries.Count} source(s) stopped in reverse group order by {(DateTimeOffset.UtcNow - started).TotalSeconds:0.00} s of the run."));
                }
                for (int k = 0; k < n && stopError == null; k++)
                {
                    var group = record.Groups[k];
                    var gr = new GridRecoveryGroupResult { Number = k + 1, Workloads = byGroup[k].Count };
                    run.Groups.Add(gr);
                    var groupStart = DateTimeOffset.UtcNow;
                    string key = k.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (!cps.ContainsKey("done:group:" + key))
                    {
                        ParentCheckpoint(parent.Id, "step", "group:" + key);
                        if (group.PreScript != null && !cps.ContainsKey("done:pre:" + key))
                        {
                            await RunScriptAsync(group.PreScript, Context(record, parent, mode, k, "Pre", byGroup[k], results), ct).ConfigureAwait(false);
                            ParentCheckpoint(parent.Id, "done:pre:" + key, "ran");
                        }
                        bool stop = false;
                        await ForAll(byGroup[k], async e =>
                        {
                            var prev = Prev(FailoverChildKind, e);
                            if (prev?.State == OperationState.Succeeded) { lock (results) results[e] = FromChild(prev, e.W, mode); e.Admission?.Succeeded(); return; }
                            if (e.Refused != null) { lock (results) results[e] = new GridFailoverResult { Name = e.W.Name, SourceId = e.W.Id, Mode = mode, Status = "Failed", ErrorId = e.Refused.ErrorId, Error = e.Refused.Message }; return; }
                            if (Volatile.Read(ref stop)) { lock (results) results[e] = new GridFailoverResult { Name = e.W.Name, SourceId = e.W.Id, Mode = mode, Status = "NotStarted" }; return; }
                            var r = await FailOneWithRetryAsync(parent.Id, e, mode, started, prev?.State == OperationState.Interrupted ? prev : null, observer, ct).ConfigureAwait(false);
                            lock (results) results[e] = r;
                            if (r.ErrorId == null) e.Admission?.Succeeded(); else e.Admission?.Failed();
                            if (r.ErrorId != null && mode != FailoverMode.Unplanned) Volatile.Write(ref stop, true); // planned and test stop at the first error
                        }).ConfigureAwait(false);
                        var failed = byGroup[k].Select(e => results[e]).FirstOrDefault(r => r.ErrorId != null);
                        if (failed != null && mode != FailoverMode.Unplanned) { stopError = failed.Error; stopErrorId = failed.ErrorId; }
                        if (stopError == null && group.PostScript != null && !cps.ContainsKey("done:post:" + key))
                        {
                            await RunScriptAsync(group.PostScript, Context(record, parent, mode, k, "Post", byGroup[k], results), ct).ConfigureAwait(false);
                            ParentCheckpoint(parent.Id, "done:post:" + key, "ran");
                        }
                        if (stopError == null) ParentCheckpoint(parent.Id, "done:group:" + key, DateTimeOffset.UtcNow.ToString("o"));
                    }
                    else
                        foreach (var e in byGroup[k]) { var prev = Prev(FailoverChildKind, e); results[e] = prev?.State == OperationState.Succeeded ? FromChild(prev, e.W, mode) : new GridFailoverResult { Name = e.W.Name, SourceId = e.W.Id, Mode = mode, Status = "Unknown" }; }
                    var mine = byGroup[k].Select(e => results.TryGetValue(e, out var r) ? r : null).Where(r => r != null).ToList();
                    gr.Failed = mine.Count(r => r!.ErrorId != null);
                    gr.Rto = mine.Count(r => r!.Status == "Running") > 0 ? mine.Where(r => r!.Status == "Running").Max(r => r!.Rto) : (TimeSpan?)null;
                    gr.Duration = DateTimeOffset.UtcNow - groupStart;
                    gr.Status = gr.Failed > 0 ? "Failed" : "Succeeded";
                    observer.Verbose(FormattableString.Invariant($"Failover: group {k + 1} ({byGroup[k].Count} workload(s), {gr.Failed} failed) took {(gr.Duration ?? TimeSpan.Zero).TotalSeconds:0.00} s; {(DateTimeOffset.UtcNow - started).TotalSeconds:0.00} s since the run began."));
                    if (stopError == null && group.ManualStep != null && !cps.ContainsKey("done:manual:" + key))
                    {
                        // a manual step: the run pauses (Waiting, no lease) until Resume-GridOperation
                        ParentCheckpoint(parent.Id, "waiting", key);
                        foreach (var e in entries.Where(x => !results.ContainsKey(x))) e.Admission?.Failed();
                        _engine.Journal.Pause(parent.Id, $"Waiting for the manual step of group {k + 1}: {group.ManualStep} (Resume-GridOperation -Id {parent.Id} goes on).");
                        run.State = "Waiting"; run.WaitingFor = group.ManualStep;
                        Finish(run, entries, results, started);
                        return run;
                    }
                }
            }
            catch (GridException g) when (!ct.IsCancellationRequested)
            {
                // a script failed or was refused: the run stops here (a workload that already runs stays running and fenced)
                stopError = g.Message; stopErrorId = g.ErrorId;
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                foreach (var e in entries.Where(x => !results.ContainsKey(x))) e.Admission?.Failed();
                _engine.Journal.Interrupt(parent.Id, "Cancelled during the failover run: Resume-GridOperation finishes it.");
                throw;
            }
            foreach (var e in entries.Where(x => !results.ContainsKey(x)))
            {
                e.Admission?.Failed();
                results[e] = new GridFailoverResult { Name = e.W.Name, SourceId = e.W.Id, Mode = mode, Status = "NotStarted" };
            }
            // a workload the run did not fail over is Protected again (its source may be started again: it never ran elsewhere)
            if (mode != FailoverMode.Test)
                foreach (var e in entries)
                    if (Find(e.Item.SourceId) is GridReplication i && i.State == ReplicationState.FailingOver) SetState(i, ReplicationState.Protected);
            Finish(run, entries, results, started);
            var fails = run.Results.Where(r => r.ErrorId != null).ToList();
            string summary = JsonUtil.Serialize(new { Mode = mode.ToString(), Plan = record.Plan, RtoSeconds = run.Rto.TotalSeconds, Groups = run.Groups.Select(x => new { x.Number, RtoSeconds = x.Rto?.TotalSeconds, x.Failed }), Failed = fails.Count, Workloads = run.Results.Count });
            if (stopError == null && fails.Count == 0) { _engine.Journal.Complete(parent.Id, summary); run.State = "Succeeded"; }
            else
            {
                string id = stopErrorId ?? fails[0].ErrorId!;
                _engine.Journal.Fail(parent.Id, id, (stopError != null ? stopError + " " : "") + $"{fails.Count} of {run.Results.Count} workload(s) failed: " + string.Join(" ", fails.Select(f => f.Name + ": " + f.Error)));
                run.State = "Failed";
                if (stopError != null && fails.Count == 0)
                    run.Results.Insert(0, new GridFailoverResult { Name = record.Plan ?? "", Mode = mode, Status = "Failed", ErrorId = id, Error = stopError, OperationId = parent.Id });
            }
            return run;
        }

        /// <summary>A checkpoint of the run's parent; a store busy under load is waited for (the run must not stop for it).</summary>
        private void ParentCheckpoint(Guid id, string key, string value)
        {
            for (int k = 0; ; k++)
            {
                try { _engine.Journal.Checkpoint(id, key, value); return; }
                catch (GridException g) when (g.IsTransient && k < 5) { Thread.Sleep(250 * (k + 1)); }
            }
        }

        private static void Finish(GridRecoveryPlanRun run, List<RunEntry> entries, Dictionary<RunEntry, GridFailoverResult> results, DateTimeOffset started)
        {
            run.Results = entries.Where(results.ContainsKey).Select(e => results[e]).ToList();
            run.Rto = DateTimeOffset.UtcNow - started;
        }

        private static RecoveryPlanContext Context(RunRecord record, GridOperation parent, FailoverMode mode, int k, string stage, List<RunEntry> group, Dictionary<RunEntry, GridFailoverResult> results)
            => new RecoveryPlanContext
            {
                RecoveryPlanName = record.Plan ?? "", OperationId = parent.Id, FailoverType = mode.ToString(), GroupId = k + 1, Stage = stage,
                Workloads = group.Select(e => new RecoveryPlanContextWorkload
                {
                    Name = e.W.Name, SourceId = e.W.Id, SourceDatacenter = e.Item.SourceDatacenter, DestinationDatacenter = e.Item.DestinationDatacenter,
                    DestinationId = results.TryGetValue(e, out var r) ? r.DestinationId : null, Status = results.TryGetValue(e, out var r2) ? r2.Status : null,
                }).ToList(),
            };

        /// <summary>Runs one plan script after checking its hash again: .ps1 through the PowerShell host, anything else as a program (context as JSON in GRIDAUTOMATION_PLAN_CONTEXT).</summary>
        private static async Task RunScriptAsync(GridPlanScript script, RecoveryPlanContext context, CancellationToken ct)
        {
            var now = HashFile(script.Path);
            if (!string.Equals(now, script.Sha256, StringComparison.OrdinalIgnoreCase))
                throw GridException.Conflict($"Script '{script.Path}' changed since the plan recorded it (SHA-256 {script.Sha256} then, {now} now).", "PlanScriptChanged", script.Path);
            if (script.Path.EndsWith(".ps1", StringComparison.OrdinalIgnoreCase))
            {
                var host = PowerShellScriptHost ?? throw GridException.Unsupported($"Script '{script.Path}' is a PowerShell script, and no PowerShell host is loaded (run it from the GridAutomation module).", "PlanScriptHostMissing", script.Path);
                try { await host(script.Path, context, ct).ConfigureAwait(false); }
                catch (GridException) { throw; }
                catch (Exception ex) when (!ct.IsCancellationRequested) { throw GridException.InvalidRequest($"Script '{script.Path}' (group {context.GroupId}, {context.Stage}) failed: {ex.Message}", "PlanScriptFailed", script.Path); }
                return;
            }
            var psi = new ProcessStartInfo(script.Path) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.Environment["GRIDAUTOMATION_PLAN_CONTEXT"] = JsonUtil.Serialize(context);
            using var p = Process.Start(psi) ?? throw GridException.InvalidRequest($"Script '{script.Path}' could not be started.", "PlanScriptFailed", script.Path);
            var err = p.StandardError.ReadToEndAsync();
            await p.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
            p.WaitForExit();
            if (p.ExitCode != 0)
                throw GridException.InvalidRequest($"Script '{script.Path}' (group {context.GroupId}, {context.Stage}) exited with {p.ExitCode}: {(await err.ConfigureAwait(false)).Trim()}", "PlanScriptFailed", script.Path);
        }
    }
}
