using System;
using System.Linq;
using System.Management.Automation;
using System.Threading.Tasks;
using GridAutomation.Core.Grid;
using GridAutomation.Core.Model;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Creates a pool: datacenters of any provider and owner (names or wildcards, resolved each time the pool is used).</summary>
    [Cmdlet(VerbsCommon.New, "GridPool", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(GridPool))]
    public sealed class NewGridPoolCommand : ChangeCmdlet
    {
        /// <summary>The pool's name.</summary>
        [Parameter(Mandatory = true, Position = 0)] [ValidateNotNullOrEmpty] public string Name { get; set; } = "";
        /// <summary>Member datacenters (names or wildcards).</summary>
        [Parameter(Mandatory = true, Position = 1)] [SupportsWildcards] [ValidateNotNullOrEmpty] [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[] Datacenter { get; set; } = null!;
        /// <summary>The default placement policy of the pool.</summary>
        [Parameter] public PlacementPolicy Policy { get; set; } = PlacementPolicy.Pack;

        protected override void ProcessRecord()
        {
            if (!Approve(Name, "Create pool of " + string.Join(", ", Datacenter))) return;
            if (TryRun(ct => Task.FromResult(Engine.Grid.NewPool(Name, Datacenter, Policy)), Name, out var p)) WriteObject(p);
        }
    }

    /// <summary>Lists pools (wildcards), with -Resolve the datacenters each names now.</summary>
    [Cmdlet(VerbsCommon.Get, "GridPool")]
    [OutputType(typeof(GridPool), typeof(GridDatacenter))]
    public sealed class GetGridPoolCommand : GridCmdlet
    {
        /// <summary>Pool names (wildcards).</summary>
        [Parameter(Position = 0)] [SupportsWildcards] public string[]? Name { get; set; }
        /// <summary>Write the registered datacenters the pools name now instead of the pools.</summary>
        [Parameter] public SwitchParameter Resolve { get; set; }

        protected override void ProcessRecord()
        {
            System.Collections.Generic.IReadOnlyList<GridPool> pools;
            try { pools = Engine.Grid.GetPools(Name); }
            catch (PipelineStoppedException) { throw; }
            catch (Exception ex) { ThrowGridError(ex, Name); return; }
            foreach (var p in pools)
            {
                if (Resolve.IsPresent) foreach (var d in Engine.Grid.ResolvePool(p)) WriteObject(d);
                else WriteObject(p);
            }
            if (Name != null)
                foreach (var n in Name)
                    if (!HasWildcard(n) && !pools.Any(p => IsLiteralMatch(p.Name, n)))
                        WriteError(ErrorMapping.Create("PoolNotFound", ErrorCategory.ObjectNotFound, $"No pool named '{n}'. Create it with New-GridPool.", n, GridErrorKind.NotFound));
        }
    }

    /// <summary>Changes a pool's members or default policy.</summary>
    [Cmdlet(VerbsCommon.Set, "GridPool", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(GridPool))]
    public sealed class SetGridPoolCommand : ChangeCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)] [ValidateNotNullOrEmpty] public string Name { get; set; } = "";
        /// <summary>The new member list (replaces the old one).</summary>
        [Parameter] [SupportsWildcards] [ValidateNotNullOrEmpty] [ArgumentCompleter(typeof(DatacenterCompleter))] public string[]? Datacenter { get; set; }
        [Parameter] public PlacementPolicy? Policy { get; set; }
        [Parameter] public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            if (Datacenter == null && Policy == null)
                ThrowTerminatingError(ErrorMapping.Create("NothingToChange", ErrorCategory.InvalidArgument, "Give -Datacenter or -Policy.", Name));
            if (!Approve(Name, "Change pool")) return;
            if (TryRun(ct => Task.FromResult(Engine.Grid.SetPool(Name, Datacenter, Policy)), Name, out var p) && PassThru.IsPresent) WriteObject(p);
        }
    }

    /// <summary>Removes a pool (its datacenters and workloads are not touched).</summary>
    [Cmdlet(VerbsCommon.Remove, "GridPool", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(void))]
    public sealed class RemoveGridPoolCommand : ChangeCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)] [ValidateNotNullOrEmpty] public string[] Name { get; set; } = null!;

        protected override void ProcessRecord()
        {
            foreach (var n in Name)
            {
                if (!Approve(n, "Remove pool")) continue;
                TryRun(ct => { Engine.Grid.RemovePool(n); return Task.FromResult(true); }, n, out _);
            }
        }
    }
}
