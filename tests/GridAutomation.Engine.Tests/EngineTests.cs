using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using Xunit;

namespace GridAutomation.Engine.Tests
{
    public sealed class EngineTests : IDisposable
    {
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-engine-" + Guid.NewGuid().ToString("N"));
        private readonly GridConfiguration _config;
        private readonly GridEngine _engine;
        private readonly List<string> _names = new List<string>();

        public EngineTests()
        {
            Directory.CreateDirectory(_dir);
            ProviderRegistry.Register(new FakeProvider());
            _config = new GridConfiguration { StatePath = Path.Combine(_dir, "state.db"), RetryCount = 3, RetryMaxDelaySeconds = 5, LeaseTimeoutSeconds = 120, PageSize = 2 };
            _engine = GridEngine.Get(_config, readOnly: false);
        }

        public void Dispose()
        {
            foreach (var n in _names) FakeProvider.Datacenters.TryRemove(n, out _);
            GridEngine.Reset();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        private async Task<(string name, FakeDatacenter dc)> ConnectAsync(string? owner = "Contoso", IDictionary<string, object>? secrets = null)
        {
            string name = "dc" + Guid.NewGuid().ToString("N").Substring(0, 8);
            _names.Add(name);
            var fake = FakeProvider.Datacenters.GetOrAdd(name, _ => new FakeDatacenter());
            await _engine.ConnectDatacenterAsync(FakeProvider.ProviderName, name, owner, "Lab", new Dictionary<string, string> { ["Region"] = "r1" }, secrets ?? new Dictionary<string, object>(), NullObserver.Instance, default);
            return (name, fake);
        }

        private static async Task<List<FanOutResult<T>>> All<T>(IAsyncEnumerable<FanOutResult<T>> source)
        {
            var list = new List<FanOutResult<T>>();
            await foreach (var r in source) list.Add(r);
            return list;
        }

        [Fact]
        public async Task FanOut_StreamsEveryDatacenter_AndOneFailureDoesNotStopTheOthers()
        {
            var (a, fa) = await ConnectAsync();
            var (b, fb) = await ConnectAsync();
            var (c, fc) = await ConnectAsync();
            for (int i = 0; i < 5; i++) { fa.Add(a, "web" + i); fc.Add(c, "db" + i); }
            fb.FailList = GridException.Unavailable("endpoint down");
            _engine.Retry.GetType(); // the policy retries the first page; make the failure persistent
            var results = await All(_engine.GetWorkloadsAsync(new WorkloadFilter(), NullObserver.Instance, default));
            Assert.Equal(10, results.Count(r => !r.IsError));
            var err = Assert.Single(results, r => r.IsError);
            Assert.Equal(b, err.Datacenter);
            Assert.Equal(GridErrorKind.Unavailable, err.Error!.Kind);
        }

        [Fact]
        public async Task Filters_NameWildcardsCaseInsensitive_State_Tag_Id_AndOwnerFromTag()
        {
            var (a, fa) = await ConnectAsync(owner: "Contoso");
            var w1 = fa.Add(a, "Web-01");
            var w2 = fa.Add(a, "web-02", WorkloadState.Stopped);
            var w3 = fa.Add(a, "db-01", WorkloadState.Deallocated);
            var w4 = fa.Add(a, "gone", WorkloadState.Deleted);
            w2.Tags["Owner"] = "Fabrikam"; w2.Tags["env"] = "prod";

            async Task<List<GridWorkload>> Q(WorkloadFilter f) => (await All(_engine.GetWorkloadsAsync(f, NullObserver.Instance, default))).Select(r => r.Value!).ToList();

            Assert.Equal(new[] { "Web-01", "web-02" }, (await Q(new WorkloadFilter { Names = new[] { "WEB-*" } })).Select(w => w.Name).OrderBy(n => n));
            var stopped = await Q(new WorkloadFilter { States = new[] { WorkloadState.Stopped } });
            Assert.Equal("web-02", Assert.Single(stopped).Name); // Stopped never includes Deallocated
            Assert.DoesNotContain(await Q(new WorkloadFilter()), w => w.Name == "gone"); // Deleted only when asked
            Assert.Single(await Q(new WorkloadFilter { States = new[] { WorkloadState.Deleted } }));
            var tagged = Assert.Single(await Q(new WorkloadFilter { Tags = new Dictionary<string, string?> { ["ENV"] = "pr*" } }));
            Assert.Equal("Fabrikam", tagged.Owner);
            var byId = Assert.Single(await Q(new WorkloadFilter { Ids = new[] { w1.Id } }));
            Assert.Equal("Contoso", byId.Owner);
            Assert.Equal(a, byId.Datacenter);
        }

        [Fact]
        public async Task UnknownDatacenter_IsDatacenterNotFound()
        {
            var ex = Assert.Throws<GridException>(() => _engine.GetDatacenter("nope"));
            Assert.Equal("DatacenterNotFound", ex.ErrorId);
            ex = await Assert.ThrowsAsync<GridException>(() => All(_engine.GetWorkloadsAsync(new WorkloadFilter { Datacenters = new[] { "nope" } }, NullObserver.Instance, default)));
            Assert.Equal("DatacenterNotFound", ex.ErrorId);
            ex = await Assert.ThrowsAsync<GridException>(() => _engine.CreateWorkloadAsync("nope", new CreateWorkloadRequest { Name = "x" }, null, NullObserver.Instance, default));
            Assert.Equal("DatacenterNotFound", ex.ErrorId);
        }

        [Fact]
        public async Task Throttled_IsRetried_HonouringRetryAfter_AndJournaledOnce()
        {
            var (a, fa) = await ConnectAsync();
            var w = fa.Add(a, "app");
            fa.NextErrors.Enqueue(GridException.Throttled("slow down", TimeSpan.FromSeconds(1)));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            await _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop }, null, NullObserver.Instance, default);
            Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(950), $"Retry-After of 1 s not honoured: {sw.Elapsed}");
            Assert.Equal(2, fa.Calls);
            Assert.Equal(WorkloadState.Stopped, fa.Workloads[w.NativeId].State);
            var ops = _engine.GetOperations(new OperationFilter { Datacenters = new[] { a } }).Where(o => o.Kind == "Stop").ToList();
            Assert.Equal(OperationState.Succeeded, Assert.Single(ops).State);
        }

        private sealed class RecordingObserver : IEngineObserver
        {
            public readonly System.Collections.Concurrent.ConcurrentQueue<string> Messages = new System.Collections.Concurrent.ConcurrentQueue<string>();
            public void Progress(string target, GridProgress progress) { }
            public void Verbose(string message) => Messages.Enqueue(message);
            public void Warning(string message) => Messages.Enqueue(message);
        }

        [Fact]
        public async Task RetryMessages_GoToTheObserverOfTheCallThatRetried()
        {
            var (a, fa) = await ConnectAsync();
            var w = fa.Add(a, "app");
            var lister = new RecordingObserver();
            await All(_engine.GetWorkloadsAsync(new WorkloadFilter(), lister, default)); // an earlier call with its own observer
            var stopper = new RecordingObserver();
            fa.NextErrors.Enqueue(GridException.Throttled("slow down", TimeSpan.FromMilliseconds(50)));
            await _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop }, null, stopper, default);
            Assert.Contains(stopper.Messages, m => m.Contains("retry 1") && m.Contains(a));
            Assert.DoesNotContain(lister.Messages, m => m.Contains("retry"));
        }

        [Fact]
        public async Task RetryAfter_LongerThanMaximum_FailsInsteadOfStalling()
        {
            var (a, fa) = await ConnectAsync();
            var w = fa.Add(a, "app");
            fa.NextErrors.Enqueue(GridException.Throttled("come back tomorrow", TimeSpan.FromHours(1)));
            var ex = await Assert.ThrowsAsync<GridException>(() => _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop }, null, NullObserver.Instance, default));
            Assert.Equal(GridErrorKind.Throttled, ex.Kind);
            Assert.Equal(1, fa.Calls);
            var op = _engine.GetOperations(new OperationFilter { Datacenters = new[] { a } }).Single(o => o.Kind == "Stop");
            Assert.Equal(OperationState.Failed, op.State);
        }

        [Fact]
        public async Task MissingCapability_IsRefusedBeforeAnythingIsJournaled()
        {
            var (a, fa) = await ConnectAsync();
            var w = fa.Add(a, "app");
            var before = _engine.GetOperations(new OperationFilter()).Count;
            var ex = await Assert.ThrowsAsync<GridException>(() => _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.Deallocate }, null, NullObserver.Instance, default));
            Assert.Equal("CapabilityNotSupported", ex.ErrorId);
            Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
            Assert.Equal(before, _engine.GetOperations(new OperationFilter()).Count);
            Assert.Equal(0, fa.Calls);
        }

        [Fact]
        public async Task Pause_OnAProviderWithoutIt_IsRefusedWithPauseNotSupported_BeforeAnythingIsJournaled()
        {
            var (a, fa) = await ConnectAsync(); // the fake datacenter declares no Pause, as vSphere, EC2 and Azure
            var w = fa.Add(a, "app");
            var before = _engine.GetOperations(new OperationFilter()).Count;
            var ex = await Assert.ThrowsAsync<GridException>(() => _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Pause }, null, NullObserver.Instance, default));
            Assert.Equal("PauseNotSupported", ex.ErrorId);
            Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
            Assert.Contains("cannot pause", ex.Message);
            Assert.Equal(before, _engine.GetOperations(new OperationFilter()).Count);
            Assert.Equal(0, fa.Calls);
        }

        [Fact]
        public async Task Create_WithUserKey_IsIdempotent_AndANameIsUniquePerDatacenter()
        {
            var (a, fa) = await ConnectAsync();
            var r1 = await _engine.CreateWorkloadAsync(a, new CreateWorkloadRequest { Name = "svc", IdempotencyKey = "k1" }, null, NullObserver.Instance, default);
            var r2 = await _engine.CreateWorkloadAsync(a, new CreateWorkloadRequest { Name = "svc", IdempotencyKey = "k1" }, null, NullObserver.Instance, default);
            Assert.Equal(r1.Id, r2.Id);
            Assert.Equal(1, fa.Creates);
            var made = await _engine.CreateWorkloadAsync(a, new CreateWorkloadRequest { Name = "svc2" }, null, NullObserver.Instance, default);
            var ex = await Assert.ThrowsAsync<GridException>(() => _engine.CreateWorkloadAsync(a, new CreateWorkloadRequest { Name = "SVC2" }, null, NullObserver.Instance, default));
            Assert.Equal("WorkloadNameExists", ex.ErrorId);
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Contains(made.Id, ex.Message);
            Assert.Equal(2, fa.Creates);
            // The fake provider does not allow duplicates: -AllowDuplicateName is refused, before anything is journaled.
            int ops = _engine.GetOperations(new OperationFilter { Datacenters = new[] { a } }).Count;
            ex = await Assert.ThrowsAsync<GridException>(() => _engine.CreateWorkloadAsync(a, new CreateWorkloadRequest { Name = "svc2", AllowDuplicateName = true }, null, NullObserver.Instance, default));
            Assert.Equal("DuplicateNameNotAllowed", ex.ErrorId);
            Assert.Equal(ops, _engine.GetOperations(new OperationFilter { Datacenters = new[] { a } }).Count);
        }

        [Fact]
        public async Task Create_RacingCreatesOfOneName_MakeOneWorkload()
        {
            var (a, fa) = await ConnectAsync();
            fa.ActionDelay = TimeSpan.FromMilliseconds(300);
            var tasks = Enumerable.Range(0, 8).Select(_ => Task.Run(() => _engine.CreateWorkloadAsync(a, new CreateWorkloadRequest { Name = "race" }, null, NullObserver.Instance, default))).ToArray();
            try { await Task.WhenAll(tasks); } catch (GridException) { }
            Assert.Equal(1, tasks.Count(t => t.Status == TaskStatus.RanToCompletion));
            Assert.All(tasks.Where(t => t.IsFaulted), t => Assert.Equal("WorkloadNameExists", ((GridException)t.Exception!.InnerException!).ErrorId));
            Assert.Equal(1, fa.Creates);
        }

        [Fact]
        public async Task WorkloadLock_SecondChangeWaits_ThenFailsWithWorkloadLocked_NamingTheHolder_ReadsDoNotWait()
        {
            var (a, fa) = await ConnectAsync();
            var w = fa.Add(a, "app");
            var cfg = new GridConfiguration { StatePath = _config.StatePath, RetryCount = 0, LeaseTimeoutSeconds = 120, LockWaitSeconds = 1 };
            var other = GridEngine.Get(cfg, readOnly: false); // another engine on the same file, as another process would have
            fa.ActionDelay = TimeSpan.FromSeconds(4);
            var first = Task.Run(() => _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop }, null, NullObserver.Instance, default));
            GridOperation? holder = null;
            for (int i = 0; i < 100 && holder == null; i++) { await Task.Delay(20); holder = _engine.GetOperations(new OperationFilter { Datacenters = new[] { a }, States = new[] { OperationState.Running } }).FirstOrDefault(); }
            Assert.NotNull(holder);
            Assert.NotNull(holder!.FencingToken);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var read = await other.GetWorkloadAsync(w.Id, default); // a read never waits for the lock
            Assert.Equal(w.Id, read.Id);
            var ex = await Assert.ThrowsAsync<GridException>(() => other.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Start }, null, NullObserver.Instance, default));
            Assert.Equal("WorkloadLocked", ex.ErrorId);
            Assert.Contains(holder.Id.ToString(), ex.Message);
            Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(0.9), "it waited LockWaitSeconds first");
            await first;
            // The refused change was never journaled; the lock is free again, with a higher fencing token for the next holder.
            Assert.DoesNotContain(_engine.GetOperations(new OperationFilter { Datacenters = new[] { a } }), o => o.Kind == "Start");
            fa.ActionDelay = TimeSpan.Zero;
            await other.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Start }, null, NullObserver.Instance, default);
            var start = _engine.GetOperations(new OperationFilter { Datacenters = new[] { a } }).Single(o => o.Kind == "Start");
            Assert.True(start.FencingToken > holder.FencingToken);
            var held = _engine.Journal.Get(holder.Id)!;
            Assert.Equal(OperationState.Succeeded, held.State);
            Assert.True(start.Started >= held.Finished!.Value, "Started is stamped when the lock is held, after the holder released it");
        }

        [Fact]
        public async Task WorkloadLock_ADeadHolderBlocksNothing()
        {
            var (a, fa) = await ConnectAsync();
            var w = fa.Add(a, "app");
            var dead = _engine.Journal.TryBegin(new OperationIntent { Kind = "Stop", Datacenter = a, Target = w.Id, LockKey = "workload:" + a.ToLowerInvariant() + "/" + w.NativeId }).Operation!;
            MakeLeaseDead(dead.Id);
            var done = await _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop }, null, NullObserver.Instance, default);
            Assert.Equal(WorkloadState.Stopped, done!.State);
            // The dead holder's late result is refused by the fencing token: its lock was taken over.
            var ex = Assert.Throws<GridException>(() => _engine.Journal.Complete(dead.Id, null));
            Assert.Equal("LeaseLost", ex.ErrorId);
        }

        [Fact]
        public async Task Create_Validation_SizeAndTags()
        {
            var (a, fa) = await ConnectAsync();
            var ex = await Assert.ThrowsAsync<GridException>(() => _engine.CreateWorkloadAsync(a, new CreateWorkloadRequest { Name = "x", Size = "huge" }, null, NullObserver.Instance, default));
            Assert.Equal("SizeNotFound", ex.ErrorId);
            var req = new CreateWorkloadRequest { Name = "x" };
            req.Tags["bad/key"] = "v";
            ex = await Assert.ThrowsAsync<GridException>(() => _engine.CreateWorkloadAsync(a, req, null, NullObserver.Instance, default));
            Assert.Equal("InvalidTag", ex.ErrorId);
            Assert.Equal(0, fa.Creates);
        }

        [Fact]
        public async Task InterruptedCreate_IsFinishedByReRun_WithTheSameProviderKey()
        {
            var (a, fa) = await ConnectAsync();
            // Simulate a crash: a Running create whose lease holder is a dead process.
            var op = _engine.Journal.Begin("Create", a, a + "/crashy", a + "/crashy",
                "{\"Name\":\"crashy\",\"Tags\":{},\"Options\":{},\"PowerOn\":true,\"HadSecrets\":false,\"ProviderKey\":\"" + a + "/crashy#first\"}", null);
            MakeLeaseDead(op.Id);
            // The first run reached the provider before dying.
            fa.Keys[a + "/crashy#first"] = fa.Add(a, "crashy").NativeId;
            Assert.Equal(OperationState.Interrupted, _engine.Journal.Get(op.Id)!.State);
            var w = await _engine.CreateWorkloadAsync(a, new CreateWorkloadRequest { Name = "crashy" }, null, NullObserver.Instance, default);
            Assert.Equal(fa.Keys[a + "/crashy#first"], w.NativeId);
            Assert.Single(fa.Workloads.Values, x => x.Name == "crashy");
            Assert.Equal(OperationState.Succeeded, _engine.Journal.Get(op.Id)!.State);
        }

        [Fact]
        public async Task Resume_ReRunsAnInterruptedStop_AndRefusesARunningOne()
        {
            var (a, fa) = await ConnectAsync();
            var w = fa.Add(a, "app");
            var op = _engine.Journal.Begin("Stop", a, w.Id, null, "{\"Action\":\"Stop\",\"NativeId\":\"" + w.NativeId + "\",\"StopMode\":\"TurnOff\"}", null);
            var ex = await Assert.ThrowsAsync<GridException>(() => _engine.ResumeOperationAsync(op.Id, false, NullObserver.Instance, default));
            Assert.Equal("OperationStillRunning", ex.ErrorId); // this very process holds the lease
            MakeLeaseDead(op.Id);
            var done = await _engine.ResumeOperationAsync(op.Id, false, NullObserver.Instance, default);
            Assert.Equal(OperationState.Succeeded, done.State);
            Assert.Equal(WorkloadState.Stopped, fa.Workloads[w.NativeId].State);
            ex = await Assert.ThrowsAsync<GridException>(() => _engine.ResumeOperationAsync(op.Id, false, NullObserver.Instance, default));
            Assert.Equal("OperationNotInterrupted", ex.ErrorId);
        }

        [Fact]
        public async Task Resume_LetsAProviderFinishOrRollBackFromItsCheckpoints()
        {
            var (a, fa) = await ConnectAsync();
            var w = fa.Add(a, "app");
            var op = _engine.Journal.Begin("Move", a, w.Id, null, "{\"Action\":\"Move\",\"NativeId\":\"" + w.NativeId + "\",\"DestinationHost\":\"h2\"}", null);
            _engine.Journal.Checkpoint(op.Id, "saved", "/tmp/x.save");
            MakeLeaseDead(op.Id);
            IReadOnlyDictionary<string, string>? seen = null;
            fa.Resume = (o, s) => { seen = s.Checkpoints; return !o.RollbackRequested; };
            var done = await _engine.ResumeOperationAsync(op.Id, rollback: true, NullObserver.Instance, default);
            Assert.Equal(OperationState.RolledBack, done.State);
            Assert.Equal("/tmp/x.save", seen!["saved"]);
        }

        [Fact]
        public async Task ReadOnlyEngine_RefusesEveryChange()
        {
            var (a, fa) = await ConnectAsync();
            var w = fa.Add(a, "app");
            var ro = GridEngine.Get(_config, readOnly: true);
            var ex = await Assert.ThrowsAsync<GridException>(() => ro.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop }, null, NullObserver.Instance, default));
            Assert.Equal("StateStoreReadOnly", ex.ErrorId);
            ex = await Assert.ThrowsAsync<GridException>(() => ro.ConnectDatacenterAsync(FakeProvider.ProviderName, "x", null, null, new Dictionary<string, string>(), new Dictionary<string, object>(), NullObserver.Instance, default));
            Assert.Equal("StateStoreReadOnly", ex.ErrorId);
            // Reading still works and sees the registration.
            Assert.Contains(ro.GetDatacenters(null), d => d.Name == a);
            Assert.Equal(0, fa.Calls);
        }

        [Fact]
        public async Task Secrets_ReachTheProvider_ButNeverTheStateFile()
        {
            string marker = "S3cr3t-" + Guid.NewGuid().ToString("N");
            var (a, fa) = await ConnectAsync(secrets: new Dictionary<string, object> { ["Credential"] = new NetworkCredential("admin", marker) });
            Assert.Equal(marker, ((NetworkCredential)fa.LastSecrets!["Credential"]).Password);
            GridEngine.Reset();
            foreach (var f in Directory.GetFiles(_dir))
            {
                byte[] bytes;
                using (var s = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete)) { bytes = new byte[s.Length]; s.Read(bytes, 0, bytes.Length); }
                Assert.DoesNotContain(marker, System.Text.Encoding.UTF8.GetString(bytes));
                Assert.DoesNotContain(marker, System.Text.Encoding.Unicode.GetString(bytes));
            }
        }

        [Fact]
        public async Task Move_ToUnknownHost_IsHostNotFound_AndNothingIsJournaled()
        {
            var (a, fa) = await ConnectAsync();
            var w = fa.Add(a, "app");
            int before = _engine.GetOperations(new OperationFilter()).Count;
            var ex = await Assert.ThrowsAsync<GridException>(() => _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Move, DestinationHost = "h9" }, null, NullObserver.Instance, default));
            Assert.Equal("HostNotFound", ex.ErrorId);
            Assert.Equal(before, _engine.GetOperations(new OperationFilter()).Count);
            var moved = await _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Move, DestinationHost = "H2" }, null, NullObserver.Instance, default);
            Assert.Equal("H2", moved!.Host, ignoreCase: true);
        }

        [Fact]
        public async Task Cancellation_StopsTheWork_AndTheJournalSaysSo()
        {
            var (a, fa) = await ConnectAsync();
            var w = fa.Add(a, "app");
            fa.ActionDelay = TimeSpan.FromSeconds(30);
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            var ex = await Assert.ThrowsAsync<GridException>(() => _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop }, null, NullObserver.Instance, cts.Token));
            Assert.Equal(GridErrorKind.Cancelled, ex.Kind);
            // The provider call was in flight and the provider reports the workload still running: Interrupted, resumable.
            var op = _engine.GetOperations(new OperationFilter { Datacenters = new[] { a } }).Single(o => o.Kind == "Stop");
            Assert.Equal(OperationState.Interrupted, op.State);
            fa.ActionDelay = TimeSpan.Zero;
            var resumed = await _engine.ResumeOperationAsync(op.Id, false, NullObserver.Instance, default);
            Assert.Equal(OperationState.Succeeded, resumed.State);
            Assert.Equal(WorkloadState.Stopped, (await _engine.GetWorkloadAsync(w.Id, default)).State);
        }

        [Fact]
        public async Task Cancellation_OfACreateInFlight_IsInterrupted_AndTheReRunFinishesIt_WithoutASecondWorkload()
        {
            var (a, fa) = await ConnectAsync();
            fa.ActionDelay = TimeSpan.FromSeconds(30);
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            var ex = await Assert.ThrowsAsync<GridException>(() => _engine.CreateWorkloadAsync(a, new CreateWorkloadRequest { Name = "cut" }, null, NullObserver.Instance, cts.Token));
            Assert.Equal(GridErrorKind.Cancelled, ex.Kind);
            var op = _engine.GetOperations(new OperationFilter { Datacenters = new[] { a }, Kind = "Create" }).Single();
            Assert.Equal(OperationState.Interrupted, op.State);
            fa.ActionDelay = TimeSpan.Zero;
            var w = await _engine.CreateWorkloadAsync(a, new CreateWorkloadRequest { Name = "cut" }, null, NullObserver.Instance, default);
            Assert.Equal("cut", w.Name);
            Assert.Equal(1, fa.Creates);
            Assert.Equal(OperationState.Succeeded, _engine.Journal.Get(op.Id)!.State); // the interrupted create was finished, not a new one begun
        }

        [Fact]
        public async Task Cancellation_BeforeTheProviderCall_IsCancelled_AndAFinishedCallIsSucceeded()
        {
            var (a, fa) = await ConnectAsync();
            var ws = Enumerable.Range(0, 5).Select(i => fa.Add(a, "w" + i)).ToArray();
            fa.ActionDelay = TimeSpan.FromSeconds(5);
            using var slow = new CancellationTokenSource();
            // Four calls fill the datacenter's concurrency (MaxConcurrencyPerDatacenter 4); the fifth waits for a slot.
            int before = Volatile.Read(ref fa.Calls);
            var busy = ws.Take(4).Select(w => Task.Run(() => _engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop }, null, NullObserver.Instance, slow.Token))).ToArray();
            // Wait until all four are inside the provider (a fixed delay was too short on a loaded machine: the fifth
            // then got a slot, began its call and was interrupted in it instead of cancelled before it).
            var until = DateTime.UtcNow.AddSeconds(60);
            while (Volatile.Read(ref fa.Calls) - before < 4 && DateTime.UtcNow < until) await Task.Delay(10);
            Assert.Equal(4, Volatile.Read(ref fa.Calls) - before);
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            var ex = await Assert.ThrowsAsync<GridException>(() => _engine.InvokeAsync(ws[4], new WorkloadActionRequest { Action = WorkloadAction.Stop }, null, NullObserver.Instance, cts.Token));
            Assert.Equal(GridErrorKind.Cancelled, ex.Kind);
            var fifth = _engine.GetOperations(new OperationFilter { Targets = new[] { ws[4].Id } }).Single();
            Assert.Equal(OperationState.Cancelled, fifth.State);
            Assert.Equal(WorkloadState.Running, (await _engine.GetWorkloadAsync(ws[4].Id, default)).State);
            await Task.WhenAll(busy);
            Assert.All(ws.Take(4), w => Assert.Equal(OperationState.Succeeded, _engine.GetOperations(new OperationFilter { Targets = new[] { w.Id } }).Single().State));
        }

        [Fact]
        public async Task Status_IsConnected_RightAfterConnect()
        {
            var (a, _) = await ConnectAsync();
            Assert.Equal(ConnectionStatus.Connected, _engine.GetDatacenter(a).Status);
            await _engine.DisconnectDatacenterAsync(a, default);
            Assert.Equal(ConnectionStatus.Disconnected, _engine.GetDatacenter(a).Status);
        }

        [Fact]
        public async Task ReadOnlyEngine_BeforeTheFileExists_IsNotCachedPastTheFirstWrite()
        {
            var cfg = new GridConfiguration { StatePath = Path.Combine(_dir, "later.db"), RetryCount = 0, LeaseTimeoutSeconds = 120 };
            using (var throwaway = GridEngine.Get(cfg, readOnly: true))
            {
                Assert.False(throwaway.IsShared); // its caller disposes it
                Assert.Empty(throwaway.GetDatacenters(null));
            }
            Assert.False(File.Exists(cfg.StatePath));
            string name = "late" + Guid.NewGuid().ToString("N").Substring(0, 6);
            _names.Add(name);
            await GridEngine.Get(cfg, readOnly: false).ConnectDatacenterAsync(FakeProvider.ProviderName, name, null, null, new Dictionary<string, string>(), new Dictionary<string, object>(), NullObserver.Instance, default);
            var shared = GridEngine.Get(cfg, readOnly: true);
            Assert.True(shared.IsShared);
            Assert.Contains(shared.GetDatacenters(null), d => d.Name == name);
        }

        /// <summary>Rewrites the lease of an operation so that its holder is a process that no longer exists on this machine.</summary>
        private void MakeLeaseDead(Guid id)
        {
            _engine.Store.Write(c =>
            {
                using var cmd = c.Command("");
                cmd.CommandText = "UPDATE operations SET lease_pid = 999999999 WHERE id = @id";
                cmd.Bind("@id", id.ToString());
                return cmd.ExecuteNonQuery();
            });
        }
    }
}
