using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.VSphere.Vim25;
using GridAutomation.Core.State;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>A live session with one vSphere datacenter.</summary>
    public sealed partial class VSphereConnection : IGridConnection
    {
        private readonly VimClient _vim;
        private readonly Action<string> _verbose;
        private readonly IRetryPolicy? _retry;
        private VapiTagClient? _tags;
        private MoRef _dc, _vmFolder;
        private string _dcName = "";
        private MoRef _vmView; private int _vmViewGen = -1;
        private MoRef _hostView; private int _hostViewGen = -1;
        private readonly SemaphoreSlim _viewGate = new SemaphoreSlim(1, 1);
        private Dictionary<MoRef, HostInfo>? _hostCache; private DateTime _hostCacheAt;
        private bool _disposed;

        internal VSphereConnection(GridDatacenter datacenter, Uri sdkUrl, TlsSettings tls, Action<string>? verbose, IRetryPolicy? retry = null)
        {
            Datacenter = datacenter;
            _verbose = verbose ?? (_ => { });
            _retry = retry;
            _vim = new VimClient(sdkUrl, tls) { Verbose = _verbose };
            Endpoint = sdkUrl.ToString();
        }

        public GridDatacenter Datacenter { get; }
        public GridCapabilities Capabilities { get; private set; } = VSphereProvider.All;
        public string Endpoint { get; }
        public bool HandlesOwnRetries => false;
        /// <summary>The vSphere datacenter name this connection maps to.</summary>
        public string VSphereDatacenter => _dcName;
        /// <summary>HTTP round trips made so far (SOAP + tagging REST).</summary>
        public long RoundTrips => _vim.RoundTrips + (_tags?.RoundTrips ?? 0);
        internal VimClient Vim => _vim;
        internal bool TagsAvailable => _tags != null;

        // ---- connect ------------------------------------------------------------------------------------------

        internal async Task InitializeAsync(NetworkCredential credential, string? datacenterName, CancellationToken ct)
        {
            await _vim.ConnectAsync(credential, ct).ConfigureAwait(false);
            var view = await _vim.CreateContainerViewAsync(_vim.Content.RootFolder, new[] { "Datacenter" }, ct).ConfigureAwait(false);
            List<ObjectContent> dcs;
            try { dcs = await _vim.RetrieveAllAsync(new FilterSpec { Root = view, ViaView = true }.Add("Datacenter", "name", "vmFolder"), ct).ConfigureAwait(false); }
            finally { try { await _vim.DestroyViewAsync(view, ct).ConfigureAwait(false); } catch (GridException) { } }
            if (dcs.Count == 0) throw GridException.NotFound($"{Endpoint} has no datacenter.", "DatacenterNotFound", Datacenter.Name);
            ObjectContent? chosen = string.IsNullOrEmpty(datacenterName)
                ? dcs[0]
                : dcs.FirstOrDefault(d => string.Equals(d.Text("name"), datacenterName, StringComparison.OrdinalIgnoreCase));
            if (chosen == null)
                throw GridException.NotFound($"vSphere datacenter '{datacenterName}' not found on {Endpoint}. Datacenters there: {string.Join(", ", dcs.Select(d => d.Text("name")))}.", "DatacenterNotFound", datacenterName);
            _dc = chosen.Obj;
            _dcName = chosen.Text("name") ?? _dc.Value;
            _vmFolder = chosen.Ref("vmFolder") ?? throw VimClient.Malformed("the datacenter has no vmFolder.", null);

            var caps = VSphereProvider.All;
            if (!_vim.Content.IsVCenter)
            {
                // A standalone ESXi host: no cloning, no vMotion, no tagging service.
                caps &= ~(GridCapabilities.Create | GridCapabilities.Move | GridCapabilities.LiveMove | GridCapabilities.Tags);
                _verbose($"{Endpoint} is {_vim.Content.FullName} (not a vCenter): create, move and tags are not available.");
            }
            else
            {
                var tags = new VapiTagClient(_vim.SdkUrl, _vim.Tls, credential);
                try { await tags.LoginAsync(ct).ConfigureAwait(false); _tags = tags; }
                catch (GridException ex) when (ex.Kind != GridErrorKind.Cancelled)
                {
                    tags.Dispose();
                    caps &= ~GridCapabilities.Tags;
                    _verbose($"vSphere tagging (vAPI) is not available on {Endpoint}: {ex.Message}. Workloads are listed without tags.");
                }
            }
            Capabilities = caps;
            Datacenter.Capabilities = caps;
            _verbose($"Connected to {_vim.Content.FullName} at {Endpoint}, datacenter '{_dcName}' ({_dc.Value}), API {_vim.Content.ApiVersion}.");
        }

        // ---- session helpers ----------------------------------------------------------------------------------

        /// <summary>Runs a call; when the session expired (NotAuthenticated) logs in again once and runs it again (views are re-created).</summary>
        private async Task<T> WithSessionAsync<T>(Func<Task<T>> op, CancellationToken ct)
        {
            int gen = _vim.SessionGeneration;
            try { return await op().ConfigureAwait(false); }
            catch (GridException ex) when (ex.NativeCode == "NotAuthenticated")
            {
                await _vim.ReloginAsync(gen, ct).ConfigureAwait(false);
                return await op().ConfigureAwait(false);
            }
            catch (GridException ex) when (ex.NativeCode == "ManagedObjectNotFound" && IsOurView(ex.Target as string))
            {
                // Our container view is gone (its session ended: views are session-scoped). Re-create it; doing so
                // meets NotAuthenticated (and logs in again) when the session itself expired.
                _verbose("vSphere container view gone (session ended?): re-creating it.");
                _vmViewGen = -1; _hostViewGen = -1;
                return await op().ConfigureAwait(false);
            }
        }

        private bool IsOurView(string? moref)
            => moref != null && ((_vmViewGen != -1 && moref == _vmView.Value) || (_hostViewGen != -1 && moref == _hostView.Value));

        private async Task<MoRef> VmViewAsync(CancellationToken ct)
        {
            await _viewGate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (_vmViewGen != _vim.SessionGeneration)
                {
                    _vmView = await _vim.CreateContainerViewAsync(_dc, new[] { "VirtualMachine" }, ct).ConfigureAwait(false);
                    _vmViewGen = _vim.SessionGeneration;
                }
                return _vmView;
            }
            finally { _viewGate.Release(); }
        }

        private async Task<MoRef> HostViewAsync(CancellationToken ct)
        {
            await _viewGate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (_hostViewGen != _vim.SessionGeneration)
                {
                    _hostView = await _vim.CreateContainerViewAsync(_dc, new[] { "HostSystem", "ComputeResource" }, ct).ConfigureAwait(false);
                    _hostViewGen = _vim.SessionGeneration;
                }
                return _hostView;
            }
            finally { _viewGate.Release(); }
        }

        private static GridException Cancelled(OperationCanceledException oce)
            => new GridException(GridErrorKind.Cancelled, "The vSphere operation was cancelled.", "OperationCancelled", oce);

        // ---- resume / disconnect ------------------------------------------------------------------------------

        public Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken cancellationToken)
            => throw GridException.Unsupported("vSphere operations are single vSphere tasks: re-run the operation (it is idempotent).", "CapabilityNotSupported", operation?.Id);

        public async Task DisconnectAsync(CancellationToken cancellationToken)
        {
            if (_tags != null) await _tags.LogoutAsync(cancellationToken).ConfigureAwait(false);
            await _vim.LogoutAsync(cancellationToken).ConfigureAwait(false);
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _tags?.Dispose();
            _vim.Dispose();
            _viewGate.Dispose();
        }
    }
}
