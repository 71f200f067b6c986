#!/usr/bin/env bash
# Installs what the vSphere provider's integration tests and benchmark need, and builds our vCenter simulator
# (tests/vcsim -> tests/vcsim/bin/gridvcsim) offline in GOPATH mode; qemu-utils makes and compares the VMDKs of the disk transport tests. Idempotent: apt only when a package is
# missing, the build only when a source is newer than the binary. Needs root for apt (CI runs as root).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
vcsim="$root/tests/vcsim"
bin="$vcsim/bin/gridvcsim"

pkgs=(golang-go golang-github-vmware-govmomi-dev golang-github-google-uuid-dev openssl qemu-utils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
fi

needs_build=1
if [ -x "$bin" ]; then
  needs_build=0
  if [ -n "$(find "$vcsim/src" "$root/bench/vsphere-inventory/peer" -name '*.go' -newer "$bin" 2>/dev/null | head -1)" ]; then needs_build=1; fi
fi
export GO111MODULE=off GOPATH="$vcsim:/usr/share/gocode" GOCACHE="${GOCACHE:-$vcsim/.gocache}" GOFLAGS=
if [ "$needs_build" = 1 ]; then
  echo "setup.sh: building $bin"
  mkdir -p "$vcsim/bin"
  (cd "$vcsim" && go build -o "$bin" gridvcsim)
fi
# The benchmark's Go peer (govmomi view.Manager + property.Collector), built the same way.
if [ -d "$root/bench/vsphere-inventory/peer" ]; then
  peer="$vcsim/bin/vsphere-inventory-peer"
  if [ ! -x "$peer" ] || [ -n "$(find "$root/bench/vsphere-inventory/peer" -name '*.go' -newer "$peer" | head -1)" ]; then
    echo "setup.sh: building $peer"
    (cd "$root/bench/vsphere-inventory/peer" && go build -o "$peer" .)
  fi
fi
echo "setup.sh: simulator ready at $bin"
