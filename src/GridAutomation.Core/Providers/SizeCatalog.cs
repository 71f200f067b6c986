using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Providers
{
    /// <summary>
    /// The fixed CPU/memory shapes offered by the on-premises providers that have no native sizes (libvirt, Xen):
    /// the same names mean the same shapes on both. No prices: none are invented.
    /// </summary>
    public static class SizeCatalog
    {
        public static readonly IReadOnlyList<(string Name, int Cpu, long MemoryMB)> Shapes = new[]
        {
            ("micro", 1, 128L),
            ("small", 1, 1024L),
            ("medium", 2, 4096L),
            ("large", 4, 8192L),
            ("xlarge", 8, 16384L),
        };

        public const string Default = "small";

        public static (string Name, int Cpu, long MemoryMB)? Find(string name)
        {
            foreach (var s in Shapes) if (string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase)) return s;
            return null;
        }

        public static string? Match(int? cpu, long? memoryMB)
        {
            foreach (var s in Shapes) if (s.Cpu == cpu && s.MemoryMB == memoryMB) return s.Name;
            return null;
        }

        public static IReadOnlyList<GridSize> ToSizes(string datacenter) => Shapes.Select(s => new GridSize
        {
            Datacenter = datacenter, Name = s.Name, CpuCount = s.Cpu, MemoryMB = s.MemoryMB,
        }).ToList();
    }
}
