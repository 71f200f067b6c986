using System;
using System.Management.Automation;
using System.Net;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Moves a user's SQLite state (registrations, journal, checkpoints, locks; the simulator's tables when the target
    /// has its schema) into an empty shared PostgreSQL store, in one transaction, verified by row counts.
    /// </summary>
    [Cmdlet(VerbsCommon.Copy, "GridState", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridStateCopyReport))]
    public sealed class CopyGridStateCommand : ChangeCmdlet
    {
        /// <summary>The SQLite state file to copy; default: the configured StatePath.</summary>
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty]
        public string? From { get; set; }

        /// <summary>Connection string of the target PostgreSQL database, without a password.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNullOrEmpty]
        public string To { get; set; } = "";

        /// <summary>User and password of the target database (the password is kept in memory only).</summary>
        [Parameter]
        [Credential]
        public PSCredential? StateCredential { get; set; }

        protected override void ProcessRecord()
        {
            try
            {
                var config = GridConfiguration.Load();
                string path = From != null ? GetUnresolvedProviderPathFromPSPath(From) : config.StatePath;
                string cs = GridConfiguration.CheckConnectionString(To, "parameter -To");
                string? password = null;
                if (StateCredential != null && StateCredential != PSCredential.Empty)
                {
                    cs = cs.TrimEnd(';') + ";Username=" + StateCredential.UserName;
                    password = new NetworkCredential("", StateCredential.Password).Password;
                }
                if (!System.IO.File.Exists(path))
                    throw GridException.NotFound($"No state file at '{path}'.", "StateStoreNotFound", path);
                if (!Approve(cs, $"Copy the state in '{path}' into this empty shared store")) return;
                RegisterStores();
                var opener = SharedStateStore.PostgreSqlOpener ?? throw new GridException(GridErrorKind.Unsupported,
                    "The PostgreSQL state store needs PowerShell 7 or later.", "StateStoreUnsupported");
                using var source = StateStore.Open(path, readOnly: true);
                using var target = opener(cs, false, password);
                WriteObject(StateCopy.Copy(source, target));
            }
            catch (Exception ex) when (!(ex is PipelineStoppedException))
            {
                ThrowTerminatingError(ErrorMapping.ToErrorRecord(ex, To));
            }
        }
    }
}
