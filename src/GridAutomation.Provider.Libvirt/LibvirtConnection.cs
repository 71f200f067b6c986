using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
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
