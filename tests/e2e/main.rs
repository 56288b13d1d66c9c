//! End-to-end tests of the `wildcert` binary against real servers on loopback: Pebble as the
//! CA, BIND 9 as a hidden primary (TSIG updates) with a prompt and a lagging secondary.
//! Pebble validates against the *lagging* secondary, so an issuance only passes when the
//! propagation checker really waited for every nameserver.

mod acme_dns;
mod admin;
mod ari;
mod asissued;
mod check;
mod cloudflare;
mod dryrun;
mod exec;
mod faults;
mod hostile;
mod import;
mod install;
mod interrupt;
mod lab;
mod lifecycle;
mod messages;
mod methods;
mod migrate;
mod multihost;
mod multihost_race;
mod operator;
mod pdns;
mod plugins;
mod renew;
mod rfc2136;
mod route53;
mod secrets;
mod standby;
mod store;
mod sync;
