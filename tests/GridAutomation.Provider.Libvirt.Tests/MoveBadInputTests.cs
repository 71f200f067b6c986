using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.State;
using Xunit;
using static GridAutomation.Provider.Libvirt.Tests.DatacenterMoveTests;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// Issue 13, "Tests that must exist" 5, the case that needs file disks: a temp folder without room for the disk.
    /// A running guest on kvm-a whose qcow2 disk declares 64 TiB (an empty, sparse image: a few hundred KiB on disk) is
    /// moved to kvm-b; no staging folder here has 64 TiB free, so Test-GridMove reports InsufficientTempSpace and Move
    /// refuses (MoveIncompatible) before anything is journaled: the guest keeps running, nothing appears at lv-b, the
    /// staging folder stays empty. (The other bad inputs: tests/pester/Move-GridWorkload.BadInput.Tests.ps1.)
    /// </summary>
    [Collection(DaemonCollection.Name)]
    public sealed class MoveBadInputTests : IDisposable
    {
        private readonly DaemonPair _pair;
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "ga-badmove-" + Guid.NewGuid().ToString("N").Substring(0, 8));

        public MoveBadInputTests(DaemonPair pair) { _pair = pair; Directory.CreateDirectory(Staging); }

        public void Dispose()
        {
            GridEngine.Reset();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        private string Staging => Path.Combine(_dir, "staging");

        [DaemonFact]
        public async Task Move_WhenTheTempFolderCannotHoldTheDisk_IsRefusedBeforeAnything_InsufficientTempSpace()
        {
            _pair.Require();
            Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", Staging);
            var engine = Engine(Path.Combine(_dir, "state.db"));
            await ConnectPairAsync(engine, _pair);
            const string image = "huge-64t.qcow2";
            string file = Path.Combine(_pair.ImagesA, image);
            if (!File.Exists(file))
            {
                Assert.Equal(0, Run("qemu-img", "create", "-q", "-f", "qcow2", file, "64T").Code);
                Run("virsh", "-q", "-c", _pair.UriA, "pool-refresh", "default");
            }
            long free = new DriveInfo(Staging).AvailableFreeSpace;
            Assert.True(free < 64L << 40, "this test needs a staging folder with less than 64 TiB free");
            var volsB = Volumes(_pair.UriB);
            var w = await Counter(engine, _pair, "huge1", image);
            Assert.Equal(WorkloadState.Running, w.State);

            var report = await new MoveService(engine).TestAsync(w, To("lv-b", "x"), NullObserver.Instance, Ct());
            var temp = Assert.Single(report.Incompatibilities, i => i.Code == "InsufficientTempSpace");
            Assert.Equal(MoveSeverity.Error, temp.Severity);
            Assert.Contains("GRIDAUTOMATION_MOVE_TEMP", temp.Message); // says what to do

            var ex = await Assert.ThrowsAsync<GridException>(() => new MoveOrchestrator(engine).MoveAsync(w, To("lv-b", "x"), false, false, false, null, NullObserver.Instance, Ct()));
            Assert.Equal("MoveIncompatible", ex.ErrorId);
            Assert.Contains("InsufficientTempSpace", ex.Message);
            // nothing changed: no operation, the guest still runs, nothing at lv-b, nothing staged
            Assert.Empty(engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }));
            Assert.Equal(WorkloadState.Running, (await engine.GetWorkloadAsync(w.Id, Ct())).State);
            Assert.Empty(await Named(engine, "lv-b", "huge1"));
            Assert.Equal(volsB, Volumes(_pair.UriB));
            Assert.Empty(Directory.GetFileSystemEntries(Staging));

            await engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, Ct());
            await engine.InvokeAsync(await engine.GetWorkloadAsync(w.Id, Ct()), new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true }, null, NullObserver.Instance, Ct());
        }
    }
}
