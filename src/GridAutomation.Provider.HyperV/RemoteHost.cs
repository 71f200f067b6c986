using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Remoting;
using System.Management.Automation.Runspaces;
using System.Net;
using System.Threading;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>How to reach one host: SSH (PowerShell 7 anywhere) or WinRM (Windows).</summary>
    internal sealed class HostSpec
    {
        public string Address { get; set; } = "";
        public bool Ssh { get; set; }
        public string? UserName { get; set; }
        public string Host { get; set; } = "";
        public int? Port { get; set; }
        public string? KeyFilePath { get; set; }
        public string? KnownHostsFile { get; set; }
        public string Subsystem { get; set; } = "powershell";
        public bool UseSsl { get; set; }
        public NetworkCredential? Credential { get; set; }
        public int ConnectTimeoutMs { get; set; } = 30000;
    }

    /// <summary>
    /// One PowerShell remoting session (a remote runspace) to one Hyper-V host, opened through PowerShell's own
    /// remoting API (System.Management.Automation of the host process). A runspace runs one pipeline at a time, so
    /// calls are serialized per host; a broken session is reopened on the next call. Scripts run with
    /// $ErrorActionPreference = 'Stop' on the host; what comes back is plain values (see <see cref="ToRecord"/>).
    /// </summary>
    internal sealed class RemoteHost : IDisposable
    {
        private readonly HostSpec _spec;
        private readonly SemaphoreSlim _gate = new SemaphoreSlim(1, 1);
        private readonly Action<string> _verbose;
        private Runspace? _runspace;
        private bool _disposed;

        public RemoteHost(HostSpec spec, Action<string> verbose) { _spec = spec; _verbose = verbose; }

        /// <summary>As the user gave it (-HostName / -ComputerName entry): the Endpoint text. Never holds a secret.</summary>
        public string Address => _spec.Address;
        /// <summary>The host's own name (Get-VMHost), which Move-VM -DestinationHost takes. Set by <see cref="Describe"/>.</summary>
        public string Name { get; set; } = "";
        public string? VirtualHardDiskPath { get; set; }
        public string? ComputerName { get; set; }

        private RunspaceConnectionInfo ConnectionInfo()
        {
            if (_spec.Ssh)
            {
                var options = new Hashtable();
                if (!string.IsNullOrEmpty(_spec.KnownHostsFile))
                {
                    options["UserKnownHostsFile"] = _spec.KnownHostsFile;
                    options["StrictHostKeyChecking"] = "yes";
                }
                options["BatchMode"] = "yes"; // never prompt on a terminal: key authentication or fail
                string user = _spec.UserName ?? _spec.Credential?.UserName ?? Environment.UserName;
                return new SSHConnectionInfo(user, _spec.Host, _spec.KeyFilePath, _spec.Port ?? 22, _spec.Subsystem, _spec.ConnectTimeoutMs, options);
            }
            PSCredential? cred = null;
            if (_spec.Credential != null)
            {
                string user = string.IsNullOrEmpty(_spec.Credential.Domain) ? _spec.Credential.UserName : _spec.Credential.Domain + "\\" + _spec.Credential.UserName;
                cred = new PSCredential(user, _spec.Credential.SecurePassword);
            }
            var info = new WSManConnectionInfo(_spec.UseSsl, _spec.Host, _spec.Port ?? (_spec.UseSsl ? 5986 : 5985), "/wsman",
                "http://schemas.microsoft.com/powershell/Microsoft.PowerShell", cred)
            {
                OpenTimeout = _spec.ConnectTimeoutMs,
            };
            return info;
        }

        private Runspace EnsureOpen()
        {
            if (_disposed) throw new GridException(GridErrorKind.Unavailable, $"The session to Hyper-V host '{Address}' is closed.", "DatacenterDisconnected") { IsTransient = false };
            if (_runspace != null && _runspace.RunspaceStateInfo.State == RunspaceState.Opened) return _runspace;
            DropRunspace();
            if (!_spec.Ssh && !OperatingSystem.IsWindows())
                throw new GridException(GridErrorKind.Unsupported, $"WinRM remoting (-ComputerName {Address}) needs Windows: PowerShell on this platform has no WinRM client. Use -HostName (SSH remoting).", "HyperVWinRMNotSupported") { Target = Address };
            _verbose($"Hyper-V: opening a PowerShell remoting session to {Address} ({(_spec.Ssh ? "SSH" : "WinRM")})");
            Runspace rs;
            try
            {
                rs = RunspaceFactory.CreateRunspace(ConnectionInfo());
                rs.Open();
            }
            catch (PSRemotingTransportException ex) { throw OpenFailed(ex); }
            catch (PSRemotingDataStructureException ex) { throw OpenFailed(ex); }
            catch (PlatformNotSupportedException ex)
            {
                throw new GridException(GridErrorKind.Unsupported, $"WinRM remoting (-ComputerName) is not available on this platform; use -HostName (SSH). {ex.Message}", "HyperVWinRMNotSupported", ex) { Target = Address };
            }
            catch (Exception ex) when (ex is not GridException && ex is not OperationCanceledException)
            {
                throw OpenFailed(ex);
            }
            _runspace = rs;
            return rs;
        }

        /// <summary>Why the session did not open: over SSH PowerShell says only that the transport ended, so ask ssh itself.</summary>
        private GridException OpenFailed(Exception ex)
            => _spec.Ssh ? SshDiagnosis.Diagnose(_spec, ex.Message, ex) : HyperVErrors.FromTransport(Address, ex.Message, ex);

        private void DropRunspace()
        {
            var rs = _runspace;
            _runspace = null;
            if (rs == null) return;
            try { rs.Dispose(); } catch (Exception) { /* a broken session: nothing to release */ }
        }

        /// <summary>Runs a script on the host with named parameters and returns its output as records. Blocking: call on a pool thread.</summary>
        public List<Dictionary<string, object?>> Invoke(string script, IDictionary<string, object?>? parameters, CancellationToken ct, object? target)
            => InvokeRaw(script, parameters, ct, target).Where(o => o != null).Select(ToRecord).ToList();

        /// <summary>
        /// Like <see cref="Invoke"/>, but the output as it was deserialized (a byte[] chunk of a disk stays a byte[]:
        /// remoting carries it as one base64 element). Blocking: call on a pool thread.
        /// </summary>
        public System.Collections.ObjectModel.Collection<PSObject> InvokeRaw(string script, IDictionary<string, object?>? parameters, CancellationToken ct, object? target)
        {
            _gate.Wait(ct);
            try
            {
                var rs = EnsureOpen();
                using var ps = PowerShell.Create();
                ps.Runspace = rs;
                ps.AddScript(script);
                if (parameters != null) foreach (var kv in parameters) ps.AddParameter(kv.Key, kv.Value);
                using var reg = ct.Register(() => { try { ps.BeginStop(null, null); } catch (Exception) { } });
                System.Collections.ObjectModel.Collection<PSObject> output;
                try { output = ps.Invoke(); }
                catch (RuntimeException ex) when (ex.ErrorRecord != null && ex is not PSRemotingTransportException)
                {
                    ct.ThrowIfCancellationRequested();
                    if (rs.RunspaceStateInfo.State != RunspaceState.Opened) { DropRunspace(); throw HyperVErrors.FromTransport(Address, ex.Message, ex); }
                    throw FromRecord(ex.ErrorRecord, target);
                }
                catch (PSRemotingTransportException ex) { DropRunspace(); throw HyperVErrors.FromTransport(Address, ex.Message, ex); }
                catch (PipelineStoppedException) { ct.ThrowIfCancellationRequested(); throw; }
                ct.ThrowIfCancellationRequested();
                if (ps.Streams.Error.Count > 0) throw FromRecord(ps.Streams.Error[0], target);
                return output;
            }
            catch (InvalidRunspaceStateException ex) { DropRunspace(); throw HyperVErrors.FromTransport(Address, ex.Message, ex); }
            finally { _gate.Release(); }
        }

        private static GridException FromRecord(ErrorRecord record, object? target)
        {
            string message = record.ErrorDetails?.Message ?? record.Exception?.Message ?? record.ToString();
            return HyperVErrors.FromRemote(record.FullyQualifiedErrorId, record.CategoryInfo.Category.ToString(), message, target);
        }

        /// <summary>A (deserialized) object → property name → plain value: enums by their name, collections as arrays.</summary>
        internal static Dictionary<string, object?> ToRecord(PSObject o)
        {
            var d = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
            foreach (var p in o.Properties)
            {
                object? v;
                try { v = p.Value; } catch (Exception) { continue; }
                d[p.Name] = Plain(v, 0);
            }
            return d;
        }

        private static object? Plain(object? v, int depth)
        {
            if (v is PSObject pso)
            {
                // A deserialized enum keeps its name in ToString() and its number as the base object.
                if (pso.TypeNames.Any(t => t.EndsWith("System.Enum", StringComparison.Ordinal))) return pso.ToString();
                if (pso.BaseObject is PSCustomObject || (pso.BaseObject is not string && pso.BaseObject is not IEnumerable && pso.TypeNames.Count > 0 && pso.TypeNames[0].StartsWith("Deserialized.", StringComparison.Ordinal) && depth < 2 && pso.Properties.Any()))
                    return depth < 2 ? ToRecord(pso) : pso.ToString();
                v = pso.BaseObject;
            }
            if (v is Enum e) return e.ToString();
            if (v is string || v is null) return v;
            if (v is IDictionary) return v;
            if (v is IEnumerable list) return list.Cast<object?>().Select(x => Plain(x, depth + 1)).ToArray();
            return v;
        }

        public void Dispose()
        {
            if (_disposed) return;
            _gate.Wait();
            try { _disposed = true; DropRunspace(); }
            finally { _gate.Release(); }
        }
    }
}
