using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using System.Data.Common;

namespace GridAutomation.Providers.Simulator
{
    /// <summary>The simulator's tables in the state store (component "simulator"), keyed by datacenter name.</summary>
    internal sealed class SimulatorData
    {
        public const string Component = "simulator";

        public static readonly string[] Migrations =
        {
            // v1
            @"CREATE TABLE sim_datacenters(
                name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
                seed INTEGER NOT NULL,
                latency_ms INTEGER NOT NULL DEFAULT 0,
                fault_rate REAL NOT NULL DEFAULT 0,
                fault_seed INTEGER NOT NULL,
                next_id INTEGER NOT NULL DEFAULT 1,
                created_at TEXT NOT NULL);
              CREATE TABLE sim_hosts(
                datacenter TEXT NOT NULL COLLATE NOCASE,
                name TEXT NOT NULL COLLATE NOCASE,
                native_id TEXT NOT NULL,
                cluster TEXT,
                cpu INTEGER NOT NULL,
                memory_mb INTEGER NOT NULL,
                state TEXT NOT NULL DEFAULT 'connected',
                PRIMARY KEY(datacenter, name)) WITHOUT ROWID;
              CREATE TABLE sim_workloads(
                datacenter TEXT NOT NULL COLLATE NOCASE,
                seq INTEGER NOT NULL,
                native_id TEXT NOT NULL COLLATE NOCASE,
                name TEXT NOT NULL,
                host TEXT NOT NULL COLLATE NOCASE,
                state TEXT NOT NULL,
                consumes INTEGER NOT NULL DEFAULT 0,
                cpu INTEGER NOT NULL,
                memory_mb INTEGER NOT NULL,
                size TEXT,
                image TEXT,
                tags TEXT,
                disk_gb REAL NOT NULL,
                idempotency_key TEXT,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL,
                PRIMARY KEY(datacenter, seq)) WITHOUT ROWID;
              CREATE UNIQUE INDEX ux_sim_workloads_native ON sim_workloads(datacenter, native_id);
              CREATE UNIQUE INDEX ux_sim_workloads_key ON sim_workloads(datacenter, idempotency_key) WHERE idempotency_key IS NOT NULL;
              CREATE INDEX ix_sim_workloads_alloc ON sim_workloads(datacenter, consumes, host);
              CREATE TABLE sim_detached_disks(
                datacenter TEXT NOT NULL COLLATE NOCASE,
                disk_id TEXT NOT NULL,
                name TEXT,
                size_gb REAL,
                from_workload TEXT,
                from_name TEXT,
                detached_at TEXT NOT NULL,
                PRIMARY KEY(datacenter, disk_id)) WITHOUT ROWID;",
            // v2: the server-side log of changing calls (connect with -ActionLog), independent of the module's journal
            @"CREATE TABLE sim_actions(
                id INTEGER PRIMARY KEY,
                datacenter TEXT NOT NULL COLLATE NOCASE,
                native_id TEXT NOT NULL,
                action TEXT NOT NULL,
                pid INTEGER NOT NULL,
                started_ticks INTEGER NOT NULL,
                ended_ticks INTEGER,
                outcome TEXT,
                detail TEXT);
              CREATE INDEX ix_sim_actions_workload ON sim_actions(datacenter, native_id, started_ticks);",
            // v3: the content hash of a workload's (virtual) disk, set when it was imported by a move; NULL = the disk's own
            @"ALTER TABLE sim_workloads ADD COLUMN disk_hash TEXT;",
            // v4: the network a workload is attached to (create option Network, or the datacenter's first network); NULL = created before v4
            @"ALTER TABLE sim_workloads ADD COLUMN network TEXT;",
        };

        internal const string WorkloadColumns = "seq, native_id, name, host, state, consumes, cpu, memory_mb, size, image, tags, disk_gb, idempotency_key, created_ms, updated_ms";
        /// <summary>What ReadRow reads: the inserted columns and the network (v4).</summary>
        internal const string ReadColumns = WorkloadColumns + ", network";

        public SimulatorData(IStateStore store) { Store = store; }
        public IStateStore Store { get; }

        public void EnsureSchema()
            => Store.EnsureComponentSchema(Component, Store.Backend == StateBackend.PostgreSql ? PostgreSqlMigrations : Migrations);

        /// <summary>
        /// The same schema in PostgreSQL's dialect (same versions): BIGINT/DOUBLE PRECISION for SQLite's INTEGER/REAL, an
        /// identity column for sim_actions.id, COLLATE after the type (the store's ICU 'nocase' collation), no WITHOUT ROWID.
        /// </summary>
        public static readonly string[] PostgreSqlMigrations = Array.ConvertAll(Migrations, SqlDialect.SqliteToPostgreSql);

        /// <summary>What Copy-GridState needs to know of the simulator's tables (after the migrations, which it uses).</summary>
        public static readonly StateComponent StateComponent = new StateComponent(Component, Migrations, PostgreSqlMigrations,
            ("sim_datacenters", "name"), ("sim_hosts", "datacenter, name"), ("sim_workloads", "datacenter, seq"), ("sim_detached_disks", "datacenter, disk_id"), ("sim_actions", "id"));

        // ---- datacenter ------------------------------------------------------------------------------------------

        internal sealed class DatacenterRow
        {
            public string Name = "";
            public int Seed;
            public int LatencyMs;
            public double FaultRate;
            public int FaultSeed;
            public DateTimeOffset CreatedAt;
            public bool Created;
        }

        internal sealed class HostRow
        {
            public string Name = "";
            public string NativeId = "";
            public string? Cluster;
            public int Cpu;
            public long MemoryMB;
            public string State = "connected";
        }

        public DatacenterRow GetOrCreateDatacenter(string name, SimulatorOptions o, Action<string> verbose)
        {
            var existing = Store.Read(c => ReadDatacenter(c, name));
            if (existing != null)
            {
                verbose($"Simulator datacenter '{existing.Name}' found in the state store (seed {existing.Seed}); creation parameters given now are not re-applied.");
                return existing;
            }
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var row = Store.Write(c =>
            {
                var again = ReadDatacenter(c, name); // another process may have created it meanwhile
                if (again != null) return again;
                var now = DateTimeOffset.UtcNow;
                Exec(c, "INSERT INTO sim_datacenters(name, seed, latency_ms, fault_rate, fault_seed, next_id, created_at) VALUES(@n,@s,@l,@fr,@fs,1,@t)",
                    ("@n", name), ("@s", o.Seed), ("@l", o.LatencyMs ?? 0), ("@fr", o.FaultRate ?? 0.0), ("@fs", o.FaultSeed ?? o.Seed), ("@t", StateStore.FormatTime(now)));
                var hosts = new List<HostRow>();
                using (var cmd = c.Command(""))
                {
                    cmd.CommandText = "INSERT INTO sim_hosts(datacenter, name, native_id, cluster, cpu, memory_mb, state) VALUES(@dc,@n,@id,@cl,@cpu,@mem,'connected')";
                    var pDc = AddParam(cmd, "@dc"); var pN = AddParam(cmd, "@n");
                    var pId = AddParam(cmd, "@id"); var pCl = AddParam(cmd, "@cl");
                    var pCpu = AddParam(cmd, "@cpu"); var pMem = AddParam(cmd, "@mem");
                    for (int i = 1; i <= o.Hosts; i++)
                    {
                        var h = new HostRow
                        {
                            Name = "host-" + i.ToString("D2", CultureInfo.InvariantCulture),
                            NativeId = "sim-host-" + i.ToString(CultureInfo.InvariantCulture),
                            Cluster = "cluster-" + (((i - 1) % o.Clusters) + 1).ToString(CultureInfo.InvariantCulture),
                            Cpu = o.HostCpu, MemoryMB = (long)o.HostMemoryGB * 1024,
                        };
                        hosts.Add(h);
                        pDc.Value = name; pN.Value = h.Name; pId.Value = h.NativeId; pCl.Value = h.Cluster; pCpu.Value = h.Cpu; pMem.Value = h.MemoryMB;
                        cmd.ExecuteNonQuery();
                    }
                }
                if (o.Workloads > 0) Populate(c, name, o.Seed, o.Workloads, hosts, now);
                return ReadDatacenter(c, name)!.With(r => r.Created = true);
            });
            if (row.Created)
                verbose($"Simulator datacenter '{name}' created in the state store: {o.Hosts} hosts of {o.HostCpu} cores / {o.HostMemoryGB} GB, {o.Workloads} workloads ({sw.ElapsedMilliseconds} ms).");
            return row;
        }

        private static DatacenterRow? ReadDatacenter(IStateSession c, string name)
        {
            using var cmd = c.Command("");
            cmd.CommandText = "SELECT name, seed, latency_ms, fault_rate, fault_seed, created_at FROM sim_datacenters WHERE name = @n";
            cmd.Bind("@n", name);
            using var r = cmd.ExecuteReader();
            if (!r.Read()) return null;
            return new DatacenterRow
            {
                Name = r.GetString(0), Seed = r.GetInt32(1), LatencyMs = r.GetInt32(2), FaultRate = r.GetDouble(3), FaultSeed = r.GetInt32(4),
                CreatedAt = StateStore.ParseTime(r.GetString(5)),
            };
        }

        /// <summary>Bulk-inserts <paramref name="count"/> workloads in the caller's transaction with one prepared statement.</summary>
        private static void Populate(IStateSession c, string dc, int seed, int count, List<HostRow> hosts, DateTimeOffset now)
        {
            var rnd = new Random(seed);
            var free = hosts.ToDictionary(h => h.Name, h => (cpu: (long)h.Cpu, mem: h.MemoryMB), StringComparer.OrdinalIgnoreCase);
            string[] envs = { "prod", "test", "dev" };
            string[] apps = { "web", "db", "cache", "batch", "api" };
            long time = now.ToUnixTimeMilliseconds();
            using var cmd = c.Command("");
            cmd.CommandText = "INSERT INTO sim_workloads(datacenter, " + WorkloadColumns + ") VALUES(@dc,@seq,@id,@name,@host,@state,@cons,@cpu,@mem,@size,@image,@tags,@disk,NULL,@t,@t)";
            var p = new Dictionary<string, DbParameter>();
            foreach (var n in new[] { "@dc", "@seq", "@id", "@name", "@host", "@state", "@cons", "@cpu", "@mem", "@size", "@image", "@tags", "@disk", "@t" })
                p[n] = AddParam(cmd, n);
            p["@dc"].Value = dc;
            p["@t"].Value = time;
            if (c.Backend == StateBackend.Sqlite) cmd.Prepare(); // Npgsql would fix the parameter types from the DBNull placeholders
            bool sqlite = c.Backend == StateBackend.Sqlite;
            if (sqlite) Exec(c, "PRAGMA cache_size = -65536"); // 64 MB while bulk-inserting (random UUID index pages)
            using var sha = System.Security.Cryptography.SHA1.Create();
            for (long i = 1; i <= count; i++)
            {
                double x = rnd.NextDouble();
                var size = SimulatorCatalog.Sizes[x < 0.6 ? 0 : x < 0.85 ? 1 : x < 0.95 ? 2 : 3];
                var image = SimulatorCatalog.Images[rnd.Next(SimulatorCatalog.Images.Count)];
                var host = hosts[(int)((i - 1) % hosts.Count)];
                var f = free[host.Name];
                bool on = f.cpu >= size.Cpu && f.mem >= size.MemoryMB;
                if (on) free[host.Name] = (f.cpu - size.Cpu, f.mem - size.MemoryMB);
                string id = SimulatorCatalog.NativeIdFor(sha, dc, seed, i);
                p["@seq"].Value = i;
                p["@id"].Value = id;
                p["@name"].Value = "vm-" + i.ToString("D6", CultureInfo.InvariantCulture);
                p["@host"].Value = host.Name;
                p["@state"].Value = on ? SimulatorCatalog.PoweredOn : SimulatorCatalog.PoweredOff;
                p["@cons"].Value = on ? 1 : 0;
                p["@cpu"].Value = size.Cpu;
                p["@mem"].Value = size.MemoryMB;
                p["@size"].Value = size.Name;
                p["@image"].Value = image.Name;
                p["@tags"].Value = "{\"env\":\"" + envs[rnd.Next(envs.Length)] + "\",\"app\":\"" + apps[rnd.Next(apps.Length)] + "\"}";
                p["@disk"].Value = image.SizeGB;
                cmd.ExecuteNonQuery();
            }
            Exec(c, "UPDATE sim_datacenters SET next_id = @n WHERE name = @dc", ("@n", (long)count + 1), ("@dc", dc));
            if (sqlite) Exec(c, "PRAGMA cache_size = -2000"); // back to SQLite's default for the pooled connection
        }

        /// <summary>Every simulated workload has one OS disk; its id derives from the workload's.</summary>
        internal static List<GridDisk> DisksFor(string nativeId, double osDiskGB)
            => new List<GridDisk>(1) { new GridDisk { Name = "Hard disk 1", NativeId = nativeId + "-disk0", SizeGB = osDiskGB, IsOsDisk = true } };

        // ---- hosts -------------------------------------------------------------------------------------------------

        public static List<HostRow> ReadHosts(IStateSession c, string dc)
        {
            using var cmd = c.Command("");
            cmd.CommandText = "SELECT name, native_id, cluster, cpu, memory_mb, state FROM sim_hosts WHERE datacenter = @dc ORDER BY name";
            cmd.Bind("@dc", dc);
            using var r = cmd.ExecuteReader();
            var list = new List<HostRow>();
            while (r.Read())
                list.Add(new HostRow { Name = r.GetString(0), NativeId = r.GetString(1), Cluster = r.IsDBNull(2) ? null : r.GetString(2), Cpu = r.GetInt32(3), MemoryMB = r.GetInt64(4), State = r.GetString(5) });
            return list;
        }

        /// <summary>CPU and memory held on each host by workloads that consume (one GROUP BY over an index).</summary>
        public static Dictionary<string, (long cpu, long mem)> ReadAllocation(IStateSession c, string dc)
        {
            using var cmd = c.Command("");
            cmd.CommandText = "SELECT host, sum(cpu), sum(memory_mb) FROM sim_workloads WHERE datacenter = @dc AND consumes = 1 GROUP BY host";
            cmd.Bind("@dc", dc);
            using var r = cmd.ExecuteReader();
            var d = new Dictionary<string, (long, long)>(StringComparer.OrdinalIgnoreCase);
            while (r.Read()) d[r.GetString(0)] = (r.GetInt64(1), r.GetInt64(2));
            return d;
        }

        // ---- workloads ---------------------------------------------------------------------------------------------

        internal sealed class WorkloadRow
        {
            public long Seq;
            public string NativeId = "";
            public string Name = "";
            public string Host = "";
            public string State = "";
            public bool Consumes;
            public int Cpu;
            public long MemoryMB;
            public string? Size;
            public string? Image;
            public string? Tags;
            public double DiskGB;
            public string? IdempotencyKey;
            public long CreatedMs;
            public long UpdatedMs;
            public string? Network;
        }

        public static WorkloadRow ReadRow(DbDataReader r)
            => new WorkloadRow
            {
                Seq = r.GetInt64(0), NativeId = r.GetString(1), Name = r.GetString(2), Host = r.GetString(3), State = r.GetString(4),
                Consumes = r.GetInt64(5) != 0, Cpu = r.GetInt32(6), MemoryMB = r.GetInt64(7),
                Size = r.IsDBNull(8) ? null : r.GetString(8), Image = r.IsDBNull(9) ? null : r.GetString(9),
                Tags = r.IsDBNull(10) ? null : r.GetString(10), DiskGB = r.GetDouble(11),
                IdempotencyKey = r.IsDBNull(12) ? null : r.GetString(12), CreatedMs = r.GetInt64(13), UpdatedMs = r.GetInt64(14),
                Network = r.FieldCount > 15 && !r.IsDBNull(15) ? r.GetString(15) : null,
            };

        public static WorkloadRow? FindByNativeId(IStateSession c, string dc, string nativeId)
            => FindOne(c, "datacenter = @dc AND native_id = @v", dc, nativeId);

        public static WorkloadRow? FindByKey(IStateSession c, string dc, string key)
            => FindOne(c, "datacenter = @dc AND idempotency_key = @v", dc, key);

        private static WorkloadRow? FindOne(IStateSession c, string where, string dc, string value)
        {
            using var cmd = c.Command("");
            cmd.CommandText = "SELECT " + ReadColumns + " FROM sim_workloads WHERE " + where;
            cmd.Bind("@dc", dc);
            cmd.Bind("@v", value);
            using var r = cmd.ExecuteReader();
            return r.Read() ? ReadRow(r) : null;
        }

        /// <summary>A parameter to fill per row of a bulk statement (named without its prefix, like Bind).</summary>
        private static DbParameter AddParam(DbCommand cmd, string name)
        {
            var prm = cmd.CreateParameter();
            prm.ParameterName = name.TrimStart('@', '$', ':');
            prm.Value = DBNull.Value;
            cmd.Parameters.Add(prm);
            return prm;
        }

        public static long NextId(IStateSession c, string dc)
        {
            using var cmd = c.Command("");
            cmd.CommandText = "UPDATE sim_datacenters SET next_id = next_id + 1 WHERE name = @dc RETURNING next_id - 1";
            cmd.Bind("@dc", dc);
            return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        }

        public static void Exec(IStateSession c, string sql, params (string name, object? value)[] args)
        {
            using var cmd = c.Command("");
            cmd.CommandText = sql;
            foreach (var (n, v) in args) cmd.Bind(n, v ?? DBNull.Value);
            cmd.ExecuteNonQuery();
        }

        public static object? Scalar(IStateSession c, string sql, params (string name, object? value)[] args)
        {
            using var cmd = c.Command("");
            cmd.CommandText = sql;
            foreach (var (n, v) in args) cmd.Bind(n, v ?? DBNull.Value);
            var r = cmd.ExecuteScalar();
            return r is DBNull ? null : r;
        }

        public static int ExecCount(IStateSession c, string sql, params (string name, object? value)[] args)
        {
            using var cmd = c.Command("");
            cmd.CommandText = sql;
            foreach (var (n, v) in args) cmd.Bind(n, v ?? DBNull.Value);
            return cmd.ExecuteNonQuery();
        }

        // ---- JSON columns ------------------------------------------------------------------------------------------

        public static void ParseTags(string? json, System.Collections.Hashtable into)
        {
            if (string.IsNullOrEmpty(json) || json == "{}") return;
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
            string? key = null;
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName) key = reader.GetString();
                else if (reader.TokenType == JsonTokenType.String && key != null) { into[key] = reader.GetString(); key = null; }
            }
        }

        public static string? TagsJson(IDictionary<string, string> tags)
            => WriteTags(tags.Count, tags.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value)));

        /// <summary>A tag change as JSON (the action log's detail): a null value is a tag removed.</summary>
        public static string? TagChangesJson(IDictionary<string, string?> changes) => WriteTags(changes.Count, changes);

        private static string? WriteTags(int count, IEnumerable<KeyValuePair<string, string?>> tags)
        {
            if (count == 0) return null;
            using var ms = new System.IO.MemoryStream();
            using (var w = new Utf8JsonWriter(ms))
            {
                w.WriteStartObject();
                foreach (var kv in tags.OrderBy(k => k.Key, StringComparer.OrdinalIgnoreCase)) w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(ms.ToArray());
        }

        public static Dictionary<string, string> TagsDictionary(string? json)
        {
            var h = new System.Collections.Hashtable(StringComparer.OrdinalIgnoreCase);
            ParseTags(json, h);
            var d = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (System.Collections.DictionaryEntry e in h) d[(string)e.Key] = (string)e.Value!;
            return d;
        }
    }

    internal static class SimulatorExtensions
    {
        public static T With<T>(this T value, Action<T> change) { change(value); return value; }
    }
}
