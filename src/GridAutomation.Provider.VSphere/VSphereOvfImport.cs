using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using System.Xml;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.VSphere.Vim25;

namespace GridAutomation.Providers.VSphere
{
    /// <summary>
    /// Import of a disk by the OVF path a real vCenter needs: a minimal OVF descriptor for the one disk,
    /// OvfManager.CreateImportSpec, ResourcePool.ImportVApp, the streamOptimized VMDK POSTed to the HttpNfcLease's
    /// device URL (its "*" host replaced by the server's, as govc does), HttpNfcLeaseProgress while it streams and
    /// HttpNfcLeaseComplete; on any failure HttpNfcLeaseAbort and the half-made VM is destroyed. The VM is named
    /// after the move's key and marked complete in its extraConfig, so a repeated import returns it (or remakes an
    /// unfinished one); the move's create step then adopts it (name, CPU/memory, tags).
    /// </summary>
    public sealed partial class VSphereConnection
    {
        internal const string ImportMarkerKey = "gridautomation.import";
        internal const string StreamVmdkContentType = "application/x-vnd.vmware-streamVmdk";

        /// <summary>The name an import gives its VM until the create step renames it: deterministic per key and disk.</summary>
        internal static string ImportName(string key, string diskName)
        {
            string n = "gridimport-" + Safe(key) + "-" + Safe(diskName);
            return n.Length > 80 ? n.Substring(0, 80) : n;
        }

        public Task<string> ImportDiskAsync(DiskImage image, string key, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (image == null) throw GridException.InvalidRequest("No disk image to import.", "DiskImageMissing");
            if (string.IsNullOrEmpty(key)) throw GridException.InvalidRequest("An import needs its operation's key.", "IdempotencyKeyRequired", image.Name);
            if (image.Format != DiskFormat.VmdkStreamOptimized)
                throw GridException.Unsupported($"vSphere imports disks as streamOptimized VMDK (the OVF upload format), not {image.Format}: convert it first (qemu-img convert -O vmdk -o subformat=streamOptimized).", "UnsupportedDiskFormat", image.Name);
            if (string.IsNullOrEmpty(image.Path) || !File.Exists(image.Path))
                throw GridException.InvalidRequest($"The disk image '{image.Name}' to import is not in the temp folder ({image.Path ?? "no path"}).", "DiskImageMissing", image.Name);
            string vmName = ImportName(key, image.Name);
            // before anything is made: a roll-back (DiscardImportsAsync) finds the VM by this name even if this run dies
            scope?.Checkpoint(ImportCheckpoint + image.Name, vmName);
            return WithSessionAsync(async () =>
            {
                var ct = cancellationToken;
                var existing = await FindChildAsync(_vmFolder, vmName, ct).ConfigureAwait(false);
                if (existing.HasValue && existing.Value.Type == "VirtualMachine")
                {
                    var oc = await _vim.GetPropertiesAsync(existing.Value, new[] { "config.instanceUuid", "config.extraConfig" }, ct).ConfigureAwait(false);
                    if (ExtraConfig(oc, ImportMarkerKey) == "complete" && oc?.Text("config.instanceUuid") is string done)
                    {
                        _verbose($"The import '{vmName}' was already completed: returning its VM {done}.");
                        return done;
                    }
                    _verbose($"An unfinished import '{vmName}' is left from an earlier run: destroying it before importing again.");
                    await DestroyQuietlyAsync(existing.Value, vmName, scope, ct).ConfigureAwait(false);
                }
                return await ImportNewAsync(image, vmName, scope, ct).ConfigureAwait(false);
            }, cancellationToken);
        }

