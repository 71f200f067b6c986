using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;

namespace GridAutomation.Core.Moves
{
    /// <summary>What a move between datacenters is asked to do (Test-GridMove / Move-GridWorkload -DestinationDatacenter).</summary>
    public sealed class MoveRequest
    {
        public string DestinationDatacenter { get; set; } = "";
        public string? DestinationHost { get; set; }
        public string? Size { get; set; }
        /// <summary>Destination settings (Network, Datastore...): non-secret.</summary>
        public IDictionary<string, string> Options { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        /// <summary>The stop step powers the source off instead of asking the guest to shut down (a guest without ACPI, e.g. the test's boot-sector guest).</summary>
        public bool TurnOff { get; set; }
    }

    /// <summary>
    /// The grid service for moves between datacenters. <see cref="TestAsync"/> gathers what both datacenters say
    /// (reads only: sizes, hosts, the source's disks, the converter, the temp folder's free space) and lets
    /// <see cref="MovePlanner"/> decide. It never journals and never changes anything.
    /// </summary>
    public sealed class MoveService
    {
        private readonly GridEngine _engine;
        public MoveService(GridEngine engine) { _engine = engine; }

        /// <summary>Bad input that is no report but an error: unknown destination, destination = source.</summary>
        public GridDatacenter ValidateDestination(GridWorkload workload, MoveRequest request)
        {
            if (string.IsNullOrWhiteSpace(request.DestinationDatacenter))
                throw GridException.InvalidRequest("-DestinationDatacenter is empty.", "InvalidMoveRequest", workload.Id);
            var dst = _engine.GetDatacenter(request.DestinationDatacenter); // DatacenterNotFound
            if (string.Equals(dst.Name, workload.Datacenter, StringComparison.OrdinalIgnoreCase))
                throw GridException.InvalidRequest(
                    $"'{workload.Name}' is already in datacenter '{dst.Name}': to move it to another host there, use Move-GridWorkload -DestinationHost without -DestinationDatacenter.",
                    "MoveSameDatacenter", workload.Id);
            return dst;
        }

        /// <summary>The report. <paramref name="checkAdmission"/> (Test-GridMove) adds the destination's agreement checks as
        /// errors (NoAgreement, AgreementQuotaExceeded), read-only; a move runs the real admission, which reserves.</summary>
        public async Task<GridMoveReport> TestAsync(GridWorkload workload, MoveRequest request, IEngineObserver observer, CancellationToken ct, bool checkAdmission = false)
        {
            var dstDc = ValidateDestination(workload, request);
            var srcDc = _engine.GetDatacenter(workload.Datacenter);
            var srcConn = await _engine.GetConnectionAsync(srcDc.Name, observer, ct).ConfigureAwait(false);
            var dstConn = await _engine.GetConnectionAsync(dstDc.Name, observer, ct).ConfigureAwait(false);
            // the workload as it is now (it may have changed or vanished since it was listed)
            var current = await Call(() => srcConn.GetWorkloadAsync(workload.NativeId, ct), workload.Id).ConfigureAwait(false);
            if (string.IsNullOrEmpty(current.Id)) current.Id = workload.Id;

            var srcT = srcConn as IDiskTransport;
            var dstT = dstConn as IDiskTransport;
            var input = new MovePlanInput
            {
                Workload = current, Source = srcDc, Destination = dstDc,
                SourceTransport = srcT, DestinationTransport = dstT,
                SourceCanTransfer = srcConn is IDiskTransfer, DestinationCanTransfer = dstConn is IDiskTransfer,
                SourceInfo = srcT == null ? null : await Call(() => srcT.DescribeAsync(current.NativeId, ct), workload.Id).ConfigureAwait(false),
                SourceSizes = await Call(() => srcConn.ListSizesAsync(ct), srcDc.Name).ConfigureAwait(false),
                DestinationSizes = await Call(() => dstConn.ListSizesAsync(ct), dstDc.Name).ConfigureAwait(false),
                DestinationHosts = await Call(() => dstConn.ListHostsAsync(ct), dstDc.Name).ConfigureAwait(false),
                DestinationHost = request.DestinationHost,
                Size = request.Size,
                Options = request.Options,
                ConverterPath = DiskConverter.Locate(),
                TempFolder = DiskConverter.TempFolder(),
            };
            input.TempFreeBytes = DiskConverter.FreeBytes(input.TempFolder);
            var report = MovePlanner.Plan(input);
            // Account-side prerequisites of the destination, read-only, with the options the plan settled on.
            if (dstConn is IImportPreflight preflight && dstConn is IDiskTransfer && report.Disks.Count > 0)
            {
                var options = new Dictionary<string, string>(report.Options, StringComparer.OrdinalIgnoreCase);
                var found = await Call(() => preflight.CheckImportAsync(options, ct), dstDc.Name).ConfigureAwait(false);
                foreach (var issue in found) report.Incompatibilities.Add(issue);
            }
            if (checkAdmission)
            {
                try { await _engine.AdmitMoveAsync(dstDc, workload, report.CpuCount, report.MemoryMB, observer, ct, dryRun: true).ConfigureAwait(false); }
                catch (GridException ex) when (ex.ErrorId == "NoAgreement" || ex.ErrorId == "AgreementQuotaExceeded")
                {
                    report.Incompatibilities.Add(new MoveIncompatibility(MoveSeverity.Error, ex.ErrorId!, ex.Message));
                }
            }
            return report;
        }

        private static async Task<T> Call<T>(Func<Task<T>> f, object target)
        {
            try { return await f().ConfigureAwait(false); }
            catch (GridException) { throw; }
            catch (OperationCanceledException) { throw; }
            catch (Exception ex) { throw GridEngine.Normalize(ex, target); }
        }
    }
}
