using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>
    /// s3rver (npm s3rver 3.7.1, a fake S3 written by others; installed by ../setup.sh into emulator/node_modules)
    /// started on loopback with a throwaway data folder and one bucket. It checks SigV4 signatures with its own
    /// account (S3RVER / S3RVER), so the datacenter of a test that moves disks connects with that key pair.
    /// </summary>
    public sealed class S3rver : IDisposable
    {
        public const string AccessKey = "S3RVER";
        public const string SecretKey = "S3RVER";
        private readonly Process _process;
        private readonly string _folder;
        public string Url { get; }
        public string Bucket { get; }
        /// <summary>A client of the tests' own for listing what the emulator holds (through its S3 API).</summary>
        public AmazonS3Client Client { get; }

        public S3rver(string bucket = "ga-import")
        {
            Bucket = bucket;
            string script = Path.Combine(TestEnvironment.RepoRoot(), "tests", "GridAutomation.Provider.Aws.Tests", "emulator", "node_modules", "s3rver", "bin", "s3rver.js");
            if (!File.Exists(script))
                throw new InvalidOperationException($"s3rver is not installed ({script}): run tests/GridAutomation.Provider.Aws.Tests/setup.sh (npm ci of emulator/package-lock.json).");
            _folder = Path.Combine(Path.GetTempPath(), "ga-s3rver-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(_folder);
            var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { script, "-d", _folder, "-a", "127.0.0.1", "-p", "0", "--no-vhost-buckets", "--configure-bucket", bucket }) psi.ArgumentList.Add(a);
            _process = Process.Start(psi) ?? throw new InvalidOperationException("node did not start");
            var listening = new Regex(@"listening on ([0-9.]+):(\d+)");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            string? url = null;
            var seen = new List<string>();
            var read = Task.Run(() =>
            {
                string? line;
                while ((line = _process.StandardOutput.ReadLine()) != null)
                {
                    lock (seen) seen.Add(line);
                    var m = listening.Match(line);
                    if (m.Success) return $"http://{m.Groups[1].Value}:{m.Groups[2].Value}";
                }
                return null;
            });
            if (read.Wait(TimeSpan.FromSeconds(30))) url = read.Result;
            if (url == null)
            {
                try { _process.Kill(true); } catch { }
                throw new InvalidOperationException("s3rver did not start: " + string.Join(" | ", seen) + " " + _process.StandardError.ReadToEnd());
            }
            _ = Task.Run(() => { try { _process.StandardOutput.ReadToEnd(); } catch { } });
            _ = Task.Run(() => { try { _process.StandardError.ReadToEnd(); } catch { } });
            Url = url;
            Client = new AmazonS3Client(new BasicAWSCredentials(AccessKey, SecretKey), new AmazonS3Config
            {
                ServiceURL = url, ForcePathStyle = true, AuthenticationRegion = "us-east-1", MaxErrorRetry = 0,
                RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED, ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            });
        }

        /// <summary>Every object key in the bucket, listed through s3rver's own ListObjectsV2.</summary>
        public async Task<List<string>> KeysAsync()
        {
            var resp = await Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket });
            return (resp.S3Objects ?? new List<S3Object>()).Select(o => o.Key).ToList();
        }

        public void Dispose()
        {
            Client.Dispose();
            try { if (!_process.HasExited) _process.Kill(true); _process.WaitForExit(5000); } catch { }
            _process.Dispose();
            try { Directory.Delete(_folder, true); } catch { }
        }
    }
}
