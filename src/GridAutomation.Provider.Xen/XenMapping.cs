using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Xen.Xapi;
using Rec = System.Collections.Generic.IReadOnlyDictionary<string, object?>;

namespace GridAutomation.Providers.Xen
{
    /// <summary>XAPI records → the resource model. Pure functions over records already fetched in bulk.</summary>
    internal static class XenMapping
    {
        /// <summary>other_config key holding the idempotency key of the create that made the VM.</summary>
        public const string IdempotencyKey = "gridautomation_idempotency_key";
        /// <summary>other_config key holding the template (image) a VM was made from; xe vm-install writes base_template_name.</summary>
        public const string ImageKey = "base_template_name";

        public static bool IsWorkload(Rec vm)
            => !XapiValue.Bool(vm, "is_a_template") && !XapiValue.Bool(vm, "is_a_snapshot") && !XapiValue.Bool(vm, "is_control_domain");

        public static bool IsImage(Rec vm)
            => XapiValue.Bool(vm, "is_a_template") && !XapiValue.Bool(vm, "is_a_snapshot") && !XapiValue.Bool(vm, "is_control_domain");

        /// <summary>vm_power_state → normalized (docs/states.md, Xen).</summary>
        public static WorkloadState State(string? power) => power switch
        {
            "Halted" => WorkloadState.Stopped,
            "Running" => WorkloadState.Running,
            "Paused" => WorkloadState.Paused,
            "Suspended" => WorkloadState.Suspended,
            _ => WorkloadState.Unknown,
        };

        public static long? MB(long? bytes) => bytes.HasValue ? bytes.Value / (1024 * 1024) : (long?)null;

        public static GridWorkload Workload(string datacenter, string reference, Rec vm,
            IReadOnlyDictionary<string, Dictionary<string, object?>>? metrics,
            IReadOnlyDictionary<string, Dictionary<string, object?>>? guestMetrics,
            IReadOnlyDictionary<string, string> hostNames)
        {
            string uuid = XapiValue.Str(vm, "uuid") ?? reference;
            string? power = XapiValue.Str(vm, "power_state");
            int? cpu = (int?)XapiValue.Long(vm, "VCPUs_max");
            long? mem = MB(XapiValue.Long(vm, "memory_static_max"));
            var other = XapiValue.Map(vm, "other_config");
            var w = new GridWorkload
            {
                NativeId = uuid,
                Id = WorkloadId.Format(datacenter, uuid),
                Name = XapiValue.Str(vm, "name_label") ?? "",
                Datacenter = datacenter,
                Provider = XenProvider.ProviderName,
                State = State(power),
                NativeState = power,
                CpuCount = cpu,
                MemoryMB = mem,
                Size = SizeCatalog.Match(cpu, mem),
                Image = other.TryGetValue(ImageKey, out var img) ? XapiValue.AsString(img) : null,
            };
            string? host = XapiValue.Str(vm, "resident_on");
            if (!XapiValue.IsNullRef(host) && hostNames.TryGetValue(host!, out var hn)) w.Host = hn;
            foreach (var (k, v) in Tags(vm)) w.Tags[k] = v;
            w.Properties["Ref"] = reference;
            w.Properties["Description"] = XapiValue.Str(vm, "name_description");
            w.Properties["VCPUsAtStartup"] = XapiValue.Long(vm, "VCPUs_at_startup");
            w.Properties["MemoryDynamicMaxMB"] = MB(XapiValue.Long(vm, "memory_dynamic_max"));
            w.Properties["OtherConfig"] = other.ToDictionary(kv => kv.Key, kv => XapiValue.AsString(kv.Value));
            w.Properties["AllowedOperations"] = XapiValue.Strings(vm, "allowed_operations").ToArray();
            w.Properties["DomainId"] = XapiValue.Long(vm, "domid");
            if (other.TryGetValue(IdempotencyKey, out var key)) w.Properties["IdempotencyKey"] = XapiValue.AsString(key);
            string? mref = XapiValue.Str(vm, "metrics");
            if (metrics != null && !XapiValue.IsNullRef(mref) && metrics.TryGetValue(mref!, out var m))
            {
                w.Properties["MemoryActualMB"] = MB(XapiValue.Long(m, "memory_actual"));
                w.Properties["VCPUsNumber"] = XapiValue.Long(m, "VCPUs_number");
                var started = XapiValue.AsDate(m.TryGetValue("start_time", out var st) ? st : null);
                if (started.HasValue) w.Properties["StartTime"] = started;
                w.CreatedTime = XapiValue.AsDate(m.TryGetValue("install_time", out var it) ? it : null);
            }
            string? gref = XapiValue.Str(vm, "guest_metrics");
            if (guestMetrics != null && !XapiValue.IsNullRef(gref) && guestMetrics.TryGetValue(gref!, out var g))
            {
                foreach (var kv in XapiValue.Map(g, "networks").OrderBy(k => k.Key, StringComparer.Ordinal))
                {
                    string? ip = XapiValue.AsString(kv.Value);
                    if (!string.IsNullOrEmpty(ip) && !w.IPAddresses.Contains(ip!)) w.IPAddresses.Add(ip!);
                }
                var os = XapiValue.Map(g, "os_version");
                if (os.TryGetValue("name", out var osName)) w.Properties["GuestOS"] = XapiValue.AsString(osName);
            }
            return w;
        }

