using System;
using System.Diagnostics;
using System.IO;
using GridAutomation.Providers.Libvirt;
using Xunit;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>What the tests need from the machine (tests/GridAutomation.Provider.Libvirt.Tests/setup.sh installs it).</summary>
    internal static class Prereqs
    {
        public static bool RequireAll => Environment.GetEnvironmentVariable("GRIDAUTOMATION_REQUIRE_ALL") == "1";

        public static string? LibvirtMissing()
            => new LibvirtProvider().IsAvailable(out var reason) ? null : reason + " Run tests/GridAutomation.Provider.Libvirt.Tests/setup.sh.";

        public static string? QemuMissing()
        {
            var lib = LibvirtMissing();
            if (lib != null) return lib;
            if (!File.Exists("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so") && !File.Exists("/usr/lib64/libvirt/connection-driver/libvirt_driver_qemu.so"))
                return "libvirt's QEMU driver is not installed (package libvirt-daemon-driver-qemu). Run setup.sh.";
            if (!File.Exists("/usr/bin/qemu-system-x86_64")) return "qemu-system-x86_64 is not installed (package qemu-system-x86). Run setup.sh.";
            if (!File.Exists("/usr/lib/libvirt/libvirt_iohelper")) return "libvirt_iohelper is missing (package libvirt-daemon): the QEMU driver needs it to write save images. Run setup.sh.";
            if (!UserExists("libvirt-qemu")) return "The 'libvirt-qemu' system user is missing (the embed driver resolves it). Run setup.sh.";
            return null;
        }

        /// <summary>Two real daemons (daemon-pair.sh): root, libvirtd, virsh and unshare on top of the QEMU prerequisites.</summary>
        public static string? DaemonMissing()
        {
            var q = QemuMissing();
            if (q != null) return q;
            if (!File.Exists("/usr/sbin/libvirtd")) return "/usr/sbin/libvirtd is missing (package libvirt-daemon). Run setup.sh.";
            if (!File.Exists("/usr/bin/virsh")) return "virsh is missing (package libvirt-clients). Run setup.sh.";
            if (!File.Exists("/usr/bin/unshare")) return "unshare is missing (package util-linux). Run setup.sh.";
            if (Environment.UserName != "root") return "The two-daemon tests run root libvirt daemons in private mount namespaces: run them as root.";
            return null;
        }

        private static bool UserExists(string name)
        {
            try { foreach (var line in File.ReadAllLines("/etc/passwd")) if (line.StartsWith(name + ":", StringComparison.Ordinal)) return true; }
            catch (IOException) { }
            return false;
        }

        /// <summary>Fails the running test (REQUIRE_ALL) when a prerequisite is missing; never silently passes.</summary>
        public static void Require(string? missing)
        {
            if (missing != null) Assert.Fail("Prerequisite missing: " + missing);
        }
    }

    /// <summary>A [Fact] skipped (with the reason) when libvirt0 is missing, unless GRIDAUTOMATION_REQUIRE_ALL=1: then it runs and fails.</summary>
    public sealed class LibvirtFactAttribute : FactAttribute
    {
        public LibvirtFactAttribute()
        {
            var missing = Prereqs.LibvirtMissing();
            if (missing != null && !Prereqs.RequireAll) Skip = missing;
        }
    }

    /// <summary>The [Theory] twin of <see cref="LibvirtFactAttribute"/>.</summary>
    public sealed class LibvirtTheoryAttribute : TheoryAttribute
    {
        public LibvirtTheoryAttribute()
        {
            var missing = Prereqs.LibvirtMissing();
            if (missing != null && !Prereqs.RequireAll) Skip = missing;
        }
    }

    /// <summary>A [Fact] needing two real libvirt daemons: skipped when they cannot run here, unless GRIDAUTOMATION_REQUIRE_ALL=1.</summary>
    public sealed class DaemonFactAttribute : FactAttribute
    {
        public DaemonFactAttribute()
        {
            Timeout = 0;
            var missing = Prereqs.DaemonMissing();
            if (missing != null && !Prereqs.RequireAll) Skip = missing;
        }
    }

    /// <summary>The [Theory] twin of <see cref="DaemonFactAttribute"/>.</summary>
    public sealed class DaemonTheoryAttribute : TheoryAttribute
    {
        public DaemonTheoryAttribute()
        {
            Timeout = 0;
            var missing = Prereqs.DaemonMissing();
            if (missing != null && !Prereqs.RequireAll) Skip = missing;
        }
    }

    /// <summary>A [Fact] for real QEMU guests: skipped when QEMU/libvirt's QEMU driver is missing, unless GRIDAUTOMATION_REQUIRE_ALL=1.</summary>
    public sealed class QemuFactAttribute : FactAttribute
    {
        public QemuFactAttribute()
        {
            Timeout = 0;
            var missing = Prereqs.QemuMissing();
            if (missing != null && !Prereqs.RequireAll) Skip = missing;
        }
    }
}
