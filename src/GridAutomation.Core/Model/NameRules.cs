using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace GridAutomation.Core.Model
{
    /// <summary>
    /// The one place where names and tags are judged, for every provider, before anything is journaled
    /// (documented in docs/names-and-tags.md). Error ids: InvalidName (a workload or datacenter name) and
    /// InvalidTag (a tag key, value, count or size), both InvalidRequest.
    /// </summary>
    public static class NameRules
    {
        /// <summary>How names are compared everywhere (lookup, uniqueness): ordinal, case-insensitive.</summary>
        public static StringComparer Comparer => StringComparer.OrdinalIgnoreCase;
        public const StringComparison Comparison = StringComparison.OrdinalIgnoreCase;

        /// <summary>Longest workload or datacenter name, in UTF-16 code units.</summary>
        public const int MaxNameLength = 128;
        public const int MaxTagKeyLength = 128;
        public const int MaxTagValueLength = 256;
        /// <summary>Most tags on one workload (Azure and EC2 allow 50).</summary>
        public const int MaxTagCount = 50;
        /// <summary>Most characters of all keys and values of one workload together.</summary>
        public const int MaxTagTotalLength = 8192;

        /// <summary>Characters a name being created or registered may not hold: they are wildcard syntax or its escape.</summary>
        public static readonly char[] WildcardCharacters = { '*', '?', '[', ']', '`' };
        /// <summary>Characters a tag key may not hold (the strictest common set of Azure and EC2).</summary>
        public static readonly char[] ForbiddenTagKeyCharacters = { '<', '>', '%', '&', '\\', '?', '/' };

        /// <summary>Why <paramref name="name"/> is not a valid name, or null when it is.</summary>
        public static string? WhyInvalidName(string? name, bool datacenter = false)
        {
            if (name == null || name.Length == 0) return "it is empty";
            if (name.Length > MaxNameLength) return $"it is {name.Length.ToString(CultureInfo.InvariantCulture)} characters long (at most {MaxNameLength})";
            if (char.IsWhiteSpace(name[0]) || char.IsWhiteSpace(name[name.Length - 1])) return "it starts or ends with white space";
            string? bad = WhyBadText(name);
            if (bad != null) return bad;
            int w = name.IndexOfAny(WildcardCharacters);
            if (w >= 0) return $"it holds the wildcard character '{name[w]}' (names may not use * ? [ ] `)";
            if (datacenter && name.IndexOf('/') >= 0) return "it holds '/' (which separates the datacenter from the native id in workload ids)";
            return null;
        }

        /// <summary>InvalidRequest "InvalidName" unless <paramref name="name"/> is a valid workload name.</summary>
        public static void ValidateWorkloadName(string? name) => Validate(name, "workload", datacenter: false);

        /// <summary>InvalidRequest "InvalidName" unless <paramref name="name"/> is a valid datacenter name.</summary>
        public static void ValidateDatacenterName(string? name) => Validate(name, "datacenter", datacenter: true);

        private static void Validate(string? name, string what, bool datacenter)
        {
            var why = WhyInvalidName(name, datacenter);
            if (why != null)
                throw GridException.InvalidRequest($"'{Show(name)}' is not a valid {what} name: {why}. {Rules}", "InvalidName", name);
        }

        /// <summary>The rules in one sentence, appended to every InvalidName message.</summary>
        public static string Rules => $"A name is 1-{MaxNameLength} characters, without control characters, lone surrogates, leading or trailing spaces, or any of * ? [ ] `.";

        /// <summary>
        /// Tags as given (a list of pairs, so case-colliding keys are seen before any dictionary merges them).
        /// A null value means "remove" when <paramref name="allowNullValues"/>. Throws InvalidRequest "InvalidTag".
        /// </summary>
        public static void ValidateTags(IEnumerable<KeyValuePair<string, string?>> tags, object? target, bool allowNullValues = false)
        {
            if (tags == null) return;
            var seen = new Dictionary<string, string>(Comparer);
            long total = 0;
            foreach (var kv in tags)
            {
                string key = kv.Key ?? "";
                if (key.Length == 0 || string.IsNullOrWhiteSpace(key)) throw Tag("a tag key is empty", target);
                if (key.Length > MaxTagKeyLength) throw Tag($"tag key '{Show(key)}' is {key.Length.ToString(CultureInfo.InvariantCulture)} characters long (at most {MaxTagKeyLength})", target);
                var bad = WhyBadText(key);
                if (bad != null) throw Tag($"tag key '{Show(key)}' is not valid: {bad}", target);
                if (char.IsWhiteSpace(key[0]) || char.IsWhiteSpace(key[key.Length - 1])) throw Tag($"tag key '{Show(key)}' starts or ends with white space", target);
                int f = key.IndexOfAny(ForbiddenTagKeyCharacters);
                if (f >= 0) throw Tag($"tag key '{Show(key)}' holds '{key[f]}' (keys may not use < > % & \\ ? /)", target);
                if (seen.TryGetValue(key, out var other))
                    throw Tag($"tag keys '{Show(other)}' and '{Show(key)}' differ only in case (keys are case-insensitive: give one)", target);
                seen[key] = key;
                var value = kv.Value;
                if (value == null)
                {
                    if (!allowNullValues) throw Tag($"tag '{Show(key)}' has no value", target);
                }
                else
                {
                    if (value.Length > MaxTagValueLength) throw Tag($"the value of tag '{Show(key)}' is {value.Length.ToString(CultureInfo.InvariantCulture)} characters long (at most {MaxTagValueLength})", target);
                    var vb = WhyBadText(value);
                    if (vb != null) throw Tag($"the value of tag '{Show(key)}' is not valid: {vb}", target);
                }
                total += key.Length + (value?.Length ?? 0);
            }
            if (seen.Count > MaxTagCount) throw Tag($"{seen.Count.ToString(CultureInfo.InvariantCulture)} tags given (at most {MaxTagCount})", target);
            if (total > MaxTagTotalLength) throw Tag($"the tags hold {total.ToString(CultureInfo.InvariantCulture)} characters together (at most {MaxTagTotalLength})", target);
        }

        public static void ValidateTags(IEnumerable<KeyValuePair<string, string>> tags, object? target)
            => ValidateTags(tags?.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value))!, target, allowNullValues: false);

        /// <summary>
        /// The tags a workload will hold after <paramref name="changes"/> are merged into <paramref name="current"/>
        /// (null value = remove) must stay within the count and size limits. Throws InvalidRequest "InvalidTag".
        /// </summary>
        public static void ValidateMergedTags(IReadOnlyDictionary<string, object?>? current, IEnumerable<KeyValuePair<string, string?>> changes, object? target)
        {
            var merged = new Dictionary<string, string>(Comparer);
            if (current != null) foreach (var kv in current) merged[kv.Key] = Convert.ToString(kv.Value, CultureInfo.InvariantCulture) ?? "";
            foreach (var kv in changes)
            {
                if (kv.Value == null) merged.Remove(kv.Key);
                else merged[kv.Key] = kv.Value;
            }
            if (merged.Count > MaxTagCount) throw Tag($"the workload would hold {merged.Count.ToString(CultureInfo.InvariantCulture)} tags (at most {MaxTagCount})", target);
            long total = merged.Sum(kv => (long)kv.Key.Length + kv.Value.Length);
            if (total > MaxTagTotalLength) throw Tag($"the workload's tags would hold {total.ToString(CultureInfo.InvariantCulture)} characters together (at most {MaxTagTotalLength})", target);
        }

        private static GridException Tag(string why, object? target)
            => GridException.InvalidRequest($"Invalid tags: {why}. Tag keys are 1-{MaxTagKeyLength} characters without control characters, surrounding spaces or < > % & \\ ? /; values are up to {MaxTagValueLength} characters without control characters; at most {MaxTagCount} tags and {MaxTagTotalLength} characters in all.", "InvalidTag", target);

        /// <summary>Control characters and lone surrogates (text that cannot be stored as UTF-8 unchanged).</summary>
        private static string? WhyBadText(string s)
        {
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                if (char.IsControl(c)) return $"it holds the control character U+{((int)c).ToString("X4", CultureInfo.InvariantCulture)}";
                if (char.IsHighSurrogate(c))
                {
                    if (i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
                    return $"it holds a lone surrogate U+{((int)c).ToString("X4", CultureInfo.InvariantCulture)} (not valid UTF-16)";
                }
                if (char.IsLowSurrogate(c)) return $"it holds a lone surrogate U+{((int)c).ToString("X4", CultureInfo.InvariantCulture)} (not valid UTF-16)";
            }
            return null;
        }

        /// <summary>A name as safe to show in a message: control characters escaped, long names cut.</summary>
        public static string Show(string? s)
        {
            if (s == null) return "";
            var sb = new StringBuilder();
            int n = Math.Min(s.Length, 40);
            for (int i = 0; i < n; i++)
            {
                char c = s[i];
                if (char.IsControl(c) || char.IsSurrogate(c)) sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                else sb.Append(c);
            }
            if (s.Length > n) sb.Append("...");
            return sb.ToString();
        }
    }
}
