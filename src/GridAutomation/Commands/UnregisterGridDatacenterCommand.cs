using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Disconnects datacenters and deletes their registration. Workloads in the provider are not touched.</summary>
    [Cmdlet(VerbsLifecycle.Unregister, "GridDatacenter", DefaultParameterSetName = ByName, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(void))]
    public sealed class UnregisterGridDatacenterCommand : DatacenterChangeCmdlet
    {
        protected override string ActionName => "Unregister (its workloads are not touched)";
        protected override Task ActAsync(Core.Engine.GridEngine engine, string name, CancellationToken ct) => engine.UnregisterDatacenterAsync(name, ct);
    }
}
