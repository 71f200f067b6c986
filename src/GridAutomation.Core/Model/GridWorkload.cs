using System;
using System.Collections;
using System.Collections.Generic;

namespace GridAutomation.Core.Model
{
    public sealed class GridDisk
    {
        public string Name { get; set; } = "";
        /// <summary>Provider id or path of the disk/volume.</summary>
        public string? NativeId { get; set; }
        public double? SizeGB { get; set; }
        public bool IsOsDisk { get; set; }
        /// <summary>Whether removing the workload also deletes this disk by the provider's own rule (EC2 DeleteOnTermination, Azure deleteOption).</summary>
        public bool? DeleteWithWorkload { get; set; }
        public override string ToString() => Name;
    }

    /// <summary>A virtual machine or instance, anywhere.</summary>
    public sealed class GridWorkload
    {
        /// <summary>"&lt;datacenter&gt;/&lt;escaped native id&gt;". See <see cref="WorkloadId"/>.</summary>
        public string Id { get; set; } = "";
        /// <summary>The id that survives re-registration (vSphere instanceUuid, libvirt UUID, EC2 instance id, Azure resource id).</summary>
        public string NativeId { get; set; } = "";
        public string Name { get; set; } = "";
        public string Datacenter { get; set; } = "";
        public string Provider { get; set; } = "";
        /// <summary>Name of the GridHost it is placed on (null when unknown or not placed).</summary>
        public string? Host { get; set; }
        public string? Cluster { get; set; }
        public WorkloadState State { get; set; }
        /// <summary>Exactly as the provider says it.</summary>
        public string? NativeState { get; set; }
        /// <summary>Provisioning state where the provider has one apart from power (Azure); else null.</summary>
        public string? ProvisioningState { get; set; }
        /// <summary>Whether compute is being billed: EC2 stopped / Azure deallocated = false, Azure stopped = true; null where not known or not applicable.</summary>
        public bool? ComputeBilled { get; set; }
        public int? CpuCount { get; set; }
        public long? MemoryMB { get; set; }
        public double? MemoryGB => MemoryMB / 1024.0;
        public string? Size { get; set; }
        public string? Image { get; set; }
        public IList<GridDisk> Disks { get; set; } = new List<GridDisk>();
        public IList<string> IPAddresses { get; set; } = new List<string>();
        /// <summary>Tags (keys case-insensitive). Exposed to PowerShell as a hashtable.</summary>
        public Hashtable Tags { get; set; } = new Hashtable(StringComparer.OrdinalIgnoreCase);
        /// <summary>The owning datacenter's owner unless an "Owner" tag says otherwise (set by the engine).</summary>
        public string? Owner { get; set; }
        public DateTimeOffset? CreatedTime { get; set; }
        /// <summary>The provider's native properties not mapped above (nothing a user needs is lost).</summary>
        public IDictionary<string, object?> Properties { get; set; } = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);

        public override string ToString() => Id;
    }

    /// <summary>A size (instance type / VM size / CPU-memory shape) a datacenter offers.</summary>
    public sealed class GridSize
    {
        public string Datacenter { get; set; } = "";
        public string Name { get; set; } = "";
        public int? CpuCount { get; set; }
        public long? MemoryMB { get; set; }
        public double? MemoryGB => MemoryMB / 1024.0;
        /// <summary>Price per hour where known, else null (never invented).</summary>
        public decimal? PricePerHour { get; set; }
        public string? Currency { get; set; }
        public IDictionary<string, object?> Properties { get; set; } = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        public override string ToString() => Name;
    }

    /// <summary>An image / template / volume a workload can be created from.</summary>
    public sealed class GridImage
    {
        public string Datacenter { get; set; } = "";
        public string Name { get; set; } = "";
        public string? NativeId { get; set; }
        public string? OsType { get; set; }
        public string? Description { get; set; }
        public double? SizeGB { get; set; }
        public decimal? PricePerHour { get; set; }
        public IDictionary<string, object?> Properties { get; set; } = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        public override string ToString() => Name;
    }
}
