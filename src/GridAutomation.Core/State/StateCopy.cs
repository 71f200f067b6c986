using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.State
{
    /// <summary>What Copy-GridState moved: rows per table, counted in the source and in the target after the copy.</summary>
    public sealed class GridStateCopyReport
    {
        public string From { get; set; } = "";
        public string To { get; set; } = "";
        public IDictionary<string, long> Copied { get; } = new Dictionary<string, long>(StringComparer.OrdinalIgnoreCase);
        /// <summary>Components whose tables were not copied (e.g. the simulator's, until it is connected on the target).</summary>
        public IList<string> NotCopied { get; } = new List<string>();
        public bool Verified { get; set; }
    }

    /// <summary>
    /// Copies the core tables (registrations, journal, checkpoints, workload locks) from one store to another, in one
    /// write transaction on the target, then verifies the counts. The target must hold no registrations or operations
    /// (no merge). Components with their own tables (<see cref="StateComponents"/>) are created on the target when it
    /// lacks them and copied when both sides then have the same schema version; any other is named in NotCopied.
    /// </summary>
    public static class StateCopy
    {
        private static readonly (string table, string columns, string order)[] CoreTables =
        {
            ("datacenters", "name, provider, endpoint, owner, site, capabilities, settings, registered_at", "name"),
            ("operations", "id, kind, datacenter, target, state, started, finished, error, error_id, idempotency_key, batch_id, request, result, lease_pid, lease_machine, lease_process_start, heartbeat, target_name, lock_key, fencing_token, parent_id, destination_datacenter, coordinator, lease_client", "seq"),
            ("operation_checkpoints", "operation_id, seq, key, value", "operation_id, seq"),
            ("workload_locks", "lock_key, operation_id, fencing_token, acquired", "lock_key"),
        };

        public static GridStateCopyReport Copy(IStateStore from, IStateStore to)
        {
            if (from == null) throw new ArgumentNullException(nameof(from));
            if (to == null) throw new ArgumentNullException(nameof(to));
            var report = new GridStateCopyReport { From = from.Path, To = to.Path };
            long existing = to.Read(s => s.ScalarInt64("SELECT count(*) FROM datacenters") + s.ScalarInt64("SELECT count(*) FROM operations"));
            if (existing > 0)
                throw new GridException(GridErrorKind.Conflict, $"The target store '{to.Path}' already holds registrations or operations ({existing}); Copy-GridState does not merge. Use an empty database.", "StateStoreNotEmpty") { Target = to.Path };
            var src = Versions(from);
            var dst = Versions(to);
            var tables = CoreTables.Select(t => (t.table, t.columns, t.order)).ToList();
            foreach (var kv in src)
            {
                if (string.Equals(kv.Key, StateStore.CoreComponent, StringComparison.OrdinalIgnoreCase)) continue;
                var component = StateComponents.Find(kv.Key);
                // A component the target lacks is created there first, when this module's migrations bring it to the
                // source's version (the grid, the ledger, the simulator): its rows then travel with the rest.
                if (component != null && !dst.ContainsKey(kv.Key) && component.Version == kv.Value)
                {
                    component.Ensure(to);
                    dst[kv.Key] = component.Version;
                }
                if (component != null && dst.TryGetValue(kv.Key, out var v) && v == kv.Value)
                    foreach (var (table, order) in component.Tables) tables.Add((table, Columns(from, table), order));
                else report.NotCopied.Add($"{kv.Key} (schema version {kv.Value} here, {(dst.TryGetValue(kv.Key, out var d) ? d.ToString(CultureInfo.InvariantCulture) : "none")} in the target"
                    + (component == null ? "; no loaded component of this module knows it" : component.Version != kv.Value ? $"; this module's is version {component.Version}: open the file with this module once to migrate it" : "") + ")");
            }
            to.Write(w =>
            {
                foreach (var (table, columns, order) in tables)
                {
                    var cols = columns.Split(',').Select(c => c.Trim()).ToArray();
                    string insert = $"INSERT INTO {table}({columns}) VALUES(" + string.Join(",", cols.Select((_, i) => "@p" + i)) + ")";
                    from.Read(r =>
                    {
                        using var q = r.Command($"SELECT {columns} FROM {table} ORDER BY {order}");
                        using var rd = q.ExecuteReader();
                        while (rd.Read())
                        {
                            using var cmd = w.Command(insert);
                            for (int i = 0; i < cols.Length; i++) cmd.Bind("p" + i, rd.IsDBNull(i) ? null : rd.GetValue(i));
                            cmd.ExecuteNonQuery();
                        }
                        return 0;
                    });
                }
                // Rows came with their keys: a PostgreSQL identity column's sequence must go past them, or the next
                // row the target makes (an interval, a simulator action) would collide with a copied one.
                if (to.Backend == StateBackend.PostgreSql)
                    foreach (var (table, _, _) in tables)
                        foreach (var column in IdentityColumns(w, table))
                            w.Scalar($"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}), false)");
                return 0;
            });
            bool ok = true;
            foreach (var (table, _, _) in tables)
            {
                long a = from.Read(s => s.ScalarInt64($"SELECT count(*) FROM {table}"));
                long b = to.Read(s => s.ScalarInt64($"SELECT count(*) FROM {table}"));
                report.Copied[table] = b;
                if (a != b) ok = false;
            }
            report.Verified = ok;
            if (!ok)
                throw new GridException(GridErrorKind.StateStore, $"Copy to '{to.Path}' did not verify: the row counts differ ({string.Join(", ", report.Copied.Select(k => k.Key + "=" + k.Value))}).", "StateStoreCopyMismatch") { Target = to.Path };
            return report;
        }

        private static List<string> IdentityColumns(IStateSession s, string table)
        {
            using var cmd = s.Command("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = @t AND is_identity = 'YES'");
            cmd.Bind("t", table);
            using var r = cmd.ExecuteReader();
            var names = new List<string>();
            while (r.Read()) names.Add(r.GetString(0));
            return names;
        }

        private static Dictionary<string, int> Versions(IStateStore store)
            => store.Read(s =>
            {
                var d = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
                using var cmd = s.Command("SELECT component, version FROM schema_version");
                using var r = cmd.ExecuteReader();
                while (r.Read()) d[r.GetString(0)] = Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture);
                return d;
            });

        private static string Columns(IStateStore store, string table)
            => store.Read(s =>
            {
                using var cmd = s.Command($"SELECT * FROM {table} LIMIT 0");
                using var r = cmd.ExecuteReader();
                return string.Join(", ", Enumerable.Range(0, r.FieldCount).Select(r.GetName));
            });
    }
}
