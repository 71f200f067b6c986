using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Xen.Xapi;

namespace GridAutomation.Providers.Xen
{
    /// <summary>Suspend-GridWorkload -Pause: Async.VM.pause (Running → Paused); StartAsync unpauses.</summary>
    internal sealed partial class XenConnection : IPausesWorkloads
    {
        public async Task PauseAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            var (vm, rec) = await ResolveAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string name = XapiValue.Str(rec, "name_label") ?? nativeId;
            string power = XapiValue.Str(rec, "power_state") ?? "";
            if (power == "Paused") return;
            if (power != "Running") // XAPI's own rule for VM.pause (VM_BAD_POWER_STATE otherwise)
                throw GridException.Conflict($"'{name}' is {power}: only a running VM can be paused.", "WorkloadNotRunning", Id(nativeId));
            await VmTaskAsync("pause", "Pausing", name, scope, nativeId, cancellationToken, vm).ConfigureAwait(false);
        }
    }
}
