using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.Transport;
using GridAutomation.Providers.Xen.Xapi;

namespace GridAutomation.Providers.Xen
{
    /// <summary>
    /// New-GridWorkload: VM.clone of a template, the idempotency key written to other_config at once, VM.provision
    /// (the template's disks), is_a_template cleared, CPU/memory set while halted, tags, then VM.start / start_on.
    /// Every step checks what is already done, so a re-run with the same key finishes the same VM.
    /// </summary>
    internal sealed partial class XenConnection
    {
        public async Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            var ct = cancellationToken;
            if (string.IsNullOrWhiteSpace(request.Name)) throw GridException.InvalidRequest("A workload name is required.", "NameRequired");
            string image = TemplateOf(request);
            request.Options.TryGetValue("ImportedDisk", out var imported);
            int? cpu = request.CpuCount; long? memMB = request.MemoryMB;
            if (!string.IsNullOrEmpty(request.Size))
            {
                var s = SizeCatalog.Find(request.Size!) ?? throw GridException.NotFound(
                    $"Size '{request.Size}' is not offered. Sizes: {string.Join(", ", SizeCatalog.Shapes.Select(x => x.Name))}.", "SizeNotFound", request.Size);
                cpu ??= s.Cpu; memMB ??= s.MemoryMB;
            }
            string key = !string.IsNullOrEmpty(request.IdempotencyKey) ? request.IdempotencyKey : (scope?.IdempotencyKey ?? Datacenter.Name + "/" + request.Name);

            // -Option Network (a test failover's -TestNetwork): resolved before anything is made, so a wrong name refuses cleanly
            string? network = null;
            if (request.Options.TryGetValue("Network", out var netName) && !string.IsNullOrWhiteSpace(netName))
                network = await FindNetworkAsync(netName!.Trim(), request.Name, ct).ConfigureAwait(false);

            var vms = await XapiAsync(() => _x.GetAllRecordsAsync("VM", ct), "Listing VMs").ConfigureAwait(false);
            string? vm = vms.FirstOrDefault(kv => !XapiValue.Bool(kv.Value, "is_a_snapshot")
                && XapiValue.Map(kv.Value, "other_config").TryGetValue(XenMapping.IdempotencyKey, out var k) && XapiValue.AsString(k) == key).Key;
            if (vm != null)
            {
                _verbose($"A VM for idempotency key '{key}' already exists ({XapiValue.Str(vms[vm], "uuid")}): finishing and returning it.");
            }
            else if (scope?.Checkpoints.ContainsKey("clone") == true)
            {
                // Interrupted between VM.clone and writing the key: the clone is the template-flagged VM of that name with no key.
                vm = vms.FirstOrDefault(kv => XapiValue.Bool(kv.Value, "is_a_template") && !XapiValue.Bool(kv.Value, "is_default_template")
                    && string.Equals(XapiValue.Str(kv.Value, "name_label"), request.Name, StringComparison.Ordinal)
                    && !XapiValue.Map(kv.Value, "other_config").ContainsKey(XenMapping.IdempotencyKey)).Key;
                if (vm != null) await WriteKeyAsync(vm, key, null, ct).ConfigureAwait(false);
            }
            if (vm == null)
            {
                // XAPI allows two VMs of one name in a pool; creates through the module do not (names address workloads).
                var same = vms.Where(kv => XenMapping.IsWorkload(kv.Value) && string.Equals(XapiValue.Str(kv.Value, "name_label"), request.Name, StringComparison.OrdinalIgnoreCase)).ToList();
                if (same.Count > 0)
                    throw GridException.Conflict($"A VM named '{request.Name}' already exists in pool '{PoolName}' ({Datacenter.Name}, uuid {XapiValue.Str(same[0].Value, "uuid")}), made by another request or outside GridAutomation. Choose another name or remove it.", "WorkloadNameExists", request.Name);
                var (template, templateName) = FindTemplate(vms, image);
                if (request.TargetHost != null) await FindHostAsync(request.TargetHost, ct).ConfigureAwait(false); // refuse an unknown host before anything is made
                scope?.Checkpoint("clone", XapiValue.Str(vms[template], "uuid") ?? template);
                try
                {
                    vm = await _x.RunTaskAsync("VM.clone", p => scope?.Report(new GridProgress("Creating", $"{request.Name}: VM.clone {p}%", p)), ct, template, request.Name).ConfigureAwait(false)
                        ?? throw GridException.Unavailable("VM.clone returned no VM.", null, "XenMalformedReply");
                }
                catch (XapiFailure f) { throw XapiErrors.ToException(f, $"Cloning template '{templateName}' as '{request.Name}'", request.Name); }
                await WriteKeyAsync(vm, key, templateName, ct).ConfigureAwait(false);
            }

