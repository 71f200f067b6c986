using System;
using System.Collections.Generic;
using System.Linq;
using Amazon.EC2.Model;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.Aws
{
    /// <summary>EC2 shapes to the resource model. Pure functions (no calls), so the replay tests can assert them field by field.</summary>
    internal static class AwsMapper
    {
        public const string HibernateReason = "Client.UserInitiatedHibernate";

        /// <summary>
        /// Normalized state. pending maps to Starting: EC2 says "pending" both for a fresh launch and for a start
        /// from stopped, and DescribeInstances does not tell them apart (the workload a create returns is marked
        /// Provisioning by the create itself, which knows). A stopped/stopping instance whose state reason is
        /// hibernation is Suspended/Suspending (memory on the EBS root volume).
        /// </summary>
        public static WorkloadState MapState(string? nativeState, string? stateReasonCode)
        {
            bool hibernate = string.Equals(stateReasonCode, HibernateReason, StringComparison.Ordinal);
            switch (nativeState)
            {
                case "pending": return WorkloadState.Starting;
                case "running": return WorkloadState.Running;
                case "stopping": return hibernate ? WorkloadState.Suspending : WorkloadState.Stopping;
                case "stopped": return hibernate ? WorkloadState.Suspended : WorkloadState.Stopped;
                case "shutting-down": return WorkloadState.Deleting;
                case "terminated": return WorkloadState.Deleted;
                default: return WorkloadState.Unknown;
            }
        }

        /// <summary>EC2 bills compute for running instances and for instances stopping into hibernation; nothing else.</summary>
        public static bool? ComputeBilled(string? nativeState, string? stateReasonCode)
        {
            switch (nativeState)
            {
                case "running": return true;
                case "stopping": return string.Equals(stateReasonCode, HibernateReason, StringComparison.Ordinal);
                case "pending":
                case "stopped":
                case "shutting-down":
                case "terminated": return false;
                default: return null;
            }
        }

        /// <summary>EC2 instance-state-name values that give the wanted normalized states (a superset; the engine re-filters).</summary>
        public static List<string> NativeStatesFor(IReadOnlyCollection<WorkloadState>? states)
        {
            var all = new List<string> { "pending", "running", "shutting-down", "stopping", "stopped" };
            if (states == null || states.Count == 0) return all;
            var result = new List<string>();
            void Add(string s) { if (!result.Contains(s)) result.Add(s); }
            foreach (var s in states)
            {
                switch (s)
                {
                    case WorkloadState.Provisioning:
                    case WorkloadState.Starting: Add("pending"); break;
                    case WorkloadState.Running: Add("running"); break;
                    case WorkloadState.Stopping:
                    case WorkloadState.Suspending: Add("stopping"); break;
                    case WorkloadState.Stopped:
                    case WorkloadState.Suspended: Add("stopped"); break;
                    case WorkloadState.Deleting: Add("shutting-down"); break;
                    case WorkloadState.Deleted: Add("terminated"); break;
                    default: break; // Deallocating/Deallocated/Paused/Failed/Unknown: EC2 has none
                }
            }
            return result;
        }

        public static string? TagValue(List<Tag>? tags, string key)
            => tags?.FirstOrDefault(t => string.Equals(t.Key, key, StringComparison.Ordinal))?.Value;

        public static GridWorkload ToWorkload(Instance i, string datacenter, string region, Func<string?, InstanceTypeInfo?> sizeLookup, Reservation? reservation = null)
        {
            string id = i.InstanceId ?? "";
            string? native = i.State?.Name?.Value;
            string? reasonCode = i.StateReason?.Code;
            var w = new GridWorkload
            {
                NativeId = id,
                Id = WorkloadId.Format(datacenter, id),
                Datacenter = datacenter,
                Provider = AwsProvider.ProviderName,
                Name = NullIfEmpty(TagValue(i.Tags, "Name")) ?? id,
                Host = NullIfEmpty(i.Placement?.AvailabilityZone),
                Cluster = region,
                NativeState = native,
                State = MapState(native, reasonCode),
                ComputeBilled = ComputeBilled(native, reasonCode),
                Size = i.InstanceType?.Value,
                Image = NullIfEmpty(i.ImageId),
            };

            var type = sizeLookup(w.Size);
            if (i.CpuOptions?.CoreCount != null && i.CpuOptions.ThreadsPerCore != null)
                w.CpuCount = i.CpuOptions.CoreCount.Value * i.CpuOptions.ThreadsPerCore.Value;
            else if (type?.VCpuInfo?.DefaultVCpus != null)
                w.CpuCount = type.VCpuInfo.DefaultVCpus.Value;
            if (type?.MemoryInfo?.SizeInMiB != null) w.MemoryMB = type.MemoryInfo.SizeInMiB.Value;

            foreach (var t in i.Tags ?? new List<Tag>())
            {
                if (t.Key == null || string.Equals(t.Key, "Name", StringComparison.Ordinal)) continue;
                w.Tags[t.Key] = t.Value ?? "";
            }

            foreach (var bdm in i.BlockDeviceMappings ?? new List<InstanceBlockDeviceMapping>())
            {
                w.Disks.Add(new GridDisk
                {
                    Name = bdm.DeviceName ?? bdm.Ebs?.VolumeId ?? "",
                    NativeId = bdm.Ebs?.VolumeId,
                    IsOsDisk = bdm.DeviceName != null && string.Equals(bdm.DeviceName, i.RootDeviceName, StringComparison.Ordinal),
                    DeleteWithWorkload = bdm.Ebs?.DeleteOnTermination,
                });
            }

            void Ip(string? a) { a = NullIfEmpty(a?.Trim()); if (a != null && !w.IPAddresses.Contains(a)) w.IPAddresses.Add(a); }
            Ip(i.PrivateIpAddress);
            Ip(i.PublicIpAddress);
            foreach (var ni in i.NetworkInterfaces ?? new List<InstanceNetworkInterface>())
            {
                Ip(ni.PrivateIpAddress);
                foreach (var pa in ni.PrivateIpAddresses ?? new List<InstancePrivateIpAddress>()) { Ip(pa.PrivateIpAddress); Ip(pa.Association?.PublicIp); }
                Ip(ni.Association?.PublicIp);
                foreach (var v6 in ni.Ipv6Addresses ?? new List<InstanceIpv6Address>()) Ip(v6.Ipv6Address);
            }

            // Creation time: EC2 has no creation timestamp; LaunchTime moves on every start. The primary network
            // interface (device 0) or the root volume was attached at launch and keeps its time.
            var eni0 = (i.NetworkInterfaces ?? new List<InstanceNetworkInterface>()).FirstOrDefault(n => n.Attachment?.DeviceIndex == 0);
            var rootEbs = (i.BlockDeviceMappings ?? new List<InstanceBlockDeviceMapping>()).FirstOrDefault(b => string.Equals(b.DeviceName, i.RootDeviceName, StringComparison.Ordinal))?.Ebs;
            DateTime? created = eni0?.Attachment?.AttachTime ?? rootEbs?.AttachTime ?? i.LaunchTime;
            if (created.HasValue) w.CreatedTime = ToOffset(created.Value);

            var p = w.Properties;
            p["InstanceId"] = id;
            p["Region"] = region;
            p["ReservationId"] = reservation?.ReservationId;
            p["OwnerId"] = reservation?.OwnerId;
            p["RequesterId"] = NullIfEmpty(reservation?.RequesterId);
            p["StateCode"] = i.State?.Code;
            p["StateTransitionReason"] = NullIfEmpty(i.StateTransitionReason);
            p["StateReasonCode"] = NullIfEmpty(reasonCode);
            p["StateReasonMessage"] = NullIfEmpty(i.StateReason?.Message);
            p["ImageId"] = NullIfEmpty(i.ImageId);
            p["InstanceType"] = w.Size;
            p["KeyName"] = NullIfEmpty(i.KeyName);
            p["LaunchTime"] = i.LaunchTime.HasValue ? ToOffset(i.LaunchTime.Value) : (DateTimeOffset?)null;
            p["AvailabilityZone"] = NullIfEmpty(i.Placement?.AvailabilityZone);
            p["AvailabilityZoneId"] = NullIfEmpty(i.Placement?.AvailabilityZoneId);
            p["Tenancy"] = i.Placement?.Tenancy?.Value;
            p["PlacementGroup"] = NullIfEmpty(i.Placement?.GroupName);
            p["PrivateDnsName"] = NullIfEmpty(i.PrivateDnsName);
            p["PublicDnsName"] = NullIfEmpty(i.PublicDnsName);
            p["PrivateIpAddress"] = NullIfEmpty(i.PrivateIpAddress);
            p["PublicIpAddress"] = NullIfEmpty(i.PublicIpAddress);
            p["SubnetId"] = NullIfEmpty(i.SubnetId);
            p["VpcId"] = NullIfEmpty(i.VpcId);
            p["SecurityGroups"] = (i.SecurityGroups ?? new List<GroupIdentifier>()).Select(g => g.GroupId ?? g.GroupName ?? "").ToArray();
            p["SecurityGroupNames"] = (i.SecurityGroups ?? new List<GroupIdentifier>()).Select(g => g.GroupName ?? "").ToArray();
            p["NetworkInterfaces"] = (i.NetworkInterfaces ?? new List<InstanceNetworkInterface>()).Select(n => n.NetworkInterfaceId ?? "").ToArray();
            p["Architecture"] = i.Architecture?.Value;
            p["Platform"] = i.Platform?.Value;
            p["PlatformDetails"] = NullIfEmpty(i.PlatformDetails);
            p["Hypervisor"] = i.Hypervisor?.Value;
            p["VirtualizationType"] = i.VirtualizationType?.Value;
            p["RootDeviceType"] = i.RootDeviceType?.Value;
            p["RootDeviceName"] = NullIfEmpty(i.RootDeviceName);
            p["KernelId"] = NullIfEmpty(i.KernelId);
            p["RamdiskId"] = NullIfEmpty(i.RamdiskId);
            p["AmiLaunchIndex"] = i.AmiLaunchIndex;
            p["ClientToken"] = NullIfEmpty(i.ClientToken);
            p["Monitoring"] = i.Monitoring?.State?.Value;
            p["EbsOptimized"] = i.EbsOptimized;
            p["SourceDestCheck"] = i.SourceDestCheck;
            p["IamInstanceProfile"] = NullIfEmpty(i.IamInstanceProfile?.Arn);
            p["InstanceLifecycle"] = i.InstanceLifecycle?.Value;
            p["SpotInstanceRequestId"] = NullIfEmpty(i.SpotInstanceRequestId);
            p["HibernationConfigured"] = i.HibernationOptions?.Configured;
            p["ProductCodes"] = (i.ProductCodes ?? new List<ProductCode>()).Select(c => c.ProductCodeId ?? "").ToArray();
            p["CoreCount"] = i.CpuOptions?.CoreCount;
            p["ThreadsPerCore"] = i.CpuOptions?.ThreadsPerCore;
            p["AwsTags"] = (i.Tags ?? new List<Tag>()).Where(t => t.Key != null).ToDictionary(t => t.Key!, t => (object?)(t.Value ?? ""), StringComparer.Ordinal);
            return w;
        }

        public static GridSize ToSize(InstanceTypeInfo t, string datacenter)
        {
            var s = new GridSize
            {
                Datacenter = datacenter,
                Name = t.InstanceType?.Value ?? "",
                CpuCount = t.VCpuInfo?.DefaultVCpus,
                MemoryMB = t.MemoryInfo?.SizeInMiB,
                PricePerHour = null, // no pricing API is served; never invented
                Currency = null,
            };
            var p = s.Properties;
            p["DefaultCores"] = t.VCpuInfo?.DefaultCores;
            p["DefaultThreadsPerCore"] = t.VCpuInfo?.DefaultThreadsPerCore;
            p["Architectures"] = (t.ProcessorInfo?.SupportedArchitectures ?? new List<string>()).ToArray();
            p["SustainedClockSpeedGHz"] = t.ProcessorInfo?.SustainedClockSpeedInGhz;
            p["CurrentGeneration"] = t.CurrentGeneration;
            p["FreeTierEligible"] = t.FreeTierEligible;
            p["HibernationSupported"] = t.HibernationSupported;
            p["BurstablePerformanceSupported"] = t.BurstablePerformanceSupported;
            p["BareMetal"] = t.BareMetal;
            p["Hypervisor"] = t.Hypervisor?.Value;
            p["NetworkPerformance"] = t.NetworkInfo?.NetworkPerformance;
            p["InstanceStorageGB"] = t.InstanceStorageInfo?.TotalSizeInGB;
            p["SupportedUsageClasses"] = (t.SupportedUsageClasses ?? new List<string>()).ToArray();
            p["SupportedRootDeviceTypes"] = (t.SupportedRootDeviceTypes ?? new List<string>()).ToArray();
            p["GpuCount"] = t.GpuInfo?.Gpus?.Sum(g => g.Count ?? 0);
            return s;
        }

        public static GridImage ToImage(Image img, string datacenter)
        {
            double? size = null;
            foreach (var b in img.BlockDeviceMappings ?? new List<BlockDeviceMapping>())
                if (b.Ebs?.VolumeSize != null) size = (size ?? 0) + b.Ebs.VolumeSize.Value;
            string? os = null;
            if (img.Platform != null && string.Equals(img.Platform.Value, "windows", StringComparison.OrdinalIgnoreCase)) os = "Windows";
            else if (!string.IsNullOrEmpty(img.PlatformDetails)) os = img.PlatformDetails;
            var g = new GridImage
            {
                Datacenter = datacenter,
                Name = NullIfEmpty(img.Name) ?? img.ImageId ?? "",
                NativeId = img.ImageId,
                OsType = os,
                Description = NullIfEmpty(img.Description),
                SizeGB = size,
                PricePerHour = null,
            };
            var p = g.Properties;
            p["ImageId"] = img.ImageId;
            p["ImageLocation"] = NullIfEmpty(img.ImageLocation);
            p["State"] = img.State?.Value;
            p["OwnerId"] = NullIfEmpty(img.OwnerId);
            p["OwnerAlias"] = NullIfEmpty(img.ImageOwnerAlias);
            p["Public"] = img.Public;
            p["Architecture"] = img.Architecture?.Value;
            p["ImageType"] = img.ImageType?.Value;
            p["KernelId"] = NullIfEmpty(img.KernelId);
            p["RamdiskId"] = NullIfEmpty(img.RamdiskId);
            p["RootDeviceType"] = img.RootDeviceType?.Value;
            p["RootDeviceName"] = NullIfEmpty(img.RootDeviceName);
            p["VirtualizationType"] = img.VirtualizationType?.Value;
            p["Hypervisor"] = img.Hypervisor?.Value;
            p["CreationDate"] = NullIfEmpty(img.CreationDate);
            p["Platform"] = img.Platform?.Value;
            p["PlatformDetails"] = NullIfEmpty(img.PlatformDetails);
            p["BlockDeviceMappings"] = (img.BlockDeviceMappings ?? new List<BlockDeviceMapping>())
                .Select(b => b.DeviceName + (b.Ebs?.SnapshotId != null ? "=" + b.Ebs.SnapshotId : b.VirtualName != null ? "=" + b.VirtualName : "")).ToArray();
            p["Tags"] = (img.Tags ?? new List<Tag>()).Where(t => t.Key != null).ToDictionary(t => t.Key!, t => (object?)(t.Value ?? ""), StringComparer.Ordinal);
            return g;
        }

        public static GridHost ToHost(AvailabilityZone z, string datacenter, string region)
        {
            string? st = z.State?.Value;
            var h = new GridHost
            {
                Datacenter = datacenter,
                Name = z.ZoneName ?? "",
                NativeId = NullIfEmpty(z.ZoneId) ?? z.ZoneName,
                Cluster = NullIfEmpty(z.RegionName) ?? region,
                NativeState = st,
                State = st == "available" ? HostState.Connected
                      : st == "impaired" || st == "unavailable" ? HostState.Down
                      : HostState.Unknown,
                // Elastic: no fixed capacity; the quota service is not wrapped.
                CpuCores = null, MemoryMB = null, AllocatedCpu = null, AllocatedMemoryMB = null,
            };
            h.Properties["ZoneId"] = NullIfEmpty(z.ZoneId);
            h.Properties["ZoneType"] = NullIfEmpty(z.ZoneType);
            h.Properties["RegionName"] = NullIfEmpty(z.RegionName);
            h.Properties["GroupName"] = NullIfEmpty(z.GroupName);
            h.Properties["NetworkBorderGroup"] = NullIfEmpty(z.NetworkBorderGroup);
            h.Properties["OptInStatus"] = z.OptInStatus?.Value;
            h.Properties["ParentZoneName"] = NullIfEmpty(z.ParentZoneName);
            h.Properties["Messages"] = (z.Messages ?? new List<AvailabilityZoneMessage>()).Select(m => m.Message ?? "").ToArray();
            return h;
        }

        internal static DateTimeOffset ToOffset(DateTime d)
            => d.Kind == DateTimeKind.Unspecified ? new DateTimeOffset(DateTime.SpecifyKind(d, DateTimeKind.Utc)) : new DateTimeOffset(d.ToUniversalTime());

        internal static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
    }
}
