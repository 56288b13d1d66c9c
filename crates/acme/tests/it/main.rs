//! Integration tests against a real Pebble with pebble-challtestsrv as its DNS.
//!
//! Each test starts its own Pebble and DNS server on free loopback ports, so tests are
//! independent and may run in parallel. Without `pebble` installed they skip (they fail
//! under `CI=true`).

mod accounts;
mod common;
mod issuance;
mod mock;
mod revocation;
