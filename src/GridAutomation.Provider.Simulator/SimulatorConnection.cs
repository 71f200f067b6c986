using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using System.Data.Common;
using static GridAutomation.Providers.Simulator.SimulatorCatalog;
using Row = GridAutomation.Providers.Simulator.SimulatorData.WorkloadRow;

namespace GridAutomation.Providers.Simulator
{
    /// <summary>
    /// A connection to one simulated datacenter. All state is in the state store; state transitions are written
    /// by the changing calls themselves (e.g. Start writes "starting", waits the simulated latency, then writes
    /// "poweredOn"), never as a side effect of a read. Every call first consults the seeded fault schedule and
    /// waits the simulated latency; faults are raised before anything is changed.
    /// </summary>
    public sealed partial class SimulatorConnection : IGridConnection, IValidatesCreate, INetworkCatalog
    {
        private readonly SimulatorData _data;
        private readonly string _dc;
        private readonly Action<string> _verbose;
        private readonly Dictionary<string, SimulatorData.HostRow> _hosts;
        private long _calls;
        private volatile bool _disposed;
        private readonly GridAutomation.Core.Ledger.BillingRule? _billingRule;

        internal SimulatorConnection(GridDatacenter datacenter, SimulatorData data, SimulatorData.DatacenterRow row, SimulatorOptions options, Action<string> verbose)
        {
            Datacenter = datacenter;
            _data = data;
            _dc = row.Name;
            _verbose = verbose;
            Seed = row.Seed;
            LatencyMs = options.LatencyMs ?? row.LatencyMs;
            ActionLog = options.ActionLog;
            _billingRule = options.BillingRule;
            FaultRate = options.FaultRate ?? row.FaultRate;
            FaultSeed = options.FaultSeed ?? row.FaultSeed;
            _hosts = data.Store.Read(c => SimulatorData.ReadHosts(c, _dc)).ToDictionary(h => h.Name, StringComparer.OrdinalIgnoreCase);
            datacenter.Capabilities = Capabilities;
            datacenter.Endpoint = Endpoint;
            datacenter.Status = ConnectionStatus.Connected;
        }

        public GridDatacenter Datacenter { get; }
        public GridCapabilities Capabilities => SimulatorProvider.SimulatorCapabilities;
        public string Endpoint => "sim://" + _dc;
        public bool HandlesOwnRetries => false;

        /// <summary>The datacenter's seed (ids and generated workloads derive from it).</summary>
        public int Seed { get; }
        public int LatencyMs { get; }
        /// <summary>Changing calls are recorded in sim_actions (the server's own log).</summary>
        public bool ActionLog { get; }
        public double FaultRate { get; }
        public int FaultSeed { get; }
        /// <summary>How many calls this connection has served (the position in the fault schedule).</summary>
        public long CallCount => Interlocked.Read(ref _calls);
        /// <summary>How long a simulated timeout waits before failing.</summary>
        public static readonly TimeSpan SimulatedTimeout = TimeSpan.FromMilliseconds(250);
        public static readonly TimeSpan ThrottleRetryAfter = TimeSpan.FromSeconds(1);

        // ---- call prologue: fault schedule and latency --------------------------------------------------------------

        private async Task EnterAsync(string what, CancellationToken ct)
        {
            if (_disposed) throw GridException.Unavailable($"The connection to simulated datacenter '{_dc}' is closed.", null, "NotConnected");
            ct.ThrowIfCancellationRequested();
            long n = Interlocked.Increment(ref _calls) - 1;
            var fault = SimulatorFaults.Decide(FaultSeed, FaultRate, n);
            if (LatencyMs > 0) await Task.Delay(LatencyMs, ct).ConfigureAwait(false);
            switch (fault)
            {
                case SimulatedFault.Unavailable:
                    throw new GridException(GridErrorKind.Unavailable, $"Simulated datacenter '{_dc}' is unavailable (simulated fault on call {n}: {what}).", "SimulatedUnavailable") { NativeCode = "SIM-503", Target = _dc };
                case SimulatedFault.Throttled:
                    throw new GridException(GridErrorKind.Throttled, $"Simulated datacenter '{_dc}' throttled the request (simulated fault on call {n}: {what}); retry after {ThrottleRetryAfter.TotalSeconds:0} s.", "SimulatedThrottled")
                    { NativeCode = "SIM-429", RetryAfter = ThrottleRetryAfter, Target = _dc };
                case SimulatedFault.Timeout:
                    await Task.Delay(SimulatedTimeout, ct).ConfigureAwait(false);
                    throw new GridException(GridErrorKind.Unavailable, $"The call to simulated datacenter '{_dc}' timed out after {SimulatedTimeout.TotalMilliseconds:0} ms (simulated fault on call {n}: {what}).", "SimulatedTimeout") { NativeCode = "SIM-TIMEOUT", Target = _dc };
            }
        }

        /// <summary>Waits the simulated duration of a state transition. The "server" finishes a transition it started even if the caller cancels.</summary>
        private Task TransitionDelayAsync() => LatencyMs > 0 ? Task.Delay(LatencyMs) : Task.CompletedTask;

