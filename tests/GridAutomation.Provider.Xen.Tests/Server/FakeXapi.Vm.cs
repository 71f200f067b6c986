using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;

namespace GridAutomation.Provider.Xen.Tests.Server
{
    /// <summary>
    /// The VM lifecycle of the fake XAPI. Power-state rules as in xapi_vm_lifecycle.ml allowed_power_states (see
    /// shared/fixtures/SOURCES.md): start/start_on Halted; unpause Paused; resume/resume_on Suspended; pause, suspend,
    /// clean_shutdown, clean_reboot and pool_migrate Running; hard_shutdown/shutdown Paused, Suspended or Running;
    /// hard_reboot Paused or Running. Host memory is kept in host_metrics.memory_free (HOST_NOT_ENOUGH_FREE_MEMORY).
    /// </summary>
    public sealed partial class FakeXapi
    {
        private static readonly Dictionary<string, string[]> Allowed = new Dictionary<string, string[]>
        {
            ["start"] = new[] { "Halted" }, ["start_on"] = new[] { "Halted" },
            ["unpause"] = new[] { "Paused" },
            ["resume"] = new[] { "Suspended" }, ["resume_on"] = new[] { "Suspended" },
            ["pause"] = new[] { "Running" }, ["suspend"] = new[] { "Running" }, ["clean_shutdown"] = new[] { "Running" },
            ["clean_reboot"] = new[] { "Running" }, ["pool_migrate"] = new[] { "Running" },
            ["hard_shutdown"] = new[] { "Paused", "Suspended", "Running" }, ["shutdown"] = new[] { "Paused", "Suspended", "Running" },
            ["hard_reboot"] = new[] { "Paused", "Running" },
            ["clone"] = new[] { "Halted" }, ["provision"] = new[] { "Halted" }, ["destroy"] = new[] { "Halted", "Suspended" },
            ["set_VCPUs_max"] = new[] { "Halted" }, ["set_VCPUs_at_startup"] = new[] { "Halted" },
            ["set_memory_limits"] = new[] { "Halted" }, ["set_memory_static_max"] = new[] { "Halted" },
        };

        private long _domid = 100;

