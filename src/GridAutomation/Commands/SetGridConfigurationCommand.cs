using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Writes settings to the per-user JSON configuration file (GRIDAUTOMATION_CONFIG, else
    /// ~/.config/GridAutomation/config.json). An environment variable still wins over the file.
    /// </summary>
    [Cmdlet(VerbsCommon.Set, "GridConfiguration", DefaultParameterSetName = SetValue, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridConfigurationSetting))]
    public sealed class SetGridConfigurationCommand : ChangeCmdlet
    {
        private const string SetValue = "SetValue";
        private const string ResetValue = "Reset";

        /// <summary>The setting (see Get-GridConfiguration).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ConfigurationKeyCompleter))]
        public string Name { get; set; } = "";

        /// <summary>The new value.</summary>
        [Parameter(Mandatory = true, Position = 1, ParameterSetName = SetValue, ValueFromPipelineByPropertyName = true)]
        [AllowEmptyString]
        public string Value { get; set; } = "";

        /// <summary>Remove the setting from the file, so the environment or the default applies again.</summary>
        [Parameter(Mandatory = true, ParameterSetName = ResetValue)]
        public SwitchParameter Reset { get; set; }

        /// <summary>Write the resulting setting when done.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        private readonly Dictionary<string, string?> _values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);

        protected override void ProcessRecord()
        {
            var key = GridConfiguration.Keys.FirstOrDefault(k => string.Equals(k.Name, Name, StringComparison.OrdinalIgnoreCase));
            if (key == null)
            {
                WriteError(ErrorMapping.Create("UnknownConfigurationKey", ErrorCategory.InvalidArgument,
                    $"No setting named '{Name}'. Settings: {string.Join(", ", GridConfiguration.Keys.Select(k => k.Name))}.", Name));
                return;
            }
            string? value = Reset ? null : Value;
            var path = GridConfiguration.DefaultConfigFilePath();
            var action = value == null ? $"Remove setting {key.Name}" : $"Set {key.Name} = '{value}'";
            if (!Approve(path, action)) return;
            _values[key.Name] = value;
        }

        protected override void EndProcessing()
        {
            if (_values.Count == 0) return;
            try { GridConfiguration.Save(_values); }
            catch (Exception ex) { ThrowGridError(ex, _values.Keys.ToArray()); return; }
            foreach (var kv in _values)
            {
                var env = GridConfiguration.Keys.First(k => k.Name == kv.Key).EnvironmentVariable;
                if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(env)))
                    WriteWarning($"{kv.Key} is saved, but the environment variable {env} is set and takes precedence in this session.");
            }
            if (PassThru)
            {
                var config = GridConfiguration.Load();
                foreach (var kv in _values)
                {
                    var key = GridConfiguration.Keys.First(k => k.Name == kv.Key);
                    var v = typeof(GridConfiguration).GetProperty(key.Name)?.GetValue(config);
                    WriteObject(new GridConfigurationSetting
                    {
                        Name = key.Name, Value = v == null ? null : Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture),
                        Source = config.Sources.TryGetValue(key.Name, out var s) ? s : "Default",
                        EnvironmentVariable = key.EnvironmentVariable, DefaultValue = key.DefaultValue, Description = key.Description,
                        ConfigFilePath = GridConfiguration.DefaultConfigFilePath(),
                    });
                }
            }
        }
    }
}
