using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Grid
{
    /// <summary>
    /// The requirement language of placement (docs/grid.md): comparisons (-eq -ne -lt -le -gt -ge -like -notlike,
    /// or == != &lt; &lt;= &gt; &gt;=), -in / -notin a list, and / or / not (with or without the dash), parentheses.
    /// Operands are properties (Provider, Owner, Site, Datacenter, Cluster, Host, FreeCpu, FreeMemoryGB, Price,
    /// Tag.&lt;key&gt;), quoted strings, bare words and numbers. Parsed once; a syntax error names the position
    /// (InvalidRequest "InvalidRequirement"). Strings compare case-insensitively; a property with no value
    /// (an unknown price) makes every comparison false except -ne / -notin.
    /// </summary>
    public sealed class Requirement
    {
        public static readonly string[] Properties = { "Provider", "Owner", "Site", "Datacenter", "Cluster", "Host", "FreeCpu", "FreeMemoryGB", "Price" };

        private readonly Node _root;
        public string Text { get; }

        /// <summary>The properties the expression reads (canonical names, e.g. "FreeCpu", "Tag.rack").</summary>
        public IReadOnlyCollection<string> PropertiesUsed { get; }

        private Requirement(string text, Node root, IReadOnlyCollection<string> used) { Text = text; _root = root; PropertiesUsed = used; }

        /// <summary>Parses <paramref name="text"/>; InvalidRequest "InvalidRequirement" naming the position of a syntax error.</summary>
        public static Requirement Parse(string text)
        {
            if (text == null || text.Trim().Length == 0) throw Error(text ?? "", 1, "the requirement is empty");
            var p = new Parser(text);
            var root = p.ParseOr();
            if (!p.AtEnd) throw Error(text, p.Peek.Pos, $"unexpected '{p.Peek.Text}' (expected and, or, or the end)");
            return new Requirement(text, root, p.Used);
        }

        /// <summary>True when the candidate described by <paramref name="value"/> (property name → value, null = unknown) meets the requirement.</summary>
        public bool Evaluate(Func<string, object?> value) => _root.Eval(value);

        public override string ToString() => Text;

        internal static GridException Error(string text, int pos, string what)
            => GridException.InvalidRequest($"Requirement syntax error at position {pos}: {what}. In: {text}", "InvalidRequirement", text);

        // ---- tokens ------------------------------------------------------------------------------------------

        private enum T { Word, String, Number, Op, LParen, RParen, Comma, End }

        private sealed class Tok
        {
            public T Kind; public string Text = ""; public int Pos;
        }

        private static readonly string[] DashOps = { "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-like", "-notlike", "-in", "-notin", "-and", "-or", "-not" };

        private static List<Tok> Lex(string s)
        {
            var list = new List<Tok>();
            int i = 0;
            while (i < s.Length)
            {
                char c = s[i];
                if (char.IsWhiteSpace(c)) { i++; continue; }
                int start = i;
                if (c == '(') { list.Add(new Tok { Kind = T.LParen, Text = "(", Pos = i + 1 }); i++; continue; }
                if (c == ')') { list.Add(new Tok { Kind = T.RParen, Text = ")", Pos = i + 1 }); i++; continue; }
                if (c == ',') { list.Add(new Tok { Kind = T.Comma, Text = ",", Pos = i + 1 }); i++; continue; }
                if (c == '\'' || c == '"')
                {
                    var sb = new StringBuilder();
                    i++;
                    while (true)
                    {
                        if (i >= s.Length) throw Error(s, start + 1, "a string is not closed (missing " + c + ")");
                        if (s[i] == c)
                        {
                            if (i + 1 < s.Length && s[i + 1] == c) { sb.Append(c); i += 2; continue; } // '' inside '...'
                            i++; break;
                        }
                        sb.Append(s[i++]);
                    }
                    list.Add(new Tok { Kind = T.String, Text = sb.ToString(), Pos = start + 1 });
                    continue;
                }
                if (c == '=' || c == '!' || c == '<' || c == '>')
                {
                    string two = i + 1 < s.Length ? s.Substring(i, 2) : "";
                    string op = two == "==" || two == "!=" || two == "<=" || two == ">=" ? two : c == '<' || c == '>' || c == '!' ? c.ToString() : "";
                    if (op.Length == 0) throw Error(s, i + 1, "'=' alone is not an operator (use -eq or ==)");
                    i += op.Length;
                    list.Add(new Tok { Kind = T.Op, Text = op == "!" ? "not" : op, Pos = start + 1 });
                    continue;
                }
                if (c == '-' && i + 1 < s.Length && char.IsLetter(s[i + 1]))
                {
                    i++;
                    while (i < s.Length && char.IsLetter(s[i])) i++;
                    string w = s.Substring(start, i - start).ToLowerInvariant();
                    if (Array.IndexOf(DashOps, w) < 0) throw Error(s, start + 1, $"unknown operator '{s.Substring(start, i - start)}' (operators: {string.Join(" ", DashOps)})");
                    list.Add(new Tok { Kind = T.Op, Text = w.Substring(1), Pos = start + 1 });
                    continue;
                }
                if (char.IsDigit(c) || (c == '-' || c == '.') && i + 1 < s.Length && char.IsDigit(s[i + 1]))
                {
                    i++;
                    while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '.')) i++;
                    string n = s.Substring(start, i - start);
                    if (!double.TryParse(n, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) throw Error(s, start + 1, $"'{n}' is not a number");
                    list.Add(new Tok { Kind = T.Number, Text = n, Pos = start + 1 });
                    continue;
                }
                if (char.IsLetter(c) || c == '_')
                {
                    while (i < s.Length && (char.IsLetterOrDigit(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-' && i + 1 < s.Length && char.IsLetterOrDigit(s[i + 1]) && s[i - 1] != ' ')) i++;
                    string w = s.Substring(start, i - start);
                    string lw = w.ToLowerInvariant();
                    if (lw == "and" || lw == "or" || lw == "not") list.Add(new Tok { Kind = T.Op, Text = lw, Pos = start + 1 });
                    else list.Add(new Tok { Kind = T.Word, Text = w, Pos = start + 1 });
                    continue;
                }
                throw Error(s, i + 1, $"unexpected character '{c}'");
            }
            list.Add(new Tok { Kind = T.End, Text = "end of the requirement", Pos = s.Length + 1 });
            return list;
        }

        // ---- parser ------------------------------------------------------------------------------------------

        private sealed class Parser
        {
            private readonly string _s;
            private readonly List<Tok> _t;
            private int _i;
            public readonly HashSet<string> Used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            public Parser(string s) { _s = s; _t = Lex(s); }
            public Tok Peek => _t[_i];
            public bool AtEnd => Peek.Kind == T.End;
            private bool IsOp(string op) => Peek.Kind == T.Op && Peek.Text == op;

            public Node ParseOr()
            {
                var left = ParseAnd();
                while (IsOp("or")) { _i++; left = new Bin(left, ParseAnd(), or: true); }
                return left;
            }

            private Node ParseAnd()
            {
                var left = ParseNot();
                while (IsOp("and")) { _i++; left = new Bin(left, ParseNot(), or: false); }
                return left;
            }

            private Node ParseNot()
            {
                if (IsOp("not")) { _i++; return new Not(ParseNot()); }
                if (Peek.Kind == T.LParen)
                {
                    var open = Peek; _i++;
                    var inner = ParseOr();
                    if (Peek.Kind != T.RParen) throw Error(_s, Peek.Pos, $"expected ')' to close the '(' at position {open.Pos}, found '{Peek.Text}'");
                    _i++;
                    return inner;
                }
                return ParseComparison();
            }

            private Operand ParseOperand(string what)
            {
                var t = Peek;
                switch (t.Kind)
                {
                    case T.Word:
                        _i++;
                        if (IsProperty(t.Text)) { var name = Canonical(t.Text); Used.Add(name); return new Operand { Property = name }; }
                        return new Operand { Value = t.Text };
                    case T.String: _i++; return new Operand { Value = t.Text };
                    case T.Number: _i++; return new Operand { Value = double.Parse(t.Text, NumberStyles.Float, CultureInfo.InvariantCulture) };
                    default: throw Error(_s, t.Pos, $"expected {what}, found '{t.Text}'");
                }
            }

            private Node ParseComparison()
            {
                var start = Peek;
                var left = ParseOperand("a property (" + string.Join(", ", Properties) + ", Tag.<key>), a value or '('");
                if (left.Property == null && start.Kind == T.Word)
                    throw Error(_s, start.Pos, $"unknown property '{start.Text}' (properties: {string.Join(", ", Properties)}, Tag.<key>; quote a text value)");
                var op = Peek;
                if (op.Kind != T.Op || op.Text == "and" || op.Text == "or" || op.Text == "not")
                    throw Error(_s, op.Pos, $"expected a comparison (-eq -ne -lt -le -gt -ge -like -notlike -in -notin) after '{start.Text}', found '{op.Text}'");
                _i++;
                if (op.Text == "in" || op.Text == "notin")
                {
                    var items = new List<Operand>();
                    bool paren = Peek.Kind == T.LParen;
                    if (paren) _i++;
                    items.Add(ParseOperand("a value of the list"));
                    while (Peek.Kind == T.Comma) { _i++; items.Add(ParseOperand("a value after ','")); }
                    if (paren)
                    {
                        if (Peek.Kind != T.RParen) throw Error(_s, Peek.Pos, $"expected ',' or ')' in the list, found '{Peek.Text}'");
                        _i++;
                    }
                    return new In(left, items, op.Text == "notin");
                }
                var right = ParseOperand("a value after '" + op.Text + "'");
                return new Cmp(left, op.Text, right);
            }
        }

        private static bool IsProperty(string w)
            => Properties.Any(p => string.Equals(p, w, StringComparison.OrdinalIgnoreCase)) || (w.StartsWith("Tag.", StringComparison.OrdinalIgnoreCase) && w.Length > 4);

        private static string Canonical(string w)
            => Properties.FirstOrDefault(p => string.Equals(p, w, StringComparison.OrdinalIgnoreCase)) ?? "Tag." + w.Substring(4);

        // ---- evaluation --------------------------------------------------------------------------------------

        private abstract class Node { public abstract bool Eval(Func<string, object?> v); }

        private sealed class Operand
        {
            public string? Property;
            public object? Value;
            public object? Get(Func<string, object?> v) => Property != null ? v(Property) : Value;
        }

        private sealed class Bin : Node
        {
            private readonly Node _l, _r; private readonly bool _or;
            public Bin(Node l, Node r, bool or) { _l = l; _r = r; _or = or; }
            public override bool Eval(Func<string, object?> v) => _or ? _l.Eval(v) || _r.Eval(v) : _l.Eval(v) && _r.Eval(v);
        }

        private sealed class Not : Node
        {
            private readonly Node _n;
            public Not(Node n) { _n = n; }
            public override bool Eval(Func<string, object?> v) => !_n.Eval(v);
        }

        private sealed class In : Node
        {
            private readonly Operand _l; private readonly List<Operand> _items; private readonly bool _negate;
            public In(Operand l, List<Operand> items, bool negate) { _l = l; _items = items; _negate = negate; }
            public override bool Eval(Func<string, object?> v)
            {
                var x = _l.Get(v);
                bool found = x != null && _items.Any(i => Compare(x, i.Get(v)) == 0);
                return _negate ? !found : found;
            }
        }

        private sealed class Cmp : Node
        {
            private readonly Operand _l, _r; private readonly string _op;
            public Cmp(Operand l, string op, Operand r) { _l = l; _op = op; _r = r; }
            public override bool Eval(Func<string, object?> v)
            {
                var a = _l.Get(v); var b = _r.Get(v);
                if (_op == "like" || _op == "notlike")
                {
                    bool m = a != null && b != null && Wildcard.IsMatch(AsText(a), AsText(b));
                    return _op == "like" ? m : !m;
                }
                if (a == null || b == null) return _op == "ne" || _op == "!=";
                int? c = Compare(a, b);
                if (c == null) return _op == "ne" || _op == "!=";
                switch (_op)
                {
                    case "eq": case "==": return c == 0;
                    case "ne": case "!=": return c != 0;
                    case "lt": case "<": return c < 0;
                    case "le": case "<=": return c <= 0;
                    case "gt": case ">": return c > 0;
                    default: return c >= 0; // ge, >=
                }
            }
        }

        private static string AsText(object o) => Convert.ToString(o, CultureInfo.InvariantCulture) ?? "";

        /// <summary>Numbers numerically when both sides are numbers, else text case-insensitively; null when either is unknown.</summary>
        private static int? Compare(object? a, object? b)
        {
            if (a == null || b == null) return null;
            if (TryNumber(a, out var x) && TryNumber(b, out var y)) return x.CompareTo(y);
            return string.Compare(AsText(a), AsText(b), StringComparison.OrdinalIgnoreCase);
        }

        private static bool TryNumber(object o, out double d)
        {
            switch (o)
            {
                case double v: d = v; return true;
                case int v: d = v; return true;
                case long v: d = v; return true;
                case decimal v: d = (double)v; return true;
                case float v: d = v; return true;
                case string s: return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d);
                default: d = 0; return false;
            }
        }
    }
}
