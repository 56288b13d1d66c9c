#!/usr/bin/env bash
# Installs what the test suite and the quick start need, when missing:
#   Debian packages: pebble, bind9, bind9-utils, bind9-dnsutils, pdns-server, pdns-backend-sqlite3, sqlite3, iproute2
#   PyPI: moto[server] in a venv at target/venv-moto (the Route53 test server), and boto3 +
#   cloudflare there (the official clients that check the kit's API fakes)
# Package services are kept from starting (policy-rc.d) so nothing listens on port 53 behind our back.
# Usage: tests/setup.sh [--no-moto]
set -euo pipefail
cd "$(dirname "$0")/.."

want_moto=1
[ "${1:-}" = "--no-moto" ] && want_moto=0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "tests/setup.sh: need root (or sudo) to install packages" >&2; exit 1; fi
fi

need=()
for pkg in pebble bind9 bind9-utils bind9-dnsutils pdns-server pdns-backend-sqlite3 sqlite3 iproute2; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done

if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need[*]}"
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ $created_policy = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi

if [ $want_moto = 1 ] && [ ! -x target/venv-moto/bin/moto_server ]; then
  echo "==> installing moto[server] into target/venv-moto"
  mkdir -p target
  if ! python3 -m venv target/venv-moto 2>/dev/null; then
    $SUDO apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv target/venv-moto
  fi
  target/venv-moto/bin/python -m pip install -q 'moto[server]>=5.1,<6'
fi
# The official clients that prove the API fakes (tests/kit/tests/sdk.rs): boto3 and the
# Cloudflare Python SDK. `python -m pip`, not bin/pip: a copied venv keeps the old path in
# bin/pip's first line.
if [ $want_moto = 1 ] && ! target/venv-moto/bin/python -c 'import boto3, cloudflare' 2>/dev/null; then
  echo "==> installing boto3 and cloudflare into target/venv-moto"
  target/venv-moto/bin/python -m pip install -q 'boto3>=1.34,<2' 'cloudflare>=4,<6'
fi
echo "==> test servers ready"
