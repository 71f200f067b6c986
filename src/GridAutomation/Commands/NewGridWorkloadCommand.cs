using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Internal;

namespace GridAutomation.Commands
{
    /// <summary>
    /// Creates workloads (and starts them unless -NoStart). Names are unique per datacenter (WorkloadNameExists)
    /// unless -AllowDuplicateName where the provider allows it. Idempotent: a re-run with the same -IdempotencyKey
    /// returns the workload the first run made; a re-run after a crash finishes the interrupted create.
    /// </summary>
    [Cmdlet(VerbsCommon.New, "GridWorkload", DefaultParameterSetName = InDatacenter, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(GridWorkload), typeof(Job))]
    public sealed partial class NewGridWorkloadCommand : ChangeCmdlet
    {
        private const string InDatacenter = "Datacenter";
        private const string InPool = "Pool";

        /// <summary>Names of the workloads to create (one workload per name).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = InDatacenter)]
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = InPool)]
        [ValidateNotNullOrEmpty]
        public string[] Name { get; set; } = null!;

        /// <summary>The datacenter to create in.</summary>
        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = InDatacenter)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(DatacenterCompleter))]
        public string Datacenter { get; set; } = "";

        /// <summary>A size the datacenter offers (see Get-GridSize).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(SizeCompleter))]
        public string? Size { get; set; }

        /// <summary>Number of virtual CPUs, for providers with free CPU/memory shapes.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateRange(1, 4096)]
        public int? Cpu { get; set; }

        /// <summary>Memory in GiB, for providers with free CPU/memory shapes.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateRange(0.125, 65536)]
        public double? MemoryGB { get; set; }

        /// <summary>The image / template to create from (see Get-GridImage).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ArgumentCompleter(typeof(ImageCompleter))]
        public string? Image { get; set; }

        /// <summary>Tags of the new workload (not Owner: use -Owner).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        public Hashtable? Tag { get; set; }

        /// <summary>
        /// The company that uses and pays for the workload (default: the datacenter's owner). In another company's
        /// datacenter it needs an agreement in force, within its quotas (NoAgreement, AgreementQuotaExceeded).
        /// </summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string? Owner { get; set; }

        /// <summary>Host (or cluster / zone) to place it on; the provider chooses by default.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = InDatacenter)]
        [ArgumentCompleter(typeof(HostCompleter))]
        public string? TargetHost { get; set; }

        /// <summary>Key that makes the create idempotent (a re-run with the same key never makes a second workload).</summary>
        [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = InDatacenter)]
        [ValidateNotNullOrEmpty]
        public string? IdempotencyKey { get; set; }

        /// <summary>Network / subnet / port group to attach (provider-specific name). Becomes the "Network" option.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        public string? Network { get; set; }

        /// <summary>The administrator account of the guest. Handed to the provider for this create only; never journaled or stored.</summary>
        [Parameter]
        [Credential]
        public PSCredential? AdminCredential { get; set; }

        /// <summary>An SSH public key to authorize in the guest. Becomes the "SshPublicKey" option.</summary>
        [Parameter]
        public string? SshPublicKey { get; set; }

        /// <summary>Provider-specific options (datastore, subnet, security group...), merged into the create request.</summary>
        [Parameter]
        public Hashtable? Option { get; set; }

        /// <summary>Create the workload without starting it.</summary>
        [Parameter]
        public SwitchParameter NoStart { get; set; }

        /// <summary>
        /// Create even if a workload of this name already exists in the datacenter. Only where the provider allows
        /// duplicate names (EC2, the simulator); elsewhere it is refused (DuplicateNameNotAllowed).
        /// </summary>
        [Parameter(ParameterSetName = InDatacenter)]
        public SwitchParameter AllowDuplicateName { get; set; }

        private readonly HashSet<string> _names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        /// <summary>Run the creates as a background job (one child job per workload); confirmation happens first.</summary>
        [Parameter]
        public SwitchParameter AsJob { get; set; }

        protected override void ProcessRecord()
        {
            if (ParameterSetName == InPool) { CollectForPool(); return; }
            if (Size != null && (Cpu.HasValue || MemoryGB.HasValue))
            {
                WriteError(ErrorMapping.Create("SizeConflict", ErrorCategory.InvalidArgument, "Give either -Size or -Cpu/-MemoryGB, not both.", Size));
                return;
            }
            if (IdempotencyKey != null && Name.Length > 1)
            {
                WriteError(ErrorMapping.Create("IdempotencyKeyNeedsOneName", ErrorCategory.InvalidArgument,
                    "-IdempotencyKey identifies one create: give a single -Name with it.", IdempotencyKey));
                return;
            }
            Dictionary<string, string?> tags, options;
            try
            {
                tags = ConvertTags(Tag, allowNullValues: false);
                options = ConvertTags(Option, allowNullValues: false, parameterName: "Option");
            }
            catch (GridException ex) { WriteGridError(ex, Tag); return; }

            // The datacenter must exist (DatacenterNotFound), also under -WhatIf.
            try { Engine.GetDatacenter(Datacenter); }
            catch (PipelineStoppedException) { throw; }
            catch (Exception ex) { WriteGridError(ex, Datacenter); return; }

            foreach (var name in Name)
            {
                if (!_names.Add(name) && !AllowDuplicateName.IsPresent)
                {
                    // Two creates of one name in one call would make two workloads (or race each other): the second is refused.
                    WriteError(ErrorMapping.Create("WorkloadNameExists", ErrorCategory.ResourceExists,
                        $"'{name}' is named twice in this call: one workload is created per name, names are unique per datacenter.", name, GridErrorKind.Conflict));
                    continue;
                }
                var request = new CreateWorkloadRequest
                {
                    Name = name,
                    Size = Size,
                    CpuCount = Cpu,
                    MemoryMB = MemoryGB.HasValue ? (long)Math.Round(MemoryGB.Value * 1024) : (long?)null,
                    Image = Image,
                    TargetHost = TargetHost,
                    PowerOn = !NoStart.IsPresent,
                    AllowDuplicateName = AllowDuplicateName.IsPresent,
                };
                if (IdempotencyKey != null) request.IdempotencyKey = IdempotencyKey;
                request.Owner = Owner;
                foreach (var kv in tags) request.Tags[kv.Key] = kv.Value!;
                foreach (var kv in options) request.Options[kv.Key] = kv.Value!;
                if (!string.IsNullOrEmpty(Network)) request.Options["Network"] = Network!;
                if (!string.IsNullOrEmpty(SshPublicKey)) request.Options["SshPublicKey"] = SshPublicKey!;
                if (AdminCredential != null) request.Secrets["AdminCredential"] = AdminCredential.GetNetworkCredential();

                var what = new List<string>();
                if (Size != null) what.Add("size " + Size);
                if (Cpu.HasValue) what.Add(Cpu + " CPU");
                if (MemoryGB.HasValue) what.Add(MemoryGB.Value.ToString(CultureInfo.InvariantCulture) + " GB");
                if (Image != null) what.Add("image " + Image);
                if (TargetHost != null) what.Add("on " + TargetHost);
                if (Owner != null) what.Add("owner " + Owner);
                if (NoStart) what.Add("not started");
                var label = name + " in datacenter " + Datacenter;
                if (!Approve(label, "Create" + (what.Count > 0 ? " (" + string.Join(", ", what) + ")" : ""))) continue;

                var engine = Engine;
                var dc = Datacenter;
                var batch = BatchId;
                Approved.Add(new WorkItem(label, name, async (observer, ct) =>
                    await engine.CreateWorkloadAsync(dc, request, batch, observer, ct).ConfigureAwait(false)));
            }
        }

        protected override void EndProcessing()
        {
            if (ParameterSetName == InPool && !PlanPool()) return;
            Execute(AsJob.IsPresent, "Create workloads");
        }
    }
}
