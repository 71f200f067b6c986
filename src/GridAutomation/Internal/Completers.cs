using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;

namespace GridAutomation.Internal
{
    /// <summary>
    /// Shared plumbing of the argument completers: a read-only engine (completion never writes), a short time
    /// budget, and no exception ever escaping (a completer that fails completes nothing).
    /// </summary>
    public abstract class GridCompleter : IArgumentCompleter
    {
        protected static readonly TimeSpan Budget = TimeSpan.FromSeconds(3);
        protected const int MaxResults = 200;

        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            string word = Unquote(wordToComplete ?? "");
            IEnumerable<(string value, string tip)> values;
            try
            {
                using var cts = new CancellationTokenSource(Budget);
                values = GetEntries(parameterName, word, fakeBoundParameters ?? new Hashtable(), cts.Token).ToList();
            }
            catch { return Array.Empty<CompletionResult>(); }
            // What was typed is a prefix; typed wildcards work, a half-typed '[' is taken literally (never an exception).
            Wildcard pattern;
            try { pattern = Wildcard.Compile(word + "*"); }
            catch (GridException) { pattern = Wildcard.Compile(WildcardPattern.Escape(word) + "*"); }
            return values
                .Where(v => !string.IsNullOrEmpty(v.value) && pattern.IsMatch(v.value))
                .GroupBy(v => v.value, StringComparer.OrdinalIgnoreCase).Select(g => g.First())
                .OrderBy(v => v.value, StringComparer.OrdinalIgnoreCase)
                .Take(MaxResults)
                .Select(v => new CompletionResult(Quote(v.value), v.value, CompletionResultType.ParameterValue, string.IsNullOrEmpty(v.tip) ? v.value : v.tip))
                .ToList();
        }

