using GridAutomation.Core.Model;
using Xunit;

namespace GridAutomation.Core.Tests
{
    public class WorkloadIdTests
    {
        [Theory]
        [InlineData("dc1", "i-0123456789abcdef0")]
        [InlineData("azure-weu", "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1")]
        [InlineData("kvm", "qemu+ssh://host/system/abc")]
        [InlineData("dc", "100%/done%2F")]
        [InlineData("dc", "%25%")]
        [InlineData("dc", "%")]
        [InlineData("dc", "a%2")]
        public void Format_ThenParse_RoundTrips(string dc, string nativeId)
        {
            string id = WorkloadId.Format(dc, nativeId);
            Assert.Equal(dc.Length, id.IndexOf('/'));
            Assert.True(WorkloadId.TryParse(id, out var d, out var n));
            Assert.Equal(dc, d);
            Assert.Equal(nativeId, n);
            Assert.Equal(nativeId, WorkloadId.Unescape(WorkloadId.Escape(nativeId)));
        }

        [Fact]
        public void Escape_EncodesSlashAndPercent()
        {
            Assert.Equal("a%2Fb%25c", WorkloadId.Escape("a/b%c"));
            Assert.Equal("plain", WorkloadId.Escape("plain"));
        }

        [Theory]
        [InlineData("")]
        [InlineData("noslash")]
        [InlineData("/leading")]
        [InlineData("trailing/")]
        public void TryParse_RejectsMalformed(string id) => Assert.False(WorkloadId.TryParse(id, out _, out _));
    }
}
