using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using System.Data.Common;
using static GridAutomation.Providers.Simulator.SimulatorCatalog;
using Row = GridAutomation.Providers.Simulator.SimulatorData.WorkloadRow;

namespace GridAutomation.Providers.Simulator
{
    /// <summary>The simulated server's own log of changing calls (connect with -ActionLog): table sim_actions.</summary>
    public sealed partial class SimulatorConnection
    {
        // ---- the server's action log (-ActionLog) --------------------------------------------------------------------

        public Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => LoggedAsync("Start", nativeId, null, () => CoreStartAsync(nativeId, scope, cancellationToken));

        public Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
            => LoggedAsync("Stop", nativeId, ActionLog ? mode.ToString() : null, () => CoreStopAsync(nativeId, mode, scope, cancellationToken));

        public Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => LoggedAsync("Restart", nativeId, null, () => CoreRestartAsync(nativeId, scope, cancellationToken));

        public Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => LoggedAsync("Suspend", nativeId, null, () => CoreSuspendAsync(nativeId, scope, cancellationToken));

        public Task PauseAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => LoggedAsync("Pause", nativeId, null, () => CorePauseAsync(nativeId, scope, cancellationToken));

        public Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
            => LoggedAsync("Remove", nativeId, null, () => CoreRemoveAsync(nativeId, removeStorage, scope, cancellationToken));

        public Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
            => LoggedAsync("Resize", nativeId, null, () => CoreResizeAsync(nativeId, request, scope, cancellationToken));

        public Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
            => LoggedAsync("SetTags", nativeId, ActionLog ? SimulatorData.TagChangesJson(tags) : null, () => CoreSetTagsAsync(nativeId, tags, scope, cancellationToken));

        public Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
            => LoggedAsync("Move", nativeId, destinationHost, () => CoreMoveAsync(nativeId, destinationHost, scope, cancellationToken));

        private static readonly int ProcessId = System.Diagnostics.Process.GetCurrentProcess().Id;

        /// <summary>Runs a changing call, recording in sim_actions when the server received it and when it finished.</summary>
        private async Task LoggedAsync(string action, string nativeId, string? detail, Func<Task> call)
        {
            if (!ActionLog) { await call().ConfigureAwait(false); return; }
            long id = Write(c =>
            {
                // RETURNING: SQLite (3.35+) and PostgreSQL alike
                return c.ScalarInt64("INSERT INTO sim_actions(datacenter, native_id, action, pid, started_ticks, detail) VALUES(@dc, @n, @a, @p, @t, @d) RETURNING id",
                    ("@dc", _dc), ("@n", nativeId ?? ""), ("@a", action), ("@p", ProcessId), ("@t", DateTime.UtcNow.Ticks), ("@d", detail));
            });
            string outcome = "ok";
            try { await call().ConfigureAwait(false); }
            catch (GridException g) { outcome = g.ErrorId; throw; }
            catch (OperationCanceledException) { outcome = "cancelled"; throw; }
            finally
            {
                Write(c =>
                {
                    SimulatorData.Exec(c, "UPDATE sim_actions SET ended_ticks = @t, outcome = @o WHERE id = @id",
                        ("@t", DateTime.UtcNow.Ticks), ("@o", outcome), ("@id", id));
                    return 0;
                });
            }
        }
    }
}
