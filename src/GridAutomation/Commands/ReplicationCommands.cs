using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Replication;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Workloads given by object (pipeline) or by id (by property name): the two ways the replication cmdlets take them.</summary>
    public abstract class ReplicationTargetCmdlet : ChangeCmdlet
    {
        protected const string ByObject = "ByObject";
        protected const string ById = "ById";

        /// <summary>Workloads (from Get-GridWorkload).</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByObject, ValueFromPipeline = true)]
        [Alias("Workload")]
        [ValidateNotNull]
        public GridWorkload[] InputObject { get; set; } = null!;

        /// <summary>Workload ids (datacenter/native id).</summary>
        [Parameter(Mandatory = true, ParameterSetName = ById, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(WorkloadIdCompleter))]
        public string[] Id { get; set; } = null!;

        protected IEnumerable<GridWorkload> Targets()
        {
            if (ParameterSetName == ByObject) return InputObject.Where(w => w != null);
            var list = new List<GridWorkload>();
            foreach (var id in Id) if (TryRun(ct => Engine.GetWorkloadAsync(id, ct), id, out var w)) list.Add(w);
            return list;
        }
    }

    /// <summary>Protects workloads into another datacenter: checks the pair, makes the first full copy there, keeps the replica stopped.</summary>
    [Cmdlet(VerbsLifecycle.Enable, "GridReplication", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = ByName)]
    [OutputType(typeof(GridReplication))]
    public sealed class EnableGridReplicationCommand : ReplicationTargetCmdlet
    {
        private const string ByName = "ByName";

        /// <summary>Workload names; wildcards protect every match (as Move-GridWorkload -Name).</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByName, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards] [ValidateNotNullOrEmpty] [ArgumentCompleter(typeof(WorkloadNameCompleter))]
        public string[] Name { get; set; } = null!;

        /// <summary>Datacenters to look for -Name in (wildcards); all registered ones by default.</summary>
        [Parameter(ParameterSetName = ByName, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards] [ValidateNotNullOrEmpty] [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[]? Datacenter { get; set; }

        /// <summary>Where the replica is kept (and where a failover starts it).</summary>
        [Parameter] [ValidateNotNullOrEmpty] [ArgumentCompleter(typeof(DestinationDatacenterCompleter))]
        public string? DestinationDatacenter { get; set; }
        /// <summary>The host a failover starts it on.</summary>
        [Parameter] [ValidateNotNullOrEmpty] [GridHostName] [ArgumentCompleter(typeof(DestinationHostCompleter))]
        public string? DestinationHost { get; set; }
        /// <summary>The size at the destination (default: the closest, as Test-GridMove chooses).</summary>
        [Parameter] [ValidateNotNullOrEmpty] [ArgumentCompleter(typeof(DestinationSizeCompleter))]
        public string? Size { get; set; }
        /// <summary>Largest acceptable data loss, minutes (a point is due after half of it).</summary>
        [Parameter] [ValidateRange(1, 10080)] public int RpoMinutes { get; set; } = 15;
        /// <summary>How many recovery points to keep.</summary>
        [Parameter] [ValidateRange(1, 1000)] public int RecoveryPointCount { get; set; } = 24;

        /// <summary>Settings of the copy a failover creates at the destination, as New-GridWorkload -Option takes them (e.g. @{ Network = 'dr-lan' }).</summary>
        [Parameter] public Hashtable? Option { get; set; }
        /// <summary>Reprotect: the failed-over copy becomes the primary, replicated back to the old primary's datacenter (lifts the fence).</summary>
        [Parameter] public SwitchParameter Reverse { get; set; }
        /// <summary>Write the protected item.</summary>
        [Parameter] public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            var targets = ParameterSetName == ByName ? FindWorkloadsByName(Name, Datacenter) : Targets().Select(t => (Workload: t, Note: "")).ToList();
            foreach (var (w, note) in targets)
            {
                var req = new ReplicationRequest { DestinationDatacenter = DestinationDatacenter ?? "", DestinationHost = DestinationHost, Size = Size, RpoMinutes = RpoMinutes, RecoveryPointCount = RecoveryPointCount };
                if (Option != null)
                    foreach (DictionaryEntry e in Option)
                        req.Options[e.Key?.ToString() ?? ""] = e.Value is PSObject p ? p.BaseObject?.ToString() ?? "" : e.Value?.ToString() ?? "";
                if (!Reverse.IsPresent && string.IsNullOrEmpty(DestinationDatacenter))
                {
                    WriteError(ErrorMapping.Create("DestinationDatacenterRequired", ErrorCategory.InvalidArgument, "Give -DestinationDatacenter (or -Reverse to reprotect a failed-over workload).", w.Id, GridErrorKind.InvalidRequest));
                    continue;
                }
                if (!Approve($"{w.Name} ({w.Id})", (Reverse.IsPresent ? "Reprotect (reverse replication)" : "Protect into " + DestinationDatacenter) + note)) continue;
                bool ok = Reverse.IsPresent
                    ? TryRun(ct => Engine.Replication.ReverseAsync(Engine.Replication.Find(w.Id) ?? throw GridException.NotFound($"'{w.Name}' is not protected.", "NotProtected", w.Id), req, Observer, ct), w, out var item)
                    : TryRun(ct => Engine.Replication.EnableAsync(w, req, Observer, ct), w, out item);
                if (ok && PassThru.IsPresent) WriteObject(item);
            }
        }
    }

    /// <summary>Takes a recovery point of every protected workload that is due, ships it and keeps the newest N; safe from a schedule.</summary>
    [Cmdlet(VerbsData.Sync, "GridReplication", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(GridRecoveryPoint))]
    public sealed class SyncGridReplicationCommand : ChangeCmdlet
    {
        /// <summary>Only these protected workloads (names, wildcards); default all.</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)] [SupportsWildcards] public string[]? Name { get; set; }
        /// <summary>Take a point now even where none is due.</summary>
        [Parameter] public SwitchParameter Now { get; set; }
        /// <summary>Write the points taken.</summary>
        [Parameter] public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            if (!TryRun(ct => Task.FromResult(Engine.Replication.Get(Name)), Name, out var items)) return;
            if (!Approve($"{items.Count} protected workload(s)", "Take recovery points")) return;
            if (!TryRun(ct => Engine.Replication.SyncAsync(items, Now.IsPresent, Observer, ct), Name, out var results)) return;
            foreach (var r in results)
            {
                if (r.Error != null) WriteError(ErrorMapping.ToErrorRecord(r.Error, r.Item.SourceId));
                else if (r.Point != null && PassThru.IsPresent) WriteObject(r.Point);
            }
        }
    }

    /// <summary>Lists protected workloads with their state, health, last recovery point and lag.</summary>
    [Cmdlet(VerbsCommon.Get, "GridReplication")]
    [OutputType(typeof(GridReplication))]
    public sealed class GetGridReplicationCommand : GridCmdlet
    {
        /// <summary>Names of protected workloads (wildcards).</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)] [SupportsWildcards] public string[]? Name { get; set; }

        protected override void ProcessRecord()
        {
            if (TryRun(ct => Task.FromResult(Engine.Replication.Get(Name)), Name, out var list)) foreach (var i in list) WriteObject(i);
        }
    }

    /// <summary>Lists the recovery points kept at the destination, oldest first.</summary>
    [Cmdlet(VerbsCommon.Get, "GridRecoveryPoint")]
    [OutputType(typeof(GridRecoveryPoint))]
    public sealed class GetGridRecoveryPointCommand : GridCmdlet
    {
        /// <summary>Names of protected workloads (wildcards).</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)] [SupportsWildcards] public string[]? Name { get; set; }

        protected override void ProcessRecord()
        {
            if (!TryRun(ct => Task.FromResult(Engine.Replication.Get(Name)), Name, out var items)) return;
            foreach (var i in items)
                if (TryRun(ct => Task.FromResult(Engine.Replication.GetPoints(i)), i.SourceId, out var points)) foreach (var p in points) WriteObject(p);
        }
    }

    /// <summary>Stops protecting workloads: removes the replica's points and disks unless -KeepReplica.</summary>
    [Cmdlet(VerbsLifecycle.Disable, "GridReplication", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(GridReplication))]
    public sealed class DisableGridReplicationCommand : ChangeCmdlet
    {
        /// <summary>Names of protected workloads (wildcards).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)] [SupportsWildcards] [ValidateNotNullOrEmpty] public string[] Name { get; set; } = null!;
        /// <summary>Keep the recovery points at the destination (the item reads Disabled).</summary>
        [Parameter] public SwitchParameter KeepReplica { get; set; }
        /// <summary>Write the item as it was.</summary>
        [Parameter] public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            if (!TryRun(ct => Task.FromResult(Engine.Replication.Get(Name)), Name, out var items)) return;
            foreach (var n in Name)
                if (!WildcardPattern.ContainsWildcardCharacters(n) && !items.Any(i => string.Equals(i.Name, n, StringComparison.OrdinalIgnoreCase)))
                    WriteError(ErrorMapping.Create("NotProtected", ErrorCategory.ObjectNotFound, $"No protected workload named '{n}'.", n, GridErrorKind.NotFound));
            foreach (var i in items)
            {
                if (!Approve($"{i.Name} ({i.SourceId})", KeepReplica.IsPresent ? "Stop protecting (keep the replica)" : "Stop protecting and remove the replica's points")) continue;
                if (TryRun(async ct => { await Engine.Replication.DisableAsync(i, KeepReplica.IsPresent, Observer, ct).ConfigureAwait(false); return i; }, i.SourceId, out var done) && PassThru.IsPresent) WriteObject(done);
            }
        }
    }
}
