using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Providers;
using static GridAutomation.Providers.Simulator.SimulatorCatalog;

namespace GridAutomation.Providers.Simulator
{
    /// <summary>Suspend-GridWorkload -Pause: poweredOn → paused (memory and host capacity stay held; Start resumes).</summary>
    public sealed partial class SimulatorConnection : IPausesWorkloads
    {
        private async Task CorePauseAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            await EnterAsync("Pause", cancellationToken).ConfigureAwait(false);
            // A pause is one step (no intermediate native state): the simulated latency first, then paused at once,
            // so a process killed before the write leaves the workload running and a re-run pauses it.
            bool act = Read(c => Check(Load(c, nativeId)));
            if (!act) return;
            await TransitionDelayAsync().ConfigureAwait(false);
            Write(c =>
            {
                var w = Load(c, nativeId);
                if (Check(w)) SetState(c, w, Paused);
                return 0;
            });
        }

        /// <summary>True when the workload is running and can be paused; false when already paused; Conflict otherwise.</summary>
        private bool Check(SimulatorData.WorkloadRow w)
        {
            switch (w.State)
            {
                case Paused: return false;
                case PoweredOn: return true;
                case PoweredOff: case Suspended: case Provisioning: throw Conflict(w, "pause", "WorkloadNotRunning");
                default: throw Conflict(w, "pause", "WorkloadBusy");
            }
        }
    }
}
