using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Azure.Storage;
using Azure.Storage.Blobs;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// Azurite (npm azurite 3.35.0, Microsoft's Azure Storage emulator), installed by ../setup.sh into ../emulator/,
    /// started here on a free loopback port with a throwaway data folder and stopped (this process only) on dispose.
    /// The blob side of the disk tests — page blobs, page writes, SAS checks, reads — is Azurite's, not ours.
    /// </summary>
    public sealed class Azurite : IAsyncDisposable
    {
        public const string Account = "devstoreaccount1";
        // Azurite's well-known development account key (public, documented by Microsoft).
        public const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

        private readonly Process _process;
        private readonly string _folder;
        public int Port { get; }
        public Uri BlobEndpoint => new Uri($"http://127.0.0.1:{Port}/{Account}");
        public StorageSharedKeyCredential Credential { get; } = new StorageSharedKeyCredential(Account, Key);
        public BlobServiceClient Service => new BlobServiceClient(BlobEndpoint, Credential);

        /// <summary>Every blob of every container ("container/blob"), listed through Azurite's own API.</summary>
        public async Task<System.Collections.Generic.List<string>> ListBlobsAsync()
        {
            var names = new System.Collections.Generic.List<string>();
            await foreach (var c in Service.GetBlobContainersAsync())
                await foreach (var b in Service.GetBlobContainerClient(c.Name).GetBlobsAsync())
                    names.Add(c.Name + "/" + b.Name);
            return names;
        }

        private Azurite(Process p, string folder, int port) { _process = p; _folder = folder; Port = port; }

        public static string MainScript()
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null)
            {
                var candidate = Path.Combine(dir.FullName, "emulator", "node_modules", "azurite", "dist", "src", "blob", "main.js");
                if (File.Exists(candidate)) return candidate;
                // from another test project (the libvirt tests' chain): the Azure tests' folder beside it
                candidate = Path.Combine(dir.FullName, "GridAutomation.Provider.Azure.Tests", "emulator", "node_modules", "azurite", "dist", "src", "blob", "main.js");
                if (File.Exists(candidate)) return candidate;
                dir = dir.Parent;
            }
            throw new InvalidOperationException("Azurite is not installed: run tests/GridAutomation.Provider.Azure.Tests/setup.sh (npm ci in emulator/).");
        }

        public static async Task<Azurite> StartAsync()
        {
            string script = MainScript();
            string folder = Path.Combine(Path.GetTempPath(), "gridazurite-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            int port;
            using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); port = ((IPEndPoint)l.LocalEndpoint).Port; l.Stop(); }
            var psi = new ProcessStartInfo("node") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { script, "--blobHost", "127.0.0.1", "--blobPort", port.ToString(), "--location", folder, "--silent", "--skipApiVersionCheck", "--disableProductStyleUrl", "--disableTelemetry", "--loose" })
                psi.ArgumentList.Add(a);
            var p = Process.Start(psi) ?? throw new InvalidOperationException("node did not start");
            p.OutputDataReceived += (_, __) => { };
            p.ErrorDataReceived += (_, __) => { };
            p.BeginOutputReadLine(); p.BeginErrorReadLine();
            var az = new Azurite(p, folder, port);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                if (p.HasExited) throw new InvalidOperationException($"Azurite exited with {p.ExitCode} before it listened.");
                try
                {
                    using var c = new TcpClient();
                    await c.ConnectAsync(IPAddress.Loopback, port);
                    break;
                }
                catch (SocketException) when (DateTime.UtcNow < deadline) { await Task.Delay(200); }
            }
            return az;
        }

        public async ValueTask DisposeAsync()
        {
            try { if (!_process.HasExited) { _process.Kill(); await _process.WaitForExitAsync(); } } catch (InvalidOperationException) { }
            _process.Dispose();
            try { Directory.Delete(_folder, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
