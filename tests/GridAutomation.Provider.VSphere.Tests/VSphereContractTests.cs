using System;
using GridAutomation.ContractTests;

namespace GridAutomation.Provider.VSphere.Tests
{
    /// <summary>
    /// The shared provider contract against a fresh simulator per test (1 cluster of 2 hosts + 1 standalone host,
    /// 2 VMs per resource pool, 1 template). Creates clone "template-0" and resize it to 1 vCPU / 1 GB.
    /// The simulator must be built (setup.sh): without it these fail with that reason.
    /// </summary>
    public sealed class VSphereContractTests : ProviderContractTests
    {
        protected override ContractTarget CreateTarget()
        {
            var sim = VcSim.Start("-cluster", "1", "-host", "2", "-standalone-host", "1", "-vm", "2", "-templates", "1");
            try
            {
                var conn = sim.ConnectAsync("vs-contract").GetAwaiter().GetResult();
                return new ContractTarget(conn) { Image = "template-0", Size = "1x1", Cleanup = sim.Dispose };
            }
            catch
            {
                sim.Dispose();
                throw;
            }
        }
    }
}
