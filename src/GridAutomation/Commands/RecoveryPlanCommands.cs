using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Replication;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Runs a recovery plan's .ps1 scripts in a new runspace of this process, with $RecoveryPlanContext set (ASR's name).</summary>
    public sealed class PlanScriptHostInitializer : IModuleAssemblyInitializer
    {
        public void OnImport() => Install();

        internal static void Install() => ReplicationService.PowerShellScriptHost ??= RunAsync;

        private static async Task RunAsync(string path, RecoveryPlanContext context, CancellationToken ct)
        {
            using var rs = RunspaceFactory.CreateRunspace();
            rs.Open();
            rs.SessionStateProxy.SetVariable("RecoveryPlanContext", context);
            using var ps = PowerShell.Create();
            ps.Runspace = rs;
            ps.AddCommand(path);
            using var reg = ct.Register(() => { try { ps.Stop(); } catch (Exception) { } });
            await Task.Factory.FromAsync(ps.BeginInvoke(), ps.EndInvoke).ConfigureAwait(false);
            if (ps.Streams.Error.Count > 0)
                throw new InvalidOperationException(string.Join("; ", ps.Streams.Error.Select(e => e.ToString())));
        }
    }

    /// <summary>Completes recovery plan names.</summary>
    public sealed class RecoveryPlanCompleter : GridCompleter
    {
        protected override IEnumerable<string> GetValues(string parameterName, string word, IDictionary bound, CancellationToken ct)
            => OpenEngine().Replication.GetPlans().Select(p => p.Name);
    }

    /// <summary>Turns a plan name given on the command line into a plan reference (the plan itself is read when the run starts).</summary>
    public sealed class RecoveryPlanTransformationAttribute : ArgumentTransformationAttribute
    {
        public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
        {
            object v = inputData is PSObject p ? p.BaseObject : inputData;
            return v switch
            {
                GridRecoveryPlan plan => plan,
                string s => new GridRecoveryPlan { Name = s },
                _ => inputData,
            };
        }
    }

    /// <summary>The group parameters New- and Set-GridRecoveryPlan share.</summary>
    public abstract class RecoveryPlanChangeCmdlet : ChangeCmdlet
    {
        /// <summary>Ordered groups, each an array of workload name patterns: -Group @('db-*'), @('app-*'), @('web-*').</summary>
        [Parameter] [ValidateNotNullOrEmpty] [SupportsWildcards] public string[][]? Group { get; set; }
        /// <summary>Per group (same order), a script file run before the group fails over ('' = none). Its SHA-256 is recorded; a run refuses a changed file.</summary>
        [Parameter] public string[]? PreScript { get; set; }
        /// <summary>Per group, a script file run after every workload of the group runs at the destination ('' = none).</summary>
        [Parameter] public string[]? PostScript { get; set; }
        /// <summary>Per group, a manual step after it ('' = none): the run pauses (Waiting) until Resume-GridOperation.</summary>
        [Parameter] public string[]? ManualStep { get; set; }
        /// <summary>What the plan is for.</summary>
        [Parameter] public string? Description { get; set; }

        protected static string? At(string[]? a, int k) => a == null || k >= a.Length || string.IsNullOrWhiteSpace(a[k]) ? null : a[k];

        protected string? PathOf(string? p) => p == null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(p);

        /// <summary>The groups to record: -Group with the per-group arrays, or the plan's own groups with them applied.</summary>
        protected List<RecoveryPlanGroupSpec>? Specs(IList<GridRecoveryPlanGroup>? existing)
        {
            int n = Group?.Length ?? existing?.Count ?? 0;
            if (Group == null && PreScript == null && PostScript == null && ManualStep == null) return null;
            foreach (var (name, a) in new[] { ("PreScript", PreScript), ("PostScript", PostScript), ("ManualStep", ManualStep) })
                if (a != null && a.Length > n)
                    throw GridException.InvalidRequest($"-{name} has {a.Length} entries but the plan has {n} group(s): give one per group, in group order ('' for none).", "GroupCountMismatch", name);
            return Enumerable.Range(0, n).Select(k => new RecoveryPlanGroupSpec
            {
                Workloads = Group != null ? Group[k].ToList() : existing![k].Workloads.ToList(),
                PreScript = PreScript != null ? PathOf(At(PreScript, k)) : Group == null ? existing![k].PreScript?.Path : null,
                PostScript = PostScript != null ? PathOf(At(PostScript, k)) : Group == null ? existing![k].PostScript?.Path : null,
                ManualStep = ManualStep != null ? At(ManualStep, k) : Group == null ? existing![k].ManualStep : null,
            }).ToList();
        }
    }

    /// <summary>Creates a recovery plan: ordered groups of protected workloads, with per-group script files and manual steps.</summary>
    [Cmdlet(VerbsCommon.New, "GridRecoveryPlan", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(GridRecoveryPlan))]
    public sealed class NewGridRecoveryPlanCommand : RecoveryPlanChangeCmdlet
    {
        /// <summary>The plan's name.</summary>
        [Parameter(Mandatory = true, Position = 0)] [ValidateNotNullOrEmpty] public string Name { get; set; } = null!;

        protected override void EndProcessing()
        {
            if (Group == null)
            {
                WriteError(ErrorMapping.Create("RecoveryPlanEmpty", ErrorCategory.InvalidArgument, "Give the plan's groups: -Group @('db-*'), @('app-*').", Name));
                return;
            }
            List<RecoveryPlanGroupSpec> specs;
            try { specs = Specs(null)!; } catch (GridException g) { WriteGridError(g, Name); return; } // paths resolved here, on the pipeline thread
            if (!Approve(Name, $"Create recovery plan with {Group.Length} group(s)")) return;
            if (TryRun(ct => Task.FromResult(Engine.Replication.NewPlan(Name, specs, Description)), Name, out var plan)) WriteObject(plan);
        }
    }

    /// <summary>Lists recovery plans.</summary>
    [Cmdlet(VerbsCommon.Get, "GridRecoveryPlan")]
    [OutputType(typeof(GridRecoveryPlan))]
    public sealed class GetGridRecoveryPlanCommand : GridCmdlet
    {
        /// <summary>Plan names (wildcards); all when omitted.</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)] [SupportsWildcards] [ArgumentCompleter(typeof(RecoveryPlanCompleter))]
        public string[]? Name { get; set; }

        protected override void ProcessRecord()
        {
            if (!TryRun(ct => Task.FromResult(Engine.Replication.GetPlans(Name)), Name, out var plans)) return;
            foreach (var p in plans) WriteObject(p);
            if (Name != null)
                foreach (var n in Name.Where(x => !WildcardPattern.ContainsWildcardCharacters(x)))
                    if (!plans.Any(p => string.Equals(p.Name, n, StringComparison.OrdinalIgnoreCase)))
                        WriteError(ErrorMapping.Create("RecoveryPlanNotFound", ErrorCategory.ObjectNotFound, $"No recovery plan named '{n}'.", n, GridErrorKind.NotFound));
        }
    }

    /// <summary>Changes a recovery plan: its groups, scripts, manual steps or description; -UpdateScriptHash accepts changed scripts.</summary>
    [Cmdlet(VerbsCommon.Set, "GridRecoveryPlan", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridRecoveryPlan))]
    public sealed class SetGridRecoveryPlanCommand : RecoveryPlanChangeCmdlet
    {
        /// <summary>The plan's name (or a piped plan).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)] [ValidateNotNullOrEmpty] [ArgumentCompleter(typeof(RecoveryPlanCompleter))]
        public string Name { get; set; } = null!;
        /// <summary>Record the current SHA-256 of every script of the plan (after checking a changed script).</summary>
        [Parameter] public SwitchParameter UpdateScriptHash { get; set; }
        /// <summary>Write the plan.</summary>
        [Parameter] public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            if (!TryRun(ct => Task.FromResult(Engine.Replication.RequirePlan(Name)), Name, out var plan)) return;
            List<RecoveryPlanGroupSpec>? specs;
            try { specs = Specs(plan.Groups); } catch (GridException g) { WriteGridError(g, Name); return; }
            if (!Approve(plan.Name, UpdateScriptHash.IsPresent ? "Update the recovery plan and record its scripts' hashes" : "Update the recovery plan")) return;
            if (TryRun(ct => Task.FromResult(Engine.Replication.SetPlan(plan.Name, specs, Description, UpdateScriptHash.IsPresent)), Name, out var done) && PassThru.IsPresent)
                WriteObject(done);
        }
    }

    /// <summary>Removes recovery plans (the protected workloads and their points stay).</summary>
    [Cmdlet(VerbsCommon.Remove, "GridRecoveryPlan", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    public sealed class RemoveGridRecoveryPlanCommand : ChangeCmdlet
    {
        /// <summary>Plan names (wildcards) or piped plans.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)] [ValidateNotNullOrEmpty] [SupportsWildcards] [ArgumentCompleter(typeof(RecoveryPlanCompleter))]
        public string[] Name { get; set; } = null!;

        protected override void ProcessRecord()
        {
            if (!TryRun(ct => Task.FromResult(Engine.Replication.GetPlans(Name)), Name, out var plans)) return;
            foreach (var n in Name.Where(x => !WildcardPattern.ContainsWildcardCharacters(x)))
                if (!plans.Any(p => string.Equals(p.Name, n, StringComparison.OrdinalIgnoreCase)))
                    WriteError(ErrorMapping.Create("RecoveryPlanNotFound", ErrorCategory.ObjectNotFound, $"No recovery plan named '{n}'.", n, GridErrorKind.NotFound));
            foreach (var p in plans)
            {
                if (!Approve(p.Name, "Remove recovery plan")) continue;
                TryRun(ct => { Engine.Replication.RemovePlan(p.Name); return Task.FromResult(true); }, p.Name, out _);
            }
        }
    }
}
