//! Integration tests of the rfc2136 provider and the dns-01 pipeline against a real BIND
//! topology. Skipped when BIND or root is missing, except under CI=true. The provider
//! contract is the conformance suite (`cargo test -p wildcert-rfc2136 --test it
//! conformance`); the tests here are RFC 2136's own (TSIG, splitting, refusals told apart).

mod pipeline;
mod provider;
mod servers;
mod subject;
mod tuning;

wildcert_conformance::conformance_suite!(crate::subject::Bind);

use wildcert_dns::{DnsName, Secret, TxtSet, Zone};
use wildcert_rfc2136::{Rfc2136Provider, Rfc2136Settings};
use wildcert_testkit::{BindOptions, BindTopology};

pub use wildcert_conformance::init_logs;

/// Start a topology, or `None` to skip.
pub fn topology_with(opts: BindOptions) -> Option<BindTopology> {
    init_logs();
    if !wildcert_testkit::require_bind() {
        return None;
    }
    Some(BindTopology::start(opts).expect("start BIND topology"))
}

/// Start a topology serving `zones` with the default key.
pub fn topology(zones: &[&str]) -> Option<BindTopology> {
    topology_with(BindOptions {
        zones: zones.iter().map(|z| z.to_string()).collect(),
        ..BindOptions::default()
    })
}

/// Settings pointing at the hidden primary with the topology's key given inline.
pub fn settings(topo: &BindTopology) -> Rfc2136Settings {
    Rfc2136Settings {
        nameserver: Some(topo.primary_addr().to_string()),
        tsig_key: Some(topo.tsig_key_name().to_string()),
        tsig_secret: Some(Secret::new(topo.tsig_secret_b64())),
        tsig_algorithm: Some(topo.tsig_algorithm().to_string()),
        ..Rfc2136Settings::default()
    }
}

/// The provider for `settings`.
pub fn provider(s: &Rfc2136Settings) -> Rfc2136Provider {
    Rfc2136Provider::new(s).expect("valid settings")
}

/// Parse a name.
pub fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("valid name")
}

/// A zone by name.
pub fn zone(s: &str) -> Zone {
    Zone::new(name(s))
}

/// A set of (name, value) pairs.
pub fn set(pairs: &[(&str, &str)]) -> TxtSet {
    let mut s = TxtSet::new();
    for (n, v) in pairs {
        s.insert(name(n), *v);
    }
    s
}

/// Sorted TXT values at `n` on the primary.
pub fn primary_txt(topo: &BindTopology, n: &str) -> Vec<String> {
    let mut v = topo.txt_values(topo.primary_addr(), n).expect("dig");
    v.sort();
    v
}
