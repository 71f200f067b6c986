using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Aws;
using Xunit;

namespace GridAutomation.Provider.Aws.Tests
{
    /// <summary>EC2's own tag rule (aws: prefix) is refused with the core's id InvalidTag, EC2's rule in the message.</summary>
    public sealed class AwsNameRulesTests
    {
        [Fact]
        public void ReservedPrefix_IsInvalidTag_BeforeAnyCall()
        {
            var r = new CreateWorkloadRequest { Name = "web-01" };
            r.Tags["aws:foo"] = "1";
            var ex = Assert.Throws<GridException>(() => AwsNameRules.ValidateCreate(r));
            Assert.Equal("InvalidTag", ex.ErrorId);
            Assert.Contains("EC2", ex.Message);
            var ok = new CreateWorkloadRequest { Name = "web-01" };
            ok.Tags["env"] = "prod";
            AwsNameRules.ValidateCreate(ok);
            Assert.Equal("InvalidName", Assert.Throws<GridException>(() => AwsNameRules.ValidateCreate(new CreateWorkloadRequest { Name = "web\n01" })).ErrorId);
        }
    }
}