            var rec = await XapiAsync(() => _x.GetRecordAsync("VM", vm!, ct), "Reading the new VM", request.Name).ConfigureAwait(false);
            string uuid = XapiValue.Str(rec, "uuid") ?? vm!;
            if (XapiValue.Bool(rec, "is_a_template"))
            {
                // provision makes the disks the template's other_config:disks describes; then the clone becomes a VM.
                // A moved workload brings its own disk instead: the template's disk spec is dropped, the imported VDI attached.
                if (!string.IsNullOrEmpty(imported))
                    await XapiAsync(() => _x.CallAsync("VM.remove_from_other_config", ct, vm, "disks"), "Dropping the template's disks", request.Name).ConfigureAwait(false);
                else
                    await VmTaskAsync("provision", "Creating", request.Name, scope, uuid, ct, vm).ConfigureAwait(false);
                await XapiAsync(() => _x.CallAsync("VM.set_is_a_template", ct, vm, false), "Making the clone a VM", request.Name).ConfigureAwait(false);
                rec = await XapiAsync(() => _x.GetRecordAsync("VM", vm!, ct), "Reading the new VM", request.Name).ConfigureAwait(false);
            }
            if (!string.IsNullOrEmpty(imported))
            {
                // a move's own import is taken over; any other (a recovery point, still recorded) is copied first, so the
                // guest never writes to it and removing the workload with its storage leaves it
                bool takeOver = request.Options.TryGetValue(ImportedDiskOptions.TakeOver, out var take) && string.Equals(take, "true", StringComparison.OrdinalIgnoreCase);
                await AttachImportedDiskAsync(vm!, imported!, takeOver ? null : key, request.Name, ct).ConfigureAwait(false);
            }
            if (network != null && XapiValue.Str(rec, "power_state") == "Halted") await EnsureCardAsync(vm!, network, request.Name, ct).ConfigureAwait(false);
            if (XapiValue.Str(rec, "power_state") == "Halted" && (cpu.HasValue || memMB.HasValue))
                await ResizeAsync(uuid, new ResizeRequest { CpuCount = cpu, MemoryMB = memMB }, scope ?? NoScope.Instance, ct).ConfigureAwait(false);
            var existing = XenMapping.Tags(rec).Select(t => t.Key).ToList();
            var missing = request.Tags.Where(t => !existing.Contains(t.Key, StringComparer.OrdinalIgnoreCase)).ToDictionary(t => t.Key, t => (string?)t.Value);
            if (missing.Count > 0) await SetTagsAsync(uuid, missing, scope ?? NoScope.Instance, ct).ConfigureAwait(false);
            if (request.PowerOn && XapiValue.Str(rec, "power_state") == "Halted")
            {
                if (request.TargetHost != null)
                {
                    var (host, hostName) = await FindHostAsync(request.TargetHost, ct).ConfigureAwait(false);
                    await VmTaskAsync("start_on", "Starting on " + hostName, request.Name, scope, uuid, ct, vm, host, false, false).ConfigureAwait(false);
                }
                else await VmTaskAsync("start", "Starting", request.Name, scope, uuid, ct, vm, false, false).ConfigureAwait(false);
            }
            return await GetWorkloadAsync(uuid, ct).ConfigureAwait(false);
        }

        private async Task WriteKeyAsync(string vm, string key, string? templateName, CancellationToken ct)
        {
            await XapiAsync(async () =>
            {
                await _x.CallAsync("VM.remove_from_other_config", ct, vm, XenMapping.IdempotencyKey).ConfigureAwait(false);
                await _x.CallAsync("VM.add_to_other_config", ct, vm, XenMapping.IdempotencyKey, key).ConfigureAwait(false);
                if (templateName != null)
                {
                    await _x.CallAsync("VM.remove_from_other_config", ct, vm, XenMapping.ImageKey).ConfigureAwait(false);
                    await _x.CallAsync("VM.add_to_other_config", ct, vm, XenMapping.ImageKey, templateName).ConfigureAwait(false);
                }
            }, "Recording the idempotency key of the new VM", vm).ConfigureAwait(false);
        }

        /// <summary>-Image, else the move option Image (a workload moved here is cloned from that template); ImageRequired without either.</summary>
        private string TemplateOf(CreateWorkloadRequest request)
        {
            if (!string.IsNullOrWhiteSpace(request.Image)) return request.Image!;
            if (request.Options.TryGetValue("Image", out var option) && !string.IsNullOrWhiteSpace(option)) return option;
            throw GridException.InvalidRequest($"-Image is required on Xen: the name or uuid of a template of pool '{PoolName}' (Get-GridImage -Datacenter {Datacenter.Name}).", "ImageRequired");
        }

        private (string Ref, string Name) FindTemplate(Dictionary<string, Dictionary<string, object?>> vms, string image)
        {
            var templates = vms.Where(kv => XenMapping.IsImage(kv.Value)).ToList();
            var byUuid = templates.Where(kv => string.Equals(XapiValue.Str(kv.Value, "uuid"), image, StringComparison.OrdinalIgnoreCase)).ToList();
            var hits = byUuid.Count > 0 ? byUuid : templates.Where(kv => string.Equals(XapiValue.Str(kv.Value, "name_label"), image, StringComparison.OrdinalIgnoreCase)).ToList();
            if (hits.Count == 0)
                throw GridException.NotFound($"No template '{image}' in pool '{PoolName}' ({Datacenter.Name}). See Get-GridImage -Datacenter {Datacenter.Name}.", "ImageNotFound", image);
            if (hits.Count > 1)
                throw GridException.InvalidRequest($"{hits.Count} templates of pool '{PoolName}' are named '{image}': give its uuid instead ({string.Join(", ", hits.Select(h => XapiValue.Str(h.Value, "uuid")))}).", "ImageAmbiguous", image);
            return (hits[0].Key, XapiValue.Str(hits[0].Value, "name_label") ?? image);
        }

        /// <summary>For sub-steps of a create that reuse a changing method without a scope of their own.</summary>
        private sealed class NoScope : IOperationScope
        {
            public static readonly NoScope Instance = new NoScope();
            public Guid OperationId => Guid.Empty;
            public string IdempotencyKey => "";
            public bool IsResume => false;
            public IReadOnlyDictionary<string, string> Checkpoints { get; } = new Dictionary<string, string>();
            public void Checkpoint(string key, string value) { }
            public void Report(GridProgress progress) { }
        }
    }
}
