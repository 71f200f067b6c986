using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>
    /// Hyper-V's Microsoft.HyperV.PowerShell.VMState and how it maps to the model. Mapped by NAME, not by number: the
    /// enum crosses the wire as its name (and value), and Microsoft documents the names.
    /// </summary>
    internal static class StateMap
    {
        /// <summary>Normalized state of a VMState name. Every "*Critical" variant (storage of the VM lost) is Failed.</summary>
        public static WorkloadState Normalize(string? vmState)
        {
            if (string.IsNullOrEmpty(vmState)) return WorkloadState.Unknown;
            if (vmState!.EndsWith("Critical", StringComparison.OrdinalIgnoreCase)) return WorkloadState.Failed;
            switch (vmState.ToLowerInvariant())
            {
                case "running": return WorkloadState.Running;
                case "off": return WorkloadState.Stopped;
                case "saved": return WorkloadState.Suspended;       // Save-VM: memory written to disk
                case "paused": return WorkloadState.Paused;         // Suspend-VM: memory held in the host
                case "starting": return WorkloadState.Starting;
                case "resuming": return WorkloadState.Starting;
                case "reset": return WorkloadState.Starting;
                case "forcereboot": return WorkloadState.Starting;
                case "stopping": return WorkloadState.Stopping;
                case "forceshutdown": return WorkloadState.Stopping;
                case "saving": return WorkloadState.Suspending;
                case "fastsaving": return WorkloadState.Suspending;
                case "fastsaved": return WorkloadState.Suspended;
                case "pausing": return WorkloadState.Paused;
                case "hibernated": return WorkloadState.Stopped;    // the guest hibernated itself; the VM is off
                default: return WorkloadState.Unknown;              // Other, ComponentServicing, anything newer
            }
        }
    }

    /// <summary>
    /// What GridAutomation keeps on a VM: Hyper-V has no tags or custom attributes, so tags, the idempotency key, size
    /// and image live on ONE line of the VM's Notes, "GridAutomation:{json}", after any notes of the admin's (kept).
    /// </summary>
    internal sealed class GridNotes
    {
        public const string Prefix = "GridAutomation:";
        public string UserNotes { get; set; } = "";
        public string? IdempotencyKey { get; set; }
        public string? Size { get; set; }
        public string? Image { get; set; }
        public DateTimeOffset? Created { get; set; }
        public Dictionary<string, string> Tags { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

        public static GridNotes Parse(string? notes)
        {
            var n = new GridNotes();
            if (string.IsNullOrEmpty(notes)) return n;
            var lines = notes!.Replace("\r\n", "\n").Split('\n').ToList();
            int idx = lines.FindLastIndex(l => l.StartsWith(Prefix, StringComparison.Ordinal));
            if (idx >= 0)
            {
                try
                {
                    using var doc = JsonDocument.Parse(lines[idx].Substring(Prefix.Length));
                    var root = doc.RootElement;
                    if (root.TryGetProperty("key", out var k) && k.ValueKind == JsonValueKind.String) n.IdempotencyKey = k.GetString();
                    if (root.TryGetProperty("size", out var s) && s.ValueKind == JsonValueKind.String) n.Size = s.GetString();
                    if (root.TryGetProperty("image", out var i) && i.ValueKind == JsonValueKind.String) n.Image = i.GetString();
                    if (root.TryGetProperty("created", out var c) && c.ValueKind == JsonValueKind.String
                        && DateTimeOffset.TryParse(c.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var created)) n.Created = created;
                    if (root.TryGetProperty("tags", out var t) && t.ValueKind == JsonValueKind.Object)
                        foreach (var p in t.EnumerateObject()) n.Tags[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() ?? "" : p.Value.GetRawText();
                    lines.RemoveAt(idx);
                }
                catch (JsonException) { /* not ours after all: leave the line among the user's notes */ }
            }
            n.UserNotes = string.Join("\n", lines).TrimEnd('\n');
            return n;
        }

        public override string ToString()
        {
            var o = new Dictionary<string, object?>();
            if (IdempotencyKey != null) o["key"] = IdempotencyKey;
            if (Size != null) o["size"] = Size;
            if (Image != null) o["image"] = Image;
            if (Created != null) o["created"] = Created.Value.ToString("o", CultureInfo.InvariantCulture);
            if (Tags.Count > 0) o["tags"] = Tags.OrderBy(kv => kv.Key, StringComparer.OrdinalIgnoreCase).ToDictionary(kv => kv.Key, kv => kv.Value);
            string line = Prefix + JsonSerializer.Serialize(o);
            return UserNotes.Length == 0 ? line : UserNotes + "\n" + line;
        }
    }

    /// <summary>The fixed CPU/memory shapes offered on every Hyper-V datacenter (no prices: none are invented).</summary>
    internal static class SizeCatalog
    {
        private static readonly GridAutomation.Core.Providers.ShapeCatalog Catalog = new GridAutomation.Core.Providers.ShapeCatalog(new[]
        {
            ("hv.small", 1, 512L),
            ("hv.medium", 2, 2048L),
            ("hv.large", 4, 8192L),
            ("hv.xlarge", 8, 16384L),
        }, "hv.small", size =>
        {
            size.Properties["ProcessorCount"] = size.CpuCount;
            size.Properties["MemoryStartupBytes"] = size.MemoryMB * 1024 * 1024;
        });

        public static IReadOnlyList<(string Name, int Cpu, long MemoryMB)> Shapes => Catalog.Shapes;
        public static string Default => Catalog.Default;
        public static (string Name, int Cpu, long MemoryMB)? Find(string name) => Catalog.Find(name);
        public static string? Match(int? cpu, long? memoryMB) => Catalog.Match(cpu, memoryMB);
        public static IReadOnlyList<GridSize> ToSizes(string datacenter) => Catalog.ToSizes(datacenter);
    }

    /// <summary>
    /// Turns one VM record (the properties the inventory script selects, as plain values: see RemoteHost.ToRecord)
    /// into a workload. Pure: no PowerShell type, so it is unit-tested without a runspace.
    /// </summary>
    internal static class VmMapper
    {
        /// <summary>The VM properties the inventory asks for (Get-VM | Select-Object ...): only what the model needs.</summary>
        public static readonly string[] SelectedProperties =
        {
            "Name", "Id", "State", "Status", "ProcessorCount", "MemoryStartup", "MemoryAssigned", "DynamicMemoryEnabled",
            "Uptime", "ComputerName", "Generation", "Version", "Notes", "CreationTime", "Path", "IsClustered",
        };

        public static GridWorkload ToWorkload(IReadOnlyDictionary<string, object?> r, string datacenter, string hostName, string? cluster)
        {
            string id = Str(r, "Id") ?? throw new FormatException("A VM record without Id.");
            string? state = Str(r, "State");
            var notes = GridNotes.Parse(Str(r, "Notes"));
            int? cpu = Int(r, "ProcessorCount");
            long? startup = Long(r, "MemoryStartup");
            long? memMB = startup / (1024 * 1024);
            string? size = notes.Size != null && SizeCatalog.Find(notes.Size) is { } s && s.Cpu == cpu && s.MemoryMB == memMB ? s.Name : SizeCatalog.Match(cpu, memMB);
            var w = new GridWorkload
            {
                NativeId = id.ToLowerInvariant(),
                Id = WorkloadId.Format(datacenter, id.ToLowerInvariant()),
                Name = Str(r, "Name") ?? "",
                Datacenter = datacenter,
                Provider = HyperVProvider.ProviderName,
                Host = hostName,
                Cluster = cluster,
                State = StateMap.Normalize(state),
                NativeState = state,
                ComputeBilled = null, // on-premises
                CpuCount = cpu,
                MemoryMB = memMB,
                Size = size,
                Image = notes.Image,
                CreatedTime = notes.Created ?? Date(r, "CreationTime"),
            };
            foreach (var p in Strings(r, "HardDrivePaths"))
                w.Disks.Add(new GridDisk { Name = System.IO.Path.GetFileName(p.Replace('\\', '/')), NativeId = p, IsOsDisk = w.Disks.Count == 0, DeleteWithWorkload = false });
            foreach (var ip in Strings(r, "IPAddresses")) w.IPAddresses.Add(ip);
            foreach (var kv in notes.Tags) w.Tags[kv.Key] = kv.Value;
            var p2 = w.Properties;
            p2["ComputerName"] = Str(r, "ComputerName");
            p2["Status"] = Str(r, "Status");
            p2["Generation"] = Int(r, "Generation");
            p2["Version"] = Str(r, "Version");
            p2["MemoryStartupBytes"] = startup;
            p2["MemoryAssignedBytes"] = Long(r, "MemoryAssigned");
            p2["DynamicMemoryEnabled"] = r.TryGetValue("DynamicMemoryEnabled", out var dm) ? dm as bool? : null;
            p2["Uptime"] = r.TryGetValue("Uptime", out var up) ? up : null;
            p2["Path"] = Str(r, "Path");
            p2["IsClustered"] = r.TryGetValue("IsClustered", out var ic) ? ic as bool? : null;
            p2["Notes"] = notes.UserNotes;
            p2["IdempotencyKey"] = notes.IdempotencyKey;
            p2["StateCritical"] = state != null && state.EndsWith("Critical", StringComparison.OrdinalIgnoreCase);
            return w;
        }

        /// <summary>A list property; a single value (PowerShell unrolls one-element arrays) counts as a list of one.</summary>
        public static IEnumerable<string> Strings(IReadOnlyDictionary<string, object?> r, string key)
        {
            if (!r.TryGetValue(key, out var v) || v == null) return Array.Empty<string>();
            if (v is string s) return s.Length > 0 ? new[] { s } : Array.Empty<string>();
            if (v is IEnumerable e) return e.Cast<object?>().Select(x => x?.ToString()).Where(x => !string.IsNullOrEmpty(x)).Select(x => x!).ToArray();
            return new[] { Convert.ToString(v, CultureInfo.InvariantCulture) ?? "" };
        }

        public static string? Str(IReadOnlyDictionary<string, object?> r, string key)
            => r.TryGetValue(key, out var v) && v != null ? Convert.ToString(v, CultureInfo.InvariantCulture) : null;

        public static int? Int(IReadOnlyDictionary<string, object?> r, string key)
            => r.TryGetValue(key, out var v) && v != null && long.TryParse(Convert.ToString(v, CultureInfo.InvariantCulture), NumberStyles.Integer, CultureInfo.InvariantCulture, out var x) ? (int)x : null;

        public static long? Long(IReadOnlyDictionary<string, object?> r, string key)
            => r.TryGetValue(key, out var v) && v != null && long.TryParse(Convert.ToString(v, CultureInfo.InvariantCulture), NumberStyles.Integer, CultureInfo.InvariantCulture, out var x) ? x : null;

        public static DateTimeOffset? Date(IReadOnlyDictionary<string, object?> r, string key)
            => r.TryGetValue(key, out var v) ? v switch
            {
                DateTime d => new DateTimeOffset(d.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(d, DateTimeKind.Local) : d),
                DateTimeOffset o => o,
                _ => null,
            } : null;
    }

    /// <summary>Parses "[user@]host[:port]" (and "[::1]:port") of -HostName.</summary>
    internal static class HostAddress
    {
        public static (string? User, string Host, int? Port) Parse(string text)
        {
            string s = text.Trim();
            if (s.Length == 0) throw GridException.InvalidRequest("An empty -HostName entry.", "HyperVHostNameInvalid");
            string? user = null;
            int at = s.LastIndexOf('@');
            if (at >= 0) { user = s.Substring(0, at); s = s.Substring(at + 1); }
            int? port = null;
            if (s.StartsWith("[", StringComparison.Ordinal))
            {
                int close = s.IndexOf(']');
                if (close < 0) throw GridException.InvalidRequest($"'{text}' is not host[:port].", "HyperVHostNameInvalid", text);
                string rest = s.Substring(close + 1);
                string h = s.Substring(1, close - 1);
                if (rest.StartsWith(":", StringComparison.Ordinal)) port = ParsePort(rest.Substring(1), text);
                else if (rest.Length > 0) throw GridException.InvalidRequest($"'{text}' is not host[:port].", "HyperVHostNameInvalid", text);
                s = h;
            }
            else if (s.Count(c => c == ':') == 1)
            {
                int colon = s.IndexOf(':');
                port = ParsePort(s.Substring(colon + 1), text);
                s = s.Substring(0, colon);
            }
            if (s.Length == 0 || (user != null && user.Length == 0)) throw GridException.InvalidRequest($"'{text}' is not [user@]host[:port].", "HyperVHostNameInvalid", text);
            return (user, s, port);
        }

        private static int ParsePort(string p, string text)
            => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port > 0 && port < 65536
                ? port : throw GridException.InvalidRequest($"'{text}': the port must be 1-65535.", "HyperVHostNameInvalid", text);
    }
}
