using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.Simulator
{
    /// <summary>The simulator's fixed offer: sizes with prices per hour, images, and its native state vocabulary.</summary>
    public static class SimulatorCatalog
    {
        public sealed class SizeSpec
        {
            public SizeSpec(string name, int cpu, long memoryMB, decimal price) { Name = name; Cpu = cpu; MemoryMB = memoryMB; PricePerHour = price; }
            public string Name { get; }
            public int Cpu { get; }
            public long MemoryMB { get; }
            public decimal PricePerHour { get; }
        }

        public sealed class ImageSpec
        {
            public ImageSpec(string name, string osType, double sizeGB, string description) { Name = name; OsType = osType; SizeGB = sizeGB; Description = description; }
            public string Name { get; }
            public string OsType { get; }
            public double SizeGB { get; }
            public string Description { get; }
        }

        public const string Currency = "USD";
        public const string DefaultSize = "sim.small";
        public const double BlankDiskGB = 16;

        public static readonly IReadOnlyList<SizeSpec> Sizes = new[]
        {
            new SizeSpec("sim.small", 1, 2048, 0.02m),
            new SizeSpec("sim.medium", 2, 4096, 0.04m),
            new SizeSpec("sim.large", 4, 16384, 0.16m),
            new SizeSpec("sim.xlarge", 8, 32768, 0.32m),
        };

        public static readonly IReadOnlyList<ImageSpec> Images = new[]
        {
            new ImageSpec("ubuntu-22.04", "Linux", 10, "Ubuntu Server 22.04 LTS"),
            new ImageSpec("debian-12", "Linux", 8, "Debian 12 (bookworm)"),
            new ImageSpec("windows-2022", "Windows", 40, "Windows Server 2022 Datacenter"),
        };

        public static SizeSpec? FindSize(string? name) => name == null ? null : Sizes.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
        public static ImageSpec? FindImage(string? name) => name == null ? null : Images.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));

        // ---- native states ---------------------------------------------------------------------------------------
        public const string Provisioning = "provisioning";
        public const string Starting = "starting";
        public const string PoweredOn = "poweredOn";
        public const string Stopping = "stopping";
        public const string PoweredOff = "poweredOff";
        public const string Suspending = "suspending";
        public const string Suspended = "suspended";
        public const string Resuming = "resuming";
        public const string Restarting = "restarting";
        public const string Deleting = "deleting";
        /// <summary>Suspend-GridWorkload -Pause: vCPUs stopped, memory (and host capacity) still held.</summary>
        public const string Paused = "paused";

        /// <summary>Native state → normalized state. See docs/states-simulator.md.</summary>
        public static WorkloadState Normalize(string native)
        {
            switch (native)
            {
                case Provisioning: return WorkloadState.Provisioning;
                case Starting: return WorkloadState.Starting;
                case Resuming: return WorkloadState.Starting;
                case Restarting: return WorkloadState.Starting;
                case PoweredOn: return WorkloadState.Running;
                case Stopping: return WorkloadState.Stopping;
                case PoweredOff: return WorkloadState.Stopped;
                case Suspending: return WorkloadState.Suspending;
                case Suspended: return WorkloadState.Suspended;
                case Deleting: return WorkloadState.Deleting;
                case Paused: return WorkloadState.Paused;
                default: return WorkloadState.Unknown;
            }
        }

        /// <summary>States in which the workload holds CPU and memory on its host (and is billed).</summary>
        public static bool Consumes(string native)
            => native == Starting || native == PoweredOn || native == Stopping || native == Suspending || native == Resuming || native == Restarting || native == Paused;

        /// <summary>Native states that normalize to one of <paramref name="states"/>.</summary>
        public static IReadOnlyList<string> NativeStatesFor(IEnumerable<WorkloadState> states)
        {
            var all = new[] { Provisioning, Starting, PoweredOn, Stopping, PoweredOff, Suspending, Suspended, Resuming, Restarting, Deleting, Paused };
            var wanted = new HashSet<WorkloadState>(states);
            return all.Where(s => wanted.Contains(Normalize(s))).ToArray();
        }

        // ---- deterministic ids -----------------------------------------------------------------------------------

        /// <summary>
        /// A UUID derived from the datacenter's name (case-folded), its seed and a counter (name-based, version 5
        /// layout): reproducible, and different in every datacenter even when they share a seed.
        /// </summary>
        public static string NativeIdFor(string datacenter, int seed, long counter)
        {
            using var sha = SHA1.Create();
            return NativeIdFor(sha, datacenter, seed, counter);
        }

        internal static string NativeIdFor(HashAlgorithm sha, string datacenter, int seed, long counter)
        {
            byte[] hash = sha.ComputeHash(Encoding.UTF8.GetBytes("GridAutomation.Simulator/" + (datacenter ?? "").ToUpperInvariant() + "/" + seed.ToString(System.Globalization.CultureInfo.InvariantCulture) + "/" + counter.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            var b = new byte[16];
            Array.Copy(hash, b, 16);
            b[6] = (byte)((b[6] & 0x0F) | 0x50); // version 5
            b[8] = (byte)((b[8] & 0x3F) | 0x80); // RFC 4122 variant
            var sb = new StringBuilder(36);
            for (int i = 0; i < 16; i++)
            {
                if (i == 4 || i == 6 || i == 8 || i == 10) sb.Append('-');
                sb.Append(b[i].ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            }
            return sb.ToString();
        }
    }

    /// <summary>What the seeded fault schedule says about one call.</summary>
    public enum SimulatedFault { None = 0, Unavailable, Throttled, Timeout }

    /// <summary>
    /// The seeded fault schedule: call number n of a connection faults when a hash of (FaultSeed, n) falls under
    /// FaultRate; the same seed always gives the same sequence. Faults are raised BEFORE a call acts, so a faulted
    /// change changed nothing and a retry is safe.
    /// </summary>
    public static class SimulatorFaults
    {
        public static SimulatedFault Decide(int faultSeed, double faultRate, long callIndex)
        {
            if (faultRate <= 0) return SimulatedFault.None;
            ulong h = Mix((ulong)(uint)faultSeed * 0x9E3779B97F4A7C15UL ^ (ulong)callIndex);
            double u = (h >> 11) * (1.0 / (1UL << 53));
            if (u >= faultRate) return SimulatedFault.None;
            ulong k = Mix(h ^ 0xD1B54A32D192ED03UL) % 10;
            return k < 4 ? SimulatedFault.Unavailable : k < 8 ? SimulatedFault.Throttled : SimulatedFault.Timeout;
        }

        private static ulong Mix(ulong z)
        {
            // splitmix64 finalizer
            z += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
