using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Core.Transport
{
    /// <summary>Disk image formats a provider can hand out or take in. Names are qemu-img's where qemu-img reads them.</summary>
    public enum DiskFormat
    {
        /// <summary>The simulator's virtual disks (size + content hash): only another simulator takes them.</summary>
        Virtual = 0,
        Raw,
        Qcow2,
        /// <summary>VMDK, monolithicSparse subformat.</summary>
        VmdkMonolithicSparse,
        /// <summary>VMDK, streamOptimized subformat (what an OVF/NFC upload needs).</summary>
        VmdkStreamOptimized,
        /// <summary>VHD, fixed subformat (qemu-img "vpc" with subformat=fixed).</summary>
        VhdFixed,
        Vhdx,
    }

    /// <summary>One disk of a workload as the transport sees it.</summary>
    public sealed class MoveDisk
    {
        public string Name { get; set; } = "";
        /// <summary>Provider id or path of the disk.</summary>
        public string? NativeId { get; set; }
        public DiskFormat Format { get; set; }
        /// <summary>Virtual size in bytes (what the destination must hold).</summary>
        public long CapacityBytes { get; set; }
        /// <summary>Bytes that cross the wire (allocated size where known, else the capacity).</summary>
        public long TransferBytes { get; set; }
        public bool IsOsDisk { get; set; }
    }

    /// <summary>What a source workload brings to a move, as its provider describes it.</summary>
    public sealed class MoveSourceInfo
    {
        public IList<MoveDisk> Disks { get; set; } = new List<MoveDisk>();
        /// <summary>Why the source's platform does not let this workload's disks out (AWS exports only imported instances); null when it does. Test-GridMove reports it as ExportNotAllowed.</summary>
        public string? ExportRefusal { get; set; }
        /// <summary>The stable code Test-GridMove reports <see cref="ExportRefusal"/> under; null = ExportNotAllowed. One of <see cref="Moves.MovePlanner.ExportRefusalCodes"/>.</summary>
        public string? ExportRefusalCode { get; set; }
        /// <summary>"bios" or "uefi" (lower case); null when unknown.</summary>
        public string? Firmware { get; set; }
    }

    /// <summary>
    /// Optional interface of an <see cref="Providers.IGridConnection"/> that takes part in moves between datacenters:
    /// it declares the disk formats it reads and writes and describes a workload's disks. A connection without it
    /// cannot be a source or a destination of a disk move (Test-GridMove reports UnsupportedDiskFormat).
    /// Keep each provider's implementation in its own file.
    /// </summary>
    public interface IDiskTransport
    {
        /// <summary>Formats this datacenter can export a disk as, the cheapest (native) first.</summary>
        IReadOnlyList<DiskFormat> ExportFormats { get; }
        /// <summary>Formats this datacenter can import a disk from, the preferred first.</summary>
        IReadOnlyList<DiskFormat> ImportFormats { get; }
        /// <summary>Largest disk (capacity, bytes) the destination accepts; null = no limit known.</summary>
        long? MaxDiskBytes { get; }
        /// <summary>Firmware the destination can boot ("bios", "uefi").</summary>
        IReadOnlyList<string> SupportedFirmware { get; }
        /// <summary>Destination settings a create needs (e.g. "Network", "Datastore"): from -Option, else the registration's settings.</summary>
        IReadOnlyList<string> RequiredOptions { get; }
        /// <summary>Transfer rate into/out of this datacenter in bytes per second, where known (the simulator's setting); null = unknown.</summary>
        long? BandwidthBytesPerSecond { get; }
        /// <summary>The disks and firmware of one workload (reads only).</summary>
        Task<MoveSourceInfo> DescribeAsync(string nativeId, CancellationToken cancellationToken);
    }
}

namespace GridAutomation.Core.Transport
{
    /// <summary>A disk on its way: where the exported bytes are (a file in the temp folder) or, for virtual disks, their description.</summary>
    public sealed class DiskImage
    {
        public string Name { get; set; } = "";
        public DiskFormat Format { get; set; }
        public long CapacityBytes { get; set; }
        /// <summary>The staged file (null for virtual disks).</summary>
        public string? Path { get; set; }
        /// <summary>Hash of the disk's content (SHA-256 hex), compared after every step that copies it.</summary>
        public string ContentHash { get; set; } = "";
        /// <summary>
        /// SHA-256 of the disk's guest-visible content (the raw bytes of its virtual size), where the core knows it:
        /// the hash a raw image's file has, or what the convert step computed for another format. A destination that
        /// hashes the guest's view instead of its file (vSphere, Azure) is checked against this one. Null when unknown
        /// (a move journaled before it existed, or an image no conversion touched that is not raw).
        /// </summary>
        public string? GuestContentHash { get; set; }
        /// <summary>"bios" or "uefi" where the exporter knows the source's firmware (an importer that must choose a VM generation reads it: Azure BIOS → Gen1); null when unknown.</summary>
        public string? Firmware { get; set; }
        /// <summary>The move's destination options (-Option over the destination's MoveDefaults), set by the orchestrator just before an import: an importer that needs a place of its own (AWS: ImportBucket) reads it here. Not part of the checkpointed image.</summary>
        [System.Text.Json.Serialization.JsonIgnore]
        public IDictionary<string, string>? Options { get; set; }
        /// <summary>The destination host the moved workload is created on (-DestinationHost), set by the orchestrator just before an import: a multi-host destination imports into that host's storage (libvirt: its pool). Null lets the destination choose. Not part of the checkpointed image.</summary>
        [System.Text.Json.Serialization.JsonIgnore]
        public string? DestinationHost { get; set; }
    }

