using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Logs out of datacenters and forgets this session's connection (the registration is kept).</summary>
    [Cmdlet(VerbsCommunications.Disconnect, "GridDatacenter", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(void))]
    public sealed class DisconnectGridDatacenterCommand : DatacenterChangeCmdlet
    {
        protected override string ActionName => "Disconnect (registration kept)";
        protected override Task ActAsync(Core.Engine.GridEngine engine, string name, CancellationToken ct) => engine.DisconnectDatacenterAsync(name, ct);
    }
}
