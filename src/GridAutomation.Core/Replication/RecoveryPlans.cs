using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Replication
{
    /// <summary>
    /// Recovery plans (New/Get/Set/Remove-GridRecoveryPlan): stored in rep_plans (the groups as JSON), every change a
    /// journaled operation under the plan's lock; input is checked before anything is journaled.
    /// </summary>
    public sealed partial class ReplicationService
    {
        public const int MaxPlanGroups = 50;
        public const int MaxManualStepLength = 1000;

        private sealed class PlanRow
        {
            public string? Description { get; set; }
            public List<GridRecoveryPlanGroup> Groups { get; set; } = new List<GridRecoveryPlanGroup>();
            public DateTimeOffset Modified { get; set; }
        }

        internal static string PlanLockKey(string name) => "recoveryplan:" + name.ToUpperInvariant();

        /// <summary>Plans whose names match the patterns (all when none), by name.</summary>
        public IReadOnlyList<GridRecoveryPlan> GetPlans(IReadOnlyList<string>? names = null)
        {
            var n = Wildcard.CompileAll(names);
            if (!Ready()) return Array.Empty<GridRecoveryPlan>();
            var rows = Store.Read(s =>
            {
                var l = new List<(string name, string json, string created)>();
                using var cmd = s.Command("SELECT name, groups_json, created FROM rep_plans ORDER BY name");
                using var r = cmd.ExecuteReader();
                while (r.Read()) l.Add((r.GetString(0), r.GetString(1), r.GetString(2)));
                return l;
            });
            return rows.Where(x => Wildcard.MatchesAny(x.name, n)).Select(x =>
            {
                var row = JsonUtil.Deserialize<PlanRow>(x.json) ?? new PlanRow();
                return new GridRecoveryPlan { Name = x.name, Description = row.Description, Groups = row.Groups, Created = StateStore.ParseTime(x.created), Modified = row.Modified };
            }).ToList();
        }

        /// <summary>The plan named <paramref name="name"/> (no wildcards), or NotFound "RecoveryPlanNotFound".</summary>
        public GridRecoveryPlan RequirePlan(string name)
            => GetPlans().FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
               ?? throw GridException.NotFound($"No recovery plan named '{name}' (Get-GridRecoveryPlan lists them).", "RecoveryPlanNotFound", name);

        /// <summary>New-GridRecoveryPlan: checks the name, groups, scripts (hashes them) and manual steps, then records the plan.</summary>
        public GridRecoveryPlan NewPlan(string name, IReadOnlyList<RecoveryPlanGroupSpec> groups, string? description)
        {
            EnsureWritable();
            var why = NameRules.WhyInvalidName(name);
            if (why != null) throw GridException.InvalidRequest($"'{name}' is not a valid recovery plan name: {why}.", "InvalidName", name);
            var built = BuildGroups(name, groups);
            if (GetPlans().Any(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)))
                throw GridException.Conflict($"A recovery plan named '{name}' exists: Set-GridRecoveryPlan changes it.", "RecoveryPlanExists", name);
            var now = DateTimeOffset.UtcNow;
            var row = new PlanRow { Description = description, Groups = built, Modified = now };
            JournaledPlanChange("NewRecoveryPlan", name, s =>
            {
                if (s.ScalarInt64("SELECT COUNT(*) FROM rep_plans WHERE name = @n", ("n", name)) > 0)
                    throw GridException.Conflict($"A recovery plan named '{name}' exists: Set-GridRecoveryPlan changes it.", "RecoveryPlanExists", name);
                s.Execute("INSERT INTO rep_plans(name, groups_json, created) VALUES(@n, @g, @c)", ("n", name), ("g", JsonUtil.Serialize(row)), ("c", StateStore.FormatTime(now)));
            }, JsonUtil.Serialize(new { Name = name, Groups = built.Count }));
            return RequirePlan(name);
        }

        /// <summary>Set-GridRecoveryPlan: replaces the groups (scripts re-hashed: this is how a changed script is accepted) and/or the description.</summary>
        public GridRecoveryPlan SetPlan(string name, IReadOnlyList<RecoveryPlanGroupSpec>? groups, string? description, bool rehashScripts)
        {
            EnsureWritable();
            var plan = RequirePlan(name);
            List<GridRecoveryPlanGroup> built;
            if (groups != null) built = BuildGroups(plan.Name, groups);
            else if (rehashScripts)
                built = BuildGroups(plan.Name, plan.Groups.Select(g => new RecoveryPlanGroupSpec { Workloads = g.Workloads, PreScript = g.PreScript?.Path, PostScript = g.PostScript?.Path, ManualStep = g.ManualStep }).ToList());
            else built = plan.Groups.ToList();
            var row = new PlanRow { Description = description ?? plan.Description, Groups = built, Modified = DateTimeOffset.UtcNow };
            JournaledPlanChange("SetRecoveryPlan", plan.Name, s =>
            {
                if (s.Execute("UPDATE rep_plans SET groups_json = @g WHERE name = @n", ("n", plan.Name), ("g", JsonUtil.Serialize(row))) == 0)
                    throw GridException.NotFound($"No recovery plan named '{name}'.", "RecoveryPlanNotFound", name);
            }, JsonUtil.Serialize(new { plan.Name, Groups = built.Count }));
            return RequirePlan(plan.Name);
        }

        /// <summary>Remove-GridRecoveryPlan: the plan goes; protected workloads and their points stay.</summary>
        public void RemovePlan(string name)
        {
            EnsureWritable();
            var plan = RequirePlan(name);
            JournaledPlanChange("RemoveRecoveryPlan", plan.Name, s => { s.Execute("DELETE FROM rep_plans WHERE name = @n", ("n", plan.Name)); }, null);
        }

        private void JournaledPlanChange(string kind, string name, Action<IStateSession> write, string? request)
        {
            var op = _engine.Journal.TryBegin(new OperationIntent { Kind = kind, Datacenter = "", Target = "plan:" + name, TargetName = name, Coordinator = "core", LockKey = PlanLockKey(name), RequestJson = request }).Operation
                ?? throw GridException.Conflict($"Recovery plan '{name}' is being changed by another operation.", "RecoveryPlanLocked", name);
            try { Store.Write(s => { write(s); return 0; }); }
            catch (Exception ex) { var g = GridEngine.Normalize(ex, name); _engine.Journal.Fail(op.Id, g.ErrorId, g.Message); throw g; }
            _engine.Journal.Complete(op.Id, null);
        }

        private List<GridRecoveryPlanGroup> BuildGroups(string plan, IReadOnlyList<RecoveryPlanGroupSpec> groups)
        {
            if (groups == null || groups.Count == 0) throw GridException.InvalidRequest($"Recovery plan '{plan}' needs at least one group (-Group @('db-*'), @('app-*')).", "RecoveryPlanEmpty", plan);
            if (groups.Count > MaxPlanGroups) throw GridException.InvalidRequest($"Recovery plan '{plan}' has {groups.Count} groups; at most {MaxPlanGroups}.", "TooManyGroups", plan);
            var list = new List<GridRecoveryPlanGroup>();
            var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (int k = 0; k < groups.Count; k++)
            {
                var g = groups[k];
                var patterns = (g.Workloads ?? new List<string>()).Where(p => !string.IsNullOrWhiteSpace(p)).Select(p => p.Trim()).ToList();
                if (patterns.Count == 0) throw GridException.InvalidRequest($"Group {k + 1} of recovery plan '{plan}' names no workload.", "RecoveryPlanGroupEmpty", plan);
                Wildcard.CompileAll(patterns.ToList()); // a bad pattern is refused here, not at run time
                foreach (var p in patterns)
                {
                    if (seen.TryGetValue(p, out int other))
                        throw GridException.InvalidRequest($"'{p}' is in group {other} and group {k + 1} of recovery plan '{plan}': a workload belongs to one group.", "WorkloadGivenTwice", p);
                    seen[p] = k + 1;
                }
                if (g.ManualStep != null && (string.IsNullOrWhiteSpace(g.ManualStep) || g.ManualStep.Length > MaxManualStepLength))
                    throw GridException.InvalidRequest($"The manual step of group {k + 1} must be 1 to {MaxManualStepLength} characters.", "InvalidManualStep", plan);
                list.Add(new GridRecoveryPlanGroup
                {
                    Number = k + 1, Workloads = patterns, ManualStep = g.ManualStep,
                    PreScript = g.PreScript == null ? null : Script(g.PreScript), PostScript = g.PostScript == null ? null : Script(g.PostScript),
                });
            }
            // a protected workload matched by two groups is refused now (and again at run time: items change)
            GroupItems(plan, list);
            return list;
        }

        private static GridPlanScript Script(string path)
        {
            if (!Path.IsPathRooted(path)) throw GridException.InvalidRequest($"Script path '{path}' must be absolute (a plan runs from any directory).", "PlanScriptPathNotAbsolute", path);
            return new GridPlanScript { Path = Path.GetFullPath(path), Sha256 = HashFile(path) };
        }

        /// <summary>SHA-256 of a script file (lower-case hex); NotFound "PlanScriptNotFound" when it is missing.</summary>
        internal static string HashFile(string path)
        {
            try
            {
                using var f = File.OpenRead(path);
                using var sha = SHA256.Create();
                return string.Concat(sha.ComputeHash(f).Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
            {
                throw GridException.NotFound($"Script '{path}' cannot be read: {ex.Message}", "PlanScriptNotFound", path);
            }
        }

        /// <summary>The protected items of each group (Disabled ones left out); InvalidRequest "WorkloadGivenTwice" when one is in two groups.</summary>
        private List<List<GridReplication>> GroupItems(string plan, IList<GridRecoveryPlanGroup> groups)
        {
            var items = Get().Where(i => i.State != ReplicationState.Disabled).ToList();
            var owner = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var result = new List<List<GridReplication>>();
            foreach (var g in groups)
            {
                var pats = Wildcard.CompileAll(g.Workloads.ToList());
                var mine = items.Where(i => Wildcard.MatchesAny(i.Name, pats)).ToList();
                foreach (var i in mine)
                {
                    if (owner.TryGetValue(i.SourceId, out int other))
                        throw GridException.InvalidRequest($"'{i.Name}' ({i.SourceId}) is in group {other} and group {g.Number} of recovery plan '{plan}': a workload belongs to one group.", "WorkloadGivenTwice", i.SourceId);
                    owner[i.SourceId] = g.Number;
                }
                result.Add(mine);
            }
            return result;
        }

        /// <summary>Every script of the plan still has the recorded hash; Conflict "PlanScriptChanged" (or NotFound "PlanScriptNotFound") otherwise.</summary>
        private static void CheckScripts(GridRecoveryPlan plan)
        {
            foreach (var g in plan.Groups)
                foreach (var s in new[] { g.PreScript, g.PostScript })
                {
                    if (s == null) continue;
                    var now = HashFile(s.Path);
                    if (!string.Equals(now, s.Sha256, StringComparison.OrdinalIgnoreCase))
                        throw GridException.Conflict($"Script '{s.Path}' of group {g.Number} of recovery plan '{plan.Name}' changed since the plan recorded it (SHA-256 {s.Sha256} then, {now} now). Check it, then accept it with Set-GridRecoveryPlan -Name {plan.Name} -UpdateScriptHash.", "PlanScriptChanged", s.Path);
                }
        }
    }
}
