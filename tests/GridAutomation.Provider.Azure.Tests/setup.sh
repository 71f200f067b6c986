#!/usr/bin/env bash
# Prerequisites of the Azure provider tests, idempotent (apt-get only when something is missing):
# - the system CA bundle (the tests add their throwaway CA to a copy of it and start the HTTPS child run with SSL_CERT_FILE);
# - qemu-img (the disk move tests make fixed VHDs and compare what comes back);
# - Node.js + npm, and Azurite (npm azurite 3.35.0, pinned by emulator/package-lock.json: 3.36+ want Node >= 21)
#   installed into emulator/node_modules (git-ignored); the tests start and stop it themselves on loopback.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
need=()
[ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "missing ${need[*]} and not root: run as root" >&2; exit 1; fi
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
if [ ! -f "$here/emulator/node_modules/azurite/dist/src/blob/main.js" ] || ! grep -q '"version": "3.35.0"' "$here/emulator/node_modules/azurite/package.json"; then
  (cd "$here/emulator" && npm ci --no-audit --no-fund)
fi
echo "Azure test prerequisites present (Azurite $(node -p "require('$here/emulator/node_modules/azurite/package.json').version"))."
