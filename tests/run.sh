#!/usr/bin/env bash
# The whole test suite: formatting, lints, generated files, and every test against real servers
# (Pebble, BIND 9, PowerDNS, moto) started on loopback by the test kit.
# Needs root (or sudo) once to install the servers, and root to add loopback addresses.
set -euo pipefail
cd "$(dirname "$0")/.."
# A one-shot build: incremental caches would only cost disk (gigabytes across ~40 test binaries).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
bash tests/setup.sh
echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo xtask gen --check"
# The registry, workspace lines and provider docs generated from providers/ are up to date.
cargo xtask gen --check
echo "==> cargo test"
export MOTO_SERVER="${MOTO_SERVER:-$PWD/target/venv-moto/bin/moto_server}"
# The server-backed tests mostly wait on DNS and the CA: run more of them than there are cores.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-6}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (the last binary alone may be doc-tests with 0 tests).
awk '/^test result:/ { for (i = 2; i <= NF; i++) { if ($i ~ /^passed;/) p += $(i-1); if ($i ~ /^failed;/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
