using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
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
    /// <summary>A datacenter of libvirt hosts. All native calls run on pool threads; each call's error is read on its own thread.</summary>
    internal sealed partial class LibvirtConnection : IGridConnection
    {
        private readonly List<LibvirtHost> _hosts;
        private readonly TimeSpan _shutdownTimeout;
        private readonly Action<string> _verbose;
        private int _disposed;

        public LibvirtConnection(GridDatacenter datacenter, List<LibvirtHost> hosts, TimeSpan shutdownTimeout, Action<string> verbose, IReadOnlyList<string>? sharedStorage = null)
        {
            SharedStorage = (sharedStorage ?? Array.Empty<string>()).Where(s => s.Length > 0).Select(s => Path.GetFullPath(s).TrimEnd('/')).ToArray();
            Datacenter = datacenter;
            _hosts = hosts;
            _shutdownTimeout = shutdownTimeout;
            _verbose = verbose;
            var caps = LibvirtProvider.All;
            // Live migration needs libvirt daemons at both ends; the test and embed drivers cannot.
            if (hosts.Count < 2 || hosts.Any(h => h.Kind == HostKind.Test || h.Kind == HostKind.Embed)) caps &= ~GridCapabilities.LiveMove;
            if (hosts.Count < 2) caps &= ~GridCapabilities.Move;
            Capabilities = caps;
            Endpoint = string.Join(", ", hosts.Select(h => h.Uri));
            Moves = new SaveRestoreMove(this);
        }

        public GridDatacenter Datacenter { get; }
        public GridCapabilities Capabilities { get; }
        public string Endpoint { get; }
        /// <summary>libvirt does not retry; transient errors surface as Unavailable for the engine's policy.</summary>
        public bool HandlesOwnRetries => false;
        internal IReadOnlyList<LibvirtHost> Hosts => _hosts;
        internal SaveRestoreMove Moves { get; }
        internal Action<string> Verbose => _verbose;
        internal TimeSpan ShutdownTimeout => _shutdownTimeout;
        /// <summary>Folders every host sees at the same path (datacenter setting SharedStorage): a live move does not copy disks under them.</summary>
        internal IReadOnlyList<string> SharedStorage { get; }

        internal bool IsSharedPath(string path)
        {
            string full = Path.GetFullPath(path);
            return SharedStorage.Any(s => s.Length == 0 || full.StartsWith(s + "/", StringComparison.Ordinal));
        }

        // ------------------------------------------------------------------ helpers

        /// <summary>Runs native work on a pool thread; anything that is not a GridException becomes one (no raw exception escapes).</summary>
        internal static Task<T> Run<T>(Func<T> work, CancellationToken ct, object? target = null)
        {
            return Task.Run(() =>
            {
                try { return work(); }
                catch (JournalFailure jf) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(jf.Original).Throw(); throw; }
                catch (GridException) { throw; }
                catch (OperationCanceledException) { throw; }
                catch (Exception ex) { throw Wrap(ex, target); }
            }, ct);
        }

        internal static Task Run(Action work, CancellationToken ct, object? target = null) => Run(() => { work(); return true; }, ct, target);

        /// <summary>Carries an exception of the engine's scope (journal write) through our error mapping untouched.</summary>
        internal sealed class JournalFailure : Exception
        {
            public JournalFailure(Exception original) : base(original.Message, original) { Original = original; }
            public Exception Original { get; }
        }

        /// <summary>Write-ahead checkpoint; the journal's own exception (an interruption) passes through unmapped.</summary>
        internal static void Checkpoint(IOperationScope scope, string key, string value)
        {
            try { scope.Checkpoint(key, value); }
            catch (Exception ex) { throw new JournalFailure(ex); }
        }

        internal static GridException Wrap(Exception ex, object? target)
        {
            switch (ex)
            {
                case GridException g: return g;
                case UnauthorizedAccessException: return new GridException(GridErrorKind.PermissionDenied, "Access denied: " + ex.Message, "LibvirtFileAccessDenied") { Target = target };
                case FileNotFoundException or DirectoryNotFoundException: return new GridException(GridErrorKind.NotFound, ex.Message, "LibvirtFileNotFound") { Target = target };
                case IOException: return new GridException(GridErrorKind.Conflict, "File operation failed: " + ex.Message, "LibvirtFileError") { Target = target };
                case DllNotFoundException or EntryPointNotFoundException:
                    return new GridException(GridErrorKind.Unavailable, $"The libvirt client library is missing or too old ({ex.GetType().Name}). Install the '{Virt.PackageHint}' package.", "LibvirtNotInstalled") { IsTransient = false, Target = target };
                default: return new GridException(GridErrorKind.Conflict, "libvirt provider error: " + ex.Message, "LibvirtProviderError") { Target = target };
            }
        }

        private void ThrowIfDisposed()
        {
            if (Volatile.Read(ref _disposed) != 0) throw new GridException(GridErrorKind.Unavailable, $"The connection to datacenter '{Datacenter.Name}' is closed.", "DatacenterDisconnected") { IsTransient = false };
        }

        internal LibvirtHost HostByName(string name)
            => _hosts.FirstOrDefault(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase))
               ?? _hosts.FirstOrDefault(h => string.Equals(h.Uri, name, StringComparison.Ordinal))
               ?? throw GridException.NotFound($"Datacenter '{Datacenter.Name}' has no host '{name}'. Hosts: {string.Join(", ", _hosts.Select(h => h.Name))}.", "HostNotFound", name);

        /// <summary>Finds a domain by UUID on every host; prefers the host where it is active (during an interrupted move it may be defined twice).</summary>
        internal (LibvirtHost Host, DomainHandle Dom)? Locate(string uuid)
        {
            (LibvirtHost, DomainHandle)? inactive = null;
            foreach (var h in _hosts)
            {
                var d = Virt.LookupByUuid(h.Conn, uuid);
                if (d == null) continue;
                if (Virt.IsActive(d)) { inactive?.Item2.Dispose(); return (h, d); }
                if (inactive == null) inactive = (h, d); else d.Dispose();
            }
            return inactive;
        }

        private bool IsDefinedAnywhere(string uuid)
        {
            var found = Locate(uuid);
            found?.Dom.Dispose();
            return found != null;
        }

        internal (LibvirtHost Host, DomainHandle Dom) LocateOrThrow(string nativeId)
        {
            if (string.IsNullOrWhiteSpace(nativeId)) throw GridException.InvalidRequest("A workload native id (libvirt UUID) is required.", "InvalidWorkloadId");
            return Locate(nativeId) ?? throw GridException.NotFound($"No libvirt domain with UUID '{nativeId}' in datacenter '{Datacenter.Name}'.", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
        }

        internal string TargetOf(string uuid) => WorkloadId.Format(Datacenter.Name, uuid);

        /// <summary>Runs a change on the libvirt thread with the workload's domain open (closed after) and its workload id.</summary>
        private Task OnDomain(string nativeId, Action<LibvirtHost, DomainHandle, string> work, CancellationToken ct)
        {
            ThrowIfDisposed();
            return Run(() =>
            {
                var (h, d) = LocateOrThrow(nativeId);
                using (d) work(h, d, TargetOf(nativeId));
            }, ct, nativeId);
        }

        /// <summary>Reads one domain into a workload (XML + state; the name/UUID come from the local handle).</summary>
        internal GridWorkload ToWorkload(LibvirtHost host, DomainHandle d)
        {
            string uuid = Virt.Uuid(d);
            var (state, reason) = Virt.State(d);
            bool managedSave = state == StateMap.Shutoff && Virt.HasManagedSave(d);
            var info = DomainXml.Parse(Virt.XmlDesc(d, 0), uuid);
            long? memMB = (info.CurrentMemoryKiB ?? info.MemoryKiB) / 1024;
            string? size = info.Metadata.Size != null && SizeCatalog.Find(info.Metadata.Size) is { } s && s.Cpu == info.Vcpus && s.MemoryMB == memMB
                ? s.Name : SizeCatalog.Match(info.Vcpus, memMB);
            var w = new GridWorkload
            {
                NativeId = uuid,
                Id = WorkloadId.Format(Datacenter.Name, uuid),
                Name = string.IsNullOrEmpty(info.Name) ? Virt.Name(d) : info.Name,
                Datacenter = Datacenter.Name,
                Provider = LibvirtProvider.ProviderName,
                Host = host.Name,
                Cluster = null,
                State = StateMap.Normalize(state, managedSave),
                NativeState = StateMap.NativeName(state),
                ComputeBilled = null, // on-premises: no compute billing
                CpuCount = info.Vcpus,
                MemoryMB = memMB,
                Size = size,
                Image = info.Metadata.Image,
                CreatedTime = info.Metadata.Created,
            };
            foreach (var disk in info.Disks.Where(x => x.Device == "disk" || x.Device == "cdrom"))
            {
                w.Disks.Add(new GridDisk
                {
                    Name = disk.Target ?? disk.SourcePath ?? "disk",
                    NativeId = disk.SourcePath,
                    IsOsDisk = w.Disks.Count == 0 && disk.Device == "disk",
                    DeleteWithWorkload = false, // removal keeps volumes unless -RemoveStorage
                });
            }
            foreach (var kv in info.Metadata.Tags) w.Tags[kv.Key] = kv.Value;
            var p = w.Properties;
            p["Uri"] = host.Uri;
            p["DriverType"] = host.DriverType;
            p["DomainType"] = info.Type;
            p["StateReason"] = state == StateMap.Shutoff ? StateMap.ShutoffReason(reason) : reason.ToString(System.Globalization.CultureInfo.InvariantCulture);
            p["HasManagedSaveImage"] = managedSave;
            p["MaxVcpus"] = info.MaxVcpus;
            p["MemoryKiB"] = info.MemoryKiB;
            p["CurrentMemoryKiB"] = info.CurrentMemoryKiB;
            p["Arch"] = info.Arch;
            p["Machine"] = info.Machine;
            p["Description"] = info.Description;
            p["IdempotencyKey"] = info.Metadata.IdempotencyKey;
            p["DiskPaths"] = info.Disks.Select(x => x.SourcePath).Where(x => x != null).ToArray();
            p["Interfaces"] = info.Interfaces.Select(i => new Dictionary<string, string?>
            {
                ["Mac"] = i.Mac, ["Type"] = i.Type, ["Source"] = i.Source, ["Model"] = i.Model, ["TargetDev"] = i.TargetDev,
            }).ToArray();
            p["MacAddresses"] = info.Interfaces.Select(i => i.Mac).Where(m => m != null).ToArray();
            p["SerialFiles"] = info.SerialFiles.ToArray();
            return w;
        }

        // ------------------------------------------------------------------ inventory

        public Task<IReadOnlyList<GridHost>> ListHostsAsync(CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run<IReadOnlyList<GridHost>>(() =>
            {
                var result = new List<GridHost>();
                foreach (var h in _hosts)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var gh = new GridHost { Datacenter = Datacenter.Name, Name = h.Name, NativeId = h.Uri };
                    try
                    {
                        var ni = Virt.NodeInfo(h.Conn);
                        gh.CpuCores = (int)ni.cpus;
                        gh.MemoryMB = (long)(ni.memory.Value / 1024);
                        int cpu = 0; long memKiB = 0; int running = 0;
                        var doms = Virt.ListAllDomains(h.Conn, 1 /* VIR_CONNECT_LIST_DOMAINS_ACTIVE */);
                        try
                        {
                            foreach (var d in doms)
                            {
                                var di = Virt.Info(d);
                                cpu += di.nrVirtCpu; memKiB += (long)di.memory.Value; running++;
                            }
                        }
                        finally { Virt.DisposeAll(doms); }
                        gh.AllocatedCpu = cpu;
                        gh.AllocatedMemoryMB = memKiB / 1024;
                        gh.State = HostState.Connected;
                        gh.NativeState = "connected";
                        unsafe
                        {
                            gh.Properties["CpuModel"] = System.Runtime.InteropServices.Marshal.PtrToStringUTF8((IntPtr)ni.model);
                        }
                        gh.Properties["CpuMHz"] = (int)ni.mhz;
                        gh.Properties["NumaNodes"] = (int)ni.nodes;
                        gh.Properties["Sockets"] = (int)ni.sockets;
                        gh.Properties["CoresPerSocket"] = (int)ni.cores;
                        gh.Properties["ThreadsPerCore"] = (int)ni.threads;
                        gh.Properties["RunningDomains"] = running;
                    }
                    catch (GridException ex) when (ex.Kind == GridErrorKind.Unavailable)
                    {
                        gh.State = HostState.Down;
                        gh.NativeState = ex.Message;
                    }
                    gh.Properties["Uri"] = h.Uri;
                    gh.Properties["DriverType"] = h.DriverType;
                    gh.Properties["Kind"] = h.Kind.ToString();
                    if (h.EmbedRoot != null) gh.Properties["EmbedRoot"] = h.EmbedRoot;
                    result.Add(gh);
                }
                return result;
            }, cancellationToken);
        }

        public Task<IReadOnlyList<GridSize>> ListSizesAsync(CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Task.FromResult(SizeCatalog.ToSizes(Datacenter.Name));
        }

        public Task<IReadOnlyList<GridImage>> ListImagesAsync(IReadOnlyDictionary<string, string> filter, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run<IReadOnlyList<GridImage>>(() =>
            {
                var result = new List<GridImage>();
                foreach (var h in _hosts)
                {
                    var inUse = DiskPathsInUse(h);
                    foreach (var (name, path, bytes) in Images.List(h))
                    {
                        if (inUse.Contains(path)) continue; // a workload's disk, not an image
                        result.Add(new GridImage
                        {
                            Datacenter = Datacenter.Name, Name = name, NativeId = h.Name + ":" + path,
                            SizeGB = bytes.HasValue ? bytes.Value / (1024.0 * 1024 * 1024) : null,
                            Description = h.FileStorage ? $"file in {h.ImagesDirectory} on {h.Name}" : $"volume in pool '{h.ImagePool}' on {h.Name}",
                            Properties = { ["Host"] = h.Name, ["Path"] = path, ["Pool"] = h.FileStorage ? null : h.ImagePool, ["CapacityBytes"] = bytes },
                        });
                    }
                }
                return result;
            }, cancellationToken);
        }

        /// <summary>Disk paths of every domain defined on the host (their volumes are not offered as images).</summary>
        private static HashSet<string> DiskPathsInUse(LibvirtHost h)
        {
            var set = new HashSet<string>(StringComparer.Ordinal);
            var doms = Virt.ListAllDomains(h.Conn, 0);
            try
            {
                foreach (var d in doms)
                {
                    try
                    {
                        foreach (var disk in DomainXml.Parse(Virt.XmlDesc(d, Virt.XML_INACTIVE), h.Name).Disks)
                            if (disk.SourcePath != null) set.Add(disk.SourcePath);
                    }
                    catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { }
                }
            }
            finally { Virt.DisposeAll(doms); }
            return set;
        }

        public async IAsyncEnumerable<IReadOnlyList<GridWorkload>> ListWorkloadsAsync(WorkloadQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            query ??= new WorkloadQuery();
            int pageSize = query.PageSize > 0 ? query.PageSize : 1000;
            var all = await Run(() => Collect(query, cancellationToken), cancellationToken).ConfigureAwait(false);
            for (int i = 0; i < all.Count; i += pageSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return all.GetRange(i, Math.Min(pageSize, all.Count - i));
            }
        }

        private List<GridWorkload> Collect(WorkloadQuery query, CancellationToken ct)
        {
            var byUuid = new Dictionary<string, GridWorkload>(StringComparer.OrdinalIgnoreCase);
            var order = new List<string>();
            foreach (var h in _hosts)
            {
                ct.ThrowIfCancellationRequested();
                List<DomainHandle> doms;
                if (query.NativeIds is { Count: > 0 })
                    doms = query.NativeIds.Select(id => Virt.LookupByUuid(h.Conn, id)).Where(d => d != null).Select(d => d!).ToList();
                else
                    doms = Virt.ListAllDomains(h.Conn, 0);
                try
                {
                    foreach (var d in doms)
                    {
                        ct.ThrowIfCancellationRequested();
                        // Name patterns are judged on the handle's name (no round trip) to skip reading unwanted domains.
                        if (query.NamePatterns is { Count: > 0 } pats && !GridAutomation.Core.Engine.Wildcard.MatchesAny(Virt.Name(d), pats)) continue;
                        GridWorkload w;
                        try { w = ToWorkload(h, d); }
                        catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { continue; } // vanished while listing
                        if (byUuid.TryGetValue(w.NativeId, out var seen))
                        {
                            // Defined on two hosts (an interrupted move): show the running copy.
                            if (seen.State != WorkloadState.Running && w.State == WorkloadState.Running) byUuid[w.NativeId] = w;
                            continue;
                        }
                        byUuid[w.NativeId] = w;
                        order.Add(w.NativeId);
                    }
                }
                finally { Virt.DisposeAll(doms); }
            }
            return order.Select(u => byUuid[u]).ToList();
        }

        public Task<GridWorkload> GetWorkloadAsync(string nativeId, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() =>
            {
                var (h, d) = LocateOrThrow(nativeId);
                using (d) return ToWorkload(h, d);
            }, cancellationToken, nativeId);
        }

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

        // ------------------------------------------------------------------ power

        internal void WaitForState(DomainHandle d, Func<int, bool> done, TimeSpan timeout, CancellationToken ct, string what, string target)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                var (s, _) = Virt.State(d);
                if (done(s)) return;
                if (DateTime.UtcNow >= deadline)
                    throw GridException.Conflict($"{what} did not finish within {timeout.TotalSeconds:0} s (state {StateMap.NativeName(s)}). Use -TurnOff to power off.", "GuestShutdownTimeout", target);
                ct.WaitHandle.WaitOne(200);
                ct.ThrowIfCancellationRequested();
            }
        }

        public Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                var (s, _) = Virt.State(d);
                switch (s)
                {
                    case StateMap.Running: case StateMap.Blocked: return;
                    case StateMap.Paused: Virt.Resume(d, t); return;
                    case StateMap.PmSuspended: Virt.PMWakeup(d, t); return;
                    case StateMap.Crashed: Virt.Destroy(d, t); Virt.Create(d, t); return;
                    case StateMap.Shutdown:
                        WaitForState(d, x => x == StateMap.Shutoff, _shutdownTimeout, cancellationToken, "The guest shutdown in progress", t);
                        Virt.Create(d, t); return;
                    default:
                        // shut off: virDomainCreate also restores a managed-save image (Suspended → Running).
                        Virt.Create(d, t); return;
                }
            }, cancellationToken);
        }

        public Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (mode == StopMode.Deallocate)
                throw GridException.Unsupported("libvirt hosts have no deallocation: use Stop-GridWorkload without -Deallocate.", "CapabilityNotSupported", nativeId);
            return OnDomain(nativeId, (h, d, t) =>
            {
                var (s, _) = Virt.State(d);
                if (s == StateMap.Shutoff)
                {
                    if (Virt.HasManagedSave(d))
                    {
                        if (mode != StopMode.TurnOff)
                            throw GridException.Conflict("The workload is suspended (memory saved on disk). Start it, or stop it with -TurnOff to discard the saved memory.", "WorkloadSuspended", t);
                        Virt.ManagedSaveRemove(d, t);
                    }
                    return;
                }
                if (mode == StopMode.TurnOff || s == StateMap.Crashed) { Virt.Destroy(d, t); return; }
                if (s == StateMap.Paused || s == StateMap.PmSuspended)
                    throw GridException.Conflict("A paused guest cannot shut down gracefully: start (resume) it first, or use -TurnOff.", "WorkloadPaused", t);
                if (s != StateMap.Shutdown) Virt.Shutdown(d, t);
                WaitForState(d, x => x == StateMap.Shutoff, _shutdownTimeout, cancellationToken, "The guest (ACPI) shutdown", t);
            }, cancellationToken);
        }

        public Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                var (s, _) = Virt.State(d);
                if (s == StateMap.Shutoff) { Virt.Create(d, t); return; }
                if (s != StateMap.Running && s != StateMap.Blocked)
                    throw GridException.Conflict($"The workload is {StateMap.NativeName(s)}; only a running guest can be restarted.", "WorkloadNotRunning", t);
                Virt.Reboot(d, t);
            }, cancellationToken);
        }

        public Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                var (s, _) = Virt.State(d);
                if (s == StateMap.Shutoff)
                {
                    if (Virt.HasManagedSave(d)) return; // already suspended
                    throw GridException.Conflict("The workload is stopped; only a running or paused guest can be suspended.", "WorkloadNotRunning", t);
                }
                Virt.ManagedSave(d, t);
            }, cancellationToken);
        }

        public Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                var info = DomainXml.Parse(Virt.XmlDesc(d, Virt.XML_INACTIVE), nativeId);
                var disks = info.Disks.Where(x => x.Device == "disk" && x.SourcePath != null).Select(x => x.SourcePath!).ToList();
                Checkpoint(scope, "remove.undefine", h.Name + "|" + string.Join("|", disks));
                if (Virt.IsActive(d)) Virt.Destroy(d, t);
                Virt.Undefine(d, t);
                if (removeStorage)
                {
                    foreach (var path in disks)
                    {
                        Checkpoint(scope, "remove.disk", path);
                        Images.Delete(h, path);
                    }
                }
            }, cancellationToken);
        }

        public Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                int? cpu = request.CpuCount; long? mem = request.MemoryMB; string? sizeName = null;
                if (!string.IsNullOrEmpty(request.Size))
                {
                    var s = SizeCatalog.Find(request.Size!) ?? throw GridException.NotFound($"Size '{request.Size}' is not offered.", "SizeNotFound", request.Size);
                    cpu ??= s.Cpu; mem ??= s.MemoryMB;
                    if (cpu == s.Cpu && mem == s.MemoryMB) sizeName = s.Name;
                }
                if (cpu is < 1 || mem is < 16) throw GridException.InvalidRequest("CpuCount must be at least 1 and MemoryMB at least 16.", "InvalidShape", t);
                if (cpu == null && mem == null) throw GridException.InvalidRequest("Give -Size, -CpuCount or -MemoryMB.", "ResizeNothingToDo", t);
                var current = DomainXml.Parse(Virt.XmlDesc(d, Virt.XML_INACTIVE), nativeId);
                sizeName ??= SizeCatalog.Match(cpu ?? current.Vcpus, mem ?? (current.MemoryKiB / 1024));

                bool active = Virt.IsActive(d);
                if (Virt.State(d).State == StateMap.Shutoff && Virt.HasManagedSave(d))
                    throw GridException.Conflict("The workload is suspended; a resize would invalidate its saved memory. Start and stop it first.", "WorkloadSuspended", t);
                if (active && !request.AllowRestart)
                    throw GridException.Conflict("libvirt resizes a stopped guest: stop it first or allow a restart.", "ResizeNeedsRestart", t);
                if (active)
                {
                    Checkpoint(scope, "resize.stop", "graceful");
                    Virt.Shutdown(d, t);
                    WaitForState(d, x => x == StateMap.Shutoff, _shutdownTimeout, cancellationToken, "The guest shutdown before the resize", t);
                }
                string xml = DomainXml.Resize(Virt.XmlDesc(d, Virt.XML_INACTIVE | Virt.XML_SECURE), cpu, mem, sizeName, nativeId);
                Checkpoint(scope, "resize.define", $"{cpu}|{mem}");
                using (Virt.Define(h.Conn, xml)) { }
                if (active)
                {
                    Checkpoint(scope, "resize.start", "");
                    Virt.Create(d, t);
                }
            }, cancellationToken);
        }

        public Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                bool active = Virt.IsActive(d);
                var info = DomainXml.Parse(Virt.XmlDesc(d, Virt.XML_INACTIVE), nativeId);
                var md = info.Metadata;
                foreach (var kv in tags)
                {
                    if (kv.Value == null) md.Tags.Remove(kv.Key); else md.Tags[kv.Key] = kv.Value;
                }
                uint flags = Virt.AFFECT_CONFIG | (active ? Virt.AFFECT_LIVE : 0);
                Virt.SetMetadata(d, md.ToUnqualifiedXml(), DomainXml.MetadataPrefix, DomainXml.MetadataNamespace, flags, t);
            }, cancellationToken);
        }

        // ------------------------------------------------------------------ move / resume

        public Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            if (!Capabilities.HasFlag(GridCapabilities.Move))
                throw GridException.Unsupported("Moving needs at least two hosts in the datacenter.", "CapabilityNotSupported", nativeId);
            return Run(() =>
            {
                var dest = HostByName(destinationHost);
                // A re-run of the same operation (the engine retrying a transient error) first brings the earlier attempt to an end.
                if (scope.Checkpoints.ContainsKey(SaveRestoreMove.DoneKey)) return;
                if (scope.Checkpoints.ContainsKey(SaveRestoreMove.PlanKey) && Moves.Resume(scope.Checkpoints, scope, cancellationToken)) return;
                if (scope.Checkpoints.ContainsKey(LiveMigration.Key) && LiveMigration.Resume(this, scope.Checkpoints, scope, rollback: false)) return;
                var (src, d) = LocateOrThrow(nativeId);
                using (d)
                {
                    if (ReferenceEquals(src, dest)) return;
                    // Live when both ends are daemons and the guest runs (or is paused); a stopped guest has no memory to migrate.
                    if (LiveMigration.CanUse(src, dest) && Virt.IsActive(d))
                    {
                        LiveMigration.Run(this, src, dest, d, nativeId, scope);
                        return;
                    }
                }
                Moves.Move(nativeId, src, dest, scope, cancellationToken);
            }, cancellationToken, nativeId);
        }

        public Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            var checkpoints = new Dictionary<string, string>(operation.Checkpoints, StringComparer.Ordinal);
            foreach (var kv in scope.Checkpoints) checkpoints[kv.Key] = kv.Value;
            if (checkpoints.ContainsKey(SaveRestoreMove.PlanKey))
                return Run(() => Moves.Resume(checkpoints, scope, cancellationToken, operation.RollbackRequested), cancellationToken, operation.Target);
            if (checkpoints.ContainsKey(LiveMigration.Key))
                return Run(() => LiveMigration.Resume(this, checkpoints, scope, operation.RollbackRequested), cancellationToken, operation.Target);
            throw GridException.Unsupported("This libvirt operation is single-step: re-run it (it is idempotent).", "CapabilityNotSupported", operation.Target);
        }

        public Task DisconnectAsync(CancellationToken cancellationToken)
        {
            Dispose();
            return Task.CompletedTask;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            foreach (var h in _hosts) h.Dispose();
        }
    }
}
