using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Core;
using Azure.ResourceManager;
using Azure.ResourceManager.Compute;
using Azure.ResourceManager.Compute.Models;
using Azure.ResourceManager.Resources;
using Azure.ResourceManager.Resources.Models;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;

namespace GridAutomation.Providers.Azure
{
    /// <summary>Changes to one Azure VM: create, power, remove, resize and tags; each followed to its end through the ARM operation.</summary>
    public sealed partial class AzureConnection
    {
        // ---------------------------------------------------------------- create

        public Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                if (request == null) throw new ArgumentNullException(nameof(request));
                if (string.IsNullOrWhiteSpace(request.Name))
                    throw GridException.InvalidRequest("A VM name is required.", "AzureNameRequired");
                string rg = Get(ToRo(request.Options), "ResourceGroupName") ?? _s.ResourceGroup
                    ?? throw GridException.InvalidRequest("Give -ResourceGroupName on the connection or Options[\"ResourceGroupName\"] for a new VM.", "AzureResourceGroupRequired");
                if (_s.ResourceGroup != null && !string.Equals(rg, _s.ResourceGroup, StringComparison.OrdinalIgnoreCase))
                    throw GridException.InvalidRequest($"This datacenter is limited to resource group '{_s.ResourceGroup}'.", "AzureResourceGroupOutOfScope");
                string key = string.IsNullOrEmpty(request.IdempotencyKey) ? scope.IdempotencyKey : request.IdempotencyKey;
                string keyTag = TagValue(key);
                var id = VirtualMachineResource.CreateResourceIdentifier(_s.SubscriptionId, rg, request.Name);

                // Idempotency: PUT is idempotent by name, but a second PUT is an update (and Azure refuses to change
                // osProfile), so look first: our VM (same key) is returned as is; someone else's is a conflict.
                var existing = await TryGetAsync(id, cancellationToken).ConfigureAwait(false);
                if (existing != null)
                {
                    existing.Data.Tags.TryGetValue(AzureMapping.IdempotencyTag, out var existingKey);
                    if (!string.Equals(existingKey, keyTag, StringComparison.Ordinal))
                        throw GridException.Conflict($"An Azure VM named '{request.Name}' already exists in resource group '{rg}' and was not created by this request.", "WorkloadExists", id.ToString());
                    Verbose($"Azure: VM {id} already exists for idempotency key; not creating again.");
                    return await MapOneAsync(existing, cancellationToken).ConfigureAwait(false);
                }

                // A create from an imported disk that does not take it over (a failover from a recovery point) runs on
                // its own copy of the disk (AzureDisks.cs), so the point stays unchanged and outlives the workload.
                var ro = ToRo(request.Options);
                string? imported = Get(ro, ImportedDiskOptions.Reference);
                string? copy = imported != null && !string.Equals(Get(ro, ImportedDiskOptions.TakeOver), "true", StringComparison.OrdinalIgnoreCase)
                    ? await CopyImportedDiskAsync(imported, rg, key, scope, cancellationToken).ConfigureAwait(false) : null;
                var data = await BuildVmDataAsync(request, keyTag, copy, cancellationToken).ConfigureAwait(false);
                scope.Checkpoint("azure.vmId", id.ToString());
                var rgResource = _arm.GetResourceGroupResource(ResourceGroupResource.CreateResourceIdentifier(_s.SubscriptionId, rg));
                Invalidate();
                try
                {
                    var op = await rgResource.GetVirtualMachines().CreateOrUpdateAsync(WaitUntil.Started, request.Name, data, cancellationToken).ConfigureAwait(false);
                    await FollowAsync(op, "Creating Azure VM " + request.Name, scope, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (copy != null && !cancellationToken.IsCancellationRequested && !(ex is OperationCanceledException))
                {
                    // the VM was refused: the copy made for it goes too (a retry makes it again); the point is untouched
                    await DiscardCopyAsync(copy, scope).ConfigureAwait(false);
                    throw;
                }
                if (!request.PowerOn)
                {
                    var dop = await _arm.GetVirtualMachineResource(id).DeallocateAsync(WaitUntil.Started, null, cancellationToken).ConfigureAwait(false);
                    await FollowAsync(dop, "Deallocating new Azure VM " + request.Name, scope, cancellationToken).ConfigureAwait(false);
                }
                Invalidate();
                return await GetWorkloadAsync(id.ToString(), cancellationToken).ConfigureAwait(false);
            }, request?.Name, cancellationToken);