        private (bool Handled, object? Result) Special(string cls, string name, List<object?> a)
        {
            if (cls == "task" && name == "destroy")
            {
                string t = S(a, 0); Row("task", t);
                Table("task").Remove(t); Deleted("task", t);
                return (true, null);
            }
            if (cls == "task" && name == "cancel")
            {
                var t = Row("task", S(a, 0));
                if ((string?)t["status"] == "pending") { t["status"] = "cancelling"; Changed("task", S(a, 0)); }
                return (true, null);
            }
            var disk = DiskSpecial(cls, name, a);
            if (disk.Handled) return disk;
            if (cls == "VDI" && name == "destroy")
            {
                string vdi = S(a, 0); Row("VDI", vdi);
                if (Table("VBD").Values.Any(b => (string?)b["VDI"] == vdi)) throw new XapiError("VDI_IN_USE", vdi, "destroy");
                Table("VDI").Remove(vdi); Deleted("VDI", vdi);
                return (true, null);
            }
            if (cls != "VM" || !Allowed.ContainsKey(name)) return (false, null);

            string vm = S(a, 0);
            var r = Row("VM", vm);
            string power = (string?)r["power_state"] ?? "Halted";
            if (!Allowed[name].Contains(power))
                throw new XapiError("VM_BAD_POWER_STATE", vm, Allowed[name][0].ToLowerInvariant(), power.ToLowerInvariant());
            bool template = r["is_a_template"] is true;
            if (template && name is "start" or "start_on" or "resume" or "resume_on" or "pool_migrate")
                throw new XapiError("VM_IS_TEMPLATE", vm, name);
            long mem = r["memory_static_max"] is long m ? m : 0;
            switch (name)
            {
                case "start":
                    Place(vm, r, ChooseHost(vm, r, mem, null), running: a.Count > 1 && a[1] is true ? "Paused" : "Running");
                    return (true, "");
                case "start_on":
                    Row("host", S(a, 1));
                    Place(vm, r, ChooseHost(vm, r, mem, S(a, 1)), running: a.Count > 2 && a[2] is true ? "Paused" : "Running");
                    return (true, "");
                case "resume":
                    Place(vm, r, ChooseHost(vm, r, mem, null), running: a.Count > 1 && a[1] is true ? "Paused" : "Running");
                    return (true, "");
                case "resume_on":
                    Row("host", S(a, 1));
                    Place(vm, r, ChooseHost(vm, r, mem, S(a, 1)), running: "Running");
                    return (true, "");
                case "unpause": r["power_state"] = "Running"; break;
                case "pause": r["power_state"] = "Paused"; break;
                case "clean_reboot":
                case "hard_reboot": r["power_state"] = "Running"; break;
                case "suspend": Unplace(r, mem); r["power_state"] = "Suspended"; break;
                case "clean_shutdown":
                case "hard_shutdown":
                case "shutdown":
                    if (power != "Suspended") Unplace(r, mem);
                    r["power_state"] = "Halted";
                    r["resident_on"] = "OpaqueRef:NULL";
                    break;
                case "pool_migrate":
                    string dest = S(a, 1);
                    Row("host", dest);
                    if ((string?)r["resident_on"] != dest)
                    {
                        TakeMemory(dest, mem, vm);
                        GiveMemory((string?)r["resident_on"], mem);
                        r["resident_on"] = dest;
                    }
                    break;
                case "clone": return (true, Clone(vm, r, S(a, 1)));
                case "provision": Provision(vm, r); break;
                case "destroy":
                    foreach (var vbd in Table("VBD").Where(kv => (string?)kv.Value["VM"] == vm).Select(kv => kv.Key).ToList()) { Table("VBD").Remove(vbd); Deleted("VBD", vbd); }
                    foreach (var vif in Table("VIF").Where(kv => (string?)kv.Value["VM"] == vm).Select(kv => kv.Key).ToList())
                    {
                        if (Table("network").TryGetValue(Table("VIF")[vif]["network"] as string ?? "", out var net) && net["VIFs"] is List<object?> nl) nl.Remove(vif);
                        Table("VIF").Remove(vif); Deleted("VIF", vif);
                    }
                    if (r["metrics"] is string mr && Table("VM_metrics").Remove(mr)) Deleted("VM_metrics", mr);
                    Table("VM").Remove(vm); Deleted("VM", vm);
                    return (true, null);
                case "set_VCPUs_max":
                    long max = L(a, 1);
                    if (max < 1 || max < (r["VCPUs_at_startup"] as long? ?? 1)) throw new XapiError("VALUE_NOT_SUPPORTED", "VCPUs_max", max.ToString(CultureInfo.InvariantCulture), "VCPUs_at_startup must be less than or equal to VCPUs_max");
                    r["VCPUs_max"] = max; break;
                case "set_VCPUs_at_startup":
                    long at = L(a, 1);
                    if (at < 1 || at > (r["VCPUs_max"] as long? ?? 1)) throw new XapiError("VALUE_NOT_SUPPORTED", "VCPUs_at_startup", at.ToString(CultureInfo.InvariantCulture), "VCPUs_at_startup must be less than or equal to VCPUs_max");
                    r["VCPUs_at_startup"] = at; break;
                case "set_memory_limits":
                    long smin = L(a, 1), smax = L(a, 2), dmin = L(a, 3), dmax = L(a, 4);
                    if (!(smin <= dmin && dmin <= dmax && dmax <= smax)) throw new XapiError("MEMORY_CONSTRAINT_VIOLATION", "Memory limits must satisfy: static_min <= dynamic_min <= dynamic_max <= static_max");
                    r["memory_static_min"] = smin; r["memory_static_max"] = smax; r["memory_dynamic_min"] = dmin; r["memory_dynamic_max"] = dmax; r["memory_target"] = dmax;
                    break;
                case "set_memory_static_max":
                    r["memory_static_max"] = L(a, 1); break;
            }
            Changed("VM", vm);
            return (true, null);
        }

