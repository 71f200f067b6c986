using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Core.Grid
{
    public sealed partial class GridService
    {
        /// <summary>The filters in the order they are applied; a rejected candidate names the first it failed.</summary>
        internal enum Constraint { None = 0, Unavailable, Size, Requirement, Agreement, Quota, ProviderQuota, AntiAffinity, Capacity }

        /// <summary>
        /// What changes while a request is planned: the free capacity and placements per candidate, the quota taken per
        /// agreement and the anti-affinity group's hosts and datacenters. The plan keeps the state before the first
        /// workload and the choices in order, so the state any workload saw can be rebuilt (for its rejections, on demand).
        /// </summary>
        internal sealed class PlanState
        {
            public double[] FreeCpu = Array.Empty<double>(), FreeMemMB = Array.Empty<double>();
            public int[] Placed = Array.Empty<int>();
            /// <summary>CPU this plan put on each candidate (what a cloud's vCPU quota counts).</summary>
            public double[] TakenCpu = Array.Empty<double>();
            public bool[] GroupHost = Array.Empty<bool>();
            public HashSet<string> GroupDcs = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            public Dictionary<string, (int count, int cpu, long mem)> QuotaTaken = new Dictionary<string, (int, int, long)>(StringComparer.OrdinalIgnoreCase);

            public PlanState Clone() => new PlanState
            {
                FreeCpu = (double[])FreeCpu.Clone(), FreeMemMB = (double[])FreeMemMB.Clone(), Placed = (int[])Placed.Clone(), TakenCpu = (double[])TakenCpu.Clone(), GroupHost = (bool[])GroupHost.Clone(),
                GroupDcs = new HashSet<string>(GroupDcs, StringComparer.OrdinalIgnoreCase),
                QuotaTaken = new Dictionary<string, (int, int, long)>(QuotaTaken, StringComparer.OrdinalIgnoreCase),
            };
        }

        /// <summary>One planned placement: what it takes from the state for the workloads planned after it.</summary>
        internal sealed class Choice
        {
            public int Cand; public Demand D = null!; public GridAgreement? A;
        }

        /// <summary>What a workload's filter reads of one datacenter (computed once per datacenter, not per host).</summary>
        internal sealed class ViewFacts
        {
            public Demand D = null!;
            public GridAgreement? A;
            public decimal? Price;
            /// <summary>Size: before the requirement. Agreement, Quota, datacenter anti-affinity: after it.</summary>
            public Constraint Pre, Post;
            public string? PreReason, PostReason;
            /// <summary>The requirement's result when it reads only datacenter fields; null = evaluated per host.</summary>
            public bool? RequirementMet;
        }

        /// <summary>
        /// Hosts of one datacenter that every filter and every score treat alike for as long as they stay alike: same
        /// capacity, free capacity, in use or not, anti-affinity member or not (and, when the requirement reads host
        /// fields, one host each). The planner evaluates a bucket once per workload, not each of its hosts; among its
        /// hosts the one first by label is the one a host-by-host ranking would choose.
        /// </summary>
        internal sealed class Bucket
        {
            public (int view, double freeCpu, double freeMem, double totalCpu, double totalMem, bool placed, bool group, int own) Key;
            /// <summary>Members by label rank (the tie-break of the ranking) and by candidate index (the order rejections are listed in).</summary>
            public readonly SortedSet<int> ByRank = new SortedSet<int>();
            public readonly SortedSet<int> ByIndex = new SortedSet<int>();
        }

        /// <summary>
        /// The planner of one request: candidates in arrays, filters per datacenter where they only read datacenter
        /// fields, a single pass per workload that counts rejections per constraint instead of writing a reason per
        /// host, and the reasons of every rejected candidate rebuilt on demand from the recorded choices.
        /// </summary>
        internal sealed class Planner
        {
            public DcView[] Views = Array.Empty<DcView>();
            public Cand[] Cands = Array.Empty<Cand>();
            /// <summary>The candidates of each view, as a range [start, end) of <see cref="Cands"/>.</summary>
            public int[] ViewStart = Array.Empty<int>(), ViewEnd = Array.Empty<int>();
            public PlacementRequest Request = null!;
            public Requirement? Requirement;
            public bool RequirementPerHost;
            public IReadOnlyList<GridAgreement> Agreements = Array.Empty<GridAgreement>();
            public DateTimeOffset Now;
            public PlanState Initial = null!;
            public readonly List<Choice> Choices = new List<Choice>();
            /// <summary>Quota use per agreement before this plan (listed workloads + pending reservations).</summary>
            public Func<GridAgreement, (int count, int cpu, long mem)> BaseUse = null!;

            /// <summary>Each candidate's rank in label order (ordinal, case-insensitive; ties by candidate order).</summary>
            public int[] LabelRank = Array.Empty<int>();
            private int[] _rankToCand = Array.Empty<int>();
            /// <summary>Per view, its buckets; and the bucket each candidate is in.</summary>
            public Dictionary<(int, double, double, double, double, bool, bool, int), Bucket>[] Buckets = Array.Empty<Dictionary<(int, double, double, double, double, bool, bool, int), Bucket>>();
            private Bucket[] _bucketOf = Array.Empty<Bucket>();

            public int CandOfRank(int rank) => _rankToCand[rank];

            private (int, double, double, double, double, bool, bool, int) KeyOf(int i, PlanState st)
                => (ViewOf(i), st.FreeCpu[i], st.FreeMemMB[i], Cands[i].TotalCpu, Cands[i].TotalMemMB, st.Placed[i] > 0, st.GroupHost[i], RequirementPerHost || !Cands[i].Known ? i : -1);

            /// <summary>Ranks the labels and puts every candidate in its bucket (after Prepare, with the state before the first workload).</summary>
            public void Index(PlanState st)
            {
                var byLabel = Enumerable.Range(0, Cands.Length).OrderBy(i => Cands[i].Label, StringComparer.OrdinalIgnoreCase).ThenBy(i => i).ToArray();
                LabelRank = new int[Cands.Length]; _rankToCand = byLabel;
                for (int r = 0; r < byLabel.Length; r++) LabelRank[byLabel[r]] = r;
                Buckets = new Dictionary<(int, double, double, double, double, bool, bool, int), Bucket>[Views.Length];
                for (int vi = 0; vi < Views.Length; vi++) Buckets[vi] = new Dictionary<(int, double, double, double, double, bool, bool, int), Bucket>();
                _bucketOf = new Bucket[Cands.Length];
                for (int i = 0; i < Cands.Length; i++) Join(i, st);
            }

            private void Join(int i, PlanState st)
            {
                var key = KeyOf(i, st);
                var map = Buckets[key.Item1];
                if (!map.TryGetValue(key, out var b)) map[key] = b = new Bucket { Key = key };
                b.ByRank.Add(LabelRank[i]); b.ByIndex.Add(i);
                _bucketOf[i] = b;
            }

            /// <summary>Moves a candidate whose state changed (it was chosen) to the bucket it now belongs in.</summary>
            public void Rebucket(int i, PlanState st)
            {
                var b = _bucketOf[i];
                b.ByRank.Remove(LabelRank[i]); b.ByIndex.Remove(i);
                if (b.ByIndex.Count == 0) Buckets[b.Key.view].Remove(b.Key);
                Join(i, st);
            }

            private static readonly string[] HostProperties = { "Cluster", "Host", "FreeCpu", "FreeMemoryGB" };

            public void Prepare()
            {
                RequirementPerHost = Requirement != null && Requirement.PropertiesUsed.Any(p => HostProperties.Contains(p, StringComparer.OrdinalIgnoreCase) || p.StartsWith("Tag.", StringComparison.OrdinalIgnoreCase));
            }

            public (int count, int cpu, long mem) Use(GridAgreement a, PlanState st)
            {
                var u = BaseUse(a);
                if (st.QuotaTaken.TryGetValue(a.Id, out var t)) { u.count += t.count; u.cpu += t.cpu; u.mem += t.mem; }
                return u;
            }

            public void Apply(PlanState st, Choice ch)
            {
                var c = Cands[ch.Cand];
                if (c.Known) { st.FreeCpu[ch.Cand] -= ch.D.Cpu; st.FreeMemMB[ch.Cand] -= ch.D.MemoryMB; }
                st.Placed[ch.Cand]++;
                st.TakenCpu[ch.Cand] += ch.D.Cpu;
                if (ch.A != null)
                {
                    st.QuotaTaken.TryGetValue(ch.A.Id, out var t);
                    st.QuotaTaken[ch.A.Id] = (t.count + 1, t.cpu + ch.D.Cpu, t.mem + ch.D.MemoryMB);
                }
                if (Request.AntiAffinity != null) { st.GroupDcs.Add(c.View.Dc.Name); if (c.Host != null) st.GroupHost[ch.Cand] = true; }
            }

            public ViewFacts Facts(WorkloadSpec spec, int vi, PlanState st)
            {
                var v = Views[vi];
                var f = new ViewFacts { D = DemandIn(spec, v) };
                bool foreign = !string.IsNullOrEmpty(v.Dc.Owner) && !string.Equals(v.Dc.Owner, spec.Owner, StringComparison.OrdinalIgnoreCase);
                if (foreign) f.A = Choose(Agreements, v.Dc.Owner, spec.Owner, v.Dc.Name, Now);
                f.Price = PriceFor(spec, v, f.D, f.A);
                if (spec.Size != null && v.Sizes.Count > 0 && !v.Sizes.Any(s => string.Equals(s.Name, spec.Size, StringComparison.OrdinalIgnoreCase)))
                { f.Pre = Constraint.Size; f.PreReason = $"the datacenter offers no size '{spec.Size}'"; }
                if (Requirement != null && !RequirementPerHost)
                    f.RequirementMet = Requirement.Evaluate(n => Property(n, v, null, -1, st, f.Price));
                if (foreign && f.A == null)
                { f.Post = Constraint.Agreement; f.PostReason = $"NoAgreement: {v.Dc.Owner} lends '{v.Dc.Name}' to {spec.Owner} under no agreement in force"; }
                else if (f.A != null && QuotaLimit(f.A, Use(f.A, st), f.D) is string limit)
                { f.Post = Constraint.Quota; f.PostReason = $"AgreementQuotaExceeded: agreement {f.A.Id} {limit}"; }
                else if (v.Quotas.Count > 0 && ProviderQuotaLimit(v, ViewStart[vi], f.D, st) is string pq)
                { f.Post = Constraint.ProviderQuota; f.PostReason = pq; }
                else if (Request.AntiAffinity != null && Request.AntiAffinityScope == AntiAffinityScope.Datacenter && st.GroupDcs.Contains(v.Dc.Name))
                { f.Post = Constraint.AntiAffinity; f.PostReason = $"a workload of group '{Request.AntiAffinity}' is already on this datacenter"; }
                return f;
            }

            /// <summary>The first quota of a cloud region this workload would exceed (counting what the plan put there), or null.</summary>
            private static string? ProviderQuotaLimit(DcView v, int cand, Demand d, PlanState st)
            {
                foreach (var q in v.Quotas)
                {
                    double planned = q.Unit == QuotaUnit.Vcpu ? st.TakenCpu[cand] : st.Placed[cand];
                    double needs = q.Unit == QuotaUnit.Vcpu ? d.Cpu : 1;
                    if (q.Used + planned + needs > q.Limit)
                    {
                        string unit = q.Unit == QuotaUnit.Vcpu ? "vCPUs" : "workloads";
                        string what = q.Description != null ? $" ({q.Description})" : "";
                        return FormattableString.Invariant($"ProviderQuotaExceeded: {v.Dc.Provider} quota '{q.Name}'{what} of '{v.Dc.Name}': {q.Used + planned:0.##} of {q.Limit:0.##} {unit} in use, this needs {needs:0.##} more");
                    }
                }
                return null;
            }

            /// <summary>The first filter candidate <paramref name="i"/> fails for this workload, or None.</summary>
            public Constraint Check(int i, ViewFacts f, PlanState st)
            {
                if (f.Pre != Constraint.None) return f.Pre;
                if (Requirement != null && !(f.RequirementMet ?? Requirement.Evaluate(n => Property(n, Cands[i].View, Cands[i], i, st, f.Price)))) return Constraint.Requirement;
                if (f.Post != Constraint.None) return f.Post;
                if (Request.AntiAffinity != null && Request.AntiAffinityScope == AntiAffinityScope.Host && st.GroupHost[i]) return Constraint.AntiAffinity;
                if (Cands[i].Known && (st.FreeCpu[i] < f.D.Cpu || st.FreeMemMB[i] < f.D.MemoryMB)) return Constraint.Capacity;
                return Constraint.None;
            }

            public GridPlacementRejection Rejection(int i, Constraint k, ViewFacts f, PlanState st)
            {
                var c = Cands[i];
                string reason;
                switch (k)
                {
                    case Constraint.Size: reason = f.PreReason!; break;
                    case Constraint.Requirement: reason = $"does not meet {Requirement!.Text}"; break;
                    case Constraint.AntiAffinity when f.Post == Constraint.None: reason = $"a workload of group '{Request.AntiAffinity}' is already on this host"; break;
                    case Constraint.Capacity:
                        reason = $"needs {f.D.Cpu} CPU / {f.D.MemoryMB / 1024.0:0.##} GB, {Math.Max(0, st.FreeCpu[i]):0} CPU / {Math.Max(0, st.FreeMemMB[i]) / 1024.0:0.##} GB free";
                        break;
                    default: reason = f.PostReason!; break;
                }
                return new GridPlacementRejection { Datacenter = c.View.Dc.Name, Host = c.Host?.Name, Constraint = k.ToString(), Reason = reason };
            }

            /// <summary>Every rejected candidate of a workload with its reason, in candidate order, as it saw them when planned
            /// (the state rebuilt from the first <paramref name="choicesBefore"/> choices).</summary>
            public List<GridPlacementRejection> Rejections(WorkloadSpec spec, int choicesBefore)
            {
                var st = Initial.Clone();
                for (int j = 0; j < choicesBefore; j++) Apply(st, Choices[j]);
                var list = new List<GridPlacementRejection>();
                foreach (var v in Views)
                    if (v.Error != null) list.Add(new GridPlacementRejection { Datacenter = v.Dc.Name, Constraint = nameof(Constraint.Unavailable), Reason = v.Error });
                for (int vi = 0; vi < Views.Length; vi++)
                {
                    if (ViewStart[vi] == ViewEnd[vi]) continue;
                    var f = Facts(spec, vi, st);
                    for (int i = ViewStart[vi]; i < ViewEnd[vi]; i++)
                    {
                        var k = Check(i, f, st);
                        if (k != Constraint.None) list.Add(Rejection(i, k, f, st));
                    }
                }
                return list;
            }

            public object? Property(string name, DcView v, Cand? c, int i, PlanState st, decimal? price)
            {
                switch (name)
                {
                    case "Provider": return v.Dc.Provider;
                    case "Owner": return v.Dc.Owner;
                    case "Site": return v.Dc.Site;
                    case "Datacenter": return v.Dc.Name;
                    case "Cluster": return c?.Host?.Cluster;
                    case "Host": return c?.Host?.Name;
                    case "FreeCpu": return c != null && c.Known ? Math.Max(0, st.FreeCpu[i]) : (object?)null;
                    case "FreeMemoryGB": return c != null && c.Known ? Math.Max(0, st.FreeMemMB[i]) / 1024.0 : (object?)null;
                    case "Price": return price;
                }
                if (name.StartsWith("Tag.", StringComparison.Ordinal))
                {
                    string key = name.Substring(4);
                    if (c?.Host != null && c.Host.Properties.TryGetValue(key, out var hv) && hv != null) return Convert.ToString(hv, CultureInfo.InvariantCulture);
                    if (v.Dc.Settings.TryGetValue(key, out var dv)) return dv;
                }
                return null;
            }

            /// <summary>
            /// Ranks candidate <paramref name="i"/> against the best so far (negative: <paramref name="i"/> is better).
            /// Pack: known capacity first, hosts in use first, least left after placing, cheaper, then by label;
            /// Spread: known first, most left, cheaper, label; Cheapest: known price first, lower price, known capacity, least left, label.
            /// </summary>
            public int Compare(PlacementPolicy policy, int i, double afterI, decimal? priceI, int b, double afterB, decimal? priceB, PlanState st)
            {
                var ci = Cands[i]; var cb = Cands[b];
                int r;
                switch (policy)
                {
                    case PlacementPolicy.Spread:
                        if ((r = (ci.Known ? 0 : 1).CompareTo(cb.Known ? 0 : 1)) != 0) return r;
                        if ((r = (cb.Known ? afterB : 0).CompareTo(ci.Known ? afterI : 0)) != 0) return r;
                        if (ci.View != cb.View && (r = (priceI ?? decimal.MaxValue).CompareTo(priceB ?? decimal.MaxValue)) != 0) return r;
                        break;
                    case PlacementPolicy.Cheapest:
                        if ((r = (priceI.HasValue ? 0 : 1).CompareTo(priceB.HasValue ? 0 : 1)) != 0) return r;
                        if ((r = (priceI ?? 0).CompareTo(priceB ?? 0)) != 0) return r;
                        if ((r = (ci.Known ? 0 : 1).CompareTo(cb.Known ? 0 : 1)) != 0) return r;
                        if ((r = afterI.CompareTo(afterB)) != 0) return r;
                        break;
                    default:
                        if ((r = (ci.Known ? 0 : 1).CompareTo(cb.Known ? 0 : 1)) != 0) return r;
                        if ((r = (IsUsed(i, st) ? 0 : 1).CompareTo(IsUsed(b, st) ? 0 : 1)) != 0) return r;
                        if ((r = afterI.CompareTo(afterB)) != 0) return r;
                        if (ci.View != cb.View && (r = (priceI ?? decimal.MaxValue).CompareTo(priceB ?? decimal.MaxValue)) != 0) return r;
                        break;
                }
                return LabelRank[i].CompareTo(LabelRank[b]);
            }

            public int ViewOf(int i) => Cands[i].ViewIndex;

            public bool IsUsed(int i, PlanState st) => st.Placed[i] > 0 || (Cands[i].Known && st.FreeCpu[i] < Cands[i].TotalCpu);

            public double After(int i, Demand d, PlanState st) => !Cands[i].Known ? double.PositiveInfinity
                : Packing.Remaining(st.FreeCpu[i], st.FreeMemMB[i], Cands[i].TotalCpu, Cands[i].TotalMemMB, d.Cpu, d.MemoryMB);
        }
    }
}
