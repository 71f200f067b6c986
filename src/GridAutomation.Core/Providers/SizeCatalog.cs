using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Providers
{
    /// <summary>
    /// A fixed list of CPU/memory shapes, for providers that have no native sizes. No prices: none are invented.
    /// </summary>
    public sealed class ShapeCatalog
    {
        private readonly Action<GridSize>? _decorate;

        public ShapeCatalog(IReadOnlyList<(string Name, int Cpu, long MemoryMB)> shapes, string defaultName, Action<GridSize>? decorate = null)
        {
            Shapes = shapes; Default = defaultName; _decorate = decorate;
        }

        public IReadOnlyList<(string Name, int Cpu, long MemoryMB)> Shapes { get; }
        public string Default { get; }

        public (string Name, int Cpu, long MemoryMB)? Find(string name)
        {
            foreach (var s in Shapes) if (string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase)) return s;
            return null;
        }

        public string? Match(int? cpu, long? memoryMB)
        {
            foreach (var s in Shapes) if (s.Cpu == cpu && s.MemoryMB == memoryMB) return s.Name;
            return null;
        }

        public IReadOnlyList<GridSize> ToSizes(string datacenter) => Shapes.Select(s =>
        {
            var size = new GridSize { Datacenter = datacenter, Name = s.Name, CpuCount = s.Cpu, MemoryMB = s.MemoryMB };
            _decorate?.Invoke(size);
            return size;
        }).ToList();
    }

    /// <summary>
    /// The shapes of the on-premises providers that have no native sizes (libvirt, Xen): the same names mean the same
    /// shapes on both.
    /// </summary>
    public static class SizeCatalog
    {
        public static readonly ShapeCatalog OnPremises = new ShapeCatalog(new[]
        {
            ("micro", 1, 128L),
            ("small", 1, 1024L),
            ("medium", 2, 4096L),
            ("large", 4, 8192L),
            ("xlarge", 8, 16384L),
        }, "small");

        public static IReadOnlyList<(string Name, int Cpu, long MemoryMB)> Shapes => OnPremises.Shapes;
        public static string Default => OnPremises.Default;
        public static (string Name, int Cpu, long MemoryMB)? Find(string name) => OnPremises.Find(name);
        public static string? Match(int? cpu, long? memoryMB) => OnPremises.Match(cpu, memoryMB);
        public static IReadOnlyList<GridSize> ToSizes(string datacenter) => OnPremises.ToSizes(datacenter);
    }
}
