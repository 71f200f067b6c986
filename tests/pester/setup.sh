#!/usr/bin/env bash
# Installs what the Pester suite needs beyond the built module, idempotently (run as root by build.ps1 -Task Test):
#   chromium   Usage.Tests.ps1 renders the HTML usage report headless (--headless --no-sandbox --screenshot) and
#              checks for console errors and a non-blank image
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "setup.sh: ${missing[*]} missing and not root: run as root" >&2; exit 1; fi
  echo "setup.sh: installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup.sh: $(chromium --version 2>/dev/null | head -n 1)"
