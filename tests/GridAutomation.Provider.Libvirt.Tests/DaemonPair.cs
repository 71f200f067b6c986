using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt;
using Xunit;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// Two real libvirt daemons (kvm-a, kvm-b) on this machine, started once per test run by daemon-pair.sh for
    /// every test of the "libvirt daemons" collection, and stopped after the last one: only what it started is
    /// killed (the daemons by pid, QEMU processes whose command line names this pair's folder).
    /// </summary>
    public sealed class DaemonPair : IDisposable
    {
        public const string ImageName = "counter.img";
        private readonly object _gate = new object();
        private bool _started;
        public string Dir { get; } = Path.Combine("/tmp", "gd-" + Guid.NewGuid().ToString("N").Substring(0, 6)); // short: QEMU socket paths stay < 108 bytes
        public string UriA { get; private set; } = "";
        public string UriB { get; private set; } = "";
        public string ImagesA => Path.Combine(Dir, "kvm-a", "images");
        public string ImagesB => Path.Combine(Dir, "kvm-b", "images");
        public string SerialDir => Path.Combine(Dir, "serial");
        public static string Script => Path.Combine(AppContext.BaseDirectory, "daemon-pair.sh");

        /// <summary>Starts the pair on first use (a missing prerequisite fails the calling test rather than the whole collection).</summary>
        public DaemonPair Require()
        {
            Prereqs.Require(Prereqs.DaemonMissing());
            lock (_gate)
            {
                if (_started)
                {
                    foreach (var h in _down.ToList()) StartDaemon(h); // a failed disaster test left a daemon stopped: the next test gets the pair whole
                    return this;
                }
                Directory.CreateDirectory(Dir);
                // The counting boot disk is an image of kvm-a's pool (the pool scans its folder when it starts).
                Directory.CreateDirectory(ImagesA);
                File.WriteAllBytes(Path.Combine(ImagesA, ImageName), BootSector.Disk());
                Directory.CreateDirectory(SerialDir);
                var (code, stdout, stderr) = RunScript("start", Dir, (49400 + Environment.ProcessId % 40 * 40).ToString());
                if (code != 0) throw new InvalidOperationException($"daemon-pair.sh start failed ({code}): {stderr} {stdout}");
                var uris = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                UriA = uris[0]; UriB = uris[1];
                _started = true;
                AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose(); // also when the run ends without the fixture's teardown
                return this;
            }
        }

        public IGridConnection Connect(string name, params string[] sharedStorage)
        {
            var dc = new GridDatacenter { Name = name, Provider = "Libvirt" };
            dc.Settings["Uri"] = UriA + "\n" + UriB;
            if (sharedStorage.Length > 0) dc.Settings["SharedStorage"] = string.Join("\n", sharedStorage);
            return new LibvirtProvider().ConnectAsync(new ProviderConnectRequest { Datacenter = dc }, CancellationToken.None).GetAwaiter().GetResult();
        }

        private readonly HashSet<string> _down = new HashSet<string>(StringComparer.Ordinal);

        /// <summary>Stops one daemon ("kvm-a"/"kvm-b") as a host loss; its QEMU processes are not touched (see <see cref="KillQemu"/>).</summary>
        public void StopDaemon(string host)
        {
            lock (_gate)
            {
                var (code, stdout, stderr) = RunScript("stop-one", Dir, host);
                if (code != 0) throw new InvalidOperationException($"daemon-pair.sh stop-one {host} failed ({code}): {stderr} {stdout}");
                _down.Add(host);
            }
        }

        /// <summary>Starts a stopped daemon again with its own configuration (its pool re-activated); the pair is then whole for the other tests.</summary>
        public void StartDaemon(string host)
        {
            lock (_gate)
            {
                var (code, stdout, stderr) = RunScript("start-one", Dir, host);
                if (code != 0) throw new InvalidOperationException($"daemon-pair.sh start-one {host} failed ({code}): {stderr} {stdout}");
                _down.Remove(host);
            }
        }

        /// <summary>The pid of the QEMU process of a running domain of a daemon (from the daemon's own /run, bind-mounted under DIR).</summary>
        public int QemuPid(string host, string domainName)
            => int.Parse(File.ReadAllText(Path.Combine(Dir, host, "run", "libvirt", "qemu", domainName + ".pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);

        /// <summary>kill -9 of a domain's QEMU process (a crash of the guest's host process), waiting until it is gone.</summary>
        public void KillQemu(string host, string domainName)
        {
            int pid = QemuPid(host, domainName);
            using var p = Process.GetProcessById(pid);
            if (!p.ProcessName.StartsWith("qemu", StringComparison.Ordinal)) throw new InvalidOperationException($"pid {pid} of {domainName} is {p.ProcessName}, not QEMU");
            p.Kill();
            if (!p.WaitForExit(30_000)) throw new InvalidOperationException($"QEMU {pid} of {domainName} did not die");
        }

        private static (int Code, string Stdout, string Stderr) RunScript(params string[] args)
        {
            var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(Script);
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(120_000)) { p.Kill(); return (-1, output, "timeout"); }
            return (p.ExitCode, output, err.Result);
        }

        public void Dispose()
        {
            lock (_gate)
            {
                if (!_started) { try { if (Directory.Exists(Dir)) Directory.Delete(Dir, true); } catch (IOException) { } return; }
                RunScript("stop", Dir);
                _started = false;
            }
        }
    }

    [CollectionDefinition(Name)]
    public sealed class DaemonCollection : ICollectionFixture<DaemonPair>
    {
        public const string Name = "libvirt daemons";
    }
}
