using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Model;
using Xunit;

namespace GridAutomation.Core.Tests
{
    public class NameRulesTests
    {
        // By index: the test runner would serialize a lone surrogate as U+FFFD (the very alteration the rules refuse).
        private static readonly string[] Bad =
        {
            "", "a\0b", "a\nb", "a\rb", "a\tb", " web", "web ", new string('x', 129), new string('x', 10_000), new string('x', 100_000),
            "web*", "vm-00000?", "[abc]", "a]b", "a`b", "s\uD800t", "s\uDC00t", "x\u007F", "t\uD83D",
        };

        public static IEnumerable<object[]> BadNames() => Enumerable.Range(0, Bad.Length).Select(i => new object[] { i });

        [Theory]
        [MemberData(nameof(BadNames))]
        public void BadWorkloadAndDatacenterNames_AreInvalidName(int index)
        {
            string name = Bad[index];
            Assert.Equal("InvalidName", Assert.Throws<GridException>(() => NameRules.ValidateWorkloadName(name)).ErrorId);
            var ex = Assert.Throws<GridException>(() => NameRules.ValidateDatacenterName(name));
            Assert.Equal("InvalidName", ex.ErrorId);
            Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
            Assert.True(ex.Message.Length < 600, "the message never repeats a huge name");
            Assert.True(ex.Message.IndexOf((char)0) < 0, "no raw NUL in the message");
        }

        [Theory]
        [InlineData("web-01")]
        [InlineData("Web 01")]
        [InlineData("erp_15.prod")]
        [InlineData("caf\u00E9-\uD83D\uDE00")] // a valid surrogate pair
        public void GoodNames_Pass(string name)
        {
            NameRules.ValidateWorkloadName(name);
            NameRules.ValidateDatacenterName(name);
            NameRules.ValidateWorkloadName(new string('x', NameRules.MaxNameLength));
        }

        [Fact]
        public void DatacenterNames_MayNotHoldSlash()
            => Assert.Equal("InvalidName", Assert.Throws<GridException>(() => NameRules.ValidateDatacenterName("a/b")).ErrorId);

        private static string TagError(params (string k, string? v)[] tags)
            => Assert.Throws<GridException>(() => NameRules.ValidateTags(tags.Select(t => new KeyValuePair<string, string?>(t.k, t.v)), "w", allowNullValues: false)).ErrorId;

        [Fact]
        public void BadTags_AreInvalidTag()
        {
            Assert.Equal("InvalidTag", TagError(("", "x")));
            Assert.Equal("InvalidTag", TagError((new string('k', 129), "x")));
            Assert.Equal("InvalidTag", TagError(("k", new string('v', 257))));
            Assert.Equal("InvalidTag", TagError(("a\nb", "x")));
            Assert.Equal("InvalidTag", TagError(("k", "a\0b")));
            Assert.Equal("InvalidTag", TagError(("a/b", "x")));
            Assert.Equal("InvalidTag", TagError(("Env", "a"), ("env", "b")));
            Assert.Equal("InvalidTag", TagError(("k", null)));
            Assert.Equal("InvalidTag", TagError(Enumerable.Range(0, 51).Select(i => ("k" + i, (string?)"v")).ToArray()));
            Assert.Equal("InvalidTag", TagError(Enumerable.Range(0, 1000).Select(i => ("k" + i + new string('k', 120), (string?)new string('v', 256))).ToArray()));
            Assert.Equal("InvalidTag", TagError(Enumerable.Range(0, 40).Select(i => ("k" + i, (string?)new string('v', 250))).ToArray()));
        }

        [Fact]
        public void GoodTags_Pass_AndNullMeansRemoveWhereAllowed()
        {
            NameRules.ValidateTags(Enumerable.Range(0, 50).Select(i => new KeyValuePair<string, string?>("k" + i, "v")), "w", allowNullValues: false);
            NameRules.ValidateTags(new[] { new KeyValuePair<string, string?>("env", null) }, "w", allowNullValues: true);
        }

        [Fact]
        public void MergedTags_MayNotExceedTheCount()
        {
            var current = Enumerable.Range(0, 50).ToDictionary(i => "k" + i, i => (object?)"v");
            var ex = Assert.Throws<GridException>(() => NameRules.ValidateMergedTags(current, new[] { new KeyValuePair<string, string?>("new", "v") }, "w"));
            Assert.Equal("InvalidTag", ex.ErrorId);
            NameRules.ValidateMergedTags(current, new[] { new KeyValuePair<string, string?>("k1", null), new KeyValuePair<string, string?>("new", "v") }, "w");
        }

        [Fact]
        public void Comparer_IsOrdinalIgnoreCase() => Assert.Same(System.StringComparer.OrdinalIgnoreCase, NameRules.Comparer);
    }
}
