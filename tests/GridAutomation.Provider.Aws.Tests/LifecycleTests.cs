using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.ContractTests;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.Aws.Tests.Infrastructure;
using Xunit;

namespace GridAutomation.Providers.Aws.Tests
{
    /// <summary>The real AWSSDK.EC2 against our stateful loopback EC2 endpoint: full lifecycle, paging, throttling, idempotency.</summary>
    public sealed class LifecycleTests
    {
        private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

        private static CreateWorkloadRequest Req(string name, string key, string size = "t3.micro", string image = FakeEc2.ImageId)
        {
            var r = new CreateWorkloadRequest { Name = name, Image = image, Size = size, IdempotencyKey = key };
            r.Tags["env"] = "test";
            return r;
        }

        private static async Task<List<List<GridWorkload>>> Pages(AwsConnection c, WorkloadQuery q)
        {
            var pages = new List<List<GridWorkload>>();
            await foreach (var p in c.ListWorkloadsAsync(q, Ct)) pages.Add(p.ToList());
            return pages;
        }

        [Fact]
        public async Task Run_Describe_Stop_Start_Restart_Terminate()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var scope = new TestScope("life-1");
            var w = await c.CreateWorkloadAsync(Req("web-01", "life-1"), scope, Ct);

            Assert.Equal("web-01", w.Name);
            Assert.Equal(WorkloadState.Running, w.State);
            Assert.Equal("running", w.NativeState);
            Assert.True(w.ComputeBilled);
            Assert.Equal("t3.micro", w.Size);
            Assert.Equal(2, w.CpuCount);          // from DescribeInstanceTypes
            Assert.Equal(1024, w.MemoryMB);
            Assert.Equal("us-east-1a", w.Host);
            Assert.Equal("us-east-1", w.Cluster);
            Assert.Equal(FakeEc2.ImageId, w.Image);
            Assert.Equal("test", w.Tags["env"]);
            Assert.False(w.Tags.ContainsKey("Name"));
            var root = Assert.Single(w.Disks);
            Assert.True(root.IsOsDisk); Assert.True(root.DeleteWithWorkload);
            Assert.Equal(AwsConnection.ClientTokenFor("us-east-1", "life-1"), w.Properties["ClientToken"]);
            Assert.Equal(w.NativeId, scope.Checkpoints["InstanceId"]);
            Assert.Contains(scope.ProgressReports, p => p.Status.Contains("is pending"));
            Assert.Contains(scope.ProgressReports, p => p.Status.Contains("is running"));
            var run = fake.Server.RequestsFor("RunInstances").Single();
            Assert.Equal("web-01", run.Get("TagSpecification.1.Tag.1.Value"));

            var stopScope = new TestScope();
            await c.StopAsync(w.NativeId, StopMode.Graceful, stopScope, Ct);
            var s = await c.GetWorkloadAsync(w.NativeId, Ct);
            Assert.Equal(WorkloadState.Stopped, s.State);
            Assert.Equal("stopped", s.NativeState);
            Assert.False(s.ComputeBilled);
            Assert.Null(fake.Server.RequestsFor("StopInstances").Single().Get("Force"));
            Assert.Contains(stopScope.ProgressReports, p => p.Status.EndsWith("running -> stopping"));

            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct); // no-op when stopped
            Assert.Single(fake.Server.RequestsFor("StopInstances"));

