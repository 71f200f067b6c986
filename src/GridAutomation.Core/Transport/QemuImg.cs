using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;

namespace GridAutomation.Core.Transport
{
    /// <summary>
    /// Runs qemu-img (found by <see cref="DiskConverter.Locate"/>) to convert and compare disk images file to file:
    /// qemu-img streams, so no disk is ever held in memory. A missing converter is DiskConverterMissing; a failed
    /// run is DiskConversionFailed with qemu-img's own message.
    /// </summary>
    public sealed class QemuImg
    {
        private readonly string _path;
        public QemuImg(string path) { _path = path; }

        /// <summary>The converter, or DiskConverterMissing (with how to install it).</summary>
        public static QemuImg Require(object? target = null) => new QemuImg(DiskConverter.Locate() ?? throw DiskConverter.Missing(target));

        public string Path => _path;

        /// <summary>Converts <paramref name="source"/> to <paramref name="destination"/> (written to a temp name beside it, then renamed, so a half-written file never has the final name).</summary>
        public async Task ConvertAsync(string source, DiskFormat from, string destination, DiskFormat to, CancellationToken ct)
        {
            var f = DiskConverter.QemuName(from) ?? throw GridException.Unsupported($"{from} disks are not files qemu-img reads.", "UnsupportedDiskFormat");
            var t = DiskConverter.QemuName(to) ?? throw GridException.Unsupported($"{to} disks are not files qemu-img writes.", "UnsupportedDiskFormat");
            string partial = destination + ".partial";
            if (File.Exists(partial)) File.Delete(partial);
            string? resized = null;
            if (to == DiskFormat.VhdFixed && from != DiskFormat.VhdFixed)
            {
                // Azure: a fixed VHD of whole MiB (+ the 512-byte footer); force_size keeps qemu-img from rounding to CHS geometry
                (source, f, resized) = await AlignForVhdAsync(source, from, f, destination, ct).ConfigureAwait(false);
            }
            var args = new List<string> { "convert", "-q", "-f", f.Format, "-O", t.Format };
            if (t.Options != null) { args.Add("-o"); args.Add(t.Options); }
            args.Add(source); args.Add(partial);
            try
            {
                await RunAsync(args, ct).ConfigureAwait(false);
                if (File.Exists(destination)) File.Delete(destination);
                File.Move(partial, destination);
            }
            finally
            {
                if (File.Exists(partial)) File.Delete(partial);
                if (resized != null && File.Exists(resized)) File.Delete(resized);
            }
        }

        private const long Mib = 1024 * 1024;

        /// <summary>The virtual size a fixed VHD for Azure gets: the capacity rounded up to a whole MiB (the file is that + 512 bytes).</summary>
        public static long VhdFixedSize(long capacityBytes) => (capacityBytes + Mib - 1) / Mib * Mib;

        /// <summary>The guest-visible size of an image (qemu-img info).</summary>
        public async Task<long> VirtualSizeAsync(string image, DiskFormat format, CancellationToken ct)
        {
            var n = DiskConverter.QemuName(format) ?? throw GridException.Unsupported($"{format} disks are not files qemu-img reads.", "UnsupportedDiskFormat");
            var (code, output, err) = await ExecAsync(new List<string> { "info", "--output=json", "-f", n.Format, image }, ct).ConfigureAwait(false);
            if (code != 0) throw new GridException(GridErrorKind.InvalidRequest, "qemu-img info failed: " + err.Trim(), "DiskConversionFailed");
            using var doc = System.Text.Json.JsonDocument.Parse(output);
            return doc.RootElement.GetProperty("virtual-size").GetInt64();
        }

        /// <summary>A source whose size is not a whole MiB is staged as raw beside the destination and grown to the next MiB (zeros).</summary>
        private async Task<(string Source, (string Format, string? Options) Name, string? Staged)> AlignForVhdAsync(string source, DiskFormat from, (string Format, string? Options) f, string destination, CancellationToken ct)
        {
            long size = await VirtualSizeAsync(source, from, ct).ConfigureAwait(false);
            long aligned = VhdFixedSize(size);
            if (aligned == size) return (source, f, null);
            string staged = destination + ".resize.raw";
            if (File.Exists(staged)) File.Delete(staged);
            await RunAsync(new List<string> { "convert", "-q", "-f", f.Format, "-O", "raw", source, staged }, ct).ConfigureAwait(false);
            await RunAsync(new List<string> { "resize", "-q", "-f", "raw", staged, aligned.ToString(System.Globalization.CultureInfo.InvariantCulture) }, ct).ConfigureAwait(false);
            return (staged, ("raw", null), staged);
        }


