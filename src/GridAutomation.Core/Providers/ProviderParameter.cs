using System;
using System.Collections.Generic;

namespace GridAutomation.Core.Providers
{
    public enum ProviderParameterKind
    {
        String = 0,
        /// <summary>Several strings (e.g. libvirt -Uri a,b).</summary>
        StringArray,
        Int,
        Switch,
        /// <summary>A credential. In PowerShell a PSCredential; reaches the provider as a NetworkCredential in <see cref="ProviderConnectRequest.Secrets"/>, never persisted.</summary>
        Credential,
        /// <summary>A secret string (token, key). Never persisted, logged or shown.</summary>
        SecretString,
    }

    /// <summary>
    /// A connection parameter a provider declares. Connect-GridDatacenter exposes each as a dynamic parameter
    /// after -Provider, with its help message and tab completion from <see cref="ValidValues"/>.
    /// </summary>
    public sealed class ProviderParameter
    {
        public ProviderParameter(string name, ProviderParameterKind kind, string helpMessage)
        {
            Name = name; Kind = kind; HelpMessage = helpMessage;
        }

        public string Name { get; }
        public ProviderParameterKind Kind { get; }
        public string HelpMessage { get; }
        public bool Mandatory { get; set; }
        /// <summary>Tab-completion values; when <see cref="Restricted"/> also the only accepted values.</summary>
        public IReadOnlyList<string>? ValidValues { get; set; }
        public bool Restricted { get; set; }
        /// <summary>Secrets (Credential, SecretString) are never persisted. Other parameters are stored in the registration.</summary>
        public bool IsSecret => Kind == ProviderParameterKind.Credential || Kind == ProviderParameterKind.SecretString;
        /// <summary>
        /// A setting that applies to the connection it is given with (e.g. the simulator's -LatencyMs): passed to that
        /// connect, never kept in the registration, so a later session connects without it.
        /// </summary>
        public bool ConnectionScoped { get; set; }
        /// <summary>Optional parameter set name, for providers with alternative authentication modes.</summary>
        public string? ParameterSetName { get; set; }
    }
}
