using System;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Internal;

namespace GridAutomation
{
    /// <summary>One resolved setting, as shown by Get-GridConfiguration.</summary>
    public sealed class GridConfigurationSetting
    {
        public string Name { get; set; } = "";
        public string? Value { get; set; }
        /// <summary>Where the value came from: Parameter, Environment, File or Default.</summary>
        public string Source { get; set; } = "";
        public string EnvironmentVariable { get; set; } = "";
        public string? DefaultValue { get; set; }
        public string Description { get; set; } = "";
        public string ConfigFilePath { get; set; } = "";
        public override string ToString() => Name + "=" + Value;
    }
}

namespace GridAutomation.Commands
{
    /// <summary>Shows every setting, its value and where it came from (environment, the per-user file, or the default).</summary>
    [Cmdlet(VerbsCommon.Get, "GridConfiguration")]
    [OutputType(typeof(GridConfigurationSetting))]
    public sealed class GetGridConfigurationCommand : GridCmdlet
    {
        /// <summary>Setting names (wildcards).</summary>
        [Parameter(Position = 0)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(ConfigurationKeyCompleter))]
        public string[]? Name { get; set; }

        protected override void EndProcessing()
        {
            GridConfiguration config;
            try { config = GridConfiguration.Load(); }
            catch (Exception ex) { ThrowGridError(ex, null); return; }
            foreach (var key in GridConfiguration.Keys)
            {
                if (!MatchesAny(key.Name, Name)) continue;
                var prop = typeof(GridConfiguration).GetProperty(key.Name);
                var value = prop?.GetValue(config);
                WriteObject(new GridConfigurationSetting
                {
                    Name = key.Name,
                    Value = value == null ? null : Convert.ToString(value, CultureInfo.InvariantCulture),
                    Source = config.Sources.TryGetValue(key.Name, out var s) ? s : "Default",
                    EnvironmentVariable = key.EnvironmentVariable,
                    DefaultValue = key.DefaultValue,
                    Description = key.Description,
                    ConfigFilePath = string.IsNullOrEmpty(config.ConfigFilePath) ? GridConfiguration.DefaultConfigFilePath() : config.ConfigFilePath,
                });
            }
            if (Name != null)
                foreach (var n in Name)
                    if (!HasWildcard(n) && !GridConfiguration.Keys.Any(k => string.Equals(k.Name, n, StringComparison.OrdinalIgnoreCase)))
                        WriteError(ErrorMapping.Create("UnknownConfigurationKey", ErrorCategory.ObjectNotFound,
                            $"No setting named '{n}'. Settings: {string.Join(", ", GridConfiguration.Keys.Select(k => k.Name))}.", n, Core.Model.GridErrorKind.NotFound));
        }
    }
}
