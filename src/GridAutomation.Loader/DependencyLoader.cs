using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Loader;
#endif

namespace GridAutomation.Loader
{
    /// <summary>
    /// Resolves the module's dependencies from the Dependencies/ folder beside this assembly.
    /// <para>
    /// .NET (PowerShell 7): the cmdlet assembly lives in the default AssemblyLoadContext. A Resolving handler on the
    /// default context hands out only the module's own bridge assemblies (GridAutomation.*, i.e. GridAutomation.Core
    /// and anything else of ours the cmdlets reference) from a private <see cref="GridLoadContext"/>. Everything
    /// those depend on (providers, Polly, Microsoft.Data.Sqlite, SQLitePCLRaw, AWSSDK.*, Azure.*) then resolves
    /// inside that private context, so another module's copy of, say, Azure.Core in the default context never
    /// clashes with ours. ProviderRegistry loads GridAutomation.Provider.*.dll into the core's context, i.e. ours.
    /// </para>
    /// <para>
    /// .NET Framework (Windows PowerShell 5.1, netstandard2.0 build): one AppDomain, so only an
    /// AppDomain.AssemblyResolve fallback over the same folder, plus a preload of the native e_sqlite3.dll.
    /// </para>
    /// </summary>
    public static class DependencyLoader
    {
        private static readonly object Gate = new object();
        private static bool _registered;

        /// <summary>The private dependency folder: Dependencies/ beside this assembly.</summary>
        public static string DependencyDirectory { get; } =
            Path.Combine(Path.GetDirectoryName(typeof(DependencyLoader).Assembly.Location) ?? ".", "Dependencies");

#if NET8_0_OR_GREATER
        private static GridLoadContext? _context;

        /// <summary>The private load context (null before <see cref="Register"/>).</summary>
        public static AssemblyLoadContext? Context => _context;
#endif

        /// <summary>Installs the resolver once per process (idempotent: re-imports of the module are no-ops).</summary>
        public static void Register()
        {
            lock (Gate)
            {
                if (_registered) return;
#if NET8_0_OR_GREATER
                _context = new GridLoadContext(DependencyDirectory);
                AssemblyLoadContext.Default.Resolving += OnDefaultResolving;
                // Load the core now (cheap, no dependency is touched) so that its type names work in scripts from
                // the moment the module is imported, not only after a first cmdlet call.
                var core = Path.Combine(DependencyDirectory, "GridAutomation.Core.dll");
                if (File.Exists(core)) RegisterTypeNames(_context.LoadFromAssemblyPath(core));
#else
                AppDomain.CurrentDomain.AssemblyResolve += OnAssemblyResolve;
                PreloadNativeSqliteOnWindows();
#endif
                _registered = true;
            }
        }

        /// <summary>True for the assemblies the default context may take from us: our own (GridAutomation.*), never a third-party one.</summary>
        internal static bool IsBridgeAssembly(string? name) =>
            name != null && name.StartsWith("GridAutomation.", StringComparison.OrdinalIgnoreCase)
            && !name.Equals("GridAutomation.Loader", StringComparison.OrdinalIgnoreCase);

