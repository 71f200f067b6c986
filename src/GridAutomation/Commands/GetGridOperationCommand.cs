using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>Lists the operations journal: every change the module made or is making, newest last.</summary>
    [Cmdlet(VerbsCommon.Get, "GridOperation", DefaultParameterSetName = Filter)]
    [OutputType(typeof(GridOperation))]
    public sealed class GetGridOperationCommand : GridCmdlet
    {
        private const string Filter = "Filter";
        private const string ById = "ById";

        /// <summary>Operation ids.</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = ById, ValueFromPipelineByPropertyName = true)]
        [ArgumentCompleter(typeof(OperationIdCompleter))]
        public Guid[] Id { get; set; } = null!;

        /// <summary>Only operations of these datacenters.</summary>
        [Parameter(ParameterSetName = Filter)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string[]? Datacenter { get; set; }

        /// <summary>Only operations in these states (Interrupted: ready for Resume-GridOperation).</summary>
        [Parameter(ParameterSetName = Filter)]
        public OperationState[]? State { get; set; }

        /// <summary>Only operations on these targets: workload (or datacenter) names as they were when the operation began, or workload ids. Wildcards allowed.</summary>
        [Parameter(ParameterSetName = Filter)]
        [ValidateNotNullOrEmpty]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(OperationTargetCompleter))]
        public string[]? Target { get; set; }

        /// <summary>Only operations of these kinds (Create, Start, Stop, Restart, Suspend, Remove, Resize, SetTags, Move...).</summary>
        [Parameter(ParameterSetName = Filter)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(OperationKindCompleter))]
        public string[]? Kind { get; set; }

        /// <summary>Only the operations of one cmdlet invocation.</summary>
        [Parameter(ParameterSetName = Filter)]
        public Guid? BatchId { get; set; }

        /// <summary>
        /// Only the children of this operation: the steps of a move between datacenters (MoveStop, MoveExport, MoveConvert,
        /// MoveVerify, MoveImport, MoveCreate, MoveVerifyDestination, MoveStart, MoveCutover, MoveRollback). Without it,
        /// children are not listed (each move shows once, as its parent); -Id finds a child too.
        /// </summary>
        [Parameter(ParameterSetName = Filter, ValueFromPipelineByPropertyName = false)]
        public Guid? Parent { get; set; }

        /// <summary>Only the newest N operations.</summary>
        [Parameter(ParameterSetName = Filter)]
        [ValidateRange(1, int.MaxValue)]
        public int? Last { get; set; }

        protected override void ProcessRecord()
        {
            try
            {
                if (ParameterSetName == ById)
                {
                    foreach (var id in Id)
                    {
                        var ops = Engine.GetOperations(new OperationFilter { Id = id });
                        if (ops.Count == 0)
                            WriteError(ErrorMapping.Create("OperationNotFound", ErrorCategory.ObjectNotFound, $"No operation with id {id} in the journal.", id, GridErrorKind.NotFound));
                        foreach (var o in ops) WriteObject(o);
                    }
                    return;
                }
                Wildcard.Validate(Datacenter); // InvalidWildcardPattern, not a raw exception mid-listing
                Wildcard.Validate(Target);
                var filter = new OperationFilter { Datacenters = Datacenter, States = State, Kinds = Kind, Targets = Target, BatchId = BatchId, ParentId = Parent, Last = Last };
                foreach (var o in Engine.GetOperations(filter)) WriteObject(o);
            }
            catch (PipelineStoppedException) { throw; }
            catch (Exception ex) { ThrowGridError(ex, null); }
        }
    }
}