    /// <summary>
    /// Optional interface of a connection that can really move disk content (beyond <see cref="IDiskTransport"/>'s
    /// declarations): export a stopped workload's disk, import it so a create can use it, and hash a workload's disk.
    /// Every call is idempotent (a resumed move repeats the step it was in).
    /// </summary>
    public interface IDiskTransfer
    {
        Task<DiskImage> ExportDiskAsync(string nativeId, MoveDisk disk, string tempFolder, Providers.IOperationScope scope, CancellationToken cancellationToken);
        /// <summary>Imports the image; returns the reference a create takes in its Options["ImportedDisk"].</summary>
        Task<string> ImportDiskAsync(DiskImage image, string key, Providers.IOperationScope scope, CancellationToken cancellationToken);
        /// <summary>The content hash of a workload's disk (by index), to verify the copy.</summary>
        Task<string> HashDiskAsync(string nativeId, int index, CancellationToken cancellationToken);
    }

    /// <summary>
    /// Optional interface of a destination that can check an imported disk more cheaply when it knows what was
    /// imported: when the file it keeps is byte for byte the imported image file (vSphere behind our simulator keeps the
    /// uploaded streamOptimized VMDK), a hash of those bytes as they are read back proves the copy without inflating it;
    /// when it rewrote the file (a real vCenter stores a flat extent) it hashes the guest-visible content instead. The
    /// result is compared like <see cref="IDiskTransfer.HashDiskAsync"/>'s: with the image's ContentHash (the file) or
    /// its GuestContentHash (the guest's bytes), and verify-destination records which one matched.
    /// </summary>
    public interface IImportedDiskHash
    {
        /// <summary>The hash of a workload's disk (by index): <paramref name="imported"/>'s ContentHash when the disk's file is those bytes, else its guest content's hash.</summary>
        Task<string> HashImportedDiskAsync(string nativeId, int index, DiskImage imported, CancellationToken cancellationToken);
    }

    /// <summary>Option names of a create from an imported disk (<see cref="IDiskTransfer.ImportDiskAsync"/>'s reference).</summary>
    public static class ImportedDiskOptions
    {
        /// <summary>Options["ImportedDisk"]: the reference the import returned.</summary>
        public const string Reference = "ImportedDisk";
        /// <summary>
        /// Options["ImportedDiskTakeOver"] = "true": the disk was imported for this very workload (a move's create),
        /// which runs on it and takes it away when removed with its storage. Without it, a provider whose imported
        /// disk stays a resource of its own (libvirt: a pool volume) gives the workload its own copy, so the imported
        /// disk (a recovery point, still recorded) is neither changed by the guest nor deleted with the workload.
        /// </summary>
        public const string TakeOver = "ImportedDiskTakeOver";
    }

    /// <summary>
    /// Optional interface of a destination whose imported disk is a resource of its own until a create takes it
    /// (a libvirt pool volume, Azure's managed disk): on roll-back the core asks it to remove what this operation
    /// imported and no workload took. The provider finds it by the operation's key or the checkpoints it wrote
    /// before it made anything, so an import whose result was never recorded is found too. A disk a created workload
    /// already took goes with that workload (removed first). Kept apart from IDiskTransfer so that interface's shape
    /// stays the same for providers without such storage.
    /// </summary>
    public interface IDiskImportCleanup
    {
        Task DiscardImportsAsync(Providers.IOperationScope scope, CancellationToken cancellationToken);
    }

    /// <summary>
    /// Optional interface of a move SOURCE whose export leaves things of its own outside the staging folder until
    /// the export step finishes (AWS: an image of the instance, an export task, an S3 object): on roll-back the core
    /// asks it to remove what this operation's export made, found by the checkpoints it wrote before making them.
    /// </summary>
    public interface IDiskExportCleanup
    {
        Task DiscardExportsAsync(Providers.IOperationScope scope, CancellationToken cancellationToken);
    }
}
