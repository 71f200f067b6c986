using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Security;
using System.Text;
using System.Xml;
using System.Xml.Linq;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.Libvirt
{
    internal sealed class DomainDisk
    {
        public string Device = "disk";
        public string? SourcePath;
        public string? Target;
        public string? Format;
        public string? Bus;
    }

    internal sealed class DomainInterface
    {
        public string? Mac;
        public string? Type;
        public string? Source;
        public string? Model;
        public string? TargetDev;
    }

    /// <summary>Our namespaced &lt;metadata&gt; element: idempotency key, size, image, creation time, user tags.</summary>
    internal sealed class GridMetadata
    {
        public string? IdempotencyKey;
        public string? Size;
        public string? Image;
        public DateTimeOffset? Created;
        public Dictionary<string, string> Tags = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

        /// <summary>The element as libvirt's virDomainSetMetadata wants it (unqualified: libvirt puts it in our namespace).</summary>
        public string ToUnqualifiedXml() => ToElement(XNamespace.None).ToString(SaveOptions.DisableFormatting);

        public XElement ToElement(XNamespace ns)
        {
            var e = new XElement(ns + DomainXml.MetadataElement);
            if (ns != XNamespace.None) e.Add(new XAttribute(XNamespace.Xmlns + DomainXml.MetadataPrefix, ns.NamespaceName));
            if (IdempotencyKey != null) e.Add(new XElement(ns + "idempotencyKey", IdempotencyKey));
            if (Size != null) e.Add(new XElement(ns + "size", Size));
            if (Image != null) e.Add(new XElement(ns + "image", Image));
            if (Created.HasValue) e.Add(new XElement(ns + "created", Created.Value.ToString("o", CultureInfo.InvariantCulture)));
            var tags = new XElement(ns + "tags");
            foreach (var kv in Tags.OrderBy(k => k.Key, StringComparer.OrdinalIgnoreCase))
                tags.Add(new XElement(ns + "tag", new XAttribute("name", kv.Key), kv.Value));
            e.Add(tags);
            return e;
        }

        public static GridMetadata Parse(XElement? e)
        {
            var m = new GridMetadata();
            if (e == null) return m;
            XNamespace ns = e.Name.Namespace;
            m.IdempotencyKey = e.Element(ns + "idempotencyKey")?.Value;
            m.Size = e.Element(ns + "size")?.Value;
            m.Image = e.Element(ns + "image")?.Value;
            if (DateTimeOffset.TryParse(e.Element(ns + "created")?.Value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var c)) m.Created = c;
            foreach (var t in e.Element(ns + "tags")?.Elements(ns + "tag") ?? Enumerable.Empty<XElement>())
            {
                var name = (string?)t.Attribute("name");
                if (!string.IsNullOrEmpty(name)) m.Tags[name!] = t.Value;
            }
            return m;
        }
    }

    /// <summary>What we read from a domain's XML.</summary>
    internal sealed class DomainInfo
    {
        public string Name = "";
        public string Uuid = "";
        public string? Type;
        public int? Vcpus;
        public int? MaxVcpus;
        public long? MemoryKiB;
        public long? CurrentMemoryKiB;
        public string? Arch;
        public string? Machine;
        public string? Description;
        public List<DomainDisk> Disks = new List<DomainDisk>();
        public List<DomainInterface> Interfaces = new List<DomainInterface>();
        public GridMetadata Metadata = new GridMetadata();
        public List<string> SerialFiles = new List<string>();
    }

    /// <summary>What a create asks for.</summary>
    internal sealed class DomainSpec
    {
        public string Name = "";
        public string Uuid = "";
        /// <summary>libvirt domain type: "qemu" (TCG), "kvm", "test".</summary>
        public string DomainType = "qemu";
        public int Vcpus = 1;
        public long MemoryMiB = 128;
        public string? DiskPath;
        public string DiskFormat = "raw";
        public string DiskBus = "virtio";
        public string? SerialFile;
        public string? Network;
        public string? Machine;
        public GridMetadata Metadata = new GridMetadata();
    }

    internal static class DomainXml
    {
        public const string MetadataNamespace = "https://gridautomation.dev/xmlns/libvirt/1";
        public const string MetadataPrefix = "grid";
        public const string MetadataElement = "workload";
        private static readonly XNamespace Ns = MetadataNamespace;

        /// <summary>Parses a domain XML; a malformed document becomes a GridException (never an XmlException).</summary>
        public static XDocument Load(string xml, string what)
        {
            try { return XDocument.Parse(xml, LoadOptions.None); }
            catch (XmlException ex)
            {
                throw new GridException(GridErrorKind.Conflict, $"libvirt returned an unreadable XML description for {what}: {ex.Message}", "LibvirtBadXml");
            }
        }

        public static DomainInfo Parse(string xml, string what)
        {
            var root = Load(xml, what).Root!;
            var d = new DomainInfo
            {
                Name = root.Element("name")?.Value ?? "",
                Uuid = root.Element("uuid")?.Value ?? "",
                Type = (string?)root.Attribute("type"),
                Description = root.Element("description")?.Value,
            };
            var vcpu = root.Element("vcpu");
            if (vcpu != null && int.TryParse(vcpu.Value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int max))
            {
                d.MaxVcpus = max;
                d.Vcpus = int.TryParse((string?)vcpu.Attribute("current"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int cur) ? cur : max;
            }
            d.MemoryKiB = ParseKiB(root.Element("memory"));
            d.CurrentMemoryKiB = ParseKiB(root.Element("currentMemory")) ?? d.MemoryKiB;
            var osType = root.Element("os")?.Element("type");
            d.Arch = (string?)osType?.Attribute("arch");
            d.Machine = (string?)osType?.Attribute("machine");
            var devices = root.Element("devices");
            if (devices != null)
            {
                foreach (var disk in devices.Elements("disk"))
                {
                    var src = disk.Element("source");
                    d.Disks.Add(new DomainDisk
                    {
                        Device = (string?)disk.Attribute("device") ?? "disk",
                        SourcePath = (string?)src?.Attribute("file") ?? (string?)src?.Attribute("dev")
                                     ?? (src?.Attribute("volume") != null ? (string?)src.Attribute("pool") + "/" + (string?)src.Attribute("volume") : null),
                        Target = (string?)disk.Element("target")?.Attribute("dev"),
                        Bus = (string?)disk.Element("target")?.Attribute("bus"),
                        Format = (string?)disk.Element("driver")?.Attribute("type"),
                    });
                }
                foreach (var nic in devices.Elements("interface"))
                {
                    var src = nic.Element("source");
                    d.Interfaces.Add(new DomainInterface
                    {
                        Type = (string?)nic.Attribute("type"),
                        Mac = (string?)nic.Element("mac")?.Attribute("address"),
                        Source = (string?)src?.Attribute("network") ?? (string?)src?.Attribute("bridge") ?? (string?)src?.Attribute("dev"),
                        Model = (string?)nic.Element("model")?.Attribute("type"),
                        TargetDev = (string?)nic.Element("target")?.Attribute("dev"),
                    });
                }
                foreach (var serial in devices.Elements("serial"))
                {
                    if ((string?)serial.Attribute("type") == "file" && serial.Element("source")?.Attribute("path") is XAttribute p) d.SerialFiles.Add(p.Value);
                }
            }
            d.Metadata = GridMetadata.Parse(root.Element("metadata")?.Element(Ns + MetadataElement));
            return d;
        }

        private static long? ParseKiB(XElement? e)
        {
            if (e == null || !long.TryParse(e.Value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)) return null;
            string unit = ((string?)e.Attribute("unit") ?? "KiB").ToLowerInvariant();
            return unit switch
            {
                "b" or "bytes" => v / 1024,
                "k" or "kib" => v,
                "kb" => v * 1000 / 1024,
                "m" or "mib" => v * 1024,
                "mb" => v * 1000 * 1000 / 1024,
                "g" or "gib" => v * 1024 * 1024,
                "gb" => v * 1000L * 1000 * 1000 / 1024,
                "t" or "tib" => v * 1024L * 1024 * 1024,
                _ => v,
            };
        }

        /// <summary>Generates a domain definition from a size/CPU/memory shape and an optional disk.</summary>
        public static string Build(DomainSpec s)
        {
            var devices = new XElement("devices");
            if (s.DiskPath != null)
            {
                devices.Add(new XElement("disk", new XAttribute("type", "file"), new XAttribute("device", "disk"),
                    new XElement("driver", new XAttribute("name", "qemu"), new XAttribute("type", s.DiskFormat)),
                    new XElement("source", new XAttribute("file", s.DiskPath)),
                    new XElement("target", new XAttribute("dev", s.DiskBus == "virtio" ? "vda" : s.DiskBus == "ide" ? "hda" : "sda"), new XAttribute("bus", s.DiskBus))));
            }
            if (s.Network != null)
            {
                devices.Add(new XElement("interface", new XAttribute("type", "network"),
                    new XElement("source", new XAttribute("network", s.Network)),
                    new XElement("model", new XAttribute("type", "virtio"))));
            }
            if (s.SerialFile != null)
            {
                devices.Add(new XElement("serial", new XAttribute("type", "file"),
                    new XElement("source", new XAttribute("path", s.SerialFile), new XAttribute("append", "on")),
                    new XElement("target", new XAttribute("port", "0"))));
            }
            if (s.DomainType != "test") devices.Add(new XElement("memballoon", new XAttribute("model", "none")));

            var os = new XElement("os", new XElement("type", new XAttribute("arch", "x86_64"), "hvm"), new XElement("boot", new XAttribute("dev", "hd")));
            if (s.Machine != null) os.Element("type")!.Add(new XAttribute("machine", s.Machine));

            var doc = new XElement("domain", new XAttribute("type", s.DomainType),
                new XElement("name", s.Name),
                new XElement("uuid", s.Uuid),
                new XElement("metadata", s.Metadata.ToElement(Ns)),
                new XElement("memory", new XAttribute("unit", "MiB"), s.MemoryMiB.ToString(CultureInfo.InvariantCulture)),
                new XElement("currentMemory", new XAttribute("unit", "MiB"), s.MemoryMiB.ToString(CultureInfo.InvariantCulture)),
                new XElement("vcpu", new XAttribute("placement", "static"), s.Vcpus.ToString(CultureInfo.InvariantCulture)),
                os,
                new XElement("on_poweroff", "destroy"),
                new XElement("on_reboot", "restart"),
                new XElement("on_crash", "destroy"),
                devices);
            return doc.ToString(SaveOptions.DisableFormatting);
        }

        /// <summary>Changes vCPUs/memory (and the size recorded in our metadata) of an inactive definition.</summary>
        public static string Resize(string inactiveXml, int? vcpus, long? memoryMiB, string? size, string what)
        {
            var doc = Load(inactiveXml, what);
            var root = doc.Root!;
            if (vcpus.HasValue)
            {
                var v = root.Element("vcpu") ?? new XElement("vcpu");
                if (v.Parent == null) root.Add(v);
                v.SetAttributeValue("current", null);
                v.Value = vcpus.Value.ToString(CultureInfo.InvariantCulture);
                // Topology, if any, must match the new count: drop it rather than define an invalid one.
                root.Element("cpu")?.Element("topology")?.Remove();
                root.Element("vcpus")?.Remove();
            }
            if (memoryMiB.HasValue)
            {
                foreach (var name in new[] { "memory", "currentMemory" })
                {
                    var m = root.Element(name);
                    if (m == null) { m = new XElement(name); root.Add(m); }
                    m.SetAttributeValue("unit", "MiB");
                    m.Value = memoryMiB.Value.ToString(CultureInfo.InvariantCulture);
                }
                root.Element("maxMemory")?.Remove();
            }
            var meta = GetOrAddMetadata(root);
            var md = GridMetadata.Parse(meta);
            md.Size = size;
            meta.ReplaceWith(md.ToElement(Ns));
            return doc.Root!.ToString(SaveOptions.DisableFormatting);
        }

        /// <summary>Rewrites file paths (disks, serial logs) for the destination host of a move.</summary>
        public static string RewritePaths(string xml, IReadOnlyDictionary<string, string> map, string what)
        {
            var doc = Load(xml, what);
            foreach (var a in doc.Descendants("source").Attributes().Where(a => a.Name == "file" || a.Name == "path"))
                if (map.TryGetValue(a.Value, out var to)) a.Value = to;
            return doc.Root!.ToString(SaveOptions.DisableFormatting);
        }

        private static XElement GetOrAddMetadata(XElement root)
        {
            var metadata = root.Element("metadata");
            if (metadata == null) { metadata = new XElement("metadata"); root.Element("uuid")?.AddAfterSelf(metadata); if (metadata.Parent == null) root.Add(metadata); }
            var mine = metadata.Element(Ns + MetadataElement);
            if (mine == null) { mine = new XElement(Ns + MetadataElement); metadata.Add(mine); }
            return mine;
        }

        public static string VolumeXml(string name, ulong capacityBytes, string? format)
        {
            var vol = new XElement("volume",
                new XElement("name", name),
                new XElement("capacity", new XAttribute("unit", "bytes"), capacityBytes.ToString(CultureInfo.InvariantCulture)));
            if (format != null) vol.Add(new XElement("target", new XElement("format", new XAttribute("type", format))));
            return vol.ToString(SaveOptions.DisableFormatting);
        }

        public static string? PoolTargetPath(string poolXml) => Load(poolXml, "storage pool").Root?.Element("target")?.Element("path")?.Value;

        public static string? VolumeFormat(string? path)
        {
            if (path == null) return null;
            if (path.EndsWith(".qcow2", StringComparison.OrdinalIgnoreCase)) return "qcow2";
            return "raw";
        }
    }
}
