using System;
using System.Collections.Generic;
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
    /// A create from an imported disk (Options["ImportedDisk"] = the instance UUID of the VM the OVF import made).
    /// With Options["ImportedDiskTakeOver"] = "true" (a move's create) that VM becomes the workload: renamed to the
    /// workload's name, given the create's idempotency key, CPU/memory and tags. Without it (a failover from a
    /// recovery point, which stays recorded) the workload is a full clone of that VM (CloneVM_Task, powered off),
    /// so the point is neither changed by the guest nor deleted with the workload. Idempotent: a repeated create
    /// finds the same VM (the imported one by its UUID, the copy by the UUID derived from the create's key, or by
    /// name and key) and only finishes what is missing.
    /// </summary>
    public sealed partial class VSphereConnection
    {
        internal const string ImportedDiskOption = ImportedDiskOptions.Reference;

        private Task<GridWorkload> AdoptImportedAsync(CreateWorkloadRequest request, string imported, IOperationScope? scope, CancellationToken cancellationToken)
        {
            var (cpu, mem) = Shape(request.Size, request.CpuCount, request.MemoryMB, request.Name);
            string key = !string.IsNullOrEmpty(request.IdempotencyKey) ? request.IdempotencyKey : (scope?.IdempotencyKey ?? Datacenter.Name + "/" + request.Name);
            bool takeOver = request.Options.TryGetValue(ImportedDiskOptions.TakeOver, out var take) && string.Equals(take, "true", StringComparison.OrdinalIgnoreCase);
            const string activity = "Create workload (adopt the imported disk)";
            return WithSessionAsync(async () =>
            {
                var ct = cancellationToken;
                // -Option Network: resolved before anything changes, so a wrong name refuses cleanly
                VimNetwork? network = null;
                if (request.Options.TryGetValue("Network", out var netName) && !string.IsNullOrWhiteSpace(netName))
                    network = await FindNetworkAsync(netName!.Trim(), request.Name, ct).ConfigureAwait(false);
                var (vm, uuid) = takeOver
                    ? (await FindImportedAsync(imported, request.Name, ct).ConfigureAwait(false), imported)
                    : await OwnCopyOfImportedAsync(request, imported, key, scope, ct).ConfigureAwait(false);
                var oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "config.extraConfig" }, ct).ConfigureAwait(false)
                         ?? throw GridException.NotFound($"The VM the import made ({imported}) disappeared.", "ImportedDiskNotFound", request.Name);
                string? theirKey = ExtraConfig(oc, VSphereMapping.IdempotencyExtraConfigKey);
                if (theirKey != null && theirKey != key)
                    throw GridException.Conflict($"The imported VM {imported} already belongs to another request (key '{theirKey}').", "ImportedDiskInUse", request.Name);
                string current = oc.Text("name") ?? "";
                if (!string.Equals(current, request.Name, StringComparison.Ordinal))
                {
                    var other = await FindChildAsync(_vmFolder, request.Name, ct).ConfigureAwait(false);
                    if (other.HasValue && !other.Value.Equals(vm))
                        throw GridException.Conflict($"A VM named '{request.Name}' already exists in the VM folder of vSphere datacenter '{_dcName}' (vSphere keeps names unique per folder): remove or rename it, then Resume-GridOperation.", "WorkloadNameExists", request.Name);
                    await RunTaskAsync("Rename_Task", vm, w => w.WriteElementString("newName", request.Name), activity, request.Name, scope, ct).ConfigureAwait(false);
                }
                if (theirKey == null)
                    await RunTaskAsync("ReconfigVM_Task", vm, w => WriteConfigSpec(w, null, null, null, null, key), activity, request.Name, scope, ct).ConfigureAwait(false);
                if (network.HasValue) await EnsureNicAsync(vm, request.Name, request.Options["Network"].Trim(), network.Value, activity, scope, ct).ConfigureAwait(false);
                return await FinishCreateAsync(vm, uuid, request, cpu, mem, scope, ct).ConfigureAwait(false);
            }, cancellationToken);
        }

        private async Task<MoRef> FindImportedAsync(string imported, string name, CancellationToken ct)
            => await FindByInstanceUuidAsync(imported, ct).ConfigureAwait(false)
               ?? throw GridException.NotFound($"The VM the import made ({imported}) is no longer in vSphere datacenter '{_dcName}': import the disk again (Resume-GridOperation -Rollback, then move again).", "ImportedDiskNotFound", name);

        /// <summary>
        /// The workload's own full copy of the imported VM (a recovery point): found again by the instance UUID derived
        /// from the create's key (or, should vCenter not keep it, by the workload's name carrying that key), else
        /// cloned powered off into the VM folder under the workload's name and key. The imported VM is only read.
        /// </summary>
        private async Task<(MoRef Vm, string Uuid)> OwnCopyOfImportedAsync(CreateWorkloadRequest request, string imported, string key, IOperationScope? scope, CancellationToken ct)
        {
            string uuid = VSphereMapping.DeterministicUuid((_vim.Content.InstanceUuid ?? "") + "/" + _dc.Value, key);
            var existing = await FindByInstanceUuidAsync(uuid, ct).ConfigureAwait(false);
            if (existing.HasValue)
            {
                _verbose($"The copy of the imported VM for idempotency key '{key}' already exists ({existing.Value.Value}): finishing it.");
                return (existing.Value, uuid);
            }
            var byName = await FindChildAsync(_vmFolder, request.Name, ct).ConfigureAwait(false);
            if (byName.HasValue && byName.Value.Type == "VirtualMachine")
            {
                var ec = await _vim.GetPropertiesAsync(byName.Value, new[] { "config.extraConfig", "config.instanceUuid" }, ct).ConfigureAwait(false);
                if (ExtraConfig(ec, VSphereMapping.IdempotencyExtraConfigKey) == key)
                {
                    _verbose($"'{request.Name}' already carries idempotency key '{key}': finishing it.");
                    return (byName.Value, ec?.Text("config.instanceUuid") ?? uuid);
                }
                throw GridException.Conflict($"A VM named '{request.Name}' already exists in the VM folder of vSphere datacenter '{_dcName}' (vSphere keeps names unique per folder): remove or rename it, then Resume-GridOperation.", "WorkloadNameExists", request.Name);
            }
            var source = await FindImportedAsync(imported, request.Name, ct).ConfigureAwait(false);
            var src = await _vim.GetPropertiesAsync(source, new[] { "name", "resourcePool" }, ct).ConfigureAwait(false)
                      ?? throw GridException.NotFound($"The VM the import made ({imported}) disappeared.", "ImportedDiskNotFound", request.Name);
            var pool = src.Ref("resourcePool");
            scope?.Checkpoint("instanceUuid", uuid);
            string activity = $"Create workload '{request.Name}' (full copy of the recovery point {src.Text("name")})";
            // the copy is not an import: the marker the clone would inherit is removed
            var vm = await CloneIntoFolderAsync(source, request.Name, pool, null, null, uuid, null, null, key, true, activity, scope, ct).ConfigureAwait(false);
            scope?.Checkpoint("moref", vm.Value);
            var made = await _vim.GetPropertiesAsync(vm, new[] { "config.instanceUuid" }, ct).ConfigureAwait(false);
            return (vm, made?.Text("config.instanceUuid") ?? uuid);
        }
    }
}
