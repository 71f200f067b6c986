using System;
using System.IO;
using GridAutomation.Core.Model;
using GridAutomation.Providers.Libvirt.Native;

namespace GridAutomation.Providers.Libvirt
{
    /// <summary>
    /// What a save/restore move does to a host, by UUID (no handles cross this line), so the move engine can
    /// drive a host held by this process or one driven from elsewhere (libvirt binds ONE qemu:///embed root per
    /// process, so a second embed root can only be reached through another process).
    /// </summary>
    internal interface IMoveHost
    {
        string Name { get; }
        bool FileStorage { get; }
        bool IsTestDriver { get; }
        string? EmbedRoot { get; }
        string SaveDirectory { get; }
        string LogsDirectory { get; }
        string PlannedDiskPath(string volumeName);
        /// <summary>(defined, active, virDomainState) of the domain; (false, false, 0) when it is not defined here.</summary>
        (bool Defined, bool Active, int State) Probe(string uuid);
        void EnsureDisk(DiskMove disk);
        void DeleteDisk(string path);
        void Define(string xml);
        void Restore(string file, string? dxml);
        void Start(string uuid);
        void Resume(string uuid);
        void Suspend(string uuid);
        /// <summary>Undefines an inactive domain; refuses (Conflict) while it runs.</summary>
        void Undefine(string uuid);
    }

    /// <summary>A host of this process's connection.</summary>
    internal sealed class LocalMoveHost : IMoveHost
    {
        private readonly LibvirtHost _h;
        public LocalMoveHost(LibvirtHost h) { _h = h; }
        public LibvirtHost Host => _h;
        public string Name => _h.Name;
        public bool FileStorage => _h.FileStorage;
        public bool IsTestDriver => _h.IsTestDriver;
        public string? EmbedRoot => _h.EmbedRoot;
        public string SaveDirectory => _h.SaveDirectory;
        public string LogsDirectory => _h.LogsDirectory;
        public string PlannedDiskPath(string volumeName) => Images.PlannedDiskPath(_h, volumeName);

        public (bool Defined, bool Active, int State) Probe(string uuid)
        {
            using var d = Virt.LookupByUuid(_h.Conn, uuid);
            if (d == null) return (false, false, 0);
            return (true, Virt.IsActive(d), Virt.State(d).State);
        }

        private DomainHandle Get(string uuid) => Virt.LookupByUuid(_h.Conn, uuid)
            ?? throw GridException.NotFound($"Domain {uuid} is not defined on host {_h.Name}.", "WorkloadNotFound", uuid);

        public void EnsureDisk(DiskMove disk)
        {
            if (disk.Shared) return;
            if (_h.FileStorage)
            {
                if (!File.Exists(disk.TargetPath)) Images.CopyAtomically(disk.SourcePath, disk.TargetPath);
                return;
            }
            using var pool = Virt.LookupPool(_h.Conn, _h.ImagePool)
                ?? throw GridException.NotFound($"Storage pool '{_h.ImagePool}' does not exist on host '{_h.Name}'.", "StoragePoolNotFound", _h.ImagePool);
            var vol = Virt.LookupVolume(pool, disk.VolumeName!) ?? Virt.CreateVolume(pool, DomainXml.VolumeXml(disk.VolumeName!, disk.CapacityBytes, disk.Format));
            using (vol)
            {
                string actual = Virt.VolPath(vol);
                if (actual != disk.TargetPath)
                    throw GridException.Conflict($"Volume path on {_h.Name} is '{actual}', planned '{disk.TargetPath}'.", "MoveVolumePathMismatch", disk.VolumeName);
                // Local daemons: the volume is a real file, so carry the content.
                if (File.Exists(disk.SourcePath) && File.Exists(actual)) File.Copy(disk.SourcePath, actual, overwrite: true);
            }
        }

        public void DeleteDisk(string path) => Images.Delete(_h, path);
        public void Define(string xml) { using var _ = Virt.Define(_h.Conn, xml); }
        public void Restore(string file, string? dxml) => Virt.Restore(_h.Conn, file, dxml, file);
        public void Start(string uuid) { using var d = Get(uuid); Virt.Create(d, uuid); }
        public void Resume(string uuid) { using var d = Get(uuid); Virt.Resume(d, uuid); }
        public void Suspend(string uuid) { using var d = Get(uuid); Virt.Suspend(d, uuid); }

        public void Undefine(string uuid)
        {
            using var d = Virt.LookupByUuid(_h.Conn, uuid);
            if (d == null) return;
            if (Virt.IsActive(d)) throw GridException.Conflict($"Domain {uuid} runs on {_h.Name}: refusing to undefine it.", "MoveHostRunning", uuid);
            Virt.Undefine(d, uuid);
        }
    }
}
