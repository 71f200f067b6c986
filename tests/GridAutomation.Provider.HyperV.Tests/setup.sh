#!/usr/bin/env bash
# Installs what the Hyper-V provider tests need, idempotently (run as root; CI runs as root):
#   openssh-server   the sshd binary only. The tests start their own sshd on a loopback port with their own
#                    sshd_config, host keys generated per run in a temporary folder, and a `powershell` subsystem
#                    that runs this repository's pwsh (the local dotnet tool) with -sshs.
#                    NOTE: on a developer machine with a service manager, installing the package may also start
#                    the system sshd on port 22 (containers with a policy-rc.d that returns 101 do not).
#   qemu-utils       qemu-img: the stand-in's Get-VHD reads a disk's format and size with it.
# and creates /run/sshd, the privilege-separation directory sshd refuses to start without.
# The disk-move tests also need libvirt's embedded QEMU driver (a libvirt datacenter without a daemon): that is the
# libvirt tests' own setup.sh, run from here (idempotent), so the Hyper-V tests can run on their own.
set -euo pipefail
bash "$(dirname "$0")/../GridAutomation.Provider.Libvirt.Tests/setup.sh"

pkgs=(openssh-server qemu-utils)
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
mkdir -p /run/sshd
chmod 0755 /run/sshd
echo "setup.sh: ready"
