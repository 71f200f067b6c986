using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using static GridAutomation.Providers.Simulator.SimulatorCatalog;

namespace GridAutomation.Providers.Simulator
{
    /// <summary>
    /// A crash-consistent copy of a running simulated workload's disks (replication, issue 17): virtual like
    /// <see cref="IDiskTransfer.ExportDiskAsync"/> (size + content hash, time by -BandwidthMBps), but the workload keeps
    /// running: its state is never touched. A workload that is not running is refused (the core exports stopped ones).
    /// </summary>
    public sealed partial class SimulatorConnection : IRunningDiskExport
    {
        public async Task<IReadOnlyList<DiskImage>> ExportRunningDisksAsync(string nativeId, IReadOnlyList<MoveDisk> disks, string tempFolder, IOperationScope scope, CancellationToken cancellationToken)
        {
            await EnterAsync("ExportRunningDisks", cancellationToken).ConfigureAwait(false);
            var row = Read(c => SimulatorData.FindByNativeId(c, _dc, nativeId ?? "")) ?? throw WorkloadNotFound(nativeId);
            if (row.State != PoweredOn)
                throw GridException.Conflict($"'{row.Name}' is {row.State}: a running copy is taken of a running workload.", "WorkloadNotRunning", nativeId);
            long bytes = (long)(row.DiskGB * 1024 * 1024 * 1024);
            var images = new List<DiskImage>();
            foreach (var d in disks)
            {
                await TransferAsync(bytes, "Copy running " + d.Name, scope, cancellationToken).ConfigureAwait(false);
                images.Add(new DiskImage { Name = d.Name, Format = DiskFormat.Virtual, CapacityBytes = bytes, ContentHash = HashOf(row.NativeId) });
            }
            return images;
        }
    }
}
