using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt;
using GridAutomation.Providers.Libvirt.Native;
using Xunit;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>Stands for the process dying: thrown from the journal write of one checkpoint.</summary>
    public sealed class SimulatedCrash : Exception
    {
        public SimulatedCrash(string key) : base("simulated crash at checkpoint " + key) { }
    }

    /// <summary>A scope that "crashes" at one checkpoint: either before the journal write, or after it (before the step acts).</summary>
    internal sealed class CrashingScope : IOperationScope
    {
        private readonly Dictionary<string, string> _cp = new Dictionary<string, string>();
        private readonly string _crashAt;
        private readonly bool _recordFirst;
        public Action<string>? OnCheckpoint;
        public CrashingScope(string crashAt, bool recordFirst) { _crashAt = crashAt; _recordFirst = recordFirst; }
        public Guid OperationId { get; } = Guid.NewGuid();
        public string IdempotencyKey => OperationId.ToString("N");
        public bool IsResume => false;
        public IReadOnlyDictionary<string, string> Checkpoints => _cp;
        public void Checkpoint(string key, string value)
        {
            OnCheckpoint?.Invoke(key);
            if (key == _crashAt && !_recordFirst) throw new SimulatedCrash(key);
            _cp[key] = value;
            if (key == _crashAt) throw new SimulatedCrash(key);
        }
        public void Report(GridProgress progress) { }
    }

    public sealed class MoveResumeTests
    {
        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

        private static async Task<GridWorkload> CreateOnA(IGridConnection c, string name)
        {
            var req = new CreateWorkloadRequest { Name = name, Image = "base.img", Size = "micro", TargetHost = "host-a", IdempotencyKey = "k-" + name };
            req.Tags["team"] = "blue";
            return await c.CreateWorkloadAsync(req, new TestScope(req.IdempotencyKey), Ct());
        }

        /// <summary>Where the domain is defined and where it runs, per host, straight from libvirt.</summary>
        private static (List<string> Defined, List<string> Active) Where(IGridConnection c, string uuid)
        {
            var lc = (LibvirtConnection)c;
            var defined = new List<string>(); var active = new List<string>();
            foreach (var h in lc.Hosts)
            {
                using var d = Virt.LookupByUuid(h.Conn, uuid);
                if (d == null) continue;
                defined.Add(h.Name);
                if (Virt.IsActive(d)) active.Add(h.Name);
            }
            return (defined, active);
        }

        private static List<string> Volumes(IGridConnection c, string host)
        {
            var h = ((LibvirtConnection)c).Hosts.Single(x => x.Name == host);
            using var pool = Virt.LookupPool(h.Conn, "default")!;
            var vols = Virt.ListVolumes(pool);
            try { return vols.Select(Virt.VolName).ToList(); } finally { Virt.DisposeAll(vols); }
        }

        public static IEnumerable<object[]> CrashPoints()
        {
            foreach (var key in SaveRestoreMove.StepKeys)
                foreach (var recordFirst in new[] { false, true })
                    yield return new object[] { key, recordFirst };
        }

        [LibvirtTheory]
        [MemberData(nameof(CrashPoints))]
        public async Task InterruptedMove_IsFinishedOrRolledBack_NeverTwiceNeverNowhere(string crashAt, bool recordFirst)
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            using var dc = new TestDriverDatacenter("host-a", "host-b");
            using var c = dc.Connect();
            var w = await CreateOnA(c, "mv-" + crashAt.Replace('.', '-'));
            Assert.Equal("host-a", w.Host);
            string disk = w.Name + "-disk0.img";

            var scope = new CrashingScope(crashAt, recordFirst);
            await Assert.ThrowsAsync<SimulatedCrash>(() => c.MoveAsync(w.NativeId, "host-b", scope, Ct()));

            // Right after the "crash": never running twice.
            var (_, activeNow) = Where(c, w.NativeId);
            Assert.True(activeNow.Count <= 1, "running on " + string.Join(",", activeNow));

            if (!scope.Checkpoints.ContainsKey(SaveRestoreMove.PlanKey))
            {
                // Crashed before anything was recorded or done: nothing to resume, the guest never left.
                Assert.Equal(new[] { "host-a" }, activeNow);
                return;
            }

            var op = new GridOperation { Id = scope.OperationId, Kind = "Move", Datacenter = "lab", Target = w.Id, State = OperationState.Interrupted };
            foreach (var kv in scope.Checkpoints) op.Checkpoints[kv.Key] = kv.Value;
            var resumeScope = new TestScope { IsResume = true };
            bool finished = await c.ResumeAsync(op, resumeScope, Ct());

            string expectHost = finished ? "host-b" : "host-a";
            var (defined, active) = Where(c, w.NativeId);
            Assert.Equal(new[] { expectHost }, defined);
            Assert.Equal(new[] { expectHost }, active);
            // The memory image survived: the guest was restored, not cold-booted (test driver: state reason 'restored' = 2 in virDomainRunningReason).
            var got = await c.GetWorkloadAsync(w.NativeId, Ct());
            Assert.Equal(WorkloadState.Running, got.State);
            Assert.Equal(expectHost, got.Host);
            Assert.Equal("blue", got.Tags["team"]);
            // Disks: on the guest's host only.
            Assert.Contains(disk, Volumes(c, expectHost));
            Assert.DoesNotContain(disk, Volumes(c, finished ? "host-a" : "host-b"));
            // No memory image left behind.
            Assert.False(Directory.Exists(Path.Combine(dc.Dir, "save")) && Directory.EnumerateFiles(Path.Combine(dc.Dir, "save")).Any(),
                "save files left: " + string.Join(",", Directory.Exists(Path.Combine(dc.Dir, "save")) ? Directory.EnumerateFiles(Path.Combine(dc.Dir, "save")) : Array.Empty<string>()));

            // Crashing before the save acts rolls back; once memory is saved the move is finished.
            bool saved = scope.Checkpoints.ContainsKey(SaveRestoreMove.CopyKey) || (crashAt != SaveRestoreMove.SaveKey && crashAt != SaveRestoreMove.PlanKey);
            Assert.Equal(saved, finished);

            // Resuming again changes nothing.
            Assert.Equal(finished, await c.ResumeAsync(op, new TestScope { IsResume = true }, Ct()));
            Assert.Equal(new[] { expectHost }, Where(c, w.NativeId).Active);
        }

        [LibvirtTheory]
        [InlineData("move.2.copy", false)]
        [InlineData("move.3.define", false)]
        [InlineData("move.4.restore", false)]
        [InlineData("move.5.cleanup", true)] // already running on the target: finished, never undone
        public async Task ResumeWithRollback_PutsTheGuestBackOnTheSource_UnlessItRunsOnTheTarget(string crashAt, bool expectFinished)
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            using var dc = new TestDriverDatacenter("host-a", "host-b");
            using var c = dc.Connect();
            var w = await CreateOnA(c, "rb-" + crashAt.Replace('.', '-'));
            var scope = new CrashingScope(crashAt, recordFirst: true);
            await Assert.ThrowsAsync<SimulatedCrash>(() => c.MoveAsync(w.NativeId, "host-b", scope, Ct()));
            var op = new GridOperation { Id = scope.OperationId, Kind = "Move", Datacenter = "lab", Target = w.Id, State = OperationState.Interrupted, RollbackRequested = true };
            foreach (var kv in scope.Checkpoints) op.Checkpoints[kv.Key] = kv.Value;
            bool finished = await c.ResumeAsync(op, new TestScope { IsResume = true }, Ct());
            Assert.Equal(expectFinished, finished);
            string host = finished ? "host-b" : "host-a";
            var (defined, active) = Where(c, w.NativeId);
            Assert.Equal(new[] { host }, defined);
            Assert.Equal(new[] { host }, active);
            Assert.Contains(w.Name + "-disk0.img", Volumes(c, host));
            Assert.DoesNotContain(w.Name + "-disk0.img", Volumes(c, finished ? "host-a" : "host-b"));
        }

        [LibvirtFact]
        public async Task FailingStep_RollsBackAtOnce_GuestContinuesOnSource()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            using var dc = new TestDriverDatacenter("host-a", "host-b");
            using var c = dc.Connect();
            var w = await CreateOnA(c, "mv-fail");
            var lc = (LibvirtConnection)c;
            var scope = new CrashingScope("never", false);
            // Just before the define step acts, someone defines another domain of the same name on the target: the define fails.
            scope.OnCheckpoint = key =>
            {
                if (key != SaveRestoreMove.DefineKey) return;
                var xml = $"<domain type='test'><name>{w.Name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>";
                using var _ = Virt.Define(lc.Hosts[1].Conn, xml);
            };
            var ex = await Assert.ThrowsAsync<GridException>(() => c.MoveAsync(w.NativeId, "host-b", scope, Ct()));
            Assert.NotNull(ex.NativeCode);
            var (defined, active) = Where(c, w.NativeId);
            Assert.Equal(new[] { "host-a" }, defined);
            Assert.Equal(new[] { "host-a" }, active);
            Assert.DoesNotContain(w.Name + "-disk0.img", Volumes(c, "host-b"));
        }

        [LibvirtFact]
        public async Task Move_OfStoppedGuest_IsCold_AndKeepsItStopped()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            using var dc = new TestDriverDatacenter("host-a", "host-b");
            using var c = dc.Connect();
            var w = await CreateOnA(c, "mv-cold");
            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct());
            var scope = new TestScope();
            await c.MoveAsync(w.NativeId, "host-b", scope, Ct());
            Assert.False(scope.Checkpoints.ContainsKey(SaveRestoreMove.SaveKey));
            Assert.True(scope.Checkpoints.ContainsKey(SaveRestoreMove.DoneKey));
            var got = await c.GetWorkloadAsync(w.NativeId, Ct());
            Assert.Equal("host-b", got.Host);
            Assert.Equal(WorkloadState.Stopped, got.State);
            Assert.Equal(new[] { "host-b" }, Where(c, w.NativeId).Defined);
        }

        [LibvirtFact]
        public async Task Move_Paused_StaysPaused_AndCheckpointsEveryStepInOrder()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            using var dc = new TestDriverDatacenter("host-a", "host-b");
            using var c = dc.Connect();
            var w = await CreateOnA(c, "mv-paused");
            var lc = (LibvirtConnection)c;
            using (var d = Virt.LookupByUuid(lc.Hosts[0].Conn, w.NativeId)!) Virt.Suspend(d);
            Assert.Equal(WorkloadState.Paused, (await c.GetWorkloadAsync(w.NativeId, Ct())).State);
            var order = new List<string>();
            var scope = new CrashingScope("never", false) { OnCheckpoint = order.Add };
            await c.MoveAsync(w.NativeId, "host-b", scope, Ct());
            Assert.Equal(SaveRestoreMove.StepKeys, order);
            Assert.Equal("finished (save-restore)", scope.Checkpoints[SaveRestoreMove.DoneKey]); // the method used, for the journal's reader
            var got = await c.GetWorkloadAsync(w.NativeId, Ct());
            Assert.Equal("host-b", got.Host);
            Assert.Equal(WorkloadState.Paused, got.State);
            await c.StartAsync(w.NativeId, new TestScope(), Ct());
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Ct())).State);
        }
    }
}
