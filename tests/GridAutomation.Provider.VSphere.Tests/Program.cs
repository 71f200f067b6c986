using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Net;
using System.Threading;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Moves;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.VSphere;

namespace GridAutomation.Provider.VSphere.Tests
{
    /// <summary>
    /// Entry point of the test assembly when run as a child process that a test kills mid-way:
    /// <c>move &lt;state file&gt; &lt;simulator url&gt; &lt;workload id&gt; &lt;destination&gt;</c> connects the two vSphere
    /// datacenters (vsa = DC0, vsb = DC1) with the simulator's test account and moves the workload through the engine.
    /// </summary>
    public static class Program
    {
        public static int Main(string[] args)
        {
            if (args.Length != 5 || args[0] != "move") { Console.Error.WriteLine("usage: move <state> <url> <workload id> <destination>"); return 2; }
            ProviderRegistry.Register(new VSphereProvider());
            var engine = GridEngine.Get(new GridConfiguration { StatePath = args[1] }, false);
            ConnectPair(engine, args[2]);
            var w = engine.GetWorkloadAsync(args[3], CancellationToken.None).GetAwaiter().GetResult();
            Console.WriteLine("moving " + w.Id);
            Console.Out.Flush();
            new MoveOrchestrator(engine).MoveAsync(w, new MoveRequest { DestinationDatacenter = args[4] }, false, false, false, null, NullObserver.Instance, CancellationToken.None).GetAwaiter().GetResult();
            Console.WriteLine("moved");
            return 0;
        }

        /// <summary>Registers (or re-connects) vsa = DC0 and vsb = DC1 of the simulator at <paramref name="url"/>.</summary>
        public static void ConnectPair(GridEngine engine, string url)
        {
            foreach (var (name, vdc) in new[] { ("vsa", "DC0"), ("vsb", "DC1") })
                engine.ConnectDatacenterAsync("VSphere", name, "Contoso", "Amsterdam",
                    new Dictionary<string, string> { ["Server"] = url, ["AllowInsecureHttp"] = "True", ["DatacenterName"] = vdc },
                    new Dictionary<string, object> { ["Credential"] = new NetworkCredential(VcSim.User, VcSim.Password) }, NullObserver.Instance, CancellationToken.None).GetAwaiter().GetResult();
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
            return Process.Start(psi)!;
        }
    }
}