            await c.StartAsync(w.NativeId, new TestScope(), Ct);
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Ct)).State);
            await c.StartAsync(w.NativeId, new TestScope(), Ct); // no-op when running
            Assert.Single(fake.Server.RequestsFor("StartInstances"));

            await c.StopAsync(w.NativeId, StopMode.TurnOff, new TestScope(), Ct);
            Assert.Equal("true", fake.Server.RequestsFor("StopInstances").Last().Get("Force"));
            await c.StartAsync(w.NativeId, new TestScope(), Ct);

            await c.RestartAsync(w.NativeId, new TestScope(), Ct);
            Assert.Single(fake.Server.RequestsFor("RebootInstances"));

            var rmScope = new TestScope();
            await c.RemoveAsync(w.NativeId, false, rmScope, Ct);
            var gone = await c.GetWorkloadAsync(w.NativeId, Ct);
            Assert.Equal(WorkloadState.Deleted, gone.State);
            Assert.Equal("terminated", gone.NativeState);
            Assert.False(gone.ComputeBilled);
            Assert.Contains(rmScope.ProgressReports, p => p.Status.Contains("is terminated"));

            // Terminated instances are listed only when Deleted is asked for.
            Assert.Empty((await Pages(c, new WorkloadQuery())).SelectMany(p => p));
            var deleted = (await Pages(c, new WorkloadQuery { States = new[] { WorkloadState.Deleted } })).SelectMany(p => p).ToList();
            Assert.Equal(w.NativeId, Assert.Single(deleted).NativeId);
            Assert.Equal(new[] { "terminated" }, fake.Server.RequestsFor("DescribeInstances").Last().Filters().Single(f => f.Name == "instance-state-name").Values);

            // Changing a terminated instance is a conflict; removing it again is a no-op.
            var ex = await Assert.ThrowsAsync<GridException>(() => c.StartAsync(w.NativeId, new TestScope(), Ct));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("WorkloadTerminated", ex.ErrorId);
            await c.RemoveAsync(w.NativeId, false, new TestScope(), Ct);
            Assert.Single(fake.Server.RequestsFor("TerminateInstances"));
        }

        [Fact]
        public async Task Paging_2500Instances_WithNextToken_OneRequestPerPage()
        {
            using var fake = new FakeEc2();
            fake.Seed(2500);
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var pages = await Pages(c, new WorkloadQuery { PageSize = 1000 });
            Assert.Equal(new[] { 1000, 1000, 500 }, pages.Select(p => p.Count).ToArray());
            var all = pages.SelectMany(p => p).ToList();
            Assert.Equal(2500, all.Select(w => w.NativeId).Distinct().Count());
            Assert.Equal(2500, all.Select(w => w.Name).Where(n => n.StartsWith("bulk-")).Distinct().Count());
            Assert.All(all, w => { Assert.Equal(1024, w.MemoryMB); Assert.Equal(WorkloadState.Running, w.State); });

            var calls = fake.Server.RequestsFor("DescribeInstances").ToList();
            Assert.Equal(3, calls.Count);
            Assert.Null(calls[0].Get("NextToken"));
            Assert.Equal("tok-1000", calls[1].Get("NextToken"));
            Assert.Equal("tok-2000", calls[2].Get("NextToken"));
            Assert.All(calls, r => Assert.Equal("1000", r.Get("MaxResults")));
            Assert.Single(fake.Server.RequestsFor("DescribeInstanceTypes")); // shapes cached, not asked per page or per instance

            // The page size is clamped to EC2's 5..1000.
            var small = await Pages(c, new WorkloadQuery { PageSize = 1, NativeIds = all.Take(12).Select(w => w.NativeId).ToList() });
            Assert.Equal(new[] { 5, 5, 2 }, small.Select(p => p.Count).ToArray());
            Assert.Equal("5", fake.Server.RequestsFor("DescribeInstances").Last().Get("MaxResults"));
        }

        [Fact]
        public async Task Paging_ThrottledLaterPage_IsRetriedFromItsNextToken_ThroughTheSharedPolicy()
        {
            using var fake = new FakeEc2();
            fake.Seed(2500);
            var retry = new CountingRetry { MaxRetries = 3 };
            using var c = await TestEnvironment.ConnectAsync(fake.Url, retry: retry);
            fake.ThrottleAfter("DescribeInstances", 1, 2); // page 2 is throttled twice
            var pages = await Pages(c, new WorkloadQuery { PageSize = 1000 });
            Assert.Equal(new[] { 1000, 1000, 500 }, pages.Select(p => p.Count).ToArray());
            Assert.Equal(2500, pages.SelectMany(p => p).Select(w => w.NativeId).Distinct().Count());
            Assert.Equal(2, retry.Retries);
            var calls = fake.Server.RequestsFor("DescribeInstances").ToList();
            Assert.Equal(5, calls.Count); // page 1, page 2 x3 (two throttled), page 3: no hidden SDK attempts
            Assert.Equal(new string?[] { null, "tok-1000", "tok-1000", "tok-1000", "tok-2000" }, calls.Select(r => r.Get("NextToken")).ToArray());

            // Without a policy (or when it gives up) the listing ends with the page's Throttled error.
            using var bare = await TestEnvironment.ConnectAsync(fake.Url);
            fake.ThrottleAfter("DescribeInstances", 1, 1);
            var got = new List<int>();
            var ex = await Assert.ThrowsAsync<GridException>(async () => { await foreach (var p in bare.ListWorkloadsAsync(new WorkloadQuery { PageSize = 1000 }, Ct)) got.Add(p.Count); });
            Assert.Equal(GridErrorKind.Throttled, ex.Kind);
            Assert.Equal(new[] { 1000 }, got.ToArray());
        }

        [Fact]
        public async Task InstanceTypeDetails_ThrottledOnce_AreAskedAgain_ForbiddenOnes_AreNot()
        {
            using var fake = new FakeEc2();
            fake.Seed(3);
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            fake.Throttle("DescribeInstanceTypes", 1);
            var first = (await Pages(c, new WorkloadQuery())).SelectMany(p => p).ToList();
            Assert.All(first, w => Assert.Null(w.MemoryMB)); // the listing itself does not fail
            var second = (await Pages(c, new WorkloadQuery())).SelectMany(p => p).ToList();
            Assert.All(second, w => Assert.Equal(1024, w.MemoryMB)); // a throttle is not remembered as "unknown"
            Assert.Equal(2, fake.Count("DescribeInstanceTypes"));

            // Upper-case ids (as a user may type them) find the instance.
            var one = await c.GetWorkloadAsync(first[0].NativeId.ToUpperInvariant(), Ct);
            Assert.Equal(first[0].NativeId, one.NativeId);
        }

        [Fact]
        public async Task Throttling_IsThrottled_AndTheSdkDoesNotRetry()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            Assert.False(c.HandlesOwnRetries);
            Assert.Equal(0, c.Client.Config.MaxErrorRetry);
            var w = await c.CreateWorkloadAsync(Req("t-1", "t-1"), new TestScope("t-1"), Ct);
            int before = fake.Count("DescribeInstances");

            fake.Throttle("DescribeInstances", 1);
            var ex = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(w.NativeId, Ct));
            Assert.Equal(GridErrorKind.Throttled, ex.Kind);
            Assert.True(ex.IsTransient);
            Assert.Equal("AwsThrottled", ex.ErrorId);
            Assert.Equal("RequestLimitExceeded", ex.NativeCode);
            Assert.Equal(before + 1, fake.Count("DescribeInstances")); // exactly one HTTP request: no SDK retry

            fake.ThrottleStatus = 400; // some endpoints answer it as a client error: still Throttled
            fake.Throttle("DescribeInstances", 1);
            ex = await Assert.ThrowsAsync<GridException>(() => c.GetWorkloadAsync(w.NativeId, Ct));
            Assert.Equal(GridErrorKind.Throttled, ex.Kind);
            Assert.Equal(before + 2, fake.Count("DescribeInstances"));
        }

        [Fact]
        public async Task Throttling_IsRetriedOncePerLayer_ByTheSharedPolicy()
        {
            using var fake = new FakeEc2();
            var retry = new CountingRetry { MaxRetries = 4 };
            using var c = await TestEnvironment.ConnectAsync(fake.Url, retry: retry);
            var w = await c.CreateWorkloadAsync(Req("t-2", "t-2"), new TestScope("t-2"), Ct);
            int before = fake.Count("DescribeInstances");

            // The engine wraps the call in its policy with sdkRetries = HandlesOwnRetries (false).
            fake.Throttle("DescribeInstances", 2);
            var got = await retry.ExecuteAsync("aws-test", ct => c.GetWorkloadAsync(w.NativeId, ct), c.HandlesOwnRetries, Ct);
            Assert.Equal(w.NativeId, got.NativeId);
            Assert.Equal(2, retry.Retries);
            Assert.Equal(before + 3, fake.Count("DescribeInstances")); // 3 policy attempts = 3 HTTP requests (no hidden SDK attempts)

            // A throttled launch retried by the policy still launches once (same ClientToken).
            fake.Throttle("RunInstances", 1);
            var created = await retry.ExecuteAsync("aws-test", ct => c.CreateWorkloadAsync(Req("t-3", "t-3"), new TestScope("t-3"), ct), c.HandlesOwnRetries, Ct);
            Assert.Equal(3, retry.Retries);
            Assert.Equal(2, fake.Instances.Count);
            var runs = fake.Server.RequestsFor("RunInstances").Where(r => r.Get("ClientToken") == AwsConnection.ClientTokenFor("us-east-1", "t-3")).ToList();
            Assert.Equal(2, runs.Count);
            Assert.Equal(created.NativeId, fake.Instances.Values.Single(i => i.Tags["Name"] == "t-3").Id);
        }

        [Fact]
        public async Task ClientToken_SameKeyTwice_LaunchesOnce()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var a = await c.CreateWorkloadAsync(Req("idem", "key-A"), new TestScope("key-A"), Ct);
            var b = await c.CreateWorkloadAsync(Req("idem", "key-A"), new TestScope("key-A"), Ct);
            Assert.Equal(a.NativeId, b.NativeId);
            Assert.Single(fake.Instances);
            var tokens = fake.Server.RequestsFor("RunInstances").Select(r => r.Get("ClientToken")).ToList();
            Assert.Equal(2, tokens.Count);
            Assert.Equal(tokens[0], tokens[1]);

            // Another key launches another instance.
            var other = await c.CreateWorkloadAsync(Req("idem", "key-B"), new TestScope("key-B"), Ct);
            Assert.NotEqual(a.NativeId, other.NativeId);
            Assert.Equal(2, fake.Instances.Count);

            // The same key with other arguments is refused (IdempotentParameterMismatch).
            var ex = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(Req("idem", "key-A", size: "t3.small"), new TestScope("key-A"), Ct));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("IdempotencyKeyReused", ex.ErrorId);

            // The same key after its instance was terminated does not silently hand back a dead instance.
            await c.RemoveAsync(a.NativeId, false, new TestScope(), Ct);
            ex = await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(Req("idem", "key-A"), new TestScope("key-A"), Ct));
            Assert.Equal("IdempotencyKeyUsed", ex.ErrorId);
            Assert.Equal(2, fake.Instances.Count);
        }

        [Fact]
        public async Task Create_Options_PowerOff_AndValidation()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var req = Req("off", "off-1");
            req.PowerOn = false;
            req.TargetHost = "us-east-1c";
            req.Options["Hibernate"] = "true";
            var w = await c.CreateWorkloadAsync(req, new TestScope("off-1"), Ct);
            Assert.Equal(WorkloadState.Stopped, w.State); // EC2 launches running: stopped right after
            Assert.Equal("us-east-1c", w.Host);
            Assert.Equal(true, w.Properties["HibernationConfigured"]);
            Assert.Equal("true", fake.Server.RequestsFor("RunInstances").Single().Get("HibernationOptions.Configured"));

            // Size chosen from a CPU/memory shape (smallest current-generation x86_64 type that fits).
            var shaped = new CreateWorkloadRequest { Name = "shaped", Image = FakeEc2.ImageId, CpuCount = 4, MemoryMB = 8000, IdempotencyKey = "shaped" };
            var s = await c.CreateWorkloadAsync(shaped, new TestScope("shaped"), Ct);
            Assert.Equal("m5.xlarge", s.Size);

            async Task<GridException> Bad(CreateWorkloadRequest r) => await Assert.ThrowsAsync<GridException>(() => c.CreateWorkloadAsync(r, new TestScope(r.IdempotencyKey), Ct));
            Assert.Equal("ImageRequired", (await Bad(new CreateWorkloadRequest { Name = "x", Size = "t3.micro", IdempotencyKey = "x" })).ErrorId);
            Assert.Equal("SizeRequired", (await Bad(new CreateWorkloadRequest { Name = "x", Image = FakeEc2.ImageId, IdempotencyKey = "x" })).ErrorId);
            var unknownOpt = Req("x", "x"); unknownOpt.Options["Subnet"] = "subnet-1";
            Assert.Equal("AwsUnknownOption", (await Bad(unknownOpt)).ErrorId);
            var reserved = Req("x", "x"); reserved.Tags["aws:foo"] = "1";
            Assert.Equal("InvalidTag", (await Bad(reserved)).ErrorId);
            var ami = await Bad(Req("x", "x", image: "ami-0000000000000dead"));
            Assert.Equal(GridErrorKind.NotFound, ami.Kind);
            Assert.Equal("ImageNotFound", ami.ErrorId);
            Assert.Equal("InvalidAMIID.NotFound", ami.NativeCode);
            Assert.Equal(2, fake.Instances.Count);
        }

        [Fact]
        public async Task Resize_StoppedOnly_UnlessRestartAllowed()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var w = await c.CreateWorkloadAsync(Req("rs", "rs"), new TestScope("rs"), Ct);

            var ex = await Assert.ThrowsAsync<GridException>(() => c.ResizeAsync(w.NativeId, new ResizeRequest { Size = "t3.small" }, new TestScope(), Ct));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("ResizeRequiresStop", ex.ErrorId);
            Assert.Empty(fake.Server.RequestsFor("ModifyInstanceAttribute"));

            await c.ResizeAsync(w.NativeId, new ResizeRequest { Size = "t3.small", AllowRestart = true }, new TestScope(), Ct);
            var got = await c.GetWorkloadAsync(w.NativeId, Ct);
            Assert.Equal("t3.small", got.Size);
            Assert.Equal(2048, got.MemoryMB);
            Assert.Equal(WorkloadState.Running, got.State); // stopped, resized, started again
            Assert.Single(fake.Server.RequestsFor("StopInstances"));
            Assert.Single(fake.Server.RequestsFor("StartInstances"));

            await c.StopAsync(w.NativeId, StopMode.Graceful, new TestScope(), Ct);
            await c.ResizeAsync(w.NativeId, new ResizeRequest { CpuCount = 8 }, new TestScope(), Ct);
            got = await c.GetWorkloadAsync(w.NativeId, Ct);
            Assert.Equal("c5.2xlarge", got.Size);
            Assert.Equal(WorkloadState.Stopped, got.State); // it was stopped: stays stopped
            Assert.Equal("t3.small", fake.Server.RequestsFor("ModifyInstanceAttribute").First().Get("InstanceType.Value"));

            await c.ResizeAsync(w.NativeId, new ResizeRequest { Size = "c5.2xlarge" }, new TestScope(), Ct); // same size: no call
            Assert.Equal(2, fake.Server.RequestsFor("ModifyInstanceAttribute").Count());
        }

        [Fact]
        public async Task Suspend_IsHibernation()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var req = Req("hib", "hib"); req.Options["Hibernate"] = "true";
            var w = await c.CreateWorkloadAsync(req, new TestScope("hib"), Ct);
            await c.SuspendAsync(w.NativeId, new TestScope(), Ct);
            var s = await c.GetWorkloadAsync(w.NativeId, Ct);
            Assert.Equal(WorkloadState.Suspended, s.State);
            Assert.Equal("stopped", s.NativeState);
            Assert.False(s.ComputeBilled);
            Assert.Equal("Client.UserInitiatedHibernate", s.Properties["StateReasonCode"]);
            Assert.Equal("true", fake.Server.RequestsFor("StopInstances").Single().Get("Hibernate"));
            await c.StartAsync(w.NativeId, new TestScope(), Ct);
            Assert.Equal(WorkloadState.Running, (await c.GetWorkloadAsync(w.NativeId, Ct)).State);

            var plain = await c.CreateWorkloadAsync(Req("plain", "plain"), new TestScope("plain"), Ct);
            var ex = await Assert.ThrowsAsync<GridException>(() => c.SuspendAsync(plain.NativeId, new TestScope(), Ct));
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("HibernationNotConfigured", ex.ErrorId);
            Assert.Single(fake.Server.RequestsFor("StopInstances"));
        }

        [Fact]
        public async Task Remove_KeepsOtherVolumes_UnlessRemoveStorage()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var keep = await c.CreateWorkloadAsync(Req("keep", "keep", image: FakeEc2.ImageWithDataVolume), new TestScope("keep"), Ct);
            var data = keep.Disks.Single(d => !d.IsOsDisk);
            Assert.False(data.DeleteWithWorkload);
            string rootVol = keep.Disks.Single(d => d.IsOsDisk).NativeId!;
            await c.RemoveAsync(keep.NativeId, false, new TestScope(), Ct);
            Assert.True(fake.Volumes.ContainsKey(data.NativeId!));      // kept
            Assert.Equal("available", fake.Volumes[data.NativeId!].State);
            Assert.False(fake.Volumes.ContainsKey(rootVol));            // delete-on-termination went with it
            Assert.Empty(fake.Server.RequestsFor("DeleteVolume"));

            var gone = await c.CreateWorkloadAsync(Req("gone", "gone", image: FakeEc2.ImageWithDataVolume), new TestScope("gone"), Ct);
            string dataVol = gone.Disks.Single(d => !d.IsOsDisk).NativeId!;
            var scope = new TestScope();
            await c.RemoveAsync(gone.NativeId, true, scope, Ct);
            Assert.Equal(dataVol, scope.Checkpoints["KeptVolumes"]);  // recorded before the terminate acted
            Assert.False(fake.Volumes.ContainsKey(dataVol));
            Assert.Equal(dataVol, fake.Server.RequestsFor("DeleteVolume").Single().Get("VolumeId"));

            // A resumed remove of an already terminated instance still deletes the volumes it recorded.
            var third = await c.CreateWorkloadAsync(Req("third", "third", image: FakeEc2.ImageWithDataVolume), new TestScope("third"), Ct);
            string thirdVol = third.Disks.Single(d => !d.IsOsDisk).NativeId!;
            await c.RemoveAsync(third.NativeId, false, new TestScope(), Ct);
            var resumed = new TestScope { IsResume = true };
            resumed.Checkpoint("KeptVolumes", thirdVol);
            await c.RemoveAsync(third.NativeId, true, resumed, Ct);
            Assert.False(fake.Volumes.ContainsKey(thirdVol));
        }

        [Fact]
        public async Task Resume_RollsBackAnInterruptedCreate_ByTokenOrId_AndRerunsEverythingElse()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            // Interrupted after RunInstances acted but before the InstanceId checkpoint: found by its ClientToken.
            var a = await c.CreateWorkloadAsync(Req("rb-a", "rb-a"), new TestScope("rb-a"), Ct);
            var opA = new GridOperation { Id = Guid.NewGuid(), Kind = "Create", Target = "aws-test/rb-a", RollbackRequested = true };
            opA.Checkpoints["ClientToken"] = AwsConnection.ClientTokenFor("us-east-1", "rb-a");
            Assert.False(await c.ResumeAsync(opA, new TestScope { IsResume = true }, Ct));
            Assert.Equal("terminated", fake.Instances[a.NativeId].State);
            Assert.Equal(new[] { opA.Checkpoints["ClientToken"] }, fake.Server.RequestsFor("DescribeInstances").First(r => r.Filters().Any(f => f.Name == "client-token")).Filters().Single(f => f.Name == "client-token").Values);

            // With the InstanceId checkpoint: terminated, its kept volumes deleted too (the launch made them).
            var b = await c.CreateWorkloadAsync(Req("rb-b", "rb-b", image: FakeEc2.ImageWithDataVolume), new TestScope("rb-b"), Ct);
            string dataVol = b.Disks.Single(d => !d.IsOsDisk).NativeId!;
            var opB = new GridOperation { Id = Guid.NewGuid(), Kind = "Create", Target = "aws-test/rb-b", RollbackRequested = true };
            opB.Checkpoints["InstanceId"] = b.NativeId;
            Assert.False(await c.ResumeAsync(opB, new TestScope { IsResume = true }, Ct));
            Assert.Equal("terminated", fake.Instances[b.NativeId].State);
            Assert.False(fake.Volumes.ContainsKey(dataVol));

            // Nothing launched: nothing to roll back.
            var opC = new GridOperation { Id = Guid.NewGuid(), Kind = "Create", Target = "aws-test/rb-c", RollbackRequested = true };
            opC.Checkpoints["ClientToken"] = AwsConnection.ClientTokenFor("us-east-1", "never-launched");
            Assert.False(await c.ResumeAsync(opC, new TestScope { IsResume = true }, Ct));

            // Finishing (not rolling back), or any other kind: the engine re-runs the idempotent step.
            var ex = await Assert.ThrowsAsync<GridException>(() => c.ResumeAsync(new GridOperation { Kind = "Create" }, new TestScope(), Ct));
            Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
            ex = await Assert.ThrowsAsync<GridException>(() => c.ResumeAsync(new GridOperation { Kind = "Stop", RollbackRequested = true }, new TestScope(), Ct));
            Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
        }

        [Fact]
        public async Task Tags_Merge_AndReservedKeysRefused()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var w = await c.CreateWorkloadAsync(Req("tg", "tg"), new TestScope("tg"), Ct);
            await c.SetTagsAsync(w.NativeId, new Dictionary<string, string?> { ["owner"] = "ops", ["ENV"] = null }, new TestScope(), Ct);
            var got = await c.GetWorkloadAsync(w.NativeId, Ct);
            Assert.Equal("ops", got.Tags["owner"]);
            Assert.False(got.Tags.ContainsKey("env"));
            Assert.Equal("tg", got.Name); // the Name tag is not a user tag and stays
            var ex = await Assert.ThrowsAsync<GridException>(() => c.SetTagsAsync(w.NativeId, new Dictionary<string, string?> { ["aws:cloudformation:stack-name"] = "x" }, new TestScope(), Ct));
            Assert.Equal("InvalidTag", ex.ErrorId);
        }

        [Fact]
        public async Task Unsupported_MoveAndDeallocate()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var w = await c.CreateWorkloadAsync(Req("mv", "mv"), new TestScope("mv"), Ct);
            var ex = await Assert.ThrowsAsync<GridException>(() => c.MoveAsync(w.NativeId, "us-east-1b", new TestScope(), Ct));
            Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
            Assert.Equal("CapabilityNotSupported", ex.ErrorId);
            ex = await Assert.ThrowsAsync<GridException>(() => c.StopAsync(w.NativeId, StopMode.Deallocate, new TestScope(), Ct));
            Assert.Equal(GridErrorKind.Unsupported, ex.Kind);
            Assert.False(c.Capabilities.HasFlag(GridCapabilities.Move));
            Assert.False(c.Capabilities.HasFlag(GridCapabilities.Deallocate));
            Assert.Empty(fake.Server.RequestsFor("StopInstances"));
        }

        [Fact]
        public async Task Filters_PushedOnlyWhereNoMatchCanBeLost()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var a = await c.CreateWorkloadAsync(Req("Web-A", "fa"), new TestScope("fa"), Ct);
            var b = await c.CreateWorkloadAsync(Req("db-b", "fb"), new TestScope("fb"), Ct);
            await c.StopAsync(b.NativeId, StopMode.Graceful, new TestScope(), Ct);

            // A case-insensitive name pattern is not pushed (the server would miss "Web-A" for "web-*").
            var byName = (await Pages(c, new WorkloadQuery { NamePatterns = new[] { "web-*" } })).SelectMany(p => p).ToList();
            Assert.Contains(byName, w => w.NativeId == a.NativeId);
            var last = fake.Server.RequestsFor("DescribeInstances").Last();
            Assert.DoesNotContain(last.Filters(), f => f.Name.StartsWith("tag", StringComparison.Ordinal));

            // States and ids are pushed (EC2 state names and ids are lowercase).
            var stopped = (await Pages(c, new WorkloadQuery { States = new[] { WorkloadState.Stopped }, NativeIds = new[] { b.NativeId.ToUpperInvariant(), a.NativeId } })).SelectMany(p => p).ToList();
            Assert.Equal(b.NativeId, Assert.Single(stopped).NativeId);
            last = fake.Server.RequestsFor("DescribeInstances").Last();
            Assert.Equal(new[] { "stopped" }, last.Filters().Single(f => f.Name == "instance-state-name").Values);
            Assert.Equal(new[] { b.NativeId, a.NativeId }, last.Filters().Single(f => f.Name == "instance-id").Values);

            // Tags: pushed only when key and value have no letters whose case could differ.
            await c.SetTagsAsync(a.NativeId, new Dictionary<string, string?> { ["42"] = "7" }, new TestScope(), Ct);
            var tagged = (await Pages(c, new WorkloadQuery { Tags = new Dictionary<string, string> { ["42"] = "7", ["ENV"] = "TEST" } })).SelectMany(p => p).ToList();
            Assert.Contains(tagged, w => w.NativeId == a.NativeId);
            last = fake.Server.RequestsFor("DescribeInstances").Last();
            Assert.Equal(new[] { "7" }, last.Filters().Single(f => f.Name == "tag:42").Values);
            Assert.DoesNotContain(last.Filters(), f => f.Name == "tag:ENV" || f.Name == "tag:env");

            // States EC2 never has give nothing, without a call.
            int calls = fake.Count("DescribeInstances");
            Assert.Empty((await Pages(c, new WorkloadQuery { States = new[] { WorkloadState.Deallocated } })).SelectMany(p => p));
            Assert.Equal(calls, fake.Count("DescribeInstances"));
        }

        [Fact]
        public async Task Hosts_AndSizes_FromTheEndpoint_Cached()
        {
            using var fake = new FakeEc2();
            using var c = await TestEnvironment.ConnectAsync(fake.Url);
            var hosts = await c.ListHostsAsync(Ct);
            Assert.Equal(new[] { "us-east-1a", "us-east-1b", "us-east-1c" }, hosts.Select(h => h.Name).ToArray());
            Assert.Equal("use1-az1", hosts[0].NativeId);
            Assert.All(hosts, h => { Assert.Equal(HostState.Connected, h.State); Assert.Equal("us-east-1", h.Cluster); Assert.Null(h.CpuCores); });

            var sizes = await c.ListSizesAsync(Ct);
            await c.ListSizesAsync(Ct);
            Assert.Single(fake.Server.RequestsFor("DescribeInstanceTypes")); // cached
            Assert.Equal(FakeEc2.Types.Length, sizes.Count);
            var micro = sizes.Single(s => s.Name == "t3.micro");
            Assert.Equal(2, micro.CpuCount); Assert.Equal(1024, micro.MemoryMB); Assert.Null(micro.PricePerHour);
            Assert.Equal(new[] { "x86_64" }, (string[])micro.Properties["Architectures"]!);

            var images = await c.ListImagesAsync(new Dictionary<string, string>(), Ct);
            Assert.Equal(2, images.Count);
            Assert.Equal("Linux/UNIX", images[0].OsType);
            Assert.Equal(8, images[0].SizeGB);
        }
    }
}
