using System;
using GridAutomation.ContractTests;
using GridAutomation.Provider.Xen.Tests.Server;
using Xunit;

namespace GridAutomation.Provider.Xen.Tests
{
#if XAPI_FIXTURES
    /// <summary>The provider contract against the fake XAPI over a real two-host Tampa pool (8 GiB per host, 61 templates).</summary>
    public class XenContractTests : ProviderContractTests
    {
        public const string Pool = "tampa-poolof16and23-xapi-db.xml";
        public const string Template = "Debian Squeeze 6.0 (64-bit)";

        protected override ContractTarget CreateTarget()
        {
            if (!System.IO.Directory.Exists(System.IO.Path.Combine(Fixtures.Dir, "xapi")))
                throw new InvalidOperationException("XAPI fixtures not found: " + System.IO.Path.Combine(Fixtures.Dir, "xapi") + " (../shared/fixtures/xapi beside the repository).");
            var server = FakeXapi.FromFixture(Pool);
            var c = TestConnect.ConnectAsync(server).GetAwaiter().GetResult();
            return new ContractTarget(c) { Image = Template, Size = "small", Cleanup = server.Dispose };
        }
    }
#else
    /// <summary>Stands in for the contract suite when the XAPI fixtures were absent at build time.</summary>
    public class XenContractTests
    {
        public const string Pool = "tampa-poolof16and23-xapi-db.xml";
        public const string Template = "Debian Squeeze 6.0 (64-bit)";

        [XapiFact]
        public void Contract_NeedsTheRecordedPools()
            => Assert.Fail("The contract suite was not compiled: ../shared/fixtures/xapi was absent when this project was built. Rebuild with the fixtures beside the repository.");
    }
#endif
}
