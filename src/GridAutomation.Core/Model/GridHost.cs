using System;
using System.Collections.Generic;

namespace GridAutomation.Core.Model
{
    /// <summary>Whatever a workload is placed on: an ESXi host, a libvirt host, an AWS availability zone, an Azure zone ("regional" where zones are not used).</summary>
    public sealed class GridHost
    {
        public string Datacenter { get; set; } = "";
        public string Name { get; set; } = "";
        /// <summary>The provider's own id (vSphere moref, libvirt URI, zone id...).</summary>
        public string? NativeId { get; set; }
        /// <summary>The cluster or region it belongs to (null when none).</summary>
        public string? Cluster { get; set; }
        public HostState State { get; set; }
        public string? NativeState { get; set; }
        /// <summary>Physical CPU cores (null when unknown, e.g. a cloud zone).</summary>
        public int? CpuCores { get; set; }
        public long? MemoryMB { get; set; }
        /// <summary>vCPUs allocated to workloads placed here (null when unknown).</summary>
        public int? AllocatedCpu { get; set; }
        public long? AllocatedMemoryMB { get; set; }
        public double? MemoryGB => MemoryMB / 1024.0;
        public double? AllocatedMemoryGB => AllocatedMemoryMB / 1024.0;
        public int? FreeCpu => CpuCores - AllocatedCpu;
        public long? FreeMemoryMB => MemoryMB - AllocatedMemoryMB;
        public double? FreeMemoryGB => FreeMemoryMB / 1024.0;
        public IDictionary<string, object?> Properties { get; set; } = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);

        public override string ToString() => Datacenter + "/" + Name;
    }
}
