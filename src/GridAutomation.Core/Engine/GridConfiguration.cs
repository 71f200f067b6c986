using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Engine
{
    /// <summary>
    /// Settings, resolved as: parameter &gt; environment (GRIDAUTOMATION_*) &gt; the per-user JSON config file
    /// written by Set-GridConfiguration (path: GRIDAUTOMATION_CONFIG, else ~/.config/GridAutomation/config.json,
    /// %APPDATA%\GridAutomation\config.json on Windows) &gt; default. Never kept in the state store.
    /// </summary>
    public sealed class GridConfiguration
    {
        /// <summary>The keys, their environment variable and default. Set-GridConfiguration accepts these names.</summary>
        public static readonly IReadOnlyList<ConfigurationKey> Keys = new[]
        {
            new ConfigurationKey("StatePath", "GRIDAUTOMATION_STATE", null, "Path of the SQLite state file."),
            new ConfigurationKey("MaxConcurrencyPerDatacenter", "GRIDAUTOMATION_MAX_CONCURRENCY", "4", "Concurrent provider calls per datacenter."),
            new ConfigurationKey("RetryCount", "GRIDAUTOMATION_RETRY_COUNT", "4", "Retries of a transient error (throttled, unavailable)."),
            new ConfigurationKey("RetryMaxDelaySeconds", "GRIDAUTOMATION_RETRY_MAX_DELAY", "60", "Longest wait between retries (a longer Retry-After fails the call)."),
            new ConfigurationKey("PageSize", "GRIDAUTOMATION_PAGE_SIZE", "1000", "Workloads asked per page from a provider."),
            new ConfigurationKey("LeaseTimeoutSeconds", "GRIDAUTOMATION_LEASE_TIMEOUT", "120", "Heartbeat age after which another machine's running operation counts as interrupted."),
            new ConfigurationKey("LockWaitSeconds", "GRIDAUTOMATION_LOCK_WAIT", "30", "How long a change waits for a workload another operation holds before failing with WorkloadLocked."),
            new ConfigurationKey("StateAuthentication", "GRIDAUTOMATION_STATE_AUTH", "Password", "How the PostgreSQL store is logged in to: Password (PGPASSWORD, .pgpass or Connect-GridState -StateCredential) or AzureManagedIdentity (a token of the machine's or Automation account's managed identity, for Azure Database for PostgreSQL)."),
            new ConfigurationKey("ClientId", "GRIDAUTOMATION_CLIENT_ID", "", "Names this client in the leases it takes (with machine and process): runners that share a machine name, or tests, set one each. A holder with another client id is judged by its heartbeat (LeaseTimeoutSeconds), not its process."),
            new ConfigurationKey("StateStore", "GRIDAUTOMATION_STATE_STORE", "Sqlite", "Where the state lives: Sqlite (the file StatePath, one per user) or PostgreSql (a shared database, StateConnectionString; PowerShell 7 only)."),
            new ConfigurationKey("StateConnectionString", "GRIDAUTOMATION_STATE_CONNECTION", "", "Connection string of the shared PostgreSQL store, without a password (Host=db;Database=grid;Username=grid). The password comes from PGPASSWORD, a .pgpass file or Connect-GridState -StateCredential."),
        };

        /// <summary>The two store backends, as StateStore accepts them.</summary>
        public const string SqliteStore = "Sqlite", PostgreSqlStore = "PostgreSql";

        public string StatePath { get; set; } = "";
        public int MaxConcurrencyPerDatacenter { get; set; } = 4;
        public int RetryCount { get; set; } = 4;
        public int RetryMaxDelaySeconds { get; set; } = 60;
        public int PageSize { get; set; } = 1000;
        public int LeaseTimeoutSeconds { get; set; } = 120;
        public int LockWaitSeconds { get; set; } = 30;
        /// <summary>"Password" (default) or "AzureManagedIdentity": how the PostgreSQL store is logged in to.</summary>
        public string StateAuthentication { get; set; } = PasswordAuthentication;
        public const string PasswordAuthentication = "Password", ManagedIdentityAuthentication = "AzureManagedIdentity";
        /// <summary>The client id written into this client's leases ("" for none).</summary>
        public string ClientId { get; set; } = "";
        /// <summary>"Sqlite" (default) or "PostgreSql".</summary>
        public string StateStore { get; set; } = SqliteStore;
        /// <summary>The PostgreSQL connection string (never with a password).</summary>
        public string StateConnectionString { get; set; } = "";
        /// <summary>Where each value came from: Parameter, Environment, File or Default.</summary>
        public IDictionary<string, string> Sources { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        public string ConfigFilePath { get; set; } = "";

        /// <summary>The per-user config file path (GRIDAUTOMATION_CONFIG overrides).</summary>
        public static string DefaultConfigFilePath()
        {
            var env = Environment.GetEnvironmentVariable("GRIDAUTOMATION_CONFIG");
            if (!string.IsNullOrEmpty(env)) return env!;
            return Path.Combine(UserDirectory(), "config.json");
        }

        /// <summary>The per-user folder: ~/.config/GridAutomation (XDG_CONFIG_HOME honoured), %APPDATA%\GridAutomation on Windows.</summary>
        public static string UserDirectory()
        {
            string baseDir;
            if (Path.DirectorySeparatorChar == '\\')
                baseDir = Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData);
            else
            {
                var xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
                baseDir = !string.IsNullOrEmpty(xdg) ? xdg! : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
            }
            return Path.Combine(baseDir, "GridAutomation");
        }

        /// <summary>Resolves every key. <paramref name="parameters"/> are values given on the command line (highest precedence).</summary>
        public static GridConfiguration Load(IDictionary<string, string>? parameters = null)
        {
            var cfg = new GridConfiguration { ConfigFilePath = DefaultConfigFilePath() };
            if (parameters != null)
                foreach (var k in parameters.Keys)
                    if (Find(k) == null)
                        throw Invalid($"'{k}' is not a configuration setting. Known settings: {string.Join(", ", Keys.Select(x => x.Name))}.", k);
            var file = ReadFile(cfg.ConfigFilePath);
            foreach (var key in Keys)
            {
                string? value = null, source = null;
                string? fromParam = parameters == null ? null : parameters.Where(kv => string.Equals(kv.Key, key.Name, StringComparison.OrdinalIgnoreCase)).Select(kv => kv.Value).FirstOrDefault();
                if (!string.IsNullOrEmpty(fromParam)) { value = fromParam; source = "Parameter"; }
                else
                {
                    var env = Environment.GetEnvironmentVariable(key.EnvironmentVariable);
                    if (!string.IsNullOrEmpty(env)) { value = env; source = "Environment"; }
                    else if (file.TryGetValue(key.Name, out var fv) && !string.IsNullOrEmpty(fv)) { value = fv; source = "File"; }
                    else { value = key.DefaultValue; source = "Default"; }
                }
                if (key.Name == "StatePath" && string.IsNullOrEmpty(value)) value = Path.Combine(UserDirectory(), "state.db");
                cfg.Apply(key, value!, source!);
                cfg.Sources[key.Name] = source!;
            }
            return cfg;
        }

        /// <summary>The value of a key as text (for Get-GridConfiguration).</summary>
        public string GetValue(string name)
        {
            var key = Find(name) ?? throw Invalid($"'{name}' is not a configuration setting.", name);
            switch (key.Name)
            {
                case "StatePath": return StatePath;
                case "MaxConcurrencyPerDatacenter": return MaxConcurrencyPerDatacenter.ToString(CultureInfo.InvariantCulture);
                case "RetryCount": return RetryCount.ToString(CultureInfo.InvariantCulture);
                case "RetryMaxDelaySeconds": return RetryMaxDelaySeconds.ToString(CultureInfo.InvariantCulture);
                case "PageSize": return PageSize.ToString(CultureInfo.InvariantCulture);
                case "LeaseTimeoutSeconds": return LeaseTimeoutSeconds.ToString(CultureInfo.InvariantCulture);
                case "LockWaitSeconds": return LockWaitSeconds.ToString(CultureInfo.InvariantCulture);
                case "ClientId": return ClientId;
                case "StateAuthentication": return StateAuthentication;
                case "StateStore": return StateStore;
                case "StateConnectionString": return StateConnectionString;
                default: throw Invalid($"'{name}' is not a configuration setting.", name);
            }
        }

        private static ConfigurationKey? Find(string name) => Keys.FirstOrDefault(k => string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase));

        private static GridException Invalid(string message, object? target)
            => GridException.InvalidRequest(message, "InvalidConfiguration", target);

        private void Apply(ConfigurationKey key, string value, string source)
        {
            string where = source == "Parameter" ? "parameter" : source == "Environment" ? "environment variable " + key.EnvironmentVariable : source == "File" ? "config file " + ConfigFilePath : "default";
            switch (key.Name)
            {
                case "StatePath": StatePath = NormalizePath(value, where); break;
                case "MaxConcurrencyPerDatacenter": MaxConcurrencyPerDatacenter = ParseInt(key, value, 1, 256, where); break;
                case "RetryCount": RetryCount = ParseInt(key, value, 0, 100, where); break;
                case "RetryMaxDelaySeconds": RetryMaxDelaySeconds = ParseInt(key, value, 0, 86400, where); break;
                case "PageSize": PageSize = ParseInt(key, value, 1, 100000, where); break;
                case "LeaseTimeoutSeconds": LeaseTimeoutSeconds = ParseInt(key, value, 5, 86400, where); break;
                case "LockWaitSeconds": LockWaitSeconds = ParseInt(key, value, 0, 3600, where); break;
                case "ClientId": ClientId = ParseClientId(value, where); break;
                case "StateAuthentication": StateAuthentication = ParseAuthentication(value, where); break;
                case "StateStore": StateStore = ParseStore(value, where); break;
                case "StateConnectionString": StateConnectionString = CheckConnectionString(value, where); break;
            }
        }

        private static string ParseStore(string value, string where)
        {
            string v = value.Trim();
            if (string.Equals(v, SqliteStore, StringComparison.OrdinalIgnoreCase)) return SqliteStore;
            if (string.Equals(v, PostgreSqlStore, StringComparison.OrdinalIgnoreCase) || string.Equals(v, "PostgreSQL", StringComparison.OrdinalIgnoreCase)) return PostgreSqlStore;
            throw Invalid($"StateStore must be Sqlite or PostgreSql; got '{value}' (from the {where}).", "StateStore");
        }

        private static string ParseAuthentication(string value, string where)
        {
            string v = (value ?? "").Trim();
            if (string.Equals(v, PasswordAuthentication, StringComparison.OrdinalIgnoreCase)) return PasswordAuthentication;
            if (string.Equals(v, ManagedIdentityAuthentication, StringComparison.OrdinalIgnoreCase) || string.Equals(v, "ManagedIdentity", StringComparison.OrdinalIgnoreCase)) return ManagedIdentityAuthentication;
            throw Invalid($"StateAuthentication must be Password or AzureManagedIdentity; got '{value}' (from the {where}).", "StateAuthentication");
        }

        /// <summary>A client id: 1-128 letters, digits and . _ - @ : (it is shown in messages and kept in the journal).</summary>
        private static string ParseClientId(string value, string where)
        {
            string v = (value ?? "").Trim();
            if (v.Length > 128 || !System.Text.RegularExpressions.Regex.IsMatch(v, @"^[A-Za-z0-9._@:-]*$"))
                throw Invalid($"ClientId must be at most 128 letters, digits or . _ - @ : ; got '{value}' (from the {where}).", "ClientId");
            return v;
        }

        private static readonly System.Text.RegularExpressions.Regex PasswordKey =
            new System.Text.RegularExpressions.Regex(@"(^|;)\s*(password|pwd|passfile)\s*=", System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.CultureInvariant);

        /// <summary>A connection string with a password is refused: the password is never kept in configuration (and so never in config.json).</summary>
        public static string CheckConnectionString(string value, string where)
        {
            string v = (value ?? "").Trim();
            if (PasswordKey.IsMatch(v))
                throw Invalid($"StateConnectionString (from the {where}) must not contain a password: it would be kept in clear text. Give it with PGPASSWORD, a .pgpass file, or Connect-GridState -StateCredential.", "StateConnectionString");
            return v;
        }

        private static int ParseInt(ConfigurationKey key, string value, int min, int max, string where)
        {
            if (!int.TryParse(value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < min || n > max)
                throw Invalid($"{key.Name} must be a whole number from {min} to {max}; got '{value}' (from the {where}).", key.Name);
            return n;
        }

        private static string NormalizePath(string value, string where)
        {
            string v = value.Trim();
            if (v == "~" || v.StartsWith("~/", StringComparison.Ordinal) || v.StartsWith("~\\", StringComparison.Ordinal))
                v = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), v.Length > 2 ? v.Substring(2) : "");
            try
            {
                if (v.IndexOfAny(Path.GetInvalidPathChars()) >= 0) throw new ArgumentException("invalid characters");
                return Path.GetFullPath(v);
            }
            catch (Exception ex) when (ex is ArgumentException || ex is NotSupportedException || ex is PathTooLongException)
            {
                throw Invalid($"StatePath '{value}' (from the {where}) is not a valid path: {ex.Message}", "StatePath");
            }
        }

        /// <summary>Reads the JSON file: an object of setting name to string or number. Missing file = empty.</summary>
        private static Dictionary<string, string> ReadFile(string path)
        {
            var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (string.IsNullOrEmpty(path) || !File.Exists(path)) return result;
            string text;
            try { text = File.ReadAllText(path); }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
            { throw Invalid($"Cannot read the configuration file '{path}': {ex.Message}", path); }
            if (string.IsNullOrWhiteSpace(text)) return result;
            try
            {
                using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    throw Invalid($"The configuration file '{path}' must hold a JSON object.", path);
                foreach (var prop in doc.RootElement.EnumerateObject())
                {
                    switch (prop.Value.ValueKind)
                    {
                        case JsonValueKind.String: result[prop.Name] = prop.Value.GetString()!; break;
                        case JsonValueKind.Number: result[prop.Name] = prop.Value.GetRawText(); break;
                        case JsonValueKind.Null: break;
                        default:
                            if (Find(prop.Name) != null) throw Invalid($"'{prop.Name}' in the configuration file '{path}' must be a string or a number.", path);
                            break; // unknown keys (from a newer version) are kept by Save and ignored here
                    }
                }
            }
            catch (JsonException ex)
            {
                throw Invalid($"The configuration file '{path}' is not valid JSON: {ex.Message}", path);
            }
            return result;
        }

        /// <summary>A new file only its owner can read and write (0600 on Unix), like the state file.</summary>
        private static FileStream OpenPrivate(string path)
        {
#if NET8_0_OR_GREATER
            if (!OperatingSystem.IsWindows())
                return new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
#endif
            return new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        }

        /// <summary>The config file stays 0600 whatever replaced it (File.Replace keeps the new file's mode, which is ours).</summary>
        private static void KeepPrivate(string path)
        {
#if NET8_0_OR_GREATER
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
#endif
        }

        /// <summary>Writes the given keys to the per-user JSON file (null value removes the key). Validates names and values.</summary>
        public static void Save(IDictionary<string, string?> values, string? path = null)
        {
            if (values == null) throw new ArgumentNullException(nameof(values));
            path = string.IsNullOrEmpty(path) ? DefaultConfigFilePath() : path!;
            // validate every name and value first: nothing is written if one is wrong
            var probe = new GridConfiguration { ConfigFilePath = path };
            foreach (var kv in values)
            {
                var key = Find(kv.Key) ?? throw Invalid($"'{kv.Key}' is not a configuration setting. Known settings: {string.Join(", ", Keys.Select(x => x.Name))}.", kv.Key);
                if (kv.Value != null) probe.Apply(key, kv.Value, "Parameter");
            }
            // keep what is there (including keys this version does not know), in order
            var existing = new List<KeyValuePair<string, JsonElement>>();
            if (File.Exists(path))
            {
                ReadFile(path); // validates
                using var doc = JsonDocument.Parse(File.ReadAllText(path).Trim().Length == 0 ? "{}" : File.ReadAllText(path), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
                foreach (var prop in doc.RootElement.EnumerateObject()) existing.Add(new KeyValuePair<string, JsonElement>(prop.Name, prop.Value.Clone()));
            }
            var output = new List<KeyValuePair<string, object?>>();
            var done = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var kv in existing)
            {
                var change = values.Where(v => string.Equals(v.Key, kv.Key, StringComparison.OrdinalIgnoreCase)).ToList();
                if (change.Count == 0) { output.Add(new KeyValuePair<string, object?>(kv.Key, kv.Value)); continue; }
                done.Add(kv.Key);
                if (change[0].Value != null) output.Add(new KeyValuePair<string, object?>(Find(kv.Key)!.Name, change[0].Value));
            }
            foreach (var kv in values)
                if (!done.Contains(kv.Key) && kv.Value != null) { output.Add(new KeyValuePair<string, object?>(Find(kv.Key)!.Name, kv.Value)); done.Add(kv.Key); }

            try
            {
                var dir = Path.GetDirectoryName(Path.GetFullPath(path));
                if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir!);
                string tmp = path + ".tmp-" + Guid.NewGuid().ToString("N").Substring(0, 8);
                using (var fs = OpenPrivate(tmp))
                using (var w = new Utf8JsonWriter(fs, new JsonWriterOptions { Indented = true }))
                {
                    w.WriteStartObject();
                    foreach (var kv in output)
                    {
                        w.WritePropertyName(kv.Key);
                        if (kv.Value is JsonElement je) je.WriteTo(w); else w.WriteStringValue((string)kv.Value!);
                    }
                    w.WriteEndObject();
                }
                if (File.Exists(path)) File.Replace(tmp, path, null); else File.Move(tmp, path);
                KeepPrivate(path);
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
            {
                throw Invalid($"Cannot write the configuration file '{path}': {ex.Message}", path);
            }
        }
    }

    public sealed class ConfigurationKey
    {
        public ConfigurationKey(string name, string environmentVariable, string? defaultValue, string description)
        { Name = name; EnvironmentVariable = environmentVariable; DefaultValue = defaultValue; Description = description; }
        public string Name { get; }
        public string EnvironmentVariable { get; }
        public string? DefaultValue { get; }
        public string Description { get; }
    }
}
