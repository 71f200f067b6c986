using GridAutomation.ContractTests;
using GridAutomation.Providers.Aws.Tests.Infrastructure;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>The shared provider contract, run by the real AWSSDK.EC2 over HTTP against our stateful loopback EC2 endpoint.</summary>
    public sealed class AwsContractTests : ProviderContractTests
    {
        protected override ContractTarget CreateTarget()
        {
            var fake = new FakeEc2();
            try
            {
                var connection = TestEnvironment.ConnectAsync(fake.Url).GetAwaiter().GetResult();
                var target = new ContractTarget(connection)
                {
                    Image = FakeEc2.ImageId,
                    Size = "t3.micro",
                    Cleanup = fake.Dispose,
                };
                target.CreateOptions["Hibernate"] = "true"; // Suspend is EC2 hibernation: it must be configured at launch
                return target;
            }
            catch
            {
                fake.Dispose();
                throw;
            }
        }
    }
}
