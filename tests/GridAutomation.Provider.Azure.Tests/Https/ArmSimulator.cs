using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Http;

namespace GridAutomation.Provider.Azure.Tests
{
    /// <summary>
    /// A stateful loopback Azure Resource Manager (our code), shaped after the official examples in
    /// ../shared/fixtures/azure-specs: virtual machines with power state, status-only and paged lists (nextLink),
    /// long-running operations (Azure-AsyncOperation + Location, Retry-After 0), CloudError bodies, 429 injection,
    /// and the token endpoints of managed identity (App Service style) and Microsoft Entra (client credentials).
    /// </summary>
    public sealed partial class ArmSimulator
    {
        public const string Subscription = "11111111-2222-3333-4444-555555555555";
        public const string Tenant = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
        public const string Location = "westeurope";
        public const string IdentityHeader = "test-identity-header-value";
        public const string SpClientId = "sp-client-id";
        public const string SpSecret = "sp-secret-Value-123";
        public const string CallerToken = "caller-held-token";

        private readonly object _gate = new object();
        private readonly Dictionary<string, Vm> _vms = new Dictionary<string, Vm>(StringComparer.OrdinalIgnoreCase);
        private readonly HashSet<string> _resources = new HashSet<string>(StringComparer.OrdinalIgnoreCase); // disks and NICs
        private readonly ConcurrentDictionary<string, Op> _ops = new ConcurrentDictionary<string, Op>();
        private readonly ConcurrentDictionary<string, byte> _tokens = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
        private int _throttleCount;
        private int _throttleSeconds;

        public TestHttpsServer Server { get; }
        public int PageSize { get; set; } = 200;
        /// <summary>Polls answered InProgress before an operation completes.</summary>
        public int PollsPerOperation { get; set; } = 1;
        public List<string> TokenRequests { get; } = new List<string>();
        /// <summary>The subscription's regional vCPU quota ("cores", Total Regional vCPUs) the usages endpoint reports.</summary>
        public int CoresLimit { get; set; } = 20;
        /// <summary>vCPUs in use in the region outside this simulator's VMs (another team's, say).</summary>
        public int OtherCoresUsed { get; set; }
        public int VirtualMachinesLimit { get; set; } = 25000;

        public static readonly (string Name, int Cores, int MemoryMB)[] Sizes =
        {
            ("Standard_B1s", 1, 1024), ("Standard_B2s", 2, 4096), ("Standard_D2s_v3", 2, 8192), ("Standard_D4s_v3", 4, 16384),
        };

        private sealed class Vm
        {
            public JsonObject Model = new JsonObject();
            public string? Power = "running";
            public string Provisioning = "Succeeded";
        }

        private sealed class Op
        {
            public int PollsLeft;
            public string Status = "InProgress";
            public Action? Complete;
            public JsonObject? Error;
            /// <summary>The final result (e.g. beginGetAccess's accessSAS), returned at the Location URL.</summary>
            public JsonObject? Result;
        }

        public ArmSimulator(TestHttpsServer server)
        {
            Server = server;
            server.Handler = HandleAsync;
            _tokens[CallerToken] = 0;
        }

        public string ArmEndpoint => Server.BaseUrl + "/";

        /// <summary>The next <paramref name="count"/> ARM requests get 429 with Retry-After.</summary>
        public void ThrottleNext(int count, int retryAfterSeconds)
        {
            Interlocked.Exchange(ref _throttleSeconds, retryAfterSeconds);
            Interlocked.Exchange(ref _throttleCount, count);
        }

        private (string Code, string Message)? _failNext;

        /// <summary>The next long-running operation ends Failed with this CloudError (as Azure reports allocation failures).</summary>
        public void FailNextOperation(string code, string message) { lock (_gate) _failNext = (code, message); }

        /// <summary>Sets a VM's provisioning state and power state (null: no PowerState status at all).</summary>
        public void SetState(string id, string provisioning, string? power)
        {
            lock (_gate) { var vm = _vms[id]; vm.Provisioning = provisioning; vm.Power = power; }
        }

        public bool ResourceExists(string id) { lock (_gate) return _resources.Contains(id) || _vms.ContainsKey(id) || _disks.ContainsKey(id); }
        public int VmCount { get { lock (_gate) return _vms.Count; } }
        public string? PowerOf(string id) { lock (_gate) return _vms.TryGetValue(id, out var v) ? v.Power : null; }

