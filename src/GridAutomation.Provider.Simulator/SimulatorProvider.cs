using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Simulator
{
    /// <summary>
    /// The embedded simulator: a datacenter that lives in the state store (hosts, workloads, an id counter), so it
    /// survives across sessions and processes. Nothing to install, no account.
    /// </summary>
    public sealed class SimulatorProvider : IGridProvider, IValidatesSettings, IUsageMetering, GridAutomation.Core.State.IStateComponentOwner
    {
        /// <summary>The simulator's own tables, so Copy-GridState can carry simulated datacenters to another store.</summary>
        public GridAutomation.Core.State.StateComponent StateComponent => SimulatorData.StateComponent;

        public const string ProviderName = "Simulator";

        public const GridCapabilities SimulatorCapabilities =
            GridCapabilities.Create | GridCapabilities.Start | GridCapabilities.Stop | GridCapabilities.TurnOff |
            GridCapabilities.Restart | GridCapabilities.Suspend | GridCapabilities.Remove | GridCapabilities.RemoveStorage |
            GridCapabilities.Resize | GridCapabilities.Move | GridCapabilities.LiveMove | GridCapabilities.Tags | GridCapabilities.DuplicateNames |
            GridCapabilities.Pause;

        private static readonly IReadOnlyList<ProviderParameter> Parameters = new[]
        {
            new ProviderParameter("Hosts", ProviderParameterKind.Int, "Number of simulated hosts (default 3). Applied when the datacenter is first created in the state store."),
            new ProviderParameter("HostCpu", ProviderParameterKind.Int, "CPU cores per host (default 32). Applied at first creation."),
            new ProviderParameter("HostMemoryGB", ProviderParameterKind.Int, "Memory per host in GB (default 256). Applied at first creation."),
            new ProviderParameter("Clusters", ProviderParameterKind.Int, "Number of clusters the hosts are spread over (default 1). Applied at first creation."),
            new ProviderParameter("Seed", ProviderParameterKind.Int, "Seed of the datacenter's ids and generated workloads (default 1). Applied at first creation."),
            new ProviderParameter("Workloads", ProviderParameterKind.Int, "Workloads to pre-populate when the datacenter is first created (default 0)."),
            new ProviderParameter("LatencyMs", ProviderParameterKind.Int, "Simulated latency of every call (and of each state transition), in ms (default 0). Stored when the datacenter is first created; given later, it applies to this connection only.") { ConnectionScoped = true },
            new ProviderParameter("FaultRate", ProviderParameterKind.String, "Share of calls that fail with a transient error, 0 to 1 (default 0). Stored at first creation; given later, it applies to this connection only.") { ConnectionScoped = true },
            new ProviderParameter("FaultSeed", ProviderParameterKind.Int, "Seed of the fault schedule (default: Seed). The same seed gives the same sequence of faults. Stored at first creation; given later, it applies to this connection only.") { ConnectionScoped = true },
            new ProviderParameter("MaxDiskGB", ProviderParameterKind.Int, "Largest disk (GB) this datacenter takes in a move from another datacenter (default: no limit)."),
            new ProviderParameter("BootFirmware", ProviderParameterKind.StringArray, "Firmware moved-in workloads may boot with: BIOS, UEFI (default both)."),
            new ProviderParameter("RequiredMoveOptions", ProviderParameterKind.StringArray, "Destination settings a move into this datacenter must be given (-Option or -MoveDefaults), e.g. Network."),
            new ProviderParameter("MoveDefaults", ProviderParameterKind.StringArray, "Default destination settings for moves into this datacenter, as Key=Value (e.g. Network=lan), used when -Option does not give them."),
            new ProviderParameter("Networks", ProviderParameterKind.StringArray, "Networks of the datacenter (default one, 'default'): a create's option Network attaches the workload to one of them (else to the first), shown as its property Network; Start-GridFailover -TestNetwork names one. When set, a create naming another network is refused (NetworkNotFound)."),
            new ProviderParameter("BandwidthMBps", ProviderParameterKind.Int, "Simulated transfer rate of disks moved in or out, in MiB/s (default 1000)."),
            new ProviderParameter("Clock", ProviderParameterKind.String, "The datacenter's simulated time, UTC ISO 8601 (e.g. 2026-11-01T08:00:00Z): it stands still there until the datacenter is connected again with another -Clock. The usage ledger dates this datacenter's changes and observations by it (scripted timelines for demos and tests). Default: the system clock."),
            new ProviderParameter("BillingRule", ProviderParameterKind.String, "The billing rule the usage ledger applies to this datacenter: RateCard (default: billed while holding CPU and memory, per second), Ec2 (running and stopping into hibernation, per second, 60 s minimum per start) or Azure (every state but deallocated, per minute). ComputeBilled follows it."),
            new ProviderParameter("ActionLog", ProviderParameterKind.Switch, "Record every changing call the simulated server receives (start and end time, process) in its table sim_actions, to check from the server's side that no two changes of one workload overlapped."),
        };

        public string Name => ProviderName;
        public string Description => "Embedded simulated datacenter kept in the state store (no account needed).";
        public GridCapabilities Capabilities => SimulatorCapabilities;
        public IReadOnlyList<ProviderParameter> ConnectionParameters => Parameters;

        public bool IsAvailable(out string? reason) { reason = null; return true; }

        /// <summary>The simulated clock (setting Clock), else the system clock.</summary>
        public DateTimeOffset Now(GridDatacenter datacenter)
            => SimulatorOptions.Clock(datacenter?.Settings) ?? DateTimeOffset.UtcNow;

        /// <summary>The setting BillingRule (RateCard, Ec2, Azure); null = the simulator's own (RateCard).</summary>
        public string? BillingRuleName(GridDatacenter datacenter)
            => datacenter != null && datacenter.Settings.TryGetValue("BillingRule", out var r) && !string.IsNullOrEmpty(r) ? r : null;

        /// <summary>Ranges and combinations (-Hosts 0, -FaultRate 2, -Clusters above -Hosts): InvalidParameter before anything is journaled.</summary>
        public void ValidateSettings(IReadOnlyDictionary<string, string> settings)
            => SimulatorOptions.FromSettings(new ProviderConnectRequest { Datacenter = new GridDatacenter { Settings = new Dictionary<string, string>((IDictionary<string, string>)settings.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase), StringComparer.OrdinalIgnoreCase) } });

        public async Task<IGridConnection> ConnectAsync(ProviderConnectRequest request, CancellationToken cancellationToken)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            if (request.Services == null || request.Services.Store == null)
                throw GridException.InvalidRequest("The simulator needs the state store (ProviderServices.Store).", "StateStoreMissing");
            cancellationToken.ThrowIfCancellationRequested();
            var options = SimulatorOptions.FromSettings(request);
            var dc = request.Datacenter;
            GridAutomation.Core.State.DatacenterRepository.ValidateName(dc.Name);
            var data = new SimulatorData(request.Services.Store);
            data.EnsureSchema();
            var state = data.GetOrCreateDatacenter(dc.Name, options, request.Services.Verbose);
            int latency = options.LatencyMs ?? state.LatencyMs;
            if (latency > 0) await Task.Delay(latency, cancellationToken).ConfigureAwait(false);
            return new SimulatorConnection(dc, data, state, options, request.Services.Verbose);
        }
    }

    /// <summary>Connection parameters, parsed and validated (InvalidRequest "InvalidParameter").</summary>
    public sealed class SimulatorOptions
    {
        public int Hosts { get; set; } = 3;
        public int HostCpu { get; set; } = 32;
        public int HostMemoryGB { get; set; } = 256;
        public int Clusters { get; set; } = 1;
        public int Seed { get; set; } = 1;
        public int Workloads { get; set; }
        public int? LatencyMs { get; set; }
        public double? FaultRate { get; set; }
        public int? FaultSeed { get; set; }
        public bool ActionLog { get; set; }
        /// <summary>The billing rule set for this datacenter (null: the simulator's own, which is RateCard's states).</summary>
        public GridAutomation.Core.Ledger.BillingRule? BillingRule { get; set; }

        /// <summary>The Clock setting as a time (InvalidParameter when it is not an ISO 8601 UTC time), or null.</summary>
        public static DateTimeOffset? Clock(IDictionary<string, string>? settings)
        {
            if (settings == null || !settings.TryGetValue("Clock", out var c) || string.IsNullOrEmpty(c)) return null;
            if (!DateTimeOffset.TryParse(c, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
                throw Bad("Clock", c, "must be a time in ISO 8601, e.g. 2026-11-01T08:00:00Z");
            return t.ToUniversalTime();
        }

        /// <summary>Runtime knobs given explicitly for this connection (they override the stored ones for this session only).</summary>
        public bool HasLatency => LatencyMs.HasValue;

        public static SimulatorOptions FromSettings(ProviderConnectRequest request)
        {
            var o = new SimulatorOptions();
            o.Hosts = Int(request, "Hosts", 3, 1, 1000);
            o.HostCpu = Int(request, "HostCpu", 32, 1, 4096);
            o.HostMemoryGB = Int(request, "HostMemoryGB", 256, 1, 1 << 20);
            o.Clusters = Int(request, "Clusters", 1, 1, 1000);
            if (o.Clusters > o.Hosts) throw Bad("Clusters", o.Clusters.ToString(CultureInfo.InvariantCulture), $"cannot exceed Hosts ({o.Hosts})");
            o.Seed = Int(request, "Seed", 1, int.MinValue, int.MaxValue);
            o.Workloads = Int(request, "Workloads", 0, 0, 2_000_000);
            o.ActionLog = request.GetSwitch("ActionLog");
            Int(request, "MaxDiskGB", 0, 1, int.MaxValue);
            Int(request, "BandwidthMBps", 1000, 1, 1 << 24);
            foreach (var f in request.GetSettingArray("BootFirmware"))
                if (!string.Equals(f.Trim(), "BIOS", StringComparison.OrdinalIgnoreCase) && !string.Equals(f.Trim(), "UEFI", StringComparison.OrdinalIgnoreCase))
                    throw Bad("BootFirmware", f, "must be BIOS or UEFI");

            Clock(request.Datacenter?.Settings);
            var rule = request.GetSetting("BillingRule");
            if (!string.IsNullOrEmpty(rule) && GridAutomation.Core.Ledger.BillingRule.Find(rule) == null)
                throw Bad("BillingRule", rule!, "must be RateCard, Ec2 or Azure");
            o.BillingRule = GridAutomation.Core.Ledger.BillingRule.Find(rule);
            if (request.GetSetting("LatencyMs") is string l && l.Length > 0) o.LatencyMs = Int(request, "LatencyMs", 0, 0, 600_000);
            if (request.GetSetting("FaultSeed") is string fs && fs.Length > 0) o.FaultSeed = Int(request, "FaultSeed", 0, int.MinValue, int.MaxValue);
            var fr = request.GetSetting("FaultRate");
            if (!string.IsNullOrEmpty(fr))
            {
                if (!double.TryParse(fr, NumberStyles.Float, CultureInfo.InvariantCulture, out double rate) || double.IsNaN(rate) || rate < 0 || rate > 1)
                    throw Bad("FaultRate", fr!, "must be a number from 0 to 1 (invariant culture, e.g. 0.25)");
                o.FaultRate = rate;
            }
            return o;
        }

        private static int Int(ProviderConnectRequest r, string name, int def, int min, int max)
        {
            var s = r.GetSetting(name);
            if (string.IsNullOrEmpty(s)) return def;
            if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
                throw Bad(name, s!, $"must be a whole number from {min} to {max}");
            return v;
        }

        private static GridException Bad(string name, string value, string why)
            => GridException.InvalidRequest($"Simulator parameter -{name} '{value}' {why}.", "InvalidParameter", name);
    }
}
