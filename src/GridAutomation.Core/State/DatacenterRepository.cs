using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using System.Data.Common;

namespace GridAutomation.Core.State
{
    /// <summary>
    /// Datacenter registrations in the state store (table <c>datacenters</c>). Settings are stored as a JSON object
    /// of the provider's NON-secret connection parameters; pass the provider's parameter list to <see cref="Save"/>
    /// and any key the provider declares secret is dropped before it reaches the file. Status is per process and
    /// not stored.
    /// </summary>
    public sealed class DatacenterRepository
    {
        private readonly IStateStore _store;

        public DatacenterRepository(IStateStore store) { _store = store ?? throw new ArgumentNullException(nameof(store)); }

        /// <summary>All registrations, ordered by name.</summary>
        public IReadOnlyList<GridDatacenter> List()
            => _store.Read(c =>
            {
                using var cmd = c.Command("");
                cmd.CommandText = "SELECT name, provider, endpoint, owner, site, capabilities, settings, registered_at FROM datacenters ORDER BY name COLLATE NOCASE";
                using var r = cmd.ExecuteReader();
                var list = new List<GridDatacenter>();
                while (r.Read()) list.Add(ReadRow(r));
                return (IReadOnlyList<GridDatacenter>)list;
            });

        /// <summary>The registration (name compared case-insensitively) or null.</summary>
        public GridDatacenter? Get(string name)
            => _store.Read(c =>
            {
                using var cmd = c.Command("");
                cmd.CommandText = "SELECT name, provider, endpoint, owner, site, capabilities, settings, registered_at FROM datacenters WHERE name = @n";
                cmd.Bind("@n", name);
                using var r = cmd.ExecuteReader();
                return r.Read() ? ReadRow(r) : null;
            });

        public bool Exists(string name) => Get(name) != null;

        /// <summary>
        /// Inserts or replaces the registration. RegisteredAt is kept from an earlier registration of the same name
        /// (or set to now). Settings named by a secret or connection-scoped <paramref name="parameters"/> entry are never written.
        /// Datacenter names may not be empty or contain '/'.
        /// </summary>
        public GridDatacenter Save(GridDatacenter datacenter, IEnumerable<ProviderParameter>? parameters = null)
        {
            if (datacenter == null) throw new ArgumentNullException(nameof(datacenter));
            ValidateName(datacenter.Name);
            if (string.IsNullOrWhiteSpace(datacenter.Provider)) throw GridException.InvalidRequest("A datacenter needs a provider.", "InvalidDatacenter", datacenter.Name);
            var secret = new HashSet<string>((parameters ?? Enumerable.Empty<ProviderParameter>()).Where(p => p.IsSecret || p.ConnectionScoped).Select(p => p.Name), StringComparer.OrdinalIgnoreCase);
            var settings = new SortedDictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var kv in datacenter.Settings)
                if (!secret.Contains(kv.Key) && kv.Value != null) settings[kv.Key] = kv.Value;
            string json = JsonSerializer.Serialize(settings);
            return _store.Write(c =>
            {
                DateTimeOffset registered = datacenter.RegisteredAt == default ? DateTimeOffset.UtcNow : datacenter.RegisteredAt;
                using (var q = c.Command(""))
                {
                    q.CommandText = "SELECT registered_at FROM datacenters WHERE name = @n";
                    q.Bind("@n", datacenter.Name);
                    var prev = q.ExecuteScalar();
                    if (prev != null && !(prev is DBNull)) registered = StateStore.ParseTime((string)prev);
                }
                using var cmd = c.Command("");
                cmd.CommandText = @"INSERT INTO datacenters(name, provider, endpoint, owner, site, capabilities, settings, registered_at)
                    VALUES(@n, @p, @e, @o, @s, @cap, @set, @at)
                    ON CONFLICT(name) DO UPDATE SET name = excluded.name, provider = excluded.provider, endpoint = excluded.endpoint,
                      owner = excluded.owner, site = excluded.site, capabilities = excluded.capabilities, settings = excluded.settings";
                cmd.Bind("@n", datacenter.Name);
                cmd.Bind("@p", datacenter.Provider);
                cmd.Bind("@e", (object?)datacenter.Endpoint ?? DBNull.Value);
                cmd.Bind("@o", (object?)datacenter.Owner ?? DBNull.Value);
                cmd.Bind("@s", (object?)datacenter.Site ?? DBNull.Value);
                cmd.Bind("@cap", (long)datacenter.Capabilities);
                cmd.Bind("@set", json);
                cmd.Bind("@at", StateStore.FormatTime(registered));
                cmd.ExecuteNonQuery();
                datacenter.RegisteredAt = registered;
                return datacenter;
            });
        }

        /// <summary>Deletes the registration; false when there was none.</summary>
        public bool Delete(string name)
            => _store.Write(c =>
            {
                using var cmd = c.Command("");
                cmd.CommandText = "DELETE FROM datacenters WHERE name = @n";
                cmd.Bind("@n", name);
                return cmd.ExecuteNonQuery() > 0;
            });

        /// <summary>Throws InvalidRequest "InvalidName" unless the name follows <see cref="NameRules"/> (and has no '/').</summary>
        public static void ValidateName(string? name) => NameRules.ValidateDatacenterName(name);

        private static GridDatacenter ReadRow(DbDataReader r)
        {
            var dc = new GridDatacenter
            {
                Name = r.GetString(0),
                Provider = r.GetString(1),
                Endpoint = r.IsDBNull(2) ? null : r.GetString(2),
                Owner = r.IsDBNull(3) ? null : r.GetString(3),
                Site = r.IsDBNull(4) ? null : r.GetString(4),
                Capabilities = (GridCapabilities)r.GetInt64(5),
                RegisteredAt = StateStore.ParseTime(r.GetString(7)),
                Status = ConnectionStatus.Disconnected,
            };
            var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (!r.IsDBNull(6))
            {
                try
                {
                    var parsed = JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(6));
                    if (parsed != null) foreach (var kv in parsed) settings[kv.Key] = kv.Value;
                }
                catch (JsonException ex)
                {
                    throw new GridException(GridErrorKind.StateStore, $"The settings of datacenter '{dc.Name}' in the state store are not valid JSON: {ex.Message}", "StateStoreCorrupt", ex) { Target = dc.Name };
                }
            }
            dc.Settings = settings;
            return dc;
        }
    }
}
