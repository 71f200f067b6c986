using System;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.VSphere.Vim25
{
    /// <summary>Follows vSphere tasks by polling Task.info (state, progress, error, result).</summary>
    internal static class VimTasks
    {
        /// <summary>
        /// Waits for a task to end. <paramref name="progress"/> gets the percentage (or -1) each time it is read.
        /// A task in error becomes a GridException carrying vSphere's own message and fault type.
        /// </summary>
        public static async Task<VimNode?> WaitAsync(VimClient c, MoRef task, string what, Action<int, string>? progress, CancellationToken ct, object? target = null)
        {
            int delay = 50;
            int lastPercent = -2;
            while (true)
            {
                ObjectContent? oc;
                try
                {
                    oc = await c.GetPropertiesAsync(task, new[] { "info" }, ct).ConfigureAwait(false);
                }
                catch (GridException ex) when (ex.Kind == GridErrorKind.Cancelled)
                {
                    await CancelQuietlyAsync(c, task).ConfigureAwait(false);
                    throw new GridException(GridErrorKind.Cancelled, $"{what}: cancelled while waiting for vSphere task {task.Value} (cancellation was asked of vSphere; the task may still finish).", "OperationCancelled", ex) { Target = target };
                }
                var info = oc?.Get("info") ?? throw VimClient.Malformed($"task {task.Value} has no info.", null);
                string state = info.ChildText("state") ?? "";
                int percent = info.Child("progress")?.AsInt() ?? -1;
                switch (state)
                {
                    case "success":
                        progress?.Invoke(100, "success");
                        return info.Child("result");
                    case "error":
                        var err = info.Child("error");
                        var fault = err?.Child("fault");
                        string faultType = fault?.XsiType ?? "SystemError";
                        string message = err?.ChildText("localizedMessage") ?? "";
                        if (string.IsNullOrWhiteSpace(message)) message = "the task failed with " + faultType;
                        throw VimFaults.ToException(faultType, message, what, target);
                    default:
                        if (percent != lastPercent) { progress?.Invoke(percent, state); lastPercent = percent; }
                        break;
                }
                try { await Task.Delay(delay, ct).ConfigureAwait(false); }
                catch (OperationCanceledException oce)
                {
                    await CancelQuietlyAsync(c, task).ConfigureAwait(false);
                    throw new GridException(GridErrorKind.Cancelled, $"{what}: cancelled while waiting for vSphere task {task.Value} (cancellation was asked of vSphere; the task may still finish).", "OperationCancelled", oce) { Target = target };
                }
                delay = Math.Min(delay * 2, 1000);
            }
        }

        private static async Task CancelQuietlyAsync(VimClient c, MoRef task)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await c.InvokeOnceAsync("CancelTask", task, null, cts.Token).ConfigureAwait(false);
            }
            catch (GridException) { /* not cancelable or already done */ }
        }
    }
}
