using System;
using System.IO;
using Microsoft.Data.Sqlite;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.State
{
    /// <summary>
    /// A state file that cannot be written (a read-only mount, an immutable file, no permission on the file or its
    /// folder): it is opened read-only, so Get- commands read it; every write is refused with StateStoreNotWritable,
    /// a message that says what to do. Detected without writing to the file.
    /// </summary>
    public sealed partial class StateStore
    {
        /// <summary>Why the file asked for writing cannot be written (the system's words), or null when it can.</summary>
        public string? NotWritableReason { get; private set; }

        /// <summary>
        /// Null when the file (and, without a -wal beside it, its folder: WAL mode creates -wal and -shm there) can be
        /// written. Opening for writing changes nothing in the file; the folder probe is a file created and deleted at once.
        /// </summary>
        internal static string? WhyNotWritable(string full)
        {
            try { using (new FileStream(full, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete)) { } }
            catch (UnauthorizedAccessException ex) { return ex.Message; }
            catch (IOException ex) when (!IsSharingViolation(ex)) { return ex.Message; }
            if (File.Exists(full + "-wal")) return null;
            string probe = full + ".probe-" + Guid.NewGuid().ToString("N").Substring(0, 8);
            try
            {
                using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
                return null;
            }
            catch (UnauthorizedAccessException ex) { return "its folder: " + ex.Message; }
            catch (IOException ex) { return "its folder: " + ex.Message; }
            finally { try { if (File.Exists(probe)) File.Delete(probe); } catch (IOException) { } catch (UnauthorizedAccessException) { } }
        }

        // ERROR_SHARING_VIOLATION / ERROR_LOCK_VIOLATION (Windows): another process has it open, not a read-only file.
        private static bool IsSharingViolation(IOException ex) => (ex.HResult & 0xFFFF) == 32 || (ex.HResult & 0xFFFF) == 33;

        /// <summary>
        /// The data source for reading a file that cannot be written. In WAL mode a reader needs the -shm file; where
        /// none exists and none can be made (a read-only folder) SQLite opens the file only as immutable, which is
        /// exact when no -wal holds changes (a clean close leaves none), so immutable is used only then.
        /// </summary>
        private static string ReadOnlyDataSource(string full)
        {
            if (File.Exists(full + "-wal") || File.Exists(full + "-shm")) return full;
            return new Uri(full).AbsoluteUri + "?immutable=1";
        }

        internal static GridException NotWritable(string path, string? reason, SqliteException? inner)
            => new GridException(GridErrorKind.StateStore,
                $"The state store '{path}' cannot be written{(reason != null ? " (" + reason.TrimEnd('.') + ")" : "")}: the file or its folder is read-only to you, or on a read-only file system. Reading still works. Make both writable (chmod u+w on the file and its folder; remount read-write; chattr -i), or point StatePath at a file you can write (Set-GridConfiguration -StatePath, or GRIDAUTOMATION_STATE).",
                "StateStoreNotWritable", inner) { Target = path, NativeCode = inner?.SqliteErrorCode.ToString(System.Globalization.CultureInfo.InvariantCulture) };

        /// <summary>The refusal of a write on this store: StateStoreNotWritable when the file cannot be written, else null.</summary>
        public GridException? NotWritableError() => NotWritableReason != null ? NotWritable(Path, NotWritableReason, null) : null;
    }
}
