using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>Everything a live move (and its resume) needs, recorded as its first checkpoint.</summary>
    internal sealed class LivePlan
    {
        public string Uuid { get; set; } = "";
        public string Name { get; set; } = "";
        public string Source { get; set; } = "";
        public string Target { get; set; } = "";
        public bool WasPaused { get; set; }
        public List<DiskMove> Disks { get; set; } = new List<DiskMove>();
        /// <summary>Live (migratable) definition for the target, disk paths rewritten to the pre-created volumes.</summary>
        public string DestinationXml { get; set; } = "";
        /// <summary>Persistent definition for the target (tags included), paths rewritten.</summary>
        public string PersistentXml { get; set; } = "";
        public bool CopiesStorage => Disks.Any(d => !d.Shared);
        public bool DeclaredShared => Disks.Any(d => d.Shared);
        public string Storage => CopiesStorage ? "copied" : "shared";
    }

    /// <summary>What libvirt measured for a finished migration (virDomainGetJobStats, completed job).</summary>
    public sealed class LiveMoveStats
    {
        public string Method { get; set; } = "live";
        public string Storage { get; set; } = "";
        public ulong? DowntimeMs { get; set; }
        public ulong? TimeElapsedMs { get; set; }
        public ulong? DataTotalBytes { get; set; }
        public ulong? DataProcessedBytes { get; set; }
        public ulong? MemoryTotalBytes { get; set; }
        public ulong? DiskTotalBytes { get; set; }

        internal static readonly string[] Names = { "downtime", "time_elapsed", "data_total", "data_processed", "memory_total", "disk_total" };

        internal static LiveMoveStats From(IReadOnlyDictionary<string, ulong> s, string storage)
        {
            ulong? Get(string k) => s.TryGetValue(k, out var v) ? v : null;
            return new LiveMoveStats
            {
                Storage = storage, DowntimeMs = Get("downtime"), TimeElapsedMs = Get("time_elapsed"), DataTotalBytes = Get("data_total"),
                DataProcessedBytes = Get("data_processed"), MemoryTotalBytes = Get("memory_total"), DiskTotalBytes = Get("disk_total"),
            };
        }

        public override string ToString()
            => string.Format(CultureInfo.InvariantCulture, "{0} ms downtime, {1} ms, {2} bytes to copy ({3} storage)",
                DowntimeMs?.ToString(CultureInfo.InvariantCulture) ?? "?", TimeElapsedMs?.ToString(CultureInfo.InvariantCulture) ?? "?",
                DataTotalBytes?.ToString(CultureInfo.InvariantCulture) ?? "?", Storage);
    }

    /// <summary>
    /// Live migration between two libvirt daemons with virDomainMigrateToURI3 (peer-to-peer: the source daemon
    /// connects to the target). Disks in the source host's image pool are copied during the migration into volumes
    /// pre-created in the target's pool (VIR_MIGRATE_NON_SHARED_DISK + migrate_disks); disks under the datacenter's
    /// SharedStorage paths keep their path and are not copied (VIR_MIGRATE_UNSAFE: libvirt cannot tell a local
    /// folder both hosts see is shared). The source is undefined and its copied disks deleted only after the guest
    /// runs on the target; every step is checkpointed before it acts.
    /// </summary>
    internal static class LiveMigration
    {
        public const string Key = "move.live.plan";
        public const string VolumesKey = "move.live.1.volumes", MigrateKey = "move.live.2.migrate", MigratedKey = "move.live.3.migrated",
            CleanupKey = "move.live.4.cleanup";
        public static readonly string[] StepKeys = { Key, VolumesKey, MigrateKey, MigratedKey, CleanupKey, SaveRestoreMove.DoneKey };

        public const uint VIR_MIGRATE_LIVE = 1 << 0, VIR_MIGRATE_PEER2PEER = 1 << 1, VIR_MIGRATE_PERSIST_DEST = 1 << 3,
            VIR_MIGRATE_NON_SHARED_DISK = 1 << 6, VIR_MIGRATE_UNSAFE = 1 << 9, VIR_MIGRATE_ABORT_ON_ERROR = 1 << 12;
        public const string VIR_MIGRATE_PARAM_PERSIST_XML = "persistent_xml";
        public const string VIR_MIGRATE_PARAM_DEST_NAME = "destination_name";
        public const string VIR_MIGRATE_PARAM_DEST_XML = "destination_xml";
        public const string VIR_MIGRATE_PARAM_MIGRATE_DISKS = "migrate_disks";

        internal sealed record Call(string DestinationUri, uint Flags, IReadOnlyList<KeyValuePair<string, string>> Parameters);

        public static bool CanUse(LibvirtHost src, LibvirtHost dst)
            => (src.Kind == HostKind.LocalDaemon || src.Kind == HostKind.RemoteDaemon)
               && (dst.Kind == HostKind.LocalDaemon || dst.Kind == HostKind.RemoteDaemon)
               && !src.IsTestDriver && !dst.IsTestDriver;

        /// <summary>
        /// The call we make: live, peer-to-peer, persistent on the target (the source's persistent definition, tags
        /// included), aborted on any I/O error; copied disks named in migrate_disks, declared-shared ones left alone.
        /// The source is NOT undefined by libvirt: we read its job statistics first and clean it up as our own step.
        /// </summary>
        public static Call Plan(LibvirtHost dst, LivePlan plan)
        {
            uint flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_ABORT_ON_ERROR;
            if (plan.CopiesStorage) flags |= VIR_MIGRATE_NON_SHARED_DISK;
            if (plan.DeclaredShared) flags |= VIR_MIGRATE_UNSAFE;
            var p = new List<KeyValuePair<string, string>>
            {
                new KeyValuePair<string, string>(VIR_MIGRATE_PARAM_DEST_NAME, plan.Name),
                new KeyValuePair<string, string>(VIR_MIGRATE_PARAM_DEST_XML, plan.DestinationXml),
                new KeyValuePair<string, string>(VIR_MIGRATE_PARAM_PERSIST_XML, plan.PersistentXml),
            };
            foreach (var d in plan.Disks.Where(x => !x.Shared && x.Dev != null))
                p.Add(new KeyValuePair<string, string>(VIR_MIGRATE_PARAM_MIGRATE_DISKS, d.Dev!));
            return new Call(dst.Uri, flags, p);
        }

        internal static void Invoke(DomainHandle d, Call call, object? target)
            => Virt.WithTypedStringParams(call.Parameters, (p, n) => { Virt.MigrateToUri3(d, call.DestinationUri, p, n, call.Flags, target); return 0; });

        /// <summary>Decides per disk: under a SharedStorage path → shared; a volume of the source's pool → copied into the target's pool.</summary>
        internal static LivePlan BuildPlan(LibvirtConnection c, LibvirtHost src, LibvirtHost dst, DomainHandle d, string uuid)
        {
            string inactive = Virt.XmlDesc(d, Virt.XML_INACTIVE | Virt.XML_SECURE | Virt.XML_MIGRATABLE);
            string live = Virt.XmlDesc(d, Virt.XML_SECURE | Virt.XML_MIGRATABLE);
            var info = DomainXml.Parse(live, uuid);
            var plan = new LivePlan { Uuid = uuid, Name = info.Name, Source = src.Name, Target = dst.Name, WasPaused = Virt.State(d).State == StateMap.Paused };
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var disk in info.Disks.Where(x => x.Device == "disk" && x.SourcePath != null))
            {
                var dm = new DiskMove { SourcePath = disk.SourcePath!, Format = disk.Format, Dev = disk.Target };
                if (c.IsSharedPath(dm.SourcePath)) { dm.Shared = true; dm.TargetPath = dm.SourcePath; plan.Disks.Add(dm); continue; }
                using (var vol = Virt.LookupVolumeByPath(src.Conn, dm.SourcePath))
                {
                    if (vol == null)
                        throw GridException.InvalidRequest(
                            $"Disk '{dm.SourcePath}' of {info.Name} is neither a volume of a storage pool on {src.Name} (which a live move copies) nor under the datacenter's SharedStorage paths ({string.Join(", ", c.SharedStorage)}). " +
                            "Connect the datacenter with -SharedStorage <folder both hosts see> if it is shared.", "LiveMoveDiskNotInPool", c.TargetOf(uuid));
                    dm.VolumeName = Virt.VolName(vol);
                    dm.CapacityBytes = Virt.VolInfo(vol).capacity;
                }
                dm.TargetPath = Images.PlannedDiskPath(dst, dm.VolumeName);
                if (dm.TargetPath == dm.SourcePath)
                    throw GridException.Conflict($"The target volume path '{dm.TargetPath}' is the source disk itself: both hosts' pools use one folder. Declare it with -SharedStorage.", "MoveVolumePathMismatch", c.TargetOf(uuid));
                map[dm.SourcePath] = dm.TargetPath;
                plan.Disks.Add(dm);
            }
            plan.DestinationXml = DomainXml.RewritePaths(live, map, uuid);
            plan.PersistentXml = DomainXml.RewritePaths(inactive, map, uuid);
            return plan;
        }

        private static readonly JsonSerializerOptions Json = new JsonSerializerOptions();

        public static void Run(LibvirtConnection c, LibvirtHost src, LibvirtHost dst, DomainHandle d, string uuid, IOperationScope scope)
        {
            if (!Virt.IsActive(d))
                throw GridException.Conflict("Live migration moves a running guest; start it first.", "WorkloadNotRunning", c.TargetOf(uuid));
            using (var existing = Virt.LookupByUuid(dst.Conn, uuid))
                if (existing != null)
                    throw GridException.Conflict($"Host {dst.Name} already has a domain with UUID {uuid} (an unfinished move? use Resume-GridOperation).", "MoveTargetExists", c.TargetOf(uuid));
            var plan = BuildPlan(c, src, dst, d, uuid);
            foreach (var disk in plan.Disks.Where(x => !x.Shared))
            {
                using var v = Virt.LookupVolumeByPath(dst.Conn, disk.TargetPath);
                if (v != null || (dst.IsLocal && File.Exists(disk.TargetPath))) // a remote host's paths are not this machine's
                    throw GridException.Conflict($"Host {dst.Name} already has a disk at '{disk.TargetPath}'.", "MoveTargetDiskExists", c.TargetOf(uuid));
            }
            c.Verbose($"libvirt: live move of {plan.Name} ({uuid}) {src.Name} → {dst.Name}, {plan.Storage} storage");
            LibvirtConnection.Checkpoint(scope, Key, JsonSerializer.Serialize(plan, Json));
            Migrate(c, plan, src, dst, d, scope);
        }

        /// <summary>Pre-creates the volumes, migrates, records the statistics, cleans the source. A failed migration leaves the guest on the source and removes what was pre-created.</summary>
        private static void Migrate(LibvirtConnection c, LivePlan plan, LibvirtHost src, LibvirtHost dst, DomainHandle d, IOperationScope scope)
        {
            object target = c.TargetOf(plan.Uuid);
            try
            {
                LibvirtConnection.Checkpoint(scope, VolumesKey, string.Join("|", plan.Disks.Where(x => !x.Shared).Select(x => x.TargetPath)));
                foreach (var disk in plan.Disks.Where(x => !x.Shared)) EnsureVolume(dst, disk);
                LibvirtConnection.Checkpoint(scope, MigrateKey, dst.Uri);
                Invoke(d, Plan(dst, plan), target);
            }
            catch (GridException ex)
            {
                c.Verbose($"libvirt: live migration failed ({ex.ErrorId}: {ex.Message}); checking both hosts");
                bool finished;
                try { finished = Recover(c, plan, src, dst, rollback: true); }
                catch (GridException rb)
                {
                    throw new GridException(GridErrorKind.Conflict, $"Moving {plan.Name} failed ({ex.Message}) and so did the clean-up ({rb.Message}). Resume-GridOperation can finish or roll it back.",
                        "MoveRollbackFailed", ex) { NativeCode = ex.NativeCode, Target = target };
                }
                if (finished) { LibvirtConnection.Checkpoint(scope, SaveRestoreMove.DoneKey, "finished (live, " + plan.Storage + " storage)"); return; }
                throw;
            }
            Finish(c, plan, src, dst, scope);
        }

        private static void Finish(LibvirtConnection c, LivePlan plan, LibvirtHost src, LibvirtHost dst, IOperationScope scope)
        {
            var stats = ReadStats(plan, src, dst);
            LibvirtConnection.Checkpoint(scope, MigratedKey, JsonSerializer.Serialize(stats, Json));
            c.Verbose($"libvirt: {plan.Name} runs on {dst.Name}: {stats}");
            LibvirtConnection.Checkpoint(scope, CleanupKey, src.Name);
            CleanupSource(plan, src, dst);
            LibvirtConnection.Checkpoint(scope, SaveRestoreMove.DoneKey, "finished (live, " + plan.Storage + " storage)");
        }

        /// <summary>The completed job's statistics: kept on the (still defined) source, and on the target.</summary>
        internal static LiveMoveStats ReadStats(LivePlan plan, LibvirtHost src, LibvirtHost dst)
        {
            foreach (var h in new[] { src, dst })
            {
                using var d = Virt.LookupByUuid(h.Conn, plan.Uuid);
                if (d == null) continue;
                try
                {
                    var (_, s) = Virt.JobStats(d, Virt.JOB_STATS_COMPLETED, LiveMoveStats.Names);
                    if (s.Count > 0) return LiveMoveStats.From(s, plan.Storage);
                }
                catch (GridException) { }
            }
            return new LiveMoveStats { Storage = plan.Storage };
        }

        private static void EnsureVolume(LibvirtHost dst, DiskMove disk)
        {
            using var pool = Virt.LookupPool(dst.Conn, dst.ImagePool)
                ?? throw GridException.NotFound($"Storage pool '{dst.ImagePool}' does not exist on host '{dst.Name}'.", "StoragePoolNotFound", dst.ImagePool);
            using var vol = Virt.LookupVolume(pool, disk.VolumeName!) ?? Virt.CreateVolume(pool, DomainXml.VolumeXml(disk.VolumeName!, disk.CapacityBytes, disk.Format));
            string actual = Virt.VolPath(vol);
            if (actual != disk.TargetPath)
                throw GridException.Conflict($"Volume path on {dst.Name} is '{actual}', planned '{disk.TargetPath}'.", "MoveVolumePathMismatch", disk.VolumeName);
        }

        /// <summary>The guest runs on the target: make sure it is persistent there, then undefine the source and delete its copied disks.</summary>
        private static void CleanupSource(LivePlan plan, LibvirtHost src, LibvirtHost dst)
        {
            using (var t = Virt.LookupByUuid(dst.Conn, plan.Uuid))
                if (t != null && Virt.IsPersistent(t) == false) { using var _ = Virt.Define(dst.Conn, plan.PersistentXml); }
            using (var s = Virt.LookupByUuid(src.Conn, plan.Uuid))
            {
                if (s != null)
                {
                    if (Virt.IsActive(s)) throw GridException.Conflict($"Domain {plan.Uuid} still runs on {src.Name}: refusing to undefine it.", "MoveHostRunning", plan.Uuid);
                    Virt.Undefine(s, plan.Uuid);
                }
            }
            foreach (var disk in plan.Disks.Where(x => !x.Shared)) Images.Delete(src, disk.SourcePath);
        }

        /// <summary>The guest did not move: undefine any inactive leftover on the target and delete the pre-created volumes.</summary>
        private static void CleanTarget(LivePlan plan, LibvirtHost dst)
        {
            using (var t = Virt.LookupByUuid(dst.Conn, plan.Uuid))
            {
                if (t != null)
                {
                    if (Virt.IsActive(t)) throw GridException.Conflict($"Domain {plan.Uuid} runs on {dst.Name}: refusing to remove it.", "MoveHostRunning", plan.Uuid);
                    Virt.Undefine(t, plan.Uuid);
                }
            }
            foreach (var disk in plan.Disks.Where(x => !x.Shared)) Images.Delete(dst, disk.TargetPath);
        }

        /// <summary>Waits for a migration job still running on the source (the client that started it may be gone; the daemons carry on), aborting it on rollback.</summary>
        private static void WaitForJob(LibvirtConnection c, LivePlan plan, LibvirtHost src, bool abort, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            bool aborted = false;
            while (true)
            {
                using var s = Virt.LookupByUuid(src.Conn, plan.Uuid);
                if (s == null || !Virt.IsActive(s)) return;
                int type;
                try { type = Virt.JobStats(s, 0, Array.Empty<string>()).Type; }
                catch (GridException) { return; } // the domain went away (migrated) between the calls
                if (type == Virt.JOB_NONE) return;
                if (abort && !aborted)
                {
                    c.Verbose($"libvirt: aborting the migration job of {plan.Name} on {src.Name}");
                    try { Virt.AbortJob(s, plan.Uuid); } catch (GridException ex) { c.Verbose("libvirt: abort: " + ex.Message); }
                    aborted = true;
                }
                if (DateTime.UtcNow > deadline)
                    throw new GridException(GridErrorKind.Unavailable, $"The migration job of {plan.Name} on {src.Name} did not end within {timeout.TotalSeconds:0} s; resume again later.", "MoveStillRunning") { IsTransient = true, Target = c.TargetOf(plan.Uuid) };
                Thread.Sleep(200);
            }
        }

        /// <summary>
        /// Brings a live move to an end from what both hosts say (after any running migration job ended): running on
        /// the target → finished (source cleaned); still on the source → rolled back (target cleaned), or, for a resume
        /// that may go forward, migrated again. Returns true when the guest ends on the target.
        /// </summary>
        internal static bool Recover(LibvirtConnection c, LivePlan plan, LibvirtHost src, LibvirtHost dst, bool rollback)
        {
            WaitForJob(c, plan, src, abort: rollback, TimeSpan.FromMinutes(5));
            var s = Probe(src, plan.Uuid);
            var t = Probe(dst, plan.Uuid);
            if (s.Active && t.Active)
                throw GridException.Conflict($"{plan.Name} ({plan.Uuid}) is running on both {src.Name} and {dst.Name}; it was started outside this move. Stop one copy by hand.", "MoveGuestRunningTwice", plan.Uuid);
            if (t.Active)
            {
                CleanupSource(plan, src, dst);
                return true;
            }
            if (s.Active)
            {
                CleanTarget(plan, dst);
                if (!plan.WasPaused && s.State == StateMap.Paused)
                {
                    using var sd = Virt.LookupByUuid(src.Conn, plan.Uuid);
                    if (sd != null) Virt.Resume(sd, plan.Uuid);
                }
                return false;
            }
            // Running nowhere (QEMU died during the move): back on the source, cold, if it is still defined there.
            CleanTarget(plan, dst);
            if (s.Defined)
            {
                c.Verbose($"libvirt: {plan.Name} runs on neither host after the interrupted move; starting it on {src.Name}");
                using var sd = Virt.LookupByUuid(src.Conn, plan.Uuid);
                if (sd != null) Virt.Create(sd, plan.Uuid);
            }
            return false;
        }

        private static (bool Defined, bool Active, int State) Probe(LibvirtHost h, string uuid)
        {
            using var d = Virt.LookupByUuid(h.Conn, uuid);
            if (d == null) return (false, false, 0);
            return (true, Virt.IsActive(d), Virt.State(d).State);
        }

        /// <summary>
        /// Resume-GridOperation of an interrupted live move. Forward: a guest already on the target is finished; one
        /// still on the source is migrated again. Rollback (-Rollback): a running migration is aborted and the guest
        /// stays on (or returns to) the source, unless it already runs on the target (never undone).
        /// </summary>
        public static bool Resume(LibvirtConnection c, IReadOnlyDictionary<string, string> checkpoints, IOperationScope scope, bool rollback)
        {
            if (checkpoints.ContainsKey(SaveRestoreMove.DoneKey)) return true;
            LivePlan plan;
            try { plan = JsonSerializer.Deserialize<LivePlan>(checkpoints[Key], Json) ?? throw new JsonException("empty plan"); }
            catch (JsonException ex) { throw new GridException(GridErrorKind.StateStore, "The live move's plan checkpoint is unreadable: " + ex.Message, "MoveCheckpointCorrupt"); }
            var src = c.HostByName(plan.Source);
            var dst = c.HostByName(plan.Target);
            LibvirtConnection.Checkpoint(scope, "move.resume", (rollback ? "rollback " : "finish ") + DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture));
            bool onTarget = Recover(c, plan, src, dst, rollback);
            if (onTarget)
            {
                var stats = ReadStats(plan, src, dst);
                LibvirtConnection.Checkpoint(scope, MigratedKey, JsonSerializer.Serialize(stats, Json));
                LibvirtConnection.Checkpoint(scope, SaveRestoreMove.DoneKey, "finished (live, " + plan.Storage + " storage)");
                return true;
            }
            if (rollback) return false;
            // Still on the source, nothing left on the target: migrate again (the journal's steps are re-recorded).
            using var d = Virt.LookupByUuid(src.Conn, plan.Uuid);
            if (d == null || !Virt.IsActive(d)) return false;
            c.Verbose($"libvirt: {plan.Name} is still on {src.Name}: migrating it again");
            Migrate(c, plan, src, dst, d, scope);
            return true;
        }
    }
}
