using System;
using System.Collections.Generic;

namespace GridAutomation.Core.Grid
{
    /// <summary>
    /// The host choice of the Pack policy on hosts of known capacity, as a pure function (the placement service ranks
    /// its candidates with it; bench/ measures it on traces): among the hosts the demand fits, hosts already in use
    /// first, then the one left fullest — the smallest share of CPU or memory remaining after placing (best fit).
    /// </summary>
    public static class Packing
    {
        /// <summary>The share of the host left after placing the demand: the smaller of the CPU and memory shares.</summary>
        public static double Remaining(double freeCpu, double freeMemory, double totalCpu, double totalMemory, double cpu, double memory)
            => Math.Min((freeCpu - cpu) / Math.Max(1e-9, totalCpu), (freeMemory - memory) / Math.Max(1e-9, totalMemory));

        /// <summary>The index of the host Pack chooses, or -1 when the demand fits none. Ties go to the lowest index.</summary>
        public static int ChooseHost(IReadOnlyList<double> freeCpu, IReadOnlyList<double> freeMemory, double totalCpu, double totalMemory,
            IReadOnlyList<bool> used, double cpu, double memory)
        {
            int best = -1;
            bool bestUsed = false;
            double bestLeft = double.MaxValue;
            for (int i = 0; i < freeCpu.Count; i++)
            {
                if (freeCpu[i] < cpu || freeMemory[i] < memory) continue;
                bool u = used[i];
                if (best >= 0 && bestUsed && !u) continue;
                double left = Remaining(freeCpu[i], freeMemory[i], totalCpu, totalMemory, cpu, memory);
                if (best < 0 || (u && !bestUsed) || left < bestLeft)
                {
                    best = i; bestUsed = u; bestLeft = left;
                }
            }
            return best;
        }
    }
}