        protected abstract IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct);

        /// <summary>Values with their tooltips (the value itself unless a completer says more, e.g. a workload id's name).</summary>
        protected virtual IEnumerable<(string value, string tip)> GetEntries(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => GetValues(parameterName, word, bound, ct).Select(v => (v, v));

        protected static GridEngine OpenEngine() => OpenReadOnlyEngine() ?? throw new InvalidOperationException("No state file yet.");

        /// <summary>
        /// A read-only engine, or null while the state file does not exist yet (a read-only engine opened on a missing
        /// file is an empty in-memory store, and the engine caches it: it would hide the file once it is created).
        /// </summary>
        internal static GridEngine? OpenReadOnlyEngine()
        {
            var config = GridConfiguration.Load();
            if (string.IsNullOrEmpty(config.StatePath) || !System.IO.File.Exists(config.StatePath)) return null;
            return GridEngine.Get(config, readOnly: true);
        }

        protected static string Unquote(string s)
        {
            if (s.Length > 0 && (s[0] == '\'' || s[0] == '"')) s = s.Substring(1);
            if (s.Length > 0 && (s[s.Length - 1] == '\'' || s[s.Length - 1] == '"')) s = s.Substring(0, s.Length - 1);
            return s;
        }

        protected static string Quote(string v)
        {
            foreach (var c in v)
                if (char.IsWhiteSpace(c) || "'\"`$&@(){}[];,|<>#".IndexOf(c) >= 0)
                    return "'" + v.Replace("'", "''") + "'";
            return v;
        }

        /// <summary>The -Datacenter value(s) already typed (or the datacenter part of -Id), else null.</summary>
        protected static IReadOnlyList<string>? BoundDatacenters(IDictionary bound)
        {
            var list = new List<string>();
            foreach (var key in new[] { "Datacenter", "Id" })
            {
                if (!bound.Contains(key)) continue;
                foreach (var o in LanguagePrimitives.GetEnumerable(bound[key]) ?? new[] { bound[key] })
                {
                    var s = (o is PSObject p ? p.BaseObject : o)?.ToString();
                    if (string.IsNullOrEmpty(s)) continue;
                    if (key == "Id") { if (WorkloadId.TryParse(s!, out var dc, out _)) list.Add(dc); }
                    else list.Add(s!);
                }
            }
            if (bound.Contains("InputObject") && (bound["InputObject"] is PSObject po ? po.BaseObject : bound["InputObject"]) is GridWorkload w)
                list.Add(w.Datacenter);
            return list.Count > 0 ? list : null;
        }

        protected static IEnumerable<T> Collect<T>(IAsyncEnumerable<FanOutResult<T>> source, int max, CancellationToken ct)
        {
            return Task.Run(async () =>
            {
                var list = new List<T>();
                try
                {
                    await foreach (var r in source.WithCancellation(ct).ConfigureAwait(false))
                    {
                        if (!r.IsError) list.Add(r.Value!);
                        if (list.Count >= max) break;
                    }
                }
                catch (OperationCanceledException) { }
                return list;
            }).GetAwaiter().GetResult();
        }
    }

    public sealed class ProviderCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => ProviderRegistry.All.Select(p => p.Name);
    }

    public sealed class DatacenterCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => OpenEngine().GetDatacenters(null).Select(d => d.Name);
    }

    public sealed class WorkloadNameCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
        {
            var filter = new WorkloadFilter { Names = new[] { WildcardPattern.Escape(word) + "*" }, Datacenters = BoundDatacenters(bound) };
            return Collect(OpenEngine().GetWorkloadsAsync(filter, NullObserver.Instance, ct), MaxResults * 5, ct).Select(w => w.Name);
        }
    }

    public sealed class WorkloadIdCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
        {
            IReadOnlyList<string>? dcs = BoundDatacenters(bound);
            int slash = word.IndexOf('/');
            if (slash > 0) dcs = new[] { word.Substring(0, slash) };
            var filter = new WorkloadFilter { Datacenters = dcs };
            return Collect(OpenEngine().GetWorkloadsAsync(filter, NullObserver.Instance, ct), 5000, ct).Select(w => w.Id);
        }

        /// <summary>A bare id says nothing: the tooltip (and the list text) names the workload, its state and datacenter.</summary>
        protected override IEnumerable<(string value, string tip)> GetEntries(string parameterName, string word, IDictionary bound, CancellationToken ct)
        {
            IReadOnlyList<string>? dcs = BoundDatacenters(bound);
            int slash = word.IndexOf('/');
            if (slash > 0) dcs = new[] { word.Substring(0, slash) };
            var filter = new WorkloadFilter { Datacenters = dcs };
            return Collect(OpenEngine().GetWorkloadsAsync(filter, NullObserver.Instance, ct), 5000, ct)
                .Select(w => (w.Id, $"{w.Name} ({w.State}, {w.Datacenter}{(string.IsNullOrEmpty(w.Host) ? "" : "/" + w.Host)}) {w.Id}"));
        }
    }

    public sealed class SizeCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => Collect(OpenEngine().GetSizesAsync(BoundDatacenters(bound), NullObserver.Instance, ct), 5000, ct).Select(s => s.Name);
    }

    public sealed class ImageCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => Collect(OpenEngine().GetImagesAsync(BoundDatacenters(bound), new Dictionary<string, string>(), NullObserver.Instance, ct), 5000, ct).Select(s => s.Name);
    }

    public sealed class HostCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => Collect(OpenEngine().GetHostsAsync(BoundDatacenters(bound), NullObserver.Instance, ct), 5000, ct).Select(h => h.Name);
    }

    public sealed class OperationIdCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => OpenEngine().GetOperations(new OperationFilter { Last = 100 }).Select(o => o.Id.ToString());
    }

    /// <summary>Target names from the newest 1,000 operations (of the datacenters already typed), for Get-GridOperation -Target.</summary>
    public sealed class OperationTargetCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => OpenEngine().GetOperations(new OperationFilter { Datacenters = BoundDatacenters(bound), Last = 1000 }).Select(o => o.TargetName ?? o.Target);
    }

    /// <summary>The operation kinds the engine journals.</summary>
    public sealed class OperationKindCompleter : GridCompleter
    {
        private static readonly string[] Kinds = Enum.GetNames(typeof(WorkloadAction)).Concat(new[] { "Create", "Register", "Unregister", "MoveDatacenter" }).ToArray();
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct) => Kinds;
    }

    public sealed class ConfigurationKeyCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => GridConfiguration.Keys.Select(k => k.Name);
    }

    /// <summary>Completes a provider's connection parameter from its ValidValues (Connect-GridDatacenter dynamic parameters).</summary>
    public sealed class ProviderParameterCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
        {
            if (!bound.Contains("Provider")) return Array.Empty<string>();
            var name = (bound["Provider"] is PSObject p ? p.BaseObject : bound["Provider"])?.ToString();
            if (name == null || !ProviderRegistry.TryGet(name, out var provider)) return Array.Empty<string>();
            var pp = provider.ConnectionParameters.FirstOrDefault(x => string.Equals(x.Name, parameterName, StringComparison.OrdinalIgnoreCase));
            return (IEnumerable<string>?)pp?.ValidValues ?? Array.Empty<string>();
        }
    }
}