        private async Task<string> ImportNewAsync(DiskImage image, string vmName, IOperationScope? scope, CancellationToken ct)
        {
            string activity = $"Import disk '{image.Name}' into vSphere datacenter '{_dcName}'";
            var (pool, host, hostName) = await PlaceAsync(new CreateWorkloadRequest { Name = vmName }, null, ct).ConfigureAwait(false);
            var datastore = await ChooseDatastoreAsync(host, ct).ConfigureAwait(false);
            long fileSize = new FileInfo(image.Path!).Length;
            // the file's own header is authoritative for the virtual size (the image's CapacityBytes may be unknown: 0)
            long capacity = VmdkSniffer.CapacityBytes(image.Path!) ?? image.CapacityBytes;
            if (capacity <= 0) throw GridException.InvalidRequest($"The disk image '{image.Name}' declares no virtual size: it is not a streamOptimized VMDK.", "UnsupportedDiskFormat", image.Name);
            string descriptor = OvfDescriptor.Build(vmName, "disk-0.vmdk", fileSize, capacity);
            scope?.Report(new GridProgress(activity, $"{vmName}: CreateImportSpec on {hostName}", 0));
            var resp = await _vim.InvokeAsync("CreateImportSpec", _vim.Content.OvfManager, w =>
            {
                w.WriteElementString("ovfDescriptor", descriptor);
                VimClient.WriteMoRef(w, "resourcePool", pool);
                VimClient.WriteMoRef(w, "datastore", datastore);
                VimClient.StartTyped(w, "cisp", "OvfCreateImportSpecParams");
                w.WriteElementString("locale", "");
                w.WriteElementString("deploymentOption", "");
                w.WriteElementString("entityName", vmName);
                if (host.HasValue) VimClient.WriteMoRef(w, "hostSystem", host.Value);
                w.WriteElementString("diskProvisioning", "thin");
                w.WriteEndElement();
            }, ct).ConfigureAwait(false);
            var result = resp?.Child("returnval") ?? throw VimClient.Malformed("CreateImportSpec returned nothing.", null);
            var errors = result.All("error").Select(e => e.ChildText("localizedMessage") ?? e.Child("fault")?.XsiType ?? "error").ToList();
            if (errors.Count > 0)
                throw GridException.InvalidRequest($"vSphere refused the OVF descriptor for '{image.Name}': {string.Join("; ", errors)}", "OvfImportSpecInvalid", image.Name);
            var spec = result.Child("importSpec") ?? throw VimClient.Malformed("CreateImportSpec returned no importSpec.", null);
            var fileItem = result.All("fileItem").FirstOrDefault();
            var leaseResp = await _vim.InvokeAsync("ImportVApp", pool, w =>
            {
                WriteNode(w, "spec", spec);
                VimClient.WriteMoRef(w, "folder", _vmFolder);
                if (host.HasValue) VimClient.WriteMoRef(w, "host", host.Value);
            }, ct).ConfigureAwait(false);
            var lease = leaseResp?.Child("returnval")?.AsMoRef() ?? throw VimClient.Malformed("ImportVApp returned no HttpNfcLease.", null);
            MoRef? vm = null;
            try
            {
                var info = await WaitLeaseReadyAsync(lease, image.Name, ct).ConfigureAwait(false);
                vm = info.ChildMoRef("entity");
                var devices = info.All("deviceUrl").ToList();
                var device = devices.FirstOrDefault(d => fileItem != null && d.ChildText("importKey") == fileItem.ChildText("deviceId"))
                             ?? devices.FirstOrDefault(d => d.Child("disk")?.AsBool() == true)
                             ?? throw GridException.InvalidRequest($"The import lease of '{vmName}' offers no disk URL.", "NfcDeviceUrlMissing", image.Name);
                var url = NfcUrl(device.ChildText("url") ?? "");
                string method = fileItem?.Child("create")?.AsBool() == true ? "PUT" : "POST";
                await UploadWithProgressAsync(lease, url, method, image.Path!, fileSize, activity, vmName, scope, ct).ConfigureAwait(false);
                await _vim.InvokeAsync("HttpNfcLeaseComplete", lease, null, ct).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                await AbortLeaseQuietlyAsync(lease, ex.Message).ConfigureAwait(false);
                var left = vm ?? await FindChildQuietlyAsync(vmName).ConfigureAwait(false);
                if (left.HasValue) await DestroyQuietlyAsync(left.Value, vmName, null, CancellationToken.None).ConfigureAwait(false);
                throw;
            }
            vm ??= await FindChildAsync(_vmFolder, vmName, ct).ConfigureAwait(false) ?? throw VimClient.Malformed("the imported VM cannot be found.", null);
            await RunTaskAsync("ReconfigVM_Task", vm.Value, w =>
            {
                VimClient.StartTyped(w, "spec", "VirtualMachineConfigSpec");
                VimClient.StartTyped(w, "extraConfig", "OptionValue");
                w.WriteElementString("key", ImportMarkerKey);
                VimClient.StartTyped(w, "value", "xsd:string");
                w.WriteString("complete");
                w.WriteEndElement();
                w.WriteEndElement();
                w.WriteEndElement();
            }, activity, vmName, scope, ct).ConfigureAwait(false);
            var uuidOc = await _vim.GetPropertiesAsync(vm.Value, new[] { "config.instanceUuid" }, ct).ConfigureAwait(false);
            string uuid = uuidOc?.Text("config.instanceUuid") ?? throw VimClient.Malformed("the imported VM has no instance UUID.", null);
            _verbose($"Imported '{image.Name}' ({fileSize} bytes, streamOptimized) as VM '{vmName}' ({uuid}).");
            return uuid;
        }

