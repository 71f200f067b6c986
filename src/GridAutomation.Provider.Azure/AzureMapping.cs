using System;
using System.Collections.Generic;
using System.Linq;
using Azure.Core;
using Azure.ResourceManager.Compute;
using Azure.ResourceManager.Compute.Models;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.Azure
{
    /// <summary>The run-time status of one VM: its instance-view status codes.</summary>
    internal sealed class VmStatus
    {
        public VmStatus(IEnumerable<string> codes) { Codes = codes.Where(c => !string.IsNullOrEmpty(c)).ToArray(); }
        public IReadOnlyList<string> Codes { get; }
        public string? PowerCode => Codes.FirstOrDefault(c => c.StartsWith("PowerState/", StringComparison.OrdinalIgnoreCase));
        public string? ProvisioningCode => Codes.FirstOrDefault(c => c.StartsWith("ProvisioningState/", StringComparison.OrdinalIgnoreCase));

        public static VmStatus? From(VirtualMachineInstanceView? view)
            => view?.Statuses == null ? null : new VmStatus(view.Statuses.Select(s => s.Code));
    }

    internal static class AzureMapping
    {
        public const string RegionalHost = "regional";
        /// <summary>Tag holding the create's idempotency key (hidden from Tags, shown in Properties).</summary>
        public const string IdempotencyTag = "GridAutomationIdempotencyKey";

        /// <summary>Normalized state and billing from the power code, else from the provisioning state.</summary>
        public static (WorkloadState state, bool? billed) MapState(string? powerCode, string? provisioning)
        {
            string prov = (provisioning ?? "").ToLowerInvariant();
            int slash = prov.IndexOf('/');
            if (prov.StartsWith("provisioningstate/", StringComparison.Ordinal)) prov = prov.Substring("provisioningstate/".Length);
            slash = prov.IndexOf('/');
            if (slash >= 0) prov = prov.Substring(0, slash); // "failed/AllocationFailed" -> "failed"
            if (prov == "deleting") return (WorkloadState.Deleting, null);

            switch ((powerCode ?? "").ToLowerInvariant())
            {
                case "powerstate/running": return (WorkloadState.Running, true);
                case "powerstate/starting": return (WorkloadState.Starting, true);
                case "powerstate/stopping": return (WorkloadState.Stopping, true);
                case "powerstate/stopped": return (WorkloadState.Stopped, true);
                case "powerstate/deallocating": return (WorkloadState.Deallocating, false);
                case "powerstate/deallocated": return (WorkloadState.Deallocated, false);
            }
            // Power unknown (status not listed, or a VM still being created): fall back to provisioning.
            switch (prov)
            {
                case "failed": return (WorkloadState.Failed, null);
                case "creating": return (WorkloadState.Provisioning, null);
                default: return (WorkloadState.Unknown, null);
            }
        }

        public static string? ImageUrn(ImageReference? image)
        {
            if (image == null) return null;
            if (!string.IsNullOrEmpty(image.Publisher))
                return image.Publisher + ":" + image.Offer + ":" + image.Sku + ":" + (string.IsNullOrEmpty(image.ExactVersion) ? image.Version : image.ExactVersion);
            if (image.Id is ResourceIdentifier imageId) return imageId.ToString();
            if (!string.IsNullOrEmpty(image.SharedGalleryImageUniqueId)) return image.SharedGalleryImageUniqueId;
            if (!string.IsNullOrEmpty(image.CommunityGalleryImageId)) return image.CommunityGalleryImageId;
            return null;
        }

        public static GridWorkload ToWorkload(VirtualMachineData vm, VmStatus? status, string datacenter, IReadOnlyDictionary<string, VirtualMachineSize>? sizes)
        {
            string nativeId = vm.Id.ToString();
            string? provisioning = vm.ProvisioningState;
            string? provCode = status?.ProvisioningCode;
            if (string.IsNullOrEmpty(provisioning) && provCode != null) provisioning = provCode.Substring("ProvisioningState/".Length);
            string? power = status?.PowerCode;
            var (state, billed) = MapState(power, provCode ?? provisioning);

            var w = new GridWorkload
            {
                Id = WorkloadId.Format(datacenter, nativeId),
                NativeId = nativeId,
                Name = vm.Name,
                Datacenter = datacenter,
                Provider = AzureProvider.ProviderName,
                Host = vm.Zones != null && vm.Zones.Count > 0 ? vm.Zones[0] : RegionalHost,
                Cluster = vm.Location.Name,
                State = state,
                NativeState = power ?? provCode ?? (string.IsNullOrEmpty(provisioning) ? null : "ProvisioningState/" + provisioning!.ToLowerInvariant()),
                ProvisioningState = provisioning,
                ComputeBilled = billed,
                Size = vm.HardwareProfile?.VmSize?.ToString(),
                Image = ImageUrn(vm.StorageProfile?.ImageReference),
                CreatedTime = vm.TimeCreated,
            };
            if (w.Size != null && sizes != null && sizes.TryGetValue(w.Size, out var size))
            {
                w.CpuCount = size.NumberOfCores;
                w.MemoryMB = size.MemoryInMB;
            }

            var os = vm.StorageProfile?.OSDisk;
            if (os != null)
            {
                w.Disks.Add(new GridDisk
                {
                    Name = os.Name ?? "osdisk",
                    NativeId = os.ManagedDisk?.Id?.ToString() ?? os.VhdUri?.ToString(),
                    SizeGB = os.DiskSizeGB,
                    IsOsDisk = true,
                    DeleteWithWorkload = os.DeleteOption.HasValue ? os.DeleteOption.Value == DiskDeleteOptionType.Delete : (bool?)null,
                });
            }
            if (vm.StorageProfile?.DataDisks != null)
            {
                foreach (var d in vm.StorageProfile.DataDisks)
                {
                    w.Disks.Add(new GridDisk
                    {
                        Name = d.Name ?? ("lun" + d.Lun),
                        NativeId = d.ManagedDisk?.Id?.ToString() ?? d.VhdUri?.ToString(),
                        SizeGB = d.DiskSizeGB,
                        IsOsDisk = false,
                        DeleteWithWorkload = d.DeleteOption.HasValue ? d.DeleteOption.Value == DiskDeleteOptionType.Delete : (bool?)null,
                    });
                }
            }

            foreach (var kv in vm.Tags)
            {
                if (string.Equals(kv.Key, IdempotencyTag, StringComparison.OrdinalIgnoreCase)) w.Properties["IdempotencyKey"] = kv.Value;
                else w.Tags[kv.Key] = kv.Value;
            }

            var p = w.Properties;
            p["ResourceId"] = nativeId;
            p["ResourceGroupName"] = vm.Id.ResourceGroupName;
            p["SubscriptionId"] = vm.Id.SubscriptionId;
            p["Location"] = vm.Location.Name;
            p["VmId"] = vm.VmId;
            p["Zones"] = vm.Zones?.ToArray() ?? new string[0];
            p["ProvisioningState"] = vm.ProvisioningState;
            p["PowerState"] = power;
            p["Statuses"] = status?.Codes.ToArray();
            p["OsType"] = os?.OSType?.ToString();
            p["ComputerName"] = vm.OSProfile?.ComputerName;
            p["AdminUsername"] = vm.OSProfile?.AdminUsername;
            p["LicenseType"] = vm.LicenseType;
            p["Priority"] = vm.Priority?.ToString();
            p["EvictionPolicy"] = vm.EvictionPolicy?.ToString();
            p["AvailabilitySetId"] = vm.AvailabilitySetId?.ToString();
            p["ProximityPlacementGroupId"] = vm.ProximityPlacementGroupId?.ToString();
            p["VirtualMachineScaleSetId"] = vm.VirtualMachineScaleSetId?.ToString();
            p["HostId"] = vm.HostId?.ToString();
            var img = vm.StorageProfile?.ImageReference;
            if (img != null)
            {
                p["ImagePublisher"] = img.Publisher;
                p["ImageOffer"] = img.Offer;
                p["ImageSku"] = img.Sku;
                p["ImageVersion"] = img.Version;
                p["ImageExactVersion"] = img.ExactVersion;
                p["ImageId"] = img.Id?.ToString();
            }
            if (vm.Plan != null) p["Plan"] = vm.Plan.Publisher + ":" + vm.Plan.Product + ":" + vm.Plan.Name;
            var nics = vm.NetworkProfile?.NetworkInterfaces;
            p["NetworkInterfaceIds"] = nics?.Where(n => n.Id is ResourceIdentifier).Select(n => n.Id.ToString()).ToArray() ?? new string[0];
            p["NetworkInterfaceDeleteOptions"] = nics?.Select(n => n.DeleteOption?.ToString()).ToArray() ?? new string[0];
            if (vm.ExtendedLocation != null) p["ExtendedLocation"] = vm.ExtendedLocation.Name;
            return w;
        }
    }
}
