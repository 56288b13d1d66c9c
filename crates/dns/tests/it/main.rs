//! Integration tests of wildcert-dns against a real BIND topology (hidden primary, a prompt and
//! a lagging secondary on their own loopback addresses). Skipped when BIND or root is missing,
//! except under CI=true.

mod discovery;
mod nameservers;
mod persist;
mod propagation;

use std::net::SocketAddr;
use std::time::Duration;

use wildcert_dns::{Discovery, DnsName};
use wildcert_testkit::{BindOptions, BindTopology};

/// Start a topology serving `zones`, or `None` to skip.
pub fn topology(zones: &[&str]) -> Option<BindTopology> {
    topology_with(BindOptions {
        zones: zones.iter().map(|z| z.to_string()).collect(),
        ..BindOptions::default()
    })
}

/// Start a topology with options, or `None` to skip.
pub fn topology_with(opts: BindOptions) -> Option<BindTopology> {
    if !wildcert_testkit::require_bind() {
        return None;
    }
    Some(BindTopology::start(opts).expect("start BIND topology"))
}

/// Discovery through the secondaries themselves (authoritative, recursion off).
pub fn discovery(topo: &BindTopology) -> Discovery {
    Discovery::new(topo.secondary_addrs(), Duration::from_secs(2))
}

/// Parse a name in a test.
pub fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("valid name")
}

/// Address helper.
pub fn addrs(v: &[SocketAddr]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}
