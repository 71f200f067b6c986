using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>A datacenter of Hyper-V hosts, each behind its own remoting session. Every remote call runs on a pool thread.</summary>
    internal sealed partial class HyperVConnection : IGridConnection
    {
        internal const string MovePlanKey = "move.plan", MoveDoneKey = "move.done";

        private readonly List<RemoteHost> _hosts;
        private readonly string? _imagePath, _switchName;
        private readonly bool _includeStorage;
        private readonly Action<string> _verbose;
        /// <summary>Where each VM was last seen (VM id → host), so a change asks that host first.</summary>
        private readonly ConcurrentDictionary<string, RemoteHost> _lastSeen = new ConcurrentDictionary<string, RemoteHost>(StringComparer.OrdinalIgnoreCase);
        private int _disposed;

        public HyperVConnection(GridDatacenter datacenter, List<RemoteHost> hosts, string? imagePath, string? switchName, bool includeStorage, Action<string> verbose)
        {
            Datacenter = datacenter;
            _hosts = hosts; _imagePath = imagePath; _switchName = switchName; _includeStorage = includeStorage; _verbose = verbose;
            var caps = HyperVProvider.All;
            if (hosts.Count < 2) caps &= ~(GridCapabilities.Move | GridCapabilities.LiveMove);
            Capabilities = caps;
            _endpoint = string.Join(", ", hosts.Select(h => h.Address));
        }

        private readonly string _endpoint;

        public GridDatacenter Datacenter { get; }
        public GridCapabilities Capabilities { get; }
        public string Endpoint => _cluster != null ? $"cluster {_cluster}: {_endpoint}" : _endpoint;
        /// <summary>Remoting does not retry: a transient transport error surfaces as Unavailable for the engine's policy.</summary>
        public bool HandlesOwnRetries => false;

        private void ThrowIfDisposed()
        {
            if (Volatile.Read(ref _disposed) != 0) throw new GridException(GridErrorKind.Unavailable, $"The connection to datacenter '{Datacenter.Name}' is closed.", "DatacenterDisconnected") { IsTransient = false };
        }

        private static Task<T> Run<T>(Func<T> work, CancellationToken ct)
            => Task.Run(() =>
            {
                try { return work(); }
                catch (GridException) { throw; }
                catch (OperationCanceledException) { throw; }
                catch (JournalFailure jf) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(jf.Original).Throw(); throw; }
                catch (Exception ex) { throw new GridException(GridErrorKind.Conflict, "Hyper-V provider error: " + ex.Message, "HyperVProviderError", ex); }
            }, ct);

        private static Task Run(Action work, CancellationToken ct) => Run(() => { work(); return true; }, ct);

        /// <summary>Carries an exception of the engine's journal through our error mapping untouched.</summary>
        private sealed class JournalFailure : Exception
        {
            public JournalFailure(Exception original) : base(original.Message, original) { Original = original; }
            public Exception Original { get; }
        }

        private static void Checkpoint(IOperationScope scope, string key, string value)
        {
            try { scope.Checkpoint(key, value); }
            catch (Exception ex) { throw new JournalFailure(ex); }
        }

        private static Dictionary<string, object?> Args(params (string, object?)[] pairs)
            => pairs.ToDictionary(p => p.Item1, p => p.Item2, StringComparer.OrdinalIgnoreCase);

        internal RemoteHost HostByName(string name)
            => _hosts.FirstOrDefault(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase))
               ?? _hosts.FirstOrDefault(h => string.Equals(h.Address, name, StringComparison.OrdinalIgnoreCase))
               ?? throw GridException.NotFound($"Datacenter '{Datacenter.Name}' has no host '{name}'. Hosts: {string.Join(", ", _hosts.Select(h => h.Name))}.", "HostNotFound", name);

        private string TargetOf(string id) => WorkloadId.Format(Datacenter.Name, id);

        private static void ValidateId(string nativeId)
        {
            if (string.IsNullOrWhiteSpace(nativeId) || !Guid.TryParse(nativeId, out _))
                throw GridException.InvalidRequest($"'{nativeId}' is not a Hyper-V VM id (a GUID).", "InvalidWorkloadId", nativeId);
        }

        /// <summary>
        /// Runs a per-VM script on the host that has the VM: the host it was last seen on first, then the others.
        /// Returns that host and the script's output. NotFound (WorkloadNotFound) when no host has it.
        /// </summary>
        private (RemoteHost Host, List<Dictionary<string, object?>> Output) OnVm(string nativeId, string script, Dictionary<string, object?> args, CancellationToken ct)
        {
            ValidateId(nativeId);
            args["Id"] = nativeId;
            var order = new List<RemoteHost>();
            if (_lastSeen.TryGetValue(nativeId, out var seen)) order.Add(seen);
            order.AddRange(_hosts.Where(h => !ReferenceEquals(h, seen)));
            foreach (var h in order)
            {
                ct.ThrowIfCancellationRequested();
                try
                {
                    var output = h.Invoke(script, args, ct, TargetOf(nativeId));
                    _lastSeen[nativeId] = h;
                    return (h, output);
                }
                catch (GridException ex) when (ex.ErrorId == "WorkloadNotFound") { _lastSeen.TryRemove(nativeId, out _); }
            }
            throw GridException.NotFound($"No Hyper-V VM with id '{nativeId}' in datacenter '{Datacenter.Name}'.", "WorkloadNotFound", TargetOf(nativeId));
        }

        private GridWorkload Map(Dictionary<string, object?> record, RemoteHost host)
        {
            var w = VmMapper.ToWorkload(record, Datacenter.Name, host.Name, null);
            w.Properties["HostAddress"] = host.Address;
            _lastSeen[w.NativeId] = host;
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
                    var gh = new GridHost { Datacenter = Datacenter.Name, Name = h.Name, NativeId = h.Address };
                    try
                    {
                        var r = h.Invoke(RemoteScripts.HostUsage, null, cancellationToken, h.Address).FirstOrDefault() ?? new Dictionary<string, object?>();
                        gh.CpuCores = VmMapper.Int(r, "LogicalProcessorCount");
                        gh.MemoryMB = VmMapper.Long(r, "MemoryCapacity") / (1024 * 1024);
                        gh.AllocatedCpu = VmMapper.Int(r, "AllocatedCpu");
                        gh.AllocatedMemoryMB = VmMapper.Long(r, "AllocatedMemory") / (1024 * 1024);
                        gh.State = HostState.Connected;
                        gh.NativeState = "Connected";
                        gh.Properties["RunningVMs"] = VmMapper.Int(r, "RunningVMs");
                        gh.Properties["VirtualMachineMigrationEnabled"] = r.TryGetValue("VirtualMachineMigrationEnabled", out var m) ? m : null;
                    }
                    catch (GridException ex) when (ex.Kind == GridErrorKind.Unavailable || ex.Kind == GridErrorKind.Unauthorized)
                    {
                        gh.State = HostState.Down;
                        gh.NativeState = ex.Message;
                    }
                    gh.Properties["Address"] = h.Address;
                    gh.Properties["ComputerName"] = h.ComputerName;
                    gh.Properties["VirtualHardDiskPath"] = h.VirtualHardDiskPath;
                    ApplyClusterState(gh);
                    result.Add(gh);
                }
                result.AddRange(UnreachableNodes());
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
            if (_imagePath == null) return Task.FromResult<IReadOnlyList<GridImage>>(Array.Empty<GridImage>());
            return Run<IReadOnlyList<GridImage>>(() =>
            {
                var result = new List<GridImage>();
                foreach (var h in _hosts)
                {
                    foreach (var r in h.Invoke(RemoteScripts.ListImages, Args(("Path", _imagePath)), cancellationToken, h.Address))
                    {
                        long? bytes = VmMapper.Long(r, "Length");
                        result.Add(new GridImage
                        {
                            Datacenter = Datacenter.Name, Name = VmMapper.Str(r, "Name") ?? "", NativeId = h.Name + ":" + VmMapper.Str(r, "FullName"),
                            SizeGB = bytes / (1024.0 * 1024 * 1024), Description = $"virtual hard disk in {_imagePath} on {h.Name}",
                            Properties = { ["Host"] = h.Name, ["Path"] = VmMapper.Str(r, "FullName"), ["Length"] = bytes },
                        });
                    }
                }
                return result;
            }, cancellationToken);
        }

        /// <summary>ONE Get-VM per host per listing (never one call per VM), all hosts at once; pages are cut client-side.</summary>
        public async IAsyncEnumerable<IReadOnlyList<GridWorkload>> ListWorkloadsAsync(WorkloadQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            query ??= new WorkloadQuery();
            int pageSize = query.PageSize > 0 ? query.PageSize : 1000;
            // Every host is asked at once (each has its own session); pages come out in host order.
            var perHost = _hosts.Select(h => Run(() => h.Invoke(RemoteScripts.ListVms, null, cancellationToken, h.Address).Select(r => Map(r, h)).ToList(), cancellationToken)).ToList();
            foreach (var pending in perHost)
            {
                var list = await pending.ConfigureAwait(false);
                if (query.NativeIds is { Count: > 0 } ids) list = list.Where(w => ids.Contains(w.NativeId, StringComparer.OrdinalIgnoreCase)).ToList();
                if (query.NamePatterns is { Count: > 0 } pats) list = list.Where(w => GridAutomation.Core.Engine.Wildcard.MatchesAny(w.Name, pats)).ToList();
                for (int i = 0; i < list.Count; i += pageSize)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    yield return list.GetRange(i, Math.Min(pageSize, list.Count - i));
                }
            }
        }

        public Task<GridWorkload> GetWorkloadAsync(string nativeId, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() =>
            {
                var (h, output) = OnVm(nativeId, RemoteScripts.GetVm, Args(), cancellationToken);
                return Map(output.Single(), h);
            }, cancellationToken);
        }

        // ------------------------------------------------------------------ create

        public Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            if (request == null) throw new ArgumentNullException(nameof(request));
            if (string.IsNullOrWhiteSpace(request.Name)) throw GridException.InvalidRequest("A workload name is required.", "NameRequired");
            string key = !string.IsNullOrEmpty(request.IdempotencyKey) ? request.IdempotencyKey : scope.IdempotencyKey;
            return Run(() => Create(request, key, scope, cancellationToken), cancellationToken);
        }

        private GridWorkload Create(CreateWorkloadRequest request, string key, IOperationScope scope, CancellationToken ct)
        {
            // Idempotency: the key is kept in the VM's Notes. One listing per host finds an earlier attempt or a name clash.
            var all = new List<(RemoteHost Host, GridWorkload W)>();
            foreach (var h in _hosts)
                foreach (var r in h.Invoke(RemoteScripts.ListVms, null, ct, h.Address)) all.Add((h, Map(r, h)));
            var mine = all.FirstOrDefault(x => string.Equals(x.W.Properties["IdempotencyKey"] as string, key, StringComparison.Ordinal));
            if (mine.W != null)
            {
                if (!string.Equals(mine.W.Name, request.Name, StringComparison.Ordinal))
                    throw GridException.Conflict($"Idempotency key '{key}' already created workload '{mine.W.Name}', not '{request.Name}'.", "IdempotencyKeyReused", mine.W.Id);
                if (request.PowerOn && mine.W.State == WorkloadState.Stopped)
                {
                    OnVm(mine.W.NativeId, RemoteScripts.Start, Args(), ct);
                    return Map(OnVm(mine.W.NativeId, RemoteScripts.GetVm, Args(), ct).Output.Single(), mine.Host);
                }
                return mine.W;
            }
            var clash = all.FirstOrDefault(x => string.Equals(x.W.Name, request.Name, StringComparison.OrdinalIgnoreCase));
            if (clash.W != null)
                throw GridException.Conflict($"A VM named '{request.Name}' already exists on host '{clash.Host.Name}' (id {clash.W.NativeId}).", "WorkloadNameExists", request.Name);

            int cpu; long memMB; string? sizeName;
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
            if (cpu < 1 || memMB < 32) throw GridException.InvalidRequest("CpuCount must be at least 1 and MemoryMB at least 32.", "InvalidShape", request.Name);

            RemoteHost host = !string.IsNullOrEmpty(request.TargetHost) ? HostByName(request.TargetHost!)
                : _hosts.OrderBy(h => all.Where(x => ReferenceEquals(x.Host, h) && x.W.State == WorkloadState.Running).Sum(x => x.W.MemoryMB ?? 0)).First();
            string? imageFile = ImageFileOf(request);
            int generation = request.Options.TryGetValue("Generation", out var g) && int.TryParse(g, out var gi) && (gi == 1 || gi == 2) ? gi : 2;
            string? vhdPath = null;
            if (request.Options.TryGetValue("ImportedDisk", out var imported) && !string.IsNullOrEmpty(imported))
            {
                // a move's create: the VM goes on the host its disk was imported to, of the generation the source's firmware needs
                var (diskHost, diskGeneration, diskPath) = ParseReference(imported);
                host = HostByName(diskHost);
                vhdPath = diskPath; imageFile = null;
                if (!request.Options.ContainsKey("Generation")) generation = diskGeneration;
            }
            string? switchName = request.Options.TryGetValue("SwitchName", out var sw) && !string.IsNullOrEmpty(sw) ? sw
                : request.Options.TryGetValue("Network", out var net) && !string.IsNullOrEmpty(net) ? net : _switchName;
            var notes = new GridNotes { IdempotencyKey = key, Size = sizeName, Image = request.Image, Created = DateTimeOffset.UtcNow };
            foreach (var kv in request.Tags) notes.Tags[kv.Key] = kv.Value;

            Checkpoint(scope, "create.host", host.Name);
            _verbose($"Hyper-V: New-VM '{request.Name}' on {host.Name}");
            var output = host.Invoke(RemoteScripts.Create, Args(("Name", request.Name), ("MemoryBytes", memMB * 1024 * 1024), ("Cpu", cpu),
                ("Notes", notes.ToString()), ("ImageFile", imageFile), ("Generation", generation), ("SwitchName", switchName), ("PowerOn", request.PowerOn), ("VhdPath", vhdPath), ("Cluster", _cluster)), ct, request.Name);
            return Map(output.Single(), host);
        }

        // ------------------------------------------------------------------ power

        public Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() => OnVm(nativeId, RemoteScripts.Start, Args(), cancellationToken), cancellationToken);
        }

        public Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            if (mode == StopMode.Deallocate)
                throw GridException.Unsupported("Hyper-V hosts have no deallocation: use Stop-GridWorkload without -Deallocate.", "CapabilityNotSupported", TargetOf(nativeId));
            return Run(() => OnVm(nativeId, RemoteScripts.Stop, Args(("Mode", mode == StopMode.TurnOff ? "TurnOff" : "ShutDown")), cancellationToken), cancellationToken);
        }

        public Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() => OnVm(nativeId, RemoteScripts.Restart, Args(), cancellationToken), cancellationToken);
        }

        public Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() => OnVm(nativeId, RemoteScripts.Save, Args(), cancellationToken), cancellationToken);
        }

        public Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() =>
            {
                Checkpoint(scope, "remove.vm", nativeId);
                OnVm(nativeId, RemoteScripts.Remove, Args(("RemoveStorage", removeStorage), ("Cluster", _cluster)), cancellationToken);
                _lastSeen.TryRemove(nativeId, out _);
            }, cancellationToken);
        }

        public Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() =>
            {
                int? cpu = request.CpuCount; long? mem = request.MemoryMB;
                if (!string.IsNullOrEmpty(request.Size))
                {
                    var s = SizeCatalog.Find(request.Size!) ?? throw GridException.NotFound($"Size '{request.Size}' is not offered.", "SizeNotFound", request.Size);
                    cpu ??= s.Cpu; mem ??= s.MemoryMB;
                }
                if (cpu == null && mem == null) throw GridException.InvalidRequest("Give -Size, -CpuCount or -MemoryMB.", "ResizeNothingToDo", TargetOf(nativeId));
                if (cpu is < 1 || mem is < 32) throw GridException.InvalidRequest("CpuCount must be at least 1 and MemoryMB at least 32.", "InvalidShape", TargetOf(nativeId));
                var (h, output) = OnVm(nativeId, RemoteScripts.GetVm, Args(), cancellationToken);
                var current = Map(output.Single(), h);
                var notes = GridNotes.Parse(CombinedNotes(current));
                notes.Size = SizeCatalog.Match(cpu ?? current.CpuCount, mem ?? current.MemoryMB);
                Checkpoint(scope, "resize.set", $"{cpu}|{mem}");
                OnVm(nativeId, RemoteScripts.Resize, Args(("Cpu", cpu ?? 0), ("MemoryBytes", (mem ?? 0) * 1024 * 1024), ("Notes", notes.ToString()), ("AllowRestart", request.AllowRestart)), cancellationToken);
            }, cancellationToken);
        }

        /// <summary>The VM's full Notes text as read (user notes + our line).</summary>
        private static string CombinedNotes(GridWorkload w)
        {
            var n = new GridNotes { UserNotes = w.Properties["Notes"] as string ?? "", IdempotencyKey = w.Properties["IdempotencyKey"] as string, Size = w.Size, Image = w.Image, Created = w.CreatedTime };
            foreach (System.Collections.DictionaryEntry kv in w.Tags) n.Tags[(string)kv.Key] = kv.Value?.ToString() ?? "";
            return n.ToString();
        }

        public Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() =>
            {
                var (h, output) = OnVm(nativeId, RemoteScripts.GetVm, Args(), cancellationToken);
                var notes = GridNotes.Parse(CombinedNotes(Map(output.Single(), h)));
                foreach (var kv in tags) { if (kv.Value == null) notes.Tags.Remove(kv.Key); else notes.Tags[kv.Key] = kv.Value; }
                OnVm(nativeId, RemoteScripts.SetNotes, Args(("Notes", notes.ToString())), cancellationToken);
            }, cancellationToken);
        }

        // ------------------------------------------------------------------ move / resume

        public Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            if (!Capabilities.HasFlag(GridCapabilities.Move))
                throw GridException.Unsupported("Moving needs at least two hosts in the datacenter.", "CapabilityNotSupported", TargetOf(nativeId));
            return Run(() => Move(nativeId, destinationHost, scope, cancellationToken), cancellationToken);
        }

        private void Move(string nativeId, string destinationHost, IOperationScope scope, CancellationToken ct)
        {
            var dest = HostByName(destinationHost);
            if (scope.Checkpoints.ContainsKey(MoveDoneKey)) return;
            var (src, output) = OnVm(nativeId, RemoteScripts.GetVm, Args(), ct);
            if (ReferenceEquals(src, dest)) { Checkpoint(scope, MoveDoneKey, dest.Name); return; }
            var w = Map(output.Single(), src);
            string? storagePath = _includeStorage && dest.VirtualHardDiskPath != null ? JoinRemote(dest.VirtualHardDiskPath, w.Name) : null;
            Checkpoint(scope, MovePlanKey, src.Name + "|" + dest.Name);
            if (MovesByCluster(w))
            {
                _verbose($"Hyper-V: Move-ClusterVirtualMachineRole '{w.Name}' (cluster {_cluster}) from {src.Name} to {dest.Name}, live");
                OnVm(nativeId, RemoteScripts.ClusterMove, Args(("DestinationHost", dest.Name), ("Cluster", _cluster)), ct);
            }
            else
            {
                _verbose($"Hyper-V: Compare-VM and Move-VM '{w.Name}' from {src.Name} to {dest.Name}{(_includeStorage ? " with storage" : "")}");
                OnVm(nativeId, RemoteScripts.Move, Args(("DestinationHost", dest.Name), ("IncludeStorage", _includeStorage), ("DestinationStoragePath", storagePath)), ct);
            }
            _lastSeen[nativeId] = dest;
            Checkpoint(scope, MoveDoneKey, dest.Name);
        }

        private static string JoinRemote(string dir, string name)
            => dir.TrimEnd('/', '\\') + (dir.Contains('\\') && !dir.Contains('/') ? "\\" : "/") + name;

        public Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            var checkpoints = new Dictionary<string, string>(operation.Checkpoints, StringComparer.Ordinal);
            foreach (var kv in scope.Checkpoints) checkpoints[kv.Key] = kv.Value;
            if (checkpoints.TryGetValue(MovePlanKey, out var plan) && WorkloadId.TryParse(operation.Target, out _, out var nativeId))
            {
                // Hyper-V's live migration is one atomic step on the host: the VM is on the source or on the destination.
                return Run(() =>
                {
                    var parts = plan.Split('|');
                    var (where, _) = OnVm(nativeId, RemoteScripts.GetVm, Args(), cancellationToken);
                    if (string.Equals(where.Name, parts[1], StringComparison.OrdinalIgnoreCase)) { Checkpoint(scope, MoveDoneKey, where.Name); return true; }
                    if (operation.RollbackRequested) return false; // still on the source: nothing to undo
                    Move(nativeId, parts[1], scope, cancellationToken);
                    return true;
                }, cancellationToken);
            }
            throw GridException.Unsupported("This Hyper-V operation is single-step: re-run it (it is idempotent).", "CapabilityNotSupported", operation.Target);
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