        /// <summary>
        /// True for PowerShell's own assemblies (System.Management.Automation, Microsoft.PowerShell.*,
        /// Microsoft.Management.Infrastructure*): the host has loaded them already, so a provider that references them
        /// (the Hyper-V provider's remoting client) must get the host's copy, never one from Dependencies/.
        /// </summary>
        internal static bool IsHostAssembly(string? name) =>
            name != null && (name.Equals("System.Management.Automation", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("Microsoft.PowerShell.", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("Microsoft.Management.Infrastructure", StringComparison.OrdinalIgnoreCase));

#if NET8_0_OR_GREATER
        private static Assembly? OnDefaultResolving(AssemblyLoadContext context, AssemblyName name)
        {
            // Only our own assemblies cross over. A failed lookup of a third-party assembly by another module
            // must not be answered with our copy.
            if (!IsBridgeAssembly(name.Name)) return null;
            if (!File.Exists(Path.Combine(DependencyDirectory, name.Name + ".dll"))) return null;
            var assembly = _context!.LoadFromAssemblyName(name);
            RegisterTypeNames(assembly);
            return assembly;
        }

        /// <summary>
        /// PowerShell resolves a type literal such as [GridAutomation.Core.Model.WorkloadState] only among the default
        /// context's assemblies. So that scripts can still name the model's types, each public type of a bridge
        /// assembly is registered as a type accelerator under its full name (never replacing an existing one).
        /// </summary>
        private static void RegisterTypeNames(Assembly assembly)
        {
            try
            {
                var accelerators = typeof(System.Management.Automation.PSObject).Assembly.GetType("System.Management.Automation.TypeAccelerators");
                var add = accelerators?.GetMethod("Add", BindingFlags.Public | BindingFlags.Static, null, new[] { typeof(string), typeof(Type) }, null);
                var get = accelerators?.GetProperty("Get", BindingFlags.Public | BindingFlags.Static);
                if (add == null || get == null) return;
                var existing = get.GetValue(null) as System.Collections.IDictionary;
                Type[] types;
                try { types = assembly.GetExportedTypes(); }
                catch (ReflectionTypeLoadException ex) { types = Array.FindAll(ex.Types, t => t != null)!; }
                foreach (var type in types)
                {
                    if (type.FullName == null || type.IsNested || (existing != null && existing.Contains(type.FullName))) continue;
                    add.Invoke(null, new object[] { type.FullName, type });
                }
            }
            catch (Exception) { /* a convenience only: never fail the assembly load over it */ }
        }
#else
        private static Assembly? OnAssemblyResolve(object? sender, ResolveEventArgs args)
        {
            var name = new AssemblyName(args.Name);
            if (string.IsNullOrEmpty(name.Name)) return null;
            if (IsHostAssembly(name.Name)) return null; // PowerShell's own copy, already loaded by the host
            var path = Path.Combine(DependencyDirectory, name.Name + ".dll");
            if (!File.Exists(path)) return null;
            // One AppDomain: an already loaded copy that is as new or newer is the only one that can be used anyway.
            foreach (var loaded in AppDomain.CurrentDomain.GetAssemblies())
            {
                var ln = loaded.GetName();
                if (string.Equals(ln.Name, name.Name, StringComparison.OrdinalIgnoreCase)
                    && (name.Version == null || (ln.Version != null && ln.Version >= name.Version)))
                    return loaded;
            }
            return Assembly.LoadFrom(path);
        }

        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true)]
        private static extern IntPtr LoadLibraryW(string path);

        private static void PreloadNativeSqliteOnWindows()
        {
            if (Path.DirectorySeparatorChar != '\\') return;
            // DllImport("e_sqlite3") on .NET Framework does not probe runtimes/<rid>/native; once loaded by full
            // path, the Windows loader finds the module by its base name.
            foreach (var rid in NativeResolver.CandidateRids())
            {
                var p = Path.Combine(DependencyDirectory, "runtimes", rid, "native", "e_sqlite3.dll");
                if (File.Exists(p) && LoadLibraryW(p) != IntPtr.Zero) return;
            }
        }
#endif
    }

#if NET8_0_OR_GREATER
    /// <summary>
    /// The module's private context over Dependencies/. It loads a dependency from that folder unless the
    /// framework (the default context's trusted platform assemblies) carries the same assembly at the same or a
    /// newer version, in which case it defers to the framework's copy. Native libraries (e_sqlite3) load from
    /// Dependencies/runtimes/&lt;rid&gt;/native/ for the running platform.
    /// </summary>
    internal sealed class GridLoadContext : AssemblyLoadContext
    {
        private readonly string _directory;
        private Dictionary<string, string>? _tpa;

        public GridLoadContext(string directory) : base("GridAutomation", isCollectible: false) => _directory = directory;

