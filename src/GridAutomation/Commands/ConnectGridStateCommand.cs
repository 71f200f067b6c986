using System;
using System.Management.Automation;
using System.Net;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>What Connect-GridState opened.</summary>
    public sealed class GridStateConnection
    {
        public string Backend { get; set; } = "";
        /// <summary>postgresql://user@host:port/database (never a password).</summary>
        public string Location { get; set; } = "";
        public bool CredentialInMemory { get; set; }
        public override string ToString() => Location;
    }

    /// <summary>
    /// Opens the shared PostgreSQL state store for this session (migrating it if needed): later commands of the session
    /// use it instead of the configured store. The password (-StateCredential) is kept in memory only; without it
    /// PGPASSWORD or a .pgpass file is used. Nothing is written to the configuration file.
    /// </summary>
    [Cmdlet(VerbsCommunications.Connect, "GridState", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(GridStateConnection))]
    public sealed class ConnectGridStateCommand : ChangeCmdlet
    {
        /// <summary>Npgsql connection string without a password; default: the StateConnectionString setting.</summary>
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty]
        public string? ConnectionString { get; set; }

        /// <summary>User name and password for the database (the user name replaces the connection string's).</summary>
        [Parameter]
        [Credential]
        public PSCredential? StateCredential { get; set; }

        protected override void ProcessRecord()
        {
            try
            {
                var config = GridConfiguration.Load();
                string cs = GridConfiguration.CheckConnectionString(ConnectionString ?? config.StateConnectionString, ConnectionString != null ? "parameter" : "StateConnectionString setting");
                if (string.IsNullOrEmpty(cs))
                    throw GridException.InvalidRequest("No connection string: give -ConnectionString 'Host=db;Database=grid;Username=grid', or set StateConnectionString.", "InvalidConfiguration", "ConnectionString");
                string? password = null;
                if (StateCredential != null && StateCredential != PSCredential.Empty)
                {
                    cs = cs.TrimEnd(';') + ";Username=" + StateCredential.UserName;
                    password = new NetworkCredential("", StateCredential.Password).Password;
                }
                if (!Approve(cs, "Open the shared state store for this session (creating or upgrading its schema)")) return;
                RegisterStores();
                GridEngine.Reset();
                SharedStateStore.SetSession(cs, password);
                try
                {
                    var engine = GridEngine.Get(config, readOnly: false); // opens and migrates: a bad connection fails here, not later
                    WriteObject(new GridStateConnection { Backend = engine.Store.Backend.ToString(), Location = engine.Store.Path, CredentialInMemory = password != null });
                }
                catch
                {
                    SharedStateStore.SetSession(null, null);
                    GridEngine.Reset();
                    throw;
                }
            }
            catch (Exception ex) when (!(ex is PipelineStoppedException))
            {
                ThrowTerminatingError(ErrorMapping.ToErrorRecord(ex, ConnectionString));
            }
        }
    }
}
