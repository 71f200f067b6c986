using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using GridAutomation.Core.Model;

namespace GridAutomation.Internal
{
    /// <summary>Base of Disconnect-/Unregister-GridDatacenter: targets by name (wildcards act on every match) or as objects.</summary>
    public abstract class DatacenterChangeCmdlet : ChangeCmdlet
    {
        protected const string ByName = "ByName";
        protected const string ByObject = "ByObject";

        /// <summary>Datacenter names; wildcards act on every match.</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByName, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[] Name { get; set; } = null!;

        /// <summary>Datacenter objects (from Get-GridDatacenter).</summary>
        [Parameter(Mandatory = true, ParameterSetName = ByObject, ValueFromPipeline = true)]
        [ValidateNotNull]
        public GridDatacenter[] InputObject { get; set; } = null!;

        protected abstract string ActionName { get; }
        protected abstract System.Threading.Tasks.Task ActAsync(Core.Engine.GridEngine engine, string name, System.Threading.CancellationToken ct);

        private readonly HashSet<string> _seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        protected override void ProcessRecord()
        {
            var targets = new List<(string, string)>();
            if (ParameterSetName == ByObject)
                foreach (var d in InputObject) targets.Add((d.Name, ""));
            else
            {
                IReadOnlyList<GridDatacenter> found;
                try { found = Engine.GetDatacenters(Name); }
                catch (PipelineStoppedException) { throw; }
                catch (Exception ex) { ThrowGridError(ex, Name); return; }
                foreach (var n in Name)
                    if (!HasWildcard(n) && !found.Any(d => IsLiteralMatch(d.Name, n)))
                        WriteError(ErrorMapping.Create("DatacenterNotFound", ErrorCategory.ObjectNotFound,
                            $"No datacenter named '{n}' is registered.", n, GridErrorKind.NotFound));
                bool several = found.Count > 1 || Name.Any(HasWildcard);
                for (int i = 0; i < found.Count; i++)
                    targets.Add((found[i].Name, several ? $" [match {i + 1} of {found.Count} for -Name {string.Join(",", Name.Select(x => "'" + x + "'"))}]" : ""));
            }
            foreach (var (name, note) in targets)
            {
                if (!_seen.Add(name)) continue;
                if (!Approve(name, ActionName + note)) continue;
                var n = name;
                var engine = Engine;
                Approved.Add(new WorkItem(n, n, async (observer, ct) => { await ActAsync(engine, n, ct).ConfigureAwait(false); return null; }));
            }
        }

        protected override void EndProcessing() => Execute(false, ActionName);
    }
}
