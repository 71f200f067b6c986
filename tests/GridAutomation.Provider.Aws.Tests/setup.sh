#!/usr/bin/env bash
# Prerequisites of the AWS provider tests, idempotent (apt-get only when something is missing):
# - Node.js + npm, and s3rver (npm s3rver 3.7.1, a fake S3 written by others, pinned by emulator/package-lock.json)
#   installed into emulator/node_modules (git-ignored); the disk import tests start and stop it themselves on
#   loopback with a throwaway data folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
need=()
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "missing ${need[*]} and not root: run as root" >&2; exit 1; fi
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
if [ ! -f "$here/emulator/node_modules/s3rver/bin/s3rver.js" ] || ! grep -q '"version": "3.7.1"' "$here/emulator/node_modules/s3rver/package.json"; then
  (cd "$here/emulator" && npm ci --no-audit --no-fund)
fi
echo "AWS test prerequisites present (s3rver $(node -p "require('$here/emulator/node_modules/s3rver/package.json').version"))."
