using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.VSphere.Vim25;
using GridAutomation.Core.State;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>A live session with one vSphere datacenter.</summary>
    public sealed partial class VSphereConnection : IGridConnection
    {
        private readonly VimClient _vim;
        private readonly Action<string> _verbose;
        private readonly IRetryPolicy? _retry;
        private VapiTagClient? _tags;
        private MoRef _dc, _vmFolder;
        private string _dcName = "";
        private MoRef _vmView; private int _vmViewGen = -1;
        private MoRef _hostView; private int _hostViewGen = -1;
        private readonly SemaphoreSlim _viewGate = new SemaphoreSlim(1, 1);
        private Dictionary<MoRef, HostInfo>? _hostCache; private DateTime _hostCacheAt;
        private bool _disposed;

        internal VSphereConnection(GridDatacenter datacenter, Uri sdkUrl, TlsSettings tls, Action<string>? verbose, IRetryPolicy? retry = null)
        {
            Datacenter = datacenter;
            _verbose = verbose ?? (_ => { });
            _retry = retry;
            _vim = new VimClient(sdkUrl, tls) { Verbose = _verbose };
            Endpoint = sdkUrl.ToString();
        }

        public GridDatacenter Datacenter { get; }
        public GridCapabilities Capabilities { get; private set; } = VSphereProvider.All;
        public string Endpoint { get; }
        public bool HandlesOwnRetries => false;
        /// <summary>The vSphere datacenter name this connection maps to.</summary>
        public string VSphereDatacenter => _dcName;
        /// <summary>HTTP round trips made so far (SOAP + tagging REST).</summary>
        public long RoundTrips => _vim.RoundTrips + (_tags?.RoundTrips ?? 0);
        internal VimClient Vim => _vim;
        internal bool TagsAvailable => _tags != null;

        // ---- connect ------------------------------------------------------------------------------------------

        internal async Task InitializeAsync(NetworkCredential credential, string? datacenterName, CancellationToken ct)
        {
            await _vim.ConnectAsync(credential, ct).ConfigureAwait(false);
            var view = await _vim.CreateContainerViewAsync(_vim.Content.RootFolder, new[] { "Datacenter" }, ct).ConfigureAwait(false);
            List<ObjectContent> dcs;
            try { dcs = await _vim.RetrieveAllAsync(new FilterSpec { Root = view, ViaView = true }.Add("Datacenter", "name", "vmFolder"), ct).ConfigureAwait(false); }
            finally { try { await _vim.DestroyViewAsync(view, ct).ConfigureAwait(false); } catch (GridException) { } }
            if (dcs.Count == 0) throw GridException.NotFound($"{Endpoint} has no datacenter.", "DatacenterNotFound", Datacenter.Name);
            ObjectContent? chosen = string.IsNullOrEmpty(datacenterName)
                ? dcs[0]
                : dcs.FirstOrDefault(d => string.Equals(d.Text("name"), datacenterName, StringComparison.OrdinalIgnoreCase));
            if (chosen == null)
                throw GridException.NotFound($"vSphere datacenter '{datacenterName}' not found on {Endpoint}. Datacenters there: {string.Join(", ", dcs.Select(d => d.Text("name")))}.", "DatacenterNotFound", datacenterName);
            _dc = chosen.Obj;
            _dcName = chosen.Text("name") ?? _dc.Value;
            _vmFolder = chosen.Ref("vmFolder") ?? throw VimClient.Malformed("the datacenter has no vmFolder.", null);

            var caps = VSphereProvider.All;
            if (!_vim.Content.IsVCenter)
            {
                // A standalone ESXi host: no cloning, no vMotion, no tagging service.
                caps &= ~(GridCapabilities.Create | GridCapabilities.Move | GridCapabilities.LiveMove | GridCapabilities.Tags);
                _verbose($"{Endpoint} is {_vim.Content.FullName} (not a vCenter): create, move and tags are not available.");
            }
            else
            {
                var tags = new VapiTagClient(_vim.SdkUrl, _vim.Tls, credential);
                try { await tags.LoginAsync(ct).ConfigureAwait(false); _tags = tags; }
                catch (GridException ex) when (ex.Kind != GridErrorKind.Cancelled)
                {
                    tags.Dispose();
                    caps &= ~GridCapabilities.Tags;
                    _verbose($"vSphere tagging (vAPI) is not available on {Endpoint}: {ex.Message}. Workloads are listed without tags.");
                }
            }
            Capabilities = caps;
            Datacenter.Capabilities = caps;
            _verbose($"Connected to {_vim.Content.FullName} at {Endpoint}, datacenter '{_dcName}' ({_dc.Value}), API {_vim.Content.ApiVersion}.");
        }

        // ---- session helpers ----------------------------------------------------------------------------------

        /// <summary>Runs a call; when the session expired (NotAuthenticated) logs in again once and runs it again (views are re-created).</summary>
        private async Task<T> WithSessionAsync<T>(Func<Task<T>> op, CancellationToken ct)
        {
            int gen = _vim.SessionGeneration;
            try { return await op().ConfigureAwait(false); }
            catch (GridException ex) when (ex.NativeCode == "NotAuthenticated")
            {
                await _vim.ReloginAsync(gen, ct).ConfigureAwait(false);
                return await op().ConfigureAwait(false);
            }
            catch (GridException ex) when (ex.NativeCode == "ManagedObjectNotFound" && IsOurView(ex.Target as string))
            {
                // Our container view is gone (its session ended: views are session-scoped). Re-create it; doing so
                // meets NotAuthenticated (and logs in again) when the session itself expired.
                _verbose("vSphere container view gone (session ended?): re-creating it.");
                _vmViewGen = -1; _hostViewGen = -1;
                return await op().ConfigureAwait(false);
            }
        }

        private bool IsOurView(string? moref)
            => moref != null && ((_vmViewGen != -1 && moref == _vmView.Value) || (_hostViewGen != -1 && moref == _hostView.Value));

        private async Task<MoRef> VmViewAsync(CancellationToken ct)
        {
            await _viewGate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (_vmViewGen != _vim.SessionGeneration)
                {
                    _vmView = await _vim.CreateContainerViewAsync(_dc, new[] { "VirtualMachine" }, ct).ConfigureAwait(false);
                    _vmViewGen = _vim.SessionGeneration;
                }
                return _vmView;
            }
            finally { _viewGate.Release(); }
        }

        private async Task<MoRef> HostViewAsync(CancellationToken ct)
        {
            await _viewGate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (_hostViewGen != _vim.SessionGeneration)
                {
                    _hostView = await _vim.CreateContainerViewAsync(_dc, new[] { "HostSystem", "ComputeResource" }, ct).ConfigureAwait(false);
                    _hostViewGen = _vim.SessionGeneration;
                }
                return _hostView;
            }
            finally { _viewGate.Release(); }
        }

        private static GridException Cancelled(OperationCanceledException oce)
            => new GridException(GridErrorKind.Cancelled, "The vSphere operation was cancelled.", "OperationCancelled", oce);

        // ---- hosts --------------------------------------------------------------------------------------------

        private async Task<Dictionary<MoRef, HostInfo>> LoadHostsAsync(bool allocation, CancellationToken ct)
        {
            var objects = await WithSessionAsync(async () =>
            {
                var view = await HostViewAsync(ct).ConfigureAwait(false);
                var spec = new FilterSpec { Root = view, ViaView = true }
                    .Add("HostSystem", "name", "parent", "summary.hardware.numCpuCores", "summary.hardware.memorySize", "summary.hardware.cpuModel",
                         "summary.hardware.cpuMhz", "runtime.connectionState", "runtime.inMaintenanceMode", "runtime.powerState",
                         "summary.quickStats.overallCpuUsage", "summary.quickStats.overallMemoryUsage")
                    .Add("ComputeResource", "name", "resourcePool")
                    .Add("ClusterComputeResource", "name", "resourcePool");
                return await _vim.RetrieveAllAsync(spec, ct).ConfigureAwait(false);
            }, ct).ConfigureAwait(false);

            var computes = objects.Where(o => o.Obj.Type != "HostSystem").ToDictionary(o => o.Obj);
            var hosts = new Dictionary<MoRef, HostInfo>();
            foreach (var o in objects.Where(o => o.Obj.Type == "HostSystem"))
            {
                var parent = o.Ref("parent") ?? default;
                computes.TryGetValue(parent, out var cr);
                string? cluster = parent.Type == "ClusterComputeResource" ? cr?.Text("name") : null;
                string conn = o.Text("runtime.connectionState") ?? "";
                bool maint = o.Bool("runtime.inMaintenanceMode") ?? false;
                long? memBytes = o.Long("summary.hardware.memorySize");
                var g = new GridHost
                {
                    Datacenter = Datacenter.Name,
                    Name = o.Text("name") ?? o.Obj.Value,
                    NativeId = o.Obj.Value,
                    Cluster = cluster,
                    NativeState = conn,
                    State = conn != "connected" ? (conn.Length == 0 ? HostState.Unknown : HostState.Down) : maint ? HostState.Maintenance : HostState.Connected,
                    CpuCores = o.Int("summary.hardware.numCpuCores"),
                    MemoryMB = memBytes.HasValue ? memBytes.Value / (1024 * 1024) : (long?)null,
                };
                g.Properties["MoRef"] = o.Obj.Value;
                g.Properties["ComputeResource"] = cr?.Text("name");
                g.Properties["ConnectionState"] = conn;
                g.Properties["InMaintenanceMode"] = maint;
                g.Properties["PowerState"] = o.Text("runtime.powerState");
                g.Properties["CpuModel"] = o.Text("summary.hardware.cpuModel");
                g.Properties["CpuMhz"] = o.Int("summary.hardware.cpuMhz");
                g.Properties["CpuUsageMhz"] = o.Int("summary.quickStats.overallCpuUsage");
                g.Properties["MemoryUsageMB"] = o.Long("summary.quickStats.overallMemoryUsage");
                hosts[o.Obj] = new HostInfo { Ref = o.Obj, Name = g.Name, Cluster = cluster, ComputeResource = parent, ResourcePool = cr?.Ref("resourcePool"), Grid = g };
            }

            if (allocation)
            {
                foreach (var h in hosts.Values) { h.Grid.AllocatedCpu = 0; h.Grid.AllocatedMemoryMB = 0; h.Grid.Properties["PoweredOnVMs"] = 0; }
                // One paged pass over the VMs: vCPUs and memory of the powered-on VMs, per host.
                await foreach (var oc in RetrieveVmsAsync(new[] { "runtime.host", "runtime.powerState", "config.hardware.numCPU", "config.hardware.memoryMB" }, 1000, ct).ConfigureAwait(false))
                {
                    if (oc.Text("runtime.powerState") != "poweredOn") continue;
                    var hr = oc.Ref("runtime.host");
                    if (!hr.HasValue || !hosts.TryGetValue(hr.Value, out var h)) continue;
                    h.Grid.AllocatedCpu += oc.Int("config.hardware.numCPU") ?? 0;
                    h.Grid.AllocatedMemoryMB += oc.Long("config.hardware.memoryMB") ?? 0;
                    h.Grid.Properties["PoweredOnVMs"] = (int)h.Grid.Properties["PoweredOnVMs"]! + 1;
                }
            }
            _hostCache = hosts; _hostCacheAt = DateTime.UtcNow;
            return hosts;
        }

        private async Task<Dictionary<MoRef, HostInfo>> HostsCachedAsync(CancellationToken ct)
        {
            var c = _hostCache;
            if (c != null && DateTime.UtcNow - _hostCacheAt < TimeSpan.FromSeconds(30)) return c;
            return await LoadHostsAsync(false, ct).ConfigureAwait(false);
        }

        public async Task<IReadOnlyList<GridHost>> ListHostsAsync(CancellationToken cancellationToken)
        {
            var hosts = await LoadHostsAsync(true, cancellationToken).ConfigureAwait(false);
            return hosts.Values.Select(h => h.Grid).OrderBy(h => h.Cluster ?? "", StringComparer.OrdinalIgnoreCase).ThenBy(h => h.Name, StringComparer.OrdinalIgnoreCase).ToList();
        }

        // ---- sizes and images ----------------------------------------------------------------------------------

        private static readonly (int Cpu, int Gb)[] Shapes =
            (from cpu in new[] { 1, 2, 4, 8, 16, 32 } from gb in new[] { 1, 2, 4, 8, 16, 32, 64, 128 } select (cpu, gb)).ToArray();

        /// <summary>
        /// vSphere has no sizes: these are shapes named "&lt;vCPU&gt;x&lt;GB&gt;" (1..32 vCPU x 1..128 GB, powers of two).
        /// The engine accepts only listed names for -Size; any other combination goes through -Cpu/-MemoryGB.
        /// </summary>
        public Task<IReadOnlyList<GridSize>> ListSizesAsync(CancellationToken cancellationToken)
        {
            IReadOnlyList<GridSize> list = Shapes.Select(s => new GridSize
            {
                Datacenter = Datacenter.Name,
                Name = VSphereMapping.FormatSize(s.Cpu, s.Gb * 1024L),
                CpuCount = s.Cpu,
                MemoryMB = s.Gb * 1024L,
                Properties = { ["Kind"] = "Shape (vSphere has no sizes: other combinations through -Cpu/-MemoryGB)" },
            }).ToList();
            return Task.FromResult(list);
        }

        public async Task<IReadOnlyList<GridImage>> ListImagesAsync(IReadOnlyDictionary<string, string> filter, CancellationToken cancellationToken)
        {
            var list = new List<GridImage>();
            await foreach (var oc in RetrieveVmsAsync(new[] { "name", "config.template", "config.instanceUuid", "config.guestFullName", "config.guestId", "config.annotation",
                "config.hardware.numCPU", "config.hardware.memoryMB", "summary.storage.committed" }, 1000, cancellationToken).ConfigureAwait(false))
            {
                if (oc.Bool("config.template") != true) continue;
                long? committed = oc.Long("summary.storage.committed");
                var img = new GridImage
                {
                    Datacenter = Datacenter.Name,
                    Name = oc.Text("name") ?? oc.Obj.Value,
                    NativeId = oc.Text("config.instanceUuid") ?? oc.Obj.Value,
                    OsType = oc.Text("config.guestFullName"),
                    Description = oc.Text("config.annotation"),
                    SizeGB = committed.HasValue ? Math.Round(committed.Value / 1073741824.0, 3) : (double?)null,
                };
                img.Properties["MoRef"] = oc.Obj.Value;
                img.Properties["GuestId"] = oc.Text("config.guestId");
                img.Properties["CpuCount"] = oc.Int("config.hardware.numCPU");
                img.Properties["MemoryMB"] = oc.Long("config.hardware.memoryMB");
                list.Add(img);
            }
            return list.OrderBy(i => i.Name, StringComparer.OrdinalIgnoreCase).ToList();
        }

        // ---- workloads ----------------------------------------------------------------------------------------

        /// <summary>Streams every VM of the datacenter (templates included) through the container view, one round trip per page.</summary>
        private async IAsyncEnumerable<ObjectContent> RetrieveVmsAsync(string[] paths, int pageSize, [EnumeratorCancellation] CancellationToken ct)
        {
            var reader = await WithSessionAsync(async () =>
            {
                var view = await VmViewAsync(ct).ConfigureAwait(false);
                return await _vim.RetrievePropertiesExAsync(new FilterSpec { Root = view, ViaView = true }.Add("VirtualMachine", paths), pageSize, ct).ConfigureAwait(false);
            }, ct).ConfigureAwait(false);
            RetrieveResultReader? current = reader;
            try
            {
                while (true)
                {
                    while (current.Next(out var oc)) yield return oc;
                    string? token = current.Token;
                    current.Dispose();
                    current = null;
                    if (string.IsNullOrEmpty(token)) yield break;
                    current = await ContinuePageAsync(token!, ct).ConfigureAwait(false);
                }
            }
            finally
            {
                if (current != null)
                {
                    // Stopped early: find this page's token (it may follow the objects) and tell the server to drop the rest.
                    string? token = null;
                    try { while (current.Next(out _)) { } token = current.Token; } catch (GridException) { }
                    current.Dispose();
                    if (!string.IsNullOrEmpty(token)) await CancelRetrieveQuietlyAsync(token!).ConfigureAwait(false);
                }
            }
        }

        /// <summary>
        /// The next page of a streamed listing. The engine retries a listing only until its first page, so later pages go
        /// through the shared policy here - but only failures the server refused before acting on the token (HTTP 429 or
        /// 503) are retried: after a timeout or a broken answer the token may already have moved on, and asking again
        /// could skip a page without a word, so those end the listing with the error.
        /// </summary>
        private Task<RetrieveResultReader> ContinuePageAsync(string token, CancellationToken ct)
        {
            if (_retry == null) return _vim.ContinueRetrievePropertiesExAsync(token, ct);
            return _retry.ExecuteAsync(Datacenter.Name, async c =>
            {
                try { return await _vim.ContinueRetrievePropertiesExAsync(token, c).ConfigureAwait(false); }
                catch (GridException ex) when (ex.IsTransient && !VimClient.RefusedBeforeActing(ex))
                {
                    ex.IsTransient = false;
                    throw;
                }
            }, false, ct);
        }

        private async Task CancelRetrieveQuietlyAsync(string token)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _vim.CancelRetrievePropertiesExAsync(token, cts.Token).ConfigureAwait(false);
            }
            catch (GridException) { }
        }

        public async IAsyncEnumerable<IReadOnlyList<GridWorkload>> ListWorkloadsAsync(WorkloadQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            int pageSize = Math.Max(1, Math.Min(query?.PageSize ?? 1000, 10000));
            var tagsTask = _tags != null ? _tags.TagsOfAllObjectsAsync("VirtualMachine", cancellationToken) : null;
            var hosts = await HostsCachedAsync(cancellationToken).ConfigureAwait(false);
            Dictionary<string, Dictionary<string, string>>? tags = null;
            var paths = VSphereMapping.VmPaths(_vim.Content.ApiVersion, withDevices: false);
            var batch = new List<GridWorkload>(Math.Min(pageSize, 1000));
            bool includeDeletedOnly = query?.States != null && query.States.Count > 0 && query.States.All(s => s == WorkloadState.Deleted);
            if (includeDeletedOnly) yield break; // vSphere does not keep deleted VMs
            await foreach (var oc in RetrieveVmsAsync(paths, pageSize, cancellationToken).ConfigureAwait(false))
            {
                if (oc.Bool("config.template") == true) continue;
                if (tagsTask != null && tags == null) tags = await AwaitTagsAsync(tagsTask).ConfigureAwait(false);
                Dictionary<string, string>? vmTags = null;
                tags?.TryGetValue(oc.Obj.Value, out vmTags);
                batch.Add(VSphereMapping.ToWorkload(oc, Datacenter.Name, hosts, vmTags));
                if (batch.Count >= pageSize)
                {
                    yield return batch;
                    batch = new List<GridWorkload>(Math.Min(pageSize, 1000));
                }
            }
            if (batch.Count > 0) yield return batch;
        }

        private async Task<Dictionary<string, Dictionary<string, string>>?> AwaitTagsAsync(Task<Dictionary<string, Dictionary<string, string>>> t)
        {
            try { return await t.ConfigureAwait(false); }
            catch (GridException ex) when (ex.Kind != GridErrorKind.Cancelled)
            {
                _verbose("vSphere tags could not be read (workloads listed without tags): " + ex.Message);
                return new Dictionary<string, Dictionary<string, string>>();
            }
        }

        /// <summary>The VM's moref from its instance UUID (SearchIndex.FindByUuid), or NotFound.</summary>
        private async Task<MoRef> ResolveAsync(string nativeId, CancellationToken ct)
        {
            var found = await FindByInstanceUuidAsync(nativeId, ct).ConfigureAwait(false);
            return found ?? throw GridException.NotFound($"No VM with instance UUID '{nativeId}' in vSphere datacenter '{_dcName}' ({Datacenter.Name}).", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
        }

        private async Task<MoRef?> FindByInstanceUuidAsync(string uuid, CancellationToken ct)
        {
            if (!VSphereMapping.IsUuid(uuid)) return null;
            var resp = await _vim.InvokeAsync("FindByUuid", _vim.Content.SearchIndex, w =>
            {
                VimClient.WriteMoRef(w, "datacenter", _dc);
                w.WriteElementString("uuid", uuid);
                w.WriteElementString("vmSearch", "true");
                w.WriteElementString("instanceUuid", "true");
            }, ct).ConfigureAwait(false);
            var rv = resp?.Child("returnval");
            return rv == null || string.IsNullOrEmpty(rv.Text) ? (MoRef?)null : rv.AsMoRef();
        }

        private async Task<GridWorkload> GetByRefAsync(MoRef vm, string nativeId, CancellationToken ct)
        {
            ObjectContent? oc;
            try { oc = await _vim.GetPropertiesAsync(vm, VSphereMapping.VmPaths(_vim.Content.ApiVersion, withDevices: true), ct).ConfigureAwait(false); }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { oc = null; }
            if (oc == null || oc.Bool("config.template") == true)
                throw GridException.NotFound($"No VM with instance UUID '{nativeId}' in vSphere datacenter '{_dcName}' ({Datacenter.Name}){(oc != null ? " (it is a template: see Get-GridImage)" : "")}.", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
            var hosts = await HostsCachedAsync(ct).ConfigureAwait(false);
            var hr = oc.Ref("runtime.host");
            if (hr.HasValue && !hosts.ContainsKey(hr.Value)) hosts = await LoadHostsAsync(false, ct).ConfigureAwait(false);
            Dictionary<string, string>? tags = null;
            if (_tags != null)
            {
                try { tags = (await _tags.TagsOfObjectAsync(vm, ct).ConfigureAwait(false)).ToDictionary(kv => kv.Key, kv => kv.Value.Name, StringComparer.OrdinalIgnoreCase); }
                catch (GridException ex) when (ex.Kind != GridErrorKind.Cancelled) { _verbose("vSphere tags could not be read: " + ex.Message); }
            }
            return VSphereMapping.ToWorkload(oc, Datacenter.Name, hosts, tags);
        }

        public Task<GridWorkload> GetWorkloadAsync(string nativeId, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var vm = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
                return await GetByRefAsync(vm, nativeId, cancellationToken).ConfigureAwait(false);
            }, cancellationToken);

        // ---- lifecycle ----------------------------------------------------------------------------------------

        private async Task<(MoRef Vm, string Power, string Name)> StateOfAsync(string nativeId, CancellationToken ct)
        {
            var vm = await ResolveAsync(nativeId, ct).ConfigureAwait(false);
            ObjectContent? oc;
            try { oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "runtime.powerState", "config.template" }, ct).ConfigureAwait(false); }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { oc = null; }
            if (oc == null) throw GridException.NotFound($"The VM '{nativeId}' no longer exists in vSphere datacenter '{_dcName}'.", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
            NotATemplate(oc, nativeId);
            return (vm, oc.Text("runtime.powerState") ?? "", oc.Text("name") ?? nativeId);
        }

        /// <summary>Templates are images, not workloads: acting on one as a workload is NotFound.</summary>
        private void NotATemplate(ObjectContent oc, string nativeId)
        {
            if (oc.Bool("config.template") == true)
                throw GridException.NotFound($"'{oc.Text("name")}' ({nativeId}) is a template, not a workload (see Get-GridImage).", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
        }

        /// <summary>Starts a task method and follows it, reporting progress through the scope.</summary>
        private async Task<VimNode?> RunTaskAsync(string method, MoRef target, Action<System.Xml.XmlWriter>? args, string activity, string vmName, IOperationScope? scope, CancellationToken ct)
        {
            scope?.Report(new GridProgress(activity, $"{vmName}: {method}", 0));
            var resp = await _vim.InvokeAsync(method, target, args, ct).ConfigureAwait(false);
            var task = resp?.Child("returnval")?.AsMoRef() ?? throw VimClient.Malformed($"{method} returned no task.", null);
            return await VimTasks.WaitAsync(_vim, task, $"{activity} '{vmName}'",
                (pct, state) => scope?.Report(new GridProgress(activity, $"{vmName}: {method} {state}", pct)), ct, vmName).ConfigureAwait(false);
        }

        public Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var (vm, power, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                if (power == "poweredOn") return true;
                await RunTaskAsync("PowerOnVM_Task", vm, null, "Start workload", name, scope, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken);

        public Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (mode == StopMode.Deallocate)
                throw GridException.Unsupported("vSphere has no deallocated state: use Stop-GridWorkload (guest shutdown) or -TurnOff.", "CapabilityNotSupported", WorkloadId.Format(Datacenter.Name, nativeId));
            return WithSessionAsync(async () =>
            {
                var (vm, power, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                if (power == "poweredOff") return true;
                if (mode == StopMode.TurnOff)
                {
                    await RunTaskAsync("PowerOffVM_Task", vm, null, "Stop workload (power off)", name, scope, cancellationToken).ConfigureAwait(false);
                    return true;
                }
                if (power == "suspended")
                    throw GridException.Conflict($"'{name}' is suspended: its guest cannot shut down. Start it first, or use -TurnOff to power it off (discarding the suspended state).", "WorkloadSuspended", WorkloadId.Format(Datacenter.Name, nativeId));
                scope?.Report(new GridProgress("Stop workload (guest shutdown)", name + ": ShutdownGuest", 0));
                try
                {
                    await _vim.InvokeAsync("ShutdownGuest", vm, null, cancellationToken).ConfigureAwait(false);
                }
                catch (GridException ex) when (ex.NativeCode == "ToolsUnavailable" || ex.NativeCode == "NotSupported" || ex.NativeCode == "NotImplemented")
                {
                    throw new GridException(GridErrorKind.Conflict, $"The guest of '{name}' cannot be shut down gracefully ({ex.NativeCode}: VMware Tools are not running). Use -TurnOff to power it off.", "GuestShutdownUnavailable", ex) { NativeCode = ex.NativeCode, Target = WorkloadId.Format(Datacenter.Name, nativeId) };
                }
                // ShutdownGuest returns at once; wait for the guest to power off.
                var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
                int delay = 100;
                while (true)
                {
                    var oc = await _vim.GetPropertiesAsync(vm, new[] { "runtime.powerState" }, cancellationToken).ConfigureAwait(false);
                    if (oc?.Text("runtime.powerState") == "poweredOff") { scope?.Report(new GridProgress("Stop workload (guest shutdown)", name + ": powered off", 100)); return true; }
                    if (DateTime.UtcNow > deadline)
                        throw GridException.Conflict($"The guest of '{name}' did not power off within 10 minutes after ShutdownGuest. Use -TurnOff to power it off.", "GuestShutdownTimeout", WorkloadId.Format(Datacenter.Name, nativeId));
                    try { await Task.Delay(delay, cancellationToken).ConfigureAwait(false); } catch (OperationCanceledException oce) { throw Cancelled(oce); }
                    delay = Math.Min(delay * 2, 2000);
                }
            }, cancellationToken);
        }

        /// <summary>ResetVM_Task (a hard reset, as PowerCLI's Restart-VM).</summary>
        public Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var (vm, power, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                if (power != "poweredOn")
                    throw GridException.Conflict($"'{name}' is {power}: only a powered-on VM can be restarted. Use Start-GridWorkload.", "WorkloadNotRunning", WorkloadId.Format(Datacenter.Name, nativeId));
                await RunTaskAsync("ResetVM_Task", vm, null, "Restart workload (reset)", name, scope, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken);

        public Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var (vm, power, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                if (power == "suspended") return true;
                if (power != "poweredOn")
                    throw GridException.Conflict($"'{name}' is {power}: only a powered-on VM can be suspended.", "WorkloadNotRunning", WorkloadId.Format(Datacenter.Name, nativeId));
                await RunTaskAsync("SuspendVM_Task", vm, null, "Suspend workload", name, scope, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken);

        /// <summary>UnregisterVM (files kept) or, with removeStorage, Destroy_Task. A powered-on VM is powered off first.</summary>
        public Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
            => WithSessionAsync(async () =>
            {
                var (vm, power, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                if (power == "poweredOn")
                    await RunTaskAsync("PowerOffVM_Task", vm, null, "Remove workload (power off)", name, scope, cancellationToken).ConfigureAwait(false);
                if (removeStorage)
                    await RunTaskAsync("Destroy_Task", vm, null, "Remove workload (delete from disk)", name, scope, cancellationToken).ConfigureAwait(false);
                else
                {
                    scope?.Report(new GridProgress("Remove workload (unregister, files kept)", name + ": UnregisterVM", 0));
                    await _vim.InvokeAsync("UnregisterVM", vm, null, cancellationToken).ConfigureAwait(false);
                    scope?.Report(new GridProgress("Remove workload (unregister, files kept)", name + ": unregistered", 100));
                }
                return true;
            }, cancellationToken);

        private static void WriteConfigSpec(System.Xml.XmlWriter w, string? instanceUuid, string? annotation, int? cpu, long? memoryMB, string? idempotencyKey)
        {
            VimClient.StartTyped(w, "spec", "VirtualMachineConfigSpec");
            WriteConfigBody(w, instanceUuid, annotation, cpu, memoryMB, idempotencyKey);
            w.WriteEndElement();
        }

        private static void WriteConfigBody(System.Xml.XmlWriter w, string? instanceUuid, string? annotation, int? cpu, long? memoryMB, string? idempotencyKey)
        {
            // Element order follows the WSDL sequence of VirtualMachineConfigSpec.
            if (instanceUuid != null) w.WriteElementString("instanceUuid", instanceUuid);
            if (annotation != null) w.WriteElementString("annotation", annotation);
            if (cpu.HasValue) w.WriteElementString("numCPUs", cpu.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (memoryMB.HasValue) w.WriteElementString("memoryMB", memoryMB.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (idempotencyKey != null)
            {
                VimClient.StartTyped(w, "extraConfig", "OptionValue");
                w.WriteElementString("key", VSphereMapping.IdempotencyExtraConfigKey);
                VimClient.StartTyped(w, "value", "xsd:string");
                w.WriteString(idempotencyKey);
                w.WriteEndElement();
                w.WriteEndElement();
            }
        }

        private async Task ReconfigureAsync(MoRef vm, string name, int? cpu, long? memoryMB, string? annotation, IOperationScope? scope, CancellationToken ct)
        {
            await RunTaskAsync("ReconfigVM_Task", vm, w => WriteConfigSpec(w, null, annotation, cpu, memoryMB, null), "Resize workload", name, scope, ct).ConfigureAwait(false);
        }

        private static (int? Cpu, long? Mem) Shape(string? size, int? cpu, long? mem, object target)
        {
            if (!string.IsNullOrWhiteSpace(size))
            {
                if (!VSphereMapping.TryParseSize(size, out var c, out var m))
                    throw GridException.InvalidRequest($"Size '{size}' is not a vSphere shape: use '<vCPU>x<GB>' such as '2x4' (2 vCPU, 4 GB) or '2x512MB'. Get-GridSize lists common shapes.", "SizeNotFound", target);
                cpu ??= c; mem ??= m;
            }
            if (cpu.HasValue && cpu <= 0) throw GridException.InvalidRequest("CpuCount must be at least 1.", "InvalidCpuCount", target);
            if (mem.HasValue && mem <= 0) throw GridException.InvalidRequest("MemoryMB must be positive.", "InvalidMemory", target);
            return (cpu, mem);
        }

        public Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            string id = WorkloadId.Format(Datacenter.Name, nativeId);
            var (cpu, mem) = Shape(request.Size, request.CpuCount, request.MemoryMB, id);
            if (!cpu.HasValue && !mem.HasValue) throw GridException.InvalidRequest("Resize needs -Size, -CpuCount or -MemoryMB.", "NothingToResize", id);
            return WithSessionAsync(async () =>
            {
                var vm = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "runtime.powerState", "config.hardware.numCPU", "config.hardware.memoryMB", "config.template" }, cancellationToken).ConfigureAwait(false)
                         ?? throw GridException.NotFound($"The VM '{nativeId}' no longer exists.", "WorkloadNotFound", id);
                NotATemplate(oc, nativeId);
                string name = oc.Text("name") ?? nativeId;
                if ((!cpu.HasValue || cpu == oc.Int("config.hardware.numCPU")) && (!mem.HasValue || mem == oc.Long("config.hardware.memoryMB"))) return true;
                bool wasOn = oc.Text("runtime.powerState") == "poweredOn";
                if (wasOn)
                {
                    if (!request.AllowRestart)
                        throw GridException.Conflict($"'{name}' is powered on: changing its CPU/memory needs a power off. Stop it first, or allow the restart (-AllowRestart).", "ResizeRequiresRestart", id);
                    await RunTaskAsync("PowerOffVM_Task", vm, null, "Resize workload (power off)", name, scope, cancellationToken).ConfigureAwait(false);
                }
                await ReconfigureAsync(vm, name, cpu, mem, null, scope, cancellationToken).ConfigureAwait(false);
                if (wasOn) await RunTaskAsync("PowerOnVM_Task", vm, null, "Resize workload (power on)", name, scope, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken);
        }

        public Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (_tags == null)
                throw GridException.Unsupported($"Tags are not available on {Endpoint} (no vAPI tagging endpoint).", "CapabilityNotSupported", WorkloadId.Format(Datacenter.Name, nativeId));
            return WithSessionAsync(async () =>
            {
                var (vm, _, name) = await StateOfAsync(nativeId, cancellationToken).ConfigureAwait(false);
                scope?.Report(new GridProgress("Set tags", name, 0));
                await _tags.SetTagsAsync(vm, tags, cancellationToken).ConfigureAwait(false);
                scope?.Report(new GridProgress("Set tags", name, 100));
                return true;
            }, cancellationToken);
        }

        /// <summary>vMotion: RelocateVM_Task to the host (and its cluster's / compute resource's root pool when it changes). Live when powered on.</summary>
        public Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (!Capabilities.HasFlag(GridCapabilities.Move))
                throw GridException.Unsupported($"{Endpoint} is not a vCenter: VMs cannot be moved between hosts.", "CapabilityNotSupported", WorkloadId.Format(Datacenter.Name, nativeId));
            return WithSessionAsync(async () =>
            {
                var hosts = await LoadHostsAsync(false, cancellationToken).ConfigureAwait(false);
                var dest = hosts.Values.FirstOrDefault(h => string.Equals(h.Name, destinationHost, StringComparison.OrdinalIgnoreCase) || h.Ref.Value == destinationHost)
                           ?? throw GridException.NotFound($"No host '{destinationHost}' in vSphere datacenter '{_dcName}'. Hosts: {string.Join(", ", hosts.Values.Select(h => h.Name))}.", "HostNotFound", destinationHost);
                var vm = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
                var oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "runtime.host", "runtime.powerState", "config.template" }, cancellationToken).ConfigureAwait(false)
                         ?? throw GridException.NotFound($"The VM '{nativeId}' no longer exists.", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId));
                NotATemplate(oc, nativeId);
                string name = oc.Text("name") ?? nativeId;
                var current = oc.Ref("runtime.host");
                if (current.HasValue && current.Value.Equals(dest.Ref)) return true;
                hosts.TryGetValue(current ?? default, out var src);
                bool changePool = src == null || !src.ComputeResource.Equals(dest.ComputeResource);
                if (dest.Grid.State != HostState.Connected)
                    throw GridException.Conflict($"Host '{dest.Name}' is {dest.Grid.NativeState}{(dest.Grid.State == HostState.Maintenance ? " (maintenance mode)" : "")}: it cannot receive VMs.", "HostNotAvailable", dest.Name);
                string kind = oc.Text("runtime.powerState") == "poweredOn" ? "vMotion (live)" : "cold migration";
                await RunTaskAsync("RelocateVM_Task", vm, w =>
                {
                    VimClient.StartTyped(w, "spec", "VirtualMachineRelocateSpec");
                    if (changePool && dest.ResourcePool.HasValue) VimClient.WriteMoRef(w, "pool", dest.ResourcePool.Value);
                    VimClient.WriteMoRef(w, "host", dest.Ref);
                    w.WriteEndElement();
                    w.WriteElementString("priority", "defaultPriority");
                }, $"Move workload ({kind}) to {dest.Name}", name, scope, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken);
        }

        // ---- create -------------------------------------------------------------------------------------------

        public Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (!Capabilities.HasFlag(GridCapabilities.Create))
                throw GridException.Unsupported($"{Endpoint} is not a vCenter: VMs cannot be cloned from templates there.", "CapabilityNotSupported", request.Name);
            if (string.IsNullOrWhiteSpace(request.Name)) throw GridException.InvalidRequest("A workload needs a name.", "NameRequired");
            if (request.Options.TryGetValue(ImportedDiskOption, out var imported) && !string.IsNullOrEmpty(imported))
                return AdoptImportedAsync(request, imported, scope, cancellationToken); // a move: the imported VM becomes the workload (VSphereAdopt.cs)
            if (string.IsNullOrWhiteSpace(request.Image))
                throw GridException.InvalidRequest("vSphere creates workloads by cloning a template: give -Image <template name> (Get-GridImage lists them).", "ImageRequired", request.Name);
            var (cpu, mem) = Shape(request.Size, request.CpuCount, request.MemoryMB, request.Name);
            string key = !string.IsNullOrEmpty(request.IdempotencyKey) ? request.IdempotencyKey : (scope?.IdempotencyKey ?? Datacenter.Name + "/" + request.Name);
            string uuid = VSphereMapping.DeterministicUuid((_vim.Content.InstanceUuid ?? "") + "/" + _dc.Value, key);
            return WithSessionAsync(async () =>
            {
                var ct = cancellationToken;
                // Idempotency: the instance UUID derives from the key, so an earlier run's VM is found in one call.
                var existing = await FindByInstanceUuidAsync(uuid, ct).ConfigureAwait(false);
                if (existing.HasValue)
                {
                    _verbose($"A VM for idempotency key '{key}' already exists ({existing.Value.Value}): returning it.");
                    return await FinishCreateAsync(existing.Value, uuid, request, cpu, mem, scope, ct).ConfigureAwait(false);
                }
                // Should vCenter not have kept our instance UUID, the key is also in the VM's extraConfig: look the name up.
                var byName = await FindChildAsync(_vmFolder, request.Name, ct).ConfigureAwait(false);
                if (byName.HasValue && byName.Value.Type == "VirtualMachine")
                {
                    var ec = await _vim.GetPropertiesAsync(byName.Value, new[] { "config.extraConfig", "config.instanceUuid" }, ct).ConfigureAwait(false);
                    string? theirKey = ec?.Get("config.extraConfig")?.Children
                        .FirstOrDefault(o => o.ChildText("key") == VSphereMapping.IdempotencyExtraConfigKey)?.ChildText("value");
                    if (theirKey == key)
                    {
                        _verbose($"'{request.Name}' already carries idempotency key '{key}': returning it.");
                        return await FinishCreateAsync(byName.Value, ec?.Text("config.instanceUuid") ?? uuid, request, cpu, mem, scope, ct).ConfigureAwait(false);
                    }
                    throw GridException.Conflict($"A VM named '{request.Name}' already exists in the VM folder of vSphere datacenter '{_dcName}' (made by another request, or outside GridAutomation). Choose another name or remove it.", "WorkloadNameExists", request.Name);
                }
                var template = await FindTemplateAsync(request.Image!, ct).ConfigureAwait(false);
                var (pool, host, hostName) = await PlaceAsync(request, mem, ct).ConfigureAwait(false);
                MoRef? datastore = null;
                if (request.Options.TryGetValue("Datastore", out var dsName) && !string.IsNullOrEmpty(dsName))
                    datastore = await FindDatastoreAsync(dsName, ct).ConfigureAwait(false);
                scope?.Checkpoint("instanceUuid", uuid);
                string activity = $"Create workload '{request.Name}' (clone of {template.Name} on {hostName})";
                var result = await RunTaskAsync("CloneVM_Task", template.Ref, w =>
                {
                    VimClient.WriteMoRef(w, "folder", _vmFolder);
                    w.WriteElementString("name", request.Name);
                    w.WriteStartElement("spec");
                    w.WriteStartElement("location");
                    if (datastore.HasValue) VimClient.WriteMoRef(w, "datastore", datastore.Value);
                    VimClient.WriteMoRef(w, "pool", pool);
                    if (host.HasValue) VimClient.WriteMoRef(w, "host", host.Value);
                    w.WriteEndElement();
                    w.WriteElementString("template", "false");
                    w.WriteStartElement("config");
                    WriteConfigBody(w, uuid, null, cpu, mem, key);
                    w.WriteEndElement();
                    w.WriteElementString("powerOn", "false");
                    w.WriteEndElement();
                }, activity, request.Name, scope, ct).ConfigureAwait(false);
                var vm = result?.AsMoRef() ?? await FindByInstanceUuidAsync(uuid, ct).ConfigureAwait(false)
                         ?? throw VimClient.Malformed("CloneVM_Task succeeded without a VM.", null);
                scope?.Checkpoint("moref", vm.Value);
                return await FinishCreateAsync(vm, uuid, request, cpu, mem, scope, ct).ConfigureAwait(false);
            }, cancellationToken);
        }

        /// <summary>Brings a cloned (or found) VM to the request: CPU/memory (vCenter may not apply them on clone), tags, power.</summary>
        private async Task<GridWorkload> FinishCreateAsync(MoRef vm, string uuid, CreateWorkloadRequest request, int? cpu, long? mem, IOperationScope? scope, CancellationToken ct)
        {
            var oc = await _vim.GetPropertiesAsync(vm, new[] { "name", "runtime.powerState", "config.hardware.numCPU", "config.hardware.memoryMB" }, ct).ConfigureAwait(false)
                     ?? throw GridException.NotFound($"The VM made for '{request.Name}' disappeared.", "WorkloadNotFound", request.Name);
            string power = oc.Text("runtime.powerState") ?? "";
            bool cpuDiffers = cpu.HasValue && cpu != oc.Int("config.hardware.numCPU");
            bool memDiffers = mem.HasValue && mem != oc.Long("config.hardware.memoryMB");
            if ((cpuDiffers || memDiffers) && power == "poweredOff")
                await ReconfigureAsync(vm, request.Name, cpuDiffers ? cpu : null, memDiffers ? mem : null, null, scope, ct).ConfigureAwait(false);
            if (request.Tags.Count > 0 && _tags != null)
                await _tags.SetTagsAsync(vm, request.Tags.ToDictionary(kv => kv.Key, kv => (string?)kv.Value, StringComparer.OrdinalIgnoreCase), ct).ConfigureAwait(false);
            if (request.PowerOn && power != "poweredOn")
                await RunTaskAsync("PowerOnVM_Task", vm, null, "Create workload (power on)", request.Name, scope, ct).ConfigureAwait(false);
            return await GetByRefAsync(vm, uuid, ct).ConfigureAwait(false);
        }

        private async Task<MoRef?> FindChildAsync(MoRef folder, string name, CancellationToken ct)
        {
            var resp = await _vim.InvokeAsync("FindChild", _vim.Content.SearchIndex, w =>
            {
                VimClient.WriteMoRef(w, "entity", folder);
                w.WriteElementString("name", name);
            }, ct).ConfigureAwait(false);
            var rv = resp?.Child("returnval");
            return rv == null || string.IsNullOrEmpty(rv.Text) ? (MoRef?)null : rv.AsMoRef();
        }

        private async Task<(MoRef Ref, string Name)> FindTemplateAsync(string image, CancellationToken ct)
        {
            var byUuid = VSphereMapping.IsUuid(image) ? await FindByInstanceUuidAsync(image, ct).ConfigureAwait(false) : null;
            var candidates = new List<(MoRef, string)>();
            await foreach (var oc in RetrieveVmsAsync(new[] { "name", "config.template" }, 1000, ct).ConfigureAwait(false))
            {
                if (oc.Bool("config.template") != true) continue;
                string name = oc.Text("name") ?? "";
                if ((byUuid.HasValue && oc.Obj.Equals(byUuid.Value)) || string.Equals(name, image, StringComparison.OrdinalIgnoreCase) || oc.Obj.Value == image)
                    candidates.Add((oc.Obj, name));
            }
            if (candidates.Count == 0) throw GridException.NotFound($"No template '{image}' in vSphere datacenter '{_dcName}'. Get-GridImage lists the templates.", "ImageNotFound", image);
            return candidates[0];
        }

        private async Task<MoRef> FindDatastoreAsync(string name, CancellationToken ct)
        {
            var view = await _vim.CreateContainerViewAsync(_dc, new[] { "Datastore" }, ct).ConfigureAwait(false);
            try
            {
                var all = await _vim.RetrieveAllAsync(new FilterSpec { Root = view, ViaView = true }.Add("Datastore", "name"), ct).ConfigureAwait(false);
                var ds = all.FirstOrDefault(o => string.Equals(o.Text("name"), name, StringComparison.OrdinalIgnoreCase));
                return ds?.Obj ?? throw GridException.NotFound($"No datastore '{name}' in vSphere datacenter '{_dcName}'. Datastores: {string.Join(", ", all.Select(o => o.Text("name")))}.", "DatastoreNotFound", name);
            }
            finally { try { await _vim.DestroyViewAsync(view, CancellationToken.None).ConfigureAwait(false); } catch (GridException) { } }
        }

        /// <summary>
        /// Chooses where a clone goes: the host named by TargetHost, the cluster/compute resource so named (its host with
        /// the most free memory), or else the connected host with the most free memory (then free vCPUs).
        /// </summary>
        private async Task<(MoRef Pool, MoRef? Host, string HostName)> PlaceAsync(CreateWorkloadRequest request, long? memoryMB, CancellationToken ct)
        {
            var hosts = await LoadHostsAsync(true, ct).ConfigureAwait(false);
            IEnumerable<HostInfo> candidates = hosts.Values.Where(h => h.Grid.State == HostState.Connected && h.ResourcePool.HasValue);
            string? target = request.TargetHost;
            if (!string.IsNullOrWhiteSpace(target))
            {
                var exact = hosts.Values.FirstOrDefault(h => string.Equals(h.Name, target, StringComparison.OrdinalIgnoreCase) || h.Ref.Value == target);
                if (exact != null)
                {
                    if (exact.Grid.State != HostState.Connected)
                        throw GridException.Conflict($"Host '{exact.Name}' is {exact.Grid.NativeState}{(exact.Grid.State == HostState.Maintenance ? " (maintenance mode)" : "")}: it cannot receive VMs.", "HostNotAvailable", exact.Name);
                    return (exact.ResourcePool ?? throw GridException.Conflict($"Host '{exact.Name}' has no resource pool.", "HostNotAvailable", exact.Name), exact.Ref, exact.Name);
                }
                candidates = candidates.Where(h => string.Equals(h.Cluster, target, StringComparison.OrdinalIgnoreCase)
                                                   || string.Equals(h.Grid.Properties["ComputeResource"] as string, target, StringComparison.OrdinalIgnoreCase)).ToList();
                if (!candidates.Any())
                {
                    // A resource pool of that name: vCenter (DRS) places the VM on one of its owner's hosts.
                    var pool = await FindResourcePoolAsync(target!, ct).ConfigureAwait(false);
                    if (pool.HasValue)
                    {
                        var owner = hosts.Values.FirstOrDefault(h => h.ComputeResource.Equals(pool.Value.Owner));
                        return (pool.Value.Pool, null, "resource pool " + target + (owner?.Cluster != null ? " of " + owner.Cluster : ""));
                    }
                }
                if (!candidates.Any())
                    throw GridException.NotFound($"No host or cluster '{target}' (connected) in vSphere datacenter '{_dcName}'. Hosts: {string.Join(", ", hosts.Values.Select(h => h.Name))}.", "HostNotFound", target);
            }
            var best = candidates
                .OrderByDescending(h => h.Grid.FreeMemoryMB ?? 0)
                .ThenByDescending(h => h.Grid.FreeCpu ?? 0)
                .ThenBy(h => h.Name, StringComparer.OrdinalIgnoreCase)
                .FirstOrDefault();
            if (best == null) throw GridException.ResourceUnavailable($"No connected host in vSphere datacenter '{_dcName}' can take '{request.Name}'.", "NoHostAvailable", request.Name);
            if (memoryMB.HasValue && best.Grid.MemoryMB.HasValue && memoryMB > best.Grid.MemoryMB)
                throw GridException.ResourceUnavailable($"'{request.Name}' asks {memoryMB} MB of memory; the largest host ({best.Name}) has {best.Grid.MemoryMB} MB.", "InsufficientCapacity", request.Name);
            return (best.ResourcePool!.Value, best.Ref, best.Name);
        }

        private async Task<(MoRef Pool, MoRef Owner)?> FindResourcePoolAsync(string name, CancellationToken ct)
        {
            var view = await _vim.CreateContainerViewAsync(_dc, new[] { "ResourcePool" }, ct).ConfigureAwait(false);
            try
            {
                var all = await _vim.RetrieveAllAsync(new FilterSpec { Root = view, ViaView = true }.Add("ResourcePool", "name", "owner"), ct).ConfigureAwait(false);
                var rp = all.FirstOrDefault(o => string.Equals(o.Text("name"), name, StringComparison.OrdinalIgnoreCase) || o.Obj.Value == name);
                return rp == null ? ((MoRef, MoRef)?)null : (rp.Obj, rp.Ref("owner") ?? default);
            }
            finally { try { await _vim.DestroyViewAsync(view, CancellationToken.None).ConfigureAwait(false); } catch (GridException) { } }
        }

        // ---- resume / disconnect ------------------------------------------------------------------------------

        public Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken cancellationToken)
            => throw GridException.Unsupported("vSphere operations are single vSphere tasks: re-run the operation (it is idempotent).", "CapabilityNotSupported", operation?.Id);

        public async Task DisconnectAsync(CancellationToken cancellationToken)
        {
            if (_tags != null) await _tags.LogoutAsync(cancellationToken).ConfigureAwait(false);
            await _vim.LogoutAsync(cancellationToken).ConfigureAwait(false);
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _tags?.Dispose();
            _vim.Dispose();
            _viewGate.Dispose();
        }
    }
}
