using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>
    /// Microsoft Hyper-V hosts over PowerShell remoting: one datacenter = a set of hosts, each reached by SSH
    /// (-HostName, PowerShell 7 anywhere) or WinRM (-ComputerName, Windows). The Hyper-V module runs on the host.
    /// </summary>
    public sealed class HyperVProvider : IGridProvider
    {
        public const string ProviderName = "HyperV";

        internal const GridCapabilities All =
            GridCapabilities.Create | GridCapabilities.Start | GridCapabilities.Stop | GridCapabilities.TurnOff |
            GridCapabilities.Restart | GridCapabilities.Suspend | GridCapabilities.Remove | GridCapabilities.RemoveStorage |
            GridCapabilities.Resize | GridCapabilities.Move | GridCapabilities.LiveMove | GridCapabilities.Tags |
            GridCapabilities.Pause;

        public string Name => ProviderName;
        public string Description => "Microsoft Hyper-V hosts over PowerShell remoting (SSH -HostName, or WinRM -ComputerName on Windows).";
        public GridCapabilities Capabilities => All;

        public IReadOnlyList<ProviderParameter> ConnectionParameters { get; } = new[]
        {
            new ProviderParameter("HostName", ProviderParameterKind.StringArray,
                "Hyper-V hosts reached over SSH (PowerShell 7 remoting), one per host: [user@]host[:port]. The host needs sshd with a 'powershell' subsystem."),
            new ProviderParameter("ComputerName", ProviderParameterKind.StringArray,
                "Hyper-V hosts reached over WinRM (Windows only), one per host."),
            new ProviderParameter("Credential", ProviderParameterKind.Credential,
                "WinRM: the account to log in with. SSH: only its user name is used (SSH remoting authenticates with a key)."),
            new ProviderParameter("UserName", ProviderParameterKind.String,
                "SSH user name for hosts given without user@ (default: the credential's user, else the current user)."),
            new ProviderParameter("KeyFilePath", ProviderParameterKind.String,
                "SSH private key file used to authenticate to every -HostName host."),
            new ProviderParameter("KnownHostsFile", ProviderParameterKind.String,
                "SSH known-hosts file holding the hosts' keys; when given, an unknown or changed host key is refused."),
            new ProviderParameter("Port", ProviderParameterKind.Int,
                "Port for hosts given without one (SSH default 22; WinRM 5985, or 5986 with -UseSsl)."),
            new ProviderParameter("Subsystem", ProviderParameterKind.String,
                "SSH subsystem that starts PowerShell on the host (default 'powershell')."),
            new ProviderParameter("UseSsl", ProviderParameterKind.Switch, "WinRM over HTTPS."),
            new ProviderParameter("ImagePath", ProviderParameterKind.String,
                "Folder on every host holding the .vhdx/.vhd images that New-GridWorkload -Image copies (Get-GridImage lists them)."),
            new ProviderParameter("SwitchName", ProviderParameterKind.String,
                "Virtual switch new workloads are connected to (default: none)."),
            new ProviderParameter("IncludeStorage", ProviderParameterKind.Switch,
                "Moves copy the VM's storage too (Move-VM -IncludeStorage, shared-nothing live migration) into the destination's virtual hard disk path."),
            new ProviderParameter("Cluster", ProviderParameterKind.String,
                "A Failover Cluster as the datacenter: its nodes (Get-ClusterNode, asked through the first -HostName) are the hosts; clustered VMs move with Move-ClusterVirtualMachineRole."),
        };

        public bool IsAvailable(out string? reason) { reason = null; return true; }

        public Task<IGridConnection> ConnectAsync(ProviderConnectRequest request, CancellationToken cancellationToken)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            var specs = Specs(request);
            var verbose = request.Services?.Verbose ?? (_ => { });
            string? imagePath = request.GetSetting("ImagePath") is { Length: > 0 } ip ? ip : null;
            string? switchName = request.GetSetting("SwitchName") is { Length: > 0 } sw ? sw : null;
            bool includeStorage = request.GetSwitch("IncludeStorage");
            string? cluster = request.GetSetting("Cluster") is { Length: > 0 } cl ? cl.Trim() : null;
            return Task.Run<IGridConnection>(() =>
            {
                var hosts = specs.Select(s => new RemoteHost(s, verbose)).ToList();
                List<ClusterNodeInfo>? nodes = null;
                try
                {
                    foreach (var h in hosts)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        Describe(h, cancellationToken);
                    }
                    var dup = hosts.GroupBy(h => h.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
                    if (dup != null)
                        throw GridException.InvalidRequest($"Two entries reach the same Hyper-V host '{dup.Key}' ({string.Join(", ", dup.Select(h => h.Address))}).", "HyperVHostDuplicate", request.Datacenter.Name);
                    if (cluster != null) nodes = ClusterNodes(cluster, hosts, specs[0], request, verbose, cancellationToken);
                }
                catch
                {
                    foreach (var h in hosts) h.Dispose();
                    throw;
                }
                var connection = new HyperVConnection(request.Datacenter, hosts, imagePath, switchName, includeStorage, verbose);
                if (cluster != null) connection.SetCluster(cluster, nodes!);
                return connection;
            }, cancellationToken);
        }

        /// <summary>The host itself (Get-VMHost): its name, which Move-VM and the cluster know it by, and its disk folder.</summary>
        private static void Describe(RemoteHost h, CancellationToken ct)
        {
            var r = h.Invoke(RemoteScripts.DescribeHost, null, ct, h.Address).FirstOrDefault()
                    ?? throw new GridException(GridErrorKind.Unavailable, $"Get-VMHost returned nothing on '{h.Address}'.", "HyperVModuleMissing") { Target = h.Address, IsTransient = false };
            h.Name = VmMapper.Str(r, "Name") ?? h.Address;
            h.ComputerName = VmMapper.Str(r, "ComputerName");
            h.VirtualHardDiskPath = VmMapper.Str(r, "VirtualHardDiskPath");
        }

        /// <summary>
        /// -Cluster: the cluster's nodes, asked through the first host (Get-Cluster checks the name, Get-ClusterNode
        /// lists the nodes). Every given host must be a node (HyperVHostNotClusterNode). A node that is Up or Paused
        /// and not given is reached by its own name with the same user, key and port (how a cluster's nodes are
        /// named in DNS); when that fails it is kept as an unreachable node, listed Down with the reason. A Down
        /// node gets no session. New sessions are added to <paramref name="hosts"/>.
        /// </summary>
        private static List<ClusterNodeInfo> ClusterNodes(string cluster, List<RemoteHost> hosts, HostSpec first, ProviderConnectRequest request, Action<string> verbose, CancellationToken ct)
        {
            var nodes = hosts[0].Invoke(RemoteScripts.ClusterNodes, new Dictionary<string, object?> { ["Cluster"] = cluster }, ct, cluster)
                .Select(r => new ClusterNodeInfo { Name = VmMapper.Str(r, "Name") ?? "", State = VmMapper.Str(r, "State") ?? "Unknown" })
                .Where(n => n.Name.Length > 0).ToList();
            foreach (var h in hosts)
                if (!nodes.Any(n => string.Equals(n.Name, h.Name, StringComparison.OrdinalIgnoreCase)))
                    throw GridException.InvalidRequest($"Host '{h.Name}' ({h.Address}) is not a node of cluster '{cluster}'. Its nodes: {string.Join(", ", nodes.Select(n => n.Name))}.", "HyperVHostNotClusterNode", request.Datacenter.Name);
            foreach (var n in nodes)
            {
                if (hosts.Any(h => string.Equals(h.Name, n.Name, StringComparison.OrdinalIgnoreCase))) continue;
                if (n.State != "Up" && n.State != "Paused") { n.Unreachable = $"cluster node is {n.State}"; continue; }
                var spec = new HostSpec
                {
                    Address = (first.UserName != null ? first.UserName + "@" : "") + n.Name, Ssh = first.Ssh, UserName = first.UserName, Host = n.Name,
                    Port = request.GetSetting("Port") is { Length: > 0 } ps && int.TryParse(ps, NumberStyles.Integer, CultureInfo.InvariantCulture, out int p) ? p : (int?)null,
                    KeyFilePath = first.KeyFilePath, KnownHostsFile = first.KnownHostsFile, Subsystem = first.Subsystem, UseSsl = first.UseSsl, Credential = first.Credential,
                };
                var node = new RemoteHost(spec, verbose);
                try { Describe(node, ct); hosts.Add(node); }
                catch (GridException ex)
                {
                    node.Dispose();
                    n.Unreachable = $"cluster node is {n.State}, but no session reaches it at {spec.Address}: {ex.Message}";
                    verbose($"Hyper-V: cluster '{cluster}' node {n.Name}: {n.Unreachable}");
                }
            }
            return nodes;
        }

        /// <summary>Validates the settings into one spec per host (no connection made). Internal for the unit tests.</summary>
        internal static List<HostSpec> Specs(ProviderConnectRequest request)
        {
            var ssh = request.GetSettingArray("HostName").Select(x => x.Trim()).Where(x => x.Length > 0).ToArray();
            var winrm = request.GetSettingArray("ComputerName").Select(x => x.Trim()).Where(x => x.Length > 0).ToArray();
            if (ssh.Length == 0 && winrm.Length == 0)
                throw GridException.InvalidRequest("Connect-GridDatacenter -Provider HyperV needs -HostName (SSH) or -ComputerName (WinRM).", "HyperVHostMissing", request.Datacenter.Name);
            if (ssh.Length > 0 && winrm.Length > 0)
                throw GridException.InvalidRequest("Give either -HostName (SSH) or -ComputerName (WinRM), not both.", "HyperVTransportConflict", request.Datacenter.Name);
            int? port = null;
            if (request.GetSetting("Port") is { Length: > 0 } ps)
            {
                if (!int.TryParse(ps, NumberStyles.Integer, CultureInfo.InvariantCulture, out int p) || p < 1 || p > 65535)
                    throw GridException.InvalidRequest("-Port must be 1-65535.", "HyperVPortInvalid", ps);
                port = p;
            }
            var credential = request.GetCredential("Credential");
            string? user = request.GetSetting("UserName") is { Length: > 0 } u ? u : null;
            string subsystem = request.GetSetting("Subsystem") is { Length: > 0 } sub ? sub : "powershell";
            var list = new List<HostSpec>();
            foreach (var entry in ssh.Length > 0 ? ssh : winrm)
            {
                var (u2, host, p2) = HostAddress.Parse(entry);
                list.Add(new HostSpec
                {
                    Address = entry,
                    Ssh = ssh.Length > 0,
                    UserName = u2 ?? user,
                    Host = host,
                    Port = p2 ?? port,
                    KeyFilePath = request.GetSetting("KeyFilePath") is { Length: > 0 } k ? k : null,
                    KnownHostsFile = request.GetSetting("KnownHostsFile") is { Length: > 0 } kh ? kh : null,
                    Subsystem = subsystem,
                    UseSsl = request.GetSwitch("UseSsl"),
                    Credential = credential,
                });
            }
            return list;
        }
    }
}