        public static string RgId(string rg) => $"/subscriptions/{Subscription}/resourceGroups/{rg}";
        public static string VmId(string rg, string name) => RgId(rg) + "/providers/Microsoft.Compute/virtualMachines/" + name;
        public static string SubnetId(string rg) => RgId(rg) + "/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/default";

        /// <summary>Seeds VMs directly (for paging): power states cycle through running/deallocated/stopped.</summary>
        public void Seed(string rg, int count, string location = Location, string prefix = "bulk")
        {
            string[] powers = { "running", "deallocated", "stopped" };
            lock (_gate)
            {
                for (int i = 0; i < count; i++)
                {
                    string name = $"{prefix}-{i:D5}";
                    var vm = new Vm { Power = powers[i % powers.Length] };
                    vm.Model = NewModel(rg, name, location, "Standard_B1s", "Canonical", "ubuntu-24_04-lts", "server", "latest", null);
                    _vms[VmId(rg, name)] = vm;
                }
            }
        }

        private static JsonObject NewModel(string rg, string name, string location, string size, string publisher, string offer, string sku, string version, JsonNode? zones)
        {
            var o = new JsonObject
            {
                ["name"] = name,
                ["id"] = VmId(rg, name),
                ["type"] = "Microsoft.Compute/virtualMachines",
                ["location"] = location,
                ["tags"] = new JsonObject(),
                ["properties"] = new JsonObject
                {
                    ["vmId"] = Guid.NewGuid().ToString(),
                    ["hardwareProfile"] = new JsonObject { ["vmSize"] = size },
                    ["storageProfile"] = new JsonObject
                    {
                        ["imageReference"] = new JsonObject { ["publisher"] = publisher, ["offer"] = offer, ["sku"] = sku, ["version"] = version },
                        ["osDisk"] = new JsonObject
                        {
                            ["osType"] = "Linux", ["name"] = name + "-osdisk", ["createOption"] = "FromImage", ["caching"] = "ReadWrite",
                            ["managedDisk"] = new JsonObject { ["storageAccountType"] = "Standard_LRS", ["id"] = RgId(rg) + "/providers/Microsoft.Compute/disks/" + name + "-osdisk" },
                            ["deleteOption"] = "Detach", ["diskSizeGB"] = 30,
                        },
                        ["dataDisks"] = new JsonArray(),
                    },
                    ["osProfile"] = new JsonObject { ["computerName"] = name, ["adminUsername"] = "azureuser", ["linuxConfiguration"] = new JsonObject { ["disablePasswordAuthentication"] = true } },
                    ["networkProfile"] = new JsonObject { ["networkInterfaces"] = new JsonArray() },
                    ["provisioningState"] = "Succeeded",
                    ["timeCreated"] = "2026-11-25T10:00:00+00:00",
                },
            };
            if (zones != null) o["zones"] = zones;
            return o;
        }

        // ------------------------------------------------------------------ dispatch

