using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Azure;
using Xunit;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>Azure's stricter VM name rules: the core's error id (InvalidName), Azure's rule in the message.</summary>
    public sealed class AzureNameRulesTests
    {
        [Theory]
        [InlineData("web_01", "letters, digits, hyphens and periods")]
        [InlineData("web 01", "letters, digits, hyphens and periods")]
        [InlineData("web-", "end with a period or a hyphen")]
        [InlineData("web.", "end with a period or a hyphen")]
        public void StricterThanTheCore_InvalidName_WithAzuresRule(string name, string rule)
        {
            var ex = Assert.Throws<GridException>(() => AzureNameRules.ValidateCreate(new CreateWorkloadRequest { Name = name }));
            Assert.Equal("InvalidName", ex.ErrorId);
            Assert.Contains("Azure", ex.Message);
            Assert.Contains(rule, ex.Message);
        }

        [Fact]
        public void LongerThan64_IsInvalidName_AndTheCoresRulesComeFirst()
        {
            Assert.Contains("64", Assert.Throws<GridException>(() => AzureNameRules.ValidateCreate(new CreateWorkloadRequest { Name = new string('a', 65) })).Message);
            Assert.Equal("InvalidName", Assert.Throws<GridException>(() => AzureNameRules.ValidateCreate(new CreateWorkloadRequest { Name = "web*" })).ErrorId);
            AzureNameRules.ValidateCreate(new CreateWorkloadRequest { Name = "testVM-8506" });
            AzureNameRules.ValidateCreate(new CreateWorkloadRequest { Name = "web.01" });
        }
    }
}
