using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>Power, removal, resize, tags and moves inside the datacenter.</summary>
    internal sealed partial class LibvirtConnection
    {
        // ------------------------------------------------------------------ power

        internal void WaitForState(DomainHandle d, Func<int, bool> done, TimeSpan timeout, CancellationToken ct, string what, string target)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                var (s, _) = Virt.State(d);
                if (done(s)) return;
                if (DateTime.UtcNow >= deadline)
                    throw GridException.Conflict($"{what} did not finish within {timeout.TotalSeconds:0} s (state {StateMap.NativeName(s)}). Use -TurnOff to power off.", "GuestShutdownTimeout", target);
                ct.WaitHandle.WaitOne(200);
                ct.ThrowIfCancellationRequested();
            }
        }

        public Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                var (s, _) = Virt.State(d);
                switch (s)
                {
                    case StateMap.Running: case StateMap.Blocked: return;
                    case StateMap.Paused: Virt.Resume(d, t); return;
                    case StateMap.PmSuspended: Virt.PMWakeup(d, t); return;
                    case StateMap.Crashed: Virt.Destroy(d, t); Virt.Create(d, t); return;
                    case StateMap.Shutdown:
                        WaitForState(d, x => x == StateMap.Shutoff, _shutdownTimeout, cancellationToken, "The guest shutdown in progress", t);
                        Virt.Create(d, t); return;
                    default:
                        // shut off: virDomainCreate also restores a managed-save image (Suspended → Running).
                        Virt.Create(d, t); return;
                }
            }, cancellationToken);
        }

        public Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (mode == StopMode.Deallocate)
                throw GridException.Unsupported("libvirt hosts have no deallocation: use Stop-GridWorkload without -Deallocate.", "CapabilityNotSupported", nativeId);
            return OnDomain(nativeId, (h, d, t) =>
            {
                var (s, _) = Virt.State(d);
                if (s == StateMap.Shutoff)
                {
                    if (Virt.HasManagedSave(d))
                    {
                        if (mode != StopMode.TurnOff)
                            throw GridException.Conflict("The workload is suspended (memory saved on disk). Start it, or stop it with -TurnOff to discard the saved memory.", "WorkloadSuspended", t);
                        Virt.ManagedSaveRemove(d, t);
                    }
                    return;
                }
                if (mode == StopMode.TurnOff || s == StateMap.Crashed) { Virt.Destroy(d, t); return; }
                if (s == StateMap.Paused || s == StateMap.PmSuspended)
                    throw GridException.Conflict("A paused guest cannot shut down gracefully: start (resume) it first, or use -TurnOff.", "WorkloadPaused", t);
                if (s != StateMap.Shutdown) Virt.Shutdown(d, t);
                WaitForState(d, x => x == StateMap.Shutoff, _shutdownTimeout, cancellationToken, "The guest (ACPI) shutdown", t);
            }, cancellationToken);
        }

        public Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                var (s, _) = Virt.State(d);
                if (s == StateMap.Shutoff) { Virt.Create(d, t); return; }
                if (s != StateMap.Running && s != StateMap.Blocked)
                    throw GridException.Conflict($"The workload is {StateMap.NativeName(s)}; only a running guest can be restarted.", "WorkloadNotRunning", t);
                Virt.Reboot(d, t);
            }, cancellationToken);
        }

        public Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                var (s, _) = Virt.State(d);
                if (s == StateMap.Shutoff)
                {
                    if (Virt.HasManagedSave(d)) return; // already suspended
                    throw GridException.Conflict("The workload is stopped; only a running or paused guest can be suspended.", "WorkloadNotRunning", t);
                }
                Virt.ManagedSave(d, t);
            }, cancellationToken);
        }

        public Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                var info = DomainXml.Parse(Virt.XmlDesc(d, Virt.XML_INACTIVE), nativeId);
                var disks = info.Disks.Where(x => x.Device == "disk" && x.SourcePath != null).Select(x => x.SourcePath!).ToList();
                Checkpoint(scope, "remove.undefine", h.Name + "|" + string.Join("|", disks));
                if (Virt.IsActive(d)) Virt.Destroy(d, t);
                Virt.Undefine(d, t);
                if (removeStorage)
                {
                    foreach (var path in disks)
                    {
                        Checkpoint(scope, "remove.disk", path);
                        Images.Delete(h, path);
                    }
                }
            }, cancellationToken);
        }

        public Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                int? cpu = request.CpuCount; long? mem = request.MemoryMB; string? sizeName = null;
                if (!string.IsNullOrEmpty(request.Size))
                {
                    var s = SizeCatalog.Find(request.Size!) ?? throw GridException.NotFound($"Size '{request.Size}' is not offered.", "SizeNotFound", request.Size);
                    cpu ??= s.Cpu; mem ??= s.MemoryMB;
                    if (cpu == s.Cpu && mem == s.MemoryMB) sizeName = s.Name;
                }
                if (cpu is < 1 || mem is < 16) throw GridException.InvalidRequest("CpuCount must be at least 1 and MemoryMB at least 16.", "InvalidShape", t);
                if (cpu == null && mem == null) throw GridException.InvalidRequest("Give -Size, -CpuCount or -MemoryMB.", "ResizeNothingToDo", t);
                var current = DomainXml.Parse(Virt.XmlDesc(d, Virt.XML_INACTIVE), nativeId);
                sizeName ??= SizeCatalog.Match(cpu ?? current.Vcpus, mem ?? (current.MemoryKiB / 1024));

                bool active = Virt.IsActive(d);
                if (Virt.State(d).State == StateMap.Shutoff && Virt.HasManagedSave(d))
                    throw GridException.Conflict("The workload is suspended; a resize would invalidate its saved memory. Start and stop it first.", "WorkloadSuspended", t);
                if (active && !request.AllowRestart)
                    throw GridException.Conflict("libvirt resizes a stopped guest: stop it first or allow a restart.", "ResizeNeedsRestart", t);
                if (active)
                {
                    Checkpoint(scope, "resize.stop", "graceful");
                    Virt.Shutdown(d, t);
                    WaitForState(d, x => x == StateMap.Shutoff, _shutdownTimeout, cancellationToken, "The guest shutdown before the resize", t);
                }
                string xml = DomainXml.Resize(Virt.XmlDesc(d, Virt.XML_INACTIVE | Virt.XML_SECURE), cpu, mem, sizeName, nativeId);
                Checkpoint(scope, "resize.define", $"{cpu}|{mem}");
                using (Virt.Define(h.Conn, xml)) { }
                if (active)
                {
                    Checkpoint(scope, "resize.start", "");
                    Virt.Create(d, t);
                }
            }, cancellationToken);
        }

        public Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                bool active = Virt.IsActive(d);
                var info = DomainXml.Parse(Virt.XmlDesc(d, Virt.XML_INACTIVE), nativeId);
                var md = info.Metadata;
                foreach (var kv in tags)
                {
                    if (kv.Value == null) md.Tags.Remove(kv.Key); else md.Tags[kv.Key] = kv.Value;
                }
                uint flags = Virt.AFFECT_CONFIG | (active ? Virt.AFFECT_LIVE : 0);
                Virt.SetMetadata(d, md.ToUnqualifiedXml(), DomainXml.MetadataPrefix, DomainXml.MetadataNamespace, flags, t);
            }, cancellationToken);
        }

        // ------------------------------------------------------------------ move / resume

        public Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            if (!Capabilities.HasFlag(GridCapabilities.Move))
                throw GridException.Unsupported("Moving needs at least two hosts in the datacenter.", "CapabilityNotSupported", nativeId);
            return Run(() =>
            {
                var dest = HostByName(destinationHost);
                // A re-run of the same operation (the engine retrying a transient error) first brings the earlier attempt to an end.
                if (scope.Checkpoints.ContainsKey(SaveRestoreMove.DoneKey)) return;
                if (scope.Checkpoints.ContainsKey(SaveRestoreMove.PlanKey) && Moves.Resume(scope.Checkpoints, scope, cancellationToken)) return;
                if (scope.Checkpoints.ContainsKey(LiveMigration.Key) && LiveMigration.Resume(this, scope.Checkpoints, scope, rollback: false)) return;
                var (src, d) = LocateOrThrow(nativeId);
                using (d)
                {
                    if (ReferenceEquals(src, dest)) return;
                    // Live when both ends are daemons and the guest runs (or is paused); a stopped guest has no memory to migrate.
                    if (LiveMigration.CanUse(src, dest) && Virt.IsActive(d))
                    {
                        LiveMigration.Run(this, src, dest, d, nativeId, scope);
                        return;
                    }
                }
                Moves.Move(nativeId, src, dest, scope, cancellationToken);
            }, cancellationToken, nativeId);
        }
    }
}
