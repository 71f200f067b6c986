using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Moves
{
    public enum MoveMethod
    {
        /// <summary>The workload keeps running throughout.</summary>
        Live = 0,
        /// <summary>Memory saved, moved and restored: a pause, no guest reboot.</summary>
        SaveRestore,
        /// <summary>Stopped, disks copied as they are (same format on both sides), started again.</summary>
        Cold,
        /// <summary>Stopped, disks exported, converted to the destination's format and imported, started again.</summary>
        DiskImport,
    }

    public enum MoveSeverity
    {
        Warning = 0,
        /// <summary>Move-GridWorkload refuses before anything is changed.</summary>
        Error,
    }

    /// <summary>One reason a move cannot happen (Error) or needs attention (Warning). Codes are stable.</summary>
    public sealed class MoveIncompatibility
    {
        public MoveIncompatibility(MoveSeverity severity, string code, string message) { Severity = severity; Code = code; Message = message; }
        public MoveSeverity Severity { get; }
        /// <summary>NoMatchingSize, DiskTooLarge, FirmwareMismatch, UnsupportedDiskFormat, DiskConverterMissing,
        /// InsufficientTempSpace, DestinationOptionMissing, DestinationHostNotFound, GuestFixupNeeded, NoLivePath; Test-GridMove's
        /// agreement checks (NoAgreement, AgreementQuotaExceeded); and what a
        /// destination's IImportPreflight finds (AWS: AwsVmImportRoleMissing, VmImportRoleNotChecked, AwsImportBucketNotFound, ImportBucketNotChecked).</summary>
        public string Code { get; }
        /// <summary>What is wrong and what to do.</summary>
        public string Message { get; }
        public override string ToString() => Severity + " " + Code + ": " + Message;
    }

    /// <summary>One disk's way from the source to the destination.</summary>
    public sealed class MoveDiskPlan
    {
        public string Name { get; set; } = "";
        public string? NativeId { get; set; }
        public long CapacityBytes { get; set; }
        public long TransferBytes { get; set; }
        /// <summary>Source format → intermediate (if any) → destination format.</summary>
        public IList<Transport.DiskFormat> Path { get; set; } = new List<Transport.DiskFormat>();
        public bool NeedsConversion { get; set; }
        public override string ToString() => Name + ": " + string.Join(" -> ", Path);
    }

    /// <summary>What Test-GridMove says about moving one workload to another datacenter. Nothing is changed to make it.</summary>
    public sealed class GridMoveReport
    {
        /// <summary>The source workload's id.</summary>
        public string Source { get; set; } = "";
        public string Name { get; set; } = "";
        public string SourceDatacenter { get; set; } = "";
        /// <summary>The destination datacenter (and host, when one was asked for): "dc" or "dc/host".</summary>
        public string Destination { get; set; } = "";
        public string DestinationDatacenter { get; set; } = "";
        public string? DestinationHost { get; set; }
        public MoveMethod Method { get; set; }
        /// <summary>Every disk's format path, e.g. "Qcow2 -> Raw -> VmdkStreamOptimized".</summary>
        public IList<MoveDiskPlan> Disks { get; set; } = new List<MoveDiskPlan>();
        /// <summary>The first (OS) disk's path as text, for the table view.</summary>
        public string DiskPath => Disks.Count == 0 ? "" : string.Join(" -> ", Disks[0].Path) + (Disks.Count > 1 ? " (+" + (Disks.Count - 1) + ")" : "");
        /// <summary>The destination size chosen; null where the destination takes any CPU/memory shape.</summary>
        public string? Size { get; set; }
        public int? CpuCount { get; set; }
        public long? MemoryMB { get; set; }
        /// <summary>Why that size: "-Size", "smallest that fits 2 CPU / 4096 MB", "same CPU and memory".</summary>
        public string SizeReason { get; set; } = "";
        public long BytesToTransfer { get; set; }
        /// <summary>Estimated time the workload is not running (zero for Live).</summary>
        public TimeSpan EstimatedDowntime { get; set; }
        /// <summary>How the estimate was made (bandwidth used).</summary>
        public string DowntimeBasis { get; set; } = "";
        public decimal? SourcePricePerHour { get; set; }
        public decimal? DestinationPricePerHour { get; set; }
        public string? Currency { get; set; }
        /// <summary>The destination settings the move would use (from -Option, else the registration's settings).</summary>
        public IDictionary<string, string> Options { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        public IList<MoveIncompatibility> Incompatibilities { get; set; } = new List<MoveIncompatibility>();
        /// <summary>True when no incompatibility is an Error.</summary>
        public bool CanMove => !Incompatibilities.Any(i => i.Severity == MoveSeverity.Error);
        public bool WasRunning { get; set; }
        public override string ToString() => Source + " -> " + Destination;
    }
}
