using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>Suspend-GridWorkload -Pause: Suspend-VM on the VM's host (Running → Paused); StartAsync runs Resume-VM.</summary>
    internal sealed partial class HyperVConnection : IPausesWorkloads
    {
        public Task PauseAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            ThrowIfDisposed();
            return Run(() => OnVm(nativeId, RemoteScripts.Pause, Args(), cancellationToken), cancellationToken);
        }
    }
}
