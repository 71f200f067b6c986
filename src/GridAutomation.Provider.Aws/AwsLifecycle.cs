using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Amazon;
using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.Runtime.Credentials;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Core.State;

namespace GridAutomation.Providers.Aws
{
    /// <summary>AwsConnection, lifecycle: create, start, stop, restart, remove, resize, tags, resume of interrupted operations.</summary>
    public sealed partial class AwsConnection
    {
        // ---- lifecycle ---------------------------------------------------------------------------------------

        /// <summary>
        /// The RunInstances ClientToken for an idempotency key: "ga-" + 40 hex chars of SHA-256 over the datacenter's
        /// region and the key (EC2 allows 64 ASCII characters). The same key always gives the same token, so a
        /// retried or resumed create returns the instance the first attempt launched.
        /// </summary>
        public static string ClientTokenFor(string region, string idempotencyKey)
        {
            using var sha = SHA256.Create();
            var hash = sha.ComputeHash(Encoding.UTF8.GetBytes(region + "\n" + idempotencyKey));
            var sb = new StringBuilder("ga-", 43);
            for (int i = 0; i < 20; i++) sb.Append(hash[i].ToString("x2", CultureInfo.InvariantCulture));
            return sb.ToString();
        }

        private static readonly string[] KnownOptions = { "SubnetId", "SecurityGroupIds", "KeyName", "IamInstanceProfile", "UserData", "Hibernate", "EbsOptimized", "PrivateIpAddress", "PlacementGroup", "Architecture", "ImportedDisk", "ImportBucket", "ImportedDiskTakeOver", "Network" };

        public async Task<GridWorkload> CreateWorkloadAsync(CreateWorkloadRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (request == null) throw GridException.InvalidRequest("No create request was given.", AwsErrors.InvalidRequest);
            if (string.IsNullOrWhiteSpace(request.Name)) throw GridException.InvalidRequest("A workload name is required.", "NameRequired");
            // a move's create: the AMI its import registered (Options["ImportedDisk"]) is the image
            string? image = !string.IsNullOrWhiteSpace(request.Image) ? request.Image
                : request.Options != null && request.Options.TryGetValue("ImportedDisk", out var imported) ? imported : null;
            if (string.IsNullOrWhiteSpace(image))
                throw GridException.InvalidRequest("EC2 needs an image (AMI id, e.g. -Image ami-0123456789abcdef0) to launch an instance.", "ImageRequired", request.Name);
            var options = new Dictionary<string, string>(request.Options ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase);
            var unknown = options.Keys.Where(k => !KnownOptions.Contains(k, StringComparer.OrdinalIgnoreCase)).ToList();
            if (unknown.Count > 0)
                throw GridException.InvalidRequest($"Unknown Aws create option(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", KnownOptions)}.", "AwsUnknownOption", request.Name);
            if (request.Secrets != null && request.Secrets.Count > 0)
                _verbose($"Aws '{Datacenter.Name}': create secrets ({string.Join(", ", request.Secrets.Keys)}) are not used by EC2 (use a key pair: option KeyName).");

            string key = !string.IsNullOrEmpty(request.IdempotencyKey) ? request.IdempotencyKey : scope?.IdempotencyKey ?? "";
            if (string.IsNullOrEmpty(key)) throw GridException.InvalidRequest("A create needs an idempotency key.", "IdempotencyKeyMissing", request.Name);
            string size = await ResolveSizeAsync(request.Size, request.CpuCount, request.MemoryMB, Opt(options, "Architecture") ?? "x86_64", request.Name, cancellationToken).ConfigureAwait(false);
            string token = ClientTokenFor(_region, key);
            string target = request.Name;

