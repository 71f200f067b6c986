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
    /// <summary>
    /// The create step of a move into vSphere: the VM the OVF import made (Options["ImportedDisk"] = its instance
    /// UUID) becomes the workload: renamed to the workload's name, given the create's idempotency key, CPU/memory
    /// and tags. Idempotent: a repeated create finds the same VM by the UUID and only finishes what is missing.
    /// </summary>
    public sealed partial class VSphereConnection
    {
        internal const string ImportedDiskOption = "ImportedDisk";

        private Task<GridWorkload> AdoptImportedAsync(CreateWorkloadRequest request, string imported, IOperationScope? scope, CancellationToken cancellationToken)
        {
            var (cpu, mem) = Shape(request.Size, request.CpuCount, request.MemoryMB, request.Name);
            string key = !string.IsNullOrEmpty(request.IdempotencyKey) ? request.IdempotencyKey : (scope?.IdempotencyKey ?? Datacenter.Name + "/" + request.Name);
            const string activity = "Create workload (adopt the imported disk)";
            return WithSessionAsync(async () =>
            {
                var ct = cancellationToken;
                var vm = await FindByInstanceUuidAsync(imported, ct).ConfigureAwait(false)
                         ?? throw GridException.NotFound($"The VM the import made ({imported}) is no longer in vSphere datacenter '{_dcName}': import the disk again (Resume-GridOperation -Rollback, then move again).", "ImportedDiskNotFound", request.Name);
                var oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "config.extraConfig" }, ct).ConfigureAwait(false)
                         ?? throw GridException.NotFound($"The VM the import made ({imported}) disappeared.", "ImportedDiskNotFound", request.Name);
                string? theirKey = ExtraConfig(oc, VSphereMapping.IdempotencyExtraConfigKey);
                if (theirKey != null && theirKey != key)
                    throw GridException.Conflict($"The imported VM {imported} already belongs to another request (key '{theirKey}').", "ImportedDiskInUse", request.Name);
                // -Option Network: resolved before anything changes, so a wrong name refuses cleanly
                VimNetwork? network = null;
                if (request.Options.TryGetValue("Network", out var netName) && !string.IsNullOrWhiteSpace(netName))
                    network = await FindNetworkAsync(netName!.Trim(), request.Name, ct).ConfigureAwait(false);
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
                return await FinishCreateAsync(vm, imported, request, cpu, mem, scope, ct).ConfigureAwait(false);
            }, cancellationToken);
        }
    }
}
