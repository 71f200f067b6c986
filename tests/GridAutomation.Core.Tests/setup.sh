#!/usr/bin/env bash
# Prerequisite of the state store tests on PostgreSQL (issue 12): Debian's postgresql-15 (initdb, pg_ctl). The tests
# make their own cluster per run (PgCluster.cs); nothing is started here. Idempotent.
set -euo pipefail
if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "setup.sh: postgresql-15 missing and not root: run as root" >&2; exit 1; fi
  echo "setup.sh: installing postgresql-15"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql-15
fi
id postgres >/dev/null 2>&1 || { echo "setup.sh: user 'postgres' missing" >&2; exit 1; }
echo "setup.sh: $(/usr/lib/postgresql/15/bin/initdb --version)"