            var tags = new List<Tag> { new Tag("Name", request.Name) };
            foreach (var kv in request.Tags ?? new Dictionary<string, string>())
            {
                if (string.Equals(kv.Key, "Name", StringComparison.OrdinalIgnoreCase)) continue;
                CheckTagKey(kv.Key);
                tags.Add(new Tag(kv.Key, kv.Value ?? ""));
            }
            var run = new RunInstancesRequest
            {
                ImageId = image!.Trim(),
                InstanceType = InstanceType.FindValue(size),
                MinCount = 1,
                MaxCount = 1,
                ClientToken = token,
                TagSpecifications = new List<TagSpecification>
                {
                    new TagSpecification { ResourceType = ResourceType.Instance, Tags = tags },
                    new TagSpecification { ResourceType = ResourceType.Volume, Tags = tags.Select(t => new Tag(t.Key, t.Value)).ToList() },
                },
            };
            if (!string.IsNullOrEmpty(request.TargetHost)) run.Placement = new Placement { AvailabilityZone = request.TargetHost };
            if (Opt(options, "PlacementGroup") is string pg) (run.Placement ??= new Placement()).GroupName = pg;
            if (Opt(options, "SubnetId") is string subnet) run.SubnetId = subnet;
            if (Opt(options, "Network") is string net) run.SubnetId = await ResolveSubnetAsync(net, target, cancellationToken).ConfigureAwait(false); // AwsNetworks.cs
            if (Opt(options, "SecurityGroupIds") is string sgs) run.SecurityGroupIds = SplitList(sgs);
            if (Opt(options, "KeyName") is string keyName) run.KeyName = keyName;
            if (Opt(options, "PrivateIpAddress") is string pip) run.PrivateIpAddress = pip;
            if (Opt(options, "IamInstanceProfile") is string iam)
                run.IamInstanceProfile = iam.StartsWith("arn:", StringComparison.Ordinal) ? new IamInstanceProfileSpecification { Arn = iam } : new IamInstanceProfileSpecification { Name = iam };
            if (Opt(options, "UserData") is string ud) run.UserData = Convert.ToBase64String(Encoding.UTF8.GetBytes(ud));
            if (Opt(options, "Hibernate") is string hib) run.HibernationOptions = new HibernationOptionsRequest { Configured = ParseBool(hib, "Hibernate") };
            if (Opt(options, "EbsOptimized") is string eo) run.EbsOptimized = ParseBool(eo, "EbsOptimized");

            // Write-ahead: the token is recorded before the launch acts, so a resume re-sends the same one.
            scope?.Checkpoint("ClientToken", token);
            scope?.Report(new GridProgress("Create " + request.Name, $"Launching {size} from {run.ImageId}", 0));
            var resp = await CallAsync("RunInstances", target, c => _client.RunInstancesAsync(run, c), cancellationToken).ConfigureAwait(false);
            var launched = resp.Reservation?.Instances?.FirstOrDefault();
            if (launched?.InstanceId == null)
                throw new GridException(GridErrorKind.Unavailable, "EC2 RunInstances answered without an instance.", AwsErrors.BadResponse) { Target = target };
            string id = launched.InstanceId;
            scope?.Checkpoint("InstanceId", id);
            string launchedState = launched.State?.Name?.Value ?? "";
            if (launchedState == "terminated" || launchedState == "shutting-down")
                throw new GridException(GridErrorKind.Conflict,
                    $"The idempotency key of this create already launched {id}, which is now {launchedState}" +
                    (launched.StateReason?.Code != null ? $" ({launched.StateReason.Code})" : "") + ". Use a new key to launch another instance.",
                    "IdempotencyKeyUsed") { Target = WorkloadId.Format(Datacenter.Name, id), NativeCode = launched.StateReason?.Code };

            // Wait for it to leave pending (tolerating EC2's eventual consistency right after a launch).
            var inst = await WaitForAsync(id, s => s != "pending", "Create " + request.Name, scope, cancellationToken, tolerateNotFound: true).ConfigureAwait(false);
            string now = inst.State?.Name?.Value ?? "";
            if (now == "shutting-down" || now == "terminated")
                throw new GridException(GridErrorKind.ResourceUnavailable,
                    $"EC2 terminated {id} right after launch: {inst.StateReason?.Code} {inst.StateReason?.Message}".TrimEnd(),
                    "LaunchFailed") { Target = WorkloadId.Format(Datacenter.Name, id), NativeCode = inst.StateReason?.Code };
            if (!request.PowerOn && now == "running")
            {
                // EC2 cannot launch an instance stopped: stop it once it runs.
                await StopCoreAsync(id, StopMode.Graceful, hibernate: false, scope, cancellationToken).ConfigureAwait(false);
            }
            var w = await GetWorkloadAsync(id, cancellationToken).ConfigureAwait(false);
            if (w.State == WorkloadState.Starting) w.State = WorkloadState.Provisioning; // we know it is a new launch
            scope?.Report(new GridProgress("Create " + request.Name, $"{id} is {w.NativeState}", 100));
            return w;
        }

