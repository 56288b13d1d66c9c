//! Integration tests against a real Pebble with pebble-challtestsrv as its DNS.
//!
//! Each test starts its own Pebble and DNS server on free loopback ports, so tests are
//! independent and may run in parallel. Without `pebble` installed they skip (they fail
//! under `CI=true`). `upstream` runs against the newest upstream Pebble (`tests/setup.sh`
//! builds it): dns-account-01, dns-persist-01, real ARI, profiles, deactivation.

mod accounts;
mod common;
mod issuance;
mod mock;
mod revocation;
mod upstream;
