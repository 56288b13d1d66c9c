#!/usr/bin/env bash
# Quick start: a wildcard + apex certificate from a local ACME CA, end to end, on loopback.
#
# Installs (if missing) Pebble and BIND 9, starts them on loopback (a hidden primary taking
# TSIG-signed RFC 2136 updates, a prompt secondary and a lagging secondary that Pebble asks),
# builds wildcert, issues `*.example.test` + `example.test` through the rfc2136 provider, and
# prints where the certificate is and what it contains. Everything is torn down at the end;
# the certificate stays in target/quickstart-state.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  # Loopback addresses for the nameservers (ip addr add) need root.
  exec sudo -E env "PATH=$PATH" bash "$0" "$@"
fi

bash tests/setup.sh --no-moto
echo "==> building wildcert"
cargo build --quiet --locked -p wildcert -p wildcert-testkit --bin wildcert --bin wildcert-lab

state="$PWD/target/quickstart-state"
rm -rf "$state"
export QUICKSTART_STATE="$state" WILDCERT_BIN="$PWD/target/debug/wildcert"
target/debug/wildcert-lab --zone example.test -- bash -c '
  set -euo pipefail
  echo "==> wildcert issue -d \"*.example.test\" -d example.test --dns rfc2136"
  "$WILDCERT_BIN" --server "$WILDCERT_LAB_SERVER" --ca-bundle "$WILDCERT_LAB_CA_BUNDLE" \
      --state-dir "$QUICKSTART_STATE" --resolver "$WILDCERT_LAB_RESOLVER" \
      --email you@example.test --agree-tos \
      issue -d "*.example.test" -d example.test --dns rfc2136
  live="$QUICKSTART_STATE/certs/example.test/live"
  echo
  echo "==> files in $live"
  ls -l "$live/"
  if command -v openssl >/dev/null 2>&1; then
    echo
    echo "==> what the certificate contains (openssl x509)"
    openssl x509 -in "$live/cert.pem" -noout -subject -issuer -dates -ext subjectAltName
    echo
    echo "==> chain check against the local CA root"
    openssl verify -CAfile "$WILDCERT_LAB_ROOTS" -untrusted "$live/chain.pem" "$live/cert.pem"
  fi
'
