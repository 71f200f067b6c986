using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Xen.Xapi;
using Records = System.Collections.Generic.Dictionary<string, System.Collections.Generic.Dictionary<string, object?>>;

namespace GridAutomation.Providers.Xen
{
    /// <summary>
    /// One Xen pool. Inventory here (every listing is one get_all_records per class, never one call per VM);
    /// changes in XenConnection.Lifecycle.cs. XAPI failures become GridExceptions in <see cref="XapiAsync{T}"/>.
    /// </summary>
    internal sealed partial class XenConnection : IGridConnection
    {
        private readonly XapiClient _x;
        private readonly Action<string> _verbose;

        internal XenConnection(GridDatacenter datacenter, XapiClient client, Action<string>? verbose)
        {
            Datacenter = datacenter; _x = client; _verbose = verbose ?? (_ => { });
        }

        public GridDatacenter Datacenter { get; }
        public GridCapabilities Capabilities => XenProvider.All;
        public string Endpoint => _x.BaseUrl.GetLeftPart(UriPartial.Authority) + (_x.Protocol == XapiProtocol.JsonRpc ? "/jsonrpc" : "/") + (PoolName != null ? " (pool " + PoolName + ")" : "");
        public bool HandlesOwnRetries => false;
        internal XapiClient Client => _x;
        /// <summary>The pool's name_label (may be empty: XenServer pools of one host often have none).</summary>
        public string? PoolName { get; private set; }
        public string? MasterRef { get; private set; }

        internal async Task InitializeAsync(NetworkCredential credential, CancellationToken ct)
        {
            try
            {
                await _x.LoginAsync(credential, ct).ConfigureAwait(false);
            }
            catch (XapiFailure f) { throw XapiErrors.ToException(f, "Logging in", _x.BaseUrl.Authority); }
            var pools = await XapiAsync(() => _x.GetAllRecordsAsync("pool", ct), "Reading the pool").ConfigureAwait(false);
            var pool = pools.Values.FirstOrDefault();
            PoolName = pool != null ? XapiValue.Str(pool, "name_label") : null;
            MasterRef = pool != null ? XapiValue.Str(pool, "master") : null;
            _verbose($"Connected to XAPI at {_x.BaseUrl.Authority} over {_x.Protocol}; pool '{PoolName}'.");
        }

        /// <summary>Runs XAPI calls, turning an XapiFailure into the GridException of its code.</summary>
        internal static async Task<T> XapiAsync<T>(Func<Task<T>> call, string context, object? target = null)
        {
            try { return await call().ConfigureAwait(false); }
            catch (XapiFailure f) { throw XapiErrors.ToException(f, context, target); }
        }

        internal static async Task XapiAsync(Func<Task> call, string context, object? target = null)
        {
            try { await call().ConfigureAwait(false); }
            catch (XapiFailure f) { throw XapiErrors.ToException(f, context, target); }
        }

        private async Task<Dictionary<string, string>> HostNamesAsync(CancellationToken ct)
        {
            var hosts = await XapiAsync(() => _x.GetAllRecordsAsync("host", ct), "Listing hosts").ConfigureAwait(false);
            return hosts.ToDictionary(kv => kv.Key, kv => XapiValue.Str(kv.Value, "name_label") ?? kv.Key, StringComparer.Ordinal);
        }