        /// <summary>Polls the lease until it is ready (its device URLs known) or failed.</summary>
        private async Task<VimNode> WaitLeaseReadyAsync(MoRef lease, string what, CancellationToken ct)
        {
            var deadline = DateTime.UtcNow.AddMinutes(10);
            while (true)
            {
                var oc = await _vim.GetPropertiesAsync(lease, new[] { "state", "info", "error" }, ct).ConfigureAwait(false);
                string state = oc?.Text("state") ?? "";
                if (state == "ready") return oc!.Get("info") ?? throw VimClient.Malformed("the ready HttpNfcLease has no info.", null);
                if (state == "error" || state == "done")
                {
                    var err = oc?.Get("error");
                    string fault = err?.Child("fault")?.XsiType ?? "SystemError";
                    throw VimFaults.ToException(fault, err?.ChildText("localizedMessage") ?? $"the import lease ended in state {state}", $"Import of '{what}'", what);
                }
                if (DateTime.UtcNow > deadline) throw GridException.ResourceUnavailable($"The import lease for '{what}' did not become ready within 10 minutes.", "NfcLeaseTimeout", what);
                await Task.Delay(200, ct).ConfigureAwait(false);
            }
        }

        /// <summary>The lease's device URL with its "*" host replaced by the server's host and port (and scheme: a plain-http test server).</summary>
        internal Uri NfcUrl(string deviceUrl)
        {
            if (!Uri.TryCreate(deviceUrl.Replace("://*/", "://placeholder.invalid/").Replace("://*:", "://placeholder.invalid:"), UriKind.Absolute, out var u))
                throw VimClient.Malformed($"the lease's device URL '{deviceUrl}' is not a URL.", null);
            if (u.Host != "placeholder.invalid") return u;
            var b = new UriBuilder(u) { Scheme = _vim.SdkUrl.Scheme, Host = _vim.SdkUrl.Host, Port = _vim.SdkUrl.Port };
            return b.Uri;
        }

