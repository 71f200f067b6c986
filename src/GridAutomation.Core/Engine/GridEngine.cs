using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Engine
{
    /// <summary>
    /// The one entry point the cmdlets call. Holds the state store, the journal, the retry policy and the live
    /// connections of this process. Cmdlets bind parameters, call one method here and write what comes back.
    /// </summary>
    public sealed partial class GridEngine : IDisposable
    {
        private static readonly ConcurrentDictionary<string, GridEngine> Engines = new ConcurrentDictionary<string, GridEngine>(StringComparer.Ordinal);
        /// <summary>Secrets given to Connect-GridDatacenter, per state file and datacenter, for this process only (never persisted).</summary>
        private static readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, object>> SessionSecrets = new ConcurrentDictionary<string, IReadOnlyDictionary<string, object>>(StringComparer.OrdinalIgnoreCase);

        private readonly ConcurrentDictionary<string, Lazy<Task<IGridConnection>>> _connections = new ConcurrentDictionary<string, Lazy<Task<IGridConnection>>>(StringComparer.OrdinalIgnoreCase);
        private readonly ConcurrentDictionary<string, string> _connectionErrors = new ConcurrentDictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        private DatacenterRepository _datacenters = null!;
        private RetryPolicy _retry = null!;
        /// <summary>The observer of the call in whose flow a retry happens (flows into the fan-out tasks and awaits).</summary>
        private static readonly AsyncLocal<IEngineObserver?> CallObserver = new AsyncLocal<IEngineObserver?>();

        private GridEngine() { }

        /// <summary>
        /// The engine for this process and configuration (cached per state path). <paramref name="readOnly"/> (under
        /// -WhatIf) gives an engine whose store refuses every write transaction and whose changing methods throw.
        /// </summary>
        public static GridEngine Get(GridConfiguration configuration, bool readOnly)
        {
            if (configuration == null) throw new ArgumentNullException(nameof(configuration));
            bool shared = SharedStateStore.IsShared(configuration);
            string path = shared ? "pg|" + SharedStateStore.ConnectionString(configuration) : Path.GetFullPath(configuration.StatePath);
            string key = (readOnly ? "ro|" : "rw|") + path + "|" + configuration.RetryCount + "|" + configuration.MaxConcurrencyPerDatacenter + "|" + configuration.LeaseTimeoutSeconds + "|" + configuration.RetryMaxDelaySeconds + "|" + configuration.LockWaitSeconds + "|" + configuration.ClientId;
            // A read-only engine over a file that does not exist yet sees an empty store; it is not cached, so the
            // first real write in this process is seen by later -WhatIf runs.
            if (readOnly && !shared && !File.Exists(path)) return Create(configuration, path, readOnly);
            // An engine over a file that could not be written is dropped once the file can be: the user fixed it.
            if (!readOnly && Engines.TryGetValue(key, out var stale) && stale.Store is StateStore ss && ss.NotWritableReason != null
                && StateStore.WhyNotWritable(path) == null && Engines.TryRemove(key, out _))
                stale.Dispose();
            return Engines.GetOrAdd(key, _ => { var e = Create(configuration, path, readOnly); e.IsShared = true; return e; });
        }

        private static GridEngine Create(GridConfiguration configuration, string path, bool readOnly)
        {
            IStateStore store = SharedStateStore.IsShared(configuration) ? SharedStateStore.Open(configuration, readOnly) : StateStore.Open(path, readOnly);
            var engine = new GridEngine
            {
                Configuration = configuration,
                Store = store,
                ReadOnly = readOnly || store.ReadOnly, // a file that cannot be written reads as under -WhatIf

            };
            engine.Journal = new OperationJournal(store, TimeSpan.FromSeconds(configuration.LeaseTimeoutSeconds), configuration.ClientId);
            engine._datacenters = new DatacenterRepository(store);
            engine._retry = new RetryPolicy(configuration.RetryCount, TimeSpan.FromSeconds(configuration.RetryMaxDelaySeconds), configuration.MaxConcurrencyPerDatacenter);
            engine._retry.Retrying += (dc, attempt, delay, ex) =>
                (CallObserver.Value ?? NullObserver.Instance).Verbose($"Datacenter '{dc}': {ex.Kind} ({ex.ErrorId}) - retry {attempt} in {delay.TotalSeconds:0.##} s: {ex.Message}");
            return engine;
        }

        /// <summary>Drops every cached engine and live connection of this process (tests, module removal).</summary>
        public static void Reset()
        {
            foreach (var e in Engines.Values) e.Dispose();
            Engines.Clear();
            SessionSecrets.Clear();
        }

        public GridConfiguration Configuration { get; private set; } = null!;
        public IStateStore Store { get; private set; } = null!;
        public IOperationJournal Journal { get; private set; } = null!;
        public bool ReadOnly { get; private set; }
        /// <summary>
        /// True for the engines kept for the process (and disposed by <see cref="Reset"/>); false for a throwaway
        /// read-only engine over a state file that does not exist yet, which its caller disposes when done.
        /// </summary>
        public bool IsShared { get; private set; }
        public IRetryPolicy Retry => _retry;

        private ProviderServices Services(IEngineObserver observer) => new ProviderServices(Store, _retry, observer.Verbose, observer.Warning);

        /// <summary>Refuses a change before anything is journaled: StateStoreNotWritable (a file it cannot write), StateStoreReadOnly (-WhatIf).</summary>
        internal void EnsureWritable()
        {
            if (Store is StateStore s && s.NotWritableError() is GridException notWritable) throw notWritable;
            if (ReadOnly)
                throw new GridException(GridErrorKind.StateStore, "The state store is open read-only (-WhatIf): no change can be made.", "StateStoreReadOnly");
        }

        private string SecretKey(string datacenter) => Store.Path + "|" + datacenter;

        // ---- datacenters -------------------------------------------------------------------------------------

        /// <summary>Registers (or re-registers) and connects a datacenter. Secrets stay in this process only.</summary>
        public async Task<GridDatacenter> ConnectDatacenterAsync(string provider, string name, string? owner, string? site,
            IDictionary<string, string> settings, IDictionary<string, object> secrets, IEngineObserver observer, CancellationToken ct)
        {
            EnsureWritable();
            CallObserver.Value = observer;
            NameRules.ValidateDatacenterName(name);
            RefuseCredentialsInUrls(settings);
            var p = ProviderRegistry.Get(provider);
            ValidateProviderSettings(p, name, settings); // InvalidParameter before anything is journaled
            if (!p.IsAvailable(out var reason))
                throw GridException.Unsupported($"The {p.Name} provider cannot run here: {reason}", "ProviderUnavailable", p.Name);

            var existing = _datacenters.Get(name);
            if (existing != null && !string.Equals(existing.Provider, p.Name, StringComparison.OrdinalIgnoreCase))
                throw GridException.Conflict($"A datacenter named '{existing.Name}' is already registered with the {existing.Provider} provider. Unregister-GridDatacenter it first, or choose another name.", "DatacenterExists", name);

            var dc = new GridDatacenter
            {
                Name = existing?.Name ?? name,
                Provider = p.Name,
                Owner = owner ?? existing?.Owner,
                Site = site ?? existing?.Site,
                RegisteredAt = existing?.RegisteredAt ?? DateTimeOffset.UtcNow,
                Settings = new Dictionary<string, string>(settings, StringComparer.OrdinalIgnoreCase),
            };
            var op = Journal.Begin("Register", dc.Name, dc.Name, null, JsonUtil.Serialize(new { dc.Provider, dc.Owner, dc.Site, dc.Settings }), null, dc.Name);
            try
            {
                await DropConnectionAsync(dc.Name).ConfigureAwait(false);
                var secretCopy = new Dictionary<string, object>(secrets, StringComparer.OrdinalIgnoreCase);
                var conn = await p.ConnectAsync(new ProviderConnectRequest { Datacenter = dc, Secrets = secretCopy, Services = Services(observer) }, ct).ConfigureAwait(false);
                dc.Endpoint = conn.Endpoint;
                dc.Capabilities = conn.Capabilities;
                dc.Status = ConnectionStatus.Connected;
                _datacenters.Save(dc, p.ConnectionParameters);
                SessionSecrets[SecretKey(dc.Name)] = secretCopy;
                var ready = new Lazy<Task<IGridConnection>>(() => Task.FromResult(conn));
                _ = ready.Value; // evaluated now, so status reads Connected at once
                _connections[dc.Name] = ready;
                _connectionErrors.TryRemove(dc.Name, out _);
                Journal.Complete(op.Id, JsonUtil.Serialize(new { dc.Endpoint, Capabilities = dc.Capabilities.ToString() }));
                return dc;
            }
            catch (Exception ex)
            {
                var g = Normalize(ex, dc.Name);
                Journal.Fail(op.Id, g.ErrorId, g.Message);
                throw g;
            }
        }

        /// <summary>
        /// A setting that is a URL with a user name or password in it (https://user:pw@host/...) is refused before
        /// anything is journaled or stored: settings are kept in the registration and the journal, secrets never are.
        /// The message does not repeat the value.
        /// </summary>
        internal static void RefuseCredentialsInUrls(IDictionary<string, string> settings)
        {
            if (settings == null) return;
            foreach (var kv in settings)
            {
                var v = kv.Value;
                if (string.IsNullOrEmpty(v) || v.IndexOf('@') < 0) continue;
                int scheme = v.IndexOf("://", StringComparison.Ordinal);
                if (scheme <= 0) continue;
                int hostEnd = v.IndexOfAny(new[] { '/', '?', '#' }, scheme + 3);
                string authority = hostEnd < 0 ? v.Substring(scheme + 3) : v.Substring(scheme + 3, hostEnd - scheme - 3);
                if (authority.IndexOf('@') >= 0)
                    throw GridException.InvalidRequest($"-{kv.Key} contains a user name or password (user:password@host). Give the account with -Credential instead: a credential is used for this session only, never stored or shown.", "CredentialInUrl", kv.Key);
            }
        }

        /// <summary>Registered datacenters matching the name patterns (null = all), with this process's connection status.</summary>
        public IReadOnlyList<GridDatacenter> GetDatacenters(IReadOnlyList<string>? namePatterns)
        {
            var patterns = Wildcard.CompileAll(namePatterns); // InvalidWildcardPattern before anything is read
            var all = _datacenters.List();
            var result = new List<GridDatacenter>();
            foreach (var dc in all)
            {
                if (!Wildcard.MatchesAny(dc.Name, patterns)) continue;
                result.Add(WithStatus(dc));
            }
            return result;
        }

        private GridDatacenter WithStatus(GridDatacenter dc)
        {
            if (_connections.TryGetValue(dc.Name, out var lazy) && lazy.IsValueCreated && lazy.Value.Status == TaskStatus.RanToCompletion)
                dc.Status = ConnectionStatus.Connected;
            else if (_connectionErrors.TryGetValue(dc.Name, out var err)) { dc.Status = ConnectionStatus.Error; dc.StatusMessage = err; }
            else dc.Status = ConnectionStatus.Disconnected;
            return dc;
        }

        /// <summary>The registered datacenter, or NotFound "DatacenterNotFound".</summary>
        public GridDatacenter GetDatacenter(string name)
        {
            var dc = _datacenters.Get(name);
            if (dc == null)
            {
                var known = _datacenters.List().Select(d => d.Name).ToArray();
                throw GridException.NotFound($"No datacenter named '{name}' is registered." + (known.Length > 0 ? $" Registered: {string.Join(", ", known)}." : " Register one with Connect-GridDatacenter."), "DatacenterNotFound", name);
            }
            return WithStatus(dc);
        }

        /// <summary>Logs out and forgets the live connection (registration kept).</summary>
        public async Task DisconnectDatacenterAsync(string name, CancellationToken ct)
        {
            var dc = GetDatacenter(name);
            await DropConnectionAsync(dc.Name).ConfigureAwait(false);
            SessionSecrets.TryRemove(SecretKey(dc.Name), out _);
            _connectionErrors.TryRemove(dc.Name, out _);
        }

        /// <summary>Disconnects and deletes the registration (workloads in a provider are untouched).</summary>
        public async Task UnregisterDatacenterAsync(string name, CancellationToken ct)
        {
            EnsureWritable();
            var dc = GetDatacenter(name);
            var op = Journal.Begin("Unregister", dc.Name, dc.Name, null, null, null, dc.Name);
            try
            {
                await DisconnectDatacenterAsync(dc.Name, ct).ConfigureAwait(false);
                _datacenters.Delete(dc.Name);
                Journal.Complete(op.Id, null);
            }
            catch (Exception ex)
            {
                var g = Normalize(ex, dc.Name);
                Journal.Fail(op.Id, g.ErrorId, g.Message);
                throw g;
            }
        }

        private async Task DropConnectionAsync(string name)
        {
            if (_connections.TryRemove(name, out var lazy) && lazy.IsValueCreated)
            {
                try
                {
                    var conn = await lazy.Value.ConfigureAwait(false);
                    try { await conn.DisconnectAsync(CancellationToken.None).ConfigureAwait(false); } catch (Exception) { /* best effort logout */ }
                    conn.Dispose();
                }
                catch (Exception) { /* the connection never came up */ }
            }
        }

        /// <summary>The live connection of a registered datacenter, connecting with its stored settings (and this session's secrets) on first use.</summary>
        internal async Task<IGridConnection> GetConnectionAsync(string datacenter, IEngineObserver observer, CancellationToken ct)
        {
            var dc = GetDatacenter(datacenter);
            var lazy = _connections.GetOrAdd(dc.Name, n => new Lazy<Task<IGridConnection>>(() => ConnectRegisteredAsync(dc, observer)));
            try
            {
                var conn = await lazy.Value.ConfigureAwait(false);
                return conn;
            }
            catch (Exception ex)
            {
                _connections.TryRemove(dc.Name, out _);
                var g = Normalize(ex, dc.Name);
                _connectionErrors[dc.Name] = g.Message;
                throw g;
            }
        }

        private async Task<IGridConnection> ConnectRegisteredAsync(GridDatacenter dc, IEngineObserver observer)
        {
            var p = ProviderRegistry.Get(dc.Provider);
            if (!p.IsAvailable(out var reason))
                throw GridException.Unsupported($"Datacenter '{dc.Name}' uses the {p.Name} provider, which cannot run here: {reason}", "ProviderUnavailable", dc.Name);
            SessionSecrets.TryGetValue(SecretKey(dc.Name), out var secrets);
            observer.Verbose($"Connecting datacenter '{dc.Name}' ({dc.Provider}).");
            // Connecting must not depend on the caller's cancellation: the connection is shared by later calls.
            return await p.ConnectAsync(new ProviderConnectRequest
            {
                Datacenter = dc,
                Secrets = secrets ?? new Dictionary<string, object>(),
                Services = Services(observer),
            }, CancellationToken.None).ConfigureAwait(false);
        }

        // ---- inventory ---------------------------------------------------------------------------------------

        private IReadOnlyList<GridDatacenter> ResolveDatacenters(IReadOnlyList<string>? patterns)
        {
            if (patterns == null || patterns.Count == 0) return _datacenters.List();
            var compiled = Wildcard.CompileAll(patterns)!; // InvalidWildcardPattern before any datacenter is asked
            var all = _datacenters.List();
            var chosen = new List<GridDatacenter>();
            foreach (var pattern in compiled)
            {
                var matches = all.Where(d => pattern.IsMatch(d.Name)).ToList();
                if (matches.Count == 0 && !pattern.IsWildcard) GetDatacenter(pattern.Literal); // throws DatacenterNotFound
                foreach (var m in matches) if (!chosen.Any(c => string.Equals(c.Name, m.Name, StringComparison.OrdinalIgnoreCase))) chosen.Add(m);
            }
            return chosen;
        }

        /// <summary>
        /// Runs <paramref name="produce"/> for each datacenter in parallel and streams what they write, in arrival
        /// order, to the caller. A datacenter that fails yields one error item; the others go on.
        /// </summary>
        private async IAsyncEnumerable<FanOutResult<T>> FanOutAsync<T>(IReadOnlyList<GridDatacenter> datacenters,
            Func<GridDatacenter, IGridConnection, ChannelWriter<FanOutResult<T>>, CancellationToken, Task> produce,
            IEngineObserver observer, [EnumeratorCancellation] CancellationToken ct)
        {
            if (datacenters.Count == 0) yield break;
            var channel = Channel.CreateBounded<FanOutResult<T>>(new BoundedChannelOptions(8192) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var token = linked.Token;
            CallObserver.Value = observer;
            var tasks = datacenters.Select(dc => Task.Run(async () =>
            {
                try
                {
                    var conn = await GetConnectionAsync(dc.Name, observer, token).ConfigureAwait(false);
                    await produce(dc, conn, channel.Writer, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested) { }
                catch (Exception ex)
                {
                    try { await channel.Writer.WriteAsync(new FanOutResult<T>(dc.Name, default, Normalize(ex, dc.Name)), token).ConfigureAwait(false); }
                    catch (OperationCanceledException) { }
                }
            }, token)).ToArray();
            var completion = Task.WhenAll(tasks).ContinueWith(_ => channel.Writer.TryComplete(), TaskScheduler.Default);
            try
            {
                while (await channel.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
                    while (channel.Reader.TryRead(out var item)) yield return item;
            }
            finally
            {
                linked.Cancel();
                try { await completion.ConfigureAwait(false); } catch (Exception) { }
            }
        }

        public IAsyncEnumerable<FanOutResult<GridWorkload>> GetWorkloadsAsync(WorkloadFilter filter, IEngineObserver observer, CancellationToken ct)
        {
            var compiled = CompiledFilter.From(filter); // every pattern checked (InvalidWildcardPattern) before any datacenter is asked
            var dcs = ResolveDatacenters(filter.Datacenters);
            if (compiled.Sites != null) dcs = dcs.Where(d => Wildcard.MatchesAny(d.Site, compiled.Sites)).ToList();
            // Ids name their datacenters: only ask those.
            List<(string dc, string native)>? ids = null;
            if (filter.Ids != null && filter.Ids.Count > 0)
            {
                ids = new List<(string, string)>();
                foreach (var id in filter.Ids)
                {
                    if (!WorkloadId.TryParse(id, out var d, out var n))
                        throw GridException.InvalidRequest($"'{id}' is not a workload id. Ids look like '<datacenter>/<native id>' (see the Id property of Get-GridWorkload).", "InvalidWorkloadId", id);
                    ids.Add((d, n));
                }
                var wanted = new HashSet<string>(ids.Select(i => i.dc), StringComparer.OrdinalIgnoreCase);
                foreach (var d in wanted) GetDatacenter(d);
                dcs = dcs.Where(d => wanted.Contains(d.Name)).ToList();
            }
            var query = new WorkloadQuery
            {
                NamePatterns = filter.Names,
                States = filter.States,
                Tags = filter.Tags?.Where(kv => kv.Value != null && !Wildcard.HasWildcards(kv.Value)).ToDictionary(kv => kv.Key, kv => Wildcard.Unescape(kv.Value!), StringComparer.OrdinalIgnoreCase),
                PageSize = Configuration.PageSize,
            };
            return FanOutAsync<GridWorkload>(dcs, async (dc, conn, writer, token) =>
            {
                var q = query;
                if (ids != null)
                {
                    var natives = ids.Where(i => string.Equals(i.dc, dc.Name, StringComparison.OrdinalIgnoreCase)).Select(i => i.native).ToList();
                    q = new WorkloadQuery { NamePatterns = query.NamePatterns, States = query.States, Tags = query.Tags, PageSize = query.PageSize, NativeIds = natives };
                }
                await foreach (var page in ListWithRetryAsync(dc.Name, conn, q, token).ConfigureAwait(false))
                {
                    foreach (var w in page)
                    {
                        Complete(w, dc);
                        if (!compiled.Matches(w, ids)) continue;
                        await writer.WriteAsync(new FanOutResult<GridWorkload>(dc.Name, w, null), token).ConfigureAwait(false);
                    }
                }
            }, observer, ct);
        }

        /// <summary>
        /// Lists through the retry policy: a transient failure before the first page restarts the listing; after
        /// that pages are the provider's to retry (each page fetch may go through ProviderServices.Retry), and a
        /// failure surfaces as that datacenter's error.
        /// </summary>
        private async IAsyncEnumerable<IReadOnlyList<GridWorkload>> ListWithRetryAsync(string dc, IGridConnection conn, WorkloadQuery q, [EnumeratorCancellation] CancellationToken ct)
        {
            IAsyncEnumerator<IReadOnlyList<GridWorkload>>? e = null;
            bool has = false;
            await _retry.ExecuteAsync<bool>(dc, async token =>
            {
                if (e != null) await e.DisposeAsync().ConfigureAwait(false);
                e = conn.ListWorkloadsAsync(q, ct).GetAsyncEnumerator(ct);
                has = await e.MoveNextAsync().ConfigureAwait(false);
                return true;
            }, conn.HandlesOwnRetries, ct).ConfigureAwait(false);
            try
            {
                while (has)
                {
                    yield return e!.Current;
                    has = await e!.MoveNextAsync().ConfigureAwait(false);
                }
            }
            finally { if (e != null) await e.DisposeAsync().ConfigureAwait(false); }
        }

        internal static bool Matches(GridWorkload w, WorkloadFilter f, List<(string dc, string native)>? ids)
            => CompiledFilter.From(f).Matches(w, ids);

        /// <summary>Native ids compare ordinally, except Azure resource ids (case-insensitive by ARM's rules).</summary>
        internal static bool NativeIdEquals(string a, string b)
            => string.Equals(a, b, a.StartsWith("/subscriptions/", StringComparison.OrdinalIgnoreCase) ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

        private static void Complete(GridWorkload w, GridDatacenter dc)
        {
            if (string.IsNullOrEmpty(w.Datacenter)) w.Datacenter = dc.Name;
            if (string.IsNullOrEmpty(w.Provider)) w.Provider = dc.Provider;
            if (string.IsNullOrEmpty(w.Id)) w.Id = WorkloadId.Format(dc.Name, w.NativeId);
            var ownerTag = w.Tags.ContainsKey("Owner") ? Convert.ToString(w.Tags["Owner"], System.Globalization.CultureInfo.InvariantCulture) : null;
            w.Owner = !string.IsNullOrEmpty(ownerTag) ? ownerTag : dc.Owner;
        }

        public IAsyncEnumerable<FanOutResult<GridHost>> GetHostsAsync(IReadOnlyList<string>? datacenters, IEngineObserver observer, CancellationToken ct)
            => FanOutListAsync(datacenters, observer, ct, (dc, c, t) => _retry.ExecuteAsync(dc.Name, c.ListHostsAsync, c.HandlesOwnRetries, t), (h, dc) => { if (string.IsNullOrEmpty(h.Datacenter)) h.Datacenter = dc.Name; });

        public IAsyncEnumerable<FanOutResult<GridSize>> GetSizesAsync(IReadOnlyList<string>? datacenters, IEngineObserver observer, CancellationToken ct)
            => FanOutListAsync(datacenters, observer, ct, (dc, c, t) => _retry.ExecuteAsync(dc.Name, c.ListSizesAsync, c.HandlesOwnRetries, t), (s, dc) => { if (string.IsNullOrEmpty(s.Datacenter)) s.Datacenter = dc.Name; });

        public IAsyncEnumerable<FanOutResult<GridImage>> GetImagesAsync(IReadOnlyList<string>? datacenters, IReadOnlyDictionary<string, string> filter, IEngineObserver observer, CancellationToken ct)
            => FanOutListAsync(datacenters, observer, ct, (dc, c, t) => _retry.ExecuteAsync(dc.Name, tk => c.ListImagesAsync(filter, tk), c.HandlesOwnRetries, t), (i, dc) => { if (string.IsNullOrEmpty(i.Datacenter)) i.Datacenter = dc.Name; });

        private IAsyncEnumerable<FanOutResult<T>> FanOutListAsync<T>(IReadOnlyList<string>? datacenters, IEngineObserver observer, CancellationToken ct,
            Func<GridDatacenter, IGridConnection, CancellationToken, Task<IReadOnlyList<T>>> list, Action<T, GridDatacenter> complete)
        {
            var dcs = ResolveDatacenters(datacenters);
            return FanOutAsync<T>(dcs, async (dc, conn, writer, token) =>
            {
                foreach (var item in await list(dc, conn, token).ConfigureAwait(false))
                {
                    complete(item, dc);
                    await writer.WriteAsync(new FanOutResult<T>(dc.Name, item, null), token).ConfigureAwait(false);
                }
            }, observer, ct);
        }

        /// <summary>One workload by id; NotFound "WorkloadNotFound".</summary>
        public async Task<GridWorkload> GetWorkloadAsync(string id, CancellationToken ct)
        {
            if (!WorkloadId.TryParse(id, out var dcName, out var native))
                throw GridException.InvalidRequest($"'{id}' is not a workload id. Ids look like '<datacenter>/<native id>'.", "InvalidWorkloadId", id);
            var dc = GetDatacenter(dcName);
            var conn = await GetConnectionAsync(dc.Name, NullObserver.Instance, ct).ConfigureAwait(false);
            try
            {
                var w = await _retry.ExecuteAsync(dc.Name, t => conn.GetWorkloadAsync(native, t), conn.HandlesOwnRetries, ct).ConfigureAwait(false);
                Complete(w, dc);
                return w;
            }
            catch (GridException g) when (g.Kind == GridErrorKind.NotFound)
            {
                throw new GridException(GridErrorKind.NotFound, $"Workload '{id}' was not found in datacenter '{dc.Name}'.", "WorkloadNotFound", g) { Target = id, NativeCode = g.NativeCode };
            }
        }

        public void Dispose()
        {
            foreach (var name in _connections.Keys.ToArray())
            {
                try { DropConnectionAsync(name).GetAwaiter().GetResult(); } catch (Exception) { }
            }
            Store?.Dispose();
        }

        /// <summary>Any exception as a GridException (providers should already throw only those).</summary>
        internal static GridException Normalize(Exception ex, object? target)
        {
            switch (ex)
            {
                case GridException g:
                    if (g.Target == null) g.Target = target;
                    return g;
                case OperationCanceledException oce:
                    return new GridException(GridErrorKind.Cancelled, "The operation was cancelled.", "OperationCancelled", oce) { Target = target };
                case AggregateException agg when agg.InnerExceptions.Count == 1:
                    return Normalize(agg.InnerException!, target);
                case TimeoutException te:
                    return new GridException(GridErrorKind.Unavailable, "The provider did not answer in time: " + te.Message, "Timeout", te) { Target = target };
                default:
                    return new GridException(GridErrorKind.Unavailable, $"Unexpected provider error ({ex.GetType().Name}): {ex.Message}", "ProviderError", ex) { Target = target };
            }
        }
    }
}