        public async Task<IReadOnlyList<GridHost>> ListHostsAsync(CancellationToken cancellationToken)
        {
            var hostsT = _x.GetAllRecordsAsync("host", cancellationToken);
            var metricsT = _x.GetAllRecordsAsync("host_metrics", cancellationToken);
            var cpusT = _x.GetAllRecordsAsync("host_cpu", cancellationToken);
            var vmsT = _x.GetAllRecordsAsync("VM", cancellationToken);
            await XapiAsync(() => Task.WhenAll(hostsT, metricsT, cpusT, vmsT), "Listing hosts").ConfigureAwait(false);
            var hosts = hostsT.Result; var metrics = metricsT.Result; var vms = vmsT.Result;
            var cpus = cpusT.Result.Values.GroupBy(c => XapiValue.Str(c, "host") ?? "").ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            var list = new List<GridHost>();
            foreach (var kv in hosts.OrderBy(h => XapiValue.Str(h.Value, "name_label"), StringComparer.OrdinalIgnoreCase))
            {
                var h = kv.Value;
                var gh = new GridHost
                {
                    Datacenter = Datacenter.Name,
                    Name = XapiValue.Str(h, "name_label") ?? kv.Key,
                    NativeId = XapiValue.Str(h, "uuid"),
                    Cluster = PoolName,
                };
                bool enabled = !h.ContainsKey("enabled") || XapiValue.Bool(h, "enabled");
                string? mref = XapiValue.Str(h, "metrics");
                bool? live = null;
                if (!XapiValue.IsNullRef(mref) && metrics.TryGetValue(mref!, out var m))
                {
                    long? total = XapiValue.Long(m, "memory_total");
                    if (total > 0) gh.MemoryMB = XenMapping.MB(total);
                    gh.Properties["MemoryFreeMB"] = XenMapping.MB(XapiValue.Long(m, "memory_free"));
                    if (m.ContainsKey("live")) live = XapiValue.Bool(m, "live");
                }
                if (cpus.TryGetValue(kv.Key, out int n) && n > 0) gh.CpuCores = n;
                gh.State = live == false ? HostState.Down : enabled ? HostState.Connected : HostState.Maintenance;
                gh.NativeState = live == false ? "not live" : enabled ? "enabled" : "disabled";
                var resident = vms.Values.Where(v => XapiValue.Str(v, "resident_on") == kv.Key && XenMapping.IsWorkload(v)
                    && (XapiValue.Str(v, "power_state") == "Running" || XapiValue.Str(v, "power_state") == "Paused")).ToList();
                gh.AllocatedCpu = (int)resident.Sum(v => XapiValue.Long(v, "VCPUs_max") ?? 0);
                gh.AllocatedMemoryMB = resident.Sum(v => XenMapping.MB(XapiValue.Long(v, "memory_static_max")) ?? 0);
                gh.Properties["Ref"] = kv.Key;
                gh.Properties["Address"] = XapiValue.Str(h, "address");
                gh.Properties["IsPoolMaster"] = kv.Key == MasterRef;
                var sw = XapiValue.Map(h, "software_version");
                foreach (var key in new[] { "product_brand", "product_version", "build_number", "xapi" })
                    if (sw.TryGetValue(key, out var sv)) gh.Properties["Software_" + key] = XapiValue.AsString(sv);
                gh.Properties["ApiVersion"] = XapiValue.Str(h, "API_version_major") + "." + XapiValue.Str(h, "API_version_minor");
                list.Add(gh);
            }
            return list;
        }

        public Task<IReadOnlyList<GridSize>> ListSizesAsync(CancellationToken cancellationToken)
            => Task.FromResult(SizeCatalog.ToSizes(Datacenter.Name));

        public async Task<IReadOnlyList<GridImage>> ListImagesAsync(IReadOnlyDictionary<string, string> filter, CancellationToken cancellationToken)
        {
            var vms = await XapiAsync(() => _x.GetAllRecordsAsync("VM", cancellationToken), "Listing templates").ConfigureAwait(false);
            return vms.Where(kv => XenMapping.IsImage(kv.Value))
                .Select(kv => XenMapping.Image(Datacenter.Name, kv.Key, kv.Value))
                .OrderBy(i => i.Name, StringComparer.OrdinalIgnoreCase).ToList();
        }

        /// <summary>VM.get_all_records, VM_metrics.get_all_records, VM_guest_metrics.get_all_records and host.get_all_records: four calls whatever the pool size.</summary>
        private async Task<List<GridWorkload>> LoadWorkloadsAsync(CancellationToken ct)
        {
            var vmsT = _x.GetAllRecordsAsync("VM", ct);
            var metricsT = _x.GetAllRecordsAsync("VM_metrics", ct);
            var guestT = _x.GetAllRecordsAsync("VM_guest_metrics", ct);
            var hostsT = HostNamesAsync(ct);
            await XapiAsync(() => Task.WhenAll(vmsT, metricsT, guestT, hostsT), "Listing VMs").ConfigureAwait(false);
            return vmsT.Result.Where(kv => XenMapping.IsWorkload(kv.Value))
                .Select(kv => XenMapping.Workload(Datacenter.Name, kv.Key, kv.Value, metricsT.Result, guestT.Result, hostsT.Result))
                .OrderBy(w => w.Name, StringComparer.OrdinalIgnoreCase).ThenBy(w => w.NativeId, StringComparer.Ordinal).ToList();
        }