        private T Write<T>(Func<IStateSession, T> work) => _data.Store.Write(work);
        private T Read<T>(Func<IStateSession, T> work) => _data.Store.Read(work);

        // ---- inventory ------------------------------------------------------------------------------------------

        public async Task<IReadOnlyList<GridHost>> ListHostsAsync(CancellationToken cancellationToken)
        {
            await EnterAsync("ListHosts", cancellationToken).ConfigureAwait(false);
            return Read(c =>
            {
                var hosts = SimulatorData.ReadHosts(c, _dc);
                var alloc = SimulatorData.ReadAllocation(c, _dc);
                return (IReadOnlyList<GridHost>)hosts.Select(h =>
                {
                    alloc.TryGetValue(h.Name, out var a);
                    return new GridHost
                    {
                        Datacenter = Datacenter.Name, Name = h.Name, NativeId = h.NativeId, Cluster = h.Cluster,
                        State = h.State == "connected" ? HostState.Connected : h.State == "maintenance" ? HostState.Maintenance : HostState.Down,
                        NativeState = h.State, CpuCores = h.Cpu, MemoryMB = h.MemoryMB, AllocatedCpu = (int)a.cpu, AllocatedMemoryMB = a.mem,
                    };
                }).ToList();
            });
        }

        public async Task<IReadOnlyList<GridSize>> ListSizesAsync(CancellationToken cancellationToken)
        {
            await EnterAsync("ListSizes", cancellationToken).ConfigureAwait(false);
            return Sizes.Select(s => new GridSize { Datacenter = Datacenter.Name, Name = s.Name, CpuCount = s.Cpu, MemoryMB = s.MemoryMB, PricePerHour = s.PricePerHour, Currency = Currency }).ToList();
        }

        public async Task<IReadOnlyList<GridImage>> ListImagesAsync(IReadOnlyDictionary<string, string> filter, CancellationToken cancellationToken)
        {
            await EnterAsync("ListImages", cancellationToken).ConfigureAwait(false);
            IEnumerable<ImageSpec> images = Images;
            if (filter != null)
            {
                if (filter.TryGetValue("OsType", out var os) && !string.IsNullOrEmpty(os)) images = images.Where(i => string.Equals(i.OsType, os, StringComparison.OrdinalIgnoreCase));
                if (filter.TryGetValue("Name", out var n) && !string.IsNullOrEmpty(n)) images = images.Where(i => string.Equals(i.Name, n, StringComparison.OrdinalIgnoreCase));
            }
            return images.Select(i => new GridImage { Datacenter = Datacenter.Name, Name = i.Name, NativeId = "sim-image:" + i.Name, OsType = i.OsType, Description = i.Description, SizeGB = i.SizeGB }).ToList();
        }

        public async IAsyncEnumerable<IReadOnlyList<GridWorkload>> ListWorkloadsAsync(WorkloadQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            query ??= new WorkloadQuery();
            int pageSize = Math.Max(1, Math.Min(10000, query.PageSize <= 0 ? 1000 : query.PageSize));
            var where = new StringBuilder("datacenter = @dc AND seq > @after");
            var args = new List<(string, object)>();
            // SQLite's LIKE folds ASCII case; PostgreSQL's LIKE does not, its ILIKE does.
            if (query.NamePatterns != null && query.NamePatterns.Count > 0 && query.NamePatterns.All(CanPushDown))
            {
                where.Append(" AND (");
                for (int i = 0; i < query.NamePatterns.Count; i++)
                {
                    if (i > 0) where.Append(" OR ");
                    where.Append(_data.Store.Backend == StateBackend.PostgreSql ? "name ILIKE @np" : "name LIKE @np").Append(i).Append(" ESCAPE '\\'");
                    args.Add(("@np" + i, WildcardToLike(query.NamePatterns[i])));
                }
                where.Append(')');
            }
            if (query.NativeIds != null && query.NativeIds.Count > 0 && query.NativeIds.Count <= 500) // more: the engine filters
            {
                where.Append(" AND native_id IN (").Append(string.Join(",", query.NativeIds.Select((_, i) => "@id" + i))).Append(')');
                for (int i = 0; i < query.NativeIds.Count; i++) args.Add(("@id" + i, query.NativeIds[i]));
            }
            if (query.States != null && query.States.Count > 0)
            {
                var natives = NativeStatesFor(query.States);
                if (natives.Count == 0) yield break; // e.g. only Deleted/Deallocated: the simulator never has such workloads
                where.Append(" AND state IN (").Append(string.Join(",", natives.Select((_, i) => "@st" + i))).Append(')');
                for (int i = 0; i < natives.Count; i++) args.Add(("@st" + i, natives[i]));
            }
            string sql = "SELECT " + SimulatorData.ReadColumns + " FROM sim_workloads WHERE " + where + " ORDER BY seq LIMIT @limit";

            // A store query reads several pages at once on PostgreSQL (each query is a round trip to another process;
            // SQLite's are in-process calls): up to 10,000 rows, handed out a page at a time.
            int batch = _data.Store.Backend == StateBackend.PostgreSql ? pageSize * Math.Max(1, 10000 / pageSize) : pageSize;
            var buffer = new Queue<GridWorkload>();
            bool exhausted = false;
            long after = 0;
            bool first = true;
            while (true)
            {
                // One simulated "server round trip" per page: the fault schedule applies to the listing call, latency to every page.
                if (first) await EnterAsync("ListWorkloads", cancellationToken).ConfigureAwait(false);
                else
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (LatencyMs > 0) await Task.Delay(LatencyMs, cancellationToken).ConfigureAwait(false);
                }
                first = false;
                if (buffer.Count == 0 && !exhausted)
                {
                    long from = after;
                    var rows = Read(c =>
                    {
                        using var cmd = c.Command("");
                        cmd.CommandText = sql;
                        cmd.Bind("@dc", _dc);
                        cmd.Bind("@after", from);
                        cmd.Bind("@limit", batch);
                        foreach (var (n, v) in args) cmd.Bind(n, v);
                        var list = new List<GridWorkload>(Math.Min(batch, 10000));
                        using var r = cmd.ExecuteReader();
                        while (r.Read()) list.Add(ToWorkload(SimulatorData.ReadRow(r)));
                        return list;
                    });
                    exhausted = rows.Count < batch;
                    if (rows.Count > 0) after = (long)rows[rows.Count - 1].Properties["Seq"]!;
                    foreach (var w in rows) buffer.Enqueue(w);
                }
                if (buffer.Count == 0) yield break;
                var page = new List<GridWorkload>(Math.Min(pageSize, buffer.Count));
                while (page.Count < pageSize && buffer.Count > 0) page.Add(buffer.Dequeue());
                yield return page;
                if (buffer.Count == 0 && exhausted) yield break;
            }
        }

