using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;
using Xunit;
using Xunit.Abstractions;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// A move into a MULTI-HOST libvirt datacenter (lv-ab spans both daemons of <see cref="DaemonPair"/>) with
    /// -DestinationHost: the disk enters the chosen host's pool and the workload is defined there, even when the
    /// destination's own choice (most free memory) would be the other host; Test-GridMove reports the host; an
    /// unknown host is refused before anything is journaled.
    /// </summary>
    [Collection(DaemonCollection.Name)]
    public sealed class DatacenterMoveHostTests : IDisposable
    {
        private readonly DaemonPair _pair;
        private readonly ITestOutputHelper _out;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-dchost-" + Guid.NewGuid().ToString("N").Substring(0, 8));
        private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

        public DatacenterMoveHostTests(DaemonPair pair, ITestOutputHelper output)
        {
            _pair = pair; _out = output;
            Directory.CreateDirectory(Path.Combine(_dir, "staging"));
        }

        public void Dispose()
        {
            GridEngine.Reset();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token;

        private static int Virsh(params string[] args)
        {
            var psi = new ProcessStartInfo("virsh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.StandardOutput.ReadToEnd(); p.StandardError.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode;
        }

        private static string Sha(string path)
        {
            using var fs = File.OpenRead(path);
            return Convert.ToHexString(SHA256.HashData(fs));
        }

        [DaemonFact]
        public async Task Move_WithDestinationHost_ImportsIntoThatHostsPool_AndCreatesThere_UnknownHostRefusedBeforeJournal()
        {
            _pair.Require();
            Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", Path.Combine(_dir, "staging"));
            var engine = DatacenterMoveTests.Engine(Path.Combine(_dir, "state.db"));
            await engine.ConnectDatacenterAsync("Libvirt", "lv-a", "Contoso", null, new Dictionary<string, string> { ["Uri"] = _pair.UriA }, new Dictionary<string, object>(), NullObserver.Instance, Ct());
            var ab = await engine.ConnectDatacenterAsync("Libvirt", "lv-ab", "Contoso", null, new Dictionary<string, string> { ["Uri"] = _pair.UriA + "\n" + _pair.UriB }, new Dictionary<string, object>(), NullObserver.Instance, Ct());
            Assert.Equal(ConnectionStatus.Connected, ab.Status);

            var req = new CreateWorkloadRequest { Name = "dch1", Image = DaemonPair.ImageName, Size = "micro" };
            req.Options["DiskBus"] = "ide";
            req.Options["SerialLog"] = Path.Combine(_pair.SerialDir, "dch1.a.log");
            var w = await engine.CreateWorkloadAsync("lv-a", req, null, NullObserver.Instance, Ct());
            var volsA = DatacenterMoveTests.Volumes(_pair.UriA);
            var volsB = DatacenterMoveTests.Volumes(_pair.UriB);

            // kvm-b holds a running 1 GiB domain (no disk: it idles in the firmware), so lv-ab's own choice would be kvm-a
            string ballastXml = Path.Combine(_dir, "ballast.xml");
            File.WriteAllText(ballastXml, "<domain type='qemu'><name>dch-ballast</name><memory unit='MiB'>1024</memory><os><type>hvm</type></os><devices/></domain>");
            Assert.Equal(0, Virsh("-q", "-c", _pair.UriB, "define", ballastXml));
            try
            {
                Assert.Equal(0, Virsh("-q", "-c", _pair.UriB, "start", "dch-ballast"));

                // Test-GridMove names the host; an unknown one is an error of the report ...
                string serialB = Path.Combine(_pair.SerialDir, "dch1.b.log");
                var to = DatacenterMoveTests.To("lv-ab", serialB);
                to.DestinationHost = "kvm-b";
                var report = await new MoveService(engine).TestAsync(w, to, NullObserver.Instance, Ct());
                Assert.True(report.CanMove, string.Join("; ", report.Incompatibilities.Select(i => i.Code + ": " + i.Message)));
                Assert.Equal("kvm-b", report.DestinationHost);
                Assert.Equal("lv-ab/kvm-b", report.Destination);
                var bad = DatacenterMoveTests.To("lv-ab", serialB);
                bad.DestinationHost = "kvm-z";
                var badReport = await new MoveService(engine).TestAsync(w, bad, NullObserver.Instance, Ct());
                Assert.Contains(badReport.Incompatibilities, i => i.Code == "DestinationHostNotFound" && i.Severity == MoveSeverity.Error && i.Message.Contains("kvm-a"));

                // ... which Move refuses before anything is journaled or touched
                var refused = await Assert.ThrowsAsync<GridException>(() => new MoveOrchestrator(engine).MoveAsync(w, bad, false, false, false, null, NullObserver.Instance, Ct()));
                Assert.Equal("MoveIncompatible", refused.ErrorId);
                Assert.Contains("DestinationHostNotFound", refused.Message);
                Assert.Empty(engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Where(o => o.Target == w.Id));
                Assert.Equal(WorkloadState.Running, (await engine.GetWorkloadAsync(w.Id, Ct())).State);

                var moved = await new MoveOrchestrator(engine).MoveAsync(w, to, false, false, false, null, NullObserver.Instance, Ct());
                Assert.StartsWith("lv-ab/", moved.Id);
                Assert.Equal("kvm-b", moved.Host);
                string disk = moved.Disks.Single().NativeId!;
                Assert.StartsWith(_pair.ImagesB + "/" + DatacenterMoveTests.LibvirtProviderPrefix, disk); // kvm-b's pool took the disk
                Assert.Equal(new[] { Path.GetFileName(disk) }, DatacenterMoveTests.Volumes(_pair.UriB).Except(volsB));
                Assert.Empty(DatacenterMoveTests.Volumes(_pair.UriA).Except(volsA));                     // nothing imported into kvm-a's
                Assert.Equal(Sha(w.Disks.Single().NativeId!), Sha(disk));
                Assert.Equal(WorkloadState.Running, moved.State);
                var counts = await EmbedLab.WaitForCounts(serialB, x => x.Count >= 3, Wait);
                Assert.Equal(Enumerable.Range(0, counts.Count), counts);
                var op = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Single(o => o.Target == w.Id);
                Assert.Equal(OperationState.Succeeded, op.State);
                Assert.Contains("kvm-b", op.Request);

                await engine.InvokeAsync(moved, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, Ct());
                foreach (var x in new[] { moved.Id, w.Id })
                    await engine.InvokeAsync(await engine.GetWorkloadAsync(x, Ct()), new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true }, null, NullObserver.Instance, Ct());
            }
            finally
            {
                Virsh("-q", "-c", _pair.UriB, "destroy", "dch-ballast");
                Virsh("-q", "-c", _pair.UriB, "undefine", "dch-ballast");
            }
        }
    }
}
