using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using GridAutomation.Core.Model;
using GridAutomation.Providers.Libvirt;
using GridAutomation.Providers.Libvirt.Native;
using Xunit.Abstractions;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// Entry point of the test assembly. "embed-agent ROOT COMMAND ARGS" opens qemu:///embed?root=ROOT in THIS
    /// (child) process, runs one move-host command with the provider's own code (LocalMoveHost) and exits; the
    /// QEMU processes it starts are daemonized by libvirt and outlive it (the next agent reconnects to them).
    /// </summary>
    public static class EntryPoint
    {
        public static int Main(string[] args)
        {
            if (args.Length >= 3 && args[0] == "embed-agent") return EmbedAgent.Run(args[1], args[2], args.Skip(3).ToArray());
            if (args.Length == 1 && args[0] == "missing-library") return EmbedAgent.MissingLibrary();
            if (args.Length == 1 && args[0] == "boot-sector-hex") { Console.WriteLine(BootSector.CodeHex()); return 0; }
            if (args.Length is 6 or 7 && args[0] == "dc-move") return DcMoveAgent.Run(args[1], args[2], args[3], args[4], args[5], args.Length == 7 ? args[6] : null);
            if (args.Length is 6 or 7 && args[0] == "az-move") return AzChainAgent.RunMove(args[1], args[2], args[3], args[4], args[5], args.Length == 7 ? args[6] : null);
            if (args.Length == 5 && args[0] == "az-resume") return AzChainAgent.RunResume(args[1], args[2], args[3], args[4] == "rollback");
            if (args.Length == 4 && args[0] == "az-remove") return AzChainAgent.RunRemove(args[1], args[2], args[3]);
            if (args.Length == 5 && args[0] == "rp-point") return RecoveryPointAgent.Run(args[1], args[2], args[3], args[4]);
            if (args.Length == 6 && args[0] == "live-move") return LiveMoveAgent.Run(args[1], args[2], args[3], args[4], args[5]);
            Console.Error.WriteLine("usage: embed-agent ROOT probe|define|restore|start|resume|suspend|undefine|destroy-all ARGS");
            return 2;
        }
    }

    internal static class EmbedAgent
    {
        /// <summary>Child process: as if libvirt.so.0 were not installed (the probe looks for a name that does not exist).</summary>
        public static int MissingLibrary()
        {
            Virt.LibraryProbeName = "libvirt-not-installed-here.so.0";
            var p = new LibvirtProvider();
            Console.WriteLine("AVAILABLE " + p.IsAvailable(out var reason));
            Console.WriteLine("REASON " + reason);
            try
            {
                var dc = new GridDatacenter { Name = "x" };
                dc.Settings["Uri"] = "test:///default";
                p.ConnectAsync(new GridAutomation.Core.Providers.ProviderConnectRequest { Datacenter = dc }, default).GetAwaiter().GetResult();
                Console.WriteLine("CONNECTED");
            }
            catch (GridException ex) { Console.WriteLine($"ERROR {ex.Kind} {ex.ErrorId} {ex.Message}"); }
            return 0;
        }

        public static int Run(string root, string command, string[] a)
        {
            try
            {
                Virt.Ensure();
                string uri = "qemu:///embed?root=" + root;
                var conn = Virt.Open(uri, null);
                using var host = new LibvirtHost(uri, Path.GetFileName(root), HostKind.Embed, conn, Virt.GetDriverType(conn), root);
                var ops = new LocalMoveHost(host);
                string result = "";
                switch (command)
                {
                    case "probe": var p = ops.Probe(a[0]); result = $"{p.Defined} {p.Active} {p.State}"; break;
                    case "define": ops.Define(File.ReadAllText(a[0])); break;
                    case "restore": ops.Restore(a[0], a.Length > 1 && a[1] != "-" ? File.ReadAllText(a[1]) : null); break;
                    case "start": ops.Start(a[0]); break;
                    case "resume": ops.Resume(a[0]); break;
                    case "suspend": ops.Suspend(a[0]); break;
                    case "undefine": ops.Undefine(a[0]); break;
                    case "destroy-all":
                        var doms = Virt.ListAllDomains(conn, 0);
                        foreach (var d in doms) { if (Virt.IsActive(d)) Virt.Destroy(d); Virt.Undefine(d); }
                        Virt.DisposeAll(doms);
                        break;
                    default: Console.WriteLine("ERR InvalidRequest UnknownCommand " + command); return 1;
                }
                Console.WriteLine("OK " + result);
                return 0;
            }
            catch (GridException ex)
            {
                Console.WriteLine($"ERR {ex.Kind} {ex.ErrorId} {ex.NativeCode ?? "-"} {ex.Message.Replace('\n', ' ')}");
                return 1;
            }
        }
    }

    /// <summary>A move target driven through the embed agent (a child process), for a second embed root.</summary>
    internal sealed class AgentMoveHost : IMoveHost
    {
        private readonly string _root;
        private readonly ITestOutputHelper? _out;
        public AgentMoveHost(string root, ITestOutputHelper? output) { _root = root; _out = output; }
        public string Name => Path.GetFileName(_root);
        public bool FileStorage => true;
        public bool IsTestDriver => false;
        public string? EmbedRoot => _root;
        public string SaveDirectory => Path.Combine(_root, "save");
        public string LogsDirectory => Path.Combine(_root, "logs");
        public string DisksDirectory => Path.Combine(_root, "disks");
        public string PlannedDiskPath(string volumeName) => Path.Combine(DisksDirectory, volumeName);
        public List<string> Calls { get; } = new List<string>();

        private string Call(string command, params string[] args)
        {
            string testDll = typeof(EmbedAgent).Assembly.Location;
            var psi = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            if (!Path.GetFileNameWithoutExtension(psi.FileName).Equals("dotnet", StringComparison.OrdinalIgnoreCase)) psi.FileName = "dotnet";
            psi.ArgumentList.Add(testDll);
            psi.ArgumentList.Add("embed-agent");
            psi.ArgumentList.Add(_root);
            psi.ArgumentList.Add(command);
            foreach (var x in args) psi.ArgumentList.Add(x);
            var sw = Stopwatch.StartNew();
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(180_000)) { p.Kill(); throw new TimeoutException("embed agent " + command); }
            string line = stdout.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("OK", StringComparison.Ordinal) || l.StartsWith("ERR", StringComparison.Ordinal)) ?? "";
            Calls.Add(command);
            _out?.WriteLine($"agent {command} {string.Join(" ", args.Select(Path.GetFileName))} → {line} ({sw.Elapsed.TotalSeconds:0.0}s)");
            if (line.StartsWith("OK", StringComparison.Ordinal)) return line.Length > 3 ? line.Substring(3) : "";
            var parts = line.Split(' ', 5);
            if (parts.Length == 5 && Enum.TryParse<GridErrorKind>(parts[1], out var kind))
                throw new GridException(kind, parts[4], parts[2]) { NativeCode = parts[3] == "-" ? null : parts[3] };
            throw new GridException(GridErrorKind.Unavailable, $"embed agent failed (exit {p.ExitCode}): {stdout} {stderr.Result}", "EmbedAgentFailed");
        }

        private string TempFile(string content)
        {
            Directory.CreateDirectory(Path.Combine(_root, "tmp"));
            string f = Path.Combine(_root, "tmp", Guid.NewGuid().ToString("N") + ".xml");
            File.WriteAllText(f, content, new UTF8Encoding(false));
            return f;
        }

        public (bool Defined, bool Active, int State) Probe(string uuid)
        {
            var parts = Call("probe", uuid).Split(' ');
            return (bool.Parse(parts[0]), bool.Parse(parts[1]), int.Parse(parts[2]));
        }

        public void EnsureDisk(DiskMove disk)
        {
            if (!disk.Shared && !File.Exists(disk.TargetPath)) Images.CopyAtomically(disk.SourcePath, disk.TargetPath); // same machine: plain files
        }

        public void DeleteDisk(string path)
        {
            if (path.StartsWith(DisksDirectory + "/", StringComparison.Ordinal) && File.Exists(path)) File.Delete(path);
        }

        public void Define(string xml) => Call("define", TempFile(xml));
        public void Restore(string file, string? dxml) => Call("restore", file, dxml == null ? "-" : TempFile(dxml));
        public void Start(string uuid) => Call("start", uuid);
        public void Resume(string uuid) => Call("resume", uuid);
        public void Suspend(string uuid) => Call("suspend", uuid);
        public void Undefine(string uuid) => Call("undefine", uuid);
        public void DestroyAll() { try { Call("destroy-all"); } catch (GridException) { } }
    }
}
