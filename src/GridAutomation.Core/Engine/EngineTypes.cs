using System;
using System.Collections.Generic;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Engine
{
    /// <summary>One item of a fan-out: a value, or the error of one datacenter (the others still answer).</summary>
    public readonly struct FanOutResult<T>
    {
        public FanOutResult(string datacenter, T? value, GridException? error) { Datacenter = datacenter; Value = value; Error = error; }
        public string Datacenter { get; }
        public T? Value { get; }
        public GridException? Error { get; }
        public bool IsError => Error != null;
    }

    /// <summary>What Get-GridWorkload asks for. Every filter is applied by the engine (providers may also push them down).</summary>
    public sealed class WorkloadFilter
    {
        /// <summary>Datacenter name patterns (wildcards); null = all registered.</summary>
        public IReadOnlyList<string>? Datacenters { get; set; }
        /// <summary>Name patterns (PowerShell wildcards, case-insensitive).</summary>
        public IReadOnlyList<string>? Names { get; set; }
        /// <summary>Workload ids (&lt;datacenter&gt;/&lt;native id&gt;), exact (native id case-insensitive where the provider says so).</summary>
        public IReadOnlyList<string>? Ids { get; set; }
        /// <summary>Wanted states. Stopped never silently includes Deallocated. Deleted only when asked.</summary>
        public IReadOnlyCollection<WorkloadState>? States { get; set; }
        /// <summary>Tags that must all match; value "*" or null = key present; values are wildcards.</summary>
        public IReadOnlyDictionary<string, string?>? Tags { get; set; }
        /// <summary>Host name patterns (wildcards); a workload without a host matches none.</summary>
        public IReadOnlyList<string>? Hosts { get; set; }
        /// <summary>Owner patterns (wildcards), matched against the resolved Owner (an Owner tag, else the datacenter's owner).</summary>
        public IReadOnlyList<string>? Owners { get; set; }
        /// <summary>Site patterns (wildcards), matched against the workload's datacenter's site.</summary>
        public IReadOnlyList<string>? Sites { get; set; }
    }

    /// <summary>A change to one workload (Start/Stop/Restart/Suspend/Remove/Resize/SetTags/Move; Pause = Suspend-GridWorkload -Pause).</summary>
    public enum WorkloadAction { Start, Stop, Restart, Suspend, Remove, Resize, SetTags, Move, Pause }

    public sealed class WorkloadActionRequest
    {
        public WorkloadAction Action { get; set; }
        public StopMode StopMode { get; set; }
        public bool RemoveStorage { get; set; }
        public GridAutomation.Core.Providers.ResizeRequest? Resize { get; set; }
        public IDictionary<string, string?>? Tags { get; set; }
        public string? DestinationHost { get; set; }
        /// <summary>A new Owner (Set-GridWorkload -Owner): checked against agreements like a placement, kept as the Owner tag.</summary>
        public string? Owner { get; set; }
        /// <summary>Operation kind name used in the journal ("Start", "Stop"...).</summary>
        public string Kind => Action.ToString();
    }

    /// <summary>Engine callbacks to the caller (cmdlet) — called from any thread; the cmdlet marshals to the pipeline thread.</summary>
    public interface IEngineObserver
    {
        void Progress(string target, GridAutomation.Core.Providers.GridProgress progress);
        void Verbose(string message);
        void Warning(string message);
    }

    public sealed class NullObserver : IEngineObserver
    {
        public static readonly NullObserver Instance = new NullObserver();
        public void Progress(string target, GridAutomation.Core.Providers.GridProgress progress) { }
        public void Verbose(string message) { }
        public void Warning(string message) { }
    }
}
