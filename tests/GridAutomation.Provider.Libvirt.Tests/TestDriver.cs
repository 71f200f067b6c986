using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Libvirt;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>Builds a datacenter of libvirt test-driver hosts from XML files written per test.</summary>
    internal sealed class TestDriverDatacenter : IDisposable
    {
        public string Dir { get; } = Path.Combine(Path.GetTempPath(), "grid-libvirt-test-" + Guid.NewGuid().ToString("N").Substring(0, 8));
        public List<string> Uris { get; } = new List<string>();

        public TestDriverDatacenter(params string[] hostNames) : this(hostNames, null) { }

        /// <summary>With <paramref name="authXml"/> (e.g. &lt;auth&gt;&lt;user password='p'&gt;u&lt;/user&gt;&lt;/auth&gt;) the test driver asks for credentials.</summary>
        public static TestDriverDatacenter WithAuth(string authXml, params string[] hostNames) => new TestDriverDatacenter(hostNames, authXml);

        private TestDriverDatacenter(string[] hostNames, string? authXml)
        {
            Directory.CreateDirectory(Dir);
            int i = 0;
            foreach (var name in hostNames)
            {
                i++;
                string file = Path.Combine(Dir, name + ".xml");
                string xml = HostXml(name, i);
                if (authXml != null) xml = xml.Replace("<node>", "<node>\n  " + authXml);
                File.WriteAllText(file, xml);
                Uris.Add("test://" + file);
            }
        }

        /// <summary>A test-driver node: 8 CPUs, 32 GiB, a 'default' pool holding the image 'base.img' (and 'other.qcow2').</summary>
        public static string HostXml(string name, int index) => $@"<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><active>8</active><nodes>1</nodes><sockets>1</sockets><cores>8</cores><threads>1</threads></cpu>
  <memory>33554432</memory>
  <pool type='dir'>
    <name>default</name>
    <uuid>6b9a9c2e-0000-4000-8000-00000000000{index}</uuid>
    <capacity unit='GiB'>100</capacity>
    <allocation unit='GiB'>1</allocation>
    <available unit='GiB'>99</available>
    <source/>
    <target><path>/var/lib/grid-test/{name}</path></target>
    <volume type='file'>
      <name>base.img</name>
      <capacity unit='MiB'>1</capacity>
      <allocation unit='MiB'>1</allocation>
      <target><format type='raw'/></target>
    </volume>
    <volume type='file'>
      <name>other.qcow2</name>
      <capacity unit='GiB'>2</capacity>
      <allocation unit='MiB'>200</allocation>
      <target><format type='qcow2'/></target>
    </volume>
  </pool>
</node>";

        public IGridConnection Connect(string datacenter = "lab", IDictionary<string, string>? extra = null, System.Net.NetworkCredential? credential = null)
        {
            var dc = new GridDatacenter { Name = datacenter, Provider = "Libvirt" };
            dc.Settings["Uri"] = string.Join("\n", Uris);
            dc.Settings["SaveDirectory"] = Path.Combine(Dir, "save");
            if (extra != null) foreach (var kv in extra) dc.Settings[kv.Key] = kv.Value;
            var req = new ProviderConnectRequest { Datacenter = dc };
            if (credential != null) req.Secrets = new Dictionary<string, object> { ["Credential"] = credential };
            return new LibvirtProvider().ConnectAsync(req, CancellationToken.None).GetAwaiter().GetResult();
        }

        public void Dispose()
        {
            try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The shared contract suite on two test:/// hosts.</summary>
    public sealed class LibvirtContractTests : ProviderContractTests
    {
        protected override ContractTarget CreateTarget()
        {
            Prereqs.Require(Prereqs.LibvirtMissing());
            var dc = new TestDriverDatacenter("host-a", "host-b");
            return new ContractTarget(dc.Connect()) { Image = "base.img", Size = "micro", Cleanup = dc.Dispose };
        }
    }
}