        private Dictionary<string, object?>? HostMetrics(string? host)
        {
            if (host == null || !Table("host").TryGetValue(host, out var h)) return null;
            return h.TryGetValue("metrics", out var m) && m is string mr && Table("host_metrics").TryGetValue(mr, out var hm) ? hm : null;
        }

        private void TakeMemory(string host, long mem, string vm)
        {
            var hm = HostMetrics(host);
            if (hm == null || !(hm["memory_free"] is long free)) return; // old dumps: no host_metrics, no accounting
            if (free < mem) throw new XapiError("HOST_NOT_ENOUGH_FREE_MEMORY", mem.ToString(CultureInfo.InvariantCulture), free.ToString(CultureInfo.InvariantCulture));
            hm["memory_free"] = free - mem;
        }

        private void GiveMemory(string? host, long mem)
        {
            var hm = HostMetrics(host);
            if (hm != null && hm["memory_free"] is long free) hm["memory_free"] = free + mem;
        }

        /// <summary>The given host, else the VM's affinity, else the first host (by name) with room.</summary>
        private string ChooseHost(string vm, Dictionary<string, object?> r, long mem, string? wanted)
        {
            if (wanted != null) return wanted;
            var hosts = Table("host").OrderBy(h => h.Value["name_label"] as string, StringComparer.Ordinal).Select(h => h.Key).ToList();
            if (hosts.Count == 0) throw new XapiError("NO_HOSTS_AVAILABLE");
            if (r["affinity"] is string aff && Table("host").ContainsKey(aff)) hosts.Insert(0, aff);
            foreach (var h in hosts)
            {
                var hm = HostMetrics(h);
                if (hm == null || !(hm["memory_free"] is long free) || free >= mem) return h;
            }
            return hosts[0]; // TakeMemory refuses with HOST_NOT_ENOUGH_FREE_MEMORY
        }

