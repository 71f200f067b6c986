using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Sas;
using Microsoft.AspNetCore.Http;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// Snapshots of the loopback ARM endpoint (our code), after Microsoft.Compute/snapshots (shapes: the REST spec's
    /// Snapshots_CreateOrUpdate "Create a snapshot by copying a disk" / Snapshots_ListByResourceGroup / GrantAccess /
    /// RevokeAccess / Delete examples): PUT with creationData.createOption=Copy and sourceResourceId = a managed disk
    /// copies that disk's page blob for real, page range by page range, into Azurite (container "snapshots"), also while
    /// a running VM holds the disk (Azure allows that: crash-consistent). beginGetAccess hands out a read SAS of the
    /// copy (ActiveSAS), endGetAccess ends it (Unattached); DELETE is refused while a SAS is active and deletes the blob.
    /// </summary>
    public sealed partial class ArmSimulator
    {
        public const string SnapshotContainer = "snapshots";
        private readonly Dictionary<string, Snap> _snapshots = new Dictionary<string, Snap>(StringComparer.OrdinalIgnoreCase);

        private sealed class Snap
        {
            public string Id = "", Name = "", Location = ArmSimulator.Location, State = "Unattached", SourceId = "", Generation = "V1", OsType = "Linux";
            public long Size;
            public bool Incremental;
            public JsonObject Tags = new JsonObject();
        }

        public static string SnapshotId(string rg, string name) => RgId(rg) + "/providers/Microsoft.Compute/snapshots/" + name;
        /// <summary>Every snapshot ever made here (ids), for tests that check what was made and deleted.</summary>
        public List<string> SnapshotsMade { get; } = new List<string>();
        public int SnapshotCount { get { lock (_gate) return _snapshots.Count; } }

        private global::Azure.Storage.Blobs.BlobContainerClient SnapContainer => (Storage ?? throw new InvalidOperationException("ArmSimulator.Storage (Azurite) is not set")).Service.GetBlobContainerClient(SnapshotContainer);

        private async Task<bool> HandleSnapshotAsync(HttpContext ctx, SeenRequest req, string rg, string[] seg)
        {
            if (seg.Length == 7 && req.Method == "GET") { await ListSnapshots(ctx, rg); return true; }
            if (seg.Length < 8) return false;
            string id = SnapshotId(rg, seg[7]);
            if (seg.Length == 8)
            {
                switch (req.Method)
                {
                    case "GET":
                        JsonObject? body = null;
                        lock (_gate) if (_snapshots.TryGetValue(id, out var s)) body = Render(s);
                        if (body == null) await CloudError(ctx, 404, "ResourceNotFound", $"The Resource 'Microsoft.Compute/snapshots/{seg[7]}' under resource group '{rg}' was not found.");
                        else await Json(ctx, 200, body);
                        return true;
                    case "PUT": await PutSnapshot(ctx, rg, seg[7], req.Body); return true;
                    case "DELETE": await DeleteSnapshot(ctx, id); return true;
                }
            }
            if (seg.Length == 9 && req.Method == "POST")
            {
                if (Is(seg[8], "beginGetAccess")) { await SnapshotBeginGetAccess(ctx, id, req.Body); return true; }
                if (Is(seg[8], "endGetAccess")) { await SnapshotEndGetAccess(ctx, id); return true; }
            }
            return false;
        }

        private static JsonObject Render(Snap s) => new JsonObject
        {
            ["id"] = s.Id, ["name"] = s.Name, ["type"] = "Microsoft.Compute/snapshots", ["location"] = s.Location,
            ["tags"] = s.Tags.DeepClone(),
            ["sku"] = new JsonObject { ["name"] = "Standard_LRS", ["tier"] = "Standard" },
            ["properties"] = new JsonObject
            {
                ["osType"] = s.OsType, ["hyperVGeneration"] = s.Generation,
                ["creationData"] = new JsonObject { ["createOption"] = "Copy", ["sourceResourceId"] = s.SourceId },
                ["diskSizeGB"] = (int)((s.Size - 512 + (1L << 30) - 1) >> 30),
                ["diskSizeBytes"] = s.Size - 512,
                ["incremental"] = s.Incremental,
                ["diskState"] = s.State, ["provisioningState"] = "Succeeded", ["timeCreated"] = "2026-12-07T08:00:00+00:00",
            },
        };

        private async Task ListSnapshots(HttpContext ctx, string rg)
        {
            var arr = new JsonArray();
            lock (_gate)
                foreach (var s in _snapshots.Values.Where(x => x.Id.StartsWith(RgId(rg) + "/", StringComparison.OrdinalIgnoreCase)))
                    arr.Add(Render(s));
            await Json(ctx, 200, new JsonObject { ["value"] = arr });
        }

        private async Task PutSnapshot(HttpContext ctx, string rg, string name, string body)
        {
            var req = JsonNode.Parse(body)!.AsObject();
            var props = req["properties"] as JsonObject;
            string option = props?["creationData"]?["createOption"]?.GetValue<string>() ?? "";
            string source = props?["creationData"]?["sourceResourceId"]?.GetValue<string>() ?? "";
            if (!Is(option, "Copy")) { await CloudError(ctx, 400, "InvalidParameter", "The test endpoint makes only snapshots with createOption Copy.", "creationData.createOption"); return; }
            string id = SnapshotId(rg, name);
            Disk? disk;
            bool exists;
            lock (_gate) { _disks.TryGetValue(source, out disk); exists = _snapshots.ContainsKey(id); }
            if (exists) { await CloudError(ctx, 409, "OperationNotAllowed", $"Snapshot {name} exists already; its source cannot be changed."); return; }
            if (disk == null) { await CloudError(ctx, 404, "NotFound", $"Resource {source} was not found.", "sourceResourceId"); return; }
            if (disk.State == "ReadyToUpload" || disk.State == "ActiveUpload") { await CloudError(ctx, 409, "OperationNotAllowed", $"Disk {disk.Name} is {disk.State}: it has no content to copy yet."); return; }

            // a real copy of the page blob, range by range (the disk may keep changing after this instant: the copy does not)
            await SnapContainer.CreateIfNotExistsAsync();
            await CopyPageBlobAsync(Container.GetPageBlobClient(disk.Name), SnapContainer.GetPageBlobClient(name), disk.UploadSize);
            var s = new Snap
            {
                Id = id, Name = name, Location = req["location"]?.GetValue<string>() ?? Location, SourceId = disk.Id, Size = disk.UploadSize,
                Generation = disk.Generation, OsType = disk.OsType, Incremental = props!["incremental"]?.GetValue<bool>() ?? false,
                Tags = req["tags"]?.DeepClone() as JsonObject ?? new JsonObject(),
            };
            lock (_gate) { _snapshots[id] = s; SnapshotsMade.Add(id); }
            string opId = StartOp(() => { });
            AsyncHeaders(ctx, opId, location: false);
            await Json(ctx, 202, Render(s));
        }

        private async Task DeleteSnapshot(HttpContext ctx, string id)
        {
            Snap? s;
            lock (_gate) _snapshots.TryGetValue(id, out s);
            if (s == null) { ctx.Response.StatusCode = 204; return; }
            if (s.State == "ActiveSAS") { await CloudError(ctx, 409, "OperationNotAllowed", $"Snapshot {s.Name} has an active SAS: end its access first."); return; }
            await SnapContainer.GetBlobClient(s.Name).DeleteIfExistsAsync();
            lock (_gate) _snapshots.Remove(id);
            string opId = StartOp(() => { });
            AsyncHeaders(ctx, opId, location: true);
            ctx.Response.StatusCode = 202;
        }

        private async Task SnapshotBeginGetAccess(HttpContext ctx, string id, string body)
        {
            string access = JsonNode.Parse(body)?["access"]?.GetValue<string>() ?? "";
            Snap? s;
            lock (_gate)
            {
                _snapshots.TryGetValue(id, out s);
                if (s != null && Is(access, "Read")) s.State = "ActiveSAS";
            }
            if (s == null) { await CloudError(ctx, 404, "ResourceNotFound", "The snapshot was not found."); return; }
            if (!Is(access, "Read")) { await CloudError(ctx, 409, "OperationNotAllowed", $"A snapshot grants Read access only, not '{access}'."); return; }
            var sas = new BlobSasBuilder { BlobContainerName = SnapshotContainer, BlobName = s.Name, Resource = "b", ExpiresOn = DateTimeOffset.UtcNow.AddHours(1) };
            sas.SetPermissions(BlobSasPermissions.Read);
            var uri = new global::Azure.Storage.Blobs.BlobUriBuilder(SnapContainer.GetBlobClient(s.Name).Uri) { Sas = sas.ToSasQueryParameters(Storage!.Credential) }.ToUri();
            lock (SasHandedOut) SasHandedOut.Add(uri.ToString());
            string opId = StartOp(() => { }, new JsonObject { ["accessSAS"] = uri.ToString() });
            AsyncHeaders(ctx, opId, location: true);
            ctx.Response.StatusCode = 202;
        }

        private async Task SnapshotEndGetAccess(HttpContext ctx, string id)
        {
            bool found;
            lock (_gate)
            {
                found = _snapshots.TryGetValue(id, out var s);
                if (s != null && s.State == "ActiveSAS") s.State = "Unattached";
            }
            if (!found) { await CloudError(ctx, 404, "ResourceNotFound", "The snapshot was not found."); return; }
            string opId = StartOp(() => { });
            AsyncHeaders(ctx, opId, location: true);
            ctx.Response.StatusCode = 202;
        }
    }
}
