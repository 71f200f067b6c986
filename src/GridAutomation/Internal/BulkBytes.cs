using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Linq;

namespace GridAutomation.Internal
{
    /// <summary>
    /// Overall bytes of a bulk transfer (Move-GridWorkload -DestinationDatacenter piping many workloads): each workload's
    /// bytes done of its total, first as planned from its disks, then as its move reports them (GridProgress.BytesDone of
    /// BytesTotal). The cmdlet's parent progress bar (activity 1) shows the sum; each workload's own bar is its child.
    /// </summary>
    internal sealed class BulkBytes
    {
        private readonly ConcurrentDictionary<string, (long Done, long Total)> _items = new ConcurrentDictionary<string, (long, long)>(StringComparer.OrdinalIgnoreCase);
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _lastShown = -1000;

        /// <summary>A workload's planned total before its move reports (e.g. twice its disks' size: export and import).</summary>
        public void Plan(string target, long total)
        {
            if (total > 0) _items.TryAdd(target, (0, total));
        }

        /// <summary>What a workload's move reported. False when nothing is tracked for bytes (no report carried them).</summary>
        public void Update(string target, long done, long total)
        {
            if (total <= 0) return;
            _items[target] = (Math.Max(0, Math.Min(done, total)), total);
        }

        public bool Any => !_items.IsEmpty;

        public (long Done, long Total) Sum()
        {
            long d = 0, t = 0;
            foreach (var v in _items.Values) { d += v.Done; t += v.Total; }
            return (d, t);
        }

        /// <summary>True at most 4 times a second (the parent bar is redrawn for a byte report), always when <paramref name="force"/>.</summary>
        public bool Due(bool force)
        {
            long now = _clock.ElapsedMilliseconds;
            if (!force && now - System.Threading.Interlocked.Read(ref _lastShown) < 250) return false;
            System.Threading.Interlocked.Exchange(ref _lastShown, now);
            return true;
        }

        /// <summary>
        /// The parent bar (activity 1): "k of n done", with the overall bytes ("1.2 of 8.0 GiB copied, ...") and a
        /// percentage by bytes when work transfers bytes (a move between datacenters), else by items. Drawn by a bulk
        /// run (<see cref="GridCmdlet.BulkRecord"/>) and carried by an -AsJob job's own Progress stream (<see cref="GridJob"/>).
        /// </summary>
        public System.Management.Automation.ProgressRecord Record(string activity, int done, int total, int failed, string tail)
        {
            string status = $"{done} of {total} done" + (failed > 0 ? $", {failed} failed" : "");
            int percent = Math.Min(100, done * 100 / Math.Max(1, total));
            if (Any)
            {
                var (bd, bt) = Sum();
                status = Format(bd, bt) + " copied, " + status;
                if (bt > 0) percent = (int)Math.Min(100, bd * 100 / bt);
            }
            return new System.Management.Automation.ProgressRecord(1, activity, status + tail) { PercentComplete = percent };
        }

        /// <summary>"1.2 of 8.0 GiB" / "300 of 512 MiB".</summary>
        public static string Format(long done, long total)
        {
            const double GiB = 1024.0 * 1024 * 1024, MiB = 1024.0 * 1024;
            return total >= GiB
                ? (done / GiB).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + " of " + (total / GiB).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + " GiB"
                : ((long)(done / MiB)).ToString(System.Globalization.CultureInfo.InvariantCulture) + " of " + ((long)(total / MiB)).ToString(System.Globalization.CultureInfo.InvariantCulture) + " MiB";
        }
    }
}
