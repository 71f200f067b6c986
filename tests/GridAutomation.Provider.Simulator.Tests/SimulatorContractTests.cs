using System.Collections.Generic;
using GridAutomation.ContractTests;

namespace GridAutomation.Provider.Simulator.Tests
{
    /// <summary>The shared provider contract, run against a fresh simulated datacenter in a temp state store.</summary>
    public class SimulatorContractTests : ProviderContractTests
    {
        protected override ContractTarget CreateTarget()
        {
            var env = new SimEnv();
            var conn = SimEnv.ConnectAsync(env.Store, "contract-dc", new Dictionary<string, string> { ["Hosts"] = "3", ["LatencyMs"] = "5" }).GetAwaiter().GetResult();
            return new ContractTarget(conn) { Image = "ubuntu-22.04", Size = "sim.small", Cleanup = env.Dispose };
        }
    }
}
