using System;
using System.Collections.Generic;
using System.Globalization;
using System.Xml;

namespace GridAutomation.Providers.VSphere.Vim25
{
    /// <summary>
    /// A light, untyped view of one element of a vim25 response: its local name, its xsi:type, its "type"
    /// attribute (for ManagedObjectReference), its text (leaf) or its child elements. The typed accessors of the
    /// client read from it; nothing here throws on a missing element.
    /// </summary>
    internal sealed class VimNode
    {
        private static readonly List<VimNode> NoChildren = new List<VimNode>(0);
        public VimNode(string name) { Name = name; }
        public string Name { get; }
        /// <summary>xsi:type without its prefix ("ArrayOfString", "string", "VirtualMachinePowerState").</summary>
        public string? XsiType { get; set; }
        /// <summary>The "type" attribute (ManagedObjectReference).</summary>
        public string? TypeAttr { get; set; }
        public string? Text { get; set; }
        public List<VimNode> Children { get; private set; } = NoChildren;

        public void Add(VimNode child)
        {
            if (ReferenceEquals(Children, NoChildren)) Children = new List<VimNode>(4);
            Children.Add(child);
        }

        public VimNode? Child(string name)
        {
            foreach (var c in Children) if (string.Equals(c.Name, name, StringComparison.Ordinal)) return c;
            return null;
        }

        public IEnumerable<VimNode> All(string name)
        {
            foreach (var c in Children) if (string.Equals(c.Name, name, StringComparison.Ordinal)) yield return c;
        }

        /// <summary>Follows a dotted path of child names ("info.error.localizedMessage").</summary>
        public VimNode? Path(string dotted)
        {
            VimNode? n = this;
            foreach (var part in dotted.Split('.'))
            {
                n = n?.Child(part);
                if (n == null) return null;
            }
            return n;
        }

        public string? ChildText(string name) => Child(name)?.Text;
        public MoRef AsMoRef() => new MoRef(TypeAttr ?? XsiType ?? "", Text ?? "");
        public MoRef? ChildMoRef(string name) { var c = Child(name); return c == null ? (MoRef?)null : c.AsMoRef(); }

        public int? AsInt() => int.TryParse(Text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : (int?)null;
        public long? AsLong() => long.TryParse(Text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : (long?)null;
        public bool? AsBool() => Text == "true" || Text == "1" ? true : Text == "false" || Text == "0" ? false : (bool?)null;
        public DateTimeOffset? AsDate() => DateTimeOffset.TryParse(Text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var d) ? d : (DateTimeOffset?)null;

        /// <summary>Reads the element the reader is positioned on (and its subtree), leaving the reader after its end.</summary>
        public static VimNode Read(XmlReader r)
        {
            var node = new VimNode(r.LocalName);
            if (r.HasAttributes)
            {
                for (int i = 0; i < r.AttributeCount; i++)
                {
                    r.MoveToAttribute(i);
                    if (r.LocalName == "type")
                    {
                        if (r.NamespaceURI == "http://www.w3.org/2001/XMLSchema-instance")
                        {
                            var v = r.Value; int colon = v.IndexOf(':');
                            node.XsiType = colon >= 0 ? v.Substring(colon + 1) : v;
                        }
                        else if (r.NamespaceURI.Length == 0) node.TypeAttr = r.Value;
                    }
                }
                r.MoveToElement();
            }
            if (r.IsEmptyElement) { r.Read(); return node; }
            r.Read();
            string? text = null;
            while (r.NodeType != XmlNodeType.EndElement)
            {
                switch (r.NodeType)
                {
                    case XmlNodeType.Element:
                        node.Add(Read(r));
                        break;
                    case XmlNodeType.Text:
                    case XmlNodeType.CDATA:
                    case XmlNodeType.SignificantWhitespace:
                    case XmlNodeType.Whitespace:
                        text = text == null ? r.Value : text + r.Value;
                        r.Read();
                        break;
                    case XmlNodeType.None:
                        throw new XmlException("Unexpected end of document inside <" + node.Name + ">.");
                    default:
                        r.Read();
                        break;
                }
            }
            r.Read(); // end element
            if (node.Children.Count == 0) node.Text = text ?? "";
            return node;
        }

        public override string ToString() => Name + (Text != null ? "=" + Text : "[" + Children.Count + "]");
    }
}
