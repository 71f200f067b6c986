using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.Linq;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Replication
{
    /// <summary>
    /// The replication service's tables (component "replication", its own schema versions): protected items, their
    /// recovery points (unique per item and sequence, so two runners never record the same point) and recovery plans.
    /// </summary>
    internal static class ReplicationData
    {
        public const string Component = "replication";

        public static readonly string[] Migrations =
        {
            // v1
            @"CREATE TABLE rep_items(
                id TEXT NOT NULL PRIMARY KEY,
                source_id TEXT NOT NULL COLLATE NOCASE,
                name TEXT NOT NULL,
                source_dc TEXT NOT NULL COLLATE NOCASE,
                dest_dc TEXT NOT NULL COLLATE NOCASE,
                dest_host TEXT,
                size TEXT,
                rpo_minutes INTEGER NOT NULL,
                point_count INTEGER NOT NULL,
                state TEXT NOT NULL,
                last_error TEXT,
                fenced INTEGER NOT NULL,
                failover_id TEXT,
                test_ids TEXT,
                options TEXT,
                created TEXT NOT NULL);
              CREATE UNIQUE INDEX ux_rep_items_source ON rep_items(source_id);
              CREATE TABLE rep_points(
                item_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                taken TEXT NOT NULL,
                size_bytes INTEGER NOT NULL,
                crash_consistent INTEGER NOT NULL,
                imported TEXT NOT NULL,
                op_id TEXT NOT NULL,
                PRIMARY KEY(item_id, seq));
              CREATE TABLE rep_plans(
                name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
                groups_json TEXT NOT NULL,
                created TEXT NOT NULL);",
        };

        public static readonly string[] PostgreSqlMigrations = Array.ConvertAll(Migrations, SqlDialect.SqliteToPostgreSql);

        public static void EnsureSchema(IStateStore store)
            => StateComponent.Ensure(store);

        /// <summary>What Copy-GridState needs to know of this component (protected items, their recovery points, plans).</summary>
        public static readonly StateComponent StateComponent = new StateComponent(Component, Migrations, PostgreSqlMigrations,
            ("rep_items", "id"), ("rep_points", "item_id, seq"), ("rep_plans", "name"));

        private const string ItemColumns = "id, source_id, name, source_dc, dest_dc, dest_host, size, rpo_minutes, point_count, state, last_error, fenced, failover_id, test_ids, options, created";

        public static List<GridReplication> ListItems(IStateSession s)
        {
            var list = new List<GridReplication>();
            using (var cmd = s.Command("SELECT " + ItemColumns + " FROM rep_items ORDER BY created, id"))
            using (var r = cmd.ExecuteReader())
                while (r.Read()) list.Add(ReadItem(r));
            // last point and count per item, one query
            var stats = new Dictionary<string, (string taken, long n)>(StringComparer.Ordinal);
            using (var cmd = s.Command("SELECT item_id, MAX(taken), COUNT(*) FROM rep_points GROUP BY item_id"))
            using (var r = cmd.ExecuteReader())
                while (r.Read()) stats[r.GetString(0)] = (r.GetString(1), Convert.ToInt64(r.GetValue(2), CultureInfo.InvariantCulture));
            foreach (var i in list)
                if (stats.TryGetValue(i.Id, out var st)) { i.LastRecoveryPoint = StateStore.ParseTime(st.taken); i.PointCount = (int)st.n; }
            return list;
        }

        private static GridReplication ReadItem(DbDataReader r)
        {
            string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
            return new GridReplication
            {
                Id = r.GetString(0), SourceId = r.GetString(1), Name = r.GetString(2), SourceDatacenter = r.GetString(3), DestinationDatacenter = r.GetString(4),
                DestinationHost = S(5), Size = S(6), RpoMinutes = Convert.ToInt32(r.GetValue(7), CultureInfo.InvariantCulture),
                RecoveryPointCount = Convert.ToInt32(r.GetValue(8), CultureInfo.InvariantCulture),
                State = (ReplicationState)Enum.Parse(typeof(ReplicationState), r.GetString(9)), LastError = S(10),
                Fenced = Convert.ToInt64(r.GetValue(11), CultureInfo.InvariantCulture) != 0, FailoverWorkloadId = S(12),
                TestWorkloadIds = string.IsNullOrEmpty(S(13)) ? new List<string>() : S(13)!.Split('\n').ToList(),
                Created = StateStore.ParseTime(r.GetString(15)),
            };
        }

        public static string? OptionsJson(IStateSession s, string id) => s.Scalar("SELECT options FROM rep_items WHERE id=@id", ("id", id)) as string;

        public static void InsertItem(IStateSession s, GridReplication i, string optionsJson)
            => s.Execute("INSERT INTO rep_items(" + ItemColumns + ") VALUES(@id,@src,@name,@sdc,@ddc,@host,@size,@rpo,@n,@state,NULL,0,NULL,NULL,@opt,@created)",
                ("id", i.Id), ("src", i.SourceId), ("name", i.Name), ("sdc", i.SourceDatacenter), ("ddc", i.DestinationDatacenter), ("host", i.DestinationHost),
                ("size", i.Size), ("rpo", (long)i.RpoMinutes), ("n", (long)i.RecoveryPointCount), ("state", i.State.ToString()), ("opt", optionsJson),
                ("created", StateStore.FormatTime(i.Created)));

        /// <summary>Writes the changing columns of an item (state, error, fence, failover copy, test copies).</summary>
        public static void UpdateItem(IStateSession s, GridReplication i)
            => s.Execute("UPDATE rep_items SET state=@state, last_error=@err, fenced=@f, failover_id=@fo, test_ids=@t WHERE id=@id",
                ("id", i.Id), ("state", i.State.ToString()), ("err", i.LastError), ("f", i.Fenced ? 1L : 0L), ("fo", i.FailoverWorkloadId),
                ("t", i.TestWorkloadIds.Count == 0 ? null : string.Join("\n", i.TestWorkloadIds)));

        public static void SetError(IStateSession s, string id, string? error)
            => s.Execute("UPDATE rep_items SET last_error=@e WHERE id=@id", ("id", id), ("e", error));

        public static void DeleteItem(IStateSession s, string id)
        {
            s.Execute("DELETE FROM rep_points WHERE item_id=@id", ("id", id));
            s.Execute("DELETE FROM rep_items WHERE id=@id", ("id", id));
        }

        public static List<GridRecoveryPoint> ListPoints(IStateSession s, string? itemId)
        {
            var list = new List<GridRecoveryPoint>();
            using var cmd = s.Command("SELECT p.item_id, p.seq, p.taken, p.size_bytes, p.crash_consistent, p.imported, p.op_id, i.source_id, i.name, i.dest_dc FROM rep_points p JOIN rep_items i ON i.id = p.item_id"
                + (itemId == null ? "" : " WHERE p.item_id=@id") + " ORDER BY i.created, i.id, p.seq");
            if (itemId != null) cmd.Bind("@id", itemId);
            using var r = cmd.ExecuteReader();
            while (r.Read())
                list.Add(new GridRecoveryPoint
                {
                    ReplicationId = r.GetString(0), Sequence = Convert.ToInt64(r.GetValue(1), CultureInfo.InvariantCulture), Time = StateStore.ParseTime(r.GetString(2)),
                    SizeBytes = Convert.ToInt64(r.GetValue(3), CultureInfo.InvariantCulture), CrashConsistent = Convert.ToInt64(r.GetValue(4), CultureInfo.InvariantCulture) != 0,
                    ImportedDisks = r.GetString(5).Split('\n').ToList(), OperationId = Guid.Parse(r.GetString(6)),
                    SourceId = r.GetString(7), Name = r.GetString(8), DestinationDatacenter = r.GetString(9),
                });
            return list;
        }

        /// <summary>Records a point as the next number of its item; a second runner racing for the same number fails on the key.</summary>
        public static long InsertPoint(IStateSession s, GridRecoveryPoint p)
        {
            long seq = s.ScalarInt64("SELECT COALESCE(MAX(seq), 0) + 1 FROM rep_points WHERE item_id=@id", ("id", p.ReplicationId));
            s.Execute("INSERT INTO rep_points(item_id, seq, taken, size_bytes, crash_consistent, imported, op_id) VALUES(@id,@seq,@t,@sz,@cc,@imp,@op)",
                ("id", p.ReplicationId), ("seq", seq), ("t", StateStore.FormatTime(p.Time)), ("sz", p.SizeBytes), ("cc", p.CrashConsistent ? 1L : 0L),
                ("imp", string.Join("\n", p.ImportedDisks)), ("op", p.OperationId.ToString("N")));
            return seq;
        }

        public static void DeletePoint(IStateSession s, string itemId, long seq)
            => s.Execute("DELETE FROM rep_points WHERE item_id=@id AND seq=@seq", ("id", itemId), ("seq", seq));

        /// <summary>Every table of the component as text, in a stable order (tests compare it before and after a refused call).</summary>
        public static string Dump(IStateSession s)
        {
            var sb = new System.Text.StringBuilder();
            foreach (var (t, order) in new[] { ("rep_items", "id"), ("rep_points", "item_id, seq"), ("rep_plans", "name") })
            {
                using var cmd = s.Command("SELECT * FROM " + t + " ORDER BY " + order);
                using var r = cmd.ExecuteReader();
                while (r.Read())
                {
                    sb.Append(t);
                    for (int i = 0; i < r.FieldCount; i++) sb.Append('|').Append(r.IsDBNull(i) ? "" : Convert.ToString(r.GetValue(i), CultureInfo.InvariantCulture));
                    sb.Append('\n');
                }
            }
            return sb.ToString();
        }
    }
}
