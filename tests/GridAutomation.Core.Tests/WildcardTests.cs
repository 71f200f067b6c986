using System.Diagnostics;
using System.Linq;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using Xunit;

namespace GridAutomation.Core.Tests
{
    public class WildcardTests
    {
        [Theory]
        [InlineData("web-01", "web*", true)]
        [InlineData("WEB-01", "web*", true)]
        [InlineData("web-01", "*01", true)]
        [InlineData("web-01", "w?b-0[0-9]", true)]
        [InlineData("web-01", "w?b-0[2-9]", false)]
        [InlineData("web-01", "*", true)]
        [InlineData("", "*", true)]
        [InlineData("", "?", false)]
        [InlineData("abc", "a*b*c", true)]
        [InlineData("abc", "a*b*c*", true)]
        [InlineData("abcc", "*c", true)]
        [InlineData("ab", "a*b*c", false)]
        [InlineData("mississippi", "*iss*ppi", true)]
        [InlineData("mississippi", "m*issi*iss*", false)]
        [InlineData("mississippi", "m*iss*ip*i", true)]
        [InlineData("web*", "web`*", true)]
        [InlineData("web-01", "web`*", false)]
        [InlineData("a[b", "a`[b", true)]
        [InlineData("x]", "x]", true)]
        [InlineData("a-", "a[-x]", true)]
        [InlineData("b", "[abc]", true)]
        [InlineData("B", "[a-c]", true)]
        [InlineData("d", "[a-c]", false)]
        public void Matches_LikePowerShell(string text, string pattern, bool expected)
            => Assert.Equal(expected, Wildcard.IsMatch(text, pattern));

        [Theory]
        [InlineData("vm-00000[")]
        [InlineData("[")]
        [InlineData("a[]b")]
        [InlineData("[z-a]")]
        [InlineData("*[abc")]
        public void InvalidPattern_IsInvalidWildcardPattern(string pattern)
        {
            var ex = Assert.Throws<GridException>(() => Wildcard.Compile(pattern));
            Assert.Equal("InvalidWildcardPattern", ex.ErrorId);
            Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
            Assert.Contains(pattern, ex.Message);
        }

        [Fact]
        public void HasWildcards_AndUnescape_HonourBacktick()
        {
            Assert.True(Wildcard.HasWildcards("web*"));
            Assert.False(Wildcard.HasWildcards("web`*"));
            Assert.False(Wildcard.HasWildcards("a`[b`]"));
            Assert.Equal("web*", Wildcard.Unescape("web`*"));
            Assert.False(Wildcard.Compile("web`*").IsWildcard);
            Assert.Equal("web*", Wildcard.Compile("web`*").Literal);
        }

        /// <summary>The pattern that stalled the old backtracking matcher for minutes, and others like it: milliseconds now.</summary>
        [Theory]
        [InlineData("*a*a*[b]")]
        [InlineData("*a*a*a*a*a*a*a*a*a*a*b")]
        [InlineData("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c")]
        [InlineData("*?*?*?*?*?*?*?*?*?*?*b")]
        [InlineData("*[a]*[a]*[a]*[a]*[a]*[a]*[a]*x")]
        public void AdversarialPattern_On10000Characters_MatchesInUnder100Ms(string pattern)
        {
            string text = new string('a', 10_000);
            var compiled = Wildcard.Compile(pattern);
            compiled.IsMatch("warm-up");
            var sw = Stopwatch.StartNew();
            bool matched = compiled.IsMatch(text);
            sw.Stop();
            Assert.False(matched);
            Assert.True(sw.ElapsedMilliseconds < 100, $"'{pattern}' took {sw.ElapsedMilliseconds} ms on 10,000 characters");
            // and it still finds a match that is there
            Assert.True(compiled.IsMatch(text + "b") || compiled.IsMatch(text + "c") || compiled.IsMatch(text + "x"));
        }

        [Fact]
        public void AgreesWithABruteForceMatcher_OnEveryShortCase()
        {
            string[] texts = { "", "a", "b", "ab", "ba", "aab", "abab", "bbb", "abcab", "aaaa" };
            string[] atoms = { "a", "b", "?", "*", "[ab]", "[b-c]" };
            var patterns = new System.Collections.Generic.List<string> { "" };
            var level = new System.Collections.Generic.List<string> { "" };
            for (int len = 1; len <= 4; len++)
            {
                level = level.SelectMany(p => atoms.Select(a => p + a)).ToList();
                patterns.AddRange(level);
            }
            Assert.True(patterns.Count > 1500);
            foreach (var p in patterns)
                foreach (var t in texts)
                    Assert.True(Brute(t, 0, Tokens(p), 0) == Wildcard.IsMatch(t, p), $"'{t}' vs '{p}'");
        }

        private static string[] Tokens(string p)
        {
            var list = new System.Collections.Generic.List<string>();
            for (int i = 0; i < p.Length; i++)
            {
                if (p[i] == '[') { int j = p.IndexOf(']', i); list.Add(p.Substring(i, j - i + 1)); i = j; }
                else list.Add(p[i].ToString());
            }
            return list.ToArray();
        }

        private static bool Brute(string t, int ti, string[] p, int pi)
        {
            if (pi == p.Length) return ti == t.Length;
            if (p[pi] == "*") { for (int k = ti; k <= t.Length; k++) if (Brute(t, k, p, pi + 1)) return true; return false; }
            if (ti >= t.Length) return false;
            bool one = p[pi] == "?" || (p[pi].StartsWith("[") ? (p[pi] == "[ab]" ? "ab".Contains(t[ti]) : t[ti] >= 'b' && t[ti] <= 'c') : p[pi][0] == t[ti]);
            return one && Brute(t, ti + 1, p, pi + 1);
        }
    }
}
