using System;
using System.Runtime.InteropServices;

namespace GridAutomation.Providers.Libvirt.Native
{
    /// <summary>virDomainBackupBegin / virDomainBackupGetXMLDesc (libvirt ≥ 6.0, QEMU with -blockdev) and the job calls around them.</summary>
    internal static class BackupNative
    {
        private const string Lib = NativeMethods.Lib;
        [DllImport(Lib)] public static extern int virDomainBackupBegin(DomainHandle dom, [MarshalAs(UnmanagedType.LPUTF8Str)] string backupXml,
            [MarshalAs(UnmanagedType.LPUTF8Str)] string? checkpointXml, uint flags);
        [DllImport(Lib)] public static extern IntPtr virDomainBackupGetXMLDesc(DomainHandle dom, uint flags); // caller frees
        [DllImport(Lib)] public static extern int virTypedParamsGetInt(IntPtr @params, int nparams, [MarshalAs(UnmanagedType.LPUTF8Str)] string name, out int value);
    }

    /// <summary>What virDomainGetJobStats says of a domain's job: its type, operation and error message (failed jobs).</summary>
    internal readonly record struct VirJob(int Type, int Operation, string? Error, ulong DataTotal, ulong DataProcessed);

    internal static partial class Virt
    {
        // virDomainJobType and virDomainJobOperation (libvirt-domain.h)
        public const int JOB_COMPLETED = 3, JOB_FAILED = 4, JOB_CANCELLED = 5, JOB_OPERATION_BACKUP = 9;

        /// <summary>Starts a push-mode backup job (QEMU copies each disk's state at this instant into the XML's target files).</summary>
        public static void BackupBegin(DomainHandle d, string backupXml, object? t = null)
            => Check(BackupNative.virDomainBackupBegin(d, backupXml, null, 0), "Cannot start the backup job", t);

        /// <summary>The XML of the domain's running backup job, or null when it has none.</summary>
        public static string? BackupXml(DomainHandle d)
        {
            IntPtr p = BackupNative.virDomainBackupGetXMLDesc(d, 0);
            if (p != IntPtr.Zero) return TakeString(p);
            var e = LastError();
            if (e.Code == ERR_NO_DOMAIN) throw ToException(e, "virDomainBackupGetXMLDesc");
            return null; // VIR_ERR_NO_DOMAIN_BACKUP (no backup job) or an older daemon: nothing to report
        }

        /// <summary>The current job of the domain (flags 0) or its last completed one (<see cref="JOB_STATS_COMPLETED"/>).</summary>
        public static VirJob Job(DomainHandle d, uint flags)
        {
            int rc = NativeMethods.virDomainGetJobStats(d, out int type, out IntPtr p, out int n, flags);
            if (rc < 0) throw Fail("virDomainGetJobStats");
            try
            {
                int op = BackupNative.virTypedParamsGetInt(p, n, "operation", out int o) == 1 ? o : 0;
                string? err = NativeMethods.virTypedParamsGetString(p, n, "errmsg", out IntPtr e) == 1 ? PeekString(e) : null;
                ulong total = NativeMethods.virTypedParamsGetULLong(p, n, "disk_total", out ulong t) == 1 ? t : 0;
                ulong done = NativeMethods.virTypedParamsGetULLong(p, n, "disk_processed", out ulong x) == 1 ? x : 0;
                return new VirJob(type, op, err, total, done);
            }
            finally { if (p != IntPtr.Zero) NativeMethods.virTypedParamsFree(p, n); }
        }

        public static void PoolRefresh(PoolHandle p) => Check(NativeMethods.virStoragePoolRefresh(p, 0), "Cannot refresh the storage pool");
    }
}
