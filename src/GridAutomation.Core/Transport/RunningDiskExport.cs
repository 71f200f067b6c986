using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Core.Transport
{
    /// <summary>
    /// Optional interface of a connection that can copy the disks of a RUNNING workload as they were at one instant
    /// (crash-consistent: what a power cut would leave), while the workload keeps running. Replication (issue 17)
    /// takes its recovery points with it; a provider without it protects only stopped workloads and says so.
    /// Like <see cref="IDiskTransfer"/>, the copy is staged as files in <c>tempFolder</c> (virtual disks: no Path) and
    /// every call is idempotent under the same <see cref="Providers.IOperationScope.IdempotencyKey"/>: a resumed call
    /// finds or repeats what an interrupted one began, and leaves no snapshot, overlay or backup job behind on the host.
    /// </summary>
    public interface IRunningDiskExport
    {
        /// <summary>Exports every disk of <paramref name="disks"/> (from <see cref="IDiskTransport.DescribeAsync"/>) at one instant, in their order.</summary>
        Task<IReadOnlyList<DiskImage>> ExportRunningDisksAsync(string nativeId, IReadOnlyList<MoveDisk> disks, string tempFolder, Providers.IOperationScope scope, CancellationToken cancellationToken);
    }
}
