using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.VSphere.Vim25;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>
    /// Recovery points of a RUNNING VM (issue 17): CreateSnapshot_Task (memory=false, quiesce=false: crash-consistent)
    /// redirects the guest's writes to delta disks, so the base disks stop changing; they are downloaded from their
    /// datastore (<c>/folder/</c>) as the cold export does, with the file names the SNAPSHOT's configuration names
    /// (the base disks, not the deltas the running VM now writes); then RemoveSnapshot_Task (consolidate=true) merges
    /// the deltas back. The snapshot is named "gridpoint-&lt;operation key&gt;" and is removed whatever happens: after a
    /// failed or cancelled download, and before a new point is taken every "gridpoint-" snapshot left on the VM by an
    /// interrupted run (a killed process) is removed first. That is safe because a sync holds the workload's
    /// replication lock: no other run of ours takes a point of the same VM at the same time.
    /// </summary>
    public sealed partial class VSphereConnection : IRunningDiskExport
    {
        /// <summary>Our recovery point snapshots are named "gridpoint-&lt;operation key&gt;".</summary>
        internal const string PointSnapshotPrefix = "gridpoint-";

        public Task<IReadOnlyList<DiskImage>> ExportRunningDisksAsync(string nativeId, IReadOnlyList<MoveDisk> disks, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
        {
            string id = WorkloadId.Format(Datacenter.Name, nativeId);
            if (disks == null || disks.Count == 0) throw GridException.InvalidRequest("No disk to copy.", "NoDisks", id);
            string key = scope?.IdempotencyKey ?? "";
            if (key.Length == 0 || key.Length > 64 || key.Any(ch => !(char.IsLetterOrDigit(ch) || ch == '-' || ch == '_')))
                throw GridException.InvalidRequest($"'{key}' cannot name a recovery point's snapshot (letters, digits, '-' and '_', at most 64).", "InvalidIdempotencyKey", id);
            return WithSessionAsync<IReadOnlyList<DiskImage>>(async () =>
            {
                var ct = cancellationToken;
                var vm = await ResolveAsync(nativeId, ct).ConfigureAwait(false);
                var (name, power) = await PowerAndNameAsync(vm, nativeId, ct).ConfigureAwait(false);
                if (power != "poweredOn")
                    throw GridException.Conflict($"'{name}' is {power}: a stopped VM's disks are exported as they are (ExportDiskAsync), not through a snapshot.", "WorkloadNotRunning", id);
                await RemovePointSnapshotsAsync(vm, name, scope, ct).ConfigureAwait(false);

                string snapName = PointSnapshotPrefix + key;
                var taken = DateTimeOffset.UtcNow;
                var result = await RunTaskAsync("CreateSnapshot_Task", vm, w =>
                {
                    w.WriteElementString("name", snapName);
                    w.WriteElementString("description", "GridAutomation recovery point (crash-consistent); removed when the copy is done.");
                    w.WriteElementString("memory", "false");
                    w.WriteElementString("quiesce", "false");
                }, "Recovery point (snapshot)", name, scope, ct).ConfigureAwait(false);
                var snapshot = result?.AsMoRef() is MoRef r && r.Value.Length > 0 ? r : await FindSnapshotAsync(vm, snapName, ct).ConfigureAwait(false)
                    ?? throw VimClient.Malformed($"CreateSnapshot_Task of '{name}' returned no snapshot.", null);
                _verbose($"vSphere: snapshot {snapName} of '{name}' taken at {taken:O}; downloading its base disk(s).");
                bool ok = false;
                try
                {
                    var baseDisks = await SnapshotDisksAsync(snapshot, ct).ConfigureAwait(false);
                    var images = new List<DiskImage>();
                    Directory.CreateDirectory(tempFolder);
                    for (int i = 0; i < disks.Count; i++)
                    {
                        var want = disks[i];
                        var disk = baseDisks.FirstOrDefault(d => string.Equals(d.FileName, want.NativeId, StringComparison.Ordinal))
                            ?? baseDisks.FirstOrDefault(d => string.Equals(d.Label, want.Name, StringComparison.OrdinalIgnoreCase))
                            ?? throw GridException.NotFound($"'{name}' has no disk '{want.NativeId ?? want.Name}'. Its disks: {string.Join(", ", baseDisks.Select(d => d.FileName))}.", "DiskNotFound", id);
                        string stem = Path.Combine(tempFolder, "vsphere-point-" + Safe(key) + "-disk" + i);
                        var (path, format) = await DownloadDiskAsync(disk, stem, $"Recovery point of disk '{disk.Label}' of '{name}'", scope, ct).ConfigureAwait(false);
                        string hash = await QemuImg.GuestContentHashAsync(path, format, path, ct).ConfigureAwait(false);
                        images.Add(new DiskImage { Name = disk.Label, Format = format, CapacityBytes = disk.CapacityBytes, Path = path, ContentHash = hash });
                    }
                    _verbose($"vSphere: recovery point of '{name}' copied ({images.Sum(x => new FileInfo(x.Path!).Length)} bytes staged).");
                    ok = true;
                    return images;
                }
                finally
                {
                    // removed on success, failure and cancellation alike (with a token of its own: the caller's may be cancelled)
                    using var cleanup = new CancellationTokenSource(TimeSpan.FromMinutes(10));
                    try { await RemoveSnapshotAsync(snapshot, snapName, name, scope, cleanup.Token).ConfigureAwait(false); }
                    catch (GridException ex) when (!ok)
                    {
                        // keep the first error; the next point of this VM removes what is left (its name starts with gridpoint-)
                        _verbose($"vSphere: could not remove snapshot {snapName} of '{name}' after a failed point ({ex.ErrorId}); the next point removes it.");
                    }
                }
            }, cancellationToken);
        }

        private async Task<(string Name, string Power)> PowerAndNameAsync(MoRef vm, string nativeId, CancellationToken ct)
        {
            ObjectContent? oc;
            try { oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "runtime.powerState", "config.template" }, ct).ConfigureAwait(false); }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { oc = null; }
            if (oc == null) throw GridException.NotFound($"The VM '{nativeId}' no longer exists in vSphere datacenter '{_dcName}'.", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
            NotATemplate(oc, nativeId);
            return (oc.Text("name") ?? nativeId, oc.Text("runtime.powerState") ?? "");
        }

        /// <summary>Every snapshot of the VM (the whole tree) as (name, snapshot).</summary>
        internal async Task<List<(string Name, MoRef Snapshot)>> SnapshotsOfAsync(MoRef vm, CancellationToken ct)
        {
            var list = new List<(string, MoRef)>();
            ObjectContent? oc = await _vim.GetPropertiesAsync(vm, new[] { "snapshot" }, ct).ConfigureAwait(false);
            void Walk(IEnumerable<VimNode> trees)
            {
                foreach (var t in trees)
                {
                    var s = t.ChildMoRef("snapshot");
                    if (s.HasValue) list.Add((t.ChildText("name") ?? "", s.Value));
                    Walk(t.All("childSnapshotList"));
                }
            }
            if (oc?.Get("snapshot") is VimNode info) Walk(info.All("rootSnapshotList"));
            return list;
        }

        private async Task<MoRef?> FindSnapshotAsync(MoRef vm, string snapName, CancellationToken ct)
        {
            foreach (var (n, s) in await SnapshotsOfAsync(vm, ct).ConfigureAwait(false))
                if (string.Equals(n, snapName, StringComparison.Ordinal)) return s;
            return null;
        }

        /// <summary>Removes every "gridpoint-" snapshot of the VM: what an interrupted point (this key's or an older run's) left.</summary>
        private async Task RemovePointSnapshotsAsync(MoRef vm, string vmName, IOperationScope? scope, CancellationToken ct)
        {
            foreach (var (n, s) in await SnapshotsOfAsync(vm, ct).ConfigureAwait(false))
            {
                if (!n.StartsWith(PointSnapshotPrefix, StringComparison.Ordinal)) continue;
                _verbose($"vSphere: removing the snapshot {n} an interrupted recovery point left on '{vmName}'.");
                await RemoveSnapshotAsync(s, n, vmName, scope, ct).ConfigureAwait(false);
            }
        }

        private async Task RemoveSnapshotAsync(MoRef snapshot, string snapName, string vmName, IOperationScope? scope, CancellationToken ct)
        {
            try
            {
                await RunTaskAsync("RemoveSnapshot_Task", snapshot, w =>
                {
                    w.WriteElementString("removeChildren", "false");
                    w.WriteElementString("consolidate", "true");
                }, "Recovery point (remove snapshot)", vmName, scope, ct).ConfigureAwait(false);
            }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { /* already gone: idempotent */ }
            _verbose($"vSphere: snapshot {snapName} of '{vmName}' removed (deltas consolidated).");
        }

        /// <summary>The virtual disks the snapshot's configuration names: the base files the snapshot froze.</summary>
        private async Task<List<VmDisk>> SnapshotDisksAsync(MoRef snapshot, CancellationToken ct)
        {
            var oc = await _vim.GetPropertiesAsync(snapshot, new[] { "config.hardware.device" }, ct).ConfigureAwait(false);
            return ParseDisks(oc?.Get("config.hardware.device"));
        }
    }
}
