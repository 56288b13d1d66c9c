//! Shared helpers.

use wildcert_dns::{DnsName, Secret, TxtSet};
use wildcert_route53::{Route53Provider, Route53Settings};

/// A name.
pub fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("valid name")
}

/// Settings for an endpoint with explicit keys.
pub fn settings(endpoint: &str, akid: &str, secret: &str) -> Route53Settings {
    wildcert_testkit::install_crypto_provider();
    Route53Settings {
        access_key_id: Some(akid.to_string()),
        secret_access_key: Some(Secret::new(secret)),
        endpoint_url: Some(endpoint.to_string()),
        ..Default::default()
    }
}

/// A provider from settings.
pub fn provider(s: &Route53Settings) -> Route53Provider {
    Route53Provider::new(s).expect("provider builds")
}

/// Wildcard + apex values at `_acme-challenge.<zone>` and one more name.
pub fn two_names(zone: &str) -> TxtSet {
    let mut set = TxtSet::new();
    set.insert(name(&format!("_acme-challenge.{zone}")), "wildcard-token");
    set.insert(name(&format!("_acme-challenge.{zone}")), "apex-token");
    set.insert(name(&format!("_acme-challenge.www.{zone}")), "www-token");
    set
}

/// Log to the test output when RUST_LOG is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