        protected override Assembly? Load(AssemblyName assemblyName)
        {
            if (string.IsNullOrEmpty(assemblyName.Name)) return null;
            // PowerShell's own assemblies (the remoting client of the Hyper-V provider) always come from the host:
            // a second System.Management.Automation would be a second, incompatible PowerShell in the process.
            if (DependencyLoader.IsHostAssembly(assemblyName.Name)) return null;
            var path = Path.Combine(_directory, assemblyName.Name + ".dll");
            if (!File.Exists(path)) return null; // not ours: the default context (framework, PowerShell) answers
            if (FrameworkHasSameOrNewer(assemblyName.Name!, path)) return null;
            return LoadFromAssemblyPath(path);
        }

        protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
        {
            var path = NativeResolver.Find(_directory, unmanagedDllName);
            return path == null ? IntPtr.Zero : LoadUnmanagedDllFromPath(path);
        }

        private bool FrameworkHasSameOrNewer(string name, string ourPath)
        {
            var tpa = _tpa ??= ReadTrustedPlatformAssemblies();
            if (!tpa.TryGetValue(name, out var frameworkPath)) return false;
            try
            {
                var frameworkVersion = AssemblyName.GetAssemblyName(frameworkPath).Version;
                var ourVersion = AssemblyName.GetAssemblyName(ourPath).Version;
                return frameworkVersion != null && ourVersion != null && frameworkVersion >= ourVersion;
            }
            catch (Exception) { return false; }
        }

        private static Dictionary<string, string> ReadTrustedPlatformAssemblies()
        {
            var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") is string list)
                foreach (var p in list.Split(Path.PathSeparator))
                    if (p.Length > 0) map[Path.GetFileNameWithoutExtension(p)] = p;
            return map;
        }

        public override string ToString() => $"GridAutomation ({_directory})";
    }
#endif

    /// <summary>Finds a native library for the running platform under Dependencies/runtimes/&lt;rid&gt;/native/.</summary>
    public static class NativeResolver
    {
        /// <summary>The runtime identifiers to try, most specific first (e.g. linux-musl-x64, linux-x64).</summary>
        public static IEnumerable<string> CandidateRids()
        {
            string arch = RuntimeInformation.ProcessArchitecture switch
            {
                Architecture.X64 => "x64",
                Architecture.X86 => "x86",
                Architecture.Arm64 => "arm64",
                Architecture.Arm => "arm",
                var other => other.ToString().ToLowerInvariant(),
            };
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var result = new List<string>();
            void Add(string rid) { if (seen.Add(rid)) result.Add(rid); }
#if NET8_0_OR_GREATER
            Add(RuntimeInformation.RuntimeIdentifier);
#endif
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows)) Add("win-" + arch);
            else if (RuntimeInformation.IsOSPlatform(OSPlatform.OSX)) Add("osx-" + arch);
            else
            {
                if (IsMusl()) Add("linux-musl-" + arch);
                Add("linux-" + arch);
            }
            return result;
        }

        /// <summary>The full path of <paramref name="name"/> (e.g. "e_sqlite3") for this platform, or null.</summary>
        public static string? Find(string dependencyDirectory, string name)
        {
            foreach (var file in FileNames(name))
            {
                foreach (var rid in CandidateRids())
                {
                    var p = Path.Combine(dependencyDirectory, "runtimes", rid, "native", file);
                    if (File.Exists(p)) return p;
                }
                var flat = Path.Combine(dependencyDirectory, file);
                if (File.Exists(flat)) return flat;
            }
            return null;
        }

        private static IEnumerable<string> FileNames(string name)
        {
            if (Path.HasExtension(name) && (name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)
                || name.EndsWith(".so", StringComparison.Ordinal) || name.Contains(".so.") || name.EndsWith(".dylib", StringComparison.Ordinal)))
            {
                yield return name;
                yield break;
            }
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows)) { yield return name + ".dll"; yield break; }
            string ext = RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? ".dylib" : ".so";
            if (!name.StartsWith("lib", StringComparison.Ordinal)) yield return "lib" + name + ext;
            yield return name + ext;
        }

        private static bool IsMusl()
        {
            try
            {
                foreach (var dir in new[] { "/lib", "/usr/lib" })
                    if (Directory.Exists(dir) && Directory.GetFiles(dir, "ld-musl-*.so.1").Length > 0) return true;
            }
            catch (Exception) { }
            return false;
        }
    }
}
