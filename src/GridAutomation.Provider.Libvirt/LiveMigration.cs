using System;
using System.Collections.Generic;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>
    /// Live migration with virDomainMigrateToURI3 (peer-to-peer: the source daemon connects to the target),
    /// used when both hosts are libvirt daemons. No daemon runs on the build machines, so this path is proven
    /// by a unit test of the call (URI, flags, typed parameters) only.
    /// </summary>
    internal static class LiveMigration
    {
        public const string Key = "move.live";
        public const uint VIR_MIGRATE_LIVE = 1 << 0, VIR_MIGRATE_PEER2PEER = 1 << 1, VIR_MIGRATE_PERSIST_DEST = 1 << 3,
            VIR_MIGRATE_UNDEFINE_SOURCE = 1 << 4, VIR_MIGRATE_ABORT_ON_ERROR = 1 << 12;
        public const string VIR_MIGRATE_PARAM_PERSIST_XML = "persistent_xml";
        public const string VIR_MIGRATE_PARAM_DEST_NAME = "destination_name";

        internal sealed record Call(string DestinationUri, uint Flags, IReadOnlyList<KeyValuePair<string, string>> Parameters);

        public static bool CanUse(LibvirtHost src, LibvirtHost dst)
            => (src.Kind == HostKind.LocalDaemon || src.Kind == HostKind.RemoteDaemon)
               && (dst.Kind == HostKind.LocalDaemon || dst.Kind == HostKind.RemoteDaemon)
               && !src.IsTestDriver && !dst.IsTestDriver;

        /// <summary>The call we make: live, peer-to-peer, persistent on the target with the source's persistent definition (tags included), undefined on the source.</summary>
        public static Call Plan(LibvirtHost dst, string name, string persistentXml)
            => new Call(dst.Uri,
                VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE | VIR_MIGRATE_ABORT_ON_ERROR,
                new[]
                {
                    new KeyValuePair<string, string>(VIR_MIGRATE_PARAM_DEST_NAME, name),
                    new KeyValuePair<string, string>(VIR_MIGRATE_PARAM_PERSIST_XML, persistentXml),
                });

        public static void Run(LibvirtConnection c, LibvirtHost src, LibvirtHost dst, DomainHandle d, string uuid, IOperationScope scope)
        {
            if (!Virt.IsActive(d))
                throw GridException.Conflict("Live migration moves a running guest; start it first.", "WorkloadNotRunning", c.TargetOf(uuid));
            string xml = Virt.XmlDesc(d, Virt.XML_INACTIVE | Virt.XML_SECURE | Virt.XML_MIGRATABLE);
            var call = Plan(dst, Virt.Name(d), xml);
            LibvirtConnection.Checkpoint(scope, Key, src.Name + "|" + dst.Name + "|" + uuid);
            Invoke(d, call, c.TargetOf(uuid));
        }

        internal static void Invoke(DomainHandle d, Call call, object? target)
            => Virt.WithTypedStringParams(call.Parameters, (p, n) => { Virt.MigrateToUri3(d, call.DestinationUri, p, n, call.Flags, target); return 0; });

        /// <summary>libvirt migration is all-or-nothing: the guest is active on exactly one end afterwards.</summary>
        public static bool Resume(LibvirtConnection c, IReadOnlyDictionary<string, string> checkpoints)
        {
            var parts = checkpoints[Key].Split('|');
            if (parts.Length != 3) throw new GridException(GridErrorKind.StateStore, "The live-migration checkpoint is unreadable.", "MoveCheckpointCorrupt");
            var src = c.HostByName(parts[0]);
            var dst = c.HostByName(parts[1]);
            string uuid = parts[2];
            using var t = Virt.LookupByUuid(dst.Conn, uuid);
            if (t != null && Virt.IsActive(t))
            {
                using var s = Virt.LookupByUuid(src.Conn, uuid);
                if (s != null && !Virt.IsActive(s)) Virt.Undefine(s, uuid);
                return true;
            }
            return false;
        }
    }
}
