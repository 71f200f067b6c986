using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.Moves;
using GridAutomation.Core.State;
using GridAutomation.Core.Transport;
using GridAutomation.Provider.Azure.Tests;
using Xunit;
using static GridAutomation.Provider.Libvirt.Tests.DatacenterMoveTests;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// Issue 14's libvirt → Azure → libvirt chain with the counting guest. Azure.Core sends a bearer token over HTTPS
    /// only and OpenSSL reads SSL_CERT_FILE at process start, so the two moves (and the removal of the Azure copy) run
    /// in a child of this assembly (<see cref="AzChainAgent"/>, like the killed moves of <see cref="DcMoveAgent"/>)
    /// started with SSL_CERT_FILE naming the system bundle plus a throwaway CA; this process holds the daemon pair
    /// (the collection's one set of daemons), the loopback ARM endpoint of the Azure tests (Kestrel with that CA's
    /// certificate) and Azurite, and checks every stage from outside: the blob through Azurite's own API, the VM and
    /// disk in the ARM endpoint's state, the libvirt side through the engine and virsh.
    /// </summary>
    public sealed partial class ChainMoveTests
    {
        [DaemonFact]
        public async Task CountingGuest_LibvirtA_ToAzure_ToLibvirtB_BootsAndCountsAgain_ContentEqualAtEveryStage()
        {
            _pair.Require();
            Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", Staging);
            await using var lab = await AzLab.StartAsync(_dir);
            var (bundle, az, sim) = (lab.Bundle, lab.Az, lab.Sim);
            var engine = Engine(StatePath);
            await ConnectPairAsync(engine, _pair);
            var volsABefore = Volumes(_pair.UriA); var volsBBefore = Volumes(_pair.UriB);

            const string name = "chain-az";
            var w = await Counter(engine, _pair, name);
            await EmbedLab.WaitForCounts(Path.Combine(_pair.SerialDir, name + ".a.log"), x => x.Count >= 3, Wait);
            string diskA = DiskOf(w);
            Assert.Equal("raw", FormatOf(diskA)); // a raw source volume (independent of qcow2-source verification, issue 13)
            var volsAWithGuest = Volumes(_pair.UriA);

            // lv-a → az: Test-GridMove, then export (virStorageVolDownload), raw → fixed VHD, managed-disk upload
            // into Azurite through a write SAS, VM from the attached OS disk, verify-destination, start, cutover
            var (report1, atAz) = AzChainAgent.Move(bundle, StatePath, sim.ArmEndpoint, w.Id, AzChainAgent.Dc, "-", _out);
            Assert.True(report1["CanMove"]!.GetValue<bool>(), report1.ToJsonString());
            Assert.Equal("DiskImport", report1["Method"]!.GetValue<string>());
            Assert.Equal("Raw,VhdFixed", report1["Path"]!.GetValue<string>());
            string azId = atAz["Id"]!.GetValue<string>(), vmId = atAz["NativeId"]!.GetValue<string>();
            Assert.StartsWith(AzChainAgent.Dc + "/", azId);
            Assert.Equal(name, atAz["Name"]!.GetValue<string>());
            Assert.Equal("Running", atAz["State"]!.GetValue<string>());
            Assert.Equal(w.Id, atAz["Tags"]![MoveOrchestrator.MovedFromTag]!.GetValue<string>());
            Assert.Equal("dc-move-test", atAz["Tags"]!["purpose"]!.GetValue<string>());
            var op1 = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Single(o => o.Target == w.Id);
            Assert.Equal(OperationState.Succeeded, op1.State);
            Assert.Contains("VhdFixed", op1.Checkpoints["done:convert"]);
            var src = await engine.GetWorkloadAsync(w.Id, Ct());
            Assert.Equal(WorkloadState.Stopped, src.State);
            Assert.Equal(azId, src.Tags[MoveOrchestrator.MovedToTag]);

            // Azure's side from outside: one VM (running) on one managed disk (Attached, Gen1 for the BIOS guest)
            // whose page blob in Azurite is a fixed VHD of whole MiB + 512 holding the source's guest bytes
            Assert.Equal(1, sim.VmCount);
            Assert.Equal("running", sim.PowerOf(vmId));
            string blob = Assert.Single(await az.ListBlobsAsync());
            Assert.StartsWith(ArmSimulator.DiskContainer + "/", blob);
            string diskId = ArmSimulator.DiskId(AzChainAgent.Rg, blob.Substring(ArmSimulator.DiskContainer.Length + 1));
            Assert.Equal("Attached", sim.DiskStateOf(diskId));
            Assert.Equal("V1", sim.DiskGenerationOf(diskId));
            Assert.Equal(1, sim.DiskCount);
            string vhd1 = await DownloadFixedVhd(az, blob, "at-azure.vhd");
            AssertSameContent(diskA, vhd1, "vpc"); // -f vpc: a fixed VHD probes as raw
            Assert.Empty(Directory.GetFileSystemEntries(Staging));
            Assert.Equal(volsAWithGuest, Volumes(_pair.UriA)); // no gridmove- volume left on kvm-a
            Assert.DoesNotContain(sim.SasHandedOut, s => op1.Checkpoints.Values.Any(v => v.Contains(new Uri(s).Query.TrimStart('?'))));

            // az → lv-b: stop + deallocate, read SAS, download, VHD → the pool's format, upload, define, start
            string serialB = Path.Combine(_pair.SerialDir, name + ".b.log");
            var (report2, atB) = AzChainAgent.Move(bundle, StatePath, sim.ArmEndpoint, azId, "lv-b", serialB, _out);
            Assert.True(report2["CanMove"]!.GetValue<bool>(), report2.ToJsonString());
            Assert.Equal("DiskImport", report2["Method"]!.GetValue<string>());
            Assert.StartsWith("VhdFixed,", report2["Path"]!.GetValue<string>());
            string bId = atB["Id"]!.GetValue<string>();
            Assert.StartsWith("lv-b/", bId);
            Assert.Equal(name, atB["Name"]!.GetValue<string>());
            Assert.Equal("Running", atB["State"]!.GetValue<string>());
            Assert.Equal(azId, atB["Tags"]![MoveOrchestrator.MovedFromTag]!.GetValue<string>());
            Assert.Equal("Deallocated", atB["SourceState"]!.GetValue<string>()); // Azure grants a read SAS only once the VM is deallocated
            Assert.Equal(bId, atB["SourceTags"]![MoveOrchestrator.MovedToTag]!.GetValue<string>());
            var onB = await EmbedLab.WaitForCounts(serialB, x => x.Count >= 3, Wait);
            Assert.Equal(Enumerable.Range(0, onB.Count), onB); // booted from the bytes that came back: counts from the start
            var b = Assert.Single(await Named(engine, "lv-b", name));
            Assert.Equal(bId, b.Id);
            string diskB = DiskOf(b);
            Assert.StartsWith(_pair.ImagesB + "/", diskB);
            AssertSameContent(diskA, diskB, FormatOf(diskB));
            Assert.Equal(new[] { Path.GetFileName(diskB) }, Volumes(_pair.UriB).Except(volsBBefore));
            var op2 = engine.Journal.List(new OperationFilter { Kind = MoveOrchestrator.Kind }).Single(o => o.Target == azId);
            Assert.Equal(OperationState.Succeeded, op2.State);

            // the Azure copy stays (deallocated, its disk's read access ended) with the same bytes; no export leftovers
            Assert.Equal("deallocated", sim.PowerOf(vmId));
            Assert.Equal("Attached", sim.DiskStateOf(diskId));
            Assert.Equal(new[] { blob }, await az.ListBlobsAsync());
            AssertSameContent(diskA, await DownloadFixedVhd(az, blob, "after.vhd"), "vpc");
            Assert.Empty(Directory.GetFileSystemEntries(Staging));

            // removing the Azure copy with its storage leaves Azurite empty (listed through its API), then the libvirt ones
            AzChainAgent.Remove(bundle, StatePath, sim.ArmEndpoint, azId, _out);
            Assert.Empty(await az.ListBlobsAsync());
            Assert.Equal(0, sim.DiskCount);
            Assert.Equal(0, sim.VmCount);
            await RemoveAll(engine, new[] { bId, w.Id });
            Assert.Equal(volsABefore, Volumes(_pair.UriA));
            Assert.Equal(volsBBefore, Volumes(_pair.UriB));
            Assert.DoesNotContain(Volumes(_pair.UriA).Concat(Volumes(_pair.UriB)), v => v.StartsWith(LibvirtProviderPrefix) && !volsBBefore.Contains(v) && !volsABefore.Contains(v));
        }

        /// <summary>
        /// Each step once and each outcome twice, with the two Azure can orphan something in both ways (import: a disk
        /// with an open write SAS and a half-written blob; create: a whole disk and blob without a VM). All six
        /// combinations pass too (about a minute each under load); four keep the CI time of this chain near four minutes.
        /// </summary>
        public static IEnumerable<object[]> AzureKills() => new[]
        {
            new object[] { "export", true }, new object[] { "import", false }, new object[] { "import", true }, new object[] { "create", true },
        };

        /// <summary>
        /// lv-a → az in a child killed inside export (the libvirt download), import (the page upload into Azurite, after
        /// the managed disk was made and its write SAS granted) and create (before the VM), by the HOLD mechanism of
        /// <see cref="DcMoveAgent"/>; then Resume (in another child: the Azure client needs the CA) finishes with one
        /// running VM whose blob compares equal, or -Rollback returns the source running with no disk, VM or blob at
        /// Azure (listed through Azurite's API). Either way no imported volume in the pools and an empty staging folder.
        /// </summary>
        [DaemonTheory]
        [MemberData(nameof(AzureKills))]
        public async Task LibvirtToAzure_KilledDuringStep_ResumeFinishes_OrRollbackRestoresSource_NothingOrphaned(string step, bool rollback)
        {
            _pair.Require();
            Environment.SetEnvironmentVariable("GRIDAUTOMATION_MOVE_TEMP", Staging);
            await using var lab = await AzLab.StartAsync(_dir);
            var engine = Engine(StatePath);
            await ConnectPairAsync(engine, _pair);
            BigImage(_pair);
            string name = "ka-" + step + (rollback ? "-rb" : "-fin");
            var w = await Counter(engine, _pair, name, "big.img");
            var volsABefore = Volumes(_pair.UriA); var volsBBefore = Volumes(_pair.UriB);

            var psi = AzChainAgent.StartInfo(lab.Bundle, "az-move", StatePath, lab.Sim.ArmEndpoint, w.Id, AzChainAgent.Dc, "-", step);
            var op = await DcMoveAgent.KillInStepAsync(engine, psi, w.Id, step, _out);
            string state = AzChainAgent.Resume(lab.Bundle, StatePath, lab.Sim.ArmEndpoint, op.Id, rollback, _out);

            var source = await engine.GetWorkloadAsync(w.Id, Ct());
            var blobs = await lab.Az.ListBlobsAsync();
            if (rollback)
            {
                Assert.Equal(nameof(OperationState.RolledBack), state);
                Assert.Equal(WorkloadState.Running, source.State);
                Assert.Empty(blobs);
                Assert.Equal(0, lab.Sim.DiskCount);
                Assert.Equal(0, lab.Sim.VmCount);
            }
            else
            {
                Assert.Equal(nameof(OperationState.Succeeded), state);
                Assert.Equal(WorkloadState.Stopped, source.State);
                string azId = (string)source.Tags[MoveOrchestrator.MovedToTag]!;
                Assert.Equal(1, lab.Sim.VmCount);
                Assert.Equal("running", lab.Sim.PowerOf(ArmSimulator.VmId(AzChainAgent.Rg, name)));
                Assert.Equal(1, lab.Sim.DiskCount);
                string blob = Assert.Single(blobs);
                AssertSameContent(DiskOf(source), await DownloadFixedVhd(lab.Az, blob, name + ".vhd"), "vpc");
                AzChainAgent.Remove(lab.Bundle, StatePath, lab.Sim.ArmEndpoint, azId, _out);
                Assert.Empty(await lab.Az.ListBlobsAsync());
            }
            Assert.Equal(volsABefore, Volumes(_pair.UriA));
            Assert.Equal(volsBBefore, Volumes(_pair.UriB));
            Assert.Empty(Directory.GetFileSystemEntries(Staging));
            await RemoveAll(engine, new[] { w.Id });
        }

        /// <summary>The Azure side of a chain test: the throwaway CA, the loopback ARM endpoint (Kestrel) and Azurite behind it.</summary>
        private sealed class AzLab : IAsyncDisposable
        {
            public string Bundle { get; private set; } = "";
            public TestHttpsServer Server { get; private set; } = null!;
            public Azurite Az { get; private set; } = null!;
            public ArmSimulator Sim { get; private set; } = null!;

            public static async Task<AzLab> StartAsync(string dir)
            {
                Prereqs.Require(File.Exists(TestCa.SystemBundle) ? null : "the system CA bundle " + TestCa.SystemBundle + " is missing (apt-get install ca-certificates)");
                var lab = new AzLab { Bundle = Path.Combine(dir, "ca-bundle.pem") };
                string pfx = Path.Combine(dir, "server.pfx");
                TestCa.Write(lab.Bundle, pfx);
                string? oldPfx = Environment.GetEnvironmentVariable(ChildEnvironment.PfxVar);
                Environment.SetEnvironmentVariable(ChildEnvironment.PfxVar, pfx); // read (managed) by the Kestrel server as it starts
                try { lab.Server = await TestHttpsServer.StartAsync(); }
                finally { Environment.SetEnvironmentVariable(ChildEnvironment.PfxVar, oldPfx); }
                lab.Az = await Azurite.StartAsync();
                lab.Sim = new ArmSimulator(lab.Server) { Storage = lab.Az, PollsPerOperation = 0 };
                return lab;
            }

            public async ValueTask DisposeAsync()
            {
                await Az.DisposeAsync();
                await Server.DisposeAsync();
            }
        }

        /// <summary>The page blob as Azurite serves it, checked to be a fixed VHD: whole MiB of data, then the 512-byte footer.</summary>
        private async Task<string> DownloadFixedVhd(Azurite az, string blob, string file)
        {
            string path = Path.Combine(_dir, file);
            int slash = blob.IndexOf('/');
            await az.Service.GetBlobContainerClient(blob.Substring(0, slash)).GetBlobClient(blob.Substring(slash + 1)).DownloadToAsync(path);
            long len = new FileInfo(path).Length;
            Assert.True(len > 512 && (len - 512) % (1 << 20) == 0, $"the blob is {len} bytes, not whole MiB + 512");
            using var f = File.OpenRead(path);
            var footer = new byte[512];
            f.Position = len - 512;
            f.ReadExactly(footer);
            Assert.Equal("conectix", Encoding.ASCII.GetString(footer, 0, 8));
            Assert.Equal(2, (footer[60] << 24) | (footer[61] << 16) | (footer[62] << 8) | footer[63]); // disk type 2: fixed
            return path;
        }
    }

    /// <summary>
    /// The child's side of the Azure chain ("az-move STATE ARM ID DEST SERIAL" / "az-remove STATE ARM ID"): connects the
    /// Azure datacenter "az" of the loopback ARM endpoint again (secrets never reach the store) and runs Test-GridMove
    /// and the move through the core, or removes a workload with its storage; prints the results as JSON lines.
    /// </summary>
    internal static class AzChainAgent
    {
        internal const string Dc = "az";
        internal const string Rg = "grid";

        private static GridEngine Connect(string statePath, string armEndpoint)
        {
            var engine = DatacenterMoveTests.Engine(statePath);
            engine.ConnectDatacenterAsync("Azure", Dc, "Contoso", "West Europe", new Dictionary<string, string>
            {
                ["SubscriptionId"] = ArmSimulator.Subscription, ["Location"] = ArmSimulator.Location, ["ResourceGroupName"] = AzChainAgent.Rg,
                ["ArmEndpoint"] = armEndpoint, [MovePlanner.DefaultsSetting] = "Network=" + ArmSimulator.SubnetId(AzChainAgent.Rg),
            }, new Dictionary<string, object> { ["AccessToken"] = ArmSimulator.CallerToken }, NullObserver.Instance, Ct()).GetAwaiter().GetResult();
            return engine;
        }

        private static JsonObject Describe(GridWorkload w)
        {
            var tags = new JsonObject();
            foreach (System.Collections.DictionaryEntry kv in w.Tags) tags[(string)kv.Key] = kv.Value?.ToString();
            return new JsonObject { ["Id"] = w.Id, ["NativeId"] = w.NativeId, ["Name"] = w.Name, ["State"] = w.State.ToString(), ["Tags"] = tags };
        }

        /// <param name="holdStep">a step to hold in (the parent kills the child there), or null</param>
        public static int RunMove(string statePath, string armEndpoint, string id, string dest, string serial, string? holdStep = null)
        {
            try
            {
                var engine = Connect(statePath, armEndpoint);
                var w = engine.GetWorkloadAsync(id, Ct()).GetAwaiter().GetResult();
                var req = dest == Dc ? new MoveRequest { DestinationDatacenter = Dc, TurnOff = true } : DatacenterMoveTests.To(dest, serial);
                var report = new MoveService(engine).TestAsync(w, req, NullObserver.Instance, Ct()).GetAwaiter().GetResult();
                Console.WriteLine("REPORT " + new JsonObject
                {
                    ["CanMove"] = report.CanMove, ["Method"] = report.Method.ToString(),
                    ["Path"] = string.Join(",", report.Disks.Single().Path),
                    ["Incompatibilities"] = string.Join("; ", report.Incompatibilities.Select(i => i.Code + ": " + i.Message)),
                }.ToJsonString());
                IEngineObserver observer = holdStep != null ? new DcMoveAgent.HoldIn(holdStep) : NullObserver.Instance;
                var moved = new MoveOrchestrator(engine).MoveAsync(w, req, false, false, false, null, observer, Ct()).GetAwaiter().GetResult();
                var source = engine.GetWorkloadAsync(id, Ct()).GetAwaiter().GetResult();
                var o = Describe(moved);
                o["SourceState"] = source.State.ToString();
                o["SourceTags"] = Describe(source)["Tags"]!.DeepClone();
                Console.WriteLine("MOVED " + o.ToJsonString());
                return 0;
            }
            catch (GridException ex) { Console.WriteLine($"ERR {ex.Kind} {ex.ErrorId} {ex.Message}"); return 1; }
        }

        public static int RunResume(string statePath, string armEndpoint, string operationId, bool rollback)
        {
            try
            {
                var engine = Connect(statePath, armEndpoint);
                var op = engine.ResumeOperationAsync(Guid.Parse(operationId), rollback, NullObserver.Instance, Ct()).GetAwaiter().GetResult();
                Console.WriteLine("RESUMED " + op.State);
                return 0;
            }
            catch (GridException ex) { Console.WriteLine($"ERR {ex.Kind} {ex.ErrorId} {ex.Message}"); return 1; }
        }

        public static int RunRemove(string statePath, string armEndpoint, string id)
        {
            try
            {
                var engine = Connect(statePath, armEndpoint);
                var w = engine.GetWorkloadAsync(id, Ct()).GetAwaiter().GetResult();
                if (w.State == WorkloadState.Running)
                    engine.InvokeAsync(w, new WorkloadActionRequest { Action = WorkloadAction.Stop, StopMode = StopMode.TurnOff }, null, NullObserver.Instance, Ct()).GetAwaiter().GetResult();
                engine.InvokeAsync(engine.GetWorkloadAsync(id, Ct()).GetAwaiter().GetResult(), new WorkloadActionRequest { Action = WorkloadAction.Remove, RemoveStorage = true }, null, NullObserver.Instance, Ct()).GetAwaiter().GetResult();
                Console.WriteLine("REMOVED");
                return 0;
            }
            catch (GridException ex) { Console.WriteLine($"ERR {ex.Kind} {ex.ErrorId} {ex.Message}"); return 1; }
        }

        /// <summary>The parent's side: the child moves the workload; returns its report and the moved workload.</summary>
        public static (JsonObject Report, JsonObject Moved) Move(string bundle, string statePath, string armEndpoint, string id, string dest, string serial, Xunit.Abstractions.ITestOutputHelper output)
        {
            var lines = RunChild(bundle, output, "az-move", statePath, armEndpoint, id, dest, serial);
            var report = lines.FirstOrDefault(l => l.StartsWith("REPORT ", StringComparison.Ordinal));
            var moved = lines.FirstOrDefault(l => l.StartsWith("MOVED ", StringComparison.Ordinal));
            Assert.True(report != null && moved != null, $"the move {id} → {dest} in the child failed:\n" + string.Join("\n", lines));
            return (JsonNode.Parse(report!.Substring(7))!.AsObject(), JsonNode.Parse(moved!.Substring(6))!.AsObject());
        }

        public static void Remove(string bundle, string statePath, string armEndpoint, string id, Xunit.Abstractions.ITestOutputHelper output)
        {
            var lines = RunChild(bundle, output, "az-remove", statePath, armEndpoint, id);
            Assert.True(lines.Contains("REMOVED"), $"removing {id} in the child failed:\n" + string.Join("\n", lines));
        }

        /// <summary>The child resumes (or rolls back) the operation; returns its final state.</summary>
        public static string Resume(string bundle, string statePath, string armEndpoint, Guid operationId, bool rollback, Xunit.Abstractions.ITestOutputHelper output)
        {
            var lines = RunChild(bundle, output, "az-resume", statePath, armEndpoint, operationId.ToString(), rollback ? "rollback" : "finish");
            var done = lines.FirstOrDefault(l => l.StartsWith("RESUMED ", StringComparison.Ordinal));
            Assert.True(done != null, $"resuming {operationId} in the child failed:\n" + string.Join("\n", lines));
            return done!.Substring(8);
        }

        /// <summary>A child of this assembly with these arguments, started with SSL_CERT_FILE naming the bundle that trusts the throwaway CA.</summary>
        public static ProcessStartInfo StartInfo(string bundle, params string[] args)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(typeof(AzChainAgent).Assembly.Location);
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.Environment["SSL_CERT_FILE"] = bundle; // OpenSSL reads it at process start: the child trusts the throwaway CA
            // Never reach a real credential source from the tests.
            foreach (var v in new[] { "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE" })
                psi.Environment.Remove(v);
            return psi;
        }

        private static List<string> RunChild(string bundle, Xunit.Abstractions.ITestOutputHelper output, params string[] args)
        {
            var psi = StartInfo(bundle, args);
            var lines = new List<string>();
            using var p = new Process { StartInfo = psi };
            p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (lines) lines.Add(e.Data); };
            p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (lines) lines.Add(e.Data); };
            p.Start();
            p.BeginOutputReadLine(); p.BeginErrorReadLine();
            if (!p.WaitForExit((int)TimeSpan.FromMinutes(8).TotalMilliseconds))
            {
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                Assert.Fail(args[0] + " did not finish in 8 minutes:\n" + string.Join("\n", lines));
            }
            p.WaitForExit();
            lock (lines)
            {
                output.WriteLine(args[0] + " (exit " + p.ExitCode + "):\n" + string.Join("\n", lines));
                return new List<string>(lines);
            }
        }
    }
}
