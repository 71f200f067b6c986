using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace GridAutomation.Provider.Xen.Tests.Server
{
    /// <summary>
    /// Disks of the fake XAPI: VDI.create, VDI.copy (whole copies) and VBD.create (records as in the datamodel), and the HTTP handlers
    /// GET /export_raw_vdi and PUT /import_raw_vdi (query vdi=&lt;ref or uuid&gt;, format=raw|vhd; the session from the
    /// session_id query parameter or cookie, as xapi's Xapi_http reads it). Content is kept per VDI as real bytes; a VDI
    /// never written reads as zeros of its virtual_size (up to 64 MiB, the test server's limit). format=vhd is read and
    /// written as a FIXED VHD (the data and a 512-byte footer, checksum checked); real XAPI exports dynamic VHDs.
    /// </summary>
    public sealed partial class FakeXapi
    {
        private const long MaxZeroFill = 64L << 20;
        private readonly Dictionary<string, byte[]> _vdiContent = new Dictionary<string, byte[]>(StringComparer.Ordinal);

        /// <summary>The bytes of a VDI (by ref), as an export would send them.</summary>
        public byte[] VdiContent(string vdiRef) { lock (_lock) return Content(vdiRef).ToArray(); }
        public void SetVdiContent(string vdiRef, byte[] data) { lock (_lock) { Row("VDI", vdiRef)["virtual_size"] = (long)data.Length; _vdiContent[vdiRef] = data.ToArray(); } }

        private byte[] Content(string vdi)
        {
            if (_vdiContent.TryGetValue(vdi, out var b)) return b;
            long size = Row("VDI", vdi)["virtual_size"] as long? ?? 0;
            if (size > MaxZeroFill) throw new XapiError("INTERNAL_ERROR", $"the test server keeps VDIs up to {MaxZeroFill} bytes; this one is {size}");
            return new byte[size];
        }

        private (bool Handled, object? Result) DiskSpecial(string cls, string name, List<object?> a)
        {
            if (cls == "VDI" && name == "create") return (true, CreateRow("VDI", a, new[] { "SR", "virtual_size", "type" }, (r, reference) =>
            {
                if (!(r["SR"] is string sr) || !Table("SR").ContainsKey(sr)) throw new XapiError("HANDLE_INVALID", "SR", r["SR"] as string ?? "");
                if (!(r["virtual_size"] is long size) || size < 0) throw new XapiError("FIELD_TYPE_ERROR", "virtual_size");
                r["VBDs"] = new List<object?>();
            }));
            if (cls == "VBD" && name == "create") return (true, CreateRow("VBD", a, new[] { "VM", "userdevice", "type", "mode" }, (r, reference) =>
            {
                var vm = Row("VM", r["VM"] as string ?? "");
                if (r["VDI"] is string vdi && vdi != "OpaqueRef:NULL") ((List<object?>)Row("VDI", vdi)["VBDs"]!).Add(reference);
                ((List<object?>)vm["VBDs"]!).Add(reference);
            }));
            if (cls == "VDI" && name == "copy")
            {
                // VDI.copy(vdi, sr, base_vdi, into_vdi): a fresh VDI in sr with the source's fields and bytes (base_vdi and
                // into_vdi, the changed-block forms, are not modelled: they must be null refs)
                string src = S(a, 0), sr = S(a, 1);
                var from = Row("VDI", src);
                if (!Table("SR").ContainsKey(sr)) throw new XapiError("HANDLE_INVALID", "SR", sr);
                for (int i = 2; i < a.Count; i++)
                    if (a[i] is string r && r != "OpaqueRef:NULL") throw new XapiError("INTERNAL_ERROR", "the test server copies whole VDIs only (base_vdi/into_vdi)");
                var row = from.ToDictionary(kv => kv.Key, kv => Copy(kv.Value), StringComparer.Ordinal);
                row["uuid"] = Guid.NewGuid().ToString(); row["SR"] = sr; row["VBDs"] = new List<object?>();
                string reference = NewRef();
                Table("VDI")[reference] = row; Added("VDI", reference);
                if (_vdiContent.TryGetValue(src, out var bytes)) _vdiContent[reference] = bytes.ToArray();
                return (true, reference);
            }
            if (cls == "VDI" && name == "destroy") _vdiContent.Remove(S(a, 0));
            return (false, null);
        }

        /// <summary>class.create(record): every field of the datamodel at its default, then the record's; the required ones must be given.</summary>
        private string CreateRow(string cls, List<object?> a, string[] required, Action<Dictionary<string, object?>, string> check)
        {
            if (!(a.Count > 0 && a[0] is Dictionary<string, object?> given)) throw new XapiError("FIELD_TYPE_ERROR", "args");
            var fields = _model.Classes[cls].Fields;
            foreach (var f in required) if (!given.ContainsKey(f)) throw new XapiError("FIELD_MISSING", f);
            var row = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var f in fields) row[f.Key] = Datamodel.Default(f.Value);
            foreach (var kv in given) if (fields.TryGetValue(kv.Key, out var type)) row[kv.Key] = Coerce(type, Copy(kv.Value));
            row["uuid"] = Guid.NewGuid().ToString();
            string reference = NewRef();
            check(row, reference);
            Table(cls)[reference] = row; Added(cls, reference);
            return reference;
        }

        private (int, string, byte[]) DiskHandler(string verb, string path, IDictionary<string, string> headers, byte[] body)
        {
            var query = Query(path);
            string handler = path.Split('?')[0];
            lock (Calls) Calls.Add(verb + " " + handler);
            query.TryGetValue("session_id", out var session);
            if (session == null && headers.TryGetValue("Cookie", out var cookie))
                session = cookie.Split(';').Select(c => c.Trim().Split('=', 2)).Where(c => c.Length == 2 && c[0] == "session_id").Select(c => c[1]).FirstOrDefault();
            string format = query.TryGetValue("format", out var f) ? f : "raw";
            lock (_lock)
            {
                if (session == null || !_sessions.Contains(session)) return (401, "text/plain", Encoding.UTF8.GetBytes("session_id missing or invalid"));
                if (format != "raw" && format != "vhd") return (400, "text/plain", Encoding.UTF8.GetBytes("format must be raw or vhd"));
                string? vdi = query.TryGetValue("vdi", out var v) ? v : null;
                if (vdi != null && !Table("VDI").ContainsKey(vdi))
                    vdi = Table("VDI").FirstOrDefault(kv => kv.Value["uuid"] as string == vdi).Key;
                if (vdi == null) return (404, "text/plain", Encoding.UTF8.GetBytes("no such VDI"));
                try
                {
                    if (handler == "/export_raw_vdi" && verb == "GET")
                    {
                        var data = Content(vdi);
                        return (200, "application/octet-stream", format == "vhd" ? FixedVhd(data) : data);
                    }
                    if (handler == "/import_raw_vdi" && verb == "PUT")
                    {
                        byte[] data = format == "vhd" ? FromFixedVhd(body) : body;
                        long size = Row("VDI", vdi)["virtual_size"] as long? ?? 0;
                        if (data.Length > size) return (500, "text/plain", Encoding.UTF8.GetBytes($"{data.Length} bytes do not fit a VDI of {size}"));
                        var stored = new byte[size];
                        Array.Copy(data, stored, data.Length);
                        _vdiContent[vdi] = stored;
                        return (200, "text/plain", Array.Empty<byte>());
                    }
                }
                catch (XapiError e) { return (500, "text/plain", Encoding.UTF8.GetBytes(string.Join(" ", e.Description))); }
                catch (FormatException e) { return (500, "text/plain", Encoding.UTF8.GetBytes(e.Message)); }
                return (405, "text/plain", Encoding.UTF8.GetBytes("method not allowed"));
            }
        }

        private static Dictionary<string, string> Query(string path)
        {
            var d = new Dictionary<string, string>(StringComparer.Ordinal);
            int q = path.IndexOf('?');
            if (q < 0) return d;
            foreach (var part in path.Substring(q + 1).Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = part.Split('=', 2);
                d[Uri.UnescapeDataString(kv[0])] = kv.Length > 1 ? Uri.UnescapeDataString(kv[1]) : "";
            }
            return d;
        }

        /// <summary>A fixed VHD (VHD spec 1.0 footer: cookie conectix, version 1.0, data offset all ones, disk type 2, big-endian sizes, ones'-complement checksum).</summary>
        public static byte[] FixedVhd(byte[] data)
        {
            var vhd = new byte[data.Length + 512];
            Array.Copy(data, vhd, data.Length);
            var f = vhd.AsSpan(data.Length, 512);
            Encoding.ASCII.GetBytes("conectix").CopyTo(f);
            BinaryPrimitives.WriteUInt32BigEndian(f.Slice(8), 2);
            BinaryPrimitives.WriteUInt32BigEndian(f.Slice(12), 0x00010000);
            BinaryPrimitives.WriteUInt64BigEndian(f.Slice(16), ulong.MaxValue);
            Encoding.ASCII.GetBytes("grid").CopyTo(f.Slice(28));
            BinaryPrimitives.WriteUInt64BigEndian(f.Slice(40), (ulong)data.Length);
            BinaryPrimitives.WriteUInt64BigEndian(f.Slice(48), (ulong)data.Length);
            BinaryPrimitives.WriteUInt32BigEndian(f.Slice(60), 2);
            Guid.NewGuid().ToByteArray().CopyTo(f.Slice(68));
            BinaryPrimitives.WriteUInt32BigEndian(f.Slice(64), Checksum(f));
            return vhd;
        }

        private static uint Checksum(ReadOnlySpan<byte> footer)
        {
            uint sum = 0;
            for (int i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += footer[i];
            return ~sum;
        }

        private static byte[] FromFixedVhd(byte[] vhd)
        {
            if (vhd.Length < 512) throw new FormatException("not a VHD: shorter than its footer");
            var f = vhd.AsSpan(vhd.Length - 512, 512);
            if (Encoding.ASCII.GetString(f.Slice(0, 8)) != "conectix") throw new FormatException("not a VHD: no conectix footer");
            if (BinaryPrimitives.ReadUInt32BigEndian(f.Slice(60)) != 2) throw new FormatException("only fixed VHDs are taken by the test server");
            if (BinaryPrimitives.ReadUInt32BigEndian(f.Slice(64)) != Checksum(f)) throw new FormatException("VHD footer checksum mismatch");
            if (BinaryPrimitives.ReadUInt64BigEndian(f.Slice(48)) != (ulong)(vhd.Length - 512)) throw new FormatException("VHD current size differs from the data");
            return vhd.AsSpan(0, vhd.Length - 512).ToArray();
        }
    }
}