        /// <summary>SQLite's LIKE folds case for ASCII only, and knows no [set] or escape: push down only where no match can be lost.</summary>
        /// A '*' only at the start and/or the end: SQLite's LIKE backtracks over every '%', and a '%' in the middle
        /// could make it quadratic or worse on long names; the engine's linear matcher handles those patterns.
        private static bool CanPushDown(string pattern)
            => pattern.IndexOf('[') < 0 && pattern.IndexOf('`') < 0 && pattern.All(ch => ch < 128)
               && pattern.Trim('*').IndexOf('*') < 0;

        private static string WildcardToLike(string pattern)
        {
            var sb = new StringBuilder(pattern.Length + 4);
            foreach (char ch in pattern)
            {
                if (ch == '*') sb.Append('%');
                else if (ch == '?') sb.Append('_');
                else if (ch == '%' || ch == '_' || ch == '\\') sb.Append('\\').Append(ch);
                else sb.Append(ch);
            }
            return sb.ToString();
        }

        public async Task<GridWorkload> GetWorkloadAsync(string nativeId, CancellationToken cancellationToken)
        {
            await EnterAsync("GetWorkload", cancellationToken).ConfigureAwait(false);
            var row = Read(c => SimulatorData.FindByNativeId(c, _dc, nativeId ?? ""));
            if (row == null) throw WorkloadNotFound(nativeId);
            return ToWorkload(row);
        }

        private GridWorkload ToWorkload(Row w)
        {
            _hosts.TryGetValue(w.Host, out var host);
            var size = FindSize(w.Size);
            var image = FindImage(w.Image);
            bool consumes = Consumes(w.State);
            var g = new GridWorkload
            {
                Id = WorkloadId.Format(Datacenter.Name, w.NativeId),
                NativeId = w.NativeId,
                Name = w.Name,
                Datacenter = Datacenter.Name,
                Provider = SimulatorProvider.ProviderName,
                Host = w.Host,
                Cluster = host?.Cluster,
                State = Normalize(w.State),
                NativeState = w.State,
                ComputeBilled = _billingRule != null ? _billingRule.IsBilled(Normalize(w.State)) : consumes,
                CpuCount = w.Cpu,
                MemoryMB = w.MemoryMB,
                Size = w.Size,
                Image = w.Image,
                Disks = SimulatorData.DisksFor(w.NativeId, w.DiskGB),
                CreatedTime = DateTimeOffset.FromUnixTimeMilliseconds(w.CreatedMs),
            };
            if (w.State == PoweredOn) g.IPAddresses.Add(IpFor(w.Seq));
            SimulatorData.ParseTags(w.Tags, g.Tags);
            g.Properties["Seq"] = w.Seq;
            g.Properties["HostNativeId"] = host?.NativeId;
            g.Properties["UpdatedTime"] = w.UpdatedMs == w.CreatedMs ? g.CreatedTime : DateTimeOffset.FromUnixTimeMilliseconds(w.UpdatedMs);
            g.Properties["OsType"] = image?.OsType;
            g.Properties["PricePerHour"] = size?.PricePerHour;
            g.Properties["IdempotencyKey"] = w.IdempotencyKey;
            g.Properties["Network"] = w.Network;
            return g;
        }