        private static IReadOnlyDictionary<string, string> ToRo(IDictionary<string, string> d)
            => d as IReadOnlyDictionary<string, string> ?? new Dictionary<string, string>(d, StringComparer.OrdinalIgnoreCase);

        /// <summary>Tag values are limited to 256 characters: long keys are hashed.</summary>
        internal static string TagValue(string key)
        {
            if (key.Length <= 200) return key;
            using var sha = SHA256.Create();
            return "sha256:" + BitConverter.ToString(sha.ComputeHash(Encoding.UTF8.GetBytes(key))).Replace("-", "").ToLowerInvariant();
        }

        private async Task<VirtualMachineResource?> TryGetAsync(ResourceIdentifier id, CancellationToken ct)
        {
            try { return (await _arm.GetVirtualMachineResource(id).GetAsync(InstanceViewType.InstanceView, ct).ConfigureAwait(false)).Value; }
            catch (RequestFailedException rf) when (rf.Status == 404) { return null; }
        }

        private async Task<VirtualMachineData> BuildVmDataAsync(CreateWorkloadRequest request, string keyTag, string? importedCopy, CancellationToken ct)
        {
            var opts = ToRo(request.Options);
            // Size: named, or the smallest of the location that fits CPU/memory.
            string? size = request.Size;
            if (string.IsNullOrEmpty(size))
            {
                if (request.CpuCount == null && request.MemoryMB == null)
                    throw GridException.InvalidRequest("Give a VM size (e.g. Standard_B2s) or CPU/memory.", "AzureSizeRequired");
                var sizes = await GetSizesAsync(ct).ConfigureAwait(false);
                size = sizes.Values
                    .Where(s => (request.CpuCount == null || s.NumberOfCores >= request.CpuCount) && (request.MemoryMB == null || s.MemoryInMB >= request.MemoryMB))
                    .OrderBy(s => s.NumberOfCores).ThenBy(s => s.MemoryInMB).Select(s => s.Name).FirstOrDefault()
                    ?? throw GridException.InvalidRequest("No VM size of this location has that many CPUs and that much memory.", "SizeNotFound");
            }

            string? imported = importedCopy ?? Get(opts, ImportedDiskOptions.Reference);
            var image = imported == null ? ParseImage(request.Image) : null;
            string network = Get(opts, "Network") ?? Get(opts, "SubnetId") ?? Get(opts, "NetworkInterfaceId")
                ?? throw GridException.InvalidRequest("Options[\"Network\"] must name an existing subnet id or network interface id.", "AzureNetworkRequired");
            if (!network.StartsWith("/", StringComparison.Ordinal)) network = await ResolveSubnetAsync(network.Trim(), request.Name, ct).ConfigureAwait(false); // "vnet/subnet" or a subnet name (AzureNetworks.cs)
            ResourceIdentifier netId;
            try { netId = new ResourceIdentifier(network); }
            catch (Exception) { throw GridException.InvalidRequest("Options[\"Network\"] is not an Azure resource id of a subnet or network interface.", "AzureInvalidNetwork"); }

            var data = new VirtualMachineData(new AzureLocation(_s.Location))
            {
                HardwareProfile = new VirtualMachineHardwareProfile { VmSize = new VirtualMachineSizeType(size!) },
                StorageProfile = new VirtualMachineStorageProfile
                {
                    ImageReference = image,
                    OSDisk = new VirtualMachineOSDisk(DiskCreateOptionType.FromImage)
                    {
                        Name = request.Name + "-osdisk",
                        Caching = CachingType.ReadWrite,
                        DeleteOption = DiskDeleteOptionType.Delete,
                        ManagedDisk = new VirtualMachineManagedDisk(),
                    },
                },
                NetworkProfile = new VirtualMachineNetworkProfile(),
            };
            string? diskType = Get(opts, "OsDiskType");
            if (diskType != null) data.StorageProfile.OSDisk.ManagedDisk.StorageAccountType = new StorageAccountType(diskType);
            string? diskGb = Get(opts, "OsDiskSizeGB");
            if (diskGb != null && int.TryParse(diskGb, out int gb)) data.StorageProfile.OSDisk.DiskSizeGB = gb;

            if (string.Equals(netId.ResourceType.ToString(), "Microsoft.Network/virtualNetworks/subnets", StringComparison.OrdinalIgnoreCase))
            {
                // Compute creates (and, with deleteOption=Delete, deletes) the NIC itself: no Network SDK needed.
                data.NetworkProfile.NetworkApiVersion = NetworkApiVersion.TwoThousandTwenty1101;
                var ipc = new VirtualMachineNetworkInterfaceIPConfiguration("ipconfig1") { Primary = true, SubnetId = netId };
                var nic = new VirtualMachineNetworkInterfaceConfiguration(request.Name + "-nic") { Primary = true, DeleteOption = ComputeDeleteOption.Delete };
                nic.IPConfigurations.Add(ipc);
                data.NetworkProfile.NetworkInterfaceConfigurations.Add(nic);
            }
            else if (string.Equals(netId.ResourceType.ToString(), "Microsoft.Network/networkInterfaces", StringComparison.OrdinalIgnoreCase))
            {
                data.NetworkProfile.NetworkInterfaces.Add(new VirtualMachineNetworkInterfaceReference { Id = netId, Primary = true, DeleteOption = ComputeDeleteOption.Delete });
            }
            else
            {
                throw GridException.InvalidRequest($"Options[\"Network\"] must be a subnet or network interface id, not a {netId.ResourceType}.", "AzureInvalidNetwork");
            }

            if (imported != null) return AttachImportedDisk(data, opts, imported, request, keyTag);
            // Admin: an SSH key (Linux) or a credential (password). Secrets never leave this method except to Azure.
            string? sshKey = Get(opts, "SshPublicKey") ?? (request.Secrets.TryGetValue("SshPublicKey", out var sk) ? sk as string : null);
            var adminCred = request.Secrets.TryGetValue("AdminCredential", out var ac) ? ac as NetworkCredential : null;
            string adminUser = adminCred?.UserName is { Length: > 0 } u ? u : (Get(opts, "AdminUsername") ?? "azureuser");
            string computerName = Get(opts, "ComputerName") ?? (request.Name.Length > 15 && string.Equals(Get(opts, "OsType"), "Windows", StringComparison.OrdinalIgnoreCase) ? request.Name.Substring(0, 15) : request.Name);
            var osProfile = new VirtualMachineOSProfile { ComputerName = computerName, AdminUsername = adminUser };
            if (!string.IsNullOrEmpty(sshKey))
            {
                osProfile.LinuxConfiguration = new LinuxConfiguration { DisablePasswordAuthentication = string.IsNullOrEmpty(adminCred?.Password) };
                osProfile.LinuxConfiguration.SshPublicKeys.Add(new SshPublicKeyConfiguration { Path = "/home/" + adminUser + "/.ssh/authorized_keys", KeyData = sshKey });
                if (!string.IsNullOrEmpty(adminCred?.Password)) osProfile.AdminPassword = adminCred!.Password;
            }
            else if (!string.IsNullOrEmpty(adminCred?.Password))
            {
                osProfile.AdminPassword = adminCred!.Password;
            }
            else
            {
                throw GridException.InvalidRequest("Give Options[\"SshPublicKey\"] or Secrets[\"AdminCredential\"] (user name and password) for the VM's administrator.", "AzureAdminCredentialRequired");
            }
            data.OSProfile = osProfile;

            if (!string.IsNullOrEmpty(request.TargetHost) && !string.Equals(request.TargetHost, AzureMapping.RegionalHost, StringComparison.OrdinalIgnoreCase))
                data.Zones.Add(request.TargetHost);
            foreach (var t in request.Tags) data.Tags[t.Key] = t.Value;
            data.Tags[AzureMapping.IdempotencyTag] = keyTag;
            return data;
        }