        private async Task HandleAsync(HttpContext ctx, SeenRequest req)
        {
            string path = req.Path;
            var q = ctx.Request.Query;
            // Token endpoints (no bearer token).
            if (path.Equals("/msi/token", StringComparison.OrdinalIgnoreCase)) { await ManagedIdentityToken(ctx, req); return; }
            if (path.EndsWith("/oauth2/v2.0/token", StringComparison.OrdinalIgnoreCase)) { await EntraToken(ctx, req); return; }
            if (path.EndsWith("/.well-known/openid-configuration", StringComparison.OrdinalIgnoreCase)) { await OpenIdConfiguration(ctx, req); return; }
            if (path.Contains("/discovery/instance", StringComparison.OrdinalIgnoreCase)) { lock (TokenRequests) TokenRequests.Add("instance-discovery"); ctx.Response.StatusCode = 400; return; }

            // ARM: a bearer token we issued is required.
            string? auth = req.Authorization;
            if (auth == null || !auth.StartsWith("Bearer ", StringComparison.Ordinal) || !_tokens.ContainsKey(auth.Substring(7)))
            {
                await CloudError(ctx, 401, "InvalidAuthenticationToken", "The access token is invalid.");
                return;
            }
            if (Interlocked.Decrement(ref _throttleCount) >= 0)
            {
                ctx.Response.Headers["Retry-After"] = _throttleSeconds.ToString();
                await CloudError(ctx, 429, "TooManyRequests", "The request is being throttled.");
                return;
            }
            var seg = path.Trim('/').Split('/');
            string method = req.Method;

            if (seg.Length == 2 && Is(seg[0], "subscriptions")) { await Json(ctx, 200, new JsonObject { ["id"] = "/subscriptions/" + seg[1], ["subscriptionId"] = seg[1], ["displayName"] = "Grid test subscription", ["state"] = "Enabled", ["tenantId"] = Tenant }); return; }
            if (!string.Equals(seg.ElementAtOrDefault(1), Subscription, StringComparison.OrdinalIgnoreCase)) { await CloudError(ctx, 404, "SubscriptionNotFound", $"The subscription '{seg.ElementAtOrDefault(1)}' could not be found."); return; }
            if (seg.Length == 3 && Is(seg[2], "locations")) { await Json(ctx, 200, Locations()); return; }

            // /subscriptions/{s}/providers/Microsoft.Compute/...
            if (seg.Length >= 4 && Is(seg[2], "providers") && Is(seg[3], "Microsoft.Compute"))
            {
                if (seg.Length == 5 && Is(seg[4], "virtualMachines")) { await ListVms(ctx, null, q["statusOnly"] == "true", q["$skiptoken"]); return; }
                if (seg.Length == 7 && Is(seg[4], "locations") && Is(seg[6], "vmSizes")) { await Json(ctx, 200, SizesBody()); return; }
                if (seg.Length == 7 && Is(seg[4], "locations") && Is(seg[6], "usages")) { await Json(ctx, 200, UsagesBody()); return; }
                // Marketplace images: publishers/{p}/artifacttypes/vmimage/offers[/{o}/skus[/{s}/versions]]
                if (seg.Length >= 10 && Is(seg[4], "locations") && Is(seg[6], "publishers") && Is(seg[8], "artifacttypes"))
                {
                    string loc = seg[5], pub = seg[7];
                    string[] names = seg.Length switch
                    {
                        11 => pub == "Canonical" ? new[] { "ubuntu-24_04-lts", "0001-com-ubuntu-server-jammy" } : new string[0],
                        13 => Is(seg[12], "skus") ? (seg[11] == "ubuntu-24_04-lts" ? new[] { "server", "server-gen1" } : new[] { "22_04-lts-gen2" }) : new string[0],
                        15 => new[] { "24.04.202410170", "24.04.202411030" },
                        _ => new string[0],
                    };
                    var arr = new JsonArray();
                    foreach (var n in names)
                        arr.Add(new JsonObject { ["name"] = n, ["location"] = loc, ["id"] = path + "/" + n });
                    await Json(ctx, 200, arr);
                    return;
                }
                if (seg.Length == 8 && Is(seg[4], "locations") && Is(seg[6], "operations")) { await PollOperation(ctx, seg[7], q.ContainsKey("monitor")); return; }
            }

            // /subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{action}]
            if (seg.Length >= 4 && Is(seg[2], "resourceGroups"))
            {
                string rg = seg[3];
                if (seg.Length == 4 && method == "GET") { await Json(ctx, 200, new JsonObject { ["id"] = RgId(rg), ["name"] = rg, ["location"] = Location, ["type"] = "Microsoft.Resources/resourceGroups", ["properties"] = new JsonObject { ["provisioningState"] = "Succeeded" } }); return; }
                if (seg.Length == 7 && Is(seg[5], "Microsoft.Compute") && Is(seg[6], "virtualMachines")) { await ListVms(ctx, rg, false, q["$skiptoken"]); return; }
                if (seg.Length >= 8 && Is(seg[5], "Microsoft.Compute") && Is(seg[6], "virtualMachines"))
                {
                    string id = VmId(rg, seg[7]);
                    if (seg.Length == 8)
                    {
                        switch (method)
                        {
                            case "GET": await GetVm(ctx, id, q["$expand"] == "instanceView"); return;
                            case "PUT": await PutVm(ctx, rg, seg[7], req.Body); return;
                            case "PATCH": await PatchVm(ctx, id, req.Body); return;
                            case "DELETE": await DeleteVm(ctx, id); return;
                        }
                    }
                    if (seg.Length == 9 && method == "POST") { await VmAction(ctx, id, seg[8]); return; }
                }
                if (seg.Length >= 8 && Is(seg[5], "Microsoft.Compute") && Is(seg[6], "disks") && await HandleDiskAsync(ctx, req, rg, seg)) return;
                if (seg.Length >= 7 && Is(seg[5], "Microsoft.Compute") && Is(seg[6], "snapshots") && await HandleSnapshotAsync(ctx, req, rg, seg)) return;
                if (seg.Length == 8 && method == "DELETE" && (Is(seg[6], "disks") || Is(seg[6], "networkInterfaces")))
                {
                    string rid = "/" + string.Join("/", seg);
                    bool existed;
                    lock (_gate) existed = _resources.Remove(rid);
                    ctx.Response.StatusCode = existed ? 200 : 204;
                    return;
                }
            }
            if (await HandleNetworkAsync(ctx, req, seg)) return; // ArmNetworks.cs
            await CloudError(ctx, 404, "NotFound", $"The test ARM endpoint has no route for {method} {path}.");
        }

