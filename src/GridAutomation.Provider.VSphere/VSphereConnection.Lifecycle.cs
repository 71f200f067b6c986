using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.VSphere.Vim25;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>Lifecycle: power, reconfigure, tags and host moves, each one vSphere task followed to its end.</summary>
    public sealed partial class VSphereConnection
    {
        // ---- lifecycle ----------------------------------------------------------------------------------------

        private async Task<(MoRef Vm, string Power, string Name)> StateOfAsync(string nativeId, CancellationToken ct)
        {
            var vm = await ResolveAsync(nativeId, ct).ConfigureAwait(false);
            ObjectContent? oc;
            try { oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "runtime.powerState", "config.template" }, ct).ConfigureAwait(false); }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { oc = null; }
            if (oc == null) throw GridException.NotFound($"The VM '{nativeId}' no longer exists in vSphere datacenter '{_dcName}'.", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
            NotATemplate(oc, nativeId);
            return (vm, oc.Text("runtime.powerState") ?? "", oc.Text("name") ?? nativeId);
        }

        /// <summary>Templates are images, not workloads: acting on one as a workload is NotFound.</summary>
        private void NotATemplate(ObjectContent oc, string nativeId)
        {
            if (oc.Bool("config.template") == true)
                throw GridException.NotFound($"'{oc.Text("name")}' ({nativeId}) is a template, not a workload (see Get-GridImage).", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
        }

        /// <summary>Starts a task method and follows it, reporting progress through the scope.</summary>
        private async Task<VimNode?> RunTaskAsync(string method, MoRef target, Action<System.Xml.XmlWriter>? args, string activity, string vmName, IOperationScope? scope, CancellationToken ct)
        {
            scope?.Report(new GridProgress(activity, $"{vmName}: {method}", 0));
            var resp = await _vim.InvokeAsync(method, target, args, ct).ConfigureAwait(false);
            var task = resp?.Child("returnval")?.AsMoRef() ?? throw VimClient.Malformed($"{method} returned no task.", null);
            return await VimTasks.WaitAsync(_vim, task, $"{activity} '{vmName}'",
                (pct, state) => scope?.Report(new GridProgress(activity, $"{vmName}: {method} {state}", pct)), ct, vmName).ConfigureAwait(false);
        }

        public Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var (vm, power, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                if (power == "poweredOn") return true;
                await RunTaskAsync("PowerOnVM_Task", vm, null, "Start workload", name, scope, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken);

        public Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (mode == StopMode.Deallocate)
                throw GridException.Unsupported("vSphere has no deallocated state: use Stop-GridWorkload (guest shutdown) or -TurnOff.", "CapabilityNotSupported", WorkloadId.Format(Datacenter.Name, nativeId));
            return WithSessionAsync(async () =>
            {
                var (vm, power, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                if (power == "poweredOff") return true;
                if (mode == StopMode.TurnOff)
                {
                    await RunTaskAsync("PowerOffVM_Task", vm, null, "Stop workload (power off)", name, scope, cancellationToken).ConfigureAwait(false);
                    return true;
                }
                if (power == "suspended")
                    throw GridException.Conflict($"'{name}' is suspended: its guest cannot shut down. Start it first, or use -TurnOff to power it off (discarding the suspended state).", "WorkloadSuspended", WorkloadId.Format(Datacenter.Name, nativeId));
                scope?.Report(new GridProgress("Stop workload (guest shutdown)", name + ": ShutdownGuest", 0));
                try
                {
                    await _vim.InvokeAsync("ShutdownGuest", vm, null, cancellationToken).ConfigureAwait(false);
                }
                catch (GridException ex) when (ex.NativeCode == "ToolsUnavailable" || ex.NativeCode == "NotSupported" || ex.NativeCode == "NotImplemented")
                {
                    throw new GridException(GridErrorKind.Conflict, $"The guest of '{name}' cannot be shut down gracefully ({ex.NativeCode}: VMware Tools are not running). Use -TurnOff to power it off.", "GuestShutdownUnavailable", ex) { NativeCode = ex.NativeCode, Target = WorkloadId.Format(Datacenter.Name, nativeId) };
                }
                // ShutdownGuest returns at once; wait for the guest to power off.
                var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
                int delay = 100;
                while (true)
                {
                    var oc = await _vim.GetPropertiesAsync(vm, new[] { "runtime.powerState" }, cancellationToken).ConfigureAwait(false);
                    if (oc?.Text("runtime.powerState") == "poweredOff") { scope?.Report(new GridProgress("Stop workload (guest shutdown)", name + ": powered off", 100)); return true; }
                    if (DateTime.UtcNow > deadline)
                        throw GridException.Conflict($"The guest of '{name}' did not power off within 10 minutes after ShutdownGuest. Use -TurnOff to power it off.", "GuestShutdownTimeout", WorkloadId.Format(Datacenter.Name, nativeId));
                    try { await Task.Delay(delay, cancellationToken).ConfigureAwait(false); } catch (OperationCanceledException oce) { throw Cancelled(oce); }
                    delay = Math.Min(delay * 2, 2000);
                }
            }, cancellationToken);
        }

        /// <summary>ResetVM_Task (a hard reset, as PowerCLI's Restart-VM).</summary>
        public Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var (vm, power, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                if (power != "poweredOn")
                    throw GridException.Conflict($"'{name}' is {power}: only a powered-on VM can be restarted. Use Start-GridWorkload.", "WorkloadNotRunning", WorkloadId.Format(Datacenter.Name, nativeId));
                await RunTaskAsync("ResetVM_Task", vm, null, "Restart workload (reset)", name, scope, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken);

        public Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var (vm, power, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                if (power == "suspended") return true;
                if (power != "poweredOn")
                    throw GridException.Conflict($"'{name}' is {power}: only a powered-on VM can be suspended.", "WorkloadNotRunning", WorkloadId.Format(Datacenter.Name, nativeId));
                await RunTaskAsync("SuspendVM_Task", vm, null, "Suspend workload", name, scope, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken);

        /// <summary>UnregisterVM (files kept) or, with removeStorage, Destroy_Task. A powered-on VM is powered off first.</summary>
        public Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var (vm, power, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                if (power == "poweredOn")
                    await RunTaskAsync("PowerOffVM_Task", vm, null, "Remove workload (power off)", name, scope, cancellationToken).ConfigureAwait(false);
                if (removeStorage)
                    await RunTaskAsync("Destroy_Task", vm, null, "Remove workload (delete from disk)", name, scope, cancellationToken).ConfigureAwait(false);
                else
                {
                    scope?.Report(new GridProgress("Remove workload (unregister, files kept)", name + ": UnregisterVM", 0));
                    await _vim.InvokeAsync("UnregisterVM", vm, null, cancellationToken).ConfigureAwait(false);
                    scope?.Report(new GridProgress("Remove workload (unregister, files kept)", name + ": unregistered", 100));
                }
                return true;
            }, cancellationToken);

        private static void WriteConfigSpec(System.Xml.XmlWriter w, string? instanceUuid, string? annotation, int? cpu, long? memoryMB, string? idempotencyKey)
        {
            VimClient.StartTyped(w, "spec", "VirtualMachineConfigSpec");
            WriteConfigBody(w, instanceUuid, annotation, cpu, memoryMB, idempotencyKey);
            w.WriteEndElement();
        }

        private static void WriteConfigBody(System.Xml.XmlWriter w, string? instanceUuid, string? annotation, int? cpu, long? memoryMB, string? idempotencyKey)
        {
            // Element order follows the WSDL sequence of VirtualMachineConfigSpec.
            if (instanceUuid != null) w.WriteElementString("instanceUuid", instanceUuid);
            if (annotation != null) w.WriteElementString("annotation", annotation);
            if (cpu.HasValue) w.WriteElementString("numCPUs", cpu.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (memoryMB.HasValue) w.WriteElementString("memoryMB", memoryMB.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (idempotencyKey != null)
            {
                VimClient.StartTyped(w, "extraConfig", "OptionValue");
                w.WriteElementString("key", VSphereMapping.IdempotencyExtraConfigKey);
                VimClient.StartTyped(w, "value", "xsd:string");
                w.WriteString(idempotencyKey);
                w.WriteEndElement();
                w.WriteEndElement();
            }
        }

        private async Task ReconfigureAsync(MoRef vm, string name, int? cpu, long? memoryMB, string? annotation, IOperationScope? scope, CancellationToken ct)
        {
            await RunTaskAsync("ReconfigVM_Task", vm, w => WriteConfigSpec(w, null, annotation, cpu, memoryMB, null), "Resize workload", name, scope, ct).ConfigureAwait(false);
        }

        private static (int? Cpu, long? Mem) Shape(string? size, int? cpu, long? mem, object target)
        {
            if (!string.IsNullOrWhiteSpace(size))
            {
                if (!VSphereMapping.TryParseSize(size, out var c, out var m))
                    throw GridException.InvalidRequest($"Size '{size}' is not a vSphere shape: use '<vCPU>x<GB>' such as '2x4' (2 vCPU, 4 GB) or '2x512MB'. Get-GridSize lists common shapes.", "SizeNotFound", target);
                cpu ??= c; mem ??= m;
            }
            if (cpu.HasValue && cpu <= 0) throw GridException.InvalidRequest("CpuCount must be at least 1.", "InvalidCpuCount", target);
            if (mem.HasValue && mem <= 0) throw GridException.InvalidRequest("MemoryMB must be positive.", "InvalidMemory", target);
            return (cpu, mem);
        }

        public Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            string id = WorkloadId.Format(Datacenter.Name, nativeId);
            var (cpu, mem) = Shape(request.Size, request.CpuCount, request.MemoryMB, id);
            if (!cpu.HasValue && !mem.HasValue) throw GridException.InvalidRequest("Resize needs -Size, -CpuCount or -MemoryMB.", "NothingToResize", id);
            return WithSessionAsync(async () =>
            {
                var vm = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "runtime.powerState", "config.hardware.numCPU", "config.hardware.memoryMB", "config.template" }, cancellationToken).ConfigureAwait(false)
                         ?? throw GridException.NotFound($"The VM '{nativeId}' no longer exists.", "WorkloadNotFound", id);
                NotATemplate(oc, nativeId);
                string name = oc.Text("name") ?? nativeId;
                if ((!cpu.HasValue || cpu == oc.Int("config.hardware.numCPU")) && (!mem.HasValue || mem == oc.Long("config.hardware.memoryMB"))) return true;
                bool wasOn = oc.Text("runtime.powerState") == "poweredOn";
                if (wasOn)
                {
                    if (!request.AllowRestart)
                        throw GridException.Conflict($"'{name}' is powered on: changing its CPU/memory needs a power off. Stop it first, or allow the restart (-AllowRestart).", "ResizeRequiresRestart", id);
                    await RunTaskAsync("PowerOffVM_Task", vm, null, "Resize workload (power off)", name, scope, cancellationToken).ConfigureAwait(false);
                }
                await ReconfigureAsync(vm, name, cpu, mem, null, scope, cancellationToken).ConfigureAwait(false);
                if (wasOn) await RunTaskAsync("PowerOnVM_Task", vm, null, "Resize workload (power on)", name, scope, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken);
        }

        public Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (_tags == null)
                throw GridException.Unsupported($"Tags are not available on {Endpoint} (no vAPI tagging endpoint).", "CapabilityNotSupported", WorkloadId.Format(Datacenter.Name, nativeId));
            return WithSessionAsync(async () =>
            {
                var (vm, _, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                scope?.Report(new GridProgress("Set tags", name, 0));
                await _tags.SetTagsAsync(vm, tags, cancellationToken).ConfigureAwait(false);
                scope?.Report(new GridProgress("Set tags", name, 100));
                return true;
            }, cancellationToken);
        }

        /// <summary>vMotion: RelocateVM_Task to the host (and its cluster's / compute resource's root pool when it changes). Live when powered on.</summary>
        public Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (!Capabilities.HasFlag(GridCapabilities.Move))
                throw GridException.Unsupported($"{Endpoint} is not a vCenter: VMs cannot be moved between hosts.", "CapabilityNotSupported", WorkloadId.Format(Datacenter.Name, nativeId));
            return WithSessionAsync(async () =>
            {
                var hosts = await LoadHostsAsync(false, cancellationToken).ConfigureAwait(false);
                var dest = hosts.Values.FirstOrDefault(h => string.Equals(h.Name, destinationHost, StringComparison.OrdinalIgnoreCase) || h.Ref.Value == destinationHost)
                           ?? throw GridException.NotFound($"No host '{destinationHost}' in vSphere datacenter '{_dcName}'. Hosts: {string.Join(", ", hosts.Values.Select(h => h.Name))}.", "HostNotFound", destinationHost);
                var vm = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "runtime.host", "runtime.powerState", "config.template" }, cancellationToken).ConfigureAwait(false)
                         ?? throw GridException.NotFound($"The VM '{nativeId}' no longer exists.", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
                NotATemplate(oc, nativeId);
                string name = oc.Text("name") ?? nativeId;
                var current = oc.Ref("runtime.host");
                if (current.HasValue && current.Value.Equals(dest.Ref)) return true;
                hosts.TryGetValue(current ?? default, out var src);
                bool changePool = src == null || !src.ComputeResource.Equals(dest.ComputeResource);
                if (dest.Grid.State != HostState.Connected)
                    throw GridException.Conflict($"Host '{dest.Name}' is {dest.Grid.NativeState}{(dest.Grid.State == HostState.Maintenance ? " (maintenance mode)" : "")}: it cannot receive VMs.", "HostNotAvailable", dest.Name);
                string kind = oc.Text("runtime.powerState") == "poweredOn" ? "vMotion (live)" : "cold migration";
                await RunTaskAsync("RelocateVM_Task", vm, w =>
                {
                    VimClient.StartTyped(w, "spec", "VirtualMachineRelocateSpec");
                    if (changePool && dest.ResourcePool.HasValue) VimClient.WriteMoRef(w, "pool", dest.ResourcePool.Value);
                    VimClient.WriteMoRef(w, "host", dest.Ref);
                    w.WriteEndElement();
                    w.WriteElementString("priority", "defaultPriority");
                }, $"Move workload ({kind}) to {dest.Name}", name, scope, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken);
        }
    }
}
