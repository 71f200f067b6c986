using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Security;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Registers (or re-registers) a datacenter and connects to it. The provider's own connection parameters
    /// appear as dynamic parameters once -Provider is given (Get-Help Connect-GridDatacenter -Provider X, or
    /// (Get-Command Connect-GridDatacenter -ArgumentList X).Parameters). Only non-secret parameters are stored;
    /// credentials and secret strings stay in this session.
    /// </summary>
    [Cmdlet(VerbsCommunications.Connect, "GridDatacenter", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(GridDatacenter))]
    public sealed class ConnectGridDatacenterCommand : ChangeCmdlet, IDynamicParameters
    {
        /// <summary>
        /// The provider (backend kind): Simulator, VSphere, Libvirt, HyperV, Aws, Azure... Needed to register a new datacenter;
        /// to reconnect a registered one (e.g. with a credential in a new session) it may be left out.
        /// </summary>
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ProviderCompleter))]
        public string? Provider { get; set; }

        /// <summary>The datacenter's name, chosen by you, unique (case-insensitive); may not contain '/'.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string Name { get; set; } = "";

        /// <summary>The company that owns the datacenter.</summary>
        [Parameter]
        public string? Owner { get; set; }

        /// <summary>A free label for where it is, such as "Amsterdam".</summary>
        [Parameter]
        public string? Site { get; set; }

        private RuntimeDefinedParameterDictionary? _dynamic;
        private IGridProvider? _provider;

        /// <summary>Names a provider parameter cannot take (they are the cmdlet's own or common parameters).</summary>
        private static readonly HashSet<string> Reserved = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        {
            "Provider", "Name", "Owner", "Site", "Force", "WhatIf", "Confirm", "Verbose", "Debug", "ErrorAction", "WarningAction",
            "InformationAction", "ProgressAction", "ErrorVariable", "WarningVariable", "InformationVariable", "OutVariable",
            "OutBuffer", "PipelineVariable",
        };

        public object? GetDynamicParameters()
        {
            _registration = FindRegistration(Name);
            string? providerName = !string.IsNullOrEmpty(Provider) ? Provider : _registration?.Provider;
            if (string.IsNullOrEmpty(providerName) || !ProviderRegistry.TryGet(providerName!, out var provider)) return null;
            _provider = provider;
            // Reconnecting: what the registration already stores is no longer mandatory.
            var stored = _registration != null && string.Equals(_registration.Provider, provider.Name, StringComparison.OrdinalIgnoreCase)
                ? _registration.Settings : null;
            _dynamic = BuildDynamicParameters(provider, stored);
            return _dynamic;
        }

        private GridDatacenter? _registration;

        /// <summary>The registration of that name, or null (never throws: this runs while parameters are bound).</summary>
        private static GridDatacenter? FindRegistration(string? name)
        {
            if (string.IsNullOrEmpty(name)) return null;
            try
            {
                var engine = GridCompleter.OpenReadOnlyEngine();
                return engine?.GetDatacenters(new[] { WildcardPattern.Escape(name) }).FirstOrDefault();
            }
            catch { return null; }
        }

        /// <summary>One RuntimeDefinedParameter per ProviderParameter (a new provider never edits this cmdlet).</summary>
        internal static RuntimeDefinedParameterDictionary BuildDynamicParameters(IGridProvider provider, IDictionary<string, string>? stored = null)
        {
            var dict = new RuntimeDefinedParameterDictionary();
            foreach (var pp in provider.ConnectionParameters)
            {
                if (string.IsNullOrEmpty(pp.Name) || Reserved.Contains(pp.Name) || dict.ContainsKey(pp.Name)) continue;
                Type type;
                var attrs = new Collection<Attribute>();
                var pa = new ParameterAttribute { Mandatory = pp.Mandatory && !(stored != null && !pp.IsSecret && stored.ContainsKey(pp.Name)) };
                if (!string.IsNullOrEmpty(pp.HelpMessage)) pa.HelpMessage = pp.HelpMessage;
                if (!string.IsNullOrEmpty(pp.ParameterSetName)) pa.ParameterSetName = pp.ParameterSetName;
                attrs.Add(pa);
                switch (pp.Kind)
                {
                    case ProviderParameterKind.StringArray: type = typeof(string[]); break;
                    case ProviderParameterKind.Int: type = typeof(int); break;
                    case ProviderParameterKind.Switch: type = typeof(SwitchParameter); break;
                    case ProviderParameterKind.Credential:
                        type = typeof(PSCredential);
                        attrs.Add(new CredentialAttribute());
                        break;
                    case ProviderParameterKind.SecretString:
                        // A SecureString; a plain string is accepted too and turned into one at once.
                        type = typeof(SecureString);
                        attrs.Add(new SecureStringTransformationAttribute());
                        break;
                    default: type = typeof(string); break;
                }
                if (pp.ValidValues != null && pp.ValidValues.Count > 0 && !pp.IsSecret)
                {
                    if (pp.Restricted) attrs.Add(new ValidateSetAttribute(pp.ValidValues.ToArray()) { IgnoreCase = true });
                    else attrs.Add(new ArgumentCompleterAttribute(typeof(ProviderParameterCompleter)));
                }
                if (pa.Mandatory && type != typeof(SwitchParameter)) attrs.Add(new ValidateNotNullOrEmptyAttribute());
                dict.Add(pp.Name, new RuntimeDefinedParameter(pp.Name, type, attrs));
            }
            return dict;
        }

        protected override void ProcessRecord()
        {
            IGridProvider provider;
            var registration = _registration ?? FindRegistration(Name);
            if (string.IsNullOrEmpty(Provider) && registration == null)
                ThrowTerminatingError(ErrorMapping.Create("DatacenterNotFound", ErrorCategory.ObjectNotFound,
                    $"No datacenter named '{Name}' is registered. Give -Provider to register it.", Name, GridErrorKind.NotFound));
            try { provider = _provider ?? ProviderRegistry.Get(!string.IsNullOrEmpty(Provider) ? Provider! : registration!.Provider); }
            catch (Exception ex) { ThrowGridError(ex, Provider); return; }
            if (!provider.IsAvailable(out var reason))
                ThrowGridError(GridException.Unsupported($"The {provider.Name} provider cannot run here: {reason}", "ProviderUnavailable", provider.Name), provider.Name);

            // Re-registering keeps the stored settings that are not given again (given ones replace them).
            var settings = registration != null && string.Equals(registration.Provider, provider.Name, StringComparison.OrdinalIgnoreCase)
                ? new Dictionary<string, string>(registration.Settings, StringComparer.OrdinalIgnoreCase)
                : new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            var secrets = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
            foreach (var pp in provider.ConnectionParameters)
            {
                if (_dynamic == null || !_dynamic.TryGetValue(pp.Name, out var rdp) || !rdp.IsSet) continue;
                var value = rdp.Value is PSObject pso ? pso.BaseObject : rdp.Value;
                if (value == null) continue;
                switch (pp.Kind)
                {
                    case ProviderParameterKind.Credential:
                        var cred = value as PSCredential ?? LanguagePrimitives.ConvertTo<PSCredential>(value);
                        secrets[pp.Name] = cred.GetNetworkCredential();
                        break;
                    case ProviderParameterKind.SecretString:
                        var ss = value as SecureString;
                        secrets[pp.Name] = ss != null ? new NetworkCredential(string.Empty, ss).Password : value.ToString()!;
                        break;
                    case ProviderParameterKind.StringArray:
                        var arr = LanguagePrimitives.ConvertTo<string[]>(value);
                        settings[pp.Name] = string.Join("\n", arr);
                        break;
                    case ProviderParameterKind.Int:
                        settings[pp.Name] = LanguagePrimitives.ConvertTo<int>(value).ToString(CultureInfo.InvariantCulture);
                        break;
                    case ProviderParameterKind.Switch:
                        settings[pp.Name] = LanguagePrimitives.IsTrue(value) ? "True" : "False";
                        break;
                    default:
                        var text = LanguagePrimitives.ConvertTo<string>(value);
                        // A restricted value is stored as the provider spells it (the validate set ignores case).
                        if (pp.Restricted && pp.ValidValues != null)
                            text = pp.ValidValues.FirstOrDefault(v => string.Equals(v, text, StringComparison.OrdinalIgnoreCase)) ?? text;
                        settings[pp.Name] = text;
                        break;
                }
            }

            var what = provider.Name + " datacenter" + (Owner != null ? ", owner " + Owner : "") + (Site != null ? ", site " + Site : "");
            if (!Approve(Name, "Register and connect (" + what + ")")) return;

            var engine = Engine;
            if (TryRun(ct => engine.ConnectDatacenterAsync(provider.Name, Name, Owner, Site, settings, secrets, Observer, ct), Name, out var dc))
                WriteObject(dc);
        }
    }

    /// <summary>Lets a SecureString parameter also take a plain string (e.g. from an environment variable).</summary>
    public sealed class SecureStringTransformationAttribute : ArgumentTransformationAttribute
    {
        public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
        {
            var v = inputData is PSObject p ? p.BaseObject : inputData;
            if (v is string s)
            {
                var ss = new SecureString();
                foreach (var c in s) ss.AppendChar(c);
                ss.MakeReadOnly();
                return ss;
            }
            return inputData;
        }
    }
}
