using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Providers
{
    /// <summary>
    /// Finds providers: every public non-abstract IGridProvider with a parameterless constructor in the
    /// assemblies named GridAutomation.Provider.*.dll beside the core assembly, plus any registered explicitly.
    /// On .NET (Core) provider assemblies load into the core's own AssemblyLoadContext, so they share the
    /// module's private dependencies.
    /// </summary>
    public static class ProviderRegistry
    {
        private static readonly object Gate = new object();
        private static Dictionary<string, IGridProvider>? _providers;
        private static readonly List<string> _loadErrors = new List<string>();

        /// <summary>Problems met while loading provider assemblies (shown by Get-GridProvider-like diagnostics and verbose output).</summary>
        public static IReadOnlyList<string> LoadErrors { get { lock (Gate) { EnsureLoaded(); return _loadErrors.ToArray(); } } }

        public static IReadOnlyList<IGridProvider> All
        {
            get { lock (Gate) { EnsureLoaded(); return _providers!.Values.OrderBy(p => p.Name, StringComparer.OrdinalIgnoreCase).ToArray(); } }
        }

        public static void Register(IGridProvider provider)
        {
            lock (Gate) { EnsureLoaded(); _providers![provider.Name] = provider; }
        }

        public static bool TryGet(string name, out IGridProvider provider)
        {
            lock (Gate) { EnsureLoaded(); return _providers!.TryGetValue(name, out provider!); }
        }

        /// <summary>The provider of that name, or GridException InvalidRequest "ProviderNotFound".</summary>
        public static IGridProvider Get(string name)
        {
            if (TryGet(name, out var p)) return p;
            throw GridException.InvalidRequest(
                $"No provider named '{name}'. Available providers: {string.Join(", ", All.Select(x => x.Name))}.",
                "ProviderNotFound", name);
        }

        private static void EnsureLoaded()
        {
            if (_providers != null) return;
            _providers = new Dictionary<string, IGridProvider>(StringComparer.OrdinalIgnoreCase);
            var self = typeof(ProviderRegistry).Assembly;
            string? dir = Path.GetDirectoryName(self.Location);
            var assemblies = new List<Assembly> { self };
            if (!string.IsNullOrEmpty(dir) && Directory.Exists(dir))
            {
                foreach (var file in Directory.GetFiles(dir, "GridAutomation.Provider.*.dll").OrderBy(f => f, StringComparer.Ordinal))
                {
                    try { assemblies.Add(LoadAssembly(file)); }
                    catch (Exception ex) { _loadErrors.Add($"{Path.GetFileName(file)}: {ex.Message}"); }
                }
            }
            foreach (var asm in assemblies)
            {
                Type[] types;
                try { types = asm.GetTypes(); }
                catch (ReflectionTypeLoadException ex) { types = ex.Types.Where(t => t != null).ToArray()!; _loadErrors.Add($"{asm.GetName().Name}: {ex.LoaderExceptions.FirstOrDefault()?.Message}"); }
                foreach (var t in types)
                {
                    if (!t.IsPublic || t.IsAbstract || !typeof(IGridProvider).IsAssignableFrom(t) || t.GetConstructor(Type.EmptyTypes) == null) continue;
                    try
                    {
                        var p = (IGridProvider)Activator.CreateInstance(t)!;
                        _providers[p.Name] = p;
                    }
                    catch (Exception ex) { _loadErrors.Add($"{t.FullName}: {ex.GetBaseException().Message}"); }
                }
            }
        }

        private static Assembly LoadAssembly(string path)
        {
            var name = AssemblyName.GetAssemblyName(path);
            var already = AppDomain.CurrentDomain.GetAssemblies().FirstOrDefault(a => AssemblyName.ReferenceMatchesDefinition(a.GetName(), name)
                && string.Equals(a.GetName().Name, name.Name, StringComparison.OrdinalIgnoreCase));
            if (already != null) return already;
#if NETSTANDARD2_0
            return Assembly.LoadFrom(path);
#else
            var alc = System.Runtime.Loader.AssemblyLoadContext.GetLoadContext(typeof(ProviderRegistry).Assembly)
                      ?? System.Runtime.Loader.AssemblyLoadContext.Default;
            return alc.LoadFromAssemblyPath(path);
#endif
        }
    }
}
