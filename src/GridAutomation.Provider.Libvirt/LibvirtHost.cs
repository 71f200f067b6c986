using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>How a host URI is reached, which decides storage and move strategy.</summary>
    internal enum HostKind
    {
        /// <summary>test:///file.xml or test:///default: libvirt's in-process mock driver.</summary>
        Test,
        /// <summary>qemu:///embed?root=DIR: the QEMU driver inside this process, all state under DIR.</summary>
        Embed,
        /// <summary>qemu:///system or qemu:///session on this machine (through the local daemon).</summary>
        LocalDaemon,
        /// <summary>qemu+ssh://, qemu+tls://, qemu+tcp:// ... a daemon on another machine.</summary>
        RemoteDaemon,
    }

    /// <summary>One libvirt URI = one GridHost.</summary>
    internal sealed class LibvirtHost : IDisposable
    {
        public LibvirtHost(string uri, string name, HostKind kind, ConnectHandle conn, string driverType, string? embedRoot)
        {
            Uri = uri; Name = name; Kind = kind; Conn = conn; DriverType = driverType; EmbedRoot = embedRoot;
        }

        public string Uri { get; }
        public string Name { get; }
        public HostKind Kind { get; }
        public ConnectHandle Conn { get; }
        /// <summary>virConnectGetType: "Test", "QEMU".</summary>
        public string DriverType { get; }
        public string? EmbedRoot { get; }
        public string ImagePool { get; set; } = "default";
        public string? SaveDirectoryOverride { get; set; }

        /// <summary>The embed driver has no storage driver: images and disks are plain files under the root.</summary>
        public bool FileStorage => Kind == HostKind.Embed;
        public bool IsLocal => Kind != HostKind.RemoteDaemon;
        public bool IsTestDriver => string.Equals(DriverType, "Test", StringComparison.OrdinalIgnoreCase);
        public string DomainType => IsTestDriver ? "test" : "qemu";

        public string ImagesDirectory => Path.Combine(EmbedRoot ?? "/", "images");
        public string DisksDirectory => Path.Combine(EmbedRoot ?? "/", "disks");
        public string LogsDirectory => Path.Combine(EmbedRoot ?? Path.GetTempPath(), "logs");

        /// <summary>Where save images of moves are written on this host (a local path).</summary>
        public string SaveDirectory =>
            SaveDirectoryOverride ?? (EmbedRoot != null ? Path.Combine(EmbedRoot, "save")
                                                      : Path.Combine(Path.GetTempPath(), "gridautomation-libvirt", "save"));

        public static HostKind Classify(string uri, out string? embedRoot)
        {
            embedRoot = null;
            int colon = uri.IndexOf(':');
            string scheme = colon > 0 ? uri.Substring(0, colon).ToLowerInvariant() : "";
            if (scheme == "test") return HostKind.Test;
            if (scheme.Contains('+'))
            {
                string transport = scheme.Substring(scheme.IndexOf('+') + 1);
                if (transport == "unix") return HostKind.LocalDaemon;
                return HostKind.RemoteDaemon;
            }
            if (System.Uri.TryCreate(uri, UriKind.Absolute, out var u))
            {
                if (u.AbsolutePath.TrimEnd('/') == "/embed")
                {
                    embedRoot = QueryValue(u.Query, "root");
                    return HostKind.Embed;
                }
                if (!string.IsNullOrEmpty(u.Host) && !string.Equals(u.Host, "localhost", StringComparison.OrdinalIgnoreCase)) return HostKind.RemoteDaemon;
            }
            return HostKind.LocalDaemon;
        }

        private static string? QueryValue(string query, string key)
        {
            foreach (var part in query.TrimStart('?').Split('&'))
            {
                int eq = part.IndexOf('=');
                if (eq > 0 && string.Equals(part.Substring(0, eq), key, StringComparison.OrdinalIgnoreCase))
                    return System.Uri.UnescapeDataString(part.Substring(eq + 1));
            }
            return null;
        }

        /// <summary>
        /// The GridHost name of a URI: test:///dir/host-a.xml → "host-a"; qemu:///embed?root=/x/node1 → "node1";
        /// qemu+ssh://user@h1.example/system → "h1.example"; qemu:///system → the node's hostname.
        /// Duplicates get "-2", "-3"... in URI order, so names are stable as long as the URI list is.
        /// </summary>
        public static string DeriveName(string uri, HostKind kind, string? embedRoot, Func<string> hostname)
        {
            switch (kind)
            {
                case HostKind.Test:
                    {
                        string path = uri.Substring(uri.IndexOf(':') + 1).TrimStart('/');
                        string stem = Path.GetFileNameWithoutExtension(path);
                        return string.IsNullOrEmpty(stem) ? "test" : stem;
                    }
                case HostKind.Embed:
                    {
                        string leaf = embedRoot == null ? "" : Path.GetFileName(embedRoot.TrimEnd('/'));
                        return string.IsNullOrEmpty(leaf) ? "embed" : leaf;
                    }
                case HostKind.RemoteDaemon:
                    if (System.Uri.TryCreate(uri, UriKind.Absolute, out var u) && !string.IsNullOrEmpty(u.Host)) return u.Host;
                    return uri;
                default:
                    // qemu+unix:///system?socket=/srv/kvm-a/libvirt-sock: one of several daemons on this machine → the socket's folder.
                    if (System.Uri.TryCreate(uri, UriKind.Absolute, out var lu) && QueryValue(lu.Query, "socket") is { Length: > 0 } sock
                        && Path.GetFileName(Path.GetDirectoryName(sock.TrimEnd('/')) ?? "") is { Length: > 0 } folder)
                        return folder;
                    try { return hostname(); } catch { return "localhost"; }
            }
        }

        public static IReadOnlyList<string> UniqueNames(IReadOnlyList<string> names)
        {
            var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var result = new List<string>();
            foreach (var n in names)
            {
                if (!seen.TryGetValue(n, out int count)) { seen[n] = 1; result.Add(n); continue; }
                string candidate;
                do { count++; candidate = n + "-" + count; } while (seen.ContainsKey(candidate));
                seen[n] = count; seen[candidate] = 1;
                result.Add(candidate);
            }
            return result;
        }

        public void Dispose() => Conn.Dispose();
        public override string ToString() => Name + " (" + Uri + ")";
    }
}