        /// <summary>other_config prefix of XenCenter's custom fields (key/value pairs XenCenter shows per VM).</summary>
        public const string CustomFieldPrefix = "XenCenter.CustomFields.";

        /// <summary>
        /// Tags come from XAPI's two places: the `tags` labels (a string set; "key=value" reads as that pair, a plain
        /// label as (label, "")) and XenCenter's custom fields (other_config "XenCenter.CustomFields.&lt;key&gt;" =
        /// value), which win over a label of the same key. Set-GridWorkload -Tag updates a key where it already is a
        /// custom field, and otherwise writes a "key=value" label, which XenCenter and Xen Orchestra show as a tag.
        /// </summary>
        public static IEnumerable<(string Key, string Value)> Tags(Rec vm)
        {
            foreach (var t in XapiValue.Strings(vm, "tags"))
            {
                int eq = t.IndexOf('=');
                if (eq > 0) yield return (t.Substring(0, eq), t.Substring(eq + 1));
                else if (t.Length > 0) yield return (t, "");
            }
            foreach (var kv in XapiValue.Map(vm, "other_config"))
                if (kv.Key.StartsWith(CustomFieldPrefix, StringComparison.Ordinal) && kv.Key.Length > CustomFieldPrefix.Length)
                    yield return (kv.Key.Substring(CustomFieldPrefix.Length), XapiValue.AsString(kv.Value) ?? "");
        }

        /// <summary>The other_config key of the custom field named <paramref name="key"/> (case-insensitive), or null.</summary>
        public static string? CustomFieldKey(Rec vm, string key)
            => XapiValue.Map(vm, "other_config").Keys.FirstOrDefault(k => k.StartsWith(CustomFieldPrefix, StringComparison.Ordinal)
                && string.Equals(k.Substring(CustomFieldPrefix.Length), key, StringComparison.OrdinalIgnoreCase));

        public static string TagLabel(string key, string value) => value.Length == 0 ? key : key + "=" + value;

        public static bool TagHasKey(string label, string key)
        {
            int eq = label.IndexOf('=');
            string k = eq > 0 ? label.Substring(0, eq) : label;
            return string.Equals(k, key, StringComparison.OrdinalIgnoreCase);
        }

        public static GridImage Image(string datacenter, string reference, Rec vm)
        {
            var other = XapiValue.Map(vm, "other_config");
            var img = new GridImage
            {
                Datacenter = datacenter,
                Name = XapiValue.Str(vm, "name_label") ?? "",
                NativeId = XapiValue.Str(vm, "uuid"),
                Description = XapiValue.Str(vm, "name_description"),
                OsType = other.TryGetValue("install-distro", out var d) ? XapiValue.AsString(d) : null,
            };
            img.Properties["Ref"] = reference;
            img.Properties["IsDefaultTemplate"] = XapiValue.Bool(vm, "is_default_template");
            img.Properties["VCPUsMax"] = XapiValue.Long(vm, "VCPUs_max");
            img.Properties["MemoryStaticMaxMB"] = MB(XapiValue.Long(vm, "memory_static_max"));
            return img;
        }
    }
}
