using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;

namespace GridAutomation.Core.Moves
{
    /// <summary>What a move between datacenters journals as its request (never a secret).</summary>
    public sealed class MoveRecord
    {
        public string SourceId { get; set; } = "";
        public string SourceNativeId { get; set; } = "";
        public string Name { get; set; } = "";
        public string DestinationDatacenter { get; set; } = "";
        public string? DestinationHost { get; set; }
        public string? Size { get; set; }
        public int? CpuCount { get; set; }
        public long? MemoryMB { get; set; }
        public Dictionary<string, string> Tags { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        public Dictionary<string, string> Options { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        public bool WasRunning { get; set; }
        public bool RemoveSource { get; set; }
        public bool RemoveStorage { get; set; }
        public bool NoRollback { get; set; }
        public bool TurnOff { get; set; }
        /// <summary>The report's bytes to transfer (one pass over the disks), the base of the move's byte progress.</summary>
        public long BytesToTransfer { get; set; }
        /// <summary>A move back: the id of the destination's own stopped source this workload was moved from (its GridMovedFrom tag), replaced at create.</summary>
        public string? MovedBackOver { get; set; }
    }

    /// <summary>
    /// Runs a move between datacenters as ONE journaled operation (kind MoveDatacenter, coordinator 'core', source
    /// datacenter + destination datacenter, the source workload's lock). Each step is checkpointed BEFORE it acts
    /// ("step" = its name) and marked done after ("done:&lt;step&gt;"); every step is idempotent, so a resume repeats the
    /// step it was in and skips the done ones. Steps: stop, export, convert, verify, import, create, verify-destination,
    /// start, cutover. File disks are staged in a folder of their own per operation (see <see cref="DiskFiles.StagingFolder"/>),
    /// converted there by qemu-img when the destination does not import the source's format, and removed at the end and on rollback. A failure after the source stopped rolls back (removes what was made at the destination, restarts the
    /// source) unless NoRollback.
    /// </summary>
    public sealed class MoveOrchestrator
    {
        public const string Kind = "MoveDatacenter";
        public const string MovedFromTag = "GridMovedFrom";
        public const string MovedToTag = "GridMovedTo";
        private static readonly string[] Steps = { "stop", "export", "convert", "verify", "import", "create", "verify-destination", "start", "cutover" };

        private readonly GridEngine _engine;
        public MoveOrchestrator(GridEngine engine) { _engine = engine; }

        /// <summary>The moved workload at the destination. Errors of the report refuse before anything is journaled.</summary>
        public async Task<GridWorkload> MoveAsync(GridWorkload workload, MoveRequest request, bool removeSource, bool removeStorage, bool noRollback,
            Guid? batchId, IEngineObserver observer, CancellationToken ct)
        {
            _engine.EnsureWritable();
            var report = await new MoveService(_engine).TestAsync(workload, request, observer, ct).ConfigureAwait(false);
            var errors = report.Incompatibilities.Where(i => i.Severity == MoveSeverity.Error).ToList();
            if (errors.Count > 0)
                throw GridException.InvalidRequest($"'{workload.Name}' cannot move to datacenter '{report.DestinationDatacenter}': "
                    + string.Join(" ", errors.Select(e => e.Code + ": " + e.Message)), "MoveIncompatible", workload.Id);
            var src = await _engine.GetConnectionAsync(workload.Datacenter, observer, ct).ConfigureAwait(false);
            var dst = await _engine.GetConnectionAsync(report.DestinationDatacenter, observer, ct).ConfigureAwait(false);
            if (src is not IDiskTransfer || dst is not IDiskTransfer)
                throw GridException.Unsupported($"Moving disks between {workload.Provider} datacenter '{workload.Datacenter}' and datacenter '{report.DestinationDatacenter}' is not implemented yet.", "MoveNotImplemented", workload.Id);
            var current = await src.GetWorkloadAsync(workload.NativeId, ct).ConfigureAwait(false);
            var rec = new MoveRecord
            {
                SourceId = workload.Id, SourceNativeId = workload.NativeId, Name = current.Name, DestinationDatacenter = report.DestinationDatacenter,
                DestinationHost = request.DestinationHost, Size = report.Size, CpuCount = report.Size == null ? report.CpuCount : null,
                MemoryMB = report.Size == null ? report.MemoryMB : null, Options = new Dictionary<string, string>(report.Options, StringComparer.OrdinalIgnoreCase),
                WasRunning = report.WasRunning, TurnOff = request.TurnOff, BytesToTransfer = report.BytesToTransfer, RemoveSource = removeSource, RemoveStorage = removeStorage, NoRollback = noRollback,
            };
            foreach (System.Collections.DictionaryEntry e in current.Tags)
                if (!string.Equals((string)e.Key, MovedToTag, StringComparison.OrdinalIgnoreCase) && !string.Equals((string)e.Key, MovedFromTag, StringComparison.OrdinalIgnoreCase))
                    rec.Tags[(string)e.Key] = Convert.ToString(e.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
            rec.Tags[MovedFromTag] = workload.Id;
            if (current.Tags[MovedFromTag] is string from && WorkloadId.TryParse(from, out var fromDc, out _)
                && string.Equals(fromDc, report.DestinationDatacenter, StringComparison.OrdinalIgnoreCase))
                rec.MovedBackOver = from;
            // The workload's owner must be allowed at the destination, within the agreement's quotas (NoAgreement, AgreementQuotaExceeded).
            var dstDc = _engine.GetDatacenter(report.DestinationDatacenter);
            var admission = await _engine.AdmitMoveAsync(dstDc, workload, report.CpuCount, report.MemoryMB, observer, ct).ConfigureAwait(false);
            // Its owner stays its owner in another company's datacenter (else it would take the destination's owner).
            var owner = string.IsNullOrEmpty(workload.Owner) ? _engine.GetDatacenter(workload.Datacenter).Owner : workload.Owner;
            if (!string.IsNullOrEmpty(owner) && !string.Equals(owner, dstDc.Owner, StringComparison.OrdinalIgnoreCase)) rec.Tags[GridEngine.OwnerTag] = owner!;
            try
            {
                var op = await _engine.BeginLockedAsync(new OperationIntent
                {
                    Kind = Kind, Datacenter = workload.Datacenter, Target = workload.Id, TargetName = current.Name, RequestJson = JsonUtil.Serialize(rec),
                    BatchId = batchId, DestinationDatacenter = report.DestinationDatacenter, Coordinator = "core", LockKey = GridEngine.WorkloadLockKey(workload.Id),
                }, observer, ct).ConfigureAwait(false);
                var moved = await RunAsync(op, rec, src, dst, observer, ct).ConfigureAwait(false);
                admission?.Succeeded();
                return moved;
            }
            catch (Exception) { admission?.Failed(); throw; }
        }

        /// <summary>Resume-GridOperation of an interrupted move (the lease already taken over): finish from the last checkpoint, or roll back.</summary>
        public async Task<GridOperation> ResumeAsync(GridOperation op, bool rollback, IEngineObserver observer, CancellationToken ct)
        {
            var rec = JsonUtil.Deserialize<MoveRecord>(op.Request);
            if (rec == null)
            {
                _engine.Journal.Fail(op.Id, "OperationNotResumable", "No recorded request to resume.");
                throw GridException.InvalidRequest($"Operation {op.Id} has no recorded move to resume.", "OperationNotResumable", op.Id);
            }
            IGridConnection src, dst;
            try
            {
                src = await _engine.GetConnectionAsync(op.Datacenter, observer, ct).ConfigureAwait(false);
                dst = await _engine.GetConnectionAsync(rec.DestinationDatacenter, observer, ct).ConfigureAwait(false);
            }
            catch (GridException g) { _engine.Journal.Fail(op.Id, g.ErrorId, "Resume could not connect: " + g.Message); throw; }
            if (rollback)
            {
                var rbScope = new JournalScope(_engine.Journal, op, op.Id.ToString("N"), true, observer);
                var children = new MoveStepJournal(_engine.Journal, op, rec, rbScope, isResume: true);
                children.RollBackOpen("Rolled back on request (Resume-GridOperation -Rollback of the parent operation).");
                try
                {
                    using (_engine.StartHeartbeat(op.Id))
                        await RollbackAsync(op, rec, src, dst, rbScope, children, ct).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    var g = GridEngine.Normalize(ex, op.Target);
                    children.FailOpen(g.ErrorId, "The roll-back failed: " + g.Message);
                    throw;
                }
                _engine.Journal.MarkRolledBack(op.Id, "Rolled back on request: the destination's copy was removed and the source restored.");
                return _engine.Journal.Get(op.Id)!;
            }
            await RunAsync(op, rec, src, dst, observer, ct).ConfigureAwait(false);
            return _engine.Journal.Get(op.Id)!;
        }

        private async Task<GridWorkload> RunAsync(GridOperation op, MoveRecord rec, IGridConnection src, IGridConnection dst, IEngineObserver observer, CancellationToken ct)
        {
            var scope = new JournalScope(_engine.Journal, op, op.Id.ToString("N"), op.Checkpoints.Count > 0, observer);
            using var heartbeat = _engine.StartHeartbeat(op.Id);
            var srcX = (IDiskTransfer)src;
            var dstX = (IDiskTransfer)dst;
            bool sourceStopped = scope.Checkpoints.ContainsKey("step");
            // one child operation per step (Get-GridOperation -Parent); a resume takes over the child of the step it repeats
            var children = new MoveStepJournal(_engine.Journal, op, rec, scope, scope.IsResume);
            children.CompleteDone(scope.Checkpoints, Steps);
            // bytes done of this workload (export + import of each disk), carried by every report for the overall bar of a bulk move
            var bytes = new MoveByteProgress(rec.BytesToTransfer);
            if (scope.Checkpoints.ContainsKey("done:export")) bytes.PhaseDone(1);
            if (scope.Checkpoints.ContainsKey("done:import")) bytes.PhaseDone(2);
            // staged files no later step reads are deleted beside the next steps (unlinking a GiB costs seconds on a busy disk)
            var sweeper = new StagingSweeper(DiskFiles.StagingFolder(op.Id));
            try
            {
                foreach (var step in Steps)
                {
                    if (scope.Checkpoints.ContainsKey("done:" + step)) continue;
                    var on = step is "import" or "create" or "verify-destination" or "start" ? dst : src;
                    // write-ahead: the step is recorded before it acts, with its child operation in the same write
                    children.Begin(step, on.Datacenter.Name, "step", step);
                    int k = Array.IndexOf(Steps, step) + 1;
                    scope.Report(new GridProgress("Move " + rec.Name + " to " + rec.DestinationDatacenter, $"{step} ({k} of {Steps.Length} steps)", 100 * (k - 1) / Steps.Length));
                    // each step runs in its datacenter's concurrency slot and is retried on transient errors (steps are idempotent)
                    string result = await _engine.Retry.ExecuteAsync(on.Datacenter.Name, t => ActAsync(step, rec, src, dst, srcX, dstX, scope, bytes, t), on.HandlesOwnRetries, ct).ConfigureAwait(false);
                    if (step == "stop") sourceStopped = true;
                    children.Complete(step, "done:" + step, result);
                    if (step == "export") bytes.PhaseDone(1);
                    if (step == "import") bytes.PhaseDone(2);
                    ReportStep(scope, rec, step, bytes);
                    // checkpointed, so a resume never reads them again: after convert the exported files it replaced, after import every staged file
                    if (step == "convert") sweeper.Delete(Images(scope.Checkpoints).Select(i => i.Path).Except(Converted(scope.Checkpoints).Select(i => i.Path)));
                    if (step == "import") sweeper.Delete(Converted(scope.Checkpoints).Select(i => i.Path));
                }
                await sweeper.DrainAsync().ConfigureAwait(false);
                DiskFiles.RemoveStaging(DiskFiles.StagingFolder(op.Id));
                var moved = await dst.GetWorkloadAsync(scope.Checkpoints["done:create"], ct).ConfigureAwait(false);
                if (string.IsNullOrEmpty(moved.Id)) moved.Id = WorkloadId.Format(rec.DestinationDatacenter, moved.NativeId);
                GridEngine.CompleteWorkload(moved, _engine.GetDatacenter(rec.DestinationDatacenter)); // Owner (its tag, else the datacenter's), Provider
                _engine.Journal.Complete(op.Id, JsonUtil.Serialize(new { moved.Id, State = moved.State.ToString(), moved.Host, Source = rec.SourceId }));
                return moved;
            }
            catch (Exception ex) when (ct.IsCancellationRequested && GridEngine.IsCancellation(ex))
            {
                await sweeper.DrainAsync().ConfigureAwait(false);
                string message = "Cancelled during step '" + (scope.Checkpoints.TryGetValue("step", out var s) ? s : "?") + "'. Resume-GridOperation finishes it (or -Rollback).";
                _engine.Journal.Interrupt(op.Id, message);
                children.InterruptOpen(message + " Resume the parent operation " + op.Id + ".");
                throw GridEngine.Normalize(ex, op.Target);
            }
            catch (Exception ex)
            {
                await sweeper.DrainAsync().ConfigureAwait(false); // before a roll-back removes the staging folder
                var g = GridEngine.Normalize(ex, op.Target);
                string at = scope.Checkpoints.TryGetValue("step", out var s) ? s : "?";
                children.FailOpen(g.ErrorId, $"Step '{at}' failed: {g.Message}");
                if (sourceStopped && !rec.NoRollback)
                {
                    try
                    {
                        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
                        await RollbackAsync(op, rec, src, dst, scope, children, cts.Token).ConfigureAwait(false);
                        _engine.Journal.MarkRolledBack(op.Id, $"Step '{at}' failed ({g.ErrorId}: {g.Message}); rolled back: the destination's copy was removed and the source restored.");
                    }
                    catch (Exception rb)
                    {
                        var rg = GridEngine.Normalize(rb, op.Target);
                        children.FailOpen(rg.ErrorId, "The roll-back failed: " + rg.Message);
                        _engine.Journal.Fail(op.Id, g.ErrorId, $"Step '{at}' failed: {g.Message} The roll-back failed too ({rg.ErrorId}: {rg.Message}); Resume-GridOperation -Rollback retries it.");
                    }
                }
                else _engine.Journal.Fail(op.Id, g.ErrorId, $"Step '{at}' failed: {g.Message}");
                throw new GridException(g.Kind, $"Moving '{rec.Name}' to datacenter '{rec.DestinationDatacenter}' failed at step '{at}': {g.Message}" + (sourceStopped && !rec.NoRollback ? " The move was rolled back." : ""), g.ErrorId, g) { Target = op.Target };
            }
        }

        private async Task<string> ActAsync(string step, MoveRecord rec, IGridConnection src, IGridConnection dst, IDiskTransfer srcX, IDiskTransfer dstX, JournalScope scope, MoveByteProgress bytes, CancellationToken ct)
        {
            var cp = scope.Checkpoints;
            switch (step)
            {
                case "stop":
                    if (rec.WasRunning) await src.StopAsync(rec.SourceNativeId, rec.TurnOff ? StopMode.TurnOff : StopMode.Graceful, scope, ct).ConfigureAwait(false);
                    return "stopped";
                case "export":
                {
                    var info = await ((IDiskTransport)src).DescribeAsync(rec.SourceNativeId, ct).ConfigureAwait(false);
                    string staging = DiskFiles.StagingFolder(scope.OperationId);
                    CheckTempSpace(info, (IDiskTransport)dst, staging, rec);
                    var images = new List<DiskImage>();
                    bytes.Plan(info.Disks.Sum(d => d.TransferBytes > 0 ? d.TransferBytes : d.CapacityBytes));
                    foreach (var d in info.Disks)
                    {
                        var img = await srcX.ExportDiskAsync(rec.SourceNativeId, d, staging, bytes.For(scope), ct).ConfigureAwait(false);
                        bytes.Finished();
                        img.Firmware ??= info.Firmware; // the importer chooses the VM generation from it (Azure: BIOS → Gen1)
                        images.Add(img);
                    }
                    return JsonUtil.Serialize(images);
                }
                case "convert":
                    return JsonUtil.Serialize(await ConvertAsync(Images(cp), (IDiskTransport)dst, rec, scope, ct).ConfigureAwait(false));
                case "verify":
                {
                    var images = Images(cp);
                    for (int i = 0; i < images.Count; i++)
                    {
                        string h;
                        try { h = await srcX.HashDiskAsync(rec.SourceNativeId, i, ct).ConfigureAwait(false); }
                        catch (GridException ex) when (ex.Kind == GridErrorKind.Unsupported)
                        {
                            // the source cannot read its disks a second time (AWS: no EBS bytes through the EC2 API; its export checked the download itself): said, not hidden
                            scope.Report(new GridProgress("Move " + rec.Name, $"disk {images[i].Name} cannot be read again at {rec.SourceId} to verify the export: {ex.Message}", -1));
                            return "not readable at the source";
                        }
                        if (!string.Equals(h, images[i].ContentHash, StringComparison.OrdinalIgnoreCase))
                            throw GridException.Conflict($"Disk '{images[i].Name}' changed or was damaged in export: its content hash is {images[i].ContentHash}, the source's is {h}.", "DiskVerifyFailed", rec.SourceId);
                    }
                    return "equal";
                }
                case "import":
                {
                    var refs = new List<string>();
                    foreach (var img in Converted(cp))
                    {
                        img.Options = rec.Options; // the destination reads -Option (an AWS bucket) from the image
                        img.DestinationHost = rec.DestinationHost; // a multi-host destination imports where the create will run
                        refs.Add(await dstX.ImportDiskAsync(img, scope.IdempotencyKey, bytes.For(scope), ct).ConfigureAwait(false));
                        bytes.Finished();
                    }
                    return string.Join("\n", refs);
                }
                case "create":
                {
                    await ReplaceStaleCopyAsync(rec, dst, scope, ct).ConfigureAwait(false);
                    var req = new CreateWorkloadRequest
                    {
                        Name = rec.Name, Size = rec.Size, CpuCount = rec.CpuCount, MemoryMB = rec.MemoryMB, TargetHost = rec.DestinationHost,
                        Tags = new Dictionary<string, string>(rec.Tags, StringComparer.OrdinalIgnoreCase),
                        Options = new Dictionary<string, string>(rec.Options, StringComparer.OrdinalIgnoreCase) { [ImportedDiskOptions.Reference] = cp["done:import"].Split('\n')[0], [ImportedDiskOptions.TakeOver] = "true" },
                        PowerOn = false, AllowDuplicateName = true,
                        // the same key on every resume: the provider never makes a second copy
                        IdempotencyKey = "move:" + scope.OperationId.ToString("N"),
                    };
                    var w = await dst.CreateWorkloadAsync(req, scope, ct).ConfigureAwait(false);
                    return w.NativeId;
                }
                case "verify-destination":
                {
                    // the destination holds what was imported: the converted image where a conversion ran (qemu-img compare proved it equal to the export).
                    // A provider hashes either the file it keeps (libvirt) or the guest-visible bytes (vSphere, Azure): the image's GuestContentHash is the latter.
                    var images = Converted(cp);
                    var exported = Images(cp);
                    var kinds = new List<string>();
                    for (int i = 0; i < images.Count; i++)
                    {
                        string h;
                        try
                        {
                            // a destination that knows what was imported may prove it by the file's bytes (no inflate), else by the guest's
                            h = dst is IImportedDiskHash known ? await known.HashImportedDiskAsync(cp["done:create"], i, images[i], ct).ConfigureAwait(false)
                                : await dstX.HashDiskAsync(cp["done:create"], i, ct).ConfigureAwait(false);
                        }
                        catch (GridException ex) when (ex.Kind == GridErrorKind.Unsupported)
                        {
                            // the destination cannot read its disks back (AWS: no EBS bytes through the EC2 API): said, not hidden
                            scope.Report(new GridProgress("Move " + rec.Name, $"disk {images[i].Name} cannot be read back at {rec.DestinationDatacenter} to verify it: {ex.Message}", -1));
                            return "not readable at the destination";
                        }
                        // which hash matched is recorded: "image file" (the imported file's bytes) or "guest content" (the raw bytes the guest sees)
                        string? guest = images[i].GuestContentHash
                            ?? (i < exported.Count && exported[i].Format == DiskFormat.Raw ? exported[i].ContentHash : null); // a move journaled before GuestContentHash
                        string kind;
                        if (string.Equals(h, images[i].ContentHash, StringComparison.OrdinalIgnoreCase)) kind = "image file";
                        else if (guest != null && string.Equals(h, guest, StringComparison.OrdinalIgnoreCase)) kind = "guest content";
                        else throw GridException.Conflict($"The destination's disk '{images[i].Name}' differs from what was imported (hash {h}; the imported {images[i].Format} file's is {images[i].ContentHash}"
                            + (guest != null ? $", its guest content's {guest})." : "; its guest content's hash is not known)."), "DiskVerifyFailed", rec.SourceId);
                        kinds.Add(images[i].Name + ": " + kind);
                    }
                    return "equal (" + string.Join("; ", kinds) + ")";
                }
                case "start":
                    if (rec.WasRunning)
                    {
                        await dst.StartAsync(cp["done:create"], scope, ct).ConfigureAwait(false);
                        var deadline = DateTime.UtcNow.AddMinutes(10);
                        while ((await dst.GetWorkloadAsync(cp["done:create"], ct).ConfigureAwait(false)).State != WorkloadState.Running)
                        {
                            if (DateTime.UtcNow > deadline) throw GridException.ResourceUnavailable("The moved workload did not reach Running within 10 minutes.", "MoveStartTimeout", rec.SourceId);
                            await Task.Delay(200, ct).ConfigureAwait(false);
                        }
                    }
                    return "started";
                case "cutover":
                {
                    string destId = WorkloadId.Format(rec.DestinationDatacenter, cp["done:create"]);
                    if (rec.RemoveSource) await src.RemoveAsync(rec.SourceNativeId, rec.RemoveStorage, scope, ct).ConfigureAwait(false);
                    else await src.SetTagsAsync(rec.SourceNativeId, new Dictionary<string, string?> { [MovedToTag] = destId }, scope, ct).ConfigureAwait(false);
                    return destId;
                }
            }
            throw new InvalidOperationException(step);
        }

        private static List<DiskImage> Images(IReadOnlyDictionary<string, string> cp)
            => cp.TryGetValue("done:export", out var j) ? JsonUtil.Deserialize<List<DiskImage>>(j) ?? new List<DiskImage>() : new List<DiskImage>();

        /// <summary>Progress per workload: which step is done, out of how many.</summary>
        private static void ReportStep(JournalScope scope, MoveRecord rec, string step, MoveByteProgress bytes)
        {
            int k = Array.IndexOf(Steps, step) + 1;
            scope.Report(bytes.Stamp(new GridProgress("Move " + rec.Name + " to " + rec.DestinationDatacenter, $"{step} done ({k} of {Steps.Length} steps)", 100 * k / Steps.Length)));
        }

        /// <summary>Before anything is staged: the staging folder's file system must hold every file disk (twice when converted, three times when neither side is raw: <see cref="DiskConverter.StagingBytes"/>).</summary>
        private static void CheckTempSpace(MoveSourceInfo info, IDiskTransport dst, string staging, MoveRecord rec)
        {
            long need = info.Disks.Sum(d => DiskConverter.StagingBytes(d, dst.ImportFormats));
            if (need == 0) return;
            if (DiskConverter.FreeBytes(staging) is long free && free < need)
                throw new GridException(GridErrorKind.ResourceUnavailable,
                    $"The temp folder '{staging}' has {free / (1024 * 1024)} MiB free; the disks of '{rec.Name}' need {need / (1024 * 1024)} MiB there. Free space or set GRIDAUTOMATION_MOVE_TEMP to a larger folder.",
                    "InsufficientTempSpace") { Target = rec.SourceId };
        }

        /// <summary>
        /// Converts each staged file the destination does not import as it is into the destination's preferred format
        /// (qemu-img, file to file), then proves the copy by content compare (qemu-img compare). Idempotent: qemu-img
        /// writes a ".partial" name and renames, so a converted file that exists is whole; it is compared again anyway.
        /// </summary>
        private static async Task<List<DiskImage>> ConvertAsync(List<DiskImage> images, IDiskTransport dst, MoveRecord rec, JournalScope scope, CancellationToken ct)
        {
            var result = new List<DiskImage>();
            QemuImg? qemu = null;
            foreach (var img in images)
            {
                if (img.Path == null || dst.ImportFormats.Contains(img.Format))
                {
                    if (img.Format == DiskFormat.Raw) img.GuestContentHash ??= img.ContentHash; // a raw file's bytes are what the guest sees
                    result.Add(img);
                    continue;
                }
                var target = dst.ImportFormats.FirstOrDefault(f => DiskConverter.CanConvert(img.Format, f));
                if (!DiskConverter.CanConvert(img.Format, target))
                    throw GridException.Unsupported($"Datacenter '{rec.DestinationDatacenter}' imports none of the formats qemu-img writes from {img.Format}.", "UnsupportedDiskFormat", rec.SourceId);
                var q = qemu ??= QemuImg.Require(rec.SourceId);
                string output = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(img.Path)!, DiskFiles.SafeName(img.Name) + ".converted" + DiskFiles.Extension(target));
                scope.Report(new GridProgress("Move " + rec.Name, $"converting {img.Name}: {img.Format} -> {target}", -1));
                // the guest-visible content's hash, for a destination that hashes what the guest sees (vSphere, Azure):
                // a raw side already has it; else a raw copy of the export is hashed, WHILE qemu-img converts (a
                // streamOptimized/VHD conversion is one compressing thread; the raw copy takes the other core)
                using var guestCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                Task<string>? guesting = img.Format == DiskFormat.Raw || target == DiskFormat.Raw ? null
                    : Task.Run(() => q.GuestContentHashAsync(img.Path, img.Format, guestCts.Token), guestCts.Token);
                string hash;
                try
                {
                    if (!System.IO.File.Exists(output)) await qemu.ConvertAsync(img.Path, img.Format, output, target, ct).ConfigureAwait(false);
                    // the converted file's hash (what verify-destination checks the destination against) is taken while
                    // qemu-img compares it: both read the same fresh file, one pass of the disk instead of two in a row
                    using var hashCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    var hashing = Task.Run(() => DiskFiles.Sha256(output, null, hashCts.Token), hashCts.Token);
                    bool equal;
                    try { equal = await qemu.CompareAsync(img.Path, img.Format, output, target, ct).ConfigureAwait(false); }
                    catch { await DrainAsync(hashing, hashCts).ConfigureAwait(false); throw; }
                    if (!equal)
                    {
                        await DrainAsync(hashing, hashCts).ConfigureAwait(false);
                        System.IO.File.Delete(output);
                        throw GridException.Conflict($"Disk '{img.Name}' converted to {target} does not compare equal to the exported {img.Format} image.", "DiskVerifyFailed", rec.SourceId);
                    }
                    hash = await hashing.ConfigureAwait(false);
                }
                catch { if (guesting != null) await DrainAsync(guesting, guestCts).ConfigureAwait(false); throw; }
                long size = new System.IO.FileInfo(output).Length;
                string guest = img.Format == DiskFormat.Raw ? img.ContentHash : target == DiskFormat.Raw ? hash : await guesting!.ConfigureAwait(false);
                // the firmware goes with the converted image: an importer chooses the VM generation from it (Azure, Hyper-V)
                result.Add(new DiskImage { Name = img.Name, Format = target, CapacityBytes = img.CapacityBytes, Path = output, ContentHash = hash, GuestContentHash = guest, Firmware = img.Firmware });
                scope.Report(new GridProgress("Move " + rec.Name, $"converted {img.Name} to {target}: {size / (1024 * 1024)} MiB, content equal", -1));
            }
            return result;
        }

        /// <summary>Cancels a side task of a failed step and waits for it to end (its own error no longer matters).</summary>
        private static async Task DrainAsync(Task task, CancellationTokenSource cts)
        {
            cts.Cancel();
            try { await task.ConfigureAwait(false); } catch (Exception) { }
        }

        /// <summary>
        /// A move back: the destination still holds its own stopped source of this workload (same name, tagged
        /// GridMovedTo = the workload moving now). That stale copy is replaced: removed with its storage before the create,
        /// instead of the name being refused. Idempotent (a resumed create finds nothing left to remove).
        /// </summary>
        private static async Task ReplaceStaleCopyAsync(MoveRecord rec, IGridConnection dst, JournalScope scope, CancellationToken ct)
        {
            // only a workload that came from the destination (its GridMovedFrom names it) can have left a stopped source there
            if (rec.MovedBackOver == null || !WorkloadId.TryParse(rec.MovedBackOver, out _, out var nativeId)) return;
            GridWorkload w;
            try { w = await dst.GetWorkloadAsync(nativeId, ct).ConfigureAwait(false); }
            catch (GridException g) when (g.Kind == GridErrorKind.NotFound) { return; } // already replaced (a resumed create) or removed
            if (w.State != WorkloadState.Stopped || !string.Equals(w.Name, rec.Name, StringComparison.Ordinal)
                || !(w.Tags[MovedToTag] is string to && string.Equals(to, rec.SourceId, StringComparison.OrdinalIgnoreCase)))
                return;
            scope.Checkpoint("replaced", rec.MovedBackOver);
            try { await dst.RemoveAsync(w.NativeId, true, scope, ct).ConfigureAwait(false); }
            catch (GridException g) when (g.Kind == GridErrorKind.NotFound) { }
        }

        /// <summary>What the import takes: the converted images (a move journaled before the convert step existed has none: the exported ones).</summary>
        private static List<DiskImage> Converted(IReadOnlyDictionary<string, string> cp)
            => cp.TryGetValue("done:convert", out var j) ? JsonUtil.Deserialize<List<DiskImage>>(j) ?? new List<DiskImage>() : Images(cp);

        /// <summary>Removes what the move made at the destination (found by its create key, so also a create whose result was never checkpointed) and restarts the source if it ran.</summary>
        private async Task RollbackAsync(GridOperation op, MoveRecord rec, IGridConnection src, IGridConnection dst, JournalScope scope, MoveStepJournal children, CancellationToken ct)
        {
            children.Begin("rollback", dst.Datacenter.Name, "rollback", "started"); // the roll-back is a child of its own (MoveRollback)
            var made = new List<string>();
            if (scope.Checkpoints.TryGetValue("done:create", out var nid)) made.Add(nid);
            if (scope.Checkpoints.TryGetValue("step", out var st) && Array.IndexOf(Steps, st) >= Array.IndexOf(Steps, "create"))
            {
                // a create may have happened without its result being recorded: find it by the tag it carries
                await foreach (var page in dst.ListWorkloadsAsync(new WorkloadQuery { Tags = new Dictionary<string, string> { [MovedFromTag] = rec.SourceId } }, ct).ConfigureAwait(false))
                    foreach (var w in page)
                        if (w.State != WorkloadState.Deleted && w.Tags[MovedFromTag] is string from && string.Equals(from, rec.SourceId, StringComparison.OrdinalIgnoreCase)
                            && string.Equals(Convert.ToString(w.Properties.TryGetValue("IdempotencyKey", out var k) ? k : null), "move:" + op.Id.ToString("N"), StringComparison.Ordinal)
                            && !made.Contains(w.NativeId, StringComparer.OrdinalIgnoreCase))
                            made.Add(w.NativeId);
            }
            foreach (var id in made)
            {
                try { await dst.RemoveAsync(id, true, scope, ct).ConfigureAwait(false); }
                catch (GridException g) when (g.Kind == GridErrorKind.NotFound) { }
            }
            // imported disks no workload took (an import, or a create that never defined its workload): a libvirt
            // volume, an Azure managed disk
            if (dst is IDiskImportCleanup cleanup && scope.Checkpoints.ContainsKey("step"))
                await cleanup.DiscardImportsAsync(scope, ct).ConfigureAwait(false);
            // what an export made outside the staging folder (AWS: the instance's image, the export task's S3 object)
            if (src is IDiskExportCleanup exports && scope.Checkpoints.ContainsKey("step"))
                await exports.DiscardExportsAsync(scope, ct).ConfigureAwait(false);
            DiskFiles.RemoveStaging(DiskFiles.StagingFolder(op.Id));
            if (rec.WasRunning)
            {
                try
                {
                    var s = await src.GetWorkloadAsync(rec.SourceNativeId, ct).ConfigureAwait(false);
                    if (s.State != WorkloadState.Running) await src.StartAsync(rec.SourceNativeId, scope, ct).ConfigureAwait(false);
                }
                catch (GridException g) when (g.Kind == GridErrorKind.NotFound) { }
            }
            children.Complete("rollback", "rollback", "done");
        }
    }
}
