using System;
using System.Collections;
using System.Collections.Generic;
using System.Net;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Providers
{
    /// <summary>What a provider is given to connect a datacenter.</summary>
    public sealed class ProviderConnectRequest
    {
        /// <summary>The registration (name, owner, site, persisted non-secret settings).</summary>
        public GridDatacenter Datacenter { get; set; } = new GridDatacenter();
        /// <summary>Non-secret parameters as persisted in <see cref="GridDatacenter.Settings"/>: string; string[] joined with '\n'; int as invariant text; switch as "True".</summary>
        public IDictionary<string, string> Settings => Datacenter.Settings;
        /// <summary>Secret parameters for this session only: NetworkCredential for Credential kind, string for SecretString kind.</summary>
        public IReadOnlyDictionary<string, object> Secrets { get; set; } = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
        /// <summary>Shared services: state store, retry policy, configuration, clock.</summary>
        public ProviderServices Services { get; set; } = null!;

        public string? GetSetting(string name) => Datacenter.Settings.TryGetValue(name, out var v) ? v : null;
        public string[] GetSettingArray(string name) => Datacenter.Settings.TryGetValue(name, out var v) && v.Length > 0 ? v.Split('\n') : new string[0];
        public bool GetSwitch(string name) => Datacenter.Settings.TryGetValue(name, out var v) && string.Equals(v, "True", StringComparison.OrdinalIgnoreCase);
        public NetworkCredential? GetCredential(string name) => Secrets.TryGetValue(name, out var v) ? v as NetworkCredential : null;
        public string? GetSecret(string name) => Secrets.TryGetValue(name, out var v) ? v as string : null;
    }

    /// <summary>Server-side filters a provider may push down. The engine re-applies every filter client-side, so a provider may ignore any of them.</summary>
    public sealed class WorkloadQuery
    {
        /// <summary>Name patterns (PowerShell wildcards, case-insensitive). Push to the server only where no match can be lost.</summary>
        public IReadOnlyList<string>? NamePatterns { get; set; }
        /// <summary>Native ids wanted (exact).</summary>
        public IReadOnlyList<string>? NativeIds { get; set; }
        /// <summary>States wanted. Deleted workloads are only listed when Deleted is among them.</summary>
        public IReadOnlyCollection<WorkloadState>? States { get; set; }
        /// <summary>Tags that must all match (value "*" = key present).</summary>
        public IReadOnlyDictionary<string, string>? Tags { get; set; }
        /// <summary>Suggested page size.</summary>
        public int PageSize { get; set; } = 1000;
    }

    public sealed class CreateWorkloadRequest
    {
        public string Name { get; set; } = "";
        public string? Size { get; set; }
        public int? CpuCount { get; set; }
        public long? MemoryMB { get; set; }
        public string? Image { get; set; }
        /// <summary>Host (or cluster/resource pool/zone) to place on; null = the provider (or engine) chooses.</summary>
        public string? TargetHost { get; set; }
        public IDictionary<string, string> Tags { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        /// <summary>Provider-specific extras (network, subnet, datastore, admin user...). Non-secret; journaled.</summary>
        public IDictionary<string, string> Options { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        /// <summary>Secrets for the create (admin password, SSH key): never journaled.</summary>
        public IDictionary<string, object> Secrets { get; set; } = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
        /// <summary>Never empty: the engine sets it (user's -IdempotencyKey, else datacenter+name). A provider must not create twice for one key (ClientToken, a tag, a lookup).</summary>
        public string IdempotencyKey { get; set; } = "";
        /// <summary>Start the workload after creating it (default true).</summary>
        public bool PowerOn { get; set; } = true;
        /// <summary>Create even if a workload of this name exists in the datacenter (only where the provider allows duplicates: GridCapabilities.DuplicateNames).</summary>
        public bool AllowDuplicateName { get; set; }
        /// <summary>
        /// The company that uses and pays for the workload (New-GridWorkload -Owner); null = the datacenter's owner.
        /// The engine checks it against agreements and keeps it as the workload's Owner tag.
        /// </summary>
        public string? Owner { get; set; }
    }

    public sealed class ResizeRequest
    {
        public string? Size { get; set; }
        public int? CpuCount { get; set; }
        public long? MemoryMB { get; set; }
        /// <summary>The user allowed a stop/start if the provider needs one for this resize.</summary>
        public bool AllowRestart { get; set; }
    }

    public sealed class GridProgress
    {
        public GridProgress(string activity, string status, int percent = -1) { Activity = activity; Status = status; PercentComplete = percent; }
        public string Activity { get; }
        public string Status { get; }
        /// <summary>0..100, or -1 when unknown.</summary>
        public int PercentComplete { get; }
        /// <summary>Bytes done of a transfer (a disk export or import; for a move between datacenters: of the whole workload), or -1 when none.</summary>
        public long BytesDone { get; set; } = -1;
        /// <summary>The transfer's total bytes, or -1 when unknown.</summary>
        public long BytesTotal { get; set; } = -1;
    }

    /// <summary>
    /// The journal entry of the change being made, handed to every changing provider call. Multi-step providers
    /// record a checkpoint BEFORE each step acts; on resume, the same scope carries the checkpoints already recorded.
    /// </summary>
    public interface IOperationScope
    {
        Guid OperationId { get; }
        /// <summary>Stable across retries and resumes of the same logical change (a create's ClientToken derives from it).</summary>
        string IdempotencyKey { get; }
        /// <summary>True when this is a Resume-GridOperation of an interrupted operation.</summary>
        bool IsResume { get; }
        /// <summary>Checkpoints recorded so far (including by an earlier, interrupted run).</summary>
        IReadOnlyDictionary<string, string> Checkpoints { get; }
        /// <summary>Durably records a checkpoint (write-ahead) before the step it names acts. Overwrites the same key.</summary>
        void Checkpoint(string key, string value);
        void Report(GridProgress progress);
    }
}
