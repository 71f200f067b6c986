using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;
using GridAutomation.Providers.HyperV;
using Xunit;

namespace GridAutomation.Provider.HyperV.Tests
{
    public class StateMapTests
    {
        [Theory]
        [InlineData("Running", WorkloadState.Running)]
        [InlineData("Off", WorkloadState.Stopped)]
        [InlineData("Saved", WorkloadState.Suspended)]
        [InlineData("Paused", WorkloadState.Paused)]
        [InlineData("Starting", WorkloadState.Starting)]
        [InlineData("Stopping", WorkloadState.Stopping)]
        [InlineData("Saving", WorkloadState.Suspending)]
        [InlineData("Pausing", WorkloadState.Paused)]
        [InlineData("Resuming", WorkloadState.Starting)]
        [InlineData("Reset", WorkloadState.Starting)]
        [InlineData("FastSaved", WorkloadState.Suspended)]
        [InlineData("FastSaving", WorkloadState.Suspending)]
        [InlineData("ForceShutdown", WorkloadState.Stopping)]
        [InlineData("ForceReboot", WorkloadState.Starting)]
        [InlineData("Hibernated", WorkloadState.Stopped)]
        [InlineData("Other", WorkloadState.Unknown)]
        [InlineData("ComponentServicing", WorkloadState.Unknown)]
        [InlineData(null, WorkloadState.Unknown)]
        public void Maps_VMState_names(string? native, WorkloadState expected) => Assert.Equal(expected, StateMap.Normalize(native));

        [Theory]
        [InlineData("RunningCritical")] [InlineData("OffCritical")] [InlineData("StoppingCritical")] [InlineData("SavedCritical")]
        [InlineData("PausedCritical")] [InlineData("StartingCritical")] [InlineData("ResetCritical")] [InlineData("SavingCritical")]
        [InlineData("PausingCritical")] [InlineData("ResumingCritical")] [InlineData("FastSavedCritical")] [InlineData("FastSavingCritical")]
        public void Every_critical_variant_is_Failed(string native) => Assert.Equal(WorkloadState.Failed, StateMap.Normalize(native));
    }

    public class GridNotesTests
    {
        [Fact]
        public void Keeps_the_admins_notes_and_round_trips_ours()
        {
            var n = new GridNotes { UserNotes = "Backup nightly\nCall Bob", IdempotencyKey = "dc/web1", Size = "hv.small", Image = "base.vhdx" };
            n.Tags["Owner"] = "Fabrikam";
            var text = n.ToString();
            Assert.StartsWith("Backup nightly\nCall Bob\nGridAutomation:{", text);
            var back = GridNotes.Parse(text);
            Assert.Equal("Backup nightly\nCall Bob", back.UserNotes);
            Assert.Equal("dc/web1", back.IdempotencyKey);
            Assert.Equal("hv.small", back.Size);
            Assert.Equal("base.vhdx", back.Image);
            Assert.Equal("Fabrikam", back.Tags["owner"]);
        }

        [Fact]
        public void Notes_without_our_line_are_all_the_admins()
        {
            var n = GridNotes.Parse("just a note\r\nsecond line");
            Assert.Equal("just a note\nsecond line", n.UserNotes);
            Assert.Null(n.IdempotencyKey);
            Assert.Empty(n.Tags);
        }

        [Fact]
        public void A_line_that_only_looks_like_ours_is_kept_as_a_note()
        {
            var n = GridNotes.Parse("GridAutomation: not json");
            Assert.Equal("GridAutomation: not json", n.UserNotes);
        }
    }

