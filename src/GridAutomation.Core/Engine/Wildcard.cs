using System;
using System.Collections.Generic;

namespace GridAutomation.Core.Engine
{
    /// <summary>
    /// PowerShell-style wildcard matching (* ? [abc] [a-z], backtick escapes), case-insensitive, without
    /// PowerShell types so the core stays host-free.
    /// </summary>
    public static class Wildcard
    {
        public static bool HasWildcards(string pattern)
        {
            foreach (var c in pattern) if (c == '*' || c == '?' || c == '[') return true;
            return false;
        }

        public static bool IsMatch(string? text, string pattern)
        {
            text ??= "";
            if (!HasWildcards(pattern) && pattern.IndexOf('`') < 0) return string.Equals(text, pattern, StringComparison.OrdinalIgnoreCase);
            return Match(text, 0, pattern, 0);
        }

        public static bool MatchesAny(string? text, IReadOnlyList<string>? patterns)
        {
            if (patterns == null || patterns.Count == 0) return true;
            for (int i = 0; i < patterns.Count; i++) if (IsMatch(text, patterns[i])) return true;
            return false;
        }

        private static bool Match(string t, int ti, string p, int pi)
        {
            while (pi < p.Length)
            {
                char c = p[pi];
                if (c == '*')
                {
                    while (pi < p.Length && p[pi] == '*') pi++;
                    if (pi == p.Length) return true;
                    for (int k = ti; k <= t.Length; k++) if (Match(t, k, p, pi)) return true;
                    return false;
                }
                if (ti >= t.Length) return false;
                if (c == '?') { ti++; pi++; continue; }
                if (c == '[')
                {
                    int close = p.IndexOf(']', pi + 1);
                    if (close < 0) { if (!Eq(t[ti], '[')) return false; ti++; pi++; continue; }
                    if (!InSet(t[ti], p, pi + 1, close)) return false;
                    ti++; pi = close + 1; continue;
                }
                if (c == '`' && pi + 1 < p.Length) { pi++; c = p[pi]; }
                if (!Eq(t[ti], c)) return false;
                ti++; pi++;
            }
            return ti == t.Length;
        }

        private static bool InSet(char ch, string p, int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                if (i + 2 < end && p[i + 1] == '-')
                {
                    char lo = char.ToUpperInvariant(p[i]), hi = char.ToUpperInvariant(p[i + 2]), u = char.ToUpperInvariant(ch);
                    if (u >= lo && u <= hi) return true;
                    i += 2; continue;
                }
                if (Eq(ch, p[i])) return true;
            }
            return false;
        }

        private static bool Eq(char a, char b) => a == b || char.ToUpperInvariant(a) == char.ToUpperInvariant(b);
    }
}
