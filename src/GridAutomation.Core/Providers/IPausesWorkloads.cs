using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Core.Providers
{
    /// <summary>
    /// Optional on an <see cref="IGridConnection"/> whose datacenter declares <see cref="Model.GridCapabilities.Pause"/>:
    /// pauses a workload (Suspend-GridWorkload -Pause): its vCPUs stop being scheduled and its memory stays in the host
    /// (state Paused), as Hyper-V's Suspend-VM, XAPI's VM.pause and libvirt's virDomainSuspend do.
    /// <see cref="IGridConnection.StartAsync"/> resumes it. A separate interface so that a provider that cannot pause
    /// (vSphere, EC2, Azure: docs/states.md) has nothing to implement; the engine refuses before journaling
    /// (Unsupported "PauseNotSupported") when the capability is missing.
    /// </summary>
    public interface IPausesWorkloads
    {
        /// <summary>Pauses; a no-op when already paused. A workload that is not running is refused (Conflict "WorkloadNotRunning").</summary>
        Task PauseAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken);
    }
}
