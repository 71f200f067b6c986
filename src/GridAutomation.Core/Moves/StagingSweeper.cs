using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;

namespace GridAutomation.Core.Moves
{
    /// <summary>
    /// Deletes a move's staged files that no later step reads (the step that needed them is checkpointed done, so a
    /// resume never reads them again) on the thread pool while the next steps run: unlinking a file of a GiB takes
    /// the file system a second or more on a busy disk, which the move's end (removing the staging folder) paid before.
    /// Only files inside the operation's staging folder are touched. The move drains it before it removes the staging
    /// folder or rolls back, so the folder is gone when the move returns, as before.
    /// </summary>
    internal sealed class StagingSweeper
    {
        private readonly string _root;
        private readonly List<Task> _pending = new List<Task>();

        public StagingSweeper(string stagingFolder)
        {
            _root = Path.GetFullPath(stagingFolder).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        }

        public void Delete(IEnumerable<string?> paths)
        {
            var files = paths.Where(p => !string.IsNullOrEmpty(p)).Select(p => Path.GetFullPath(p!))
                .Where(p => p.StartsWith(_root, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).ToList();
            if (files.Count == 0) return;
            _pending.Add(Task.Run(() =>
            {
                foreach (var f in files)
                {
                    try { if (File.Exists(f)) File.Delete(f); }
                    catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException) { /* the staging folder's removal retries it */ }
                }
            }));
        }

        /// <summary>Waits for every deletion begun (they never fail: what is left goes with the staging folder).</summary>
        public async Task DrainAsync()
        {
            if (_pending.Count == 0) return;
            await Task.WhenAll(_pending).ConfigureAwait(false);
            _pending.Clear();
        }
    }
}