        private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        private static string IpFor(long seq)
            => "10." + ((seq >> 16) & 0xFF).ToString(CultureInfo.InvariantCulture) + "." + ((seq >> 8) & 0xFF).ToString(CultureInfo.InvariantCulture) + "." + (seq & 0xFF).ToString(CultureInfo.InvariantCulture);

        // ---- errors ---------------------------------------------------------------------------------------------

        private GridException WorkloadNotFound(string? nativeId)
            => GridException.NotFound($"No workload with id '{nativeId}' in simulated datacenter '{Datacenter.Name}'.", "WorkloadNotFound", WorkloadId.Format(Datacenter.Name, nativeId ?? ""));

        private GridException HostNotFound(string host)
            => GridException.NotFound($"No host '{host}' in simulated datacenter '{Datacenter.Name}'. Hosts: {string.Join(", ", _hosts.Keys.OrderBy(k => k, StringComparer.OrdinalIgnoreCase))}.", "HostNotFound", host);

        private GridException Conflict(Row w, string doing, string errorId)
            => GridException.Conflict($"Cannot {doing} workload '{w.Name}' ({w.NativeId}) while it is {w.State}.", errorId, WorkloadId.Format(Datacenter.Name, w.NativeId));

        private Row Load(IStateSession c, string nativeId)
            => SimulatorData.FindByNativeId(c, _dc, nativeId ?? "") ?? throw WorkloadNotFound(nativeId);

        private void SetState(IStateSession c, Row w, string state)
        {
            SimulatorData.Exec(c, "UPDATE sim_workloads SET state = @s, consumes = @cons, updated_ms = @t WHERE datacenter = @dc AND seq = @seq",
                ("@s", state), ("@cons", Consumes(state) ? 1 : 0), ("@t", NowMs()), ("@dc", _dc), ("@seq", w.Seq));
            w.State = state;
        }

        /// <summary>Moves a workload from <paramref name="from"/> to <paramref name="to"/> only if no other call changed it meanwhile.</summary>
        private bool CompleteTransition(string nativeId, string from, string to)
            => Write(c =>
            {
                var w = SimulatorData.FindByNativeId(c, _dc, nativeId);
                if (w == null || w.State != from) return false;
                SetState(c, w, to);
                return true;
            });

        // ---- capacity ---------------------------------------------------------------------------------------------

        /// <summary>
        /// Throws ResourceUnavailable "InsufficientCapacity" unless <paramref name="cpu"/>/<paramref name="memMB"/> fit on
        /// <paramref name="host"/> (or, when null, on some host; returns the best one). <paramref name="running"/>: the
        /// workload will hold resources (check free capacity), else only the host's total size must allow it.
        /// <paramref name="self"/> is excluded from the allocation (resize, or a move of the same workload).
        /// </summary>
        private string PlaceOrThrow(IStateSession c, int cpu, long memMB, bool running, string? host, Row? self)
        {
            var hosts = SimulatorData.ReadHosts(c, _dc).Where(h => h.State == "connected").ToList();
            var alloc = running ? SimulatorData.ReadAllocation(c, _dc) : new Dictionary<string, (long cpu, long mem)>(StringComparer.OrdinalIgnoreCase);
            var free = hosts.Select(h =>
            {
                alloc.TryGetValue(h.Name, out var a);
                long fc = h.Cpu - a.cpu, fm = h.MemoryMB - a.mem;
                if (self != null && self.Consumes && running && string.Equals(self.Host, h.Name, StringComparison.OrdinalIgnoreCase)) { fc += self.Cpu; fm += self.MemoryMB; }
                return (host: h, cpu: fc, mem: fm);
            }).ToList();
            var candidates = host == null ? free : free.Where(f => string.Equals(f.host.Name, host, StringComparison.OrdinalIgnoreCase)).ToList();
            var fit = candidates.Where(f => f.cpu >= cpu && f.mem >= memMB)
                                .OrderByDescending(f => f.mem).ThenByDescending(f => f.cpu).ThenBy(f => f.host.Name, StringComparer.OrdinalIgnoreCase)
                                .FirstOrDefault();
            if (fit.host != null) return fit.host.Name;

            string scope = host == null ? "on any host" : "on host '" + host + "'";
            string kind = running ? "free" : "in total";
            var bestCpu = candidates.OrderByDescending(f => f.cpu).FirstOrDefault();
            var bestMem = candidates.OrderByDescending(f => f.mem).FirstOrDefault();
            bool cpuShort = candidates.All(f => f.cpu < cpu), memShort = candidates.All(f => f.mem < memMB);
            string missing = cpuShort && memShort ? "CPU and memory" : cpuShort ? "CPU" : memShort ? "memory" : "CPU and memory on the same host";
            string msg = $"Insufficient capacity in simulated datacenter '{Datacenter.Name}': not enough {missing} {scope} for {cpu} vCPU and {memMB} MB memory. " +
                         $"The most CPU {kind} on any candidate host is {Math.Max(0, bestCpu.cpu)} vCPU ({bestCpu.host?.Name}), the most memory {kind} is {Math.Max(0, bestMem.mem)} MB ({bestMem.host?.Name}).";
            throw new GridException(GridErrorKind.ResourceUnavailable, msg, "InsufficientCapacity") { Target = host ?? Datacenter.Name, NativeCode = "SIM-CAPACITY" };
        }