        /// <summary>publisher:offer:sku:version (URN), or an image / gallery image resource id.</summary>
        internal static ImageReference ParseImage(string? image)
        {
            if (string.IsNullOrWhiteSpace(image))
                throw GridException.InvalidRequest("An image is required: publisher:offer:sku:version (e.g. Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest) or an image resource id.", "AzureImageRequired");
            image = image!.Trim();
            if (image.StartsWith("/", StringComparison.Ordinal))
            {
                try { return new ImageReference { Id = new ResourceIdentifier(image) }; }
                catch (Exception) { throw GridException.InvalidRequest($"'{image}' is not an image resource id.", "AzureInvalidImage"); }
            }
            var parts = image.Split(':');
            if (parts.Length != 4 || parts.Any(p => p.Trim().Length == 0))
                throw GridException.InvalidRequest($"Image '{image}' is not publisher:offer:sku:version.", "AzureInvalidImage");
            return new ImageReference { Publisher = parts[0].Trim(), Offer = parts[1].Trim(), Sku = parts[2].Trim(), Version = parts[3].Trim() };
        }

        // ---------------------------------------------------------------- power

        private static (WorkloadState state, string? power) PowerOf(VirtualMachineResource vm)
        {
            var st = VmStatus.From(vm.Data.InstanceView);
            var (state, _) = AzureMapping.MapState(st?.PowerCode, st?.ProvisioningCode ?? vm.Data.ProvisioningState);
            return (state, st?.PowerCode);
        }

