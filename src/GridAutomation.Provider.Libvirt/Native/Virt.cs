using System;
using System.Collections.Generic;
using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.Libvirt.Native
{
    /// <summary>A libvirt error as read right after the failing call, on the same thread.</summary>
    internal readonly record struct VirError(int Code, int Domain, string Message);

    /// <summary>
    /// Safe wrappers: every failing call reads virGetLastError on the calling thread immediately and throws a
    /// GridException (never an SEHException or a raw libvirt error). Library set-up happens once per process.
    /// </summary>
    internal static unsafe partial class Virt
    {
        public const string PackageHint = "libvirt0";
        private static readonly object Gate = new object();
        private static bool _initialized;
        private static string? _loadFailure;
        private static Thread? _eventThread;

        // libvirt error numbers we map (virterror.h).
        public const int ERR_INTERNAL_ERROR = 1, ERR_NO_SUPPORT = 3, ERR_NO_CONNECT = 5, ERR_INVALID_ARG = 8, ERR_OPERATION_FAILED = 9,
            ERR_XML_ERROR = 27, ERR_DOM_EXIST = 28, ERR_OPERATION_DENIED = 29, ERR_SYSTEM_ERROR = 38, ERR_RPC = 39, ERR_NO_DOMAIN = 42,
            ERR_AUTH_FAILED = 45, ERR_NO_STORAGE_POOL = 49, ERR_NO_STORAGE_VOL = 50, ERR_OPERATION_INVALID = 55,
            ERR_CONFIG_UNSUPPORTED = 67, ERR_OPERATION_TIMEOUT = 68, ERR_ARGUMENT_UNSUPPORTED = 74, ERR_AUTH_CANCELLED = 79,
            ERR_OPERATION_UNSUPPORTED = 84, ERR_RESOURCE_BUSY = 87, ERR_ACCESS_DENIED = 88, ERR_STORAGE_VOL_EXIST = 90, ERR_AUTH_UNAVAILABLE = 94;

        /// <summary>The library probed before any call (tests point it at a missing name in a child process).</summary>
        internal static string LibraryProbeName = NativeMethods.Lib;

        /// <summary>True when libvirt.so.0 can be loaded in this process.</summary>
        public static bool TryLoad(out string? reason)
        {
            lock (Gate)
            {
                if (_initialized) { reason = null; return true; }
                if (_loadFailure != null) { reason = _loadFailure; return false; }
                if (!OperatingSystem.IsLinux())
                {
                    reason = _loadFailure = "The Libvirt provider needs Linux with the libvirt client library (libvirt.so.0).";
                    return false;
                }
                if (!NativeLibrary.TryLoad(LibraryProbeName, typeof(Virt).Assembly, DllImportSearchPath.SafeDirectories, out _))
                {
                    reason = _loadFailure = $"The libvirt client library ({NativeMethods.Lib}) is not installed. Install the '{PackageHint}' package (apt-get install {PackageHint}).";
                    return false;
                }
                try
                {
                    // libvirt's own log lines (warnings such as "tainted: high-privileges") go to stderr by default and
                    // would litter the console; keep only its error-level log unless the user configured logging.
                    try
                    {
                        if (NativeMethods.libc_getenv("LIBVIRT_LOG_OUTPUTS") == IntPtr.Zero && NativeMethods.libc_getenv("LIBVIRT_LOG_FILTERS") == IntPtr.Zero && NativeMethods.libc_getenv("LIBVIRT_DEBUG") == IntPtr.Zero)
                            NativeMethods.libc_setenv("LIBVIRT_LOG_FILTERS", "4:*", 0);
                    }
                    catch (Exception ex) when (ex is DllNotFoundException || ex is EntryPointNotFoundException) { }
                    if (NativeMethods.virInitialize() < 0) { reason = _loadFailure = "virInitialize failed."; return false; }
                    // Silence libvirt's default printing of every error to stderr; we read errors ourselves.
                    NativeMethods.virSetErrorFunc(IntPtr.Zero, (IntPtr)(delegate* unmanaged<IntPtr, IntPtr, void>)&NoOpErrorHandler);
                    // The QEMU driver (embed mode) needs an event loop registered before any connection opens, and pumped.
                    if (NativeMethods.virEventRegisterDefaultImpl() < 0) { reason = _loadFailure = "virEventRegisterDefaultImpl failed: " + LastError().Message; return false; }
                    _eventThread = new Thread(EventLoop) { IsBackground = true, Name = "libvirt-event-loop" };
                    _eventThread.Start();
                }
                catch (Exception ex) when (ex is EntryPointNotFoundException || ex is DllNotFoundException)
                {
                    reason = _loadFailure = $"The libvirt client library is unusable ({ex.GetType().Name}). Install or upgrade the '{PackageHint}' package.";
                    return false;
                }
                _initialized = true;
                reason = null;
                return true;
            }
        }

        public static void Ensure()
        {
            if (!TryLoad(out var reason))
                throw new GridException(GridErrorKind.Unavailable, reason!, "LibvirtNotInstalled") { IsTransient = false, NativeCode = PackageHint };
        }

        [UnmanagedCallersOnly]
        private static void NoOpErrorHandler(IntPtr userData, IntPtr error) { }

        private static void EventLoop()
        {
            while (true)
            {
                if (NativeMethods.virEventRunDefaultImpl() < 0)
                {
                    NativeMethods.virResetLastError();
                    Thread.Sleep(50);
                }
            }
        }

        /// <summary>Reads (and resets) the thread-local last error. Call on the same thread right after the failing call.</summary>
        public static VirError LastError()
        {
            IntPtr p = NativeMethods.virGetLastError(); // owned by libvirt (thread-local): never freed here
            if (p == IntPtr.Zero) return new VirError(0, 0, "unknown libvirt error");
            var head = Marshal.PtrToStructure<VirErrorHead>(p);
            string msg = PeekString(head.message) ?? "libvirt error " + head.code;
            NativeMethods.virResetLastError();
            return new VirError(head.code, head.domain, msg);
        }

        public static GridException ToException(VirError e, string what, object? target = null)
        {
            GridErrorKind kind;
            string id;
            switch (e.Code)
            {
                case ERR_NO_DOMAIN: kind = GridErrorKind.NotFound; id = "WorkloadNotFound"; break;
                case ERR_NO_STORAGE_POOL: kind = GridErrorKind.NotFound; id = "StoragePoolNotFound"; break;
                case ERR_NO_STORAGE_VOL: kind = GridErrorKind.NotFound; id = "VolumeNotFound"; break;
                case ERR_NO_SUPPORT: case ERR_ARGUMENT_UNSUPPORTED: case ERR_OPERATION_UNSUPPORTED: case ERR_CONFIG_UNSUPPORTED:
                    kind = GridErrorKind.Unsupported; id = "LibvirtUnsupported"; break;
                case ERR_AUTH_FAILED: case ERR_AUTH_CANCELLED: case ERR_AUTH_UNAVAILABLE: kind = GridErrorKind.Unauthorized; id = "LibvirtAuthFailed"; break;
                case ERR_OPERATION_DENIED: case ERR_ACCESS_DENIED: kind = GridErrorKind.PermissionDenied; id = "LibvirtAccessDenied"; break;
                case ERR_NO_CONNECT: case ERR_RPC: case ERR_OPERATION_TIMEOUT: kind = GridErrorKind.Unavailable; id = "LibvirtUnavailable"; break;
                case ERR_INVALID_ARG: case ERR_XML_ERROR: kind = GridErrorKind.InvalidRequest; id = "LibvirtInvalidRequest"; break;
                case ERR_DOM_EXIST: case ERR_STORAGE_VOL_EXIST: kind = GridErrorKind.Conflict; id = "LibvirtObjectExists"; break;
                case ERR_OPERATION_INVALID: case ERR_RESOURCE_BUSY: kind = GridErrorKind.Conflict; id = "LibvirtInvalidState"; break;
                default: kind = GridErrorKind.Conflict; id = "LibvirtOperationFailed"; break;
            }
            return new GridException(kind, what + ": " + e.Message, id) { NativeCode = e.Code.ToString(System.Globalization.CultureInfo.InvariantCulture), Target = target };
        }

        private static GridException Fail(string what, object? target = null) => ToException(LastError(), what, target);

        private static void Check(int rc, string what, object? target = null)
        {
            if (rc < 0) throw Fail(what, target);
        }

        private static T CheckHandle<T>(T h, string what, object? target = null) where T : SafeHandle
        {
            if (h.IsInvalid) { var ex = Fail(what, target); h.Dispose(); throw ex; }
            return h;
        }

        /// <summary>Copies a string libvirt keeps ownership of.</summary>
        public static string? PeekString(IntPtr p) => p == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(p);

        /// <summary>Copies a string the caller owns, then free()s it.</summary>
        public static string? TakeString(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            try { return Marshal.PtrToStringUTF8(p); }
            finally { NativeMemory.Free((void*)p); }
        }

        // ---------------------------------------------------------------- connections

        public static ConnectHandle Open(string uri, NetworkCredential? credential)
        {
            Ensure();
            // Always open with our authentication callback: without a credential it declines (the URI then fails
            // as Unauthorized instead of libvirt's "Missing authentication credentials" invalid-argument error).
            var handle = credential == null ? default : GCHandle.Alloc(credential);
            int* types = stackalloc int[] { CRED_USERNAME, CRED_AUTHNAME, CRED_PASSPHRASE, CRED_NOECHOPROMPT, CRED_ECHOPROMPT };
            try
            {
                var auth = new VirConnectAuth
                {
                    credtype = (IntPtr)types, ncredtype = 5,
                    cb = (IntPtr)(delegate* unmanaged<VirConnectCredential*, uint, IntPtr, int>)&AuthCallback,
                    cbdata = credential == null ? IntPtr.Zero : GCHandle.ToIntPtr(handle),
                };
                var conn = NativeMethods.virConnectOpenAuth(uri, ref auth, 0);
                if (!conn.IsInvalid) return conn;
                var e = LastError();
                conn.Dispose();
                var ex = ToException(e, "Cannot connect to " + uri, uri);
                if (ex.Kind == GridErrorKind.Unauthorized && credential == null)
                    return ThrowWithHint(ex, uri);
                throw ex;
            }
            finally { if (handle.IsAllocated) handle.Free(); }
        }

        private static ConnectHandle ThrowWithHint(GridException ex, string uri)
        {
            throw new GridException(ex.Kind, ex.Message + " (the host asks for credentials: give -Credential)", ex.ErrorId) { NativeCode = ex.NativeCode, Target = uri };
        }

        private const int CRED_USERNAME = 1, CRED_AUTHNAME = 2, CRED_PASSPHRASE = 5, CRED_ECHOPROMPT = 6, CRED_NOECHOPROMPT = 7;

        [UnmanagedCallersOnly]
        private static int AuthCallback(VirConnectCredential* creds, uint ncred, IntPtr cbdata)
        {
            try
            {
                if (cbdata == IntPtr.Zero) return -1; // no credential given: decline
                var credential = (NetworkCredential)GCHandle.FromIntPtr(cbdata).Target!;
                for (uint i = 0; i < ncred; i++)
                {
                    string? answer = creds[i].type switch
                    {
                        CRED_USERNAME or CRED_AUTHNAME or CRED_ECHOPROMPT => credential.UserName,
                        CRED_PASSPHRASE or CRED_NOECHOPROMPT => credential.Password,
                        _ => null,
                    };
                    if (answer == null) return -1;
                    // libvirt frees 'result' with free(): hand it malloc'ed memory.
                    int len = System.Text.Encoding.UTF8.GetByteCount(answer);
                    byte* buf = (byte*)NativeMemory.Alloc((nuint)len + 1);
                    fixed (char* c = answer) System.Text.Encoding.UTF8.GetBytes(c, answer.Length, buf, len);
                    buf[len] = 0;
                    creds[i].result = (IntPtr)buf;
                    creds[i].resultlen = (uint)len;
                }
                return 0;
            }
            catch { return -1; }
        }

        public static string GetDriverType(ConnectHandle c) => PeekString(NativeMethods.virConnectGetType(c)) ?? throw Fail("virConnectGetType");
        public static string GetHostname(ConnectHandle c) => TakeString(NativeMethods.virConnectGetHostname(c)) ?? throw Fail("virConnectGetHostname");

        public static VirNodeInfo NodeInfo(ConnectHandle c)
        {
            Check(NativeMethods.virNodeGetInfo(c, out var info), "virNodeGetInfo");
            return info;
        }

        public static ulong LibVersion(ConnectHandle c)
        {
            Check(NativeMethods.virConnectGetLibVersion(c, out var v), "virConnectGetLibVersion");
            return v.Value;
        }

        // ---------------------------------------------------------------- domains

        public const uint LIST_MANAGEDSAVE = 1 << 8; // VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE

        public static List<DomainHandle> ListAllDomains(ConnectHandle c, uint flags = 0)
        {
            int n = NativeMethods.virConnectListAllDomains(c, out IntPtr arr, flags);
            if (n < 0) throw Fail("virConnectListAllDomains");
            var list = new List<DomainHandle>(n);
            try
            {
                for (int i = 0; i < n; i++) list.Add(new DomainHandle(Marshal.ReadIntPtr(arr, i * IntPtr.Size)));
            }
            finally { NativeMemory.Free((void*)arr); }
            return list;
        }

        /// <summary>The names of the connection's networks (active or not).</summary>
        public static List<string> ListNetworkNames(ConnectHandle c)
        {
            int n = NativeMethods.virConnectListAllNetworks(c, out IntPtr arr, 0);
            if (n < 0) throw Fail("virConnectListAllNetworks");
            var names = new List<string>(n);
            try
            {
                for (int i = 0; i < n; i++)
                {
                    IntPtr net = Marshal.ReadIntPtr(arr, i * IntPtr.Size);
                    try { if (PeekString(NativeMethods.virNetworkGetName(net)) is string name) names.Add(name); }
                    finally { NativeMethods.virNetworkFree(net); }
                }
            }
            finally { NativeMemory.Free((void*)arr); }
            return names;
        }

        /// <summary>The domain, or null when it does not exist.</summary>
        public static DomainHandle? LookupByUuid(ConnectHandle c, string uuid)
        {
            var h = NativeMethods.virDomainLookupByUUIDString(c, uuid);
            if (!h.IsInvalid) return h;
            var e = LastError();
            h.Dispose();
            if (e.Code == ERR_NO_DOMAIN || e.Code == ERR_INVALID_ARG) return null;
            throw ToException(e, "Cannot look up domain " + uuid, uuid);
        }

        public static DomainHandle? LookupByName(ConnectHandle c, string name)
        {
            var h = NativeMethods.virDomainLookupByName(c, name);
            if (!h.IsInvalid) return h;
            var e = LastError();
            h.Dispose();
            if (e.Code == ERR_NO_DOMAIN) return null;
            throw ToException(e, "Cannot look up domain " + name, name);
        }

        public static string Name(DomainHandle d) => PeekString(NativeMethods.virDomainGetName(d)) ?? throw Fail("virDomainGetName");

        public static string Uuid(DomainHandle d)
        {
            byte* buf = stackalloc byte[37 + 3];
            Check(NativeMethods.virDomainGetUUIDString(d, buf), "virDomainGetUUIDString");
            return Marshal.PtrToStringUTF8((IntPtr)buf)!;
        }

        public static (int State, int Reason) State(DomainHandle d)
        {
            Check(NativeMethods.virDomainGetState(d, out int s, out int r, 0), "virDomainGetState");
            return (s, r);
        }

        public static bool HasManagedSave(DomainHandle d)
        {
            int r = NativeMethods.virDomainHasManagedSaveImage(d, 0);
            if (r < 0) throw Fail("virDomainHasManagedSaveImage");
            return r == 1;
        }

        public static bool IsActive(DomainHandle d)
        {
            int r = NativeMethods.virDomainIsActive(d);
            if (r < 0) throw Fail("virDomainIsActive");
            return r == 1;
        }

        public static bool IsPersistent(DomainHandle d)
        {
            int r = NativeMethods.virDomainIsPersistent(d);
            if (r < 0) throw Fail("virDomainIsPersistent");
            return r == 1;
        }

        public static VirDomainInfo Info(DomainHandle d)
        {
            Check(NativeMethods.virDomainGetInfo(d, out var info), "virDomainGetInfo");
            return info;
        }

        public static void ManagedSaveRemove(DomainHandle d, object? t = null) => Check(NativeMethods.virDomainManagedSaveRemove(d, 0), "Cannot discard the managed-save image", t);
        public static void PMWakeup(DomainHandle d, object? t = null) => Check(NativeMethods.virDomainPMWakeup(d, 0), "Cannot wake the guest up", t);

        public const uint XML_SECURE = 1, XML_INACTIVE = 2, XML_MIGRATABLE = 8;

        public static string XmlDesc(DomainHandle d, uint flags = 0) => TakeString(NativeMethods.virDomainGetXMLDesc(d, flags)) ?? throw Fail("virDomainGetXMLDesc");

        public static DomainHandle Define(ConnectHandle c, string xml) => CheckHandle(NativeMethods.virDomainDefineXML(c, xml), "Cannot define the domain");
        public static void Create(DomainHandle d, object? t = null) => Check(NativeMethods.virDomainCreate(d), "Cannot start", t);
        public static void Resume(DomainHandle d, object? t = null) => Check(NativeMethods.virDomainResume(d), "Cannot resume", t);
        public static void Suspend(DomainHandle d, object? t = null) => Check(NativeMethods.virDomainSuspend(d), "Cannot pause", t);
        public static void Shutdown(DomainHandle d, object? t = null) => Check(NativeMethods.virDomainShutdown(d), "Cannot shut down", t);
        public static void Destroy(DomainHandle d, object? t = null) => Check(NativeMethods.virDomainDestroy(d), "Cannot power off", t);
        public static void Reboot(DomainHandle d, object? t = null) => Check(NativeMethods.virDomainReboot(d, 0), "Cannot reboot", t);
        public static void ManagedSave(DomainHandle d, object? t = null) => Check(NativeMethods.virDomainManagedSave(d, 0), "Cannot suspend (managed save)", t);

        public const uint UNDEFINE_MANAGED_SAVE = 1, UNDEFINE_SNAPSHOTS_METADATA = 2;
        public static void Undefine(DomainHandle d, object? t = null)
            => Check(NativeMethods.virDomainUndefineFlags(d, UNDEFINE_MANAGED_SAVE | UNDEFINE_SNAPSHOTS_METADATA), "Cannot undefine", t);

        public static void Save(DomainHandle d, string path, object? t = null) => Check(NativeMethods.virDomainSaveFlags(d, path, null, 0), "Cannot save the guest memory to " + path, t);
        public static void Restore(ConnectHandle c, string path, string? dxml, object? t = null) => Check(NativeMethods.virDomainRestoreFlags(c, path, dxml, 0), "Cannot restore the guest from " + path, t);

        public const int METADATA_ELEMENT = 2;
        public const uint AFFECT_LIVE = 1, AFFECT_CONFIG = 2;
        public static void SetMetadata(DomainHandle d, string? xml, string key, string nsUri, uint flags, object? t = null)
            => Check(NativeMethods.virDomainSetMetadata(d, METADATA_ELEMENT, xml, xml == null ? null : key, nsUri, flags), "Cannot set the metadata", t);

        // ---------------------------------------------------------------- migration (typed parameters)

        /// <summary>Builds libvirt typed parameters (virTypedParamsAddString), calls <paramref name="use"/>, then frees them (virTypedParamsFree).</summary>
        public static T WithTypedStringParams<T>(IReadOnlyList<KeyValuePair<string, string>> values, Func<IntPtr, int, T> use)
        {
            Ensure();
            IntPtr p = IntPtr.Zero; int n = 0, max = 0;
            try
            {
                foreach (var kv in values)
                    Check(NativeMethods.virTypedParamsAddString(ref p, ref n, ref max, kv.Key, kv.Value), "virTypedParamsAddString " + kv.Key);
                return use(p, n);
            }
            finally { if (p != IntPtr.Zero) NativeMethods.virTypedParamsFree(p, n); }
        }

        public static string? TypedParamString(IntPtr p, int n, string name)
        {
            int r = NativeMethods.virTypedParamsGetString(p, n, name, out IntPtr v);
            if (r < 0) throw Fail("virTypedParamsGetString");
            return r == 0 ? null : PeekString(v);
        }

        public static void MigrateToUri3(DomainHandle d, string dconnuri, IntPtr p, int n, uint flags, object? t = null)
            => Check(NativeMethods.virDomainMigrateToURI3(d, dconnuri, p, (uint)n, flags), "Live migration to " + dconnuri + " failed", t);

        public const uint JOB_STATS_COMPLETED = 1;
        public const int JOB_NONE = 0;

        /// <summary>virDomainGetJobStats: the job type (0 = none) and its unsigned-integer statistics (downtime, data_total...).</summary>
        public static (int Type, Dictionary<string, ulong> Stats) JobStats(DomainHandle d, uint flags, IEnumerable<string> names)
        {
            int rc = NativeMethods.virDomainGetJobStats(d, out int type, out IntPtr p, out int n, flags);
            if (rc < 0) throw Fail("virDomainGetJobStats");
            var stats = new Dictionary<string, ulong>(StringComparer.Ordinal);
            try
            {
                foreach (var name in names)
                    if (NativeMethods.virTypedParamsGetULLong(p, n, name, out ulong v) == 1) stats[name] = v;
            }
            finally { if (p != IntPtr.Zero) NativeMethods.virTypedParamsFree(p, n); }
            return (type, stats);
        }

        public static void AbortJob(DomainHandle d, object? t = null) => Check(NativeMethods.virDomainAbortJob(d), "Cannot abort the guest's job", t);

        // ---------------------------------------------------------------- storage

        public static PoolHandle? LookupPool(ConnectHandle c, string name)
        {
            var h = NativeMethods.virStoragePoolLookupByName(c, name);
            if (!h.IsInvalid) return h;
            var e = LastError();
            h.Dispose();
            if (e.Code == ERR_NO_STORAGE_POOL) return null;
            throw ToException(e, "Cannot look up storage pool " + name, name);
        }

        public static string PoolXml(PoolHandle p) => TakeString(NativeMethods.virStoragePoolGetXMLDesc(p, 0)) ?? throw Fail("virStoragePoolGetXMLDesc");

        public static List<VolumeHandle> ListVolumes(PoolHandle p)
        {
            int n = NativeMethods.virStoragePoolListAllVolumes(p, out IntPtr arr, 0);
            if (n < 0) throw Fail("virStoragePoolListAllVolumes");
            var list = new List<VolumeHandle>(n);
            try
            {
                for (int i = 0; i < n; i++) list.Add(new VolumeHandle(Marshal.ReadIntPtr(arr, i * IntPtr.Size)));
            }
            finally { NativeMemory.Free((void*)arr); }
            return list;
        }

        public static string VolName(VolumeHandle v) => PeekString(NativeMethods.virStorageVolGetName(v)) ?? throw Fail("virStorageVolGetName");
        public static string VolPath(VolumeHandle v) => TakeString(NativeMethods.virStorageVolGetPath(v)) ?? throw Fail("virStorageVolGetPath");

        public static VirStorageVolInfo VolInfo(VolumeHandle v)
        {
            Check(NativeMethods.virStorageVolGetInfo(v, out var info), "virStorageVolGetInfo");
            return info;
        }

        public static VolumeHandle? LookupVolume(PoolHandle p, string name)
        {
            var h = NativeMethods.virStorageVolLookupByName(p, name);
            if (!h.IsInvalid) return h;
            var e = LastError();
            h.Dispose();
            if (e.Code == ERR_NO_STORAGE_VOL) return null;
            throw ToException(e, "Cannot look up volume " + name, name);
        }

        public static VolumeHandle? LookupVolumeByPath(ConnectHandle c, string path)
        {
            var h = NativeMethods.virStorageVolLookupByPath(c, path);
            if (!h.IsInvalid) return h;
            var e = LastError();
            h.Dispose();
            if (e.Code == ERR_NO_STORAGE_VOL || e.Code == ERR_NO_SUPPORT) return null;
            throw ToException(e, "Cannot look up volume " + path, path);
        }

        public static VolumeHandle CreateVolume(PoolHandle p, string xml) => CheckHandle(NativeMethods.virStorageVolCreateXML(p, xml, 0), "Cannot create the volume");
        public static VolumeHandle CloneVolume(PoolHandle p, string xml, VolumeHandle from) => CheckHandle(NativeMethods.virStorageVolCreateXMLFrom(p, xml, from, 0), "Cannot clone the image volume");
        public static void DeleteVolume(VolumeHandle v) => Check(NativeMethods.virStorageVolDelete(v, 0), "Cannot delete the volume");

        public static void DisposeAll<T>(IEnumerable<T> handles) where T : SafeHandle
        {
            foreach (var h in handles) h.Dispose();
        }
    }
}