        private async Task<string> ResolveSizeAsync(string? size, int? cpu, long? memoryMB, string architecture, object target, CancellationToken ct)
        {
            if (!string.IsNullOrWhiteSpace(size)) return size!.Trim();
            if (cpu == null && memoryMB == null)
                throw GridException.InvalidRequest("EC2 needs a size (instance type, e.g. -Size t3.micro) or a CPU/memory shape to choose one.", "SizeRequired", target);
            var catalogue = await GetCatalogueAsync(ct).ConfigureAwait(false);
            var pick = catalogue
                .Where(t => t.CurrentGeneration == true && t.BareMetal != true)
                .Where(t => t.ProcessorInfo?.SupportedArchitectures == null || t.ProcessorInfo.SupportedArchitectures.Contains(architecture))
                .Where(t => (t.VCpuInfo?.DefaultVCpus ?? 0) >= (cpu ?? 0) && (t.MemoryInfo?.SizeInMiB ?? 0) >= (memoryMB ?? 0))
                .OrderBy(t => t.VCpuInfo?.DefaultVCpus ?? int.MaxValue)
                .ThenBy(t => t.MemoryInfo?.SizeInMiB ?? long.MaxValue)
                .ThenBy(t => t.InstanceType?.Value, StringComparer.Ordinal)
                .FirstOrDefault();
            if (pick?.InstanceType?.Value == null)
                throw GridException.InvalidRequest($"No current-generation {architecture} instance type in {_region} has {cpu?.ToString(CultureInfo.InvariantCulture) ?? "any"} vCPU and {memoryMB?.ToString(CultureInfo.InvariantCulture) ?? "any"} MiB.", AwsErrors.SizeNotFound, target);
            _verbose($"Aws '{Datacenter.Name}': chose instance type {pick.InstanceType.Value} for {cpu} vCPU / {memoryMB} MiB.");
            return pick.InstanceType.Value;
        }

