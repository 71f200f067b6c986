// The stand-in's copies of the Hyper-V module's output types, shaped like Microsoft's: namespace, type names, enum
// names and values, property names and types. Sources (Microsoft documentation):
//  - VMState enum, Microsoft.HyperV.PowerShell: https://learn.microsoft.com/en-us/dotnet/api/microsoft.hyperv.powershell.vmstate
//    (names and numbers: Other 1, Running 2, Off 3, Stopping 4, Saved 6, Paused 9, Starting 10, Reset 11,
//     Saving 32773, Pausing 32776, Resuming 32777, FastSaved 32779, FastSaving 32780, ForceShutdown 32781,
//     ForceReboot 32782, Hibernated 32783, ComponentServicing 32784, RunningCritical 32785 ... FastSavingCritical 32796)
//  - Get-VM output (Microsoft.HyperV.PowerShell.VirtualMachine) and its properties as shown by
//    `Get-VM | Format-List *` in https://learn.microsoft.com/en-us/powershell/module/hyper-v/get-vm
//  - Get-VMHost (Microsoft.HyperV.PowerShell.VMHost): https://learn.microsoft.com/en-us/powershell/module/hyper-v/get-vmhost
//  - Compare-VM (Microsoft.HyperV.PowerShell.VMCompatibilityReport, .Incompatibilities of VMCompatibilityError with
//    Message / MessageId / Source): https://learn.microsoft.com/en-us/powershell/module/hyper-v/compare-vm
//  - Get-VHD (Microsoft.Vhd.PowerShell.VirtualHardDisk; VhdFormat VHD 2 / VHDX 3 / VHDSet 4, VhdType Fixed 2 /
//    Dynamic 3 / Differencing 4, as Msvm_VirtualHardDiskSettingData's Format and Type):
//    https://learn.microsoft.com/en-us/powershell/module/hyper-v/get-vhd and
//    https://learn.microsoft.com/en-us/windows/win32/hyperv_v2/msvm-virtualharddisksettingdata
// Only the members the provider (and an admin reading the objects) uses are modelled. Nothing here ever ran against
// a real Hyper-V host; see docs/providers/hyperv.md.
using System;

namespace Microsoft.HyperV.PowerShell
{
    public enum VMState
    {
        Other = 1, Running = 2, Off = 3, Stopping = 4, Saved = 6, Paused = 9, Starting = 10, Reset = 11,
        Saving = 32773, Pausing = 32776, Resuming = 32777, FastSaved = 32779, FastSaving = 32780,
        ForceShutdown = 32781, ForceReboot = 32782, Hibernated = 32783, ComponentServicing = 32784,
        RunningCritical = 32785, OffCritical = 32786, StoppingCritical = 32787, SavedCritical = 32788,
        PausedCritical = 32789, StartingCritical = 32790, ResetCritical = 32791, SavingCritical = 32792,
        PausingCritical = 32793, ResumingCritical = 32794, FastSavedCritical = 32795, FastSavingCritical = 32796,
    }

    public enum ControllerType { IDE = 0, SCSI = 1, PMEM = 2 }

    public class HardDiskDrive
    {
        public string Name { get; set; }
        public string Path { get; set; }
        public ControllerType ControllerType { get; set; }
        public int ControllerNumber { get; set; }
        public int ControllerLocation { get; set; }
        public string VMName { get; set; }
        public Guid VMId { get; set; }
        public string ComputerName { get; set; }
        public override string ToString() => "HardDiskDrive (Name = '" + Name + "') VMName = '" + VMName + "'";
    }

    public class VMNetworkAdapter
    {
        public string Name { get; set; }
        public string SwitchName { get; set; }
        public string MacAddress { get; set; }
        public string[] IPAddresses { get; set; }
        public string VMName { get; set; }
        public Guid VMId { get; set; }
        public override string ToString() => "VMNetworkAdapter (Name = '" + Name + "', VMName = '" + VMName + "')";
    }

    public class VirtualMachine
    {
        public string Name { get; set; }
        public Guid Id { get; set; }
        public Guid VMId { get; set; }
        public string VMName { get; set; }
        public VMState State { get; set; }
        public string Status { get; set; }
        public int CPUUsage { get; set; }
        public long ProcessorCount { get; set; }
        public long MemoryStartup { get; set; }
        public long MemoryAssigned { get; set; }
        public long MemoryMinimum { get; set; }
        public long MemoryMaximum { get; set; }
        public bool DynamicMemoryEnabled { get; set; }
        public TimeSpan Uptime { get; set; }
        public string ComputerName { get; set; }
        public int Generation { get; set; }
        public string Version { get; set; }
        public string Notes { get; set; }
        public DateTime CreationTime { get; set; }
        public string Path { get; set; }
        public string ConfigurationLocation { get; set; }
        public bool IsClustered { get; set; }
        public HardDiskDrive[] HardDrives { get; set; }
        public VMNetworkAdapter[] NetworkAdapters { get; set; }
        public override string ToString() => "VirtualMachine (Name = '" + Name + "') [Id = '" + Id + "']";
    }

    public class VMHost
    {
        public string Name { get; set; }
        public string ComputerName { get; set; }
        public string FullyQualifiedDomainName { get; set; }
        public int LogicalProcessorCount { get; set; }
        public long MemoryCapacity { get; set; }
        public string VirtualHardDiskPath { get; set; }
        public string VirtualMachinePath { get; set; }
        public bool VirtualMachineMigrationEnabled { get; set; }
        public override string ToString() => "VMHost (ComputerName = '" + ComputerName + "')";
    }

    public class VMCompatibilityError
    {
        public string Message { get; set; }
        public long MessageId { get; set; }
        public object Source { get; set; }
    }

    public class VMCompatibilityReport
    {
        public VirtualMachine VM { get; set; }
        public string OperationType { get; set; }
        public string Destination { get; set; }
        public string Path { get; set; }
        public string VhdDestinationPath { get; set; }
        public VMCompatibilityError[] Incompatibilities { get; set; }
    }
}

namespace Microsoft.Vhd.PowerShell
{
    public enum VhdFormat { Unknown = 0, VHD = 2, VHDX = 3, VHDSet = 4 }

    public enum VhdType { Unknown = 0, Fixed = 2, Dynamic = 3, Differencing = 4 }

    public class VirtualHardDisk
    {
        public string ComputerName { get; set; }
        public string Path { get; set; }
        public VhdFormat VhdFormat { get; set; }
        public VhdType VhdType { get; set; }
        public ulong FileSize { get; set; }
        public ulong Size { get; set; }
        public ulong MinimumSize { get; set; }
        public uint LogicalSectorSize { get; set; }
        public uint PhysicalSectorSize { get; set; }
        public uint BlockSize { get; set; }
        public string ParentPath { get; set; }
        public string DiskIdentifier { get; set; }
        public bool Attached { get; set; }
        public override string ToString() => "Microsoft.Vhd.PowerShell.VirtualHardDisk";
    }
}
