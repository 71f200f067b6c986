using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using GridAutomation.Core.Model;
using System.Data.Common;

namespace GridAutomation.Core.State
{
    /// <summary>What Test-GridState found in a state file: whether it is sound, and what it holds.</summary>
    public sealed class GridStateReport
    {
        public string Path { get; set; } = "";
        public bool Exists { get; set; }
        /// <summary>True when the file is a GridAutomation store that passes PRAGMA quick_check and every journal row reads.</summary>
        public bool Healthy { get; set; }
        public long SizeBytes { get; set; }
        /// <summary>Size of the -wal file (0 when none: the last session closed cleanly).</summary>
        public long WalBytes { get; set; }
        public long ApplicationId { get; set; }
        /// <summary>Schema version per component (core, simulator, ...).</summary>
        public IDictionary<string, int> SchemaVersions { get; set; } = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        /// <summary>The core schema version this module writes.</summary>
        public int ModuleSchemaVersion { get; set; }
        public long Datacenters { get; set; }
        public long Operations { get; set; }
        /// <summary>Operations per stored state (Running ones may read as Interrupted through Get-GridOperation).</summary>
        public IDictionary<string, long> OperationsByState { get; set; } = new Dictionary<string, long>(StringComparer.OrdinalIgnoreCase);
        /// <summary>Per-workload locks held right now (by a Running operation row).</summary>
        public long LocksHeld { get; set; }
        /// <summary>What is wrong (empty when healthy).</summary>
        public IList<string> Problems { get; set; } = new List<string>();
        /// <summary>The error id that describes the damage (StateStoreCorrupt, StateStoreForeign, ...), null when healthy.</summary>
        public string? ErrorId { get; set; }
        public override string ToString() => Path + (Healthy ? " (healthy)" : " (" + ErrorId + ")");
    }

    public static class StateStoreInspector
    {
        /// <summary>
        /// Inspects a state file without writing to it: the same checks as an open (header, application_id or our
        /// schema_version table), PRAGMA quick_check, the schema versions, counts, and a read of every journal row.
        /// </summary>
        public static GridStateReport Inspect(string path)
        {
            string full = System.IO.Path.GetFullPath(path);
            var report = new GridStateReport { Path = full, ModuleSchemaVersion = StateStore.CoreSchemaVersion };
            report.Exists = File.Exists(full);
            if (!report.Exists) { report.Problems.Add("The file does not exist (a new store is created by the first change)."); report.ErrorId = "StateStoreNotFound"; return report; }
            report.SizeBytes = new FileInfo(full).Length;
            var wal = new FileInfo(full + "-wal");
            report.WalBytes = wal.Exists ? wal.Length : 0;
            StateStore? store = null;
            try
            {
                store = StateStore.OpenForInspection(full);
                report.ApplicationId = store.ReadApplicationId();
                foreach (var kv in store.GetSchemaVersions()) report.SchemaVersions[kv.Key] = kv.Value;
                foreach (var p in store.QuickCheck(20)) report.Problems.Add("quick_check: " + p);
                if (report.Problems.Count > 0) { report.ErrorId = "StateStoreCorrupt"; return report; }
                int core = report.SchemaVersions.TryGetValue(StateStore.CoreComponent, out var v) ? v : 0;
                if (core > StateStore.CoreSchemaVersion)
                {
                    report.Problems.Add($"The core schema version {core} is newer than this module's ({StateStore.CoreSchemaVersion}).");
                    report.ErrorId = "StateStoreNewerSchema";
                    return report;
                }
                store.Read(c =>
                {
                    report.Datacenters = Scalar(c, "SELECT count(*) FROM datacenters");
                    using (var cmd = c.Command(""))
                    {
                        cmd.CommandText = "SELECT state, count(*) FROM operations GROUP BY state";
                        using var r = cmd.ExecuteReader();
                        while (r.Read())
                        {
                            string state = r.IsDBNull(0) ? "(null)" : r.GetString(0);
                            long n = r.GetInt64(1);
                            report.Operations += n;
                            report.OperationsByState[state] = n;
                            if (!Enum.TryParse<OperationState>(state, false, out var parsed) || !Enum.IsDefined(typeof(OperationState), parsed) || char.IsDigit(state[0]))
                                report.Problems.Add($"{n} operation(s) have the unknown state '{state}'.");
                        }
                    }
                    if (core >= 3)
                        report.LocksHeld = Scalar(c, "SELECT count(*) FROM workload_locks l JOIN operations o ON o.id = l.operation_id WHERE o.state IN ('Running','Pending')");
                    return 0;
                });
                if (report.Problems.Count > 0) report.ErrorId = "StateStoreCorrupt";
            }
            catch (GridException g)
            {
                report.Problems.Add(g.Message);
                report.ErrorId = g.ErrorId;
            }
            finally { store?.Dispose(); }
            report.Healthy = report.Problems.Count == 0;
            return report;
        }

        private static long Scalar(IStateSession c, string sql)
        {
            using var cmd = c.Command("");
            cmd.CommandText = sql;
            return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        }
    }
}
