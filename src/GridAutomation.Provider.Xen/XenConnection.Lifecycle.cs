using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Xen.Xapi;

namespace GridAutomation.Providers.Xen
{
    /// <summary>Changes: each is a few XAPI calls, the long ones as Async.VM.* followed through their task.</summary>
    internal sealed partial class XenConnection
    {
        private string Id(string nativeId) => WorkloadId.Format(Datacenter.Name, nativeId);

        /// <summary>Runs Async.VM.&lt;op&gt; on a VM, reporting the task's progress to the scope.</summary>
        private async Task<string?> VmTaskAsync(string op, string activity, string name, IOperationScope? scope, string nativeId, CancellationToken ct, params object?[] args)
        {
            try
            {
                return await _x.RunTaskAsync("VM." + op, p => scope?.Report(new GridProgress(activity, $"{name}: VM.{op} {p}%", p)), ct, args).ConfigureAwait(false);
            }
            catch (XapiFailure f) { throw XapiErrors.ToException(f, $"{activity} '{name}' (VM.{op})", Id(nativeId)); }
        }

        public async Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            var (vm, rec) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string name = XapiValue.Str(rec, "name_label") ?? nativeId;
            switch (XapiValue.Str(rec, "power_state"))
            {
                case "Running": return;
                case "Halted": await VmTaskAsync("start", "Starting", name, scope, nativeId, cancellationToken, vm, false, false).ConfigureAwait(false); return;
                case "Suspended": await VmTaskAsync("resume", "Resuming", name, scope, nativeId, cancellationToken, vm, false, false).ConfigureAwait(false); return;
                case "Paused": await VmTaskAsync("unpause", "Unpausing", name, scope, nativeId, cancellationToken, vm).ConfigureAwait(false); return;
                default: throw GridException.Conflict($"'{name}' is in power state '{XapiValue.Str(rec, "power_state")}', which cannot be started.", "WorkloadStateUnknown", Id(nativeId));
            }
        }

