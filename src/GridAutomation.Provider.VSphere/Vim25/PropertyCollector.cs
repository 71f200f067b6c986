using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using System.Xml;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.VSphere.Vim25
{
    /// <summary>One object of a RetrievePropertiesEx answer: its reference, the properties asked for, the ones missing.</summary>
    internal sealed class ObjectContent
    {
        public ObjectContent(MoRef obj) { Obj = obj; }
        public MoRef Obj { get; }
        public Dictionary<string, VimNode> Props { get; } = new Dictionary<string, VimNode>(StringComparer.Ordinal);
        /// <summary>Property path → fault type, for properties the server could not read (e.g. NoPermission).</summary>
        public Dictionary<string, string>? Missing { get; set; }

        public VimNode? Get(string path) => Props.TryGetValue(path, out var v) ? v : null;
        public string? Text(string path) => Get(path)?.Text;
        public int? Int(string path) => Get(path)?.AsInt();
        public long? Long(string path) => Get(path)?.AsLong();
        public bool? Bool(string path) => Get(path)?.AsBool();
        public MoRef? Ref(string path) => Get(path)?.AsMoRef();

        internal static ObjectContent FromNode(VimNode n)
        {
            var obj = n.Child("obj") ?? throw VimClient.Malformed("an ObjectContent without obj.", null);
            var oc = new ObjectContent(obj.AsMoRef());
            foreach (var c in n.Children)
            {
                if (c.Name == "propSet")
                {
                    string? name = c.ChildText("name");
                    var val = c.Child("val");
                    if (name != null && val != null) oc.Props[name] = val;
                }
                else if (c.Name == "missingSet")
                {
                    string? path = c.ChildText("path");
                    var fault = c.Child("fault")?.Child("fault");
                    if (path != null) (oc.Missing ??= new Dictionary<string, string>(StringComparer.Ordinal))[path] = fault?.XsiType ?? "Unknown";
                }
            }
            return oc;
        }
    }

    /// <summary>What to retrieve: property paths per type, over a container view (or one object).</summary>
    internal sealed class FilterSpec
    {
        public List<KeyValuePair<string, string[]>> PropSets { get; } = new List<KeyValuePair<string, string[]>>();
        public MoRef Root { get; set; }
        /// <summary>True when Root is a ContainerView: its "view" is traversed and the view itself skipped.</summary>
        public bool ViaView { get; set; }

        public FilterSpec Add(string type, params string[] paths) { PropSets.Add(new KeyValuePair<string, string[]>(type, paths)); return this; }

        public void Write(XmlWriter w)
        {
            w.WriteStartElement("specSet");
            foreach (var ps in PropSets)
            {
                w.WriteStartElement("propSet");
                w.WriteElementString("type", ps.Key);
                w.WriteElementString("all", "false");
                foreach (var p in ps.Value) w.WriteElementString("pathSet", p);
                w.WriteEndElement();
            }
            w.WriteStartElement("objectSet");
            VimClient.WriteMoRef(w, "obj", Root);
            w.WriteElementString("skip", ViaView ? "true" : "false");
            if (ViaView)
            {
                VimClient.StartTyped(w, "selectSet", "TraversalSpec");
                w.WriteElementString("name", "traverseView");
                w.WriteElementString("type", "ContainerView");
                w.WriteElementString("path", "view");
                w.WriteElementString("skip", "false");
                w.WriteEndElement();
            }
            w.WriteEndElement();
            w.WriteEndElement();
        }
    }

    /// <summary>
    /// Reads the objects of one RetrievePropertiesEx / ContinueRetrievePropertiesEx answer one at a time, so the
    /// caller can hand out the first objects before the whole page is parsed. <see cref="Token"/> is known once
    /// <see cref="Next"/> returned false (or earlier, when the server sends it first).
    /// </summary>
    internal sealed class RetrieveResultReader : IDisposable
    {
        private readonly MemoryStream _body;
        private readonly XmlReader _r;
        private readonly string _method;
        private int _state; // 0 = before returnval, 1 = inside returnval, 2 = done

        public RetrieveResultReader(MemoryStream body, string method)
        {
            _body = body; _method = method;
            _r = VimClient.OpenBody(body, method);
            try
            {
                if (_r.IsEmptyElement) _state = 2; else _r.Read();
            }
            catch (XmlException xe) { Dispose(); throw VimClient.Malformed($"{method}: {xe.Message}", xe); }
        }

        public string? Token { get; private set; }
        public int Count { get; private set; }

        public bool Next(out ObjectContent content)
        {
            content = null!;
            try
            {
                while (_state != 2)
                {
                    if (_r.NodeType == XmlNodeType.None) throw new XmlException("Unexpected end of document.");
                    if (_r.NodeType == XmlNodeType.EndElement)
                    {
                        if (_state == 1) { _state = 2; return false; } // </returnval>
                        _state = 2; return false;                     // </...Response>
                    }
                    if (_r.NodeType != XmlNodeType.Element) { _r.Read(); continue; }
                    if (_state == 0)
                    {
                        if (_r.LocalName == "returnval") { if (_r.IsEmptyElement) { _state = 2; return false; } _state = 1; _r.Read(); continue; }
                        _r.Skip(); continue;
                    }
                    switch (_r.LocalName)
                    {
                        case "token":
                            Token = _r.ReadElementContentAsString();
                            continue;
                        case "objects":
                            content = ObjectContent.FromNode(VimNode.Read(_r));
                            Count++;
                            return true;
                        default:
                            _r.Skip();
                            continue;
                    }
                }
                return false;
            }
            catch (XmlException xe) { throw VimClient.Malformed($"{_method}: {xe.Message}", xe); }
        }

        public void Dispose() { _r.Dispose(); _body.Dispose(); }
    }

    /// <summary>PropertyCollector and ViewManager calls.</summary>
    internal static class PropertyCollectorExtensions
    {
        public static async Task<RetrieveResultReader> RetrievePropertiesExAsync(this VimClient c, FilterSpec spec, int maxObjects, CancellationToken ct)
        {
            var body = await c.PostAsync("RetrievePropertiesEx", c.Content.PropertyCollector, w =>
            {
                spec.Write(w);
                w.WriteStartElement("options");
                if (maxObjects > 0) w.WriteElementString("maxObjects", maxObjects.ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteEndElement();
            }, ct).ConfigureAwait(false);
            return new RetrieveResultReader(body, "RetrievePropertiesEx");
        }

        public static async Task<RetrieveResultReader> ContinueRetrievePropertiesExAsync(this VimClient c, string token, CancellationToken ct)
        {
            var body = await c.PostAsync("ContinueRetrievePropertiesEx", c.Content.PropertyCollector, w => w.WriteElementString("token", token), ct).ConfigureAwait(false);
            return new RetrieveResultReader(body, "ContinueRetrievePropertiesEx");
        }

        public static async Task CancelRetrievePropertiesExAsync(this VimClient c, string token, CancellationToken ct)
        {
            await c.InvokeOnceAsync("CancelRetrievePropertiesEx", c.Content.PropertyCollector, w => w.WriteElementString("token", token), ct).ConfigureAwait(false);
        }

        /// <summary>All objects of a spec, following the continuation tokens (for small result sets: hosts, datacenters, one VM).</summary>
        public static async Task<List<ObjectContent>> RetrieveAllAsync(this VimClient c, FilterSpec spec, CancellationToken ct, int maxObjects = 1000)
        {
            var all = new List<ObjectContent>();
            var reader = await c.RetrievePropertiesExAsync(spec, maxObjects, ct).ConfigureAwait(false);
            while (true)
            {
                using (reader)
                {
                    while (reader.Next(out var oc)) all.Add(oc);
                    if (string.IsNullOrEmpty(reader.Token)) return all;
                }
                reader = await c.ContinueRetrievePropertiesExAsync(reader.Token!, ct).ConfigureAwait(false);
            }
        }

        /// <summary>Properties of one object; ManagedObjectNotFound surfaces as NotFound.</summary>
        public static async Task<ObjectContent?> GetPropertiesAsync(this VimClient c, MoRef obj, string[] paths, CancellationToken ct)
        {
            var spec = new FilterSpec { Root = obj }.Add(obj.Type, paths);
            var list = await c.RetrieveAllAsync(spec, ct).ConfigureAwait(false);
            return list.Count > 0 ? list[0] : null;
        }

        public static async Task<MoRef> CreateContainerViewAsync(this VimClient c, MoRef container, string[] types, CancellationToken ct)
        {
            var resp = await c.InvokeAsync("CreateContainerView", c.Content.ViewManager, w =>
            {
                VimClient.WriteMoRef(w, "container", container);
                foreach (var t in types) w.WriteElementString("type", t);
                w.WriteElementString("recursive", "true");
            }, ct).ConfigureAwait(false);
            var rv = resp?.Child("returnval") ?? throw VimClient.Malformed("CreateContainerView returned no view.", null);
            return rv.AsMoRef();
        }

        public static async Task DestroyViewAsync(this VimClient c, MoRef view, CancellationToken ct)
        {
            await c.InvokeOnceAsync("DestroyView", view, null, ct).ConfigureAwait(false);
        }
    }
}
