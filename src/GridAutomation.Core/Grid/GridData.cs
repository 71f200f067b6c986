using System;
using System.Collections.Generic;
using System.Data.Common;
using System.Globalization;
using System.Linq;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Grid
{
    /// <summary>
    /// The grid services' tables in the state store (component "grid", its own schema versions): agreements, pools
    /// and the reservations that placements and admissions hold while their workloads are being made.
    /// </summary>
    internal static class GridData
    {
        public const string Component = "grid";

        public static readonly string[] Migrations =
        {
            // v1
            @"CREATE TABLE grid_agreements(
                id TEXT NOT NULL PRIMARY KEY,
                owner TEXT NOT NULL COLLATE NOCASE,
                consumer TEXT NOT NULL COLLATE NOCASE,
                datacenter TEXT NOT NULL,
                max_cpu INTEGER,
                max_memory_mb INTEGER,
                max_workloads INTEGER,
                price_cpu_hour TEXT,
                price_gb_hour TEXT,
                starts TEXT,
                ends TEXT,
                created TEXT NOT NULL);
              CREATE INDEX ix_grid_agreements_pair ON grid_agreements(owner, consumer);
              CREATE TABLE grid_pools(
                name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
                members TEXT NOT NULL,
                policy TEXT NOT NULL,
                created TEXT NOT NULL);
              CREATE TABLE grid_reservations(
                res_key TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
                consumer TEXT COLLATE NOCASE,
                datacenter TEXT NOT NULL COLLATE NOCASE,
                host TEXT COLLATE NOCASE,
                cpu INTEGER NOT NULL,
                memory_mb INTEGER NOT NULL,
                expires_ticks INTEGER NOT NULL);
              CREATE INDEX ix_grid_reservations_dc ON grid_reservations(datacenter);",
        };

        /// <summary>The same versions in PostgreSQL's dialect.</summary>
        public static readonly string[] PostgreSqlMigrations = Array.ConvertAll(Migrations, SqlDialect.SqliteToPostgreSql);

        /// <summary>What Copy-GridState needs to know of this component.</summary>
        public static readonly StateComponent StateComponent = new StateComponent(Component, Migrations, PostgreSqlMigrations,
            ("grid_agreements", "id"), ("grid_pools", "name"), ("grid_reservations", "res_key"));

        public static void EnsureSchema(IStateStore store) => StateComponent.Ensure(store);

        /// <summary>True when this store already has the grid tables (read in the session; never creates them).</summary>
        public static bool HasSchema(IStateSession s)
        {
            using var cmd = s.Command("SELECT version FROM schema_version WHERE component = @c");
            cmd.Bind("@c", Component);
            var v = cmd.ExecuteScalar();
            return v != null && v != DBNull.Value && Convert.ToInt64(v, CultureInfo.InvariantCulture) > 0;
        }

        // ---- agreements --------------------------------------------------------------------------------------

        private const string AgreementColumns = "id, owner, consumer, datacenter, max_cpu, max_memory_mb, max_workloads, price_cpu_hour, price_gb_hour, starts, ends, created";

        public static List<GridAgreement> ListAgreements(IStateSession s)
        {
            var list = new List<GridAgreement>();
            using var cmd = s.Command("SELECT " + AgreementColumns + " FROM grid_agreements ORDER BY created, id");
            using var r = cmd.ExecuteReader();
            while (r.Read()) list.Add(ReadAgreement(r));
            return list;
        }

        private static GridAgreement ReadAgreement(DbDataReader r)
        {
            long? L(int i) => r.IsDBNull(i) ? (long?)null : Convert.ToInt64(r.GetValue(i), CultureInfo.InvariantCulture);
            decimal? D(int i) => r.IsDBNull(i) ? (decimal?)null : decimal.Parse(r.GetString(i), CultureInfo.InvariantCulture);
            var mem = L(5);
            return new GridAgreement
            {
                Id = r.GetString(0), Owner = r.GetString(1), Consumer = r.GetString(2), Datacenter = r.GetString(3),
                MaxCpu = L(4) is long c ? (int)c : (int?)null,
                MaxMemoryGB = mem is long m ? m / 1024.0 : (double?)null,
                MaxWorkloads = L(6) is long w ? (int)w : (int?)null,
                PricePerCpuHour = D(7), PricePerGBHour = D(8),
                Start = r.IsDBNull(9) ? (DateTimeOffset?)null : StateStore.ParseTime(r.GetString(9)),
                End = r.IsDBNull(10) ? (DateTimeOffset?)null : StateStore.ParseTime(r.GetString(10)),
                Created = StateStore.ParseTime(r.GetString(11)),
            };
        }

        public static void SaveAgreement(IStateSession s, GridAgreement a, bool insert)
        {
            string sql = insert
                ? "INSERT INTO grid_agreements(" + AgreementColumns + ") VALUES(@id,@owner,@consumer,@dc,@cpu,@mem,@wl,@pc,@pg,@starts,@ends,@created)"
                : "UPDATE grid_agreements SET owner=@owner, consumer=@consumer, datacenter=@dc, max_cpu=@cpu, max_memory_mb=@mem, max_workloads=@wl, price_cpu_hour=@pc, price_gb_hour=@pg, starts=@starts, ends=@ends, created=@created WHERE id=@id";
            s.Execute(sql,
                ("id", a.Id), ("owner", a.Owner), ("consumer", a.Consumer), ("dc", a.Datacenter),
                ("cpu", a.MaxCpu.HasValue ? (object)(long)a.MaxCpu.Value : null),
                ("mem", a.MaxMemoryGB.HasValue ? (object)(long)Math.Round(a.MaxMemoryGB.Value * 1024) : null),
                ("wl", a.MaxWorkloads.HasValue ? (object)(long)a.MaxWorkloads.Value : null),
                ("pc", a.PricePerCpuHour?.ToString(CultureInfo.InvariantCulture)),
                ("pg", a.PricePerGBHour?.ToString(CultureInfo.InvariantCulture)),
                ("starts", a.Start.HasValue ? StateStore.FormatTime(a.Start.Value) : null),
                ("ends", a.End.HasValue ? StateStore.FormatTime(a.End.Value) : null),
                ("created", StateStore.FormatTime(a.Created)));
        }

        public static bool DeleteAgreement(IStateSession s, string id)
            => s.Execute("DELETE FROM grid_agreements WHERE id=@id", ("id", id)) > 0;

        // ---- pools -------------------------------------------------------------------------------------------

        public static List<GridPool> ListPools(IStateSession s)
        {
            var list = new List<GridPool>();
            using var cmd = s.Command("SELECT name, members, policy, created FROM grid_pools ORDER BY name");
            using var r = cmd.ExecuteReader();
            while (r.Read())
                list.Add(new GridPool
                {
                    Name = r.GetString(0),
                    Datacenter = r.GetString(1).Split(new[] { '\n' }, StringSplitOptions.RemoveEmptyEntries).ToList(),
                    Policy = (PlacementPolicy)Enum.Parse(typeof(PlacementPolicy), r.GetString(2), true),
                    Created = StateStore.ParseTime(r.GetString(3)),
                });
            return list;
        }

        public static void SavePool(IStateSession s, GridPool p, bool insert)
        {
            string sql = insert
                ? "INSERT INTO grid_pools(name, members, policy, created) VALUES(@name,@members,@policy,@created)"
                : "UPDATE grid_pools SET members=@members, policy=@policy WHERE name=@name";
            s.Execute(sql, ("name", p.Name), ("members", string.Join("\n", p.Datacenter)), ("policy", p.Policy.ToString()), ("created", StateStore.FormatTime(p.Created)));
        }

        public static bool DeletePool(IStateSession s, string name)
            => s.Execute("DELETE FROM grid_pools WHERE name=@name", ("name", name)) > 0;

        // ---- reservations ------------------------------------------------------------------------------------

        internal sealed class Reservation
        {
            public string Key = "";
            public string? Consumer;
            public string Datacenter = "";
            public string? Host;
            public int Cpu;
            public long MemoryMB;
        }

        /// <summary>The unexpired reservations in these datacenters (expired ones are dropped first; call inside a write).</summary>
        public static List<Reservation> LiveReservations(IStateSession s, IEnumerable<string> datacenters)
        {
            long now = DateTimeOffset.UtcNow.UtcTicks;
            if (s.InTransaction) s.Execute("DELETE FROM grid_reservations WHERE expires_ticks < @now", ("now", now));
            var set = new HashSet<string>(datacenters, StringComparer.OrdinalIgnoreCase);
            var list = new List<Reservation>();
            using var cmd = s.Command("SELECT res_key, consumer, datacenter, host, cpu, memory_mb FROM grid_reservations WHERE expires_ticks >= @now");
            cmd.Bind("now", now);
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var dc = r.GetString(2);
                if (!set.Contains(dc)) continue;
                list.Add(new Reservation
                {
                    Key = r.GetString(0), Consumer = r.IsDBNull(1) ? null : r.GetString(1), Datacenter = dc, Host = r.IsDBNull(3) ? null : r.GetString(3),
                    Cpu = Convert.ToInt32(r.GetValue(4), CultureInfo.InvariantCulture), MemoryMB = Convert.ToInt64(r.GetValue(5), CultureInfo.InvariantCulture),
                });
            }
            return list;
        }

        public static void PutReservation(IStateSession s, Reservation res, TimeSpan ttl)
        {
            // A placement's reservation names the host; the admission of the same create keeps it.
            s.Execute("INSERT INTO grid_reservations(res_key, consumer, datacenter, host, cpu, memory_mb, expires_ticks) VALUES(@k,@c,@dc,@h,@cpu,@mem,@exp) " +
                      "ON CONFLICT(res_key) DO UPDATE SET consumer=excluded.consumer, datacenter=excluded.datacenter, host=COALESCE(excluded.host, grid_reservations.host), " +
                      "cpu=excluded.cpu, memory_mb=excluded.memory_mb, expires_ticks=excluded.expires_ticks",
                ("k", res.Key), ("c", res.Consumer), ("dc", res.Datacenter), ("h", res.Host), ("cpu", (long)res.Cpu), ("mem", res.MemoryMB),
                ("exp", (DateTimeOffset.UtcNow + ttl).UtcTicks));
        }

        public static void ShortenReservation(IStateSession s, string key, TimeSpan ttl)
            => s.Execute("UPDATE grid_reservations SET expires_ticks=@exp WHERE res_key=@k", ("k", key), ("exp", (DateTimeOffset.UtcNow + ttl).UtcTicks));

        public static void DropReservation(IStateSession s, string key)
            => s.Execute("DELETE FROM grid_reservations WHERE res_key=@k", ("k", key));

        public static string Key(string datacenter, string name) => (datacenter + "/" + name).ToLowerInvariant();
    }
}