        public async IAsyncEnumerable<IReadOnlyList<GridWorkload>> ListWorkloadsAsync(WorkloadQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            var all = await LoadWorkloadsAsync(cancellationToken).ConfigureAwait(false);
            IEnumerable<GridWorkload> sel = all;
            if (query.NativeIds != null && query.NativeIds.Count > 0)
            {
                var ids = new HashSet<string>(query.NativeIds, StringComparer.OrdinalIgnoreCase);
                sel = sel.Where(w => ids.Contains(w.NativeId));
            }
            if (query.States != null && query.States.Count > 0) sel = sel.Where(w => query.States.Contains(w.State));
            int size = Math.Max(1, query.PageSize);
            var page = new List<GridWorkload>(Math.Min(size, 1024));
            foreach (var w in sel)
            {
                page.Add(w);
                if (page.Count >= size) { yield return page; page = new List<GridWorkload>(Math.Min(size, 1024)); }
            }
            if (page.Count > 0) yield return page;
        }

        /// <summary>The VM's ref from its uuid (NotFound when no VM has it, or when it names a template or snapshot).</summary>
        internal async Task<(string Ref, Dictionary<string, object?> Record)> ResolveAsync(string nativeId, CancellationToken ct)
        {
            string id = WorkloadId.Format(Datacenter.Name, nativeId);
            try
            {
                string reference = XapiValue.AsString(await _x.CallAsync("VM.get_by_uuid", ct, nativeId).ConfigureAwait(false)) ?? "";
                var rec = await _x.GetRecordAsync("VM", reference, ct).ConfigureAwait(false);
                if (!XenMapping.IsWorkload(rec)) throw GridException.NotFound($"'{nativeId}' is a template, snapshot or control domain of pool '{PoolName}', not a workload.", "WorkloadNotFound", id);
                return (reference, rec);
            }
            catch (XapiFailure f) when (f.Code == "UUID_INVALID" || f.Code == "HANDLE_INVALID")
            {
                throw new GridException(GridErrorKind.NotFound, $"No VM with uuid '{nativeId}' in pool '{PoolName}' ({Datacenter.Name}).", "WorkloadNotFound") { NativeCode = f.Code, Target = id };
            }
            catch (XapiFailure f) { throw XapiErrors.ToException(f, "Looking up " + nativeId, id); }
        }

        public async Task<GridWorkload> GetWorkloadAsync(string nativeId, CancellationToken cancellationToken)
        {
            var (reference, rec) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            return await ToWorkloadAsync(reference, rec, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>One VM with its metrics, guest metrics and host name (a handful of calls, for one VM only).</summary>
        private async Task<GridWorkload> ToWorkloadAsync(string reference, Dictionary<string, object?> rec, CancellationToken ct)
        {
            return await XapiAsync(async () =>
            {
                var metrics = new Records(StringComparer.Ordinal);
                var guest = new Records(StringComparer.Ordinal);
                var hostNames = new Dictionary<string, string>(StringComparer.Ordinal);
                string? m = XapiValue.Str(rec, "metrics"), g = XapiValue.Str(rec, "guest_metrics"), h = XapiValue.Str(rec, "resident_on");
                if (!XapiValue.IsNullRef(m)) metrics[m!] = await _x.GetRecordAsync("VM_metrics", m!, ct).ConfigureAwait(false);
                if (!XapiValue.IsNullRef(g)) guest[g!] = await _x.GetRecordAsync("VM_guest_metrics", g!, ct).ConfigureAwait(false);
                if (!XapiValue.IsNullRef(h)) hostNames[h!] = XapiValue.AsString(await _x.CallAsync("host.get_name_label", ct, h).ConfigureAwait(false)) ?? h!;
                return XenMapping.Workload(Datacenter.Name, reference, rec, metrics, guest, hostNames);
            }, "Reading VM " + XapiValue.Str(rec, "name_label")).ConfigureAwait(false);
        }

        public async Task DisconnectAsync(CancellationToken cancellationToken)
            => await _x.LogoutAsync(cancellationToken).ConfigureAwait(false);

        public void Dispose()
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                _x.LogoutAsync(cts.Token).GetAwaiter().GetResult();
            }
            catch (Exception) { /* best effort */ }
            _x.Dispose();
        }
    }
}