        public async Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (mode == StopMode.Deallocate)
                throw GridException.Unsupported("Xen has no deallocated state: a halted VM holds no host resources. Use Stop-GridWorkload without -Deallocate.", "CapabilityNotSupported", Id(nativeId));
            var (vm, rec) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string name = XapiValue.Str(rec, "name_label") ?? nativeId;
            string power = XapiValue.Str(rec, "power_state") ?? "";
            if (power == "Halted") return;
            if (mode == StopMode.TurnOff)
            {
                await VmTaskAsync("hard_shutdown", "Turning off", name, scope, nativeId, cancellationToken, vm).ConfigureAwait(false);
                return;
            }
            if (power != "Running")
                throw GridException.Conflict($"'{name}' is {power}: XAPI shuts down only a running guest cleanly. Start it first, or use -TurnOff (VM.hard_shutdown{(power == "Suspended" ? ", discarding the suspended state" : "")}).", "WorkloadNotRunning", Id(nativeId));
            await VmTaskAsync("clean_shutdown", "Shutting down", name, scope, nativeId, cancellationToken, vm).ConfigureAwait(false);
        }

        public async Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            var (vm, rec) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string name = XapiValue.Str(rec, "name_label") ?? nativeId;
            string power = XapiValue.Str(rec, "power_state") ?? "";
            if (power != "Running")
                throw GridException.Conflict($"'{name}' is {power}: only a running VM can be restarted. Use Start-GridWorkload.", "WorkloadNotRunning", Id(nativeId));
            await VmTaskAsync("clean_reboot", "Restarting", name, scope, nativeId, cancellationToken, vm).ConfigureAwait(false);
        }

        public async Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            var (vm, rec) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string name = XapiValue.Str(rec, "name_label") ?? nativeId;
            string power = XapiValue.Str(rec, "power_state") ?? "";
            if (power == "Suspended") return;
            if (power != "Running")
                throw GridException.Conflict($"'{name}' is {power}: only a running VM can be suspended.", "WorkloadNotRunning", Id(nativeId));
            await VmTaskAsync("suspend", "Suspending", name, scope, nativeId, cancellationToken, vm).ConfigureAwait(false);
        }

        public async Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
        {
            (string vm, Dictionary<string, object?> rec) target;
            try { target = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false); }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound && scope.IsResume) { return; } // an interrupted remove already got there
            var (vm, rec) = target;
            string name = XapiValue.Str(rec, "name_label") ?? nativeId;
            if (XapiValue.Str(rec, "power_state") != "Halted")
                await VmTaskAsync("hard_shutdown", "Turning off", name, scope, nativeId, cancellationToken, vm).ConfigureAwait(false);
            // The disks to delete are read before VM.destroy removes the VBDs that point to them.
            var vdis = new List<string>();
            if (removeStorage)
            {
                var vbds = await XapiAsync(() => _x.GetAllRecordsAsync("VBD", cancellationToken), "Reading the disks of " + name, Id(nativeId)).ConfigureAwait(false);
                foreach (var vbd in vbds.Values)
                {
                    if (XapiValue.Str(vbd, "VM") != vm || XapiValue.Str(vbd, "type") == "CD") continue;
                    string? vdi = XapiValue.Str(vbd, "VDI");
                    if (!XapiValue.IsNullRef(vdi)) vdis.Add(vdi!);
                }
                scope.Checkpoint("vdis", string.Join(",", vdis));
            }
            await VmTaskAsync("destroy", "Removing", name, scope, nativeId, cancellationToken, vm).ConfigureAwait(false);
            foreach (var vdi in vdis)
            {
                try { await _x.RunTaskAsync("VDI.destroy", null, cancellationToken, vdi).ConfigureAwait(false); }
                catch (XapiFailure f) when (f.Code == "HANDLE_INVALID") { }
                catch (XapiFailure f) { throw XapiErrors.ToException(f, $"Removing a disk of '{name}' (VDI.destroy {vdi}); the VM itself is removed", Id(nativeId)); }
            }
        }

        public async Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            var (vm, rec) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string name = XapiValue.Str(rec, "name_label") ?? nativeId;
            int? cpu = request.CpuCount; long? memMB = request.MemoryMB;
            if (!string.IsNullOrEmpty(request.Size))
            {
                var s = SizeCatalog.Find(request.Size!) ?? throw GridException.NotFound(
                    $"Size '{request.Size}' is not offered. Sizes: {string.Join(", ", SizeCatalog.Shapes.Select(x => x.Name))}.", "SizeNotFound", request.Size);
                cpu ??= s.Cpu; memMB ??= s.MemoryMB;
            }
            if (cpu == null && memMB == null) return;
            if (cpu.HasValue && cpu < 1) throw GridException.InvalidRequest("CPU count must be at least 1.", "InvalidCpuCount", Id(nativeId));
            if (memMB.HasValue && memMB < 16) throw GridException.InvalidRequest("Memory must be at least 16 MB.", "InvalidMemory", Id(nativeId));
            string power = XapiValue.Str(rec, "power_state") ?? "";
            bool restart = false;
            if (power != "Halted")
            {
                if (!request.AllowRestart || power != "Running")
                    throw GridException.Conflict($"'{name}' is {power}: XAPI changes CPU and memory limits only while the VM is halted. Stop it first{(power == "Running" ? ", or allow the restart (-AllowRestart)" : "")}.", "ResizeRequiresRestart", Id(nativeId));
                scope.Checkpoint("restart", "stopping");
                await VmTaskAsync("clean_shutdown", "Shutting down for resize", name, scope, nativeId, cancellationToken, vm).ConfigureAwait(false);
                restart = true;
            }
            await XapiAsync(async () =>
            {
                if (cpu.HasValue)
                {
                    long current = XapiValue.Long(rec, "VCPUs_max") ?? 1;
                    // VCPUs_at_startup may never exceed VCPUs_max: raise max first, lower at_startup first.
                    if (cpu.Value >= current)
                    {
                        await _x.CallAsync("VM.set_VCPUs_max", cancellationToken, vm, (long)cpu.Value).ConfigureAwait(false);
                        await _x.CallAsync("VM.set_VCPUs_at_startup", cancellationToken, vm, (long)cpu.Value).ConfigureAwait(false);
                    }
                    else
                    {
                        await _x.CallAsync("VM.set_VCPUs_at_startup", cancellationToken, vm, (long)cpu.Value).ConfigureAwait(false);
                        await _x.CallAsync("VM.set_VCPUs_max", cancellationToken, vm, (long)cpu.Value).ConfigureAwait(false);
                    }
                }
                if (memMB.HasValue)
                {
                    long bytes = memMB.Value * 1024 * 1024;
                    long staticMin = Math.Min(XapiValue.Long(rec, "memory_static_min") ?? bytes, bytes);
                    await _x.CallAsync("VM.set_memory_limits", cancellationToken, vm, staticMin, bytes, bytes, bytes).ConfigureAwait(false);
                }
            }, $"Resizing '{name}'", Id(nativeId)).ConfigureAwait(false);
            if (restart)
            {
                scope.Checkpoint("restart", "starting");
                await VmTaskAsync("start", "Starting after resize", name, scope, nativeId, cancellationToken, vm, false, false).ConfigureAwait(false);
            }
        }

        public async Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
        {
            var (vm, rec) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string name = XapiValue.Str(rec, "name_label") ?? nativeId;
            var labels = XapiValue.Strings(rec, "tags").ToList();
            await XapiAsync(async () =>
            {
                foreach (var kv in tags)
                {
                    string? field = XenMapping.CustomFieldKey(rec, kv.Key);
                    if (field != null)
                    {
                        // A XenCenter custom field: updated (or removed) in other_config, where it lives.
                        await _x.CallAsync("VM.remove_from_other_config", cancellationToken, vm, field).ConfigureAwait(false);
                        if (kv.Value != null) await _x.CallAsync("VM.add_to_other_config", cancellationToken, vm, field, kv.Value).ConfigureAwait(false);
                        foreach (var old in labels.Where(l => XenMapping.TagHasKey(l, kv.Key)).ToList())
                        {
                            await _x.CallAsync("VM.remove_tags", cancellationToken, vm, old).ConfigureAwait(false);
                            labels.Remove(old);
                        }
                        continue;
                    }
                    foreach (var old in labels.Where(l => XenMapping.TagHasKey(l, kv.Key)).ToList())
                    {
                        if (kv.Value != null && old == XenMapping.TagLabel(kv.Key, kv.Value)) continue;
                        await _x.CallAsync("VM.remove_tags", cancellationToken, vm, old).ConfigureAwait(false);
                        labels.Remove(old);
                    }
                    if (kv.Value != null && !labels.Contains(XenMapping.TagLabel(kv.Key, kv.Value)))
                    {
                        await _x.CallAsync("VM.add_tags", cancellationToken, vm, XenMapping.TagLabel(kv.Key, kv.Value)).ConfigureAwait(false);
                        labels.Add(XenMapping.TagLabel(kv.Key, kv.Value));
                    }
                }
            }, $"Tagging '{name}'", Id(nativeId)).ConfigureAwait(false);
        }

        private async Task<(string Ref, string Name)> FindHostAsync(string hostName, CancellationToken ct)
        {
            var hosts = await XapiAsync(() => _x.GetAllRecordsAsync("host", ct), "Listing hosts").ConfigureAwait(false);
            foreach (var kv in hosts)
            {
                string n = XapiValue.Str(kv.Value, "name_label") ?? "";
                if (string.Equals(n, hostName, StringComparison.OrdinalIgnoreCase) || string.Equals(XapiValue.Str(kv.Value, "uuid"), hostName, StringComparison.OrdinalIgnoreCase))
                    return (kv.Key, n);
            }
            throw GridException.NotFound($"No host '{hostName}' in pool '{PoolName}' ({Datacenter.Name}). Hosts: {string.Join(", ", hosts.Values.Select(h => XapiValue.Str(h, "name_label")))}.", "HostNotFound", hostName);
        }

        /// <summary>
        /// A running VM moves live with VM.pool_migrate; a halted or suspended one gets the host as its affinity, so
        /// it starts or resumes there.
        /// </summary>
        public async Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
        {
            var (vm, rec) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string name = XapiValue.Str(rec, "name_label") ?? nativeId;
            var (host, hostName) = await FindHostAsync(destinationHost, cancellationToken).ConfigureAwait(false);
            string power = XapiValue.Str(rec, "power_state") ?? "";
            if (power == "Running")
            {
                if (XapiValue.Str(rec, "resident_on") == host) return;
                await VmTaskAsync("pool_migrate", "Moving to " + hostName, name, scope, nativeId, cancellationToken, vm, host,
                    new Dictionary<string, object?> { ["live"] = "true" }).ConfigureAwait(false);
                return;
            }
            if (power == "Paused")
                throw GridException.Conflict($"'{name}' is Paused: XAPI migrates only running VMs. Start (unpause) it first.", "WorkloadNotRunning", Id(nativeId));
            await XapiAsync(() => _x.CallAsync("VM.set_affinity", cancellationToken, vm, host), $"Setting the home host of '{name}'", Id(nativeId)).ConfigureAwait(false);
        }

        public Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken cancellationToken)
            => throw GridException.Unsupported("Xen operations are single XAPI tasks: the engine re-runs them idempotently.", "ResumeNotSupported");
    }
}
