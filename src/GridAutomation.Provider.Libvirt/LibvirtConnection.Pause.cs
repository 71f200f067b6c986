using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>Suspend-GridWorkload -Pause: virDomainSuspend (running → paused, memory stays in the host); StartAsync resumes (virDomainResume).</summary>
    internal sealed partial class LibvirtConnection : IPausesWorkloads
    {
        public Task PauseAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            return OnDomain(nativeId, (h, d, t) =>
            {
                var (s, _) = Virt.State(d);
                switch (s)
                {
                    case StateMap.Paused: return; // already paused
                    case StateMap.Running: case StateMap.Blocked: Virt.Suspend(d, t); return;
                    default:
                        throw GridException.Conflict($"The workload is {StateMap.NativeName(s)}; only a running guest can be paused.", "WorkloadNotRunning", t);
                }
            }, cancellationToken);
        }
    }
}
