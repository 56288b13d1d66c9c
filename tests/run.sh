#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test against real servers
# (Pebble, BIND 9, PowerDNS, moto) started on loopback by the test kit.
# Needs root (or sudo) once to install the servers, and root to add loopback addresses.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
export MOTO_SERVER="${MOTO_SERVER:-$PWD/target/venv-moto/bin/moto_server}"
# The server-backed tests mostly wait on DNS and the CA: run more of them than there are cores.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-6}"
cargo test --workspace --locked --no-fail-fast
