#!/usr/bin/env bash
# Installs what the core tests need, idempotently (run as root by build.ps1 -Task Test):
#   postgresql-15  initdb and pg_ctl for the state store tests on PostgreSQL (issue 12): the tests make their own
#                  cluster per run (PgCluster.cs); nothing is started here
#   qemu-utils     qemu-img, the disk converter of the move transport (QemuImgTests converts and compares real images)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
dpkg-query -W -f='${Status}' qemu-utils 2>/dev/null | grep -q "install ok installed" || missing+=(qemu-utils)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "setup.sh: ${missing[*]} missing and not root: run as root" >&2; exit 1; fi
  echo "setup.sh: installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi
id postgres >/dev/null 2>&1 || { echo "setup.sh: user 'postgres' missing" >&2; exit 1; }
echo "setup.sh: $(/usr/lib/postgresql/15/bin/initdb --version); $(qemu-img --version | head -n 1)"
