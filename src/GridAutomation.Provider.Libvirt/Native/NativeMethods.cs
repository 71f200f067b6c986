using System;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace GridAutomation.Providers.Libvirt.Native
{
    // Our own small P/Invoke layer over libvirt.so.0 (no binding is served).
    // String rules (see libvirt's API docs for each call):
    //  * Inputs are marshalled as UTF-8 copies the marshaller owns and frees.
    //  * Outputs are NEVER declared as 'string': libvirt either keeps ownership (virDomainGetName,
    //    virConnectGetType, virStorageVolGetName, the virError strings) or hands it to the caller
    //    (virDomainGetXMLDesc, virConnectGetHostname, virStorageVolGetPath, virDomainGetMetadata...).
    //    We take an IntPtr, copy it, and free() only the caller-owned ones (see Virt.TakeString / Virt.PeekString).
    //  * C 'unsigned long' is CULong (32 bits on Windows, 64 on LP64).

    internal sealed class ConnectHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public ConnectHandle() : base(true) { }
        protected override bool ReleaseHandle() => NativeMethods.virConnectClose(handle) >= 0;
    }

    internal sealed class DomainHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public DomainHandle() : base(true) { }
        public DomainHandle(IntPtr existing) : base(true) { SetHandle(existing); }
        protected override bool ReleaseHandle() => NativeMethods.virDomainFree(handle) >= 0;
    }

    internal sealed class PoolHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public PoolHandle() : base(true) { }
        public PoolHandle(IntPtr existing) : base(true) { SetHandle(existing); }
        protected override bool ReleaseHandle() => NativeMethods.virStoragePoolFree(handle) >= 0;
    }

    internal sealed class VolumeHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public VolumeHandle() : base(true) { }
        public VolumeHandle(IntPtr existing) : base(true) { SetHandle(existing); }
        protected override bool ReleaseHandle() => NativeMethods.virStorageVolFree(handle) >= 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct VirNodeInfo
    {
        public fixed byte model[32];
        public CULong memory;   // KiB
        public uint cpus;
        public uint mhz;
        public uint nodes;
        public uint sockets;
        public uint cores;
        public uint threads;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct VirStorageVolInfo
    {
        public int type;
        public ulong capacity;
        public ulong allocation;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct VirDomainInfo
    {
        public byte state;
        public CULong maxMem;     // KiB
        public CULong memory;     // KiB
        public ushort nrVirtCpu;
        public ulong cpuTime;     // ns
    }

    /// <summary>struct _virError: only the leading fields we read (code, domain, message).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct VirErrorHead
    {
        public int code;
        public int domain;
        public IntPtr message; // owned by libvirt
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct VirConnectCredential
    {
        public int type;
        public IntPtr prompt;     // owned by libvirt
        public IntPtr challenge;  // owned by libvirt
        public IntPtr defresult;  // owned by libvirt
        public IntPtr result;     // malloc'ed by us, freed by libvirt
        public uint resultlen;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct VirConnectAuth
    {
        public IntPtr credtype;   // int*
        public uint ncredtype;
        public IntPtr cb;         // virConnectAuthCallbackPtr
        public IntPtr cbdata;
    }

    internal static class NativeMethods
    {
        public const string Lib = "libvirt.so.0";

        // ---- libc (the process environment libvirt reads at virInitialize; .NET's SetEnvironmentVariable does not reach it)
        [DllImport("libc.so.6", EntryPoint = "getenv")] public static extern IntPtr libc_getenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name); // owned by libc
        [DllImport("libc.so.6", EntryPoint = "setenv")] public static extern int libc_setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

        // ---- library / errors / events
        [DllImport(Lib)] public static extern int virInitialize();
        [DllImport(Lib)] public static extern int virGetVersion(out CULong libVer, IntPtr type, IntPtr typeVer);
        [DllImport(Lib)] public static extern void virSetErrorFunc(IntPtr userData, IntPtr handler);
        [DllImport(Lib)] public static extern IntPtr virGetLastError();
        [DllImport(Lib)] public static extern void virResetLastError();
        [DllImport(Lib)] public static extern int virEventRegisterDefaultImpl();
        [DllImport(Lib)] public static extern int virEventRunDefaultImpl();

        // ---- connections / host
        [DllImport(Lib)] public static extern ConnectHandle virConnectOpen([MarshalAs(UnmanagedType.LPUTF8Str)] string name);
        [DllImport(Lib)] public static extern ConnectHandle virConnectOpenAuth([MarshalAs(UnmanagedType.LPUTF8Str)] string name, ref VirConnectAuth auth, uint flags);
        [DllImport(Lib)] public static extern int virConnectClose(IntPtr conn);
        [DllImport(Lib)] public static extern IntPtr virConnectGetType(ConnectHandle conn);            // static, do not free
        [DllImport(Lib)] public static extern IntPtr virConnectGetHostname(ConnectHandle conn);        // caller frees
        [DllImport(Lib)] public static extern int virConnectGetLibVersion(ConnectHandle conn, out CULong libVer);
        [DllImport(Lib)] public static extern int virNodeGetInfo(ConnectHandle conn, out VirNodeInfo info);
        [DllImport(Lib)] public static extern int virConnectListAllDomains(ConnectHandle conn, out IntPtr domains, uint flags); // array + each domain owned by caller
        [DllImport(Lib)] public static extern int virConnectListAllNetworks(ConnectHandle conn, out IntPtr nets, uint flags); // array + each network owned by caller
        [DllImport(Lib)] public static extern IntPtr virNetworkGetName(IntPtr net);                    // owned by the network
        [DllImport(Lib)] public static extern int virNetworkFree(IntPtr net);

        // ---- domains
        [DllImport(Lib)] public static extern int virDomainFree(IntPtr dom);
        [DllImport(Lib)] public static extern DomainHandle virDomainLookupByUUIDString(ConnectHandle conn, [MarshalAs(UnmanagedType.LPUTF8Str)] string uuid);
        [DllImport(Lib)] public static extern DomainHandle virDomainLookupByName(ConnectHandle conn, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);
        [DllImport(Lib)] public static extern IntPtr virDomainGetName(DomainHandle dom);               // owned by the domain
        [DllImport(Lib)] public static extern unsafe int virDomainGetUUIDString(DomainHandle dom, byte* buf); // VIR_UUID_STRING_BUFLEN = 37
        [DllImport(Lib)] public static extern int virDomainGetState(DomainHandle dom, out int state, out int reason, uint flags);
        [DllImport(Lib)] public static extern int virDomainHasManagedSaveImage(DomainHandle dom, uint flags);
        [DllImport(Lib)] public static extern int virDomainIsActive(DomainHandle dom);
        [DllImport(Lib)] public static extern int virDomainIsPersistent(DomainHandle dom);
        [DllImport(Lib)] public static extern int virDomainGetInfo(DomainHandle dom, out VirDomainInfo info);
        [DllImport(Lib)] public static extern int virDomainManagedSaveRemove(DomainHandle dom, uint flags);
        [DllImport(Lib)] public static extern int virDomainPMWakeup(DomainHandle dom, uint flags);
        [DllImport(Lib)] public static extern IntPtr virDomainGetXMLDesc(DomainHandle dom, uint flags);  // caller frees
        [DllImport(Lib)] public static extern DomainHandle virDomainDefineXML(ConnectHandle conn, [MarshalAs(UnmanagedType.LPUTF8Str)] string xml);
        [DllImport(Lib)] public static extern int virDomainCreate(DomainHandle dom);
        [DllImport(Lib)] public static extern int virDomainResume(DomainHandle dom);
        [DllImport(Lib)] public static extern int virDomainSuspend(DomainHandle dom);
        [DllImport(Lib)] public static extern int virDomainShutdown(DomainHandle dom);
        [DllImport(Lib)] public static extern int virDomainDestroy(DomainHandle dom);
        [DllImport(Lib)] public static extern int virDomainReboot(DomainHandle dom, uint flags);
        [DllImport(Lib)] public static extern int virDomainManagedSave(DomainHandle dom, uint flags);
        [DllImport(Lib)] public static extern int virDomainUndefineFlags(DomainHandle dom, uint flags);
        [DllImport(Lib)] public static extern int virDomainSaveFlags(DomainHandle dom, [MarshalAs(UnmanagedType.LPUTF8Str)] string to, [MarshalAs(UnmanagedType.LPUTF8Str)] string? dxml, uint flags);
        [DllImport(Lib)] public static extern int virDomainRestoreFlags(ConnectHandle conn, [MarshalAs(UnmanagedType.LPUTF8Str)] string from, [MarshalAs(UnmanagedType.LPUTF8Str)] string? dxml, uint flags);
        [DllImport(Lib)] public static extern int virDomainSetMetadata(DomainHandle dom, int type, [MarshalAs(UnmanagedType.LPUTF8Str)] string? metadata,
            [MarshalAs(UnmanagedType.LPUTF8Str)] string? key, [MarshalAs(UnmanagedType.LPUTF8Str)] string? uri, uint flags);
        [DllImport(Lib)] public static extern int virDomainMigrateToURI3(DomainHandle dom, [MarshalAs(UnmanagedType.LPUTF8Str)] string? dconnuri, IntPtr @params, uint nparams, uint flags);
        [DllImport(Lib)] public static extern int virDomainGetJobStats(DomainHandle dom, out int type, out IntPtr @params, out int nparams, uint flags); // caller frees params
        [DllImport(Lib)] public static extern int virDomainAbortJob(DomainHandle dom);

        // ---- typed parameters (pure library helpers: no connection involved)
        [DllImport(Lib)] public static extern int virTypedParamsAddString(ref IntPtr @params, ref int nparams, ref int maxparams,
            [MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value);
        [DllImport(Lib)] public static extern int virTypedParamsGetString(IntPtr @params, int nparams, [MarshalAs(UnmanagedType.LPUTF8Str)] string name, out IntPtr value); // value owned by params
        [DllImport(Lib)] public static extern void virTypedParamsFree(IntPtr @params, int nparams);
        [DllImport(Lib)] public static extern int virTypedParamsGetULLong(IntPtr @params, int nparams, [MarshalAs(UnmanagedType.LPUTF8Str)] string name, out ulong value);

        // ---- storage
        [DllImport(Lib)] public static extern PoolHandle virStoragePoolLookupByName(ConnectHandle conn, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);
        [DllImport(Lib)] public static extern int virStoragePoolFree(IntPtr pool);
        [DllImport(Lib)] public static extern int virStoragePoolRefresh(PoolHandle pool, uint flags);
        [DllImport(Lib)] public static extern IntPtr virStoragePoolGetXMLDesc(PoolHandle pool, uint flags); // caller frees
        [DllImport(Lib)] public static extern int virStoragePoolListAllVolumes(PoolHandle pool, out IntPtr vols, uint flags);
        [DllImport(Lib)] public static extern int virStorageVolFree(IntPtr vol);
        [DllImport(Lib)] public static extern IntPtr virStorageVolGetName(VolumeHandle vol);         // owned by the volume
        [DllImport(Lib)] public static extern IntPtr virStorageVolGetPath(VolumeHandle vol);         // caller frees
        [DllImport(Lib)] public static extern int virStorageVolGetInfo(VolumeHandle vol, out VirStorageVolInfo info);
        [DllImport(Lib)] public static extern VolumeHandle virStorageVolLookupByName(PoolHandle pool, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);
        [DllImport(Lib)] public static extern VolumeHandle virStorageVolLookupByPath(ConnectHandle conn, [MarshalAs(UnmanagedType.LPUTF8Str)] string path);
        [DllImport(Lib)] public static extern VolumeHandle virStorageVolCreateXML(PoolHandle pool, [MarshalAs(UnmanagedType.LPUTF8Str)] string xml, uint flags);
        [DllImport(Lib)] public static extern VolumeHandle virStorageVolCreateXMLFrom(PoolHandle pool, [MarshalAs(UnmanagedType.LPUTF8Str)] string xml, VolumeHandle clonevol, uint flags);
        [DllImport(Lib)] public static extern int virStorageVolDelete(VolumeHandle vol, uint flags);
    }
}
