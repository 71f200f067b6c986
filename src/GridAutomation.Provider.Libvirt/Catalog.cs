using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>libvirt's virDomainState and how it maps to the model.</summary>
    internal static class StateMap
    {
        public const int NoState = 0, Running = 1, Blocked = 2, Paused = 3, Shutdown = 4, Shutoff = 5, Crashed = 6, PmSuspended = 7;

        /// <summary>libvirt's own name of the state (as in virDomainState, lower case).</summary>
        public static string NativeName(int state) => state switch
        {
            NoState => "nostate",
            Running => "running",
            Blocked => "blocked",
            Paused => "paused",
            Shutdown => "shutdown",
            Shutoff => "shutoff",
            Crashed => "crashed",
            PmSuspended => "pmsuspended",
            _ => "unknown(" + state + ")",
        };

        /// <summary>Normalized state. A shut-off domain with a managed-save image is Suspended (memory on disk).</summary>
        public static WorkloadState Normalize(int state, bool hasManagedSave) => state switch
        {
            Running => WorkloadState.Running,
            Blocked => WorkloadState.Running,      // running, waiting on a resource
            Paused => WorkloadState.Paused,        // memory held in the host, vCPUs not scheduled
            PmSuspended => WorkloadState.Paused,   // guest S3 suspend-to-RAM: memory still in the host
            Shutdown => WorkloadState.Stopping,
            Shutoff => hasManagedSave ? WorkloadState.Suspended : WorkloadState.Stopped,
            Crashed => WorkloadState.Failed,
            _ => WorkloadState.Unknown,
        };

        /// <summary>Shut-off reason names (virDomainShutoffReason).</summary>
        public static string? ShutoffReason(int reason) => reason switch
        {
            0 => "unknown", 1 => "shutdown", 2 => "destroyed", 3 => "crashed", 4 => "migrated", 5 => "saved", 6 => "failed", 7 => "from-snapshot", 8 => "daemon",
            _ => null,
        };
    }
}
