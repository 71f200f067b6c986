using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt;
using GridAutomation.Providers.Libvirt.Native;
using Xunit;
using Xunit.Abstractions;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// Two qemu:///embed roots in this process (the QEMU driver runs inside the test host, no daemon), each a
    /// GridHost, with the hand-written counting boot sector as the image. Teardown destroys every domain and
    /// kills any QEMU process still running from these roots (by pid, found by root path), also on failure.
    /// </summary>
    internal sealed class EmbedLab : IDisposable
    {
        // libvirt 9 binds the embedded QEMU driver to ONE root per process for the process's lifetime
        // ("Cannot open embedded driver at path B, already open with path A"): every test of this process
        // shares this root; a second root is driven from a child process (EmbedAgent).
        private static readonly Lazy<string> ProcessDir = new Lazy<string>(() =>
        {
            string dir = Path.Combine("/tmp", "gq-" + Guid.NewGuid().ToString("N").Substring(0, 6)); // short: QEMU's monitor socket path must stay < 108 bytes
            AppDomain.CurrentDomain.ProcessExit += (_, _) => CleanProcessDir();
            return dir;
        });

        /// <summary>Kills any QEMU left from this process's roots and deletes them (class fixture teardown, and process exit).</summary>
        public static void CleanProcessDir()
        {
            if (!ProcessDir.IsValueCreated) return;
            KillStrays(ProcessDir.Value, null);
            try { if (Directory.Exists(ProcessDir.Value)) Directory.Delete(ProcessDir.Value, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }

        public string Dir { get; }
        public string RootA { get; }
        public string RootB { get; }
        public IGridConnection Connection { get; }
        private readonly ITestOutputHelper _out;

        public static void PrepareRoot(string root)
        {
            Directory.CreateDirectory(Path.Combine(root, "etc"));
            File.WriteAllText(Path.Combine(root, "etc", "qemu.conf"),
                "user = \"root\"\ngroup = \"root\"\nsecurity_driver = \"none\"\nstdio_handler = \"file\"\n");
        }

        public EmbedLab(ITestOutputHelper output, int shutdownTimeoutSeconds = 120)
        {
            _out = output;
            Dir = ProcessDir.Value;
            RootA = Path.Combine(Dir, "node-a");
            RootB = Path.Combine(Dir, "node-b");
            PrepareRoot(RootA);
            PrepareRoot(RootB);
            Directory.CreateDirectory(Path.Combine(RootA, "images"));
            File.WriteAllBytes(Path.Combine(RootA, "images", "counter.img"), BootSector.Disk());
            var dc = new GridDatacenter { Name = "embedlab", Provider = "Libvirt" };
            dc.Settings["Uri"] = "qemu:///embed?root=" + RootA;
            dc.Settings["ShutdownTimeoutSeconds"] = shutdownTimeoutSeconds.ToString();
            var sw = Stopwatch.StartNew();
            Connection = new LibvirtProvider().ConnectAsync(new ProviderConnectRequest { Datacenter = dc }, CancellationToken.None).GetAwaiter().GetResult();
            _out.WriteLine($"connected embed root in {sw.Elapsed.TotalSeconds:0.0}s");
        }

        public void Dispose()
        {
            try
            {
                foreach (var h in ((LibvirtConnection)Connection).Hosts)
                {
                    try
                    {
                        var doms = Virt.ListAllDomains(h.Conn, 0);
                        foreach (var d in doms)
                        {
                            try { if (Virt.IsActive(d)) Virt.Destroy(d); } catch (GridException ex) { _out.WriteLine("destroy: " + ex.Message); }
                            try { Virt.Undefine(d); } catch (GridException ex) { _out.WriteLine("undefine: " + ex.Message); }
                        }
                        Virt.DisposeAll(doms);
                    }
                    catch (GridException ex) { _out.WriteLine("teardown: " + ex.Message); }
                }
            }
            finally
            {
                Connection.Dispose();
                KillStrays(Dir, _out);
            }
        }

        /// <summary>Kills QEMU processes started from our roots only (matched by the root path in their command line, ended by pid).</summary>
        public static void KillStrays(string Dir, ITestOutputHelper? _out)
        {
            foreach (var pidDir in Directory.GetDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(pidDir), out int pid)) continue;
                string cmd;
                try { cmd = File.ReadAllText(Path.Combine(pidDir, "cmdline")).Replace('\0', ' '); } catch (IOException) { continue; } catch (UnauthorizedAccessException) { continue; }
                if (!cmd.Contains("qemu-system", StringComparison.Ordinal) || !cmd.Contains(Dir, StringComparison.Ordinal)) continue;
                try { using var p = Process.GetProcessById(pid); p.Kill(); p.WaitForExit(5000); _out?.WriteLine($"killed stray QEMU pid {pid}"); }
                catch (ArgumentException) { } catch (InvalidOperationException) { }
            }
        }

        public static bool QemuRunningFrom(string dir)
        {
            foreach (var pidDir in Directory.GetDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(pidDir), out _)) continue;
                try
                {
                    var cmd = File.ReadAllText(Path.Combine(pidDir, "cmdline")).Replace('\0', ' ');
                    if (cmd.Contains("qemu-system", StringComparison.Ordinal) && cmd.Contains(dir, StringComparison.Ordinal)) return true;
                }
                catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
            return false;
        }

        public static List<int> Counts(string serialLog)
        {
            if (!File.Exists(serialLog)) return new List<int>();
            string text;
            using (var fs = new FileStream(serialLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            using (var r = new StreamReader(fs)) text = r.ReadToEnd();
            return Regex.Matches(text, BootSector.Marker + "([0-9A-F]{4})\r?\n").Select(m => Convert.ToInt32(m.Groups[1].Value, 16)).ToList();
        }

        /// <summary>Waits until the log holds a count line satisfying <paramref name="ok"/>; returns all counts.</summary>
        public static async Task<List<int>> WaitForCounts(string serialLog, Func<List<int>, bool> ok, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                var c = Counts(serialLog);
                if (ok(c)) return c;
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"serial log {serialLog}: counts [{string.Join(",", c.TakeLast(10))}] did not reach the expected state in {timeout.TotalSeconds}s");
                await Task.Delay(250);
            }
        }
    }

    /// <summary>Deletes the process's embed roots after the last real-guest test (QEMU processes killed first).</summary>
    public sealed class EmbedRootCleanup : IDisposable
    {
        public void Dispose() => EmbedLab.CleanProcessDir();
    }

    public sealed class RealGuestTests : IClassFixture<EmbedRootCleanup>
    {
        private readonly ITestOutputHelper _out;
        public RealGuestTests(ITestOutputHelper output, EmbedRootCleanup _) { _out = output; }
        private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token;
        private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

        private static async Task<GridWorkload> CreateCounter(IGridConnection c, string name)
        {
            var req = new CreateWorkloadRequest { Name = name, Image = "counter.img", Size = "micro", TargetHost = "node-a", IdempotencyKey = "real-" + name };
            req.Options["DiskBus"] = "ide";
            req.Tags["purpose"] = "real-guest-test";
            return await c.CreateWorkloadAsync(req, new TestScope(req.IdempotencyKey), Ct());
        }

        private static string SerialOf(GridWorkload w) => ((string[])w.Properties["SerialFiles"]!).Single();

        [QemuFact]
        public async Task RealGuest_Boots_StopStart_SuspendResume()
        {
            Prereqs.Require(Prereqs.QemuMissing());
            var total = Stopwatch.StartNew();
            using var lab = new EmbedLab(_out, shutdownTimeoutSeconds: 3);
            var c = lab.Connection;

            var sw = Stopwatch.StartNew();
            var w = await CreateCounter(c, "counter1");
            _out.WriteLine($"create+start {sw.Elapsed.TotalSeconds:0.0}s");
            Assert.Equal(WorkloadState.Running, w.State);
            Assert.Equal("running", w.NativeState);
            Assert.Equal("node-a", w.Host);
            Assert.Equal("micro", w.Size);
            Assert.Equal(1, w.CpuCount);
            Assert.Equal(128, w.MemoryMB);
            Assert.Equal("real-guest-test", w.Tags["purpose"]);
            Assert.Single(w.Disks);
            Assert.StartsWith(Path.Combine(lab.RootA, "disks"), w.Disks[0].NativeId);
            string serial = SerialOf(w);
            Assert.True(EmbedLab.QemuRunningFrom(lab.RootA), "no QEMU process runs from root A");

            // It really runs: the boot sector counts on the serial port.
            await EmbedLab.WaitForCounts(serial, c => c.Count >= 3, Wait);

            // ACPI shutdown: this boot sector ignores ACPI, so the graceful stop times out (and the guest keeps running)...
            var ex = await Assert.ThrowsAsync<GridException>(() => c.StopAsync(w.NativeId, StopMode.Graceful, new TestScope(), Ct()));
            Assert.Equal("GuestShutdownTimeout", ex.ErrorId);
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Ct())).State);
            // ...while -TurnOff (virDomainDestroy) powers it off.
            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct());
            var stopped = await c.GetWorkloadAsync(w.NativeId, Ct());
            Assert.Equal(WorkloadState.Stopped, stopped.State);
            Assert.Equal("shutoff", stopped.NativeState);
            Assert.Equal("destroyed", stopped.Properties["StateReason"]);
            Assert.False(EmbedLab.QemuRunningFrom(lab.RootA), "QEMU still runs after TurnOff");
            int linesBefore = EmbedLab.Counts(serial).Count;

            // Start again: a fresh boot counts from 0000 again.
            await c.StartAsync(w.NativeId, new TestScope(), Ct());
            var afterStart = await EmbedLab.WaitForCounts(serial, c => c.Count >= linesBefore + 3, Wait);
            Assert.Equal(0, afterStart[linesBefore]);

            // Suspend = managed save: memory on disk, no QEMU process; start resumes the count where it was.
            await c.SuspendAsync(w.NativeId, new TestScope(), Ct());
            var suspended = await c.GetWorkloadAsync(w.NativeId, Ct());
            Assert.Equal(WorkloadState.Suspended, suspended.State);
            Assert.Equal(true, suspended.Properties["HasManagedSaveImage"]);
            Assert.False(EmbedLab.QemuRunningFrom(lab.RootA), "QEMU still runs after the managed save");
            var atSuspend = EmbedLab.Counts(serial);
            await c.StartAsync(w.NativeId, new TestScope(), Ct());
            var resumed = await EmbedLab.WaitForCounts(serial, c => c.Count >= atSuspend.Count + 2, Wait);
            Assert.Equal(atSuspend.Last() + 1, resumed[atSuspend.Count]);

            // Remove keeps the disk; the -RemoveStorage flavour is covered by the contract suite.
            string disk = w.Disks[0].NativeId!;
            await c.RemoveAsync(w.NativeId, removeStorage: false, new TestScope(), Ct());
            Assert.True(File.Exists(disk));
            await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(w.NativeId, Ct()));
            _out.WriteLine($"total {total.Elapsed.TotalSeconds:0.0}s");
        }

        /// <summary>
        /// The provider's save/restore move engine moves a running QEMU guest from embed root A (held by this
        /// process) to embed root B (driven through a child process: libvirt binds one embed root per process).
        /// The count goes on after the move: the guest continued from its saved memory.
        /// </summary>
        [QemuFact]
        public async Task RealGuest_SaveRestoreMove_ToSecondRoot_KeepsCounting()
        {
            Prereqs.Require(Prereqs.QemuMissing());
            var total = Stopwatch.StartNew();
            using var lab = new EmbedLab(_out);
            var agent = new AgentMoveHost(lab.RootB, _out);
            try
            {
                var c = lab.Connection;
                var w = await CreateCounter(c, "mover");
                string serialA = SerialOf(w);
                await EmbedLab.WaitForCounts(serialA, x => x.Count >= 4, Wait);
                var hostA = (await c.ListHostsAsync(Ct())).Single();
                Assert.Equal("node-a", hostA.Name);
                Assert.True(hostA.CpuCores > 0 && hostA.MemoryMB > 0);
                Assert.Equal(1, hostA.AllocatedCpu);
                Assert.Equal(128, hostA.AllocatedMemoryMB);

                var lc = (LibvirtConnection)c;
                var sw = Stopwatch.StartNew();
                var scope = new TestScope();
                await Task.Run(() => lc.Moves.Move(w.NativeId, lc.Hosts[0], agent, scope, Ct()));
                _out.WriteLine($"save/restore move {sw.Elapsed.TotalSeconds:0.0}s");
                Assert.Equal(SaveRestoreMove.StepKeys, scope.Checkpoints.Keys.ToArray());
                int lastOnA = EmbedLab.Counts(serialA).Last();

                // Gone from A (definition, disk, memory image, process); defined and running on B.
                await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(w.NativeId, Ct()));
                Assert.False(File.Exists(w.Disks[0].NativeId), "the source disk was left behind");
                Assert.Empty(Directory.Exists(Path.Combine(lab.RootA, "save")) ? Directory.GetFiles(Path.Combine(lab.RootA, "save")) : Array.Empty<string>());
                Assert.False(EmbedLab.QemuRunningFrom(lab.RootA), "a QEMU process still runs from the source root");
                Assert.True(EmbedLab.QemuRunningFrom(lab.RootB), "no QEMU process runs from the target root");
                var probe = agent.Probe(w.NativeId);
                Assert.True(probe.Defined && probe.Active && probe.State == StateMap.Running, probe.ToString());
                Assert.True(File.Exists(Path.Combine(lab.RootB, "disks", "mover-disk0.img")));

                // The restored guest continues the count (its memory was carried), on root B's serial log.
                string serialB = Path.Combine(lab.RootB, "logs", "mover.serial.log");
                var onB = await EmbedLab.WaitForCounts(serialB, x => x.Count >= 3, Wait);
                _out.WriteLine($"last count on A {lastOnA}, on B {string.Join(",", onB.Take(6))}");
                Assert.Equal(lastOnA + 1, onB[0]);
                Assert.Equal(Enumerable.Range(onB[0], onB.Count).ToList(), onB);
                await Task.Delay(1500);
                Assert.True(EmbedLab.Counts(serialB).Count > onB.Count, "the guest on B stopped counting");
            }
            finally
            {
                agent.DestroyAll();
                _out.WriteLine($"total {total.Elapsed.TotalSeconds:0.0}s");
            }
        }

        /// <summary>A real move interrupted after the target definition (before the restore acts) is finished by the resume: the guest continues.</summary>
        [QemuFact]
        public async Task RealGuest_InterruptedMove_IsFinishedByResume_AndKeepsCounting()
        {
            Prereqs.Require(Prereqs.QemuMissing());
            var total = Stopwatch.StartNew();
            using var lab = new EmbedLab(_out);
            var agent = new AgentMoveHost(lab.RootB, _out);
            try
            {
                var c = lab.Connection;
                var w = await CreateCounter(c, "resumer");
                string serialA = SerialOf(w);
                await EmbedLab.WaitForCounts(serialA, x => x.Count >= 3, Wait);
                var lc = (LibvirtConnection)c;
                var crash = new CrashingScope(SaveRestoreMove.RestoreKey, recordFirst: true);
                await Assert.ThrowsAsync<SimulatedCrash>(() => Task.Run(() =>
                {
                    try { lc.Moves.Move(w.NativeId, lc.Hosts[0], agent, crash, Ct()); }
                    catch (LibvirtConnection.JournalFailure jf) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(jf.Original).Throw(); }
                }));
                // Interrupted: memory saved, target defined but not running, source defined but not running: running nowhere, defined on both.
                Assert.False(EmbedLab.QemuRunningFrom(lab.RootA));
                Assert.False(EmbedLab.QemuRunningFrom(lab.RootB));
                int lastOnA = EmbedLab.Counts(serialA).Last();

                var plan = System.Text.Json.JsonSerializer.Deserialize<MovePlan>(crash.Checkpoints[SaveRestoreMove.PlanKey])!;
                bool finished = await Task.Run(() => lc.Moves.Resume(plan, crash.Checkpoints, new LocalMoveHost(lc.Hosts[0]), agent, new TestScope { IsResume = true }));
                Assert.True(finished);
                Assert.True(EmbedLab.QemuRunningFrom(lab.RootB));
                Assert.False(EmbedLab.QemuRunningFrom(lab.RootA));
                await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(w.NativeId, Ct()));
                var onB = await EmbedLab.WaitForCounts(Path.Combine(lab.RootB, "logs", "resumer.serial.log"), x => x.Count >= 2, Wait);
                _out.WriteLine($"last count on A {lastOnA}, on B {string.Join(",", onB.Take(6))}");
                Assert.Equal(lastOnA + 1, onB[0]);
            }
            finally
            {
                agent.DestroyAll();
                _out.WriteLine($"total {total.Elapsed.TotalSeconds:0.0}s");
            }
        }

        private static async Task<List<GridWorkload>> ListAll(IGridConnection c)
        {
            var all = new List<GridWorkload>();
            await foreach (var page in c.ListWorkloadsAsync(new WorkloadQuery(), Ct())) all.AddRange(page);
            return all;
        }
    }
}