        public async Task StartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            string activity = "Start " + nativeId;
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string id = inst.InstanceId!;
            string st = inst.State?.Name?.Value ?? "";
            if (st == "running") return;
            if (st == "shutting-down" || st == "terminated") throw Terminated(id, st);
            if (st == "stopping")
                inst = await WaitForAsync(id, s => s != "stopping", activity, scope, cancellationToken).ConfigureAwait(false);
            if (inst.State?.Name?.Value == "stopped")
            {
                scope?.Report(new GridProgress(activity, "Starting " + id, 10));
                var started = await CallAsync("StartInstances", Target(id), c => _client.StartInstancesAsync(new StartInstancesRequest { InstanceIds = new List<string> { id } }, c), cancellationToken).ConfigureAwait(false);
                ReportChange(scope, activity, started.StartingInstances, 20);
            }
            inst = await WaitForAsync(id, s => s != "pending", activity, scope, cancellationToken).ConfigureAwait(false);
            if (inst.State?.Name?.Value != "running")
                throw new GridException(GridErrorKind.Conflict, $"{id} did not start: it is {inst.State?.Name?.Value} ({inst.StateReason?.Code}).", AwsErrors.InvalidState) { Target = Target(id), NativeCode = inst.StateReason?.Code };
        }

        public Task StopAsync(string nativeId, StopMode mode, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (mode == StopMode.Deallocate)
                throw GridException.Unsupported("EC2 has no separate deallocate: a stopped instance is already not billed for compute. Stop without -Deallocate.", "CapabilityNotSupported", Target(nativeId));
            return StopCoreAsync(nativeId, mode, hibernate: false, scope, cancellationToken);
        }

        private async Task StopCoreAsync(string nativeId, StopMode mode, bool hibernate, IOperationScope? scope, CancellationToken ct)
        {
            string activity = (hibernate ? "Suspend " : "Stop ") + nativeId;
            var (inst, _) = await DescribeOneAsync(nativeId, ct).ConfigureAwait(false);
            string id = inst.InstanceId!;
            string st = inst.State?.Name?.Value ?? "";
            if (st == "shutting-down" || st == "terminated") throw Terminated(id, st);
            if (st == "stopped")
            {
                if (hibernate && inst.StateReason?.Code != AwsMapper.HibernateReason)
                    throw GridException.Conflict($"{id} is stopped, not running: there is no memory to hibernate.", AwsErrors.InvalidState, Target(id));
                return;
            }
            if (st == "pending")
                inst = await WaitForAsync(id, s => s != "pending", activity, scope, ct).ConfigureAwait(false);
            if (inst.State?.Name?.Value == "running")
            {
                if (hibernate && inst.HibernationOptions?.Configured != true)
                    throw new GridException(GridErrorKind.Conflict, $"{id} was not launched with hibernation configured, so it cannot be suspended (create it with option Hibernate=true).", "HibernationNotConfigured") { Target = Target(id), NativeCode = "UnsupportedHibernationConfiguration" };
                var req = new StopInstancesRequest { InstanceIds = new List<string> { id } };
                if (mode == StopMode.TurnOff) req.Force = true;
                if (hibernate) req.Hibernate = true;
                scope?.Report(new GridProgress(activity, (hibernate ? "Hibernating " : mode == StopMode.TurnOff ? "Force-stopping " : "Stopping ") + id, 10));
                var stopping = await CallAsync("StopInstances", Target(id), c => _client.StopInstancesAsync(req, c), ct).ConfigureAwait(false);
                ReportChange(scope, activity, stopping.StoppingInstances, 20);
            }
            inst = await WaitForAsync(id, s => s != "stopping" && s != "running" && s != "pending", activity, scope, ct).ConfigureAwait(false);
            if (inst.State?.Name?.Value != "stopped")
                throw new GridException(GridErrorKind.Conflict, $"{id} did not stop: it is {inst.State?.Name?.Value}.", AwsErrors.InvalidState) { Target = Target(id) };
        }

        public async Task RestartAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
        {
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string id = inst.InstanceId!;
            string st = inst.State?.Name?.Value ?? "";
            if (st == "pending") inst = await WaitForAsync(id, s => s != "pending", "Restart " + id, scope, cancellationToken).ConfigureAwait(false);
            if (inst.State?.Name?.Value != "running")
                throw new GridException(GridErrorKind.Conflict, $"{id} is {inst.State?.Name?.Value}: only a running instance can be restarted (use Start).", AwsErrors.InvalidState) { Target = Target(id), NativeCode = "IncorrectInstanceState" };
            scope?.Report(new GridProgress("Restart " + id, "Rebooting " + id, 50));
            await CallAsync("RebootInstances", Target(id), c => _client.RebootInstancesAsync(new RebootInstancesRequest { InstanceIds = new List<string> { id } }, c), cancellationToken).ConfigureAwait(false);
            scope?.Report(new GridProgress("Restart " + id, "Reboot requested for " + id, 100));
        }

        /// <summary>Suspend = EC2 hibernation (StopInstances Hibernate=true): memory goes to the encrypted EBS root volume.</summary>
        public Task SuspendAsync(string nativeId, IOperationScope scope, CancellationToken cancellationToken)
            => StopCoreAsync(nativeId, StopMode.Graceful, hibernate: true, scope, cancellationToken);

        public async Task RemoveAsync(string nativeId, bool removeStorage, IOperationScope scope, CancellationToken cancellationToken)
        {
            string activity = "Remove " + nativeId;
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string id = inst.InstanceId!;
            var kept = new List<string>();
            if (scope != null && scope.Checkpoints.TryGetValue("KeptVolumes", out var earlier) && !string.IsNullOrEmpty(earlier))
                kept.AddRange(SplitList(earlier));
            foreach (var b in inst.BlockDeviceMappings ?? new List<InstanceBlockDeviceMapping>())
                if (b.Ebs?.VolumeId != null && b.Ebs.DeleteOnTermination != true && !kept.Contains(b.Ebs.VolumeId)) kept.Add(b.Ebs.VolumeId);

            string st = inst.State?.Name?.Value ?? "";
            if (st != "terminated")
            {
                if (removeStorage) scope?.Checkpoint("KeptVolumes", string.Join(",", kept)); // write-ahead: terminated instances forget their volumes
                if (st != "shutting-down")
                {
                    scope?.Report(new GridProgress(activity, "Terminating " + id, 10));
                    var terminating = await CallAsync("TerminateInstances", Target(id), c => _client.TerminateInstancesAsync(new TerminateInstancesRequest { InstanceIds = new List<string> { id } }, c), cancellationToken).ConfigureAwait(false);
                    ReportChange(scope, activity, terminating.TerminatingInstances, 20);
                }
                await WaitForAsync(id, s => s == "terminated", activity, scope, cancellationToken).ConfigureAwait(false);
            }
            if (kept.Count == 0) return;
            if (!removeStorage)
            {
                _verbose($"Aws '{Datacenter.Name}': {id} terminated; volumes kept (not delete-on-termination): {string.Join(", ", kept)}.");
                return;
            }
            int n = 0;
            foreach (var vol in kept)
            {
                n++;
                scope?.Report(new GridProgress(activity, $"Deleting volume {vol} ({n}/{kept.Count})", 80));
                await DeleteVolumeWhenDetachedAsync(vol, activity, scope, cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task DeleteVolumeWhenDetachedAsync(string volumeId, string activity, IOperationScope? scope, CancellationToken ct)
        {
            var deadline = DateTime.UtcNow + WaitTimeout;
            int polls = 0;
            while (true)
            {
                DescribeVolumesResponse resp;
                try
                {
                    resp = await CallAsync("DescribeVolumes", volumeId, c => _client.DescribeVolumesAsync(new DescribeVolumesRequest { VolumeIds = new List<string> { volumeId } }, c), ct).ConfigureAwait(false);
                }
                catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { return; } // already gone
                var v = resp.Volumes?.FirstOrDefault();
                string? state = v?.State?.Value;
                if (v == null || state == "deleted" || state == "deleting") return;
                if (state == "available")
                {
                    try
                    {
                        await CallAsync("DeleteVolume", volumeId, c => _client.DeleteVolumeAsync(new DeleteVolumeRequest { VolumeId = volumeId }, c), ct).ConfigureAwait(false);
                        return;
                    }
                    catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { return; }
                    catch (GridException ex) when (ex.NativeCode == "VolumeInUse" && DateTime.UtcNow < deadline) { /* still detaching: poll again */ }
                }
                if (DateTime.UtcNow > deadline)
                    throw new GridException(GridErrorKind.Conflict, $"Volume {volumeId} stayed {state}; it was not deleted.", AwsErrors.InvalidState) { Target = volumeId, IsTransient = false };
                scope?.Report(new GridProgress(activity, $"Waiting for volume {volumeId} to detach ({state})", -1));
                try { await Task.Delay(PollDelay(polls++), ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { throw AwsErrors.Map(new OperationCanceledException(ct), "wait", volumeId, ct); }
            }
        }

        public async Task ResizeAsync(string nativeId, ResizeRequest request, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (request == null) throw GridException.InvalidRequest("No resize request was given.", AwsErrors.InvalidRequest);
            string activity = "Resize " + nativeId;
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string id = inst.InstanceId!;
            string size = await ResolveSizeAsync(request.Size, request.CpuCount, request.MemoryMB, inst.Architecture?.Value ?? "x86_64", Target(id), cancellationToken).ConfigureAwait(false);
            if (string.Equals(inst.InstanceType?.Value, size, StringComparison.Ordinal)) return;
            string st = inst.State?.Name?.Value ?? "";
            if (st == "shutting-down" || st == "terminated") throw Terminated(id, st);
            bool restart = false;
            if (st != "stopped")
            {
                if (!request.AllowRestart)
                    throw new GridException(GridErrorKind.Conflict, $"{id} is {st}: EC2 changes the instance type only while stopped. Stop it first or allow a restart.", "ResizeRequiresStop") { Target = Target(id) };
                restart = st == "running" || st == "pending";
                scope?.Checkpoint("StoppedForResize", "true");
                await StopCoreAsync(id, StopMode.Graceful, hibernate: false, scope, cancellationToken).ConfigureAwait(false);
            }
            else if (scope != null && scope.Checkpoints.TryGetValue("StoppedForResize", out var s) && s == "true") restart = true; // resumed after our own stop
            scope?.Report(new GridProgress(activity, $"Changing {id} to {size}", 50));
            var mod = new ModifyInstanceAttributeRequest { InstanceId = id, InstanceType = size };
            await CallAsync("ModifyInstanceAttribute", Target(id), c => _client.ModifyInstanceAttributeAsync(mod, c), cancellationToken).ConfigureAwait(false);
            if (restart) await StartAsync(id, scope!, cancellationToken).ConfigureAwait(false);
        }

        public async Task SetTagsAsync(string nativeId, IDictionary<string, string?> tags, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (tags == null || tags.Count == 0) return;
            var (inst, _) = await DescribeOneAsync(nativeId, cancellationToken).ConfigureAwait(false);
            string id = inst.InstanceId!;
            var set = new List<Tag>();
            var remove = new List<Tag>();
            foreach (var kv in tags)
            {
                CheckTagKey(kv.Key);
                // Tag keys are case-sensitive in EC2 but case-insensitive in the model: act on the key as the instance has it.
                string actual = inst.Tags?.FirstOrDefault(t => string.Equals(t.Key, kv.Key, StringComparison.OrdinalIgnoreCase))?.Key ?? kv.Key;
                if (kv.Value == null) { if (inst.Tags?.Any(t => t.Key == actual) == true) remove.Add(new Tag { Key = actual }); }
                else set.Add(new Tag(actual, kv.Value));
            }
            if (set.Count > 0)
                await CallAsync("CreateTags", Target(id), c => _client.CreateTagsAsync(new CreateTagsRequest { Resources = new List<string> { id }, Tags = set }, c), cancellationToken).ConfigureAwait(false);
            if (remove.Count > 0)
                await CallAsync("DeleteTags", Target(id), c => _client.DeleteTagsAsync(new DeleteTagsRequest { Resources = new List<string> { id }, Tags = remove }, c), cancellationToken).ConfigureAwait(false);
        }

        public Task MoveAsync(string nativeId, string destinationHost, IOperationScope scope, CancellationToken cancellationToken)
            => throw GridException.Unsupported("EC2 cannot move an instance to another availability zone (a new instance from a snapshot would be a different workload).", "CapabilityNotSupported", Target(nativeId));

        /// <summary>
        /// Only the roll-back of an interrupted create is the provider's own: the instance it launched (from the
        /// InstanceId checkpoint, else found by the ClientToken checkpoint written before RunInstances acted) is
        /// terminated with the storage the launch made, and false is returned. Everything else answers Unsupported,
        /// so the engine re-runs the same idempotent step (same ClientToken; recorded volumes for a remove).
        /// </summary>
        public async Task<bool> ResumeAsync(GridOperation operation, IOperationScope scope, CancellationToken cancellationToken)
        {
            if (operation == null || !operation.RollbackRequested || !string.Equals(operation.Kind, "Create", StringComparison.OrdinalIgnoreCase))
                throw GridException.Unsupported("Aws operations are re-run idempotently (ClientToken, recorded volumes) instead of resumed step by step.", "CapabilityNotSupported", operation?.Target);
            var cps = operation.Checkpoints ?? new Dictionary<string, string>();
            string? id = cps.TryGetValue("InstanceId", out var i) && !string.IsNullOrEmpty(i) ? i : null;
            if (id == null && cps.TryGetValue("ClientToken", out var token) && !string.IsNullOrEmpty(token))
            {
                var req = new DescribeInstancesRequest { Filters = new List<Filter> { new Filter { Name = "client-token", Values = new List<string> { token } } } };
                var resp = await CallAsync("DescribeInstances", operation.Target, c => _client.DescribeInstancesAsync(req, c), cancellationToken).ConfigureAwait(false);
                id = resp.Reservations?.SelectMany(r => r.Instances ?? new List<Instance>()).FirstOrDefault(x => x.State?.Name?.Value != "terminated")?.InstanceId;
            }
            if (id == null)
            {
                _verbose($"Aws '{Datacenter.Name}': the interrupted create {operation.Id} launched nothing; nothing to roll back.");
                return false;
            }
            scope?.Checkpoint("RollbackInstanceId", id);
            try { await RemoveAsync(id, removeStorage: true, scope!, cancellationToken).ConfigureAwait(false); }
            catch (GridException ex) when (ex.Kind == GridErrorKind.NotFound) { }
            return false;
        }
    }
}
