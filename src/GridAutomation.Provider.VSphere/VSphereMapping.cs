using System;
using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using GridAutomation.Core.Model;
using GridAutomation.Providers.VSphere.Vim25;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>What the provider knows about a host while mapping workloads.</summary>
    internal sealed class HostInfo
    {
        public MoRef Ref;
        public string Name = "";
        public string? Cluster;
        public MoRef ComputeResource;
        public MoRef? ResourcePool;
        public GridHost Grid = new GridHost();
    }

    internal static class VSphereMapping
    {
        public const string IdempotencyExtraConfigKey = "gridautomation.idempotencyKey";

        public static readonly string[] VmPathsBase =
        {
            "name", "config.instanceUuid", "config.template", "config.hardware.numCPU", "config.hardware.memoryMB",
            "config.annotation", "config.guestFullName", "config.guestId", "runtime.powerState", "runtime.host",
            "runtime.connectionState", "guest.ipAddress", "guest.net", "guest.toolsRunningStatus", "resourcePool", "parent",
            "summary.storage.committed", "summary.storage.uncommitted",
        };

        public static string[] VmPaths(string apiVersion, bool withDevices)
        {
            var list = new List<string>(VmPathsBase);
            if (VersionAtLeast(apiVersion, 6, 7)) list.Add("config.createDate");
            if (withDevices) list.Add("config.hardware.device");
            return list.ToArray();
        }

        public static bool VersionAtLeast(string v, int major, int minor)
        {
            var parts = (v ?? "").Split('.');
            int ma = parts.Length > 0 && int.TryParse(parts[0], out var a) ? a : 0;
            int mi = parts.Length > 1 && int.TryParse(parts[1], out var b) ? b : 0;
            return ma > major || (ma == major && mi >= minor);
        }

        /// <summary>poweredOn → Running, poweredOff → Stopped, suspended → Suspended (memory on disk). Unknown when the VM is not connected/accessible.</summary>
        public static WorkloadState State(string? powerState, string? connectionState)
        {
            if (connectionState != null && connectionState != "connected") return WorkloadState.Unknown;
            switch (powerState)
            {
                case "poweredOn": return WorkloadState.Running;
                case "poweredOff": return WorkloadState.Stopped;
                case "suspended": return WorkloadState.Suspended;
                default: return WorkloadState.Unknown;
            }
        }

        public static string FormatSize(int cpu, long memoryMB)
            => memoryMB % 1024 == 0
                ? cpu.ToString(CultureInfo.InvariantCulture) + "x" + (memoryMB / 1024).ToString(CultureInfo.InvariantCulture)
                : cpu.ToString(CultureInfo.InvariantCulture) + "x" + memoryMB.ToString(CultureInfo.InvariantCulture) + "MB";

        /// <summary>"2x4" (2 vCPU, 4 GB), "2x4GB", "2x512MB", "2x1.5" → (cpu, memoryMB); false when not a shape.</summary>
        public static bool TryParseSize(string? size, out int cpu, out long memoryMB)
        {
            cpu = 0; memoryMB = 0;
            if (string.IsNullOrWhiteSpace(size)) return false;
            string s = size!.Trim().ToLowerInvariant();
            int x = s.IndexOf('x');
            if (x <= 0 || !int.TryParse(s.Substring(0, x), NumberStyles.Integer, CultureInfo.InvariantCulture, out cpu) || cpu <= 0) return false;
            string m = s.Substring(x + 1);
            bool mb = m.EndsWith("mb", StringComparison.Ordinal);
            if (mb) m = m.Substring(0, m.Length - 2); else if (m.EndsWith("gb", StringComparison.Ordinal)) m = m.Substring(0, m.Length - 2);
            if (!double.TryParse(m, NumberStyles.Float, CultureInfo.InvariantCulture, out var val) || val <= 0) return false;
            memoryMB = mb ? (long)val : (long)Math.Round(val * 1024);
            return memoryMB > 0;
        }

        /// <summary>A stable instance UUID derived from the idempotency key: the same key always asks vSphere for the same VM.</summary>
        public static string DeterministicUuid(string scope, string key)
        {
            using var sha = SHA256.Create();
            byte[] h = sha.ComputeHash(Encoding.UTF8.GetBytes("GridAutomation.VSphere\n" + scope + "\n" + key));
            byte[] g = new byte[16];
            Array.Copy(h, g, 16);
            g[6] = (byte)((g[6] & 0x0F) | 0x50); // version 5 style
            g[8] = (byte)((g[8] & 0x3F) | 0x80); // RFC 4122 variant
            var sb = new StringBuilder(36);
            for (int i = 0; i < 16; i++)
            {
                if (i == 4 || i == 6 || i == 8 || i == 10) sb.Append('-');
                sb.Append(g[i].ToString("x2", CultureInfo.InvariantCulture));
            }
            return sb.ToString();
        }

        public static bool IsUuid(string s) => Guid.TryParse(s, out _);

        public static GridWorkload ToWorkload(ObjectContent oc, string datacenter, IReadOnlyDictionary<MoRef, HostInfo> hosts, Dictionary<string, string>? tags)
        {
            string uuid = oc.Text("config.instanceUuid") ?? oc.Obj.Value;
            string? power = oc.Text("runtime.powerState");
            string? connection = oc.Text("runtime.connectionState");
            int? cpu = oc.Int("config.hardware.numCPU");
            long? mem = oc.Long("config.hardware.memoryMB");
            var w = new GridWorkload
            {
                NativeId = uuid,
                Id = WorkloadId.Format(datacenter, uuid),
                Name = oc.Text("name") ?? "",
                Datacenter = datacenter,
                Provider = VSphereProvider.ProviderName,
                NativeState = power ?? connection ?? "unknown",
                State = State(power, connection),
                ComputeBilled = null,
                CpuCount = cpu,
                MemoryMB = mem,
                Size = cpu.HasValue && mem.HasValue ? FormatSize(cpu.Value, mem.Value) : null,
                CreatedTime = oc.Get("config.createDate")?.AsDate(),
            };
            var hostRef = oc.Ref("runtime.host");
            if (hostRef.HasValue && hosts.TryGetValue(hostRef.Value, out var h)) { w.Host = h.Name; w.Cluster = h.Cluster; }
            var ips = new List<string>();
            var net = oc.Get("guest.net");
            if (net != null)
                foreach (var nic in net.Children)
                    foreach (var ip in nic.All("ipAddress"))
                        if (!string.IsNullOrEmpty(ip.Text) && !ips.Contains(ip.Text!)) ips.Add(ip.Text!);
            string? primary = oc.Text("guest.ipAddress");
            if (!string.IsNullOrEmpty(primary) && !ips.Contains(primary!)) ips.Insert(0, primary!);
            w.IPAddresses = ips;
            if (tags != null) foreach (var kv in tags) w.Tags[kv.Key] = kv.Value;

            var p = w.Properties;
            p["MoRef"] = oc.Obj.Value;
            p["PowerState"] = power;
            p["ConnectionState"] = connection;
            p["HostMoRef"] = hostRef?.Value;
            p["ResourcePool"] = oc.Ref("resourcePool")?.Value;
            p["Folder"] = oc.Ref("parent")?.Value;
            p["GuestFullName"] = oc.Text("config.guestFullName");
            p["GuestId"] = oc.Text("config.guestId");
            p["Annotation"] = oc.Text("config.annotation");
            p["ToolsRunningStatus"] = oc.Text("guest.toolsRunningStatus");
            long? committed = oc.Long("summary.storage.committed"), uncommitted = oc.Long("summary.storage.uncommitted");
            p["StorageCommittedGB"] = committed.HasValue ? Math.Round(committed.Value / 1073741824.0, 3) : (double?)null;
            p["StorageUncommittedGB"] = uncommitted.HasValue ? Math.Round(uncommitted.Value / 1073741824.0, 3) : (double?)null;
            if (oc.Missing != null) p["MissingProperties"] = string.Join(", ", oc.Missing.Keys);

            var devices = oc.Get("config.hardware.device");
            if (devices != null)
            {
                bool first = true;
                foreach (var d in devices.Children)
                {
                    if (d.XsiType != "VirtualDisk") continue;
                    long? kb = d.Child("capacityInKB")?.AsLong();
                    long? bytes = d.Child("capacityInBytes")?.AsLong();
                    w.Disks.Add(new GridDisk
                    {
                        Name = d.Path("deviceInfo.label")?.Text ?? ("disk " + d.ChildText("key")),
                        NativeId = d.Path("backing.fileName")?.Text ?? d.ChildText("key"),
                        SizeGB = bytes.HasValue ? bytes.Value / 1073741824.0 : kb.HasValue ? kb.Value / 1048576.0 : (double?)null,
                        IsOsDisk = first,
                        DeleteWithWorkload = null,
                    });
                    first = false;
                }
            }
            return w;
        }
    }
}
