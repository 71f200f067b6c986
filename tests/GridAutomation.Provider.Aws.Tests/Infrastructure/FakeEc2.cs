using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>
    /// A stateful EC2 Query endpoint of ours, shaped after the real responses in shared/fixtures (same element names,
    /// 2016-11-15 namespace, error bodies with status 400/503). It keeps instances, volumes, tags and client tokens,
    /// moves states on a clock (pending→running, stopping→stopped, shutting-down→terminated after
    /// <see cref="TransitionTime"/>), pages DescribeInstances with NextToken, enforces the real API's rules the
    /// provider must respect (MaxResults 5..1000 and never with InstanceId; stop only when running...) and can
    /// inject RequestLimitExceeded.
    /// </summary>
    public sealed partial class FakeEc2 : IDisposable
    {
        public const string Ns = "http://ec2.amazonaws.com/doc/2016-11-15/";
        public const string ImageId = "ami-0fa1e2d3c4b5a6978";
        public const string ImageWithDataVolume = "ami-0da7a0000000d47a1";
        public const string OwnerId = "111122223333";

        public sealed class Vol { public string Id = ""; public int Size; public string State = "in-use"; public string? InstanceId; public string Device = ""; public bool DeleteOnTermination; /// <summary>The volume's bytes where it was launched from an imported AMI (the guest's writes are the test's to make).</summary>
            public byte[]? Data; }

        public sealed class Inst
        {
            public string Id = "";
            public string ReservationId = "";
            public string ImageId = "";
            public string Type = "";
            public string State = "pending";
            public string? StateReasonCode;
            public DateTime Since = DateTime.UtcNow;
            public DateTime LaunchTime = DateTime.UtcNow;
            public DateTime Created = DateTime.UtcNow;
            public string Zone = "us-east-1a";
            public string? ClientToken;
            public bool HibernationConfigured;
            public bool Hibernating;
            public Dictionary<string, string> Tags = new Dictionary<string, string>(StringComparer.Ordinal);
            public List<Vol> Volumes = new List<Vol>();
            public string PrivateIp = "10.0.0.1";
        }

        private readonly object _gate = new object();
        private int _seq;
        public Dictionary<string, Inst> Instances { get; } = new Dictionary<string, Inst>(StringComparer.Ordinal);
        public Dictionary<string, Vol> Volumes { get; } = new Dictionary<string, Vol>(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _tokens = new Dictionary<string, string>(StringComparer.Ordinal);
        private readonly Dictionary<string, (string Image, string Type)> _tokenArgs = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _throttle = new Dictionary<string, int>(StringComparer.Ordinal);
        public TimeSpan TransitionTime { get; set; } = TimeSpan.FromMilliseconds(120);
        public int ThrottleStatus { get; set; } = 503;
        public LoopbackEc2Server Server { get; }
        public string Url => Server.Url;

        public static readonly (string Name, int VCpu, int MemMiB, string Arch, bool Hib)[] Types =
        {
            ("t3.micro", 2, 1024, "x86_64", true), ("t3.small", 2, 2048, "x86_64", true), ("t3.medium", 2, 4096, "x86_64", true),
            ("m5.large", 2, 8192, "x86_64", true), ("m5.xlarge", 4, 16384, "x86_64", true), ("c5.2xlarge", 8, 16384, "x86_64", true),
            ("t4g.micro", 2, 1024, "arm64", true), ("m1.small", 1, 1740, "x86_64", false),
        };

        public FakeEc2() { Server = new LoopbackEc2Server(Handle); }
        public void Dispose() => Server.Dispose();

        /// <summary>The next <paramref name="count"/> calls of <paramref name="action"/> answer RequestLimitExceeded.</summary>
        public void Throttle(string action, int count) { lock (_gate) _throttle[action] = count; }

        /// <summary>Lets <paramref name="skip"/> calls of <paramref name="action"/> through, then throttles the next <paramref name="count"/>.</summary>
        public void ThrottleAfter(string action, int skip, int count) { lock (_gate) { _skip[action] = skip; _throttle[action] = count; } }
        private readonly Dictionary<string, int> _skip = new Dictionary<string, int>(StringComparer.Ordinal);

        public int Count(string action) => Server.RequestsFor(action).Count();

        /// <summary>Adds running instances directly (for the paging test), named bulk-00001...</summary>
        public void Seed(int count, string state = "running")
        {
            lock (_gate)
                for (int i = 0; i < count; i++)
                {
                    var inst = NewInstance(ImageId, "t3.micro", "us-east-1" + (char)('a' + i % 3), null, false);
                    inst.State = state; inst.Since = DateTime.UtcNow - TimeSpan.FromHours(1);
                    inst.Tags["Name"] = "bulk-" + i.ToString("D5", CultureInfo.InvariantCulture);
                }
        }

        private Inst NewInstance(string image, string type, string zone, string? token, bool hib)
        {
            int n = Interlocked.Increment(ref _seq);
            var inst = new Inst
            {
                Id = "i-" + n.ToString("x17", CultureInfo.InvariantCulture),
                ReservationId = "r-" + n.ToString("x17", CultureInfo.InvariantCulture),
                ImageId = image, Type = type, Zone = zone, ClientToken = token, HibernationConfigured = hib,
                PrivateIp = "10.0." + (n / 250 % 250) + "." + (n % 250 + 1),
            };
            var root = new Vol { Id = "vol-" + n.ToString("x17", CultureInfo.InvariantCulture), Size = 8, InstanceId = inst.Id, Device = "/dev/xvda", DeleteOnTermination = true };
            inst.Volumes.Add(root); Volumes[root.Id] = root;
            if (Amis.TryGetValue(image, out var launched) && Snapshots.TryGetValue(launched.SnapshotId, out var from)) root.Data = (byte[])from.Data.Clone();
            if (image == ImageWithDataVolume)
            {
                var data = new Vol { Id = "vol-d" + n.ToString("x16", CultureInfo.InvariantCulture), Size = 100, InstanceId = inst.Id, Device = "/dev/sdf", DeleteOnTermination = false };
                inst.Volumes.Add(data); Volumes[data.Id] = data;
            }
            Instances[inst.Id] = inst;
            return inst;
        }

        /// <summary>Moves the transient states on the clock.</summary>
        private void Advance(Inst i)
        {
            if (DateTime.UtcNow - i.Since < TransitionTime) return;
            switch (i.State)
            {
                case "pending": Set(i, "running", null); i.Hibernating = false; break;
                case "stopping": Set(i, "stopped", i.StateReasonCode); break;
                case "shutting-down":
                    Set(i, "terminated", "Client.UserInitiatedShutdown");
                    foreach (var v in i.Volumes)
                    {
                        if (v.DeleteOnTermination) { Volumes.Remove(v.Id); }
                        else { v.State = "available"; v.InstanceId = null; }
                    }
                    i.Volumes.Clear();
                    break;
            }
        }

        private static void Set(Inst i, string state, string? reason) { i.State = state; i.StateReasonCode = reason; i.Since = DateTime.UtcNow; }

        private Ec2Response Handle(Ec2Request r)
        {
            lock (_gate)
            {
                if (_skip.TryGetValue(r.Action, out var pass) && pass > 0) _skip[r.Action] = pass - 1;
                else if (_throttle.TryGetValue(r.Action, out var left) && left > 0)
                {
                    _throttle[r.Action] = left - 1;
                    return Ec2Response.Error(ThrottleStatus, "RequestLimitExceeded", "Request limit exceeded.");
                }
                if (r.Version == IamApiVersion) return HandleIam(r);
                if (r.Version != "2016-11-15") return Ec2Response.Error(400, "InvalidParameterValue", "Unexpected API version " + r.Version);
                if (r.Authorization == null || !r.Authorization.StartsWith("AWS4-HMAC-SHA256 Credential=", StringComparison.Ordinal))
                    return Ec2Response.Error(401, "AuthFailure", "AWS was not able to validate the provided access credentials");
                foreach (var i in Instances.Values) Advance(i);
                var imports = HandleImports(r);
                if (imports != null) return imports;
                switch (r.Action)
                {
                    case "DescribeAvailabilityZones": return Zones();
                    case "DescribeInstanceTypes": return InstanceTypes(r);
                    case "DescribeImages": return Images(r);
                    case "DescribeInstances": return Describe(r);
                    case "RunInstances": return Run(r);
                    case "StartInstances": return Change(r, "start");
                    case "StopInstances": return Change(r, "stop");
                    case "TerminateInstances": return Change(r, "terminate");
                    case "RebootInstances": return Change(r, "reboot");
                    case "ModifyInstanceAttribute": return Modify(r);
                    case "CreateTags": return Tags(r, set: true);
                    case "DeleteTags": return Tags(r, set: false);
                    case "DescribeVolumes": return DescribeVolumes(r);
                    case "DeleteVolume": return DeleteVolume(r);
                    case "DescribeSubnets": return DescribeSubnets(r); // FakeEc2Networks.cs
                    default: return Ec2Response.Error(400, "InvalidAction", "The action " + r.Action + " is not valid for this web service.");
                }
            }
        }

        private static readonly Regex IdPattern = new Regex("^i-[0-9a-f]{8,17}$");

        private Ec2Response? ResolveIds(List<string> ids, out List<Inst> found)
        {
            found = new List<Inst>();
            foreach (var id in ids)
            {
                if (!IdPattern.IsMatch(id)) return Ec2Response.Error(400, "InvalidInstanceID.Malformed", $"Invalid id: \"{id}\"");
                if (!Instances.TryGetValue(id, out var i)) return Ec2Response.Error(400, "InvalidInstanceID.NotFound", $"The instance ID '{id}' does not exist");
                found.Add(i);
            }
            return null;
        }

        private Ec2Response Zones()
        {
            var sb = Begin("DescribeAvailabilityZonesResponse").Append("<availabilityZoneInfo>");
            foreach (var z in new[] { "a", "b", "c" })
                sb.Append("<item><zoneName>us-east-1").Append(z).Append("</zoneName><zoneState>available</zoneState><regionName>us-east-1</regionName><zoneId>use1-az").Append(z == "a" ? 1 : z == "b" ? 2 : 4).Append("</zoneId><messageSet/></item>");
            return Ec2Response.Ok(sb.Append("</availabilityZoneInfo>").Append(End("DescribeAvailabilityZonesResponse")).ToString());
        }

        private Ec2Response InstanceTypes(Ec2Request r)
        {
            var wanted = r.List("InstanceType");
            var unknown = wanted.Where(w => !Types.Any(t => t.Name == w)).ToList();
            if (unknown.Count > 0) return Ec2Response.Error(400, "InvalidInstanceType", "The following supplied instance types do not exist: [" + string.Join(", ", unknown) + "]");
            var list = Types.Where(t => wanted.Count == 0 || wanted.Contains(t.Name)).ToList();
            int max = int.TryParse(r.Get("MaxResults"), out var m) ? m : 100;
            int start = int.TryParse(r.Get("NextToken"), out var s) ? s : 0;
            var page = list.Skip(start).Take(max).ToList();
            var sb = Begin("DescribeInstanceTypesResponse").Append("<instanceTypeSet>");
            foreach (var t in page)
                sb.Append("<item><instanceType>").Append(t.Name).Append("</instanceType><currentGeneration>").Append(t.Name.StartsWith("m1.") ? "false" : "true")
                  .Append("</currentGeneration><bareMetal>false</bareMetal><hibernationSupported>").Append(t.Hib ? "true" : "false")
                  .Append("</hibernationSupported><processorInfo><supportedArchitectures><item>").Append(t.Arch).Append("</item></supportedArchitectures></processorInfo>")
                  .Append("<vCpuInfo><defaultVCpus>").Append(t.VCpu).Append("</defaultVCpus><defaultCores>").Append(Math.Max(1, t.VCpu / 2)).Append("</defaultCores><defaultThreadsPerCore>").Append(t.VCpu > 1 ? 2 : 1).Append("</defaultThreadsPerCore></vCpuInfo>")
                  .Append("<memoryInfo><sizeInMiB>").Append(t.MemMiB).Append("</sizeInMiB></memoryInfo><networkInfo><networkPerformance>Up to 5 Gigabit</networkPerformance></networkInfo></item>");
            sb.Append("</instanceTypeSet>");
            if (start + max < list.Count) sb.Append("<nextToken>").Append(start + max).Append("</nextToken>");
            return Ec2Response.Ok(sb.Append(End("DescribeInstanceTypesResponse")).ToString());
        }

        private Ec2Response Images(Ec2Request r)
        {
            var ids = r.List("ImageId");
            var all = new[] { (ImageId, "ga-base-2024", 8), (ImageWithDataVolume, "ga-base-with-data", 8) };
            var sb = Begin("DescribeImagesResponse").Append("<imagesSet>");
            foreach (var (id, name, size) in all.Where(a => ids.Count == 0 || ids.Contains(a.Item1)))
                sb.Append("<item><imageId>").Append(id).Append("</imageId><imageLocation>").Append(OwnerId).Append('/').Append(name).Append("</imageLocation><imageState>available</imageState><imageOwnerId>")
                  .Append(OwnerId).Append("</imageOwnerId><isPublic>false</isPublic><architecture>x86_64</architecture><imageType>machine</imageType><name>").Append(name)
                  .Append("</name><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName><blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><snapshotId>snap-0123456789abcdef0</snapshotId><volumeSize>")
                  .Append(size).Append("</volumeSize><deleteOnTermination>true</deleteOnTermination><volumeType>gp3</volumeType></ebs></item></blockDeviceMapping><virtualizationType>hvm</virtualizationType><hypervisor>xen</hypervisor><platformDetails>Linux/UNIX</platformDetails></item>");
            AppendAmis(sb, ids);
            return Ec2Response.Ok(sb.Append("</imagesSet>").Append(End("DescribeImagesResponse")).ToString());
        }

        private Ec2Response Describe(Ec2Request r)
        {
            var ids = r.List("InstanceId");
            string? maxText = r.Get("MaxResults");
            if (maxText != null && ids.Count > 0) return Ec2Response.Error(400, "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults");
            int max = 1000;
            if (maxText != null && (!int.TryParse(maxText, out max) || max < 5 || max > 1000))
                return Ec2Response.Error(400, "InvalidParameterValue", "Value ( " + maxText + " ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.");
            IEnumerable<Inst> set;
            if (ids.Count > 0)
            {
                var err = ResolveIds(ids, out var found);
                if (err != null) return err;
                set = found;
            }
            else set = Instances.Values.OrderBy(i => i.Id, StringComparer.Ordinal);
            foreach (var (name, values) in r.Filters())
            {
                switch (name)
                {
                    case "instance-state-name": set = set.Where(i => values.Contains(i.State)); break;
                    case "instance-id": set = set.Where(i => values.Contains(i.Id)); break;
                    case "client-token": set = set.Where(i => i.ClientToken != null && values.Contains(i.ClientToken)); break;
                    case "tag-key": set = set.Where(i => i.Tags.Keys.Any(k => values.Any(v => Wild(v, k)))); break;
                    default:
                        if (name.StartsWith("tag:", StringComparison.Ordinal))
                        {
                            string key = name.Substring(4);
                            set = set.Where(i => i.Tags.TryGetValue(key, out var tv) && values.Any(v => Wild(v, tv)));
                            break;
                        }
                        return Ec2Response.Error(400, "InvalidParameterValue", "The filter '" + name + "' is invalid");
                }
            }
            var list = set.ToList();
            int start = 0;
            if (r.Get("NextToken") is string tok && !int.TryParse(tok.Replace("tok-", ""), out start))
                return Ec2Response.Error(400, "InvalidParameterValue", "Invalid NextToken");
            var page = maxText != null ? list.Skip(start).Take(max).ToList() : list;
            var sb = Begin("DescribeInstancesResponse").Append("<reservationSet>");
            foreach (var i in page)
            {
                sb.Append("<item><reservationId>").Append(i.ReservationId).Append("</reservationId><ownerId>").Append(OwnerId).Append("</ownerId><groupSet/><instancesSet>");
                AppendInstance(sb, i);
                sb.Append("</instancesSet></item>");
            }
            sb.Append("</reservationSet>");
            if (maxText != null && start + max < list.Count) sb.Append("<nextToken>tok-").Append(start + max).Append("</nextToken>");
            return Ec2Response.Ok(sb.Append(End("DescribeInstancesResponse")).ToString());
        }

        private static bool Wild(string pattern, string value)
            => Regex.IsMatch(value, "^" + Regex.Escape(pattern).Replace("\\*", ".*").Replace("\\?", ".") + "$"); // case-sensitive, as EC2

        private void AppendInstance(StringBuilder sb, Inst i)
        {
            int code = i.State switch { "pending" => 0, "running" => 16, "shutting-down" => 32, "terminated" => 48, "stopping" => 64, "stopped" => 80, _ => 0 };
            sb.Append("<item><instanceId>").Append(i.Id).Append("</instanceId><imageId>").Append(i.ImageId).Append("</imageId><instanceState><code>").Append(code)
              .Append("</code><name>").Append(i.State).Append("</name></instanceState><privateDnsName>ip-").Append(i.PrivateIp.Replace('.', '-')).Append(".ec2.internal</privateDnsName><dnsName/>")
              .Append("<reason/><amiLaunchIndex>0</amiLaunchIndex><productCodes/><instanceType>").Append(i.Type).Append("</instanceType><launchTime>")
              .Append(i.LaunchTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)).Append("</launchTime><placement><availabilityZone>").Append(i.Zone)
              .Append("</availabilityZone><groupName/><tenancy>default</tenancy></placement><monitoring><state>disabled</state></monitoring>").Append(SubnetXml(i));
            if (i.State != "terminated") sb.Append("<privateIpAddress>").Append(i.PrivateIp).Append("</privateIpAddress>");
            if (i.StateReasonCode != null) sb.Append("<stateReason><code>").Append(i.StateReasonCode).Append("</code><message>").Append(i.StateReasonCode).Append("</message></stateReason>");
            sb.Append("<architecture>").Append(Types.FirstOrDefault(t => t.Name == i.Type).Arch ?? "x86_64").Append("</architecture><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName><blockDeviceMapping>");
            foreach (var v in i.Volumes)
                sb.Append("<item><deviceName>").Append(v.Device).Append("</deviceName><ebs><volumeId>").Append(v.Id).Append("</volumeId><status>attached</status><attachTime>")
                  .Append(i.Created.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)).Append("</attachTime><deleteOnTermination>").Append(v.DeleteOnTermination ? "true" : "false").Append("</deleteOnTermination></ebs></item>");
            sb.Append("</blockDeviceMapping><virtualizationType>hvm</virtualizationType>");
            sb.Append(i.ClientToken == null ? "<clientToken/>" : "<clientToken>" + i.ClientToken + "</clientToken>");
            if (i.Tags.Count == 0) sb.Append("<tagSet/>");
            else
            {
                sb.Append("<tagSet>");
                foreach (var kv in i.Tags) sb.Append("<item><key>").Append(Ec2Response.SecurityElementEscape(kv.Key)).Append("</key><value>").Append(Ec2Response.SecurityElementEscape(kv.Value)).Append("</value></item>");
                sb.Append("</tagSet>");
            }
            sb.Append("<hypervisor>xen</hypervisor><networkInterfaceSet/><ebsOptimized>false</ebsOptimized><hibernationOptions><configured>").Append(i.HibernationConfigured ? "true" : "false").Append("</configured></hibernationOptions></item>");
        }

        private Ec2Response Run(Ec2Request r)
        {
            string image = r.Get("ImageId") ?? "";
            string type = r.Get("InstanceType") ?? "";
            if (r.Get("MinCount") != "1" || r.Get("MaxCount") != "1") return Ec2Response.Error(400, "InvalidParameterValue", "MinCount/MaxCount");
            if (image != ImageId && image != ImageWithDataVolume && !Amis.ContainsKey(image)) return Ec2Response.Error(400, "InvalidAMIID.NotFound", $"The image id '[{image}]' does not exist");
            if (!Types.Any(t => t.Name == type)) return Ec2Response.Error(400, "InvalidParameterValue", $"Invalid value '{type}' for InstanceType.");
            string? token = r.Get("ClientToken");
            if (token != null && _tokens.TryGetValue(token, out var existing))
            {
                if (_tokenArgs[token] != (image, type)) return Ec2Response.Error(400, "IdempotentParameterMismatch", "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).");
                return RunResponse(Instances[existing]);
            }
            string zone = r.Get("Placement.AvailabilityZone") ?? "us-east-1a";
            if (!zone.StartsWith("us-east-1", StringComparison.Ordinal)) return Ec2Response.Error(400, "InvalidParameterValue", $"Invalid availability zone: [{zone}]");
            if (CheckRunSubnet(r) is Ec2Response badSubnet) return badSubnet;
            var inst = NewInstance(image, type, zone, token, r.Get("HibernationOptions.Configured") == "true");
            RecordRunSubnet(r, inst);
            for (int s = 1; ; s++)
            {
                string? rt = r.Get($"TagSpecification.{s}.ResourceType");
                if (rt == null) break;
                for (int t = 1; ; t++)
                {
                    string? k = r.Get($"TagSpecification.{s}.Tag.{t}.Key");
                    if (k == null) break;
                    if (rt == "instance") inst.Tags[k] = r.Get($"TagSpecification.{s}.Tag.{t}.Value") ?? "";
                }
            }
            if (token != null) { _tokens[token] = inst.Id; _tokenArgs[token] = (image, type); }
            return RunResponse(inst);
        }

        private Ec2Response RunResponse(Inst i)
        {
            var sb = Begin("RunInstancesResponse").Append("<reservationId>").Append(i.ReservationId).Append("</reservationId><ownerId>").Append(OwnerId).Append("</ownerId><groupSet/><instancesSet>");
            AppendInstance(sb, i);
            return Ec2Response.Ok(sb.Append("</instancesSet>").Append(End("RunInstancesResponse")).ToString());
        }

        private Ec2Response Change(Ec2Request r, string what)
        {
            var err = ResolveIds(r.List("InstanceId"), out var found);
            if (err != null) return err;
            string root = what == "start" ? "StartInstancesResponse" : what == "stop" ? "StopInstancesResponse" : what == "terminate" ? "TerminateInstancesResponse" : "RebootInstancesResponse";
            var sb = Begin(root);
            if (what == "reboot")
            {
                if (found.Any(i => i.State != "running")) return Ec2Response.Error(400, "IncorrectInstanceState", "The instance is not in a state from which it can be rebooted.");
                return Ec2Response.Ok(sb.Append("<return>true</return>").Append(End(root)).ToString());
            }
            sb.Append("<instancesSet>");
            foreach (var i in found)
            {
                string prev = i.State;
                switch (what)
                {
                    case "start":
                        if (i.State == "stopped") { Set(i, "pending", null); i.LaunchTime = DateTime.UtcNow; }
                        else if (i.State != "running" && i.State != "pending") return Ec2Response.Error(400, "IncorrectInstanceState", $"The instance '{i.Id}' is not in a state from which it can be started.");
                        break;
                    case "stop":
                        if (r.Get("Hibernate") == "true")
                        {
                            if (!i.HibernationConfigured) return Ec2Response.Error(400, "UnsupportedHibernationConfiguration", $"For hibernation, the instance '{i.Id}' must have hibernation enabled at launch.");
                            if (i.State == "running") Set(i, "stopping", "Client.UserInitiatedHibernate");
                        }
                        else if (i.State == "running") Set(i, "stopping", "Client.UserInitiatedShutdown");
                        else if (i.State != "stopped" && i.State != "stopping") return Ec2Response.Error(400, "IncorrectInstanceState", $"The instance '{i.Id}' is not in a state from which it can be stopped.");
                        break;
                    case "terminate":
                        if (i.State != "terminated" && i.State != "shutting-down") Set(i, "shutting-down", "Client.UserInitiatedShutdown");
                        break;
                }
                int Code(string s) => s switch { "pending" => 0, "running" => 16, "shutting-down" => 32, "terminated" => 48, "stopping" => 64, "stopped" => 80, _ => 0 };
                sb.Append("<item><instanceId>").Append(i.Id).Append("</instanceId><currentState><code>").Append(Code(i.State)).Append("</code><name>").Append(i.State)
                  .Append("</name></currentState><previousState><code>").Append(Code(prev)).Append("</code><name>").Append(prev).Append("</name></previousState></item>");
            }
            return Ec2Response.Ok(sb.Append("</instancesSet>").Append(End(root)).ToString());
        }

        private Ec2Response Modify(Ec2Request r)
        {
            var err = ResolveIds(new List<string> { r.Get("InstanceId") ?? "" }, out var found);
            if (err != null) return err;
            var i = found[0];
            string? type = r.Get("InstanceType.Value");
            if (type == null) return Ec2Response.Error(400, "InvalidParameterCombination", "No attribute specified.");
            if (i.State != "stopped") return Ec2Response.Error(400, "IncorrectInstanceState", $"The instance '{i.Id}' is not in the 'stopped' state.");
            if (!Types.Any(t => t.Name == type)) return Ec2Response.Error(400, "InvalidInstanceAttributeValue", $"Value ({type}) for parameter instanceType is invalid.");
            i.Type = type;
            return Ec2Response.Ok(Begin("ModifyInstanceAttributeResponse").Append("<return>true</return>").Append(End("ModifyInstanceAttributeResponse")).ToString());
        }

        private Ec2Response Tags(Ec2Request r, bool set)
        {
            var err = ResolveIds(r.List("ResourceId"), out var found);
            if (err != null) return err;
            foreach (var i in found)
                for (int t = 1; ; t++)
                {
                    string? k = r.Get($"Tag.{t}.Key");
                    if (k == null) break;
                    if (set) i.Tags[k] = r.Get($"Tag.{t}.Value") ?? "";
                    else i.Tags.Remove(k);
                }
            string root = set ? "CreateTagsResponse" : "DeleteTagsResponse";
            return Ec2Response.Ok(Begin(root).Append("<return>true</return>").Append(End(root)).ToString());
        }

        private Ec2Response DescribeVolumes(Ec2Request r)
        {
            var sb = Begin("DescribeVolumesResponse").Append("<volumeSet>");
            foreach (var id in r.List("VolumeId"))
            {
                if (!Volumes.TryGetValue(id, out var v)) return Ec2Response.Error(400, "InvalidVolume.NotFound", $"The volume '{id}' does not exist.");
                sb.Append("<item><volumeId>").Append(v.Id).Append("</volumeId><size>").Append(v.Size).Append("</size><snapshotId/><availabilityZone>us-east-1a</availabilityZone><status>")
                  .Append(v.State).Append("</status><createTime>2024-01-01T00:00:00.000Z</createTime><attachmentSet/><volumeType>gp3</volumeType></item>");
            }
            return Ec2Response.Ok(sb.Append("</volumeSet>").Append(End("DescribeVolumesResponse")).ToString());
        }

        private Ec2Response DeleteVolume(Ec2Request r)
        {
            string id = r.Get("VolumeId") ?? "";
            if (!Volumes.TryGetValue(id, out var v)) return Ec2Response.Error(400, "InvalidVolume.NotFound", $"The volume '{id}' does not exist.");
            if (v.State != "available") return Ec2Response.Error(400, "VolumeInUse", $"Volume {id} is currently attached.");
            Volumes.Remove(id);
            return Ec2Response.Ok(Begin("DeleteVolumeResponse").Append("<return>true</return>").Append(End("DeleteVolumeResponse")).ToString());
        }

        private static StringBuilder Begin(string root)
            => new StringBuilder("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<").Append(root).Append(" xmlns=\"").Append(Ns).Append("\"><requestId>").Append(Guid.NewGuid()).Append("</requestId>");
        private static string End(string root) => "</" + root + ">";
    }
}
