using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;

namespace GridAutomation.Internal
{
    /// <summary>Turns the -Name list or -Count/-NamePrefix of one pipeline input into workload specs (placement cmdlets).</summary>
    internal static class PlacementSpecs
    {
        public static List<WorkloadSpec> Build(string[]? names, int? count, string? prefix, int? cpu, double? memoryGB, string? size, string? image,
            Dictionary<string, string?> tags, string? owner, bool powerOn)
        {
            if (size != null && (cpu.HasValue || memoryGB.HasValue))
                throw GridException.InvalidRequest("Give either -Size or -Cpu/-MemoryGB, not both.", "SizeConflict", size);
            var list = new List<string>();
            if (names != null && names.Length > 0)
            {
                if (count.HasValue || prefix != null) throw GridException.InvalidRequest("Give -Name, or -Count with -NamePrefix, not both.", "NameConflict");
                list.AddRange(names);
            }
            else if (count.HasValue)
            {
                if (string.IsNullOrEmpty(prefix)) throw GridException.InvalidRequest("-Count needs -NamePrefix (names are <prefix>-001, <prefix>-002, ...).", "NamePrefixRequired");
                int width = Math.Max(3, count.Value.ToString(CultureInfo.InvariantCulture).Length);
                for (int i = 1; i <= count.Value; i++) list.Add(prefix + "-" + i.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0'));
            }
            else throw GridException.InvalidRequest("Name the workloads: -Name (a list), or -Count with -NamePrefix.", "NothingToPlace");
            var specs = new List<WorkloadSpec>();
            foreach (var n in list)
            {
                var s = new WorkloadSpec
                {
                    Name = n, Cpu = cpu, MemoryMB = memoryGB.HasValue ? (long)Math.Round(memoryGB.Value * 1024) : (long?)null,
                    Size = size, Image = image, Owner = owner, PowerOn = powerOn,
                };
                foreach (var kv in tags) s.Tags[kv.Key] = kv.Value!;
                specs.Add(s);
            }
            return specs;
        }
    }
}
