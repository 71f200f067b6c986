using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Net.Sockets;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>
    /// PowerShell's SSH transport reports every failure to open a session the same way ("the SSH transport process has
    /// abruptly terminated"); ssh's own reason goes to the console. So when a session cannot be opened, this finds out
    /// why, without any secret: a TCP probe of the port (unreachable), then the same ssh client in batch mode asking
    /// for the same subsystem with stdin closed, whose stderr says whether the login or the host key was refused, or
    /// the subsystem is missing.
    /// </summary>
    internal static class SshDiagnosis
    {
        public static GridException Diagnose(HostSpec spec, string transportMessage, Exception inner)
        {
            int port = spec.Port ?? 22;
            if (!TcpOpen(spec.Host, port, 5000))
                return new GridException(GridErrorKind.Unavailable, $"Cannot reach Hyper-V host '{spec.Address}': nothing answers on {spec.Host} port {port}.", "HyperVHostUnreachable", inner) { Target = spec.Address };
            string? reason = null;
            try { reason = SshStderr(spec); } catch (Exception) { /* no ssh client to ask: keep PowerShell's message */ }
            return Classify(spec.Address, reason, transportMessage, inner);
        }

        /// <summary>Maps ssh's stderr (null when unknown) to an error. Internal for the unit tests.</summary>
        internal static GridException Classify(string address, string? sshStderr, string transportMessage, Exception? inner)
        {
            string r = (sshStderr ?? "").Trim();
            if (r.IndexOf("Host key verification failed", StringComparison.OrdinalIgnoreCase) >= 0 || r.IndexOf("REMOTE HOST IDENTIFICATION HAS CHANGED", StringComparison.OrdinalIgnoreCase) >= 0)
                return new GridException(GridErrorKind.Unauthorized, $"The SSH host key of Hyper-V host '{address}' is unknown or changed; add the right key to the known-hosts file. ssh: {LastLine(r)}", "HyperVHostKeyNotTrusted", inner) { Target = address, IsTransient = false };
            if (r.IndexOf("Permission denied", StringComparison.OrdinalIgnoreCase) >= 0 || r.IndexOf("Too many authentication failures", StringComparison.OrdinalIgnoreCase) >= 0)
                return new GridException(GridErrorKind.Unauthorized, $"Hyper-V host '{address}' refused the SSH login (key authentication). ssh: {LastLine(r)}", "HyperVAuthenticationFailed", inner) { Target = address, IsTransient = false };
            if (r.IndexOf("subsystem request failed", StringComparison.OrdinalIgnoreCase) >= 0)
                return new GridException(GridErrorKind.Unavailable, $"Hyper-V host '{address}' has no PowerShell SSH subsystem (sshd_config: Subsystem powershell <pwsh> -sshs). ssh: {LastLine(r)}", "HyperVSubsystemMissing", inner) { Target = address, IsTransient = false };
            if (r.IndexOf("Connection refused", StringComparison.OrdinalIgnoreCase) >= 0 || r.IndexOf("timed out", StringComparison.OrdinalIgnoreCase) >= 0
                || r.IndexOf("Could not resolve", StringComparison.OrdinalIgnoreCase) >= 0 || r.IndexOf("No route to host", StringComparison.OrdinalIgnoreCase) >= 0)
                return new GridException(GridErrorKind.Unavailable, $"Cannot reach Hyper-V host '{address}'. ssh: {LastLine(r)}", "HyperVHostUnreachable", inner) { Target = address };
            return HyperVErrors.FromTransport(address, r.Length > 0 ? transportMessage + " ssh: " + LastLine(r) : transportMessage, inner);
        }

        private static string LastLine(string text)
        {
            var lines = text.Split('\n');
            for (int i = lines.Length - 1; i >= 0; i--) if (lines[i].Trim().Length > 0) return lines[i].Trim();
            return text;
        }

        private static bool TcpOpen(string host, int port, int timeoutMs)
        {
            try
            {
                using var c = new TcpClient();
                var t = c.ConnectAsync(host, port);
                return t.Wait(timeoutMs) && c.Connected;
            }
            catch (Exception) { return false; }
        }

        private static string SshStderr(HostSpec spec)
        {
            var psi = new ProcessStartInfo("ssh") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
            var args = new List<string> { "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", (spec.Port ?? 22).ToString(System.Globalization.CultureInfo.InvariantCulture) };
            if (!string.IsNullOrEmpty(spec.KeyFilePath)) { args.Add("-i"); args.Add(spec.KeyFilePath!); }
            if (!string.IsNullOrEmpty(spec.KnownHostsFile)) { args.Add("-o"); args.Add("UserKnownHostsFile=" + spec.KnownHostsFile); args.Add("-o"); args.Add("StrictHostKeyChecking=yes"); }
            string user = spec.UserName ?? spec.Credential?.UserName ?? Environment.UserName;
            args.Add("-l"); args.Add(user);
            args.Add(spec.Host);
            args.Add("-s"); args.Add(spec.Subsystem);
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.StandardInput.Close(); // the subsystem (pwsh -sshs) ends at end of input
            var err = p.StandardError.ReadToEndAsync();
            var output = p.StandardOutput.ReadToEndAsync();
            if (!p.WaitForExit(20000)) { try { p.Kill(true); } catch (Exception) { } }
            return err.Wait(2000) ? err.Result : "";
        }
    }
}
