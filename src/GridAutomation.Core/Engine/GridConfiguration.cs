using System;
using System.Collections.Generic;
using System.IO;

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
        };

        public string StatePath { get; set; } = "";
        public int MaxConcurrencyPerDatacenter { get; set; } = 4;
        public int RetryCount { get; set; } = 4;
        public int RetryMaxDelaySeconds { get; set; } = 60;
        public int PageSize { get; set; } = 1000;
        public int LeaseTimeoutSeconds { get; set; } = 120;
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
        public static GridConfiguration Load(IDictionary<string, string>? parameters = null) => throw new NotImplementedException();

        /// <summary>Writes the given keys to the per-user JSON file (null value removes the key). Validates names and values.</summary>
        public static void Save(IDictionary<string, string?> values, string? path = null) => throw new NotImplementedException();
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
