using System;
using System.Collections.Generic;
using System.Text;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Engine
{
    /// <summary>
    /// PowerShell-style wildcard matching (* ? [abc] [a-z], backtick escapes), case-insensitive, without
    /// PowerShell types so the core stays host-free.
    /// <para>
    /// Matching is linear in the text for every pattern: every token but '*' consumes exactly one character, so a
    /// two-pointer scan that remembers only the LAST star (and where in the text it started) is exact and never
    /// revisits more than O(text × pattern) positions - no exponential backtracking whatever the pattern.
    /// </para>
    /// <para>
    /// An invalid pattern (an unclosed or empty '[' set, a reversed range) throws InvalidRequest
    /// "InvalidWildcardPattern", as PowerShell's WildcardPattern does; a trailing backtick stands for itself.
    /// </para>
    /// </summary>
    public sealed class Wildcard
    {
        private enum Kind : byte { Literal, Any, Set, Star }

        private readonly struct Token
        {
            public Token(Kind kind, char c, int setIndex) { K = kind; C = c; Set = setIndex; }
            public readonly Kind K;
            public readonly char C;       // upper-cased literal
            public readonly int Set;      // index into _sets
        }

        private readonly Token[] _tokens;
        private readonly List<char[]> _sets = new List<char[]>(); // pairs lo,hi (upper-cased), flattened
        private readonly string? _literal;                        // the unescaped text when the pattern has no wildcard

        public string Pattern { get; }
        /// <summary>True when the pattern has an unescaped * ? or [.</summary>
        public bool IsWildcard => _literal == null;
        /// <summary>The pattern with its escapes removed (only meaningful when <see cref="IsWildcard"/> is false).</summary>
        public string Literal => _literal ?? Pattern;

        private Wildcard(string pattern)
        {
            Pattern = pattern;
            var tokens = new List<Token>(pattern.Length);
            bool wild = false;
            for (int i = 0; i < pattern.Length; i++)
            {
                char c = pattern[i];
                switch (c)
                {
                    case '*':
                        wild = true;
                        if (tokens.Count == 0 || tokens[tokens.Count - 1].K != Kind.Star) tokens.Add(new Token(Kind.Star, '\0', -1));
                        break;
                    case '?':
                        wild = true;
                        tokens.Add(new Token(Kind.Any, '\0', -1));
                        break;
                    case '[':
                        wild = true;
                        i = ParseSet(pattern, i, out var set);
                        _sets.Add(set);
                        tokens.Add(new Token(Kind.Set, '\0', _sets.Count - 1));
                        break;
                    case '`':
                        if (i + 1 < pattern.Length) c = pattern[++i];
                        tokens.Add(new Token(Kind.Literal, Up(c), -1));
                        break;
                    default:
                        tokens.Add(new Token(Kind.Literal, Up(c), -1));
                        break;
                }
            }
            _tokens = tokens.ToArray();
            if (!wild) _literal = Unescape(pattern);
        }

        /// <summary>Parses "[...]" starting at <paramref name="open"/>; returns the index of the closing ']'.</summary>
        private static int ParseSet(string p, int open, out char[] set)
        {
            var ranges = new List<char>();
            int i = open + 1;
            while (i < p.Length && p[i] != ']')
            {
                char lo = p[i];
                if (lo == '`' && i + 1 < p.Length) lo = p[++i];
                if (i + 2 < p.Length && p[i + 1] == '-' && p[i + 2] != ']')
                {
                    int j = i + 2;
                    char hi = p[j];
                    if (hi == '`' && j + 1 < p.Length) hi = p[++j];
                    if (Up(hi) < Up(lo))
                        throw Invalid(p, $"the range '{lo}-{hi}' is reversed");
                    ranges.Add(Up(lo)); ranges.Add(Up(hi));
                    i = j + 1;
                    continue;
                }
                ranges.Add(Up(lo)); ranges.Add(Up(lo));
                i++;
            }
            if (i >= p.Length) throw Invalid(p, "a '[' is not closed by ']' (escape a literal bracket as `[)");
            if (ranges.Count == 0) throw Invalid(p, "'[]' names no character");
            set = ranges.ToArray();
            return i;
        }

        private static GridException Invalid(string pattern, string why)
            => GridException.InvalidRequest($"The wildcard pattern '{pattern}' is not valid: {why}.", "InvalidWildcardPattern", pattern);

        private static char Up(char c) => char.ToUpperInvariant(c);

        /// <summary>Parses <paramref name="pattern"/>; InvalidRequest "InvalidWildcardPattern" when it is not valid.</summary>
        public static Wildcard Compile(string pattern) => new Wildcard(pattern ?? "");

        /// <summary>Throws InvalidRequest "InvalidWildcardPattern" for any invalid pattern among <paramref name="patterns"/>.</summary>
        public static void Validate(IEnumerable<string>? patterns)
        {
            if (patterns == null) return;
            foreach (var p in patterns) if (p != null) Compile(p);
        }

        /// <summary>True when the text has an unescaped * ? or [ (a backtick escapes the next character).</summary>
        public static bool HasWildcards(string pattern)
        {
            if (pattern == null) return false;
            for (int i = 0; i < pattern.Length; i++)
            {
                char c = pattern[i];
                if (c == '`') { i++; continue; }
                if (c == '*' || c == '?' || c == '[') return true;
            }
            return false;
        }

        /// <summary>Removes backtick escapes ("web`*" → "web*"); a trailing backtick stays.</summary>
        public static string Unescape(string pattern)
        {
            if (pattern == null || pattern.IndexOf('`') < 0) return pattern ?? "";
            var sb = new StringBuilder(pattern.Length);
            for (int i = 0; i < pattern.Length; i++)
            {
                char c = pattern[i];
                if (c == '`' && i + 1 < pattern.Length) c = pattern[++i];
                sb.Append(c);
            }
            return sb.ToString();
        }

        public static bool IsMatch(string? text, string pattern) => Compile(pattern).IsMatch(text);

        public static bool MatchesAny(string? text, IReadOnlyList<string>? patterns)
        {
            if (patterns == null || patterns.Count == 0) return true;
            for (int i = 0; i < patterns.Count; i++) if (IsMatch(text, patterns[i])) return true;
            return false;
        }

        /// <summary>Compiles every pattern once (null or empty: null, meaning "everything").</summary>
        public static Wildcard[]? CompileAll(IReadOnlyList<string>? patterns)
        {
            if (patterns == null || patterns.Count == 0) return null;
            var a = new Wildcard[patterns.Count];
            for (int i = 0; i < a.Length; i++) a[i] = Compile(patterns[i]);
            return a;
        }

        public static bool MatchesAny(string? text, Wildcard[]? patterns)
        {
            if (patterns == null) return true;
            foreach (var p in patterns) if (p.IsMatch(text)) return true;
            return false;
        }

        public bool IsMatch(string? text)
        {
            text ??= "";
            if (_literal != null) return string.Equals(text, _literal, StringComparison.OrdinalIgnoreCase);
            var t = _tokens;
            int ti = 0, pi = 0, starPi = -1, starTi = 0;
            while (ti < text.Length)
            {
                if (pi < t.Length && t[pi].K != Kind.Star && One(t[pi], text[ti])) { ti++; pi++; continue; }
                if (pi < t.Length && t[pi].K == Kind.Star) { starPi = pi++; starTi = ti; continue; }
                if (starPi < 0) return false;
                // The last star absorbs one more character; earlier stars never need to change (any text they
                // could absorb instead, this star can absorb too), so this is exact.
                pi = starPi + 1;
                ti = ++starTi;
            }
            while (pi < t.Length && t[pi].K == Kind.Star) pi++;
            return pi == t.Length;
        }

        private bool One(in Token tok, char ch)
        {
            switch (tok.K)
            {
                case Kind.Any: return true;
                case Kind.Literal: return tok.C == ch || tok.C == Up(ch);
                case Kind.Set:
                    var s = _sets[tok.Set];
                    char u = Up(ch);
                    for (int i = 0; i < s.Length; i += 2) if (u >= s[i] && u <= s[i + 1]) return true;
                    return false;
                default: return false;
            }
        }
    }
}