    public class VmMapperTests
    {
        private static Dictionary<string, object?> Record(string state = "Running") => new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Name"] = "web1", ["Id"] = new Guid("6F0C3C87-1E1A-4E53-A3A4-2F0E3C1B9D11"), ["State"] = state, ["Status"] = "Operating normally",
            ["ProcessorCount"] = 2L, ["MemoryStartup"] = 2048L * 1024 * 1024, ["MemoryAssigned"] = 2048L * 1024 * 1024,
            ["DynamicMemoryEnabled"] = false, ["Uptime"] = TimeSpan.FromMinutes(5), ["ComputerName"] = "hv-a", ["Generation"] = 2,
            ["Version"] = "11.0", ["Notes"] = "hello\nGridAutomation:{\"key\":\"k\",\"tags\":{\"Tier\":\"web\"}}",
            ["CreationTime"] = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc), ["Path"] = @"C:\VMs\web1", ["IsClustered"] = false,
            ["HardDrivePaths"] = new object?[] { @"C:\VHDs\web1\disk0.vhdx", @"C:\VHDs\web1\data.vhdx" }, ["IPAddresses"] = new object?[] { "10.0.0.5", "fe80::1" },
        };

        [Fact]
        public void Maps_a_Get_VM_record()
        {
            var w = VmMapper.ToWorkload(Record(), "hvlab", "hv-a", null);
            Assert.Equal("6f0c3c87-1e1a-4e53-a3a4-2f0e3c1b9d11", w.NativeId);
            Assert.Equal("hvlab/6f0c3c87-1e1a-4e53-a3a4-2f0e3c1b9d11", w.Id);
            Assert.Equal("HyperV", w.Provider);
            Assert.Equal(WorkloadState.Running, w.State);
            Assert.Equal("Running", w.NativeState);
            Assert.Equal(2, w.CpuCount);
            Assert.Equal(2048, w.MemoryMB);
            Assert.Equal("hv.medium", w.Size);
            Assert.Null(w.ComputeBilled);
            Assert.Equal(new[] { "disk0.vhdx", "data.vhdx" }, w.Disks.Select(d => d.Name));
            Assert.True(w.Disks[0].IsOsDisk);
            Assert.Equal(new[] { "10.0.0.5", "fe80::1" }, w.IPAddresses);
            Assert.Equal("web", w.Tags["Tier"]);
            Assert.Equal("hello", w.Properties["Notes"]);
            Assert.Equal("k", w.Properties["IdempotencyKey"]);
            Assert.Equal(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), w.CreatedTime);
        }

        [Fact]
        public void A_single_disk_or_address_unrolled_by_PowerShell_still_counts()
        {
            var r = Record();
            r["HardDrivePaths"] = @"C:\VHDs\web1\disk0.vhdx";
            r["IPAddresses"] = "10.0.0.5";
            var w = VmMapper.ToWorkload(r, "hvlab", "hv-a", null);
            Assert.Equal("disk0.vhdx", Assert.Single(w.Disks).Name);
            Assert.Equal("10.0.0.5", Assert.Single(w.IPAddresses));
        }

        [Fact]
        public void A_critical_state_is_Failed_and_flagged()
        {
            var w = VmMapper.ToWorkload(Record("SavedCritical"), "hvlab", "hv-a", null);
            Assert.Equal(WorkloadState.Failed, w.State);
            Assert.Equal("SavedCritical", w.NativeState);
            Assert.Equal(true, w.Properties["StateCritical"]);
        }
    }

    public class HostAddressTests
    {
        [Theory]
        [InlineData("hv1", null, "hv1", null)]
        [InlineData("admin@hv1", "admin", "hv1", null)]
        [InlineData("admin@hv1.contoso.com:2222", "admin", "hv1.contoso.com", 2222)]
        [InlineData("root@127.0.0.1:40022", "root", "127.0.0.1", 40022)]
        [InlineData("[::1]:22", null, "::1", 22)]
        [InlineData("fe80::1", null, "fe80::1", null)]
        [InlineData("CONTOSO\\admin@hv1", "CONTOSO\\admin", "hv1", null)]
        public void Parses(string text, string? user, string host, int? port)
        {
            var (u, h, p) = HostAddress.Parse(text);
            Assert.Equal(user, u); Assert.Equal(host, h); Assert.Equal(port, p);
        }

        [Theory]
        [InlineData("hv1:0")] [InlineData("hv1:70000")] [InlineData("hv1:x")] [InlineData("@hv1")] [InlineData("  ")] [InlineData("[::1")]
        public void Refuses(string text)
        {
            var ex = Assert.Throws<GridException>(() => HostAddress.Parse(text));
            Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
            Assert.Equal("HyperVHostNameInvalid", ex.ErrorId);
        }
    }

    public class ErrorMappingTests
    {
        [Fact]
        public void Our_own_remote_error_ids_are_kept()
        {
            var ex = HyperVErrors.FromRemote("Grid.WorkloadSuspended,Microsoft.PowerShell.Commands.WriteErrorException", "InvalidOperation", "saved", "t");
            Assert.Equal("WorkloadSuspended", ex.ErrorId);
            Assert.Equal(GridErrorKind.Conflict, ex.Kind);
            Assert.Equal("Grid.WorkloadSuspended,Microsoft.PowerShell.Commands.WriteErrorException", ex.NativeCode);
            Assert.Equal("t", ex.Target);
        }

        [Theory]
        [InlineData("InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM", "ObjectNotFound", GridErrorKind.NotFound, "HyperVObjectNotFound")]
        [InlineData("InvalidState,Microsoft.HyperV.PowerShell.Commands.StartVM", "InvalidOperation", GridErrorKind.Conflict, "HyperVCommandFailed")]
        [InlineData("AccessDenied,Microsoft.HyperV.PowerShell.Commands.NewVM", "PermissionDenied", GridErrorKind.PermissionDenied, "HyperVAccessDenied")]
        [InlineData("OutOfMemory,Microsoft.HyperV.PowerShell.Commands.StartVM", "ResourceUnavailable", GridErrorKind.ResourceUnavailable, "HyperVResourceUnavailable")]
        [InlineData("CommandNotFoundException", "ObjectNotFound", GridErrorKind.Unavailable, "HyperVModuleMissing")]
        public void Hyper_V_errors_map_by_category(string fqeid, string category, GridErrorKind kind, string id)
        {
            var ex = HyperVErrors.FromRemote(fqeid, category, "m", null);
            Assert.Equal(kind, ex.Kind);
            Assert.Equal(id, ex.ErrorId);
        }

        [Fact]
        public void Transport_errors_tell_a_refused_login_from_an_unreachable_host()
        {
            Assert.Equal("HyperVAuthenticationFailed", HyperVErrors.FromTransport("h", "root@h: Permission denied (publickey).", null).ErrorId);
            Assert.Equal("HyperVHostKeyNotTrusted", HyperVErrors.FromTransport("h", "Host key verification failed.", null).ErrorId);
            var down = HyperVErrors.FromTransport("h", "ssh: connect to host h port 22: Connection refused", null);
            Assert.Equal("HyperVHostUnreachable", down.ErrorId);
            Assert.Equal(GridErrorKind.Unavailable, down.Kind);
            Assert.True(down.IsTransient);
        }
    }

    public class SshDiagnosisTests
    {
        [Theory]
        [InlineData("root@h: Permission denied (publickey).", "HyperVAuthenticationFailed", GridErrorKind.Unauthorized)]
        [InlineData("No ED25519 host key is known for [h]:22 and you have requested strict checking.\nHost key verification failed.", "HyperVHostKeyNotTrusted", GridErrorKind.Unauthorized)]
        [InlineData("subsystem request failed on channel 0", "HyperVSubsystemMissing", GridErrorKind.Unavailable)]
        [InlineData("ssh: connect to host h port 22: Connection timed out", "HyperVHostUnreachable", GridErrorKind.Unavailable)]
        [InlineData("", "HyperVHostUnreachable", GridErrorKind.Unavailable)]
        public void Classifies_what_ssh_said(string stderr, string errorId, GridErrorKind kind)
        {
            var ex = SshDiagnosis.Classify("root@h", stderr, "The SSH transport process has abruptly terminated", null);
            Assert.Equal(errorId, ex.ErrorId);
            Assert.Equal(kind, ex.Kind);
            Assert.Equal("root@h", ex.Target);
        }
    }

    public class ConnectionSettingsTests
    {
        private static ProviderConnectRequest Request(Dictionary<string, string> settings, NetworkCredential? cred = null)
        {
            var dc = new GridDatacenter { Name = "hvlab", Provider = "HyperV" };
            foreach (var kv in settings) dc.Settings[kv.Key] = kv.Value;
            var secrets = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
            if (cred != null) secrets["Credential"] = cred;
            return new ProviderConnectRequest { Datacenter = dc, Secrets = secrets };
        }

        [Fact]
        public void SSH_hosts_take_the_shared_settings_unless_the_entry_says_otherwise()
        {
            var specs = HyperVProvider.Specs(Request(new Dictionary<string, string>
            {
                ["HostName"] = "hv1\nops@hv2:2222", ["UserName"] = "admin", ["Port"] = "22022", ["KeyFilePath"] = "/k", ["KnownHostsFile"] = "/kh",
            }));
            Assert.Equal(2, specs.Count);
            Assert.All(specs, s => { Assert.True(s.Ssh); Assert.Equal("/k", s.KeyFilePath); Assert.Equal("/kh", s.KnownHostsFile); Assert.Equal("powershell", s.Subsystem); });
            Assert.Equal(("admin", "hv1", (int?)22022), (specs[0].UserName, specs[0].Host, specs[0].Port));
            Assert.Equal(("ops", "hv2", (int?)2222), (specs[1].UserName, specs[1].Host, specs[1].Port));
            Assert.Equal("ops@hv2:2222", specs[1].Address);
        }

        [Fact]
        public void WinRM_hosts_carry_the_credential_only_in_the_session()
        {
            var cred = new NetworkCredential("admin", "S3cret!", "CONTOSO");
            var specs = HyperVProvider.Specs(Request(new Dictionary<string, string> { ["ComputerName"] = "hv1", ["UseSsl"] = "True" }, cred));
            Assert.False(specs[0].Ssh);
            Assert.True(specs[0].UseSsl);
            Assert.Same(cred, specs[0].Credential);
            Assert.DoesNotContain("S3cret", specs[0].Address);
        }

        [Theory]
        [InlineData("", "", "HyperVHostMissing")]
        [InlineData("hv1", "hv2", "HyperVTransportConflict")]
        public void Refuses_missing_or_mixed_transports(string ssh, string winrm, string errorId)
        {
            var ex = Assert.Throws<GridException>(() => HyperVProvider.Specs(Request(new Dictionary<string, string> { ["HostName"] = ssh, ["ComputerName"] = winrm })));
            Assert.Equal(errorId, ex.ErrorId);
            Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
        }

        [Fact]
        public void Declares_its_connection_parameters_with_the_credential_as_a_secret()
        {
            var p = new HyperVProvider();
            Assert.Equal("HyperV", p.Name);
            var names = p.ConnectionParameters.Select(x => x.Name).ToArray();
            Assert.Contains("HostName", names);
            Assert.Contains("ComputerName", names);
            Assert.True(p.ConnectionParameters.Single(x => x.Name == "Credential").IsSecret);
            Assert.All(p.ConnectionParameters.Where(x => x.Name != "Credential"), x => Assert.False(x.IsSecret));
        }
    }
}
