using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;
using Xunit;

namespace GridAutomation.Provider.Simulator.Tests
{
    /// <summary>The simulator under the real engine: a child process is killed in the middle of a journaled stop, and this process resumes it.</summary>
    [Collection("Engine")]
    public class EngineCrashTests
    {
        [Fact]
        public async Task KilledChild_MidStop_IsInterrupted_AndResumeFinishesIt()
        {
            using var env = new SimEnv();
            env.Store.Dispose();
            var config = GridConfiguration.Load(new Dictionary<string, string> { ["StatePath"] = env.StatePath });
            GridEngine.Reset();
            var engine = GridEngine.Get(config, false);
            try
            {
                var ct = new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;
                await engine.ConnectDatacenterAsync("Simulator", "crash", "Contoso", "Lab",
                    new Dictionary<string, string> { ["Workloads"] = "1", ["LatencyMs"] = "3000" }, new Dictionary<string, object>(), NullObserver.Instance, ct);
                string nativeId = NativeState(engine.Store, null).id;
                string id = WorkloadId.Format("crash", nativeId);

                using var child = ChildProcess.Start("engine-stop", env.StatePath, id);
                try
                {
                    // wait until the child has journaled the stop AND written the intermediate state
                    var sw = Stopwatch.StartNew();
                    GridOperation? op = null;
                    while (sw.Elapsed < TimeSpan.FromSeconds(60))
                    {
                        op = engine.Journal.List(new OperationFilter { Kind = "Stop" }).FirstOrDefault();
                        if (op != null && NativeState(engine.Store, nativeId).state == "stopping") break;
                        if (child.HasExited) throw new Exception("child exited early: " + child.StandardError.ReadToEnd() + child.StandardOutput.ReadToEnd());
                        await Task.Delay(25);
                    }
                    Assert.NotNull(op);
                    Assert.Equal("stopping", NativeState(engine.Store, nativeId).state);
                    Assert.Equal(OperationState.Running, engine.Journal.Get(op!.Id)!.State); // its holder is alive
                    Assert.Equal(child.Id, engine.Journal.Get(op.Id)!.LeaseProcessId);
                    child.Kill(entireProcessTree: true);
                    child.WaitForExit();

                    var interrupted = engine.Journal.Get(op.Id)!;
                    Assert.Equal(OperationState.Interrupted, interrupted.State);
                    Assert.Equal("stopping", NativeState(engine.Store, nativeId).state); // nothing finished it behind our back

                    var resumed = await engine.ResumeOperationAsync(op.Id, false, NullObserver.Instance, ct);
                    Assert.Equal(OperationState.Succeeded, resumed.State);
                    Assert.Equal("poweredOff", NativeState(engine.Store, nativeId).state);
                    Assert.Single(engine.Journal.List(new OperationFilter { Kind = "Stop" }));
                    var w = await engine.GetWorkloadAsync(id, ct);
                    Assert.Equal(WorkloadState.Stopped, w.State);
                }
                finally
                {
                    if (!child.HasExited) { child.Kill(true); child.WaitForExit(); }
                }
            }
            finally { GridEngine.Reset(); }
        }

        private static (string id, string state) NativeState(IStateStore store, string? nativeId)
            => store.Read(c =>
            {
                using var cmd = c.Command("");
                cmd.CommandText = nativeId == null
                    ? "SELECT native_id, state FROM sim_workloads WHERE datacenter = 'crash' ORDER BY seq LIMIT 1"
                    : "SELECT native_id, state FROM sim_workloads WHERE datacenter = 'crash' AND native_id = @id";
                if (nativeId != null) cmd.Bind("@id", nativeId);
                using var r = cmd.ExecuteReader();
                return r.Read() ? (r.GetString(0), r.GetString(1)) : ("", "");
            });
    }
}
