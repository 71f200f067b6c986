using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using GridAutomation.ContractTests;
using GridAutomation.Core.Providers;

namespace GridAutomation.Provider.Simulator.Tests
{
    /// <summary>
    /// Entry point of the test assembly when run as a child process (dotnet GridAutomation.Provider.Simulator.Tests.dll
    /// &lt;state file&gt; &lt;datacenter&gt; create|state &lt;arg&gt;), so persistence is proven across two processes.
    /// </summary>
    public static class Program
    {
        public static int Main(string[] args)
        {
            if (args.Length == 3 && args[0] == "engine-stop")
            {
                // Stop one workload through the engine (journaled, leased); the parent kills us in the middle.
                var config = GridAutomation.Core.Engine.GridConfiguration.Load(new Dictionary<string, string> { ["StatePath"] = args[1] });
                var engine = GridAutomation.Core.Engine.GridEngine.Get(config, false);
                var target = engine.GetWorkloadAsync(args[2], CancellationToken.None).GetAwaiter().GetResult();
                Console.WriteLine("stopping " + target.Id);
                Console.Out.Flush();
                engine.InvokeAsync(target, new GridAutomation.Core.Engine.WorkloadActionRequest { Action = GridAutomation.Core.Engine.WorkloadAction.Stop },
                    null, GridAutomation.Core.Engine.NullObserver.Instance, CancellationToken.None).GetAwaiter().GetResult();
                Console.WriteLine("stopped");
                return 0;
            }
            if (args.Length < 4) { Console.Error.WriteLine("usage: <state> <datacenter> create|state <arg>"); return 2; }
            using var store = SimEnv.OpenLocation(args[0]);
            using var c = SimEnv.ConnectAsync(store, args[1]).GetAwaiter().GetResult();
            switch (args[2])
            {
                case "create":
                    var w = c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = args[3], Size = "sim.small", IdempotencyKey = "child/" + args[3] }, new TestScope("child/" + args[3]), CancellationToken.None).GetAwaiter().GetResult();
                    Console.WriteLine("created " + w.NativeId + " " + w.NativeState);
                    return 0;
                case "create-many":
                    // args[3] = "<prefix>:<count>": concurrent writers from several processes
                    var parts = args[3].Split(':');
                    for (int i = 0; i < int.Parse(parts[1]); i++)
                    {
                        string name = parts[0] + "-" + i;
                        c.CreateWorkloadAsync(new CreateWorkloadRequest { Name = name, Size = "sim.small", IdempotencyKey = "many/" + name }, new TestScope("many/" + name), CancellationToken.None).GetAwaiter().GetResult();
                    }
                    Console.WriteLine("created " + parts[1]);
                    return 0;
                case "state":
                    Console.WriteLine(c.GetWorkloadAsync(args[3], CancellationToken.None).GetAwaiter().GetResult().NativeState);
                    return 0;
                default:
                    Console.Error.WriteLine("unknown command " + args[2]);
                    return 2;
            }
        }
    }

    /// <summary>Runs this test assembly as a child process.</summary>
    public static class ChildProcess
    {
        public static Process Start(params string[] args)
        {
            string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
            var psi = new ProcessStartInfo(dotnet) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(typeof(Program).Assembly.Location);
            foreach (var a in args) psi.ArgumentList.Add(a);
            if (args.Length > 0 && args[0].StartsWith("pg:", StringComparison.Ordinal)) psi.Environment["PGPASSWORD"] = GridAutomation.Core.Tests.PgCluster.Instance.Password;
            return Process.Start(psi)!;
        }

        public static string Run(params string[] args)
        {
            string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
            var psi = new ProcessStartInfo(dotnet) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(typeof(Program).Assembly.Location);
            foreach (var a in args) psi.ArgumentList.Add(a);
            if (args.Length > 0 && args[0].StartsWith("pg:", StringComparison.Ordinal)) psi.Environment["PGPASSWORD"] = GridAutomation.Core.Tests.PgCluster.Instance.Password;
            using var p = Process.Start(psi)!;
            string stdout = p.StandardOutput.ReadToEnd();
            string stderr = p.StandardError.ReadToEnd();
            if (!p.WaitForExit(60000)) { p.Kill(); throw new TimeoutException("child process did not finish"); }
            if (p.ExitCode != 0) throw new Exception($"child process exited {p.ExitCode}: {stderr}{stdout}");
            return stdout;
        }
    }
}
