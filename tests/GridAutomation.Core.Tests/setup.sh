#!/usr/bin/env bash
# Installs what the core tests need, idempotently (run as root by build.ps1 -Task Test):
#   qemu-utils   qemu-img, the disk converter of the move transport (QemuImgTests converts and compares real images)
set -euo pipefail
if ! dpkg-query -W -f='${Status}' qemu-utils 2>/dev/null | grep -q "install ok installed"; then
  echo "setup.sh: installing qemu-utils"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends qemu-utils
else
  echo "setup.sh: qemu-utils present"
fi