        private static bool Is(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

        // ------------------------------------------------------------------ tokens

        private string Issue(string who)
        {
            string token = "tok-" + who + "-" + Guid.NewGuid().ToString("N");
            _tokens[token] = 0;
            lock (TokenRequests) TokenRequests.Add(who);
            return token;
        }

        private async Task ManagedIdentityToken(HttpContext ctx, SeenRequest req)
        {
            if (!req.Headers.TryGetValue("X-IDENTITY-HEADER", out var h) || h != IdentityHeader)
            {
                ctx.Response.StatusCode = 401;
                await ctx.Response.WriteAsync("{\"error\":\"invalid_identity_header\"}");
                return;
            }
            string? clientId = ctx.Request.Query["client_id"];
            string token = Issue("mi" + (string.IsNullOrEmpty(clientId) ? "" : ":" + clientId));
            long exp = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
            await Json(ctx, 200, new JsonObject { ["access_token"] = token, ["expires_on"] = exp.ToString(), ["resource"] = ctx.Request.Query["resource"].ToString(), ["token_type"] = "Bearer", ["client_id"] = clientId ?? "system" });
        }

        private async Task EntraToken(HttpContext ctx, SeenRequest req)
        {
            var form = System.Web.HttpUtility.ParseQueryString(req.Body);
            bool ok = form["client_id"] == SpClientId && form["grant_type"] == "client_credentials"
                      && (form["client_secret"] == SpSecret || !string.IsNullOrEmpty(form["client_assertion"]));
            if (!ok)
            {
                ctx.Response.StatusCode = 401;
                await Json(ctx, 401, new JsonObject { ["error"] = "invalid_client", ["error_description"] = "AADSTS7000215: Invalid client secret provided.", ["error_codes"] = new JsonArray(7000215) });
                return;
            }
            string token = Issue(form["client_assertion"] != null ? "sp-cert" : "sp-secret");
            await Json(ctx, 200, new JsonObject { ["token_type"] = "Bearer", ["expires_in"] = 3599, ["ext_expires_in"] = 3599, ["access_token"] = token });
        }

        private async Task OpenIdConfiguration(HttpContext ctx, SeenRequest req)
        {
            string tenant = req.Path.Trim('/').Split('/')[0];
            string b = Server.BaseUrl + "/" + tenant;
            lock (TokenRequests) TokenRequests.Add("openid-configuration");
            await Json(ctx, 200, new JsonObject
            {
                ["token_endpoint"] = b + "/oauth2/v2.0/token",
                ["authorization_endpoint"] = b + "/oauth2/v2.0/authorize",
                ["issuer"] = b + "/v2.0",
                ["token_endpoint_auth_methods_supported"] = new JsonArray("client_secret_post", "private_key_jwt"),
            });
        }

        // ------------------------------------------------------------------ bodies

        private JsonObject Locations() => new JsonObject
        {
            ["value"] = new JsonArray(
                new JsonObject
                {
                    ["id"] = $"/subscriptions/{Subscription}/locations/westeurope", ["name"] = "westeurope", ["displayName"] = "West Europe", ["type"] = "Region",
                    ["availabilityZoneMappings"] = new JsonArray(
                        new JsonObject { ["logicalZone"] = "1", ["physicalZone"] = "westeurope-az1" },
                        new JsonObject { ["logicalZone"] = "2", ["physicalZone"] = "westeurope-az3" },
                        new JsonObject { ["logicalZone"] = "3", ["physicalZone"] = "westeurope-az2" }),
                },
                new JsonObject { ["id"] = $"/subscriptions/{Subscription}/locations/northeurope", ["name"] = "northeurope", ["displayName"] = "North Europe", ["type"] = "Region" }),
        };

        private static JsonObject SizesBody()
        {
            var arr = new JsonArray();
            foreach (var s in Sizes)
                arr.Add(new JsonObject { ["name"] = s.Name, ["numberOfCores"] = s.Cores, ["memoryInMB"] = s.MemoryMB, ["osDiskSizeInMB"] = 1047552, ["resourceDiskSizeInMB"] = 4096, ["maxDataDiskCount"] = 4 });
            return new JsonObject { ["value"] = arr };
        }

        /// <summary>
        /// Usage_List (ListUsagesResult): per counter its unit, currentValue, limit and name {value, localizedValue}.
        /// Counts the VMs that are not deallocated (deallocated VMs hold no vCPU quota) and their sizes' cores.
        /// </summary>
        private JsonObject UsagesBody()
        {
            int cores = OtherCoresUsed, vms = 0, bs = 0;
            lock (_gate)
                foreach (var vm in _vms.Values)
                {
                    if (string.Equals(vm.Power, "deallocated", StringComparison.OrdinalIgnoreCase)) continue;
                    string? size = vm.Model["properties"]?["hardwareProfile"]?["vmSize"]?.GetValue<string>();
                    int c = Sizes.FirstOrDefault(x => string.Equals(x.Name, size, StringComparison.OrdinalIgnoreCase)).Cores;
                    cores += c; vms++;
                    if (size != null && size.StartsWith("Standard_B", StringComparison.OrdinalIgnoreCase)) bs += c;
                }
            JsonObject U(string name, string localized, long current, long limit)
                => new JsonObject { ["unit"] = "Count", ["currentValue"] = current, ["limit"] = limit, ["name"] = new JsonObject { ["value"] = name, ["localizedValue"] = localized } };
            return new JsonObject
            {
                ["value"] = new JsonArray(
                    U("availabilitySets", "Availability Sets", 0, 2500),
                    U("cores", "Total Regional vCPUs", cores, CoresLimit),
                    U("virtualMachines", "Virtual Machines", vms, VirtualMachinesLimit),
                    U("virtualMachineScaleSets", "Virtual Machine Scale Sets", 0, 2500),
                    U("standardBSFamily", "Standard BS Family vCPUs", bs, 10)),
            };
        }

        private JsonArray Statuses(Vm vm)
        {
            var a = new JsonArray(new JsonObject { ["code"] = "ProvisioningState/" + vm.Provisioning.ToLowerInvariant(), ["level"] = "Info", ["displayStatus"] = "Provisioning " + vm.Provisioning.ToLowerInvariant() });
            if (vm.Power != null && !vm.Provisioning.Equals("Creating", StringComparison.OrdinalIgnoreCase))
                a.Add(new JsonObject { ["code"] = "PowerState/" + vm.Power, ["level"] = "Info", ["displayStatus"] = "VM " + vm.Power });
            return a;
        }

        private JsonObject Render(Vm vm, bool instanceView)
        {
            var o = (JsonObject)vm.Model.DeepClone();
            o["properties"]!["provisioningState"] = vm.Provisioning;
            if (instanceView)
                o["properties"]!["instanceView"] = new JsonObject { ["computerName"] = vm.Model["name"]!.GetValue<string>(), ["statuses"] = Statuses(vm) };
            return o;
        }

        private JsonObject RenderStatusOnly(Vm vm) => new JsonObject
        {
            ["name"] = vm.Model["name"]!.DeepClone(), ["id"] = vm.Model["id"]!.DeepClone(), ["type"] = "Microsoft.Compute/virtualMachines", ["location"] = vm.Model["location"]!.DeepClone(),
            ["properties"] = new JsonObject { ["instanceView"] = new JsonObject { ["statuses"] = Statuses(vm) } },
        };

        private async Task ListVms(HttpContext ctx, string? rg, bool statusOnly, string? skipToken)
        {
            List<JsonObject> items;
            int skip = int.TryParse(skipToken, out var s) ? s : 0;
            int total;
            lock (_gate)
            {
                var all = _vms.Where(kv => rg == null || kv.Key.StartsWith(RgId(rg) + "/", StringComparison.OrdinalIgnoreCase))
                    .OrderBy(kv => kv.Key, StringComparer.OrdinalIgnoreCase).Select(kv => kv.Value).ToList();
                total = all.Count;
                items = all.Skip(skip).Take(PageSize).Select(v => statusOnly ? RenderStatusOnly(v) : Render(v, false)).ToList();
            }
            var body = new JsonObject { ["value"] = new JsonArray(items.Cast<JsonNode>().ToArray()) };
            if (skip + PageSize < total)
                body["nextLink"] = Server.BaseUrl + ctx.Request.Path + "?api-version=2023-07-01" + (statusOnly ? "&statusOnly=true" : "") + "&$skiptoken=" + (skip + PageSize);
            await Json(ctx, 200, body);
        }

        private async Task GetVm(HttpContext ctx, string id, bool instanceView)
        {
            JsonObject? body = null;
            lock (_gate) if (_vms.TryGetValue(id, out var vm)) body = Render(vm, instanceView);
            if (body == null) { await CloudError(ctx, 404, "ResourceNotFound", $"The Resource 'Microsoft.Compute/virtualMachines/{id.Split('/').Last()}' under resource group '{id.Split('/')[4]}' was not found."); return; }
            await Json(ctx, 200, body);
        }

        private async Task PutVm(HttpContext ctx, string rg, string name, string body)
        {
            JsonObject req;
            try { req = JsonNode.Parse(body)!.AsObject(); }
            catch (Exception) { await CloudError(ctx, 400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."); return; }
            string id = VmId(rg, name);
            var props = req["properties"] as JsonObject;
            string? size = props?["hardwareProfile"]?["vmSize"]?.GetValue<string>();
            if (size == null || !Sizes.Any(x => x.Name.Equals(size, StringComparison.OrdinalIgnoreCase)))
            { await CloudError(ctx, 400, "InvalidParameter", $"The value '{size}' of parameter 'vmSize' is not allowed. Allowed values are: {string.Join(", ", Sizes.Select(x => x.Name))}.", "vmSize"); return; }
            var image = props?["storageProfile"]?["imageReference"] as JsonObject;
            if (RefuseVmPut?.Invoke(rg) == true) { await CloudError(ctx, 409, "AllocationFailed", "Allocation failed: no capacity for this size in this region (test injection)."); return; }
            string? attach = AttachedDiskId(props);
            if (attach == null && (image == null || image["publisher"] == null))
            { await CloudError(ctx, 400, "InvalidParameter", "Required parameter 'imageReference' is missing (null).", "imageReference"); return; }
            if (attach == null && props?["osProfile"]?["adminPassword"] == null && props?["osProfile"]?["linuxConfiguration"]?["ssh"] == null)
            { await CloudError(ctx, 400, "InvalidParameter", "Either adminPassword or an SSH public key is required.", "osProfile"); return; }

            bool exists;
            lock (_gate) exists = _vms.ContainsKey(id);
            if (exists)
            {
                if (props?["osProfile"]?["adminPassword"] != null) { await CloudError(ctx, 409, "PropertyChangeNotAllowed", "Changing property 'osProfile.adminPassword' is not allowed.", "osProfile.adminPassword"); return; }
            }

            if (attach != null && await RefuseAttachAsync(ctx, attach)) return;
            var model = attach != null
                ? NewModel(rg, name, req["location"]?.GetValue<string>() ?? Location, size, "", "", "", "", req["zones"]?.DeepClone())
                : NewModel(rg, name, req["location"]?.GetValue<string>() ?? Location, size,
                image!["publisher"]!.GetValue<string>(), image["offer"]!.GetValue<string>(), image["sku"]!.GetValue<string>(), image["version"]!.GetValue<string>(), req["zones"]?.DeepClone());
            model["tags"] = req["tags"]?.DeepClone() ?? new JsonObject();
            var mp = model["properties"]!.AsObject();
            var osReq = props!["storageProfile"]?["osDisk"] as JsonObject;
            var os = mp["storageProfile"]!["osDisk"]!.AsObject();
            if (osReq?["name"] != null) { os["name"] = osReq["name"]!.DeepClone(); os["managedDisk"]!["id"] = RgId(rg) + "/providers/Microsoft.Compute/disks/" + osReq["name"]!.GetValue<string>(); }
            os["deleteOption"] = osReq?["deleteOption"]?.DeepClone() ?? "Detach";
            if (attach != null) ApplyAttach(mp, attach, id, osReq!);
            else
            {
                var osp = (JsonObject)props["osProfile"]!.DeepClone();
                osp.Remove("adminPassword"); // never returned by Azure
                mp["osProfile"] = osp;
            }
            var netReq = props["networkProfile"] as JsonObject;
            var nics = new JsonArray();
            if (netReq?["networkInterfaces"] is JsonArray given)
                foreach (var n in given) nics.Add(new JsonObject { ["id"] = n!["id"]!.DeepClone(), ["properties"] = new JsonObject { ["primary"] = true, ["deleteOption"] = n["properties"]?["deleteOption"]?.DeepClone() ?? "Detach" } });
            if (netReq?["networkInterfaceConfigurations"] is JsonArray cfgs)
                foreach (var c in cfgs)
                {
                    string nicId = RgId(rg) + "/providers/Microsoft.Network/networkInterfaces/" + c!["name"]!.GetValue<string>();
                    nics.Add(new JsonObject { ["id"] = nicId, ["properties"] = new JsonObject { ["primary"] = true, ["deleteOption"] = c["properties"]?["deleteOption"]?.DeepClone() ?? "Detach" } });
                    lock (_gate) _resources.Add(nicId);
                }
            mp["networkProfile"] = new JsonObject { ["networkInterfaces"] = nics };
            if (netReq?["networkInterfaceConfigurations"] != null) { mp["networkProfile"]!["networkApiVersion"] = netReq["networkApiVersion"]?.DeepClone(); mp["networkProfile"]!["networkInterfaceConfigurations"] = netReq["networkInterfaceConfigurations"]!.DeepClone(); }

            var vm = new Vm { Model = model, Provisioning = "Creating", Power = "starting" };
            lock (_gate)
            {
                _vms[id] = vm;
                _resources.Add(os["managedDisk"]!["id"]!.GetValue<string>());
                foreach (var n in nics) if (n!["id"]!.GetValue<string>().Contains("/networkInterfaces/")) _resources.Add(n["id"]!.GetValue<string>());
            }
            string opId = StartOp(() => { lock (_gate) { vm.Provisioning = "Succeeded"; vm.Power = "running"; } });
            AsyncHeaders(ctx, opId, location: false);
            await Json(ctx, exists ? 200 : 201, Render(vm, false));
        }

        private async Task PatchVm(HttpContext ctx, string id, string body)
        {
            var req = JsonNode.Parse(body)!.AsObject();
            JsonObject? result = null;
            string? error = null;
            lock (_gate)
            {
                if (_vms.TryGetValue(id, out var vm))
                {
                    if (req["tags"] is JsonObject tags) vm.Model["tags"] = tags.DeepClone();
                    var p = req["properties"] as JsonObject;
                    string? size = p?["hardwareProfile"]?["vmSize"]?.GetValue<string>();
                    if (size != null)
                    {
                        if (!Sizes.Any(x => x.Name.Equals(size, StringComparison.OrdinalIgnoreCase))) error = size;
                        else vm.Model["properties"]!["hardwareProfile"]!["vmSize"] = size;
                    }
                    var osDel = p?["storageProfile"]?["osDisk"]?["deleteOption"];
                    if (osDel != null) vm.Model["properties"]!["storageProfile"]!["osDisk"]!["deleteOption"] = osDel.DeepClone();
                    if (p?["networkProfile"]?["networkInterfaces"] is JsonArray nics)
                        foreach (var n in nics)
                            foreach (var mine in vm.Model["properties"]!["networkProfile"]!["networkInterfaces"]!.AsArray())
                                if (Is(mine!["id"]!.GetValue<string>(), n!["id"]!.GetValue<string>()) && n["properties"]?["deleteOption"] != null)
                                    mine["properties"]!["deleteOption"] = n["properties"]!["deleteOption"]!.DeepClone();
                    result = Render(vm, false);
                }
            }
            if (error != null) { await CloudError(ctx, 400, "InvalidParameter", $"The value '{error}' of parameter 'vmSize' is not allowed.", "vmSize"); return; }
            if (result == null) { await CloudError(ctx, 404, "ResourceNotFound", "The VM was not found."); return; }
            await Json(ctx, 200, result);
        }

        private async Task DeleteVm(HttpContext ctx, string id)
        {
            bool exists;
            lock (_gate) exists = _vms.ContainsKey(id);
            if (!exists) { ctx.Response.StatusCode = 204; return; }
            lock (_gate) _vms[id].Provisioning = "Deleting";
            string opId = StartOp(() =>
            {
                lock (_gate)
                {
                    if (!_vms.TryGetValue(id, out var vm)) return;
                    _vms.Remove(id);
                    var os = vm.Model["properties"]!["storageProfile"]!["osDisk"]!;
                    ReleaseDisk(os["managedDisk"]!["id"]!.GetValue<string>(), os["deleteOption"]?.GetValue<string>() == "Delete");
                    if (os["deleteOption"]?.GetValue<string>() == "Delete") _resources.Remove(os["managedDisk"]!["id"]!.GetValue<string>());
                    foreach (var n in vm.Model["properties"]!["networkProfile"]!["networkInterfaces"]!.AsArray())
                        if (n!["properties"]?["deleteOption"]?.GetValue<string>() == "Delete") _resources.Remove(n["id"]!.GetValue<string>());
                }
            });
            AsyncHeaders(ctx, opId, location: true);
            ctx.Response.StatusCode = 202;
        }

        private async Task VmAction(HttpContext ctx, string id, string action)
        {
            Vm? vm;
            lock (_gate) _vms.TryGetValue(id, out vm);
            if (vm == null) { await CloudError(ctx, 404, "ResourceNotFound", "The VM was not found."); return; }
            string? transitional, final;
            switch (action.ToLowerInvariant())
            {
                case "start": transitional = "starting"; final = "running"; break;
                case "poweroff": transitional = "stopping"; final = "stopped"; break;
                case "deallocate": transitional = "deallocating"; final = "deallocated"; break;
                case "restart":
                    if (vm.Power != "running") { await CloudError(ctx, 409, "OperationNotAllowed", "Operation 'restart' is not allowed on VM since the VM is " + vm.Power + "."); return; }
                    transitional = "starting"; final = "running"; break;
                default: await CloudError(ctx, 404, "NotFound", "Unknown action " + action); return;
            }
            lock (_gate) vm.Power = transitional;
            string opId = StartOp(() => { lock (_gate) vm.Power = final; });
            AsyncHeaders(ctx, opId, location: true);
            ctx.Response.StatusCode = 202;
        }

        // ------------------------------------------------------------------ long-running operations

        private string StartOp(Action complete) => StartOp(complete, null);

        private string StartOp(Action complete, JsonObject? result)
        {
            string id = Guid.NewGuid().ToString();
            (string Code, string Message)? fail;
            lock (_gate) { fail = _failNext; _failNext = null; }
            _ops[id] = new Op { PollsLeft = PollsPerOperation, Complete = complete, Result = result, Error = fail == null ? null : new JsonObject { ["code"] = fail.Value.Code, ["message"] = fail.Value.Message } };
            if (PollsPerOperation <= 0) Finish(_ops[id]);
            return id;
        }

        private static void Finish(Op op)
        {
            if (op.Status != "InProgress") return;
            if (op.Error != null) { op.Status = "Failed"; return; }
            op.Complete?.Invoke();
            op.Status = "Succeeded";
        }

        private void AsyncHeaders(HttpContext ctx, string opId, bool location)
        {
            string url = $"{Server.BaseUrl}/subscriptions/{Subscription}/providers/Microsoft.Compute/locations/{Location}/operations/{opId}?p=test&api-version=2023-07-01";
            ctx.Response.Headers["Azure-AsyncOperation"] = url;
            if (location) ctx.Response.Headers["Location"] = url + "&monitor=true";
            ctx.Response.Headers["Retry-After"] = "0";
        }

        private async Task PollOperation(HttpContext ctx, string opId, bool monitor)
        {
            if (!_ops.TryGetValue(opId, out var op)) { await CloudError(ctx, 404, "NotFound", "Unknown operation."); return; }
            lock (op)
            {
                if (op.Status == "InProgress")
                {
                    if (op.PollsLeft <= 0) Finish(op);
                    else op.PollsLeft--;
                }
            }
            if (monitor)
            {
                if (op.Status == "InProgress") { ctx.Response.Headers["Retry-After"] = "0"; ctx.Response.StatusCode = 202; return; }
                if (op.Result != null && op.Status == "Succeeded") { await Json(ctx, 200, op.Result.DeepClone()); return; }
                ctx.Response.StatusCode = 200;
                return;
            }
            var body = new JsonObject { ["name"] = opId, ["status"] = op.Status, ["startTime"] = DateTime.UtcNow.ToString("o") };
            if (op.Result != null && op.Status == "Succeeded") body["properties"] = new JsonObject { ["output"] = op.Result.DeepClone() };
            if (op.Error != null) body["error"] = op.Error.DeepClone();
            if (op.Status == "InProgress") ctx.Response.Headers["Retry-After"] = "0";
            await Json(ctx, 200, body);
        }

        // ------------------------------------------------------------------ helpers

        public static async Task Json(HttpContext ctx, int status, JsonNode body)
        {
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "application/json; charset=utf-8";
            ctx.Response.Headers["x-ms-request-id"] = Guid.NewGuid().ToString();
            await ctx.Response.WriteAsync(body.ToJsonString());
        }

        public static Task CloudError(HttpContext ctx, int status, string code, string message, string? target = null)
        {
            var err = new JsonObject { ["code"] = code, ["message"] = message };
            if (target != null) err["target"] = target;
            return Json(ctx, status, new JsonObject { ["error"] = err });
        }
    }
}