        // ---- changes ------------------------------------------------------------------------------------------

        public async Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            string key = !string.IsNullOrEmpty(request.IdempotencyKey) ? request.IdempotencyKey : scope?.IdempotencyKey ?? "";
            if (string.IsNullOrEmpty(key)) throw GridException.InvalidRequest("A create needs an idempotency key.", "IdempotencyKeyMissing");
            var (cpu, mem, sizeName, image) = CheckCreate(request);
            string network = CreateNetwork(request);

            await EnterAsync("CreateWorkload", cancellationToken).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            bool powerOn = request.PowerOn;
            var (row, created) = Write(c =>
            {
                var existing = SimulatorData.FindByKey(c, _dc, key);
                if (existing != null)
                {
                    if (!string.Equals(existing.Name, request.Name, StringComparison.Ordinal))
                        throw GridException.Conflict($"The idempotency key '{key}' was already used to create workload '{existing.Name}', not '{request.Name}'.", "IdempotencyKeyMismatch", key);
                    return (existing, false);
                }
                string host = PlaceOrThrow(c, cpu, mem, powerOn, request.TargetHost, null);
                long seq = SimulatorData.NextId(c, _dc);
                string id = NativeIdFor(_dc, Seed, seq);
                long now = NowMs();
                var w = new Row
                {
                    Seq = seq, NativeId = id, Name = request.Name, Host = host, State = Provisioning, Consumes = powerOn, Cpu = cpu, MemoryMB = mem,
                    Size = sizeName, Image = image?.Name, Tags = SimulatorData.TagsJson(request.Tags), DiskGB = image?.SizeGB ?? BlankDiskGB,
                    IdempotencyKey = key, CreatedMs = now, UpdatedMs = now, Network = network,
                };
                SimulatorData.Exec(c, "INSERT INTO sim_workloads(datacenter, " + SimulatorData.WorkloadColumns + ", network) VALUES(@dc,@seq,@id,@name,@host,@state,@cons,@cpu,@mem,@size,@image,@tags,@disk,@key,@t,@t,@net)",
                    ("@dc", _dc), ("@seq", seq), ("@id", id), ("@name", w.Name), ("@host", host), ("@state", Provisioning), ("@cons", powerOn ? 1 : 0),
                    ("@cpu", cpu), ("@mem", mem), ("@size", sizeName), ("@image", image?.Name), ("@tags", w.Tags), ("@disk", w.DiskGB), ("@key", key), ("@t", now), ("@net", network));
                return (w, true);
            });
            if (created && request.Options.TryGetValue("ImportedDisk", out var imported)) ApplyImportedDisk(row, imported);
            if (created) _verbose($"Simulator: created '{row.Name}' ({row.NativeId}) on {row.Host} in '{Datacenter.Name}'.");
            if (row.State == Provisioning)
            {
                // a new create, or one interrupted earlier: finish provisioning (reserved = it was asked to power on)
                await TransitionDelayAsync().ConfigureAwait(false);
                CompleteTransition(row.NativeId, Provisioning, row.Consumes ? PoweredOn : PoweredOff);
            }
            var final = Read(c => SimulatorData.FindByNativeId(c, _dc, row.NativeId)) ?? throw WorkloadNotFound(row.NativeId);
            return ToWorkload(final);
        }

        /// <summary>The catalog's refusals of a create (no call, no fault, no latency): the engine asks before it journals.</summary>
        public Task ValidateCreateAsync(CreateWorkloadRequest request, CancellationToken cancellationToken)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            cancellationToken.ThrowIfCancellationRequested();
            CheckCreate(request);
            return Task.CompletedTask;
        }

        private (int cpu, long mem, string? size, ImageSpec? image) CheckCreate(CreateWorkloadRequest request)
        {
            NameRules.ValidateWorkloadName(request.Name);
            var (cpu, mem, sizeName) = ResolveShape(request.Size, request.CpuCount, request.MemoryMB, null);
            ImageSpec? image = null;
            if (!string.IsNullOrEmpty(request.Image))
                image = FindImage(request.Image) ?? throw GridException.NotFound($"No image '{request.Image}' in simulated datacenter '{Datacenter.Name}'. Images: {string.Join(", ", Images.Select(i => i.Name))}.", "ImageNotFound", request.Image);
            if (request.TargetHost != null && !_hosts.ContainsKey(request.TargetHost)) throw HostNotFound(request.TargetHost);
            NameRules.ValidateTags(request.Tags, request.Name);
            CreateNetwork(request);
            return (cpu, mem, sizeName, image);
        }

        private (int cpu, long mem, string? size) ResolveShape(string? size, int? cpuCount, long? memoryMB, Row? current)
        {
            if (!string.IsNullOrEmpty(size))
            {
                var s = FindSize(size) ?? throw GridException.InvalidRequest($"No size '{size}' in simulated datacenter '{Datacenter.Name}'. Sizes: {string.Join(", ", Sizes.Select(x => x.Name))}.", "SizeNotFound", size);
                if ((cpuCount.HasValue && cpuCount != s.Cpu) || (memoryMB.HasValue && memoryMB != s.MemoryMB))
                    throw GridException.InvalidRequest($"Size '{s.Name}' is {s.Cpu} vCPU / {s.MemoryMB} MB; do not also give a different CPU count or memory.", "ConflictingShape", size);
                return (s.Cpu, s.MemoryMB, s.Name);
            }
            if (cpuCount.HasValue && cpuCount <= 0) throw GridException.InvalidRequest($"CPU count must be positive (got {cpuCount}).", "InvalidCpuCount", cpuCount);
            if (memoryMB.HasValue && memoryMB <= 0) throw GridException.InvalidRequest($"Memory must be positive (got {memoryMB} MB).", "InvalidMemory", memoryMB);
            if (!cpuCount.HasValue && !memoryMB.HasValue)
            {
                if (current != null) throw GridException.InvalidRequest("A resize needs a size, a CPU count or a memory size.", "InvalidResize");
                var d = FindSize(DefaultSize)!;
                return (d.Cpu, d.MemoryMB, d.Name);
            }
            var baseSize = current == null ? FindSize(DefaultSize)! : null;
            int cpu = cpuCount ?? current?.Cpu ?? baseSize!.Cpu;
            long mem = memoryMB ?? current?.MemoryMB ?? baseSize!.MemoryMB;
            var match = Sizes.FirstOrDefault(s => s.Cpu == cpu && s.MemoryMB == mem);
            return (cpu, mem, match?.Name);
        }

        private static void ValidateTagKey(string key)
        {
            if (string.IsNullOrWhiteSpace(key)) throw GridException.InvalidRequest("A tag key cannot be empty.", "InvalidTag", key);
        }

        private async Task CoreStartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            await EnterAsync("Start", cancellationToken).ConfigureAwait(false);
            var (from, to) = Write<(string?, string?)>(c =>
            {
                var w = Load(c, nativeId);
                switch (w.State)
                {
                    case PoweredOn: return (null, null);
                    case PoweredOff:
                    case Provisioning:
                        PlaceOrThrow(c, w.Cpu, w.MemoryMB, true, w.Host, w);
                        SetState(c, w, Starting);
                        return (Starting, PoweredOn);
                    case Suspended:
                        PlaceOrThrow(c, w.Cpu, w.MemoryMB, true, w.Host, w);
                        SetState(c, w, Resuming);
                        return (Resuming, PoweredOn);
                    case Paused:
                        SetState(c, w, Resuming); // unpause: the memory and host capacity were never released
                        return (Resuming, PoweredOn);
                    case Starting: case Resuming: case Restarting: case Stopping: case Suspending:
                        // finish a transition left by another (possibly interrupted) call; resources are already held
                        SetState(c, w, Starting);
                        return (Starting, PoweredOn);
                    default: throw Conflict(w, "start", "WorkloadBusy");
                }
            });
            if (from == null) return;
            await TransitionDelayAsync().ConfigureAwait(false);
            CompleteTransition(nativeId, from, to!);
        }

        private async Task CoreStopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (mode == StopMode.Deallocate)
                throw GridException.Unsupported($"Simulated datacenter '{Datacenter.Name}' cannot deallocate (it is on-premises-like: a stopped workload keeps its placement). Use Stop without -Deallocate.", "CapabilityNotSupported", Datacenter.Name);
            await EnterAsync("Stop", cancellationToken).ConfigureAwait(false);
            bool hard = mode == StopMode.TurnOff;
            var from = Write(c =>
            {
                var w = Load(c, nativeId);
                switch (w.State)
                {
                    case PoweredOff: return null;
                    case Suspended: case Provisioning:
                        SetState(c, w, PoweredOff); // powering off a suspended workload discards its saved memory
                        return null;
                    case Paused:
                        if (hard) { SetState(c, w, PoweredOff); return null; }
                        throw GridException.Conflict($"Workload '{w.Name}' is paused: a paused guest cannot shut down gracefully. Start (resume) it first, or use -TurnOff.", "WorkloadPaused", WorkloadId.Format(Datacenter.Name, w.NativeId));
                    case PoweredOn: case Starting: case Resuming: case Restarting: case Suspending: case Stopping:
                        if (hard) { SetState(c, w, PoweredOff); return null; }
                        SetState(c, w, Stopping);
                        return Stopping;
                    default: throw Conflict(w, "stop", "WorkloadBusy");
                }
            });
            if (from == null) return;
            await TransitionDelayAsync().ConfigureAwait(false);
            CompleteTransition(nativeId, from, PoweredOff);
        }

        private async Task CoreRestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            await EnterAsync("Restart", cancellationToken).ConfigureAwait(false);
            Write(c =>
            {
                var w = Load(c, nativeId);
                if (w.State == PoweredOn || w.State == Starting || w.State == Resuming || w.State == Restarting) { SetState(c, w, Restarting); return 0; }
                throw Conflict(w, "restart", "WorkloadNotRunning");
            });
            await TransitionDelayAsync().ConfigureAwait(false);
            CompleteTransition(nativeId, Restarting, PoweredOn);
        }

        private async Task CoreSuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            await EnterAsync("Suspend", cancellationToken).ConfigureAwait(false);
            bool act = Write(c =>
            {
                var w = Load(c, nativeId);
                switch (w.State)
                {
                    case Suspended: return false;
                    case PoweredOn: case Starting: case Resuming: case Restarting: case Suspending: case Paused:
                        SetState(c, w, Suspending);
                        return true;
                    case PoweredOff: case Provisioning: throw Conflict(w, "suspend", "WorkloadNotRunning");
                    default: throw Conflict(w, "suspend", "WorkloadBusy");
                }
            });
            if (!act) return;
            await TransitionDelayAsync().ConfigureAwait(false);
            CompleteTransition(nativeId, Suspending, Suspended);
        }

        private async Task CoreRemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
        {
            await EnterAsync("Remove", cancellationToken).ConfigureAwait(false);
            Write(c =>
            {
                var w = Load(c, nativeId);
                SetState(c, w, Deleting); // releases its host resources
                return 0;
            });
            await TransitionDelayAsync().ConfigureAwait(false);
            Write(c =>
            {
                var w = SimulatorData.FindByNativeId(c, _dc, nativeId);
                if (w == null) return 0;
                if (!removeStorage)
                {
                    string now = StateStore.FormatTime(DateTimeOffset.UtcNow);
                    foreach (var d in SimulatorData.DisksFor(w.NativeId, w.DiskGB))
                        SimulatorData.Exec(c, "INSERT INTO sim_detached_disks(datacenter, disk_id, name, size_gb, from_workload, from_name, detached_at) VALUES(@dc,@id,@n,@gb,@w,@wn,@t) ON CONFLICT(datacenter, disk_id) DO UPDATE SET name = excluded.name, size_gb = excluded.size_gb, from_workload = excluded.from_workload, from_name = excluded.from_name, detached_at = excluded.detached_at",
                            ("@dc", _dc), ("@id", d.NativeId ?? (w.NativeId + "-" + d.Name)), ("@n", d.Name), ("@gb", d.SizeGB), ("@w", w.NativeId), ("@wn", w.Name), ("@t", now));
                }
                SimulatorData.Exec(c, "DELETE FROM sim_workloads WHERE datacenter = @dc AND seq = @seq", ("@dc", _dc), ("@seq", w.Seq));
                return 0;
            });
            _verbose($"Simulator: removed {nativeId} from '{Datacenter.Name}'" + (removeStorage ? " with its disks." : "; its disks were kept (detached)."));
        }

        /// <summary>Disks kept (detached) by removes without RemoveStorage: (disk id, name, size GB, from workload name).</summary>
        public IReadOnlyList<GridDisk> ListDetachedDisks()
            => Read(c =>
            {
                using var cmd = c.Command("");
                cmd.CommandText = "SELECT disk_id, name, size_gb FROM sim_detached_disks WHERE datacenter = @dc ORDER BY detached_at, disk_id";
                cmd.Bind("@dc", _dc);
                using var r = cmd.ExecuteReader();
                var list = new List<GridDisk>();
                while (r.Read()) list.Add(new GridDisk { NativeId = r.GetString(0), Name = r.IsDBNull(1) ? "" : r.GetString(1), SizeGB = r.IsDBNull(2) ? null : r.GetDouble(2) });
                return (IReadOnlyList<GridDisk>)list;
            });

        private async Task CoreResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            await EnterAsync("Resize", cancellationToken).ConfigureAwait(false);
            var restart = Write(c =>
            {
                var w = Load(c, nativeId);
                var (cpu, mem, size) = ResolveShape(request.Size, request.CpuCount, request.MemoryMB, w);
                bool running = Consumes(w.State);
                if (w.State == Provisioning || w.State == Deleting || w.State == Stopping || w.State == Suspending)
                    throw Conflict(w, "resize", "WorkloadBusy");
                if (running && !request.AllowRestart)
                    throw GridException.Conflict($"Workload '{w.Name}' is running; the simulator resizes only a stopped workload. Stop it first, or allow a restart (Set-GridWorkload -Restart).", "ResizeRequiresRestart", WorkloadId.Format(Datacenter.Name, w.NativeId));
                PlaceOrThrow(c, cpu, mem, running, w.Host, w);
                SimulatorData.Exec(c, "UPDATE sim_workloads SET cpu = @cpu, memory_mb = @mem, size = @size, updated_ms = @t WHERE datacenter = @dc AND seq = @seq",
                    ("@cpu", cpu), ("@mem", mem), ("@size", size), ("@t", NowMs()), ("@dc", _dc), ("@seq", w.Seq));
                if (running) SetState(c, w, Restarting); // stop, resize, start: resources were re-checked for the new shape
                return running;
            });
            if (!restart) return;
            await TransitionDelayAsync().ConfigureAwait(false);
            CompleteTransition(nativeId, Restarting, PoweredOn);
        }

        private async Task CoreSetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (tags == null) throw new ArgumentNullException(nameof(tags));
            foreach (var k in tags.Keys) ValidateTagKey(k);
            await EnterAsync("SetTags", cancellationToken).ConfigureAwait(false);
            Write(c =>
            {
                var w = Load(c, nativeId);
                var current = SimulatorData.TagsDictionary(w.Tags);
                foreach (var kv in tags)
                {
                    if (kv.Value == null) current.Remove(kv.Key);
                    else current[kv.Key] = kv.Value;
                }
                SimulatorData.Exec(c, "UPDATE sim_workloads SET tags = @tags, updated_ms = @t WHERE datacenter = @dc AND seq = @seq",
                    ("@tags", SimulatorData.TagsJson(current)), ("@t", NowMs()), ("@dc", _dc), ("@seq", w.Seq));
                return 0;
            });
        }

        private async Task CoreMoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (string.IsNullOrEmpty(destinationHost) || !_hosts.TryGetValue(destinationHost, out var dest)) throw HostNotFound(destinationHost ?? "");
            await EnterAsync("Move", cancellationToken).ConfigureAwait(false);
            // validate first (nothing written), then record the intent, then act
            var w0 = Read(c => SimulatorData.FindByNativeId(c, _dc, nativeId)) ?? throw WorkloadNotFound(nativeId);
            if (string.Equals(w0.Host, dest.Name, StringComparison.OrdinalIgnoreCase)) return;
            if (w0.State != PoweredOn && w0.State != PoweredOff && w0.State != Suspended && w0.State != Paused) throw Conflict(w0, "move", "WorkloadBusy");
            scope?.Checkpoint("Move.Source", w0.Host);
            scope?.Checkpoint("Move.Destination", dest.Name);
            Write(c =>
            {
                var w = Load(c, nativeId);
                PlaceOrThrow(c, w.Cpu, w.MemoryMB, Consumes(w.State), dest.Name, null); // reserve check on the destination
                return 0;
            });
            // live migration: the workload keeps running on the source while memory is copied
            await TransitionDelayAsync().ConfigureAwait(false);
            Write(c =>
            {
                var w = Load(c, nativeId);
                if (string.Equals(w.Host, dest.Name, StringComparison.OrdinalIgnoreCase)) return 0;
                if (w.State != PoweredOn && w.State != PoweredOff && w.State != Suspended && w.State != Paused) throw Conflict(w, "move", "WorkloadBusy");
                PlaceOrThrow(c, w.Cpu, w.MemoryMB, Consumes(w.State), dest.Name, null);
                SimulatorData.Exec(c, "UPDATE sim_workloads SET host = @h, updated_ms = @t WHERE datacenter = @dc AND seq = @seq",
                    ("@h", dest.Name), ("@t", NowMs()), ("@dc", _dc), ("@seq", w.Seq));
                return 0;
            });
            _verbose($"Simulator: moved {nativeId} from {w0.Host} to {dest.Name} ({(Consumes(w0.State) ? "live" : "cold")}).");
        }

        /// <summary>A move that does not overwrite the operation's checkpoints (used to roll a move back).</summary>
        private Task MoveWithoutCheckpointAsync(string nativeId, string host, CancellationToken ct)
            => MoveAsync(nativeId, host, null!, ct);

        public async Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (operation == null) throw new ArgumentNullException(nameof(operation));
            string? nativeId = WorkloadId.TryParse(operation.Target, out _, out var n) ? n : null;
            if (string.Equals(operation.Kind, "Move", StringComparison.OrdinalIgnoreCase) && nativeId != null && scope != null)
            {
                if (operation.RollbackRequested && scope.Checkpoints.TryGetValue("Move.Source", out var source))
                {
                    // undo: put it back where it was (a no-op when the interrupted move never switched hosts)
                    var w = Read(c => SimulatorData.FindByNativeId(c, _dc, nativeId)) ?? throw WorkloadNotFound(nativeId);
                    if (!string.Equals(w.Host, source, StringComparison.OrdinalIgnoreCase))
                        await MoveWithoutCheckpointAsync(nativeId, source, cancellationToken).ConfigureAwait(false);
                    return false;
                }
                if (!operation.RollbackRequested && scope.Checkpoints.TryGetValue("Move.Destination", out var dest))
                {
                    await MoveAsync(nativeId, dest, scope, cancellationToken).ConfigureAwait(false);
                    return true;
                }
            }
            throw GridException.Unsupported($"The simulator has no special resume for '{operation.Kind}'; re-run it (its operations are idempotent).", "ResumeNotSupported", operation.Id);
        }

        public Task DisconnectAsync(CancellationToken cancellationToken)
        {
            Datacenter.Status = ConnectionStatus.Disconnected;
            _disposed = true;
            return Task.CompletedTask;
        }

        public void Dispose() { _disposed = true; }
    }
}
