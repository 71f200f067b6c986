using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>Inventory: hosts, sizes, images and workloads as the datacenter lists them.</summary>
    internal sealed partial class LibvirtConnection
    {
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
    }
}
