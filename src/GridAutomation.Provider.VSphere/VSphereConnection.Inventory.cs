using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.VSphere.Vim25;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>Inventory: hosts, sizes, images and workloads, read through property collector views.</summary>
    public sealed partial class VSphereConnection
    {
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
    }
}