        private void Place(string vm, Dictionary<string, object?> r, string host, string running)
        {
            TakeMemory(host, r["memory_static_max"] as long? ?? 0, vm);
            r["resident_on"] = host;
            r["power_state"] = running;
            r["domid"] = ++_domid;
            if (r["metrics"] is string mr && Table("VM_metrics").TryGetValue(mr, out var m))
            {
                m["VCPUs_number"] = r["VCPUs_at_startup"];
                m["memory_actual"] = r["memory_static_max"];
                m["start_time"] = DateTime.UtcNow.ToString("yyyyMMdd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                Changed("VM_metrics", mr);
            }
            Changed("VM", (string)Table("VM").First(kv => ReferenceEquals(kv.Value, r)).Key);
        }

        private void Unplace(Dictionary<string, object?> r, long mem)
        {
            GiveMemory(r["resident_on"] as string, mem);
            r["resident_on"] = "OpaqueRef:NULL";
            r["domid"] = -1L;
        }

        private string Clone(string vm, Dictionary<string, object?> r, string newName)
        {
            var copy = (Dictionary<string, object?>)Copy(r)!;
            string reference = NewRef();
            copy["uuid"] = Guid.NewGuid().ToString();
            copy["name_label"] = newName;
            copy["is_default_template"] = false;
            copy["power_state"] = "Halted";
            copy["resident_on"] = "OpaqueRef:NULL";
            copy["guest_metrics"] = "OpaqueRef:NULL";
            copy["snapshots"] = new List<object?>();
            copy["VIFs"] = new List<object?>();
            copy["consoles"] = new List<object?>();
            copy["domid"] = -1L;
            string metrics = NewRef();
            var mrow = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var f in _model.Classes["VM_metrics"].Fields) mrow[f.Key] = Datamodel.Default(f.Value);
            mrow["uuid"] = Guid.NewGuid().ToString();
            mrow["install_time"] = DateTime.UtcNow.ToString("yyyyMMdd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            Table("VM_metrics")[metrics] = mrow;
            Added("VM_metrics", metrics);
            copy["metrics"] = metrics;
            var vbds = new List<object?>();
            foreach (var old in (r["VBDs"] as List<object?> ?? new List<object?>()).OfType<string>())
            {
                if (!Table("VBD").TryGetValue(old, out var vbd)) continue;
                var nv = (Dictionary<string, object?>)Copy(vbd)!;
                string nvRef = NewRef();
                nv["uuid"] = Guid.NewGuid().ToString();
                nv["VM"] = reference;
                nv["currently_attached"] = false;
                if ((string?)vbd["type"] == "Disk" && vbd["VDI"] is string vdi && Table("VDI").TryGetValue(vdi, out var vdiRow))
                {
                    var nd = (Dictionary<string, object?>)Copy(vdiRow)!;
                    string ndRef = NewRef();
                    nd["uuid"] = Guid.NewGuid().ToString();
                    nd["VBDs"] = new List<object?> { nvRef };
                    Table("VDI")[ndRef] = nd; Added("VDI", ndRef);
                    nv["VDI"] = ndRef;
                }
                Table("VBD")[nvRef] = nv; Added("VBD", nvRef);
                vbds.Add(nvRef);
            }
            copy["VBDs"] = vbds;
            Table("VM")[reference] = copy;
            Added("VM", reference);
            return reference;
        }

        /// <summary>other_config:disks = &lt;provision&gt;&lt;disk device="0" size="…" sr="" bootable="true" type="system"/&gt;&lt;/provision&gt; → a VDI and VBD per disk.</summary>
        private void Provision(string vm, Dictionary<string, object?> r)
        {
            var other = (Dictionary<string, object?>)r["other_config"]!;
            if (!(other.TryGetValue("disks", out var spec) && spec is string xml)) return;
            string? sr = Table("pool").Values.FirstOrDefault()?["default_SR"] as string;
            var vbds = (List<object?>)r["VBDs"]!;
            foreach (Match d in Regex.Matches(xml, "<disk\\b[^>]*>"))
            {
                string Attr(string n) { var m = Regex.Match(d.Value, n + "=\"([^\"]*)\""); return m.Success ? m.Groups[1].Value : ""; }
                string vdi = NewRef(), vbd = NewRef();
                var vdiRow = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var f in _model.Classes["VDI"].Fields) vdiRow[f.Key] = Datamodel.Default(f.Value);
                vdiRow["uuid"] = Guid.NewGuid().ToString();
                vdiRow["name_label"] = r["name_label"] + " " + Attr("device");
                vdiRow["virtual_size"] = long.TryParse(Attr("size"), out var size) ? size : 0L;
                vdiRow["type"] = Attr("type") == "" ? "system" : Attr("type");
                vdiRow["SR"] = sr ?? "OpaqueRef:NULL";
                vdiRow["VBDs"] = new List<object?> { vbd };
                var vbdRow = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var f in _model.Classes["VBD"].Fields) vbdRow[f.Key] = Datamodel.Default(f.Value);
                vbdRow["uuid"] = Guid.NewGuid().ToString();
                vbdRow["VM"] = vm; vbdRow["VDI"] = vdi; vbdRow["type"] = "Disk"; vbdRow["mode"] = "RW";
                vbdRow["userdevice"] = Attr("device"); vbdRow["bootable"] = Attr("bootable") == "true";
                Table("VDI")[vdi] = vdiRow; Added("VDI", vdi);
                Table("VBD")[vbd] = vbdRow; Added("VBD", vbd);
                vbds.Add(vbd);
            }
            other.Remove("disks");
        }
    }
}