        private async Task UploadWithProgressAsync(MoRef lease, Uri url, string method, string file, long size, string activity, string vmName, IOperationScope? scope, CancellationToken ct)
        {
            long sent = 0; int lastPct = -1;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            // the lease times out unless HttpNfcLeaseProgress is called while the bytes stream
            var keepAlive = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try { await Task.Delay(TimeSpan.FromSeconds(2), stop.Token).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
                    int pct = size > 0 ? (int)Math.Min(99, Interlocked.Read(ref sent) * 100 / size) : 0;
                    try { await _vim.InvokeAsync("HttpNfcLeaseProgress", lease, w => w.WriteElementString("percent", pct.ToString(CultureInfo.InvariantCulture)), stop.Token).ConfigureAwait(false); }
                    catch (GridException) { }
                }
            });
            try
            {
                await VSphereDatastoreFiles.UploadAsync(_vim, url, method, file, StreamVmdkContentType, done =>
                {
                    Interlocked.Exchange(ref sent, done);
                    int pct = size > 0 ? (int)(done * 100 / size) : -1;
                    if (pct != lastPct) { lastPct = pct; scope?.Report(new GridProgress(activity, $"{vmName}: {done / 1048576.0:0.0} of {size / 1048576.0:0.0} MiB", pct)); }
                }, ct).ConfigureAwait(false);
            }
            finally
            {
                stop.Cancel();
                await keepAlive.ConfigureAwait(false);
            }
        }

        private async Task AbortLeaseQuietlyAsync(MoRef lease, string reason)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await _vim.InvokeAsync("HttpNfcLeaseAbort", lease, w =>
                {
                    VimClient.StartTyped(w, "fault", "LocalizedMethodFault");
                    VimClient.StartTyped(w, "fault", "SystemError");
                    w.WriteElementString("reason", reason.Length > 200 ? reason.Substring(0, 200) : reason);
                    w.WriteEndElement();
                    w.WriteElementString("localizedMessage", "GridAutomation aborted the import: " + (reason.Length > 200 ? reason.Substring(0, 200) : reason));
                    w.WriteEndElement();
                }, cts.Token).ConfigureAwait(false);
            }
            catch (GridException ex) { _verbose("HttpNfcLeaseAbort: " + ex.Message); }
        }

        private async Task<MoRef?> FindChildQuietlyAsync(string name)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                var r = await FindChildAsync(_vmFolder, name, cts.Token).ConfigureAwait(false);
                return r.HasValue && r.Value.Type == "VirtualMachine" ? r : null;
            }
            catch (GridException) { return null; }
        }

        internal const string ImportCheckpoint = "vsphere.import:";

        /// <summary>
        /// IDiskImportCleanup: a rolled-back move removes the VMs its imports made that the create step never adopted
        /// (adopting renames the VM, so a VM still under the import's name is nobody's). Found by the names checkpointed
        /// before each import began, so an import cut short by a dead process is found too.
        /// </summary>
        public Task DiscardImportsAsync(IOperationScope scope, CancellationToken cancellationToken)
        {
            var names = scope.Checkpoints.Where(kv => kv.Key.StartsWith(ImportCheckpoint, StringComparison.Ordinal)).Select(kv => kv.Value).Distinct().ToList();
            if (names.Count == 0) return Task.CompletedTask;
            return WithSessionAsync(async () =>
            {
                foreach (var name in names)
                {
                    var vm = await FindChildAsync(_vmFolder, name, cancellationToken).ConfigureAwait(false);
                    if (vm.HasValue && vm.Value.Type == "VirtualMachine")
                    {
                        _verbose($"Roll-back: removing the imported VM '{name}' that no workload took.");
                        await DestroyQuietlyAsync(vm.Value, name, scope, cancellationToken).ConfigureAwait(false);
                    }
                }
                return true;
            }, cancellationToken);
        }

        /// <summary>Powers off and destroys a VM (with its files); one that is already gone is fine.</summary>
        private async Task DestroyQuietlyAsync(MoRef vm, string name, IOperationScope? scope, CancellationToken ct)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromMinutes(2));
            try
            {
                var oc = await _vim.GetPropertiesAsync(vm, new[] { "runtime.powerState" }, cts.Token).ConfigureAwait(false);
                if (oc?.Text("runtime.powerState") == "poweredOn")
                    await RunTaskAsync("PowerOffVM_Task", vm, null, "Remove unfinished import", name, scope, cts.Token).ConfigureAwait(false);
                await RunTaskAsync("Destroy_Task", vm, null, "Remove unfinished import", name, scope, cts.Token).ConfigureAwait(false);
            }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { }
            catch (GridException ex) { _verbose($"Removing the unfinished import '{name}' failed: {ex.Message}"); }
        }

        /// <summary>The datastore for an import: MoveDefaults' Datastore, else the accessible datastore of the host (or datacenter) with the most free space.</summary>
        private async Task<MoRef> ChooseDatastoreAsync(MoRef? host, CancellationToken ct)
        {
            string? named = MoveDefault("Datastore");
            if (!string.IsNullOrEmpty(named)) return await FindDatastoreAsync(named!, ct).ConfigureAwait(false);
            List<ObjectContent> all;
            if (host.HasValue)
            {
                var h = await _vim.GetPropertiesAsync(host.Value, new[] { "datastore" }, ct).ConfigureAwait(false);
                all = new List<ObjectContent>();
                foreach (var d in h?.Get("datastore")?.Children ?? new List<VimNode>())
                {
                    var oc = await _vim.GetPropertiesAsync(d.AsMoRef(), new[] { "name", "summary.freeSpace", "summary.accessible" }, ct).ConfigureAwait(false);
                    if (oc != null) all.Add(oc);
                }
            }
            else
            {
                var view = await _vim.CreateContainerViewAsync(_dc, new[] { "Datastore" }, ct).ConfigureAwait(false);
                try { all = await _vim.RetrieveAllAsync(new FilterSpec { Root = view, ViaView = true }.Add("Datastore", "name", "summary.freeSpace", "summary.accessible"), ct).ConfigureAwait(false); }
                finally { try { await _vim.DestroyViewAsync(view, CancellationToken.None).ConfigureAwait(false); } catch (GridException) { } }
            }
            var best = all.Where(o => o.Bool("summary.accessible") != false).OrderByDescending(o => o.Long("summary.freeSpace") ?? 0).FirstOrDefault();
            return best?.Obj ?? throw GridException.ResourceUnavailable($"No accessible datastore in vSphere datacenter '{_dcName}' for an import.", "NoDatastoreAvailable", _dcName);
        }

        /// <summary>A Key=Value line of the registration's MoveDefaults setting.</summary>
        private string? MoveDefault(string key)
        {
            if (!Datacenter.Settings.TryGetValue("MoveDefaults", out var s) || string.IsNullOrEmpty(s)) return null;
            foreach (var line in s.Split('\n'))
            {
                int eq = line.IndexOf('=');
                if (eq > 0 && string.Equals(line.Substring(0, eq).Trim(), key, StringComparison.OrdinalIgnoreCase)) return line.Substring(eq + 1).Trim();
            }
            return null;
        }

        private static string? ExtraConfig(ObjectContent? oc, string key)
            => oc?.Get("config.extraConfig")?.Children.FirstOrDefault(o => o.ChildText("key") == key)?.ChildText("value");

        private static readonly HashSet<string> XsdTypes = new HashSet<string>(StringComparer.Ordinal)
        { "string", "int", "long", "short", "byte", "boolean", "dateTime", "base64Binary", "float", "double", "anyURI" };

        /// <summary>Writes a node read from a response back as a request argument (the import spec CreateImportSpec returned goes to ImportVApp unchanged).</summary>
        internal static void WriteNode(XmlWriter w, string name, VimNode n)
        {
            w.WriteStartElement(name);
            if (n.XsiType != null) w.WriteAttributeString("xsi", "type", VimClient.XsiNs, XsdTypes.Contains(n.XsiType) ? "xsd:" + n.XsiType : n.XsiType);
            if (n.TypeAttr != null) w.WriteAttributeString("type", n.TypeAttr);
            if (n.Children.Count > 0) foreach (var c in n.Children) WriteNode(w, c.Name, c);
            else if (!string.IsNullOrEmpty(n.Text)) w.WriteString(n.Text);
            w.WriteEndElement();
        }
    }

    /// <summary>The smallest OVF descriptor vCenter's OvfManager takes for one streamOptimized disk (1 vCPU, 1 GB: the create step sets the real shape).</summary>
    internal static class OvfDescriptor
    {
        private const string Ovf = "http://schemas.dmtf.org/ovf/envelope/1";
        private const string Rasd = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData";
        private const string Vssd = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData";

        public static string Build(string name, string fileName, long fileSize, long capacityBytes)
        {
            var sb = new StringBuilder();
            using (var w = XmlWriter.Create(sb, new XmlWriterSettings { Indent = true, OmitXmlDeclaration = true }))
            {
                string I(long v) => v.ToString(CultureInfo.InvariantCulture);
                w.WriteStartElement("Envelope", Ovf);
                w.WriteAttributeString("xmlns", "ovf", null, Ovf);
                w.WriteAttributeString("xmlns", "rasd", null, Rasd);
                w.WriteAttributeString("xmlns", "vssd", null, Vssd);
                w.WriteStartElement("References", Ovf);
                w.WriteStartElement("File", Ovf);
                w.WriteAttributeString("id", Ovf, "file1"); w.WriteAttributeString("href", Ovf, fileName); w.WriteAttributeString("size", Ovf, I(fileSize));
                w.WriteEndElement(); w.WriteEndElement();
                w.WriteStartElement("DiskSection", Ovf);
                w.WriteElementString("Info", Ovf, "Virtual disk information");
                w.WriteStartElement("Disk", Ovf);
                w.WriteAttributeString("diskId", Ovf, "vmdisk1"); w.WriteAttributeString("fileRef", Ovf, "file1");
                w.WriteAttributeString("capacity", Ovf, I(capacityBytes)); w.WriteAttributeString("capacityAllocationUnits", Ovf, "byte");
                w.WriteAttributeString("format", Ovf, "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized");
                w.WriteEndElement(); w.WriteEndElement();
                w.WriteStartElement("VirtualSystem", Ovf);
                w.WriteAttributeString("id", Ovf, name);
                w.WriteElementString("Info", Ovf, "A virtual machine moved by GridAutomation");
                w.WriteElementString("Name", Ovf, name);
                w.WriteStartElement("VirtualHardwareSection", Ovf);
                w.WriteElementString("Info", Ovf, "Virtual hardware requirements");
                w.WriteStartElement("System", Ovf);
                w.WriteElementString("ElementName", Vssd, "Virtual Hardware Family");
                w.WriteElementString("InstanceID", Vssd, "0");
                w.WriteElementString("VirtualSystemIdentifier", Vssd, name);
                w.WriteElementString("VirtualSystemType", Vssd, "vmx-13");
                w.WriteEndElement();
                Item(w, ("AllocationUnits", "hertz * 10^6"), ("Description", "Number of Virtual CPUs"), ("ElementName", "1 virtual CPU(s)"), ("InstanceID", "1"), ("ResourceType", "3"), ("VirtualQuantity", "1"));
                Item(w, ("AllocationUnits", "byte * 2^20"), ("Description", "Memory Size"), ("ElementName", "1024MB of memory"), ("InstanceID", "2"), ("ResourceType", "4"), ("VirtualQuantity", "1024"));
                Item(w, ("Address", "0"), ("Description", "SCSI Controller"), ("ElementName", "SCSI controller 0"), ("InstanceID", "3"), ("ResourceSubType", "lsilogic"), ("ResourceType", "6"));
                Item(w, ("AddressOnParent", "0"), ("ElementName", "Hard disk 1"), ("HostResource", "ovf:/disk/vmdisk1"), ("InstanceID", "4"), ("Parent", "3"), ("ResourceType", "17"));
                w.WriteEndElement(); w.WriteEndElement(); w.WriteEndElement();
            }
            return sb.ToString();
        }

        private static void Item(XmlWriter w, params (string Name, string Value)[] fields)
        {
            w.WriteStartElement("Item", Ovf);
            foreach (var (n, v) in fields) w.WriteElementString(n, Rasd, v);
            w.WriteEndElement();
        }
    }
}
