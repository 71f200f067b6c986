using System;

namespace GridAutomation.Core.Model
{
    /// <summary>Normalized power/lifecycle state of a workload. See docs/states.md for each provider's mapping.</summary>
    public enum WorkloadState
    {
        Unknown = 0,
        Provisioning,
        Starting,
        Running,
        Stopping,
        Stopped,
        Deallocating,
        Deallocated,
        /// <summary>Memory is being written to disk.</summary>
        Suspending,
        /// <summary>Memory saved to disk; no memory held in the host.</summary>
        Suspended,
        /// <summary>Memory held in the host, vCPUs not scheduled.</summary>
        Paused,
        Deleting,
        Deleted,
        Failed,
    }

    public enum HostState
    {
        Unknown = 0,
        Connected,
        Maintenance,
        Down,
    }

    public enum ConnectionStatus
    {
        Disconnected = 0,
        Connected,
        Error,
    }

    /// <summary>What a datacenter's provider can do. The engine refuses early what is missing.</summary>
    [Flags]
    public enum GridCapabilities
    {
        None = 0,
        Create = 1 << 0,
        Start = 1 << 1,
        Stop = 1 << 2,
        /// <summary>Hard power-off (Stop -TurnOff).</summary>
        TurnOff = 1 << 3,
        /// <summary>Release compute allocation (Stop -Deallocate): billing for compute stops.</summary>
        Deallocate = 1 << 4,
        Restart = 1 << 5,
        Suspend = 1 << 6,
        Remove = 1 << 7,
        /// <summary>Remove can also delete the workload's disks.</summary>
        RemoveStorage = 1 << 8,
        /// <summary>CPU/memory/size change (possibly only while stopped).</summary>
        Resize = 1 << 9,
        /// <summary>Resize while running without a restart.</summary>
        ResizeRunning = 1 << 10,
        /// <summary>Move to another host inside the datacenter (cold, or via save/restore).</summary>
        Move = 1 << 11,
        /// <summary>Move keeps the workload running throughout (vMotion, libvirt live migration).</summary>
        LiveMove = 1 << 12,
        Snapshot = 1 << 13,
        Tags = 1 << 14,
        Pause = 1 << 15,
        /// <summary>The provider allows two workloads of one name in a datacenter (EC2, the simulator): New-GridWorkload -AllowDuplicateName is accepted.</summary>
        DuplicateNames = 1 << 16,
    }

    public enum StopMode
    {
        /// <summary>
        /// The provider's default stop (Stop-GridWorkload with no switch): a guest shutdown (ACPI / VMware Tools).
        /// On Azure it deallocates after the guest shutdown, as Stop-AzVM does, so compute stops being billed.
        /// </summary>
        Graceful = 0,
        /// <summary>Guest shutdown that keeps the compute allocation (Azure: power off; elsewhere the same as Graceful).</summary>
        StayProvisioned,
        /// <summary>Hard power off.</summary>
        TurnOff,
        /// <summary>Stop and release the compute allocation (Azure deallocate). Providers without it refuse.</summary>
        Deallocate,
    }

    public enum OperationState
    {
        Pending = 0,
        Running,
        Succeeded,
        Failed,
        /// <summary>Its lease expired or its process died before it finished; Resume-GridOperation can finish or roll it back.</summary>
        Interrupted,
        RolledBack,
        /// <summary>Cancelled (Ctrl+C, Stop-Job, Select -First) before its provider call was made: nothing was changed. Final.</summary>
        Cancelled,
        /// <summary>Paused at a manual step of a recovery plan run (issue 17): holds no lease; Resume-GridOperation goes on.</summary>
        Waiting,
    }
}
