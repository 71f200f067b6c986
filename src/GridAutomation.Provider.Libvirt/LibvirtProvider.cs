using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>KVM/QEMU (and libvirt's test driver) through libvirt.so.0: one datacenter = a set of libvirt URIs, each a host.</summary>
    public sealed class LibvirtProvider : IGridProvider
    {
        public const string ProviderName = "Libvirt";

        internal const GridCapabilities All =
            GridCapabilities.Create | GridCapabilities.Start | GridCapabilities.Stop | GridCapabilities.TurnOff |
            GridCapabilities.Restart | GridCapabilities.Suspend | GridCapabilities.Remove | GridCapabilities.RemoveStorage |
            GridCapabilities.Resize | GridCapabilities.Move | GridCapabilities.LiveMove | GridCapabilities.Tags |
            GridCapabilities.Pause;

        public string Name => ProviderName;
        public string Description => "KVM/QEMU hosts through libvirt (qemu+ssh://, qemu+tls://, qemu:///system, qemu:///embed, test:///).";
        public GridCapabilities Capabilities => All;

        public IReadOnlyList<ProviderParameter> ConnectionParameters { get; } = new[]
        {
            new ProviderParameter("Uri", ProviderParameterKind.StringArray,
                "libvirt connection URIs, one per host: qemu+ssh://user@host/system, qemu+tls://host/system, qemu:///system, qemu:///embed?root=DIR, test:///path/host.xml.")
            { Mandatory = true },
            new ProviderParameter("Credential", ProviderParameterKind.Credential,
                "User name and password/passphrase for hosts whose URI asks for authentication (SASL, ssh password)."),
            new ProviderParameter("ImagePool", ProviderParameterKind.String,
                "Storage pool holding images and new disks on daemon and test hosts (default 'default')."),
            new ProviderParameter("SaveDirectory", ProviderParameterKind.String,
                "Local directory for the memory images of save/restore moves (default: <embed root>/save, else the temp directory)."),
            new ProviderParameter("SharedStorage", ProviderParameterKind.StringArray,
                "Folders every host sees at the same path (NFS, a cluster file system, or one machine's disk): a live move does not copy disks under them."),
            new ProviderParameter("ImportDiskFormat", ProviderParameterKind.String,
                "The one format (raw or qcow2) disks moved in from another datacenter are stored in; others are converted by qemu-img (default: raw and qcow2 both kept as they are)."),
            new ProviderParameter("ShutdownTimeoutSeconds", ProviderParameterKind.Int,
                "How long a graceful (ACPI) stop waits for the guest to power off before failing (default 120)."),
        };

        public bool IsAvailable(out string? reason) => Virt.TryLoad(out reason);

        public Task<IGridConnection> ConnectAsync(ProviderConnectRequest request, CancellationToken cancellationToken)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            Virt.Ensure();
            var uris = request.GetSettingArray("Uri").Select(u => u.Trim()).Where(u => u.Length > 0).ToArray();
            if (uris.Length == 0)
                throw GridException.InvalidRequest("Connect-GridDatacenter -Provider Libvirt needs at least one -Uri.", "LibvirtUriMissing", request.Datacenter.Name);
            var credential = request.GetCredential("Credential");
            string imagePool = request.GetSetting("ImagePool") is { Length: > 0 } p ? p : "default";
            string? saveDir = request.GetSetting("SaveDirectory") is { Length: > 0 } s ? s : null;
            int timeout = int.TryParse(request.GetSetting("ShutdownTimeoutSeconds"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int t) && t >= 0 ? t : 120;
            if (request.GetSetting("ImportDiskFormat") is { Length: > 0 } idf && LibvirtConnection.ImportFormatsOf(idf) == null)
                throw GridException.InvalidRequest($"ImportDiskFormat '{idf}' is not raw or qcow2.", "InvalidImportDiskFormat", request.Datacenter.Name);
            var verbose = request.Services?.Verbose ?? (_ => { });
            var shared = request.GetSettingArray("SharedStorage").Select(x => x.Trim()).Where(x => x.Length > 0).ToArray();
            foreach (var path in shared)
                if (!path.StartsWith("/", StringComparison.Ordinal))
                    throw GridException.InvalidRequest($"SharedStorage needs absolute folders; '{path}' is not one.", "InvalidSharedStorage", request.Datacenter.Name);

            var embedRoots = uris.Select(u => { LibvirtHost.Classify(u, out var r); return r; }).Where(r => r != null).Distinct().ToList();
            if (embedRoots.Count > 1)
                throw GridException.InvalidRequest(
                    "libvirt binds the embedded QEMU driver (qemu:///embed) to one root per process; a datacenter can hold only one qemu:///embed root. " +
                    "Use libvirt daemons (qemu:///system, qemu+ssh://...) for several QEMU hosts.", "EmbedRootPerProcess", request.Datacenter.Name);

            return LibvirtConnection.Run<IGridConnection>(() =>
            {
                var opened = new List<(string Uri, HostKind Kind, string? Root, ConnectHandle Conn, string Type, string Name)>();
                try
                {
                    foreach (var uri in uris)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var kind = LibvirtHost.Classify(uri, out var root);
                        verbose($"libvirt: opening {uri} ({kind})");
                        var conn = Virt.Open(uri, credential);
                        string type = Virt.GetDriverType(conn);
                        string name = LibvirtHost.DeriveName(uri, kind, root, () => Virt.GetHostname(conn));
                        opened.Add((uri, kind, root, conn, type, name));
                    }
                }
                catch
                {
                    foreach (var o in opened) o.Conn.Dispose();
                    throw;
                }
                var names = LibvirtHost.UniqueNames(opened.Select(o => o.Name).ToList());
                var hosts = opened.Select((o, i) => new LibvirtHost(o.Uri, names[i], o.Kind, o.Conn, o.Type, o.Root)
                {
                    ImagePool = imagePool, SaveDirectoryOverride = saveDir,
                }).ToList();
                return new LibvirtConnection(request.Datacenter, hosts, TimeSpan.FromSeconds(timeout), verbose, shared);
            }, cancellationToken, request.Datacenter.Name);
        }
    }
}
