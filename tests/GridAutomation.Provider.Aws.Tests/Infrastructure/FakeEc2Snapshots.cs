using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>
    /// EBS snapshots of a volume in the loopback EC2, in the shapes of the EC2 API reference: CreateSnapshot copies the
    /// volume's bytes AT THAT INSTANT (a guest write afterwards is not in it; <see cref="AfterSnapshot"/> lets a test
    /// write right then) and stays <c>pending</c> for <see cref="SnapshotTime"/>; DescribeSnapshots (SnapshotId.N,
    /// Owner.N, filters tag:&lt;key&gt; and tag-key). DeleteSnapshot and CreateTags on snapshots are in FakeEc2Imports.cs.
    /// The blocks are read through <see cref="FakeEbsDirect"/>.
    /// </summary>
    public sealed partial class FakeEc2
    {
        public TimeSpan SnapshotTime { get; set; } = TimeSpan.FromMilliseconds(150);
        /// <summary>Called (under the fake's lock) right after a snapshot copied the volume: a guest write here is after the point.</summary>
        public Action<Vol, Snap>? AfterSnapshot { get; set; }

        /// <summary>Runs <paramref name="f"/> under the fake's lock (for the EBS direct stand-in).</summary>
        internal T Locked<T>(Func<T> f) { lock (_gate) return f(); }

        private Ec2Response? HandleSnapshots(Ec2Request r)
        {
            foreach (var s in Snapshots.Values)
                if (s.State == "pending" && DateTime.UtcNow - s.Started >= SnapshotTime) s.State = "completed";
            switch (r.Action)
            {
                case "CreateSnapshot": return CreateSnapshot(r);
                case "DescribeSnapshots": return DescribeSnapshots(r);
                default: return null;
            }
        }

        private Ec2Response CreateSnapshot(Ec2Request r)
        {
            string volumeId = r.Get("VolumeId") ?? "";
            if (!Volumes.TryGetValue(volumeId, out var vol)) return Ec2Response.Error(400, "InvalidVolume.NotFound", $"The volume '{volumeId}' does not exist.");
            var snap = new Snap { Id = NextId("snap-"), Data = (byte[])(vol.Data ?? Array.Empty<byte>()).Clone(), VolumeId = vol.Id, VolumeSize = vol.Size, State = "pending", Description = r.Get("Description") ?? "" };
            for (int s = 1; r.Get($"TagSpecification.{s}.ResourceType") is string rt; s++)
                if (rt == "snapshot")
                    for (int t = 1; r.Get($"TagSpecification.{s}.Tag.{t}.Key") is string k; t++) snap.Tags[k] = r.Get($"TagSpecification.{s}.Tag.{t}.Value") ?? "";
            Snapshots[snap.Id] = snap;
            AfterSnapshot?.Invoke(vol, snap);
            return Ec2Response.Ok(Begin("CreateSnapshotResponse").Append(SnapshotBody(snap)).Append(End("CreateSnapshotResponse")).ToString());
        }

        private Ec2Response DescribeSnapshots(Ec2Request r)
        {
            var ids = r.List("SnapshotId");
            foreach (var id in ids)
                if (!Snapshots.ContainsKey(id)) return Ec2Response.Error(400, "InvalidSnapshot.NotFound", $"The snapshot '{id}' does not exist.");
            var owners = r.List("Owner");
            if (owners.Any(o => o != "self" && o != OwnerId)) return Ec2Response.Error(400, "InvalidParameterValue", "Invalid owner: " + string.Join(",", owners));
            IEnumerable<Snap> set = Snapshots.Values.Where(s => ids.Count == 0 || ids.Contains(s.Id));
            foreach (var (name, values) in r.Filters())
            {
                if (name.StartsWith("tag:", StringComparison.Ordinal)) { string key = name.Substring(4); set = set.Where(s => s.Tags.TryGetValue(key, out var v) && values.Contains(v)); }
                else if (name == "tag-key") set = set.Where(s => s.Tags.Keys.Any(values.Contains));
                else return Ec2Response.Error(400, "InvalidParameterValue", "The filter '" + name + "' is invalid");
            }
            var sb = Begin("DescribeSnapshotsResponse").Append("<snapshotSet>");
            foreach (var s in set.OrderBy(s => s.Id, StringComparer.Ordinal)) sb.Append("<item>").Append(SnapshotBody(s)).Append("</item>");
            return Ec2Response.Ok(sb.Append("</snapshotSet>").Append(End("DescribeSnapshotsResponse")).ToString());
        }

        private static string SnapshotBody(Snap s)
        {
            var sb = new StringBuilder("<snapshotId>").Append(s.Id).Append("</snapshotId><volumeId>").Append(s.VolumeId ?? "vol-ffffffff").Append("</volumeId><status>").Append(s.State)
                .Append("</status><startTime>").Append(s.Started.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)).Append("</startTime><progress>")
                .Append(s.State == "completed" ? "100%" : "40%").Append("</progress><ownerId>").Append(OwnerId).Append("</ownerId><volumeSize>")
                .Append(s.VolumeSize > 0 ? s.VolumeSize : Math.Max(1, s.Data.LongLength >> 30)).Append("</volumeSize><description>").Append(Ec2Response.SecurityElementEscape(s.Description))
                .Append("</description><encrypted>false</encrypted><storageTier>standard</storageTier>");
            if (s.Tags.Count == 0) return sb.Append("<tagSet/>").ToString();
            sb.Append("<tagSet>");
            foreach (var kv in s.Tags) sb.Append("<item><key>").Append(Ec2Response.SecurityElementEscape(kv.Key)).Append("</key><value>").Append(Ec2Response.SecurityElementEscape(kv.Value)).Append("</value></item>");
            return sb.Append("</tagSet>").ToString();
        }
    }
}
