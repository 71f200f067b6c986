using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Core.Engine
{
    /// <summary>Refusals decided from the request and the catalog: all of them happen before anything is journaled.</summary>
    public sealed partial class GridEngine
    {

        /// <summary>
        /// The path of the state file when this engine created it (the path did not exist) and nobody has said so
        /// yet; null otherwise. True once per engine, so a mistyped GRIDAUTOMATION_STATE is announced once, not per command.
        /// </summary>
        public string? TakeNewStateFileNotice()
            => Store is State.StateStore s && s.TakeCreatedNotice() ? s.Path : null;

        private static void ValidateProviderSettings(IGridProvider provider, string datacenter, IDictionary<string, string> settings)
        {
            if (provider is IValidatesSettings v)
            {
                try { v.ValidateSettings(new Dictionary<string, string>(settings, StringComparer.OrdinalIgnoreCase)); }
                catch (GridException g) { if (g.Target == null) g.Target = datacenter; throw; }
            }
        }

        /// <summary>Name, tags, shape and the provider's catalog check of a create (InvalidName, InvalidTag, InvalidSize, SizeNotFound, ImageNotFound, HostNotFound...).</summary>
        private async Task ValidateCreateAsync(GridDatacenter dc, IGridConnection conn, CreateWorkloadRequest request, CancellationToken ct)
        {
            if (request.Size != null) await EnsureSizeAsync(dc, conn, request.Size, ct).ConfigureAwait(false);
            if (conn is IValidatesCreate v)
                await _retry.ExecuteAsync(dc.Name, async t => { await v.ValidateCreateAsync(request, t).ConfigureAwait(false); return true; }, conn.HandlesOwnRetries, ct).ConfigureAwait(false);
        }

        /// <summary>A <see cref="WorkloadFilter"/> with every pattern compiled once (InvalidWildcardPattern when one is not valid).</summary>
        internal sealed class CompiledFilter
        {
            private WorkloadFilter _f = null!;
            private Wildcard[]? _names, _hosts, _owners;
            private Dictionary<string, Wildcard?>? _tags;
            public Wildcard[]? Sites { get; private set; }

            public static CompiledFilter From(WorkloadFilter f)
            {
                var c = new CompiledFilter
                {
                    _f = f,
                    _names = Wildcard.CompileAll(f.Names),
                    _hosts = Wildcard.CompileAll(f.Hosts),
                    _owners = Wildcard.CompileAll(f.Owners),
                    Sites = Wildcard.CompileAll(f.Sites),
                };
                Wildcard.Validate(f.Datacenters);
                if (f.Tags != null)
                {
                    c._tags = new Dictionary<string, Wildcard?>(NameRules.Comparer);
                    foreach (var kv in f.Tags) c._tags[kv.Key] = kv.Value == null || kv.Value == "*" ? null : Wildcard.Compile(kv.Value);
                }
                return c;
            }

            public bool Matches(GridWorkload w, List<(string dc, string native)>? ids)
            {
                var f = _f;
                if (f.States != null && f.States.Count > 0) { if (!f.States.Contains(w.State)) return false; }
                else if (w.State == WorkloadState.Deleted) return false;
                if (!Wildcard.MatchesAny(w.Name, _names)) return false;
                if (_hosts != null && (string.IsNullOrEmpty(w.Host) || !Wildcard.MatchesAny(w.Host, _hosts))) return false;
                if (_owners != null && (string.IsNullOrEmpty(w.Owner) || !Wildcard.MatchesAny(w.Owner, _owners))) return false;
                if (ids != null && !ids.Any(i => string.Equals(i.dc, w.Datacenter, StringComparison.OrdinalIgnoreCase) && NativeIdEquals(i.native, w.NativeId))) return false;
                if (_tags != null)
                {
                    foreach (var kv in _tags)
                    {
                        if (!w.Tags.ContainsKey(kv.Key)) return false;
                        if (kv.Value == null) continue;
                        if (!kv.Value.IsMatch(Convert.ToString(w.Tags[kv.Key], CultureInfo.InvariantCulture))) return false;
                    }
                }
                return true;
            }
        }
    }
}
