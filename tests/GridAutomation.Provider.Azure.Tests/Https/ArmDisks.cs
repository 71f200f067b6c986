using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Sas;
using Microsoft.AspNetCore.Http;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// Managed disks of the loopback ARM endpoint (our code), after Azure's upload/download flow: a disk with
    /// createOption=Upload is ReadyToUpload with an empty page blob of uploadSizeBytes in <see cref="Storage"/>
    /// (Azurite, container "disks"); beginGetAccess hands out a real SAS URL for that blob (write: ActiveUpload,
    /// read: ActiveSAS, refused while a VM that is not deallocated holds the disk); endGetAccess seals an upload
    /// (Unattached); a VM PUT with createOption=Attach takes an Unattached disk (Attached); deleting the disk (or
    /// its VM with deleteOption=Delete) deletes the blob; createOption=Copy makes an Unattached disk holding a real copy of
    /// another disk's blob (a failover's own copy of a recovery point). Bytes never pass through here: the SDK talks to Azurite.
    /// </summary>
    public sealed partial class ArmSimulator
    {
        public const string DiskContainer = "disks";
        private readonly Dictionary<string, Disk> _disks = new Dictionary<string, Disk>(StringComparer.OrdinalIgnoreCase);

        /// <summary>The storage emulator disks live in (required for disk routes).</summary>
        public Azurite? Storage { get; set; }

        private sealed class Disk
        {
            public string Id = "", Name = "", Location = ArmSimulator.Location, State = "ReadyToUpload", Generation = "V1", OsType = "Linux";
            public string? PreviousState, ManagedBy, SourceId;
            public string CreateOption = "Upload";
            public long UploadSize;
            public JsonObject Tags = new JsonObject();
        }

        public static string DiskId(string rg, string name) => RgId(rg) + "/providers/Microsoft.Compute/disks/" + name;
        public string? DiskStateOf(string id) { lock (_gate) return _disks.TryGetValue(id, out var d) ? d.State : null; }
        public string? DiskGenerationOf(string id) { lock (_gate) return _disks.TryGetValue(id, out var d) ? d.Generation : null; }
        public int DiskCount { get { lock (_gate) return _disks.Count; } }

        private BlobContainerClient Container => (Storage ?? throw new InvalidOperationException("ArmSimulator.Storage (Azurite) is not set")).Service.GetBlobContainerClient(DiskContainer);

        private async Task<bool> HandleDiskAsync(HttpContext ctx, SeenRequest req, string rg, string[] seg)
        {
            string id = DiskId(rg, seg[7]);
            if (seg.Length == 8)
            {
                switch (req.Method)
                {
                    case "GET": await GetDisk(ctx, id); return true;
                    case "PUT": await PutDisk(ctx, rg, seg[7], req.Body); return true;
                    case "DELETE": await DeleteDisk(ctx, id); return true;
                }
            }
            if (seg.Length == 9 && req.Method == "POST")
            {
                if (Is(seg[8], "beginGetAccess")) { await BeginGetAccess(ctx, id, req.Body); return true; }
                if (Is(seg[8], "endGetAccess")) { await EndGetAccess(ctx, id); return true; }
            }
            return false;
        }

        private JsonObject Render(Disk d) => new JsonObject
        {
            ["id"] = d.Id, ["name"] = d.Name, ["type"] = "Microsoft.Compute/disks", ["location"] = d.Location,
            ["tags"] = d.Tags.DeepClone(), ["managedBy"] = d.ManagedBy,
            ["sku"] = new JsonObject { ["name"] = "Standard_LRS", ["tier"] = "Standard" },
            ["properties"] = new JsonObject
            {
                ["osType"] = d.OsType, ["hyperVGeneration"] = d.Generation,
                ["creationData"] = d.SourceId != null
                    ? new JsonObject { ["createOption"] = d.CreateOption, ["sourceResourceId"] = d.SourceId }
                    : new JsonObject { ["createOption"] = d.CreateOption, ["uploadSizeBytes"] = d.UploadSize },
                ["diskSizeGB"] = (int)((d.UploadSize - 512 + (1L << 30) - 1) >> 30),
                ["diskSizeBytes"] = d.UploadSize - 512,
                ["diskState"] = d.State, ["provisioningState"] = "Succeeded", ["timeCreated"] = "2026-12-06T10:00:00+00:00",
            },
        };

        private async Task GetDisk(HttpContext ctx, string id)
        {
            JsonObject? body = null;
            lock (_gate) if (_disks.TryGetValue(id, out var d)) body = Render(d);
            if (body == null) { await CloudError(ctx, 404, "ResourceNotFound", $"The Resource 'Microsoft.Compute/disks/{id.Split('/').Last()}' was not found."); return; }
            await Json(ctx, 200, body);
        }

        private async Task PutDisk(HttpContext ctx, string rg, string name, string body)
        {
            var req = JsonNode.Parse(body)!.AsObject();
            var props = req["properties"] as JsonObject;
            string? option = props?["creationData"]?["createOption"]?.GetValue<string>();
            if (Is(option ?? "", "Copy")) { await CopyDisk(ctx, rg, name, req); return; }
            if (!Is(option ?? "", "Upload")) { await CloudError(ctx, 400, "InvalidParameter", "The test endpoint makes only disks with createOption Upload or Copy.", "creationData.createOption"); return; }
            long size = props!["creationData"]!["uploadSizeBytes"]?.GetValue<long>() ?? 0;
            // Azure: "The specified disk size ... must be a multiple of 1 MiB plus 512 bytes for the VHD footer"
            if (size < (1 << 20) + 512 || (size - 512) % (1 << 20) != 0)
            { await CloudError(ctx, 400, "InvalidParameter", $"uploadSizeBytes {size} must be a whole number of MiB plus 512 bytes for the VHD footer.", "uploadSizeBytes"); return; }
            string id = DiskId(rg, name);
            bool exists;
            lock (_gate) exists = _disks.ContainsKey(id);
            if (exists) { await CloudError(ctx, 409, "OperationNotAllowed", "Changing the upload size of an existing disk is not allowed."); return; }
            var d = new Disk
            {
                Id = id, Name = name, Location = req["location"]?.GetValue<string>() ?? Location, UploadSize = size,
                Generation = props["hyperVGeneration"]?.GetValue<string>() ?? "V1", OsType = props["osType"]?.GetValue<string>() ?? "Linux",
                Tags = req["tags"]?.DeepClone() as JsonObject ?? new JsonObject(),
            };
            await Container.CreateIfNotExistsAsync();
            await Container.GetPageBlobClient(name).CreateAsync(size);
            lock (_gate) _disks[id] = d;
            string opId = StartOp(() => { });
            AsyncHeaders(ctx, opId, location: false);
            await Json(ctx, 202, Render(d)); // Disks_CreateOrUpdate answers 200 or 202, never 201
        }

        /// <summary>Every disk made here with createOption=Copy, as (copy id, source id).</summary>
        public List<(string Copy, string Source)> DisksCopied { get; } = new List<(string, string)>();

        /// <summary>
        /// Disks_CreateOrUpdate "Create a managed disk by copying a snapshot/disk" (creationData.createOption=Copy,
        /// sourceResourceId = a managed disk): the source's page blob is copied for real into a new blob; the copy is
        /// Unattached, of the source's size, generation and OS type; the source is only read (it may be attached).
        /// </summary>
        private async Task CopyDisk(HttpContext ctx, string rg, string name, JsonObject req)
        {
            string source = req["properties"]?["creationData"]?["sourceResourceId"]?.GetValue<string>() ?? "";
            string id = DiskId(rg, name);
            Disk? from;
            bool exists;
            lock (_gate) { _disks.TryGetValue(source, out from); exists = _disks.ContainsKey(id); }
            if (exists) { await CloudError(ctx, 409, "OperationNotAllowed", $"Disk {name} exists already; its source cannot be changed."); return; }
            if (from == null) { await CloudError(ctx, 404, "NotFound", $"Resource {source} was not found.", "sourceResourceId"); return; }
            if (from.State == "ReadyToUpload" || from.State == "ActiveUpload") { await CloudError(ctx, 409, "OperationNotAllowed", $"Disk {from.Name} is {from.State}: it has no content to copy yet."); return; }
            await Container.CreateIfNotExistsAsync();
            await CopyPageBlobAsync(Container.GetPageBlobClient(from.Name), Container.GetPageBlobClient(name), from.UploadSize);
            var d = new Disk
            {
                Id = id, Name = name, Location = req["location"]?.GetValue<string>() ?? Location, UploadSize = from.UploadSize, State = "Unattached",
                Generation = from.Generation, OsType = from.OsType, CreateOption = "Copy", SourceId = from.Id,
                Tags = req["tags"]?.DeepClone() as JsonObject ?? new JsonObject(),
            };
            lock (_gate) { _disks[id] = d; DisksCopied.Add((id, from.Id)); }
            string opId = StartOp(() => { });
            AsyncHeaders(ctx, opId, location: false);
            await Json(ctx, 202, Render(d));
        }

        /// <summary>A real copy of a page blob, range by range (the source may keep changing after this instant: the copy does not).</summary>
        private static async Task CopyPageBlobAsync(PageBlobClient from, PageBlobClient to, long size)
        {
            await to.CreateAsync(size);
            var ranges = (await from.GetPageRangesAsync()).Value.PageRanges.ToList();
            foreach (var r in ranges)
                for (long at = r.Offset, end = r.Offset + (r.Length ?? 0); at < end; at += 4L << 20)
                {
                    long n = Math.Min(4L << 20, end - at);
                    var part = await from.DownloadContentAsync(new global::Azure.Storage.Blobs.Models.BlobDownloadOptions { Range = new global::Azure.HttpRange(at, n) });
                    using var ms = new System.IO.MemoryStream(part.Value.Content.ToArray());
                    await to.UploadPagesAsync(ms, at);
                }
        }

        private async Task DeleteDisk(HttpContext ctx, string id)
        {
            Disk? d;
            lock (_gate) _disks.TryGetValue(id, out d);
            if (d == null) { ctx.Response.StatusCode = 204; return; }
            if (d.ManagedBy != null) { await CloudError(ctx, 409, "OperationNotAllowed", $"Disk {d.Name} is attached to VM {d.ManagedBy}."); return; }
            if (d.State == "ActiveUpload" || d.State == "ActiveSAS") { await CloudError(ctx, 409, "OperationNotAllowed", $"Disk {d.Name} is in state {d.State}: end its access first."); return; }
            await Container.GetBlobClient(d.Name).DeleteIfExistsAsync();
            lock (_gate) _disks.Remove(id);
            ctx.Response.StatusCode = 200;
        }

        private async Task BeginGetAccess(HttpContext ctx, string id, string body)
        {
            var req = JsonNode.Parse(body)!.AsObject();
            string access = req["access"]?.GetValue<string>() ?? "";
            Disk? d;
            string? refusal = null;
            lock (_gate)
            {
                _disks.TryGetValue(id, out d);
                if (d != null)
                {
                    if (d.ManagedBy != null && _vms.TryGetValue(d.ManagedBy, out var vm) && vm.Power != "deallocated")
                        refusal = $"Disk {d.Name} is attached to VM {d.ManagedBy} which is {vm.Power}: deallocate it first.";
                    else if (Is(access, "Write"))
                    {
                        if (d.State != "ReadyToUpload" && d.State != "ActiveUpload") refusal = $"Write access is granted only to a disk ready to upload, not {d.State}.";
                        else d.State = "ActiveUpload";
                    }
                    else if (Is(access, "Read"))
                    {
                        if (d.State != "Unattached" && d.State != "Attached" && d.State != "Reserved") refusal = $"Read access is not granted to a disk in state {d.State}.";
                        else { d.PreviousState = d.State; d.State = "ActiveSAS"; }
                    }
                    else refusal = $"Unknown access '{access}'.";
                }
            }
            if (d == null) { await CloudError(ctx, 404, "ResourceNotFound", "The disk was not found."); return; }
            if (refusal != null) { await CloudError(ctx, 409, "OperationNotAllowed", refusal); return; }
            var sas = new BlobSasBuilder { BlobContainerName = DiskContainer, BlobName = d.Name, Resource = "b", ExpiresOn = DateTimeOffset.UtcNow.AddHours(1) };
            sas.SetPermissions(Is(access, "Write") ? BlobSasPermissions.Read | BlobSasPermissions.Write : BlobSasPermissions.Read);
            var uri = new BlobUriBuilder(Container.GetBlobClient(d.Name).Uri) { Sas = sas.ToSasQueryParameters(Storage!.Credential) }.ToUri();
            lock (SasHandedOut) SasHandedOut.Add(uri.ToString());
            string opId = StartOp(() => { }, new JsonObject { ["accessSAS"] = uri.ToString() });
            AsyncHeaders(ctx, opId, location: true);
            ctx.Response.StatusCode = 202;
        }

        /// <summary>When it answers true for a resource group, a VM PUT there fails (AllocationFailed): a move's create step failing.</summary>
        public Func<string, bool>? RefuseVmPut { get; set; }

        /// <summary>Every SAS URL handed out (tests check none leaks into logs or checkpoints).</summary>
        public List<string> SasHandedOut { get; } = new List<string>();

        private async Task EndGetAccess(HttpContext ctx, string id)
        {
            bool found;
            lock (_gate)
            {
                found = _disks.TryGetValue(id, out var d);
                if (d != null)
                {
                    if (d.State == "ActiveUpload") d.State = d.ManagedBy != null ? "Attached" : "Unattached";
                    else if (d.State == "ActiveSAS") d.State = d.PreviousState ?? "Unattached";
                }
            }
            if (!found) { await CloudError(ctx, 404, "ResourceNotFound", "The disk was not found."); return; }
            string opId = StartOp(() => { });
            AsyncHeaders(ctx, opId, location: true);
            ctx.Response.StatusCode = 202;
        }

        // ------------------------------------------------------------------ VMs on attached disks

        private static string? AttachedDiskId(JsonObject? props)
        {
            var os = props?["storageProfile"]?["osDisk"];
            return os?["createOption"]?.GetValue<string>() is string o && Is(o, "Attach") ? os["managedDisk"]?["id"]?.GetValue<string>() : null;
        }

        private async Task<bool> RefuseAttachAsync(HttpContext ctx, string diskId)
        {
            string? refusal;
            lock (_gate)
            {
                refusal = !_disks.TryGetValue(diskId, out var d) ? "NotFound"
                    : d.State != "Unattached" ? $"Disk {d.Name} is {d.State}: only an Unattached disk can be attached." : null;
            }
            if (refusal == "NotFound") { await CloudError(ctx, 404, "NotFound", $"Disk {diskId} was not found."); return true; }
            if (refusal != null) { await CloudError(ctx, 409, "OperationNotAllowed", refusal); return true; }
            return false;
        }

        private void ApplyAttach(JsonObject mp, string diskId, string vmId, JsonObject osReq)
        {
            var sp = mp["storageProfile"]!.AsObject();
            sp.Remove("imageReference");
            var os = sp["osDisk"]!.AsObject();
            os["createOption"] = "Attach";
            os["osType"] = osReq["osType"]?.DeepClone() ?? "Linux";
            lock (_gate)
            {
                var d = _disks[diskId];
                os["name"] = d.Name;
                os["managedDisk"]!["id"] = d.Id;
                os["diskSizeGB"] = (int)((d.UploadSize - 512 + (1L << 30) - 1) >> 30);
                d.ManagedBy = vmId;
                d.State = "Attached";
            }
            mp.Remove("osProfile");
        }

        /// <summary>The VM holding the disk is gone: the disk is deleted with it (deleteOption=Delete, blob too) or left Unattached.</summary>
        private void ReleaseDisk(string diskId, bool delete)
        {
            if (!_disks.TryGetValue(diskId, out var d)) return;
            d.ManagedBy = null;
            if (!delete) { d.State = "Unattached"; return; }
            _disks.Remove(diskId);
            Container.GetBlobClient(d.Name).DeleteIfExists();
        }
    }
}
