using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>Everything a save/restore move (and its resume) needs, recorded as the first checkpoint.</summary>
    internal sealed class MovePlan
    {
        public string Uuid { get; set; } = "";
        public string Name { get; set; } = "";
        public string Source { get; set; } = "";
        public string Target { get; set; } = "";
        public bool WasActive { get; set; }
        public bool WasPaused { get; set; }
        public string SourceSave { get; set; } = "";
        public string TargetSave { get; set; } = "";
        public List<DiskMove> Disks { get; set; } = new List<DiskMove>();
        /// <summary>Inactive (persistent) definition for the target, paths rewritten.</summary>
        public string TargetXml { get; set; } = "";
        /// <summary>Live definition for virDomainRestoreFlags' dxml (QEMU only; null for the test driver), paths rewritten.</summary>
        public string? RestoreXml { get; set; }
    }

    internal sealed class DiskMove
    {
        public string SourcePath { get; set; } = "";
        public string TargetPath { get; set; } = "";
        /// <summary>Same path on both hosts (shared storage): nothing to copy or delete.</summary>
        public bool Shared { get; set; }
        public string? VolumeName { get; set; }
        public ulong CapacityBytes { get; set; }
        public string? Format { get; set; }
        /// <summary>The guest's device name (target dev, e.g. "hda"): a live move names the disks it copies.</summary>
        public string? Dev { get; set; }
    }

    /// <summary>
    /// Moves a guest between hosts without a migration-capable daemon: save its memory on the source
    /// (virDomainSaveFlags), carry disks and the memory image to the target, define it there, restore it
    /// (virDomainRestoreFlags), then undefine the source. Each step is checkpointed BEFORE it acts; a failed
    /// step rolls back at once, and an interrupted move is finished or rolled back by <see cref="Resume"/>
    /// from what the checkpoints and the hosts say. The invariant: the guest never runs on both hosts, and
    /// is never left defined nowhere (source disks and definition go only after the target runs).
    /// </summary>
    internal sealed class SaveRestoreMove
    {
        public const string PlanKey = "move.plan";
        public const string SaveKey = "move.1.save", CopyKey = "move.2.copy", DefineKey = "move.3.define",
            RestoreKey = "move.4.restore", CleanupKey = "move.5.cleanup", DoneKey = "move.done";
        public static readonly string[] StepKeys = { PlanKey, SaveKey, CopyKey, DefineKey, RestoreKey, CleanupKey, DoneKey };

        private readonly LibvirtConnection _c;
        public SaveRestoreMove(LibvirtConnection c) { _c = c; }

        private sealed class StepFailed : Exception
        {
            public StepFailed(GridException inner) : base(inner.Message, inner) { Inner = inner; }
            public GridException Inner { get; }
        }

        private static void Step(IOperationScope scope, string key, string value, Action act)
        {
            LibvirtConnection.Checkpoint(scope, key, value); // write-ahead; a journal failure is an interruption, not a step failure
            try { act(); }
            catch (GridException ex) { throw new StepFailed(ex); }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException) { throw new StepFailed(LibvirtConnection.Wrap(ex, key)); }
        }

        public void Move(string uuid, LibvirtHost src, LibvirtHost dst, IOperationScope scope, CancellationToken ct)
        {
            if (!src.IsLocal || !dst.IsLocal)
                throw GridException.Unsupported($"A save/restore move needs both hosts on this machine ({src.Name} → {dst.Name}); live migration needs libvirt daemons at both ends.",
                    "SaveRestoreMoveNeedsLocalHosts", _c.TargetOf(uuid));
            Move(uuid, src, new LocalMoveHost(dst), scope, ct);
        }

        /// <summary>The move engine: the source is a host of this process; the target may be driven from elsewhere.</summary>
        internal void Move(string uuid, LibvirtHost src, IMoveHost dst, IOperationScope scope, CancellationToken ct)
        {
            var srcOps = new LocalMoveHost(src);
            using var d = Virt.LookupByUuid(src.Conn, uuid) ?? throw GridException.NotFound($"Domain {uuid} vanished from host {src.Name}.", "WorkloadNotFound", _c.TargetOf(uuid));
            var (state, _) = Virt.State(d);
            if (state == StateMap.Shutoff && Virt.HasManagedSave(d))
                throw GridException.Conflict("The workload is suspended (managed save): start it, or stop it with -TurnOff, before moving it.", "WorkloadSuspended", _c.TargetOf(uuid));
            if (state == StateMap.Shutdown || state == StateMap.Crashed || state == StateMap.PmSuspended)
                throw GridException.Conflict($"The workload is {StateMap.NativeName(state)}: it can be moved running, paused or shut off.", "WorkloadBusy", _c.TargetOf(uuid));
            if (dst.Probe(uuid).Defined)
                throw GridException.Conflict($"Host {dst.Name} already has a domain with UUID {uuid} (an unfinished move? use Resume-GridOperation).", "MoveTargetExists", _c.TargetOf(uuid));

            var plan = BuildPlan(uuid, src, dst, d, state);
            foreach (var disk in plan.Disks.Where(x => !x.Shared))
            {
                bool exists = dst.FileStorage ? File.Exists(disk.TargetPath)
                    : dst is LocalMoveHost lm && Virt.LookupVolumeByPath(lm.Host.Conn, disk.TargetPath) is { } v && DisposeTrue(v);
                if (exists) throw GridException.Conflict($"Host {dst.Name} already has a disk at '{disk.TargetPath}'.", "MoveTargetDiskExists", _c.TargetOf(uuid));
            }
            _c.Verbose($"libvirt: {(plan.WasActive ? "save/restore" : "cold")} move of {plan.Name} ({uuid}) {src.Name} → {dst.Name}" + " (no live migration: it needs libvirt daemons at both ends and a running guest)");
            LibvirtConnection.Checkpoint(scope, PlanKey, JsonSerializer.Serialize(plan));
            try
            {
                if (plan.WasActive)
                {
                    Step(scope, SaveKey, plan.SourceSave, () =>
                    {
                        Directory.CreateDirectory(Path.GetDirectoryName(plan.SourceSave)!);
                        if (File.Exists(plan.SourceSave)) File.Delete(plan.SourceSave);
                        Virt.Save(d, plan.SourceSave, _c.TargetOf(uuid));
                    });
                }
                ct.ThrowIfCancellationRequested();
                Step(scope, CopyKey, dst.Name, () => Copy(plan, dst));
                Step(scope, DefineKey, dst.Name, () => dst.Define(plan.TargetXml));
                if (plan.WasActive) Step(scope, RestoreKey, plan.TargetSave, () => RestoreOn(dst, plan, plan.TargetSave, plan.RestoreXml));
                Step(scope, CleanupKey, src.Name, () => CleanupSource(plan, srcOps));
                LibvirtConnection.Checkpoint(scope, DoneKey, plan.WasActive ? "finished (save-restore)" : "finished (cold)");
            }
            catch (StepFailed f)
            {
                _c.Verbose($"libvirt: move step failed ({f.Inner.ErrorId}); recovering");
                bool finished;
                try { finished = Recover(plan, srcOps, dst, forward: false); }
                catch (GridException rb)
                {
                    throw new GridException(GridErrorKind.Conflict,
                        $"Moving {plan.Name} failed ({f.Inner.Message}) and so did the rollback ({rb.Message}). Resume-GridOperation can finish or roll it back.",
                        "MoveRollbackFailed", f.Inner) { NativeCode = f.Inner.NativeCode, Target = _c.TargetOf(uuid) };
                }
                if (finished) return; // the guest already runs on the target: the failure was in the clean-up, which is done now
                throw f.Inner;
            }
        }

        private static bool DisposeTrue(IDisposable d) { d.Dispose(); return true; }

        private MovePlan BuildPlan(string uuid, LibvirtHost src, IMoveHost dst, DomainHandle d, int state)
        {
            var inactive = Virt.XmlDesc(d, Virt.XML_INACTIVE | Virt.XML_SECURE);
            var info = DomainXml.Parse(inactive, uuid);
            bool active = Virt.IsActive(d);
            var plan = new MovePlan
            {
                Uuid = uuid, Name = info.Name, Source = src.Name, Target = dst.Name,
                WasActive = active, WasPaused = state == StateMap.Paused,
                SourceSave = Path.Combine(src.SaveDirectory, uuid + ".save"),
                TargetSave = Path.Combine(dst.SaveDirectory, uuid + ".save"),
            };
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var disk in info.Disks.Where(x => x.Device == "disk" && x.SourcePath != null))
            {
                var dm = new DiskMove { SourcePath = disk.SourcePath!, Format = disk.Format };
                string fileName = Path.GetFileName(dm.SourcePath);
                if (src.FileStorage)
                {
                    dm.VolumeName = fileName;
                    dm.CapacityBytes = File.Exists(dm.SourcePath) ? (ulong)new FileInfo(dm.SourcePath).Length : 0;
                }
                else
                {
                    using var vol = Virt.LookupVolumeByPath(src.Conn, dm.SourcePath);
                    if (vol != null) { dm.VolumeName = Virt.VolName(vol); dm.CapacityBytes = Virt.VolInfo(vol).capacity; }
                }
                if (dm.VolumeName == null) { dm.Shared = true; dm.TargetPath = dm.SourcePath; }
                else dm.TargetPath = dst.PlannedDiskPath(dm.VolumeName);
                if (dm.TargetPath == dm.SourcePath) dm.Shared = true;
                map[dm.SourcePath] = dm.TargetPath;
                plan.Disks.Add(dm);
            }
            foreach (var serial in info.SerialFiles)
            {
                if (src.EmbedRoot != null && serial.StartsWith(src.EmbedRoot.TrimEnd('/') + "/", StringComparison.Ordinal))
                    map[serial] = Path.Combine(dst.LogsDirectory, Path.GetFileName(serial));
            }
            plan.TargetXml = DomainXml.RewritePaths(inactive, map, uuid);
            if (active && !dst.IsTestDriver)
                plan.RestoreXml = DomainXml.RewritePaths(Virt.XmlDesc(d, Virt.XML_SECURE | Virt.XML_MIGRATABLE), map, uuid);
            return plan;
        }

        private static void Copy(MovePlan plan, IMoveHost dst)
        {
            foreach (var disk in plan.Disks.Where(x => !x.Shared)) dst.EnsureDisk(disk);
            if (dst.FileStorage) Directory.CreateDirectory(dst.LogsDirectory); // the serial log is re-created there
            if (plan.WasActive && plan.TargetSave != plan.SourceSave && !File.Exists(plan.TargetSave))
                Images.CopyAtomically(plan.SourceSave, plan.TargetSave);
        }

        /// <summary>Restores unless already running there; a guest that was paused stays paused (the test driver restores everything running).</summary>
        private static void RestoreOn(IMoveHost h, MovePlan plan, string file, string? dxml)
        {
            if (h.Probe(plan.Uuid).Active) return;
            h.Restore(file, dxml);
            if (plan.WasPaused && h.Probe(plan.Uuid).State == StateMap.Running) h.Suspend(plan.Uuid);
        }

        private static void CleanupSource(MovePlan plan, IMoveHost src)
        {
            src.Undefine(plan.Uuid);
            foreach (var disk in plan.Disks.Where(x => !x.Shared)) src.DeleteDisk(disk.SourcePath);
            DeleteSaves(plan);
        }

        private static void DeleteSaves(MovePlan plan)
        {
            foreach (var f in new[] { plan.SourceSave, plan.TargetSave, plan.SourceSave + ".partial", plan.TargetSave + ".partial" }.Distinct())
                if (File.Exists(f)) File.Delete(f);
        }

        /// <summary>Finishes (true) or rolls back (false) an interrupted move from its checkpoints.</summary>
        public bool Resume(IReadOnlyDictionary<string, string> checkpoints, IOperationScope scope, CancellationToken ct, bool rollback = false)
        {
            if (checkpoints.ContainsKey(DoneKey)) return true;
            MovePlan plan;
            try { plan = JsonSerializer.Deserialize<MovePlan>(checkpoints[PlanKey]) ?? throw new JsonException("empty plan"); }
            catch (JsonException ex)
            {
                throw new GridException(GridErrorKind.StateStore, "The move's plan checkpoint is unreadable: " + ex.Message, "MoveCheckpointCorrupt");
            }
            var src = new LocalMoveHost(_c.HostByName(plan.Source));
            var dst = new LocalMoveHost(_c.HostByName(plan.Target));
            return Resume(plan, checkpoints, src, dst, scope, rollback);
        }

        /// <summary>
        /// Finishes the move (true) when the memory image exists or the guest already runs on the target; otherwise,
        /// or when <paramref name="rollback"/> is asked, puts the guest back on the source (false). A guest already
        /// running on the target is never rolled back (it would have to be saved again): the move is finished.
        /// </summary>
        internal bool Resume(MovePlan plan, IReadOnlyDictionary<string, string> checkpoints, IMoveHost src, IMoveHost dst, IOperationScope scope, bool rollback = false)
        {
            LibvirtConnection.Checkpoint(scope, "move.resume", (rollback ? "rollback " : "finish ") + DateTimeOffset.UtcNow.ToString("o"));
            return Recover(plan, src, dst, forward: !rollback);
        }

        /// <summary>
        /// Looks at both hosts and brings the move to a safe end. Forward when possible (or required: once the
        /// guest runs on the target it is never started on the source again); otherwise back to the source.
        /// </summary>
        internal bool Recover(MovePlan plan, IMoveHost src, IMoveHost dst, bool forward)
        {
            var s = src.Probe(plan.Uuid);
            var t = dst.Probe(plan.Uuid);

            if (s.Active && t.Active)
                throw GridException.Conflict($"{plan.Name} ({plan.Uuid}) is running on both {src.Name} and {dst.Name}; it was started outside this move. Stop one copy by hand.", "MoveGuestRunningTwice", plan.Uuid);

            if (t.Active)
            {
                // Point of no return passed: finish.
                dst.Define(plan.TargetXml);
                CleanupSource(plan, src);
                return true;
            }

            if (s.Active)
            {
                // The save never happened (or failed): the guest still runs on the source.
                CleanTarget(plan, dst);
                DeleteSaves(plan);
                if (!plan.WasPaused && s.State == StateMap.Paused) src.Resume(plan.Uuid); // an aborted save leaves it paused
                return false;
            }

            bool haveMemory = File.Exists(plan.TargetSave) || File.Exists(plan.SourceSave);
            if (forward && (!plan.WasActive || haveMemory))
            {
                try
                {
                    Copy(plan, dst);
                    dst.Define(plan.TargetXml);
                    if (plan.WasActive) RestoreOn(dst, plan, plan.TargetSave, plan.RestoreXml);
                    CleanupSource(plan, src);
                    return true;
                }
                catch (GridException ex)
                {
                    _c.Verbose($"libvirt: finishing the move failed ({ex.ErrorId}: {ex.Message}); rolling back");
                    if (dst.Probe(plan.Uuid).Active) { CleanupSource(plan, src); return true; }
                }
            }

            // Roll back onto the source.
            CleanTarget(plan, dst);
            if (plan.WasActive)
            {
                bool defined = src.Probe(plan.Uuid).Defined;
                if (File.Exists(plan.SourceSave)) RestoreOn(src, plan, plan.SourceSave, null);
                else if (File.Exists(plan.TargetSave) && defined) RestoreOn(src, plan, plan.TargetSave, null);
                else if (defined)
                {
                    _c.Verbose($"libvirt: no memory image of {plan.Name} survives; cold-starting it on {src.Name}");
                    src.Start(plan.Uuid);
                }
            }
            DeleteSaves(plan);
            return false;
        }

        private static void CleanTarget(MovePlan plan, IMoveHost dst)
        {
            if (dst.Probe(plan.Uuid) is { Defined: true, Active: false }) dst.Undefine(plan.Uuid);
            foreach (var disk in plan.Disks.Where(x => !x.Shared))
            {
                dst.DeleteDisk(disk.TargetPath);
                if (File.Exists(disk.TargetPath + ".partial")) File.Delete(disk.TargetPath + ".partial");
            }
            if (plan.TargetSave != plan.SourceSave && File.Exists(plan.TargetSave)) File.Delete(plan.TargetSave);
        }
    }
}
