using System;
using System.Collections.Generic;

namespace GridAutomation.Core.Model
{
    /// <summary>A registered datacenter: one vCenter datacenter, a set of libvirt hosts, an AWS account+region, an Azure subscription+location, or a simulated one.</summary>
    public sealed class GridDatacenter
    {
        /// <summary>User-chosen, unique (case-insensitive).</summary>
        public string Name { get; set; } = "";
        public string Provider { get; set; } = "";
        /// <summary>What it connects to (URL, URI list, region...). Never contains a secret.</summary>
        public string? Endpoint { get; set; }
        /// <summary>The company that owns it.</summary>
        public string? Owner { get; set; }
        /// <summary>A free label such as "Amsterdam".</summary>
        public string? Site { get; set; }
        public GridCapabilities Capabilities { get; set; }
        public ConnectionStatus Status { get; set; }
        /// <summary>Last connection error message, if Status is Error.</summary>
        public string? StatusMessage { get; set; }
        public DateTimeOffset RegisteredAt { get; set; }
        /// <summary>The provider's non-secret connection parameters as given to Connect-GridDatacenter (persisted).</summary>
        public IDictionary<string, string> Settings { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

        public override string ToString() => Name;
    }
}
