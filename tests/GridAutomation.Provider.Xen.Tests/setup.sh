#!/usr/bin/env bash
# Prerequisites of the Xen provider tests: Node.js (20 is on the CI machines; apt's nodejs otherwise) and Xen
# Orchestra's XAPI client, npm xen-api 4.7.6 (pinned in node/package.json + package-lock.json), installed into
# node/node_modules (git-ignored) for the conformance test. Idempotent: nothing is done when both are present.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$here/node"
want="4.7.6"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then echo "setup.sh: node/npm missing and not root: run as root" >&2; exit 1; fi
  echo "setup.sh: installing nodejs and npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq nodejs npm
fi

have="$(node -e "try{console.log(require('$node_dir/node_modules/xen-api/package.json').version)}catch(e){}" 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
  echo "setup.sh: installing xen-api $want into $node_dir/node_modules"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup.sh: node $(node --version), xen-api $(node -e "console.log(require('$node_dir/node_modules/xen-api/package.json').version)")"
