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
    /// <summary>Create: clone from a template, placed on a resource pool, host and datastore.</summary>
    public sealed partial class VSphereConnection
    {
        // ---- create -------------------------------------------------------------------------------------------

        public Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (!Capabilities.HasFlag(GridCapabilities.Create))
                throw GridException.Unsupported($"{Endpoint} is not a vCenter: VMs cannot be cloned from templates there.", "CapabilityNotSupported", request.Name);
            if (string.IsNullOrWhiteSpace(request.Name)) throw GridException.InvalidRequest("A workload needs a name.", "NameRequired");
            if (request.Options.TryGetValue(ImportedDiskOption, out var imported) && !string.IsNullOrEmpty(imported))
                return AdoptImportedAsync(request, imported, scope, cancellationToken); // a move adopts the imported VM, a failover copies it (VSphereMoveCreate.cs)
            if (string.IsNullOrWhiteSpace(request.Image))
                throw GridException.InvalidRequest("vSphere creates workloads by cloning a template: give -Image <template name> (Get-GridImage lists them).", "ImageRequired", request.Name);
            var (cpu, mem) = Shape(request.Size, request.CpuCount, request.MemoryMB, request.Name);
            string key = !string.IsNullOrEmpty(request.IdempotencyKey) ? request.IdempotencyKey : (scope?.IdempotencyKey ?? Datacenter.Name + "/" + request.Name);
            string uuid = VSphereMapping.DeterministicUuid((_vim.Content.InstanceUuid ?? "") + "/" + _dc.Value, key);
            return WithSessionAsync(async () =>
            {
                var ct = cancellationToken;
                // Idempotency: the instance UUID derives from the key, so an earlier run's VM is found in one call.
                var existing = await FindByInstanceUuidAsync(uuid, ct).ConfigureAwait(false);
                if (existing.HasValue)
                {
                    _verbose($"A VM for idempotency key '{key}' already exists ({existing.Value.Value}): returning it.");
                    return await FinishCreateAsync(existing.Value, uuid, request, cpu, mem, scope, ct).ConfigureAwait(false);
                }
                // Should vCenter not have kept our instance UUID, the key is also in the VM's extraConfig: look the name up.
                var byName = await FindChildAsync(_vmFolder, request.Name, ct).ConfigureAwait(false);
                if (byName.HasValue && byName.Value.Type == "VirtualMachine")
                {
                    var ec = await _vim.GetPropertiesAsync(byName.Value, new[] { "config.extraConfig", "config.instanceUuid" }, ct).ConfigureAwait(false);
                    string? theirKey = ec?.Get("config.extraConfig")?.Children
                        .FirstOrDefault(o => o.ChildText("key") == VSphereMapping.IdempotencyExtraConfigKey)?.ChildText("value");
                    if (theirKey == key)
                    {
                        _verbose($"'{request.Name}' already carries idempotency key '{key}': returning it.");
                        return await FinishCreateAsync(byName.Value, ec?.Text("config.instanceUuid") ?? uuid, request, cpu, mem, scope, ct).ConfigureAwait(false);
                    }
                    throw GridException.Conflict($"A VM named '{request.Name}' already exists in the VM folder of vSphere datacenter '{_dcName}' (made by another request, or outside GridAutomation). Choose another name or remove it.", "WorkloadNameExists", request.Name);
                }
                var template = await FindTemplateAsync(request.Image!, ct).ConfigureAwait(false);
                var (pool, host, hostName) = await PlaceAsync(request, mem, ct).ConfigureAwait(false);
                MoRef? datastore = null;
                if (request.Options.TryGetValue("Datastore", out var dsName) && !string.IsNullOrEmpty(dsName))
                    datastore = await FindDatastoreAsync(dsName, ct).ConfigureAwait(false);
                scope?.Checkpoint("instanceUuid", uuid);
                string activity = $"Create workload '{request.Name}' (clone of {template.Name} on {hostName})";
                var vm = await CloneIntoFolderAsync(template.Ref, request.Name, pool, host, datastore, uuid, cpu, mem, key, false, activity, scope, ct).ConfigureAwait(false);
                scope?.Checkpoint("moref", vm.Value);
                return await FinishCreateAsync(vm, uuid, request, cpu, mem, scope, ct).ConfigureAwait(false);
            }, cancellationToken);
        }

        /// <summary>
        /// CloneVM_Task of a template or VM into the VM folder, powered off, under <paramref name="name"/> with the
        /// instance UUID and idempotency key given; <paramref name="notAnImport"/> removes the import marker a clone
        /// of an imported VM would inherit. Returns the new VM.
        /// </summary>
        private async Task<MoRef> CloneIntoFolderAsync(MoRef source, string name, MoRef? pool, MoRef? host, MoRef? datastore, string uuid, int? cpu, long? mem, string key,
            bool notAnImport, string activity, IOperationScope? scope, CancellationToken ct)
        {
            var result = await RunTaskAsync("CloneVM_Task", source, w =>
            {
                VimClient.WriteMoRef(w, "folder", _vmFolder);
                w.WriteElementString("name", name);
                w.WriteStartElement("spec");
                w.WriteStartElement("location");
                if (datastore.HasValue) VimClient.WriteMoRef(w, "datastore", datastore.Value);
                if (pool.HasValue) VimClient.WriteMoRef(w, "pool", pool.Value);
                if (host.HasValue) VimClient.WriteMoRef(w, "host", host.Value);
                w.WriteEndElement();
                w.WriteElementString("template", "false");
                w.WriteStartElement("config");
                WriteConfigBody(w, uuid, null, cpu, mem, key);
                if (notAnImport)
                {
                    // an empty value removes the key
                    VimClient.StartTyped(w, "extraConfig", "OptionValue");
                    w.WriteElementString("key", ImportMarkerKey);
                    VimClient.StartTyped(w, "value", "xsd:string");
                    w.WriteEndElement();
                    w.WriteEndElement();
                }
                w.WriteEndElement();
                w.WriteElementString("powerOn", "false");
                w.WriteEndElement();
            }, activity, name, scope, ct).ConfigureAwait(false);
            return result?.AsMoRef() ?? await FindByInstanceUuidAsync(uuid, ct).ConfigureAwait(false)
                   ?? throw VimClient.Malformed("CloneVM_Task succeeded without a VM.", null);
        }

        /// <summary>Brings a cloned (or found) VM to the request: CPU/memory (vCenter may not apply them on clone), tags, power.</summary>
        private async Task<GridWorkload> FinishCreateAsync(MoRef vm, string uuid, CreateWorkloadRequest request, int? cpu, long? mem, IOperationScope? scope, CancellationToken ct)
        {
            var oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "runtime.powerState", "config.hardware.numCPU", "config.hardware.memoryMB" }, ct).ConfigureAwait(false)
                     ?? throw GridException.NotFound($"The VM made for '{request.Name}' disappeared.", "WorkloadNotFound", request.Name);
            string power = oc.Text("runtime.powerState") ?? "";
            bool cpuDiffers = cpu.HasValue && cpu != oc.Int("config.hardware.numCPU");
            bool memDiffers = mem.HasValue && mem != oc.Long("config.hardware.memoryMB");
            if ((cpuDiffers || memDiffers) && power == "poweredOff")
                await ReconfigureAsync(vm, request.Name, cpuDiffers ? cpu : null, memDiffers ? mem : null, null, scope, ct).ConfigureAwait(false);
            if (request.Tags.Count > 0 && _tags != null)
                await _tags.SetTagsAsync(vm, request.Tags.ToDictionary(kv => kv.Key, kv => (string?)kv.Value, StringComparer.OrdinalIgnoreCase), ct).ConfigureAwait(false);
            if (request.PowerOn && power != "poweredOn")
                await RunTaskAsync("PowerOnVM_Task", vm, null, "Create workload (power on)", request.Name, scope, ct).ConfigureAwait(false);
            return await GetByRefAsync(vm, uuid, ct).ConfigureAwait(false);
        }

        private async Task<MoRef?> FindChildAsync(MoRef folder, string name, CancellationToken ct)
        {
            var resp = await _vim.InvokeAsync("FindChild", _vim.Content.SearchIndex, w =>
            {
                VimClient.WriteMoRef(w, "entity", folder);
                w.WriteElementString("name", name);
            }, ct).ConfigureAwait(false);
            var rv = resp?.Child("returnval");
            return rv == null || string.IsNullOrEmpty(rv.Text) ? (MoRef?)null : rv.AsMoRef();
        }

        private async Task<(MoRef Ref, string Name)> FindTemplateAsync(string image, CancellationToken ct)
        {
            var byUuid = VSphereMapping.IsUuid(image) ? await FindByInstanceUuidAsync(image, ct).ConfigureAwait(false) : null;
            var candidates = new List<(MoRef, string)>();
            await foreach (var oc in RetrieveVmsAsync(new[] { "name", "config.template" }, 1000, ct).ConfigureAwait(false))
            {
                if (oc.Bool("config.template") != true) continue;
                string name = oc.Text("name") ?? "";
                if ((byUuid.HasValue && oc.Obj.Equals(byUuid.Value)) || string.Equals(name, image, StringComparison.OrdinalIgnoreCase) || oc.Obj.Value == image)
                    candidates.Add((oc.Obj, name));
            }
            if (candidates.Count == 0) throw GridException.NotFound($"No template '{image}' in vSphere datacenter '{_dcName}'. Get-GridImage lists the templates.", "ImageNotFound", image);
            return candidates[0];
        }

        private async Task<MoRef> FindDatastoreAsync(string name, CancellationToken ct)
        {
            var view = await _vim.CreateContainerViewAsync(_dc, new[] { "Datastore" }, ct).ConfigureAwait(false);
            try
            {
                var all = await _vim.RetrieveAllAsync(new FilterSpec { Root = view, ViaView = true }.Add("Datastore", "name"), ct).ConfigureAwait(false);
                var ds = all.FirstOrDefault(o => string.Equals(o.Text("name"), name, StringComparison.OrdinalIgnoreCase));
                return ds?.Obj ?? throw GridException.NotFound($"No datastore '{name}' in vSphere datacenter '{_dcName}'. Datastores: {string.Join(", ", all.Select(o => o.Text("name")))}.", "DatastoreNotFound", name);
            }
            finally { try { await _vim.DestroyViewAsync(view, CancellationToken.None).ConfigureAwait(false); } catch (GridException) { } }
        }

        /// <summary>
        /// Chooses where a clone goes: the host named by TargetHost, the cluster/compute resource so named (its host with
        /// the most free memory), or else the connected host with the most free memory (then free vCPUs).
        /// </summary>
        private async Task<(MoRef Pool, MoRef? Host, string HostName)> PlaceAsync(CreateWorkloadRequest request, long? memoryMB, CancellationToken ct)
        {
            var hosts = await LoadHostsAsync(true, ct).ConfigureAwait(false);
            IEnumerable<HostInfo> candidates = hosts.Values.Where(h => h.Grid.State == HostState.Connected && h.ResourcePool.HasValue);
            string? target = request.TargetHost;
            if (!string.IsNullOrWhiteSpace(target))
            {
                var exact = hosts.Values.FirstOrDefault(h => string.Equals(h.Name, target, StringComparison.OrdinalIgnoreCase) || h.Ref.Value == target);
                if (exact != null)
                {
                    if (exact.Grid.State != HostState.Connected)
                        throw GridException.Conflict($"Host '{exact.Name}' is {exact.Grid.NativeState}{(exact.Grid.State == HostState.Maintenance ? " (maintenance mode)" : "")}: it cannot receive VMs.", "HostNotAvailable", exact.Name);
                    return (exact.ResourcePool ?? throw GridException.Conflict($"Host '{exact.Name}' has no resource pool.", "HostNotAvailable", exact.Name), exact.Ref, exact.Name);
                }
                candidates = candidates.Where(h => string.Equals(h.Cluster, target, StringComparison.OrdinalIgnoreCase)
                                                   || string.Equals(h.Grid.Properties["ComputeResource"] as string, target, StringComparison.OrdinalIgnoreCase)).ToList();
                if (!candidates.Any())
                {
                    // A resource pool of that name: vCenter (DRS) places the VM on one of its owner's hosts.
                    var pool = await FindResourcePoolAsync(target!, ct).ConfigureAwait(false);
                    if (pool.HasValue)
                    {
                        var owner = hosts.Values.FirstOrDefault(h => h.ComputeResource.Equals(pool.Value.Owner));
                        return (pool.Value.Pool, null, "resource pool " + target + (owner?.Cluster != null ? " of " + owner.Cluster : ""));
                    }
                }
                if (!candidates.Any())
                    throw GridException.NotFound($"No host or cluster '{target}' (connected) in vSphere datacenter '{_dcName}'. Hosts: {string.Join(", ", hosts.Values.Select(h => h.Name))}.", "HostNotFound", target);
            }
            var best = candidates
                .OrderByDescending(h => h.Grid.FreeMemoryMB ?? 0)
                .ThenByDescending(h => h.Grid.FreeCpu ?? 0)
                .ThenBy(h => h.Name, StringComparer.OrdinalIgnoreCase)
                .FirstOrDefault();
            if (best == null) throw GridException.ResourceUnavailable($"No connected host in vSphere datacenter '{_dcName}' can take '{request.Name}'.", "NoHostAvailable", request.Name);
            if (memoryMB.HasValue && best.Grid.MemoryMB.HasValue && memoryMB > best.Grid.MemoryMB)
                throw GridException.ResourceUnavailable($"'{request.Name}' asks {memoryMB} MB of memory; the largest host ({best.Name}) has {best.Grid.MemoryMB} MB.", "InsufficientCapacity", request.Name);
            return (best.ResourcePool!.Value, best.Ref, best.Name);
        }

        private async Task<(MoRef Pool, MoRef Owner)?> FindResourcePoolAsync(string name, CancellationToken ct)
        {
            var view = await _vim.CreateContainerViewAsync(_dc, new[] { "ResourcePool" }, ct).ConfigureAwait(false);
            try
            {
                var all = await _vim.RetrieveAllAsync(new FilterSpec { Root = view, ViaView = true }.Add("ResourcePool", "name", "owner"), ct).ConfigureAwait(false);
                var rp = all.FirstOrDefault(o => string.Equals(o.Text("name"), name, StringComparison.OrdinalIgnoreCase) || o.Obj.Value == name);
                return rp == null ? ((MoRef, MoRef)?)null : (rp.Obj, rp.Ref("owner") ?? default);
            }
            finally { try { await _vim.DestroyViewAsync(view, CancellationToken.None).ConfigureAwait(false); } catch (GridException) { } }
        }
    }
}