        /// <summary>
        /// SHA-256 (lower-case hex) of an image's guest-visible content: the raw bytes of its virtual size, what a
        /// destination that hashes what the guest sees (vSphere, Azure) reports. A raw file is hashed as it is; any other
        /// format is converted to a sparse raw file beside it (qemu-img writes no pipe: its raw driver creates and
        /// resizes its output), hashed once and deleted. Holes cost no disk space.
        /// </summary>
        public Task<string> GuestContentHashAsync(string image, DiskFormat format, CancellationToken ct) => GuestContentHashAsync(this, image, format, ct);

        /// <summary>The same, for a caller without a converter at hand: qemu-img is looked up only when the image is not raw
        /// (DiskConverterMissing when it is needed and not found).</summary>
        public static Task<string> GuestContentHashAsync(string image, DiskFormat format, object? target, CancellationToken ct)
            => GuestContentHashAsync(format == DiskFormat.Raw ? null : Require(target), image, format, ct);

        private static async Task<string> GuestContentHashAsync(QemuImg? qemu, string image, DiskFormat format, CancellationToken ct)
        {
            if (format == DiskFormat.Raw) return await Task.Run(() => DiskFiles.Sha256(image, null, ct), ct).ConfigureAwait(false);
            string raw = image + ".guest.raw";
            try
            {
                await qemu!.ConvertAsync(image, format, raw, DiskFormat.Raw, ct).ConfigureAwait(false);
                return await Task.Run(() => DiskFiles.Sha256(raw, null, ct), ct).ConfigureAwait(false);
            }
            finally { if (File.Exists(raw)) File.Delete(raw); }
        }

        /// <summary>True when both images hold the same guest-visible content (qemu-img compare: an area only one image has must be zeros, as a VHD rounded up to its geometry is).</summary>
        public async Task<bool> CompareAsync(string a, DiskFormat fa, string b, DiskFormat fb, CancellationToken ct)
        {
            var na = DiskConverter.QemuName(fa)!.Value.Format;
            var nb = DiskConverter.QemuName(fb)!.Value.Format;
            var (code, _, err) = await ExecAsync(new List<string> { "compare", "-q", "-f", na, "-F", nb, a, b }, ct).ConfigureAwait(false);
            if (code == 0) return true;
            if (code == 1) return false;
            throw new GridException(GridErrorKind.InvalidRequest, "qemu-img compare failed: " + err.Trim(), "DiskConversionFailed");
        }

        private async Task RunAsync(List<string> args, CancellationToken ct)
        {
            var (code, _, err) = await ExecAsync(args, ct).ConfigureAwait(false);
            if (code != 0) throw new GridException(GridErrorKind.InvalidRequest, $"qemu-img {args[0]} failed (exit {code}): {err.Trim()}", "DiskConversionFailed");
        }

        private async Task<(int Code, string Out, string Err)> ExecAsync(List<string> args, CancellationToken ct)
        {
            var psi = new ProcessStartInfo(_path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            var sb = new StringBuilder();
            foreach (var a in args) { if (sb.Length > 0) sb.Append(' '); sb.Append(Quote(a)); }
            psi.Arguments = sb.ToString();
            using var p = new Process { StartInfo = psi };
            try { p.Start(); }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception || ex is IOException)
            { throw new GridException(GridErrorKind.Unsupported, $"The disk converter '{_path}' could not be started ({ex.Message}): " + DiskConverter.InstallHint + ".", "DiskConverterMissing", ex); }
            var outTask = p.StandardOutput.ReadToEndAsync();
            var errTask = p.StandardError.ReadToEndAsync();
            using (ct.Register(() => { try { if (!p.HasExited) p.Kill(); } catch (InvalidOperationException) { } }))
            {
                await Task.Run(() => p.WaitForExit(), CancellationToken.None).ConfigureAwait(false);
            }
            ct.ThrowIfCancellationRequested();
            return (p.ExitCode, await outTask.ConfigureAwait(false), await errTask.ConfigureAwait(false));
        }

        private static string Quote(string a) => a.Length > 0 && a.IndexOfAny(new[] { ' ', '"', '\t' }) < 0 ? a : "\"" + a.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
    }
}
