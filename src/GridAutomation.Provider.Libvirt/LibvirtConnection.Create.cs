using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>New-GridWorkload: the domain defined from an image or an imported volume, on the host the request or the capacity chooses.</summary>
    internal sealed partial class LibvirtConnection
    {
        // ------------------------------------------------------------------ create

        /// <summary>A UUID derived from datacenter + idempotency key, so a retried create finds (or makes) the same domain.</summary>
        internal static string UuidFromKey(string datacenter, string key)
        {
            byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes("gridautomation/libvirt\n" + datacenter.ToLowerInvariant() + "\n" + key));
            var b = new byte[16];
            Array.Copy(hash, b, 16);
            b[6] = (byte)((b[6] & 0x0F) | 0x80); // version 8 (name-based, custom hash)
            b[8] = (byte)((b[8] & 0x3F) | 0x80); // RFC 4122 variant
            var hex = Convert.ToHexString(b).ToLowerInvariant();
            return $"{hex.Substring(0, 8)}-{hex.Substring(8, 4)}-{hex.Substring(12, 4)}-{hex.Substring(16, 4)}-{hex.Substring(20, 12)}";
        }

        public Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            if (request == null) throw new ArgumentNullException(nameof(request));
            if (string.IsNullOrWhiteSpace(request.Name)) throw GridException.InvalidRequest("A workload name is required.", "NameRequired");
            string key = !string.IsNullOrEmpty(request.IdempotencyKey) ? request.IdempotencyKey : scope.IdempotencyKey;
            return Run(() => Create(request, key, scope, cancellationToken), cancellationToken, request.Name);
        }

        /// <summary>CPU and memory of a create: a size of the catalog (SizeNotFound) or the default, overridden by -CpuCount/-MemoryMB.</summary>
        private static (int Cpu, long MemoryMB, string? Size) CreateShape(CreateWorkloadRequest request)
        {
            int cpu; long memMB; string? sizeName = null;
            if (!string.IsNullOrEmpty(request.Size))
            {
                var s = SizeCatalog.Find(request.Size!) ?? throw GridException.NotFound(
                    $"Size '{request.Size}' is not offered. Sizes: {string.Join(", ", SizeCatalog.Shapes.Select(x => x.Name))}.", "SizeNotFound", request.Size);
                cpu = request.CpuCount ?? s.Cpu; memMB = request.MemoryMB ?? s.MemoryMB;
                sizeName = cpu == s.Cpu && memMB == s.MemoryMB ? s.Name : null;
            }
            else
            {
                var d = SizeCatalog.Find(SizeCatalog.Default)!.Value;
                cpu = request.CpuCount ?? d.Cpu; memMB = request.MemoryMB ?? d.MemoryMB;
                sizeName = SizeCatalog.Match(cpu, memMB);
            }
            if (cpu < 1 || memMB < 16) throw GridException.InvalidRequest("CpuCount must be at least 1 and MemoryMB at least 16.", "InvalidShape", request.Name);
            return (cpu, memMB, sizeName);
        }

        /// <summary>
        /// The host of a create and its image: a move's imported disk decides the host (DestinationHostMismatch if another
        /// is named); else the named host (HostNotFound), or the host with the image and the most free memory (ImageNotFound).
        /// </summary>
        private (LibvirtHost Host, Images.Source? Image, (LibvirtHost Host, string Path, string Format)? Imported) CreatePlacement(CreateWorkloadRequest request)
        {
            LibvirtHost host;
            Images.Source? image = null;
            (LibvirtHost Host, string Path, string Format)? imported = null;
            if (request.Options.TryGetValue("ImportedDisk", out var importedRef) && !string.IsNullOrEmpty(importedRef))
            {
                // a move's imported disk (LibvirtTransfer): the domain is defined on the host that holds it
                imported = ImportedDisk(importedRef);
                host = imported.Value.Host;
                if (!string.IsNullOrEmpty(request.TargetHost) && HostByName(request.TargetHost!) != host)
                    throw GridException.InvalidRequest($"The imported disk is on host '{host.Name}', not '{request.TargetHost}'.", "DestinationHostMismatch", request.Name);
            }
            else if (!string.IsNullOrEmpty(request.TargetHost))
            {
                host = HostByName(request.TargetHost!);
                if (!string.IsNullOrEmpty(request.Image))
                    image = Images.Find(host, request.Image!) ?? throw GridException.NotFound($"Image '{request.Image}' is not on host '{host.Name}'.", "ImageNotFound", request.Image);
            }
            else if (!string.IsNullOrEmpty(request.Image))
            {
                var candidates = _hosts.Select(h => (Host: h, Image: Images.Find(h, request.Image!))).Where(x => x.Image != null).ToList();
                if (candidates.Count == 0) throw GridException.NotFound($"Image '{request.Image}' was not found on any host of '{Datacenter.Name}'.", "ImageNotFound", request.Image);
                var best = candidates.OrderByDescending(c => FreeMemoryKiB(c.Host)).First();
                host = best.Host; image = best.Image;
            }
            else host = _hosts.OrderByDescending(FreeMemoryKiB).First();
            return (host, image, imported);
        }

        private GridWorkload Create(CreateWorkloadRequest request, string key, IOperationScope scope, CancellationToken ct)
        {
            string uuid = UuidFromKey(Datacenter.Name, key);
            // Idempotency: the key decides the UUID, so look it up first on every host.
            var existing = Locate(uuid);
            if (existing is { } ex)
            {
                using (ex.Dom)
                {
                    var w = ToWorkload(ex.Host, ex.Dom);
                    if (!string.Equals(w.Name, request.Name, StringComparison.Ordinal))
                        throw GridException.Conflict($"Idempotency key '{key}' already created workload '{w.Name}', not '{request.Name}'.", "IdempotencyKeyReused", w.Id);
                    if (request.PowerOn && w.State == WorkloadState.Stopped && scope.Checkpoints.ContainsKey("create.start"))
                    {
                        Virt.Create(ex.Dom, w.Id); // an interrupted create that had not started it yet
                        return ToWorkload(ex.Host, ex.Dom);
                    }
                    return w;
                }
            }
            var (cpu, memMB, sizeName) = CreateShape(request);
            var (host, image, imported) = CreatePlacement(request);
            // libvirt refuses a name twice on one daemon only; a caller that allows duplicates (a move between
            // datacenters, whose source may share a daemon with a multi-host destination) is refused by its own host only
            foreach (var h in request.AllowDuplicateName ? new[] { host } : _hosts.ToArray())
            {
                using var clash = Virt.LookupByName(h.Conn, request.Name);
                if (clash != null)
                    throw GridException.Conflict($"A domain named '{request.Name}' already exists on host '{h.Name}' (UUID {Virt.Uuid(clash)}).", "WorkloadNameExists", request.Name);
            }

            var md = new GridMetadata { IdempotencyKey = key, Size = sizeName, Image = request.Image, Created = DateTimeOffset.UtcNow };
            foreach (var kv in request.Tags) md.Tags[kv.Key] = kv.Value;

            var spec = new DomainSpec
            {
                Name = request.Name, Uuid = uuid, DomainType = host.DomainType, Vcpus = cpu, MemoryMiB = memMB, Metadata = md,
                DiskBus = request.Options.TryGetValue("DiskBus", out var bus) && !string.IsNullOrEmpty(bus) ? bus : "virtio",
                Network = request.Options.TryGetValue("Network", out var net) && !string.IsNullOrEmpty(net) ? net : null,
                Machine = request.Options.TryGetValue("Machine", out var mach) && !string.IsNullOrEmpty(mach) ? mach : null,
            };
            if (request.Options.TryGetValue("SerialLog", out var serial) && !string.IsNullOrEmpty(serial))
                spec.SerialFile = serial == "auto" ? Path.Combine(host.LogsDirectory, request.Name + ".serial.log") : serial;
            else if (host.FileStorage)
                spec.SerialFile = Path.Combine(host.LogsDirectory, request.Name + ".serial.log");
            if (spec.SerialFile != null && host.IsLocal) Directory.CreateDirectory(Path.GetDirectoryName(spec.SerialFile)!);

            string? createdDisk = null;
            if (imported != null)
            {
                // a move's own import is taken over; any other (a recovery point) is copied into a volume of the workload's own
                if (request.Options.TryGetValue(ImportedDiskOptions.TakeOver, out var take) && string.Equals(take, "true", StringComparison.OrdinalIgnoreCase))
                    spec.DiskPath = imported.Value.Path;
                else
                    spec.DiskPath = createdDisk = CopyImported(host, imported.Value.Path,
                        request.Name + "-" + uuid.Substring(0, 8) + "-disk0" + (imported.Value.Format == "qcow2" ? ".qcow2" : ".img"), ct, request.Name);
                spec.DiskFormat = imported.Value.Format;
            }
            else if (image != null)
            {
                string diskName = request.Name + "-disk0" + image.Extension;
                string planned = Images.PlannedDiskPath(host, diskName);
                // A retried create whose earlier run already cloned this very disk reuses it.
                bool sameDiskBefore = scope.Checkpoints.TryGetValue("create.disk", out var prev) && prev == host.Name + "|" + planned;
                Checkpoint(scope, "create.disk", host.Name + "|" + planned);
                createdDisk = Images.Clone(host, image, diskName, reuseExisting: sameDiskBefore);
                spec.DiskPath = createdDisk;
                spec.DiskFormat = image.Format;
            }
            try
            {
                Checkpoint(scope, "create.define", host.Name + "|" + uuid);
                string xml = DomainXml.Build(spec);
                _verbose($"libvirt: defining '{request.Name}' ({uuid}) on {host.Name}");
                using var dom = Virt.Define(host.Conn, xml);
                if (request.PowerOn)
                {
                    Checkpoint(scope, "create.start", uuid);
                    Virt.Create(dom, TargetOf(uuid));
                }
                return ToWorkload(host, dom);
            }
            catch (GridException) when (createdDisk != null && !IsDefinedAnywhere(uuid))
            {
                // Nothing references the clone: do not leak it.
                try { Images.Delete(host, createdDisk); } catch (GridException) { }
                throw;
            }
        }

        private static long FreeMemoryKiB(LibvirtHost h)
        {
            try
            {
                var ni = Virt.NodeInfo(h.Conn);
                long used = 0;
                var doms = Virt.ListAllDomains(h.Conn, 1);
                try { foreach (var d in doms) used += (long)Virt.Info(d).memory.Value; }
                finally { Virt.DisposeAll(doms); }
                return (long)ni.memory.Value - used;
            }
            catch (GridException) { return long.MinValue; }
        }
    }
}
