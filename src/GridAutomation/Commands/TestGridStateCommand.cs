using System;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Checks a state file without changing it: that it is a GridAutomation store, PRAGMA quick_check, the schema
    /// versions, and that every journal row reads. Writes a report; a damaged or foreign file also gives an error
    /// (StateStoreCorrupt, StateStoreForeign, StateStoreNewerSchema).
    /// </summary>
    [Cmdlet(VerbsDiagnostic.Test, "GridState")]
    [OutputType(typeof(GridStateReport))]
    public sealed class TestGridStateCommand : GridCmdlet
    {
        /// <summary>The state file to check; the configured one (Get-GridConfiguration StatePath) by default.</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName")]
        [ValidateNotNullOrEmpty]
        public string? Path { get; set; }

        protected override void ProcessRecord()
        {
            string path;
            try { path = Path != null ? GetUnresolvedProviderPathFromPSPath(Path) : GridConfiguration.Load().StatePath; }
            catch (Exception ex) when (!(ex is PipelineStoppedException)) { WriteGridError(ToGrid(ex), Path); return; }
            var report = StateStoreInspector.Inspect(path);
            WriteObject(report);
            if (!report.Healthy && report.Exists)
                WriteError(ErrorMapping.Create(report.ErrorId ?? "StateStoreCorrupt", ErrorCategory.ReadError,
                    $"The state store '{report.Path}' is not sound: {string.Join(" ", report.Problems)}", report.Path, GridErrorKind.StateStore));
            else if (!report.Exists)
                WriteError(ErrorMapping.Create("StateStoreNotFound", ErrorCategory.ObjectNotFound, $"No state file at '{report.Path}'.", report.Path, GridErrorKind.NotFound));
        }

        private static Exception ToGrid(Exception ex) => ex is GridException ? ex : GridException.InvalidRequest(ex.Message, "InvalidPath");
    }
}
