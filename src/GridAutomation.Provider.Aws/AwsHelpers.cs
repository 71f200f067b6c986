using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Amazon;
using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.Runtime.Credentials;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;

namespace GridAutomation.Providers.Aws
{
    /// <summary>AwsConnection, shared helpers: waits, the one SDK call wrapper that maps errors, option parsing.</summary>
    public sealed partial class AwsConnection
    {
        // ---- helpers -----------------------------------------------------------------------------------------

        /// <summary>Polls DescribeInstances until <paramref name="done"/> holds for the native state, reporting progress.</summary>
        private async Task<Instance> WaitForAsync(string id, Func<string, bool> done, string activity, IOperationScope? scope, CancellationToken ct, bool tolerateNotFound = false)
        {
            var started = DateTime.UtcNow;
            string? last = null;
            int polls = 0;
            while (true)
            {
                Instance? inst = null;
                try { (inst, _) = await DescribeOneAsync(id, ct).ConfigureAwait(false); }
                // A launched instance is never reported missing on the first look: a slow first call must not use up the grace.
                catch (GridException ex) when (tolerateNotFound && ex.Kind == GridErrorKind.NotFound && (polls == 0 || DateTime.UtcNow - started < LaunchVisibilityGrace)) { }
                if (inst != null)
                {
                    string st = inst.State?.Name?.Value ?? "";
                    if (st != last) { scope?.Report(new GridProgress(activity, $"{id} is {st}", -1)); last = st; }
                    if (done(st)) return inst;
                }
                if (DateTime.UtcNow - started > WaitTimeout)
                    throw new GridException(GridErrorKind.Unavailable, $"{id} did not reach the wanted state within {WaitTimeout.TotalMinutes:0} minutes (last: {last ?? "unknown"}).", "AwsWaitTimedOut") { Target = Target(id), IsTransient = false };
                try { await Task.Delay(PollDelay(polls++), ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { throw AwsErrors.Map(new OperationCanceledException(ct), "wait", Target(id), ct); }
            }
        }

        /// <summary>Calls <paramref name="probe"/> (one describe call, which throws on failure) until it returns a result, backing off between calls; AwsWaitTimedOut after <see cref="WaitTimeout"/>.</summary>
        private async Task<T> PollAsync<T>(Func<CancellationToken, Task<T?>> probe, Func<string> timedOut, string what, CancellationToken ct) where T : class
        {
            var started = DateTime.UtcNow;
            for (int polls = 0; ; polls++)
            {
                if (await probe(ct).ConfigureAwait(false) is T done) return done;
                if (DateTime.UtcNow - started > WaitTimeout)
                    throw new GridException(GridErrorKind.Unavailable, timedOut(), "AwsWaitTimedOut") { Target = what, IsTransient = false };
                await Task.Delay(PollDelay(polls), ct).ConfigureAwait(false);
            }
        }

        /// <summary>Reports the state change EC2 answered a Start/Stop/Terminate with ("running -> stopping").</summary>
        private static void ReportChange(IOperationScope? scope, string activity, List<InstanceStateChange>? changes, int percent)
        {
            if (scope == null || changes == null) return;
            foreach (var c in changes)
                scope.Report(new GridProgress(activity, $"{c.InstanceId}: {c.PreviousState?.Name?.Value ?? "?"} -> {c.CurrentState?.Name?.Value ?? "?"}", percent));
        }

        private async Task<T> CallAsync<T>(string action, object? target, Func<CancellationToken, Task<T>> call, CancellationToken ct)
        {
            try { return await call(ct).ConfigureAwait(false); }
            catch (Exception ex) { throw AwsErrors.Map(ex, action, target, ct, _scrub); }
        }

        private string Target(string id) => WorkloadId.Format(Datacenter.Name, id);

        private GridException Terminated(string id, string state)
            => new GridException(GridErrorKind.Conflict, $"{id} is {state}: a terminated instance cannot be changed.", "WorkloadTerminated") { Target = Target(id), NativeCode = "IncorrectInstanceState" };

        private static void CheckTagKey(string key)
        {
            // One error id for every tag refusal (InvalidTag), EC2's own rule said in the message.
            if (string.IsNullOrEmpty(key)) throw GridException.InvalidRequest("Invalid tags for EC2: a tag key may not be empty.", "InvalidTag");
            var why = AwsNameRules.WhyInvalidTagKey(key);
            if (why != null) throw GridException.InvalidRequest($"Invalid tags for EC2: tag key '{key}': {why}.", "InvalidTag", key);
        }

        private static string? Opt(Dictionary<string, string> options, string key)
            => options.TryGetValue(key, out var v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;

        private static bool ParseBool(string v, string name)
        {
            if (bool.TryParse(v, out var b)) return b;
            if (v == "1") return true;
            if (v == "0") return false;
            throw GridException.InvalidRequest($"Option {name} must be true or false, not '{v}'.", "AwsOptionInvalid", name);
        }

        internal static List<string> SplitList(string? s)
            => string.IsNullOrWhiteSpace(s) ? new List<string>() : s!.Split(new[] { ',', ';', '\n' }, StringSplitOptions.RemoveEmptyEntries).Select(x => x.Trim()).Where(x => x.Length > 0).Distinct(StringComparer.Ordinal).ToList();

        private static IEnumerable<List<string>> Chunk(List<string> items, int size)
        {
            for (int i = 0; i < items.Count; i += size) yield return items.GetRange(i, Math.Min(size, items.Count - i));
        }
    }
}
