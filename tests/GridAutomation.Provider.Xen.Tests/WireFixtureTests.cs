using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using GridAutomation.Core.Model;
using GridAutomation.Providers.Xen;
using GridAutomation.Providers.Xen.Xapi;
using Xunit;

namespace GridAutomation.Provider.Xen.Tests
{
    /// <summary>
    /// The client's decoder against the JSON-RPC fixtures of xen-api's SDK component tests (xapi-24): each fixture's
    /// expected_result is wrapped in a JSON-RPC 2.0 envelope, exactly as their mock server sends it.
    /// </summary>
    public class WireFixtureTests
    {
        /// <summary>The raw text of expected_result[method] (kept verbatim, bare Infinity included).</summary>
        private static string Envelope(string file, string method)
        {
            string text = File.ReadAllText(Fixtures.Xapi(Path.Combine("xen-api", "component-test", "xapi-24", file)));
            // Navigate on a copy made parseable, then cut the same span out of the original text.
            string parseable = JsonRpcCodec.QuoteBareNonFinite(text);
            using var doc = JsonDocument.Parse(parseable);
            var test = doc.RootElement.EnumerateObject().First().Value;
            var expected = test.GetProperty("expected_result").GetProperty(method);
            string inner = expected.GetRawText();
            if (parseable != text) inner = inner.Replace("\"Infinity\"", "Infinity"); // restore the bare token the server sent
            return "{\"jsonrpc\": \"2.0\", \"id\": 1, " + inner.Trim().TrimStart('{').TrimEnd('}') + "}";
        }

        [XapiFact]
        public void VmGetAllRecords_FullAndPartialRecords_Map()
        {
            var reply = JsonRpcCodec.DecodeResponse(Envelope("vm_get_all_records.json", "VM.get_all_records"));
            Assert.Null(reply.ErrorDescription);
            var vms = (Dictionary<string, object?>)reply.Value!;
            Assert.Equal(2, vms.Count);
            var hosts = new Dictionary<string, string>();
            var all = vms.Select(kv => XenMapping.Workload("dc", kv.Key, (Dictionary<string, object?>)kv.Value!, null, null, hosts)).ToList();
            var win = Assert.Single(all, w => w.Name == "win11-x64");
            Assert.Equal((WorkloadState.Running, 2, 8192L), (win.State, win.CpuCount!.Value, win.MemoryMB!.Value));
            Assert.Equal(90, ((Dictionary<string, object?>)vms.Values.First(v => ((Dictionary<string, object?>)v!)["name_label"] as string == "win11-x64")!).Count);
            var ubuntu = Assert.Single(all, w => w.Name == "ubuntu2204");
            Assert.Equal(WorkloadState.Unknown, ubuntu.State); // a 13-field record without power_state
            Assert.Null(ubuntu.NativeState);
        }

        [XapiFact]
        public void SpecialValues_BareInfinity_AndFourDateFormats()
        {
            string body = Envelope("vm_special_value.json", "VM.get_all_records");
            Assert.Contains(": Infinity", body);
            Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(body)); // what a strict parser does with it
            var vms = (Dictionary<string, object?>)JsonRpcCodec.DecodeResponse(body).Value!;
            var mult = vms.Values.Cast<Dictionary<string, object?>>().Select(v => XapiValue.AsDouble(v["HVM_shadow_multiplier"])).ToList();
            Assert.Equal(new double?[] { double.PositiveInfinity, double.PositiveInfinity, double.NegativeInfinity, double.NegativeInfinity }, mult);
            var dates = vms.Values.Cast<Dictionary<string, object?>>().Select(v => XapiValue.AsDate(v["snapshot_time"])).ToList();
            Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1627478400), dates[0]);
            var noon = new DateTimeOffset(2024, 4, 20, 12, 0, 0, TimeSpan.Zero);
            Assert.Equal(new DateTimeOffset?[] { noon, noon, noon }, dates.Skip(1).ToArray());
        }

        [XapiFact]
        public void XapiError_HandleInvalid_WithTheRefAsData_MapsToNotFound()
        {
            var reply = JsonRpcCodec.DecodeResponse(Envelope("xapi_error.json", "VM.get_record"));
            Assert.Equal(new[] { "HANDLE_INVALID", "OpaqueRef:6ef08bce-0bf0-30ff-804f-5f0ee4bbdd13" }, reply.ErrorDescription);
            var ex = XapiErrors.ToException(new XapiFailure("VM.get_record", reply.ErrorDescription!), "Reading");
            Assert.Equal((GridErrorKind.NotFound, "HANDLE_INVALID", "HANDLE_INVALID"), (ex.Kind, ex.ErrorId, ex.NativeCode));
        }

        [XapiFact]
        public void RpcError_MembersOfUnexpectedTypes_StillAnError()
        {
            var reply = JsonRpcCodec.DecodeResponse(Envelope("rpc_error.json", "VM.get_record"));
            Assert.NotNull(reply.ErrorDescription);
            Assert.Equal("123456", reply.ErrorDescription![0]);
            var ex = XapiErrors.ToException(new XapiFailure("VM.get_record", reply.ErrorDescription), "Reading");
            Assert.Equal(("XenApiError", "123456"), (ex.ErrorId, ex.NativeCode));
        }

        [XapiFact]
        public void SessionLogin_AndEventFrom_Results_Decode()
        {
            Assert.Equal("OpaqueRef:12345678-4d8a-e4a9-a241-1ea05c1d6707", JsonRpcCodec.DecodeResponse(Envelope("session_login.json", "session.login_with_password")).Value);
            var host = (Dictionary<string, object?>)JsonRpcCodec.DecodeResponse(Envelope("session_login.json", "host.get_record")).Value!;
            Assert.Equal(21L, host["API_version_minor"]); // ints are JSON numbers over JSON-RPC
            var ev = (Dictionary<string, object?>)JsonRpcCodec.DecodeResponse(Envelope("event_from.json", "event.from")).Value!;
            Assert.Single((List<object?>)ev["events"]!);
        }

        [Fact]
        public void V1Errors_AndXmlRpcReplies_Decode()
        {
            var v1 = JsonRpcCodec.DecodeResponse("{\"result\": null, \"error\": [\"MAP_DUPLICATE_KEY\", \"Customer\", \"eSpiel Inc.\", \"eSpiel Incorporated\"], \"id\": \"xyz\"}");
            Assert.Equal(4, v1.ErrorDescription!.Count);
            var xml = XmlRpcCodec.DecodeResponse("<methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>VM_IS_TEMPLATE</value><value>OpaqueRef:X</value></data></array></value></member></struct></value></param></params></methodResponse>");
            Assert.Equal(new[] { "VM_IS_TEMPLATE", "OpaqueRef:X" }, xml.ErrorDescription);
            Assert.Equal("OpaqueRef:abc", XmlRpcCodec.ParseTaskResult("<value>OpaqueRef:abc</value>"));
            Assert.Null(XmlRpcCodec.ParseTaskResult(""));
        }
    }
}
