#!/usr/bin/env bash
# Prerequisites of the Azure provider tests: the system CA bundle (the tests add their throwaway CA to a copy of it
# and start the HTTPS child run with SSL_CERT_FILE). Idempotent; apt-get only when missing.
set -euo pipefail
if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "ca-certificates missing and not root: run as root" >&2; exit 1; fi
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates
fi
echo "Azure test prerequisites present."
