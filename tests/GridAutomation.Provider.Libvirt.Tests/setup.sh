#!/usr/bin/env bash
# Installs what the Libvirt provider tests need, idempotently (run as root; CI runs as root):
#   libvirt0                    the client library with the in-process test:/// driver (fast + contract tests)
#   libvirt-daemon-driver-qemu  the QEMU driver module used in-process by qemu:///embed?root=DIR
#   libvirt-daemon              /usr/lib/libvirt/libvirt_iohelper, which the QEMU driver runs to write save /
#                               managed-save images, and /usr/sbin/libvirtd: the live-move tests start two private
#                               daemons of their own (daemon-pair.sh) and stop them; no system daemon is used
#   libvirt-clients             virsh (daemon-pair.sh defines the pools with it; bench/libvirt-live-move.ps1 compares
#                               against 'virsh migrate --live')
#   qemu-system-x86, qemu-utils software-emulated (TCG) guests for the real-guest tests
#   util-linux                  unshare (one mount namespace per test daemon)
#   iproute2                    ip: FailoverTestNetworkTests makes a bridge of its own (no uplink) for an isolated
#                               bridge-mode libvirt network on daemon B, and deletes it after
# libvirt-daemon-system is NOT installed: it would start the distro's system libvirtd. If it is present and its
# daemon runs (pid file /run/libvirtd.pid), it is left alone: the test daemons use their own /run, /etc/libvirt and
# /var (private bind mounts) and their own socket folders, so they do not conflict with it.
# and creates the 'libvirt-qemu' system user, which the embed driver resolves before reading its qemu.conf
# (libvirt-daemon-system would create it, but pulls in far more).
set -euo pipefail

pkgs=(libvirt0 libvirt-daemon-driver-qemu libvirt-daemon libvirt-clients qemu-system-x86 qemu-utils util-linux iproute2)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup.sh: packages present (${pkgs[*]})"
fi

if ! getent passwd libvirt-qemu >/dev/null; then
  echo "setup.sh: creating system user libvirt-qemu"
  getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
  useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin -g libvirt-qemu libvirt-qemu
fi
echo "setup.sh: ready"

# The real-guest chains (ChainMoveTests) move the counting guest into vSphere (our vcsim) and AWS (loopback EC2 +
# s3rver): their prerequisites come from those projects' own setup scripts (idempotent; build.ps1 runs them too).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/../GridAutomation.Provider.VSphere.Tests/setup.sh"
bash "$here/../GridAutomation.Provider.Aws.Tests/setup.sh"
# ... and Azure (loopback ARM over HTTPS + Azurite, npm): the libvirt → Azure → libvirt chain (ChainMoveTests.Azure.cs)
bash "$here/../GridAutomation.Provider.Azure.Tests/setup.sh"