        public Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var (state, _) = PowerOf(vm);
                if (state == WorkloadState.Running || state == WorkloadState.Starting) return;
                Invalidate();
                var op = await vm.PowerOnAsync(WaitUntil.Started, cancellationToken).ConfigureAwait(false);
                await FollowAsync(op, "Starting Azure VM " + vm.Data.Name, scope, cancellationToken).ConfigureAwait(false);
                Invalidate();
            }, nativeId, cancellationToken);

        /// <summary>
        /// Graceful (the default) and Deallocate deallocate, as Stop-AzVM does, so compute stops being billed;
        /// StayProvisioned powers off keeping the allocation (still billed); TurnOff powers off with skipShutdown.
        /// </summary>
        public Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var (state, _) = PowerOf(vm);
                Operation op;
                switch (mode)
                {
                    case StopMode.Graceful:
                    case StopMode.Deallocate:
                        if (state == WorkloadState.Deallocated || state == WorkloadState.Deallocating) return;
                        Invalidate();
                        op = await vm.DeallocateAsync(WaitUntil.Started, null, cancellationToken).ConfigureAwait(false);
                        await FollowAsync(op, "Deallocating Azure VM " + vm.Data.Name, scope, cancellationToken).ConfigureAwait(false);
                        break;
                    case StopMode.StayProvisioned:
                    case StopMode.TurnOff:
                        if (state == WorkloadState.Stopped || state == WorkloadState.Stopping || state == WorkloadState.Deallocated || state == WorkloadState.Deallocating) return;
                        Invalidate();
                        op = await vm.PowerOffAsync(WaitUntil.Started, mode == StopMode.TurnOff ? true : (bool?)null, cancellationToken).ConfigureAwait(false);
                        await FollowAsync(op, (mode == StopMode.TurnOff ? "Turning off" : "Powering off") + " Azure VM " + vm.Data.Name, scope, cancellationToken).ConfigureAwait(false);
                        break;
                    default:
                        throw GridException.InvalidRequest("Unknown stop mode " + mode + ".", "AzureInvalidStopMode");
                }
                Invalidate();
            }, nativeId, cancellationToken);

        public Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                Invalidate();
                var op = await vm.RestartAsync(WaitUntil.Started, cancellationToken).ConfigureAwait(false);
                await FollowAsync(op, "Restarting Azure VM " + vm.Data.Name, scope, cancellationToken).ConfigureAwait(false);
                Invalidate();
            }, nativeId, cancellationToken);

        public Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => Task.FromException(GridException.Unsupported("Azure VMs cannot be suspended by this provider (hibernation is not supported); use Stop-GridWorkload.", "CapabilityNotSupported", nativeId));

        // ---------------------------------------------------------------- remove

        /// <summary>
        /// Deletes the VM. Without removeStorage, resources created with deleteOption=Delete (OS disk, NIC) are
        /// first switched to Detach so they stay. With removeStorage, the OS disk, data disks and NICs that Azure
        /// did not delete with the VM are deleted through the generic resource API (Compute has no call for NICs).
        /// A VM that is already gone is a no-op.
        /// </summary>
        public Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var id = ParseVmId(nativeId);
                var vm = await TryGetAsync(id, cancellationToken).ConfigureAwait(false);
                if (vm == null) { Verbose($"Azure: VM {nativeId} is already gone."); return; }
                Invalidate();
                var d = vm.Data;
                var dependents = new List<ResourceIdentifier>();
                if (d.StorageProfile?.OSDisk?.ManagedDisk?.Id is ResourceIdentifier osId) dependents.Add(osId);
                if (d.StorageProfile?.DataDisks != null)
                    foreach (var dd in d.StorageProfile.DataDisks) if (dd.ManagedDisk?.Id is ResourceIdentifier ddId) dependents.Add(ddId);
                if (d.NetworkProfile?.NetworkInterfaces != null)
                    foreach (var n in d.NetworkProfile.NetworkInterfaces) if (n.Id is ResourceIdentifier nicId) dependents.Add(nicId);

                if (!removeStorage && HasDeleteOptions(d))
                {
                    var patch = DetachPatch(d);
                    var pop = await vm.UpdateAsync(WaitUntil.Started, patch, cancellationToken).ConfigureAwait(false);
                    await FollowAsync(pop, "Keeping the disks and NICs of Azure VM " + d.Name, scope, cancellationToken).ConfigureAwait(false);
                }

                scope.Checkpoint("azure.remove", nativeId);
                var op = await vm.DeleteAsync(WaitUntil.Started, null, cancellationToken).ConfigureAwait(false);
                await FollowAsync(op, "Removing Azure VM " + d.Name, scope, cancellationToken).ConfigureAwait(false);

                if (removeStorage)
                {
                    // NICs first (a disk is free once the VM is gone; a NIC too), each DELETE is idempotent (404 = gone).
                    foreach (var dep in dependents.OrderBy(x => x.ResourceType.ToString().IndexOf("networkInterfaces", StringComparison.OrdinalIgnoreCase) >= 0 ? 0 : 1))
                    {
                        try
                        {
                            var gop = await _arm.GetGenericResource(dep).DeleteAsync(WaitUntil.Started, cancellationToken).ConfigureAwait(false);
                            await FollowAsync(gop, "Removing " + dep.Name, scope, cancellationToken).ConfigureAwait(false);
                        }
                        catch (RequestFailedException rf) when (rf.Status == 404)
                        {
                            Verbose($"Azure: {dep} was already deleted with the VM.");
                        }
                    }
                }
                Invalidate();
            }, nativeId, cancellationToken);

        private static bool HasDeleteOptions(VirtualMachineData d)
            => d.StorageProfile?.OSDisk?.DeleteOption == DiskDeleteOptionType.Delete
               || (d.StorageProfile?.DataDisks?.Any(x => x.DeleteOption == DiskDeleteOptionType.Delete) ?? false)
               || (d.NetworkProfile?.NetworkInterfaces?.Any(n => n.DeleteOption == ComputeDeleteOption.Delete) ?? false)
               || (d.NetworkProfile?.NetworkInterfaceConfigurations?.Any(n => n.DeleteOption == ComputeDeleteOption.Delete) ?? false);

        private static VirtualMachinePatch DetachPatch(VirtualMachineData d)
        {
            var patch = new VirtualMachinePatch();
            if (d.StorageProfile != null)
            {
                patch.StorageProfile = new VirtualMachineStorageProfile();
                if (d.StorageProfile.OSDisk != null)
                {
                    d.StorageProfile.OSDisk.DeleteOption = DiskDeleteOptionType.Detach;
                    patch.StorageProfile.OSDisk = d.StorageProfile.OSDisk;
                }
                foreach (var dd in d.StorageProfile.DataDisks)
                {
                    dd.DeleteOption = DiskDeleteOptionType.Detach;
                    patch.StorageProfile.DataDisks.Add(dd);
                }
            }
            if (d.NetworkProfile != null)
            {
                foreach (var n in d.NetworkProfile.NetworkInterfaces) n.DeleteOption = ComputeDeleteOption.Detach;
                foreach (var n in d.NetworkProfile.NetworkInterfaceConfigurations) n.DeleteOption = ComputeDeleteOption.Detach;
                patch.NetworkProfile = d.NetworkProfile;
            }
            return patch;
        }

        // ---------------------------------------------------------------- resize, tags

        public Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                string? size = request.Size;
                var sizes = await GetSizesAsync(cancellationToken).ConfigureAwait(false);
                if (string.IsNullOrEmpty(size))
                {
                    if (request.CpuCount == null && request.MemoryMB == null)
                        throw GridException.InvalidRequest("Give a size, or CPU/memory, to resize to.", "AzureSizeRequired");
                    size = sizes.Values
                        .Where(s => (request.CpuCount == null || s.NumberOfCores >= request.CpuCount) && (request.MemoryMB == null || s.MemoryInMB >= request.MemoryMB))
                        .OrderBy(s => s.NumberOfCores).ThenBy(s => s.MemoryInMB).Select(s => s.Name).FirstOrDefault()
                        ?? throw GridException.InvalidRequest("No VM size of this location has that many CPUs and that much memory.", "SizeNotFound");
                }
                else if (sizes.Count > 0 && !sizes.ContainsKey(size!))
                {
                    throw GridException.InvalidRequest($"Size '{size}' is not offered in {_s.Location}.", "SizeNotFound", size);
                }
                if (string.Equals(vm.Data.HardwareProfile?.VmSize?.ToString(), size, StringComparison.OrdinalIgnoreCase)) return;
                var (state, power) = PowerOf(vm);
                if ((state == WorkloadState.Running || state == WorkloadState.Starting) && !request.AllowRestart)
                    throw GridException.Conflict($"Resizing running Azure VM '{vm.Data.Name}' restarts it; stop it first or allow the restart (-Restart).", "ResizeRequiresRestart", nativeId);
                Invalidate();
                var patch = new VirtualMachinePatch { HardwareProfile = new VirtualMachineHardwareProfile { VmSize = new VirtualMachineSizeType(size!) } };
                var op = await vm.UpdateAsync(WaitUntil.Started, patch, cancellationToken).ConfigureAwait(false);
                await FollowAsync(op, $"Resizing Azure VM {vm.Data.Name} to {size}", scope, cancellationToken).ConfigureAwait(false);
                Invalidate();
            }, nativeId, cancellationToken);

        public Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
            => Guard(async () =>
            {
                var vm = await GetVmAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var merged = new Dictionary<string, string>(vm.Data.Tags, StringComparer.OrdinalIgnoreCase);
                foreach (var kv in tags)
                {
                    if (string.Equals(kv.Key, AzureMapping.IdempotencyTag, StringComparison.OrdinalIgnoreCase)) continue;
                    if (kv.Value == null) merged.Remove(kv.Key); else merged[kv.Key] = kv.Value;
                }
                var patch = new VirtualMachinePatch();
                foreach (var kv in merged) patch.Tags[kv.Key] = kv.Value;
                Invalidate();
                var op = await vm.UpdateAsync(WaitUntil.Started, patch, cancellationToken).ConfigureAwait(false);
                await FollowAsync(op, "Tagging Azure VM " + vm.Data.Name, scope, cancellationToken).ConfigureAwait(false);
                Invalidate();
            }, nativeId, cancellationToken);
    }
}
