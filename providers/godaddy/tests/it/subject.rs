//! The godaddy provider as a subject of the conformance suite: its Domains API fake, read back
//! through the fake's own view (every record, duplicates included).

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{GoDaddyFake, GoDaddyFakeOptions};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};
use wildcert_godaddy::{GoDaddyProvider, GoDaddySettings};

/// The fake serving `example.test`.
pub struct GoDaddy {
    fake: GoDaddyFake,
}

fn build(s: &GoDaddySettings) -> Provider {
    Arc::new(GoDaddyProvider::new(s).expect("valid settings"))
}

#[async_trait]
impl Subject for GoDaddy {
    async fn start() -> Option<Self> {
        Some(GoDaddy {
            fake: crate::fake(GoDaddyFakeOptions::default()),
        })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        build(&crate::settings(&self.fake))
    }

    fn second_instance(&self) -> Concurrency {
        Concurrency::OneInstance(
            "publishing appends (PATCH) and is safe between processes, but cleanup must PUT back the \
             other values of a name (GoDaddy has no per-value delete and no compare-and-swap): it is \
             serialised per zone inside one process only (docs/providers/godaddy.md, Concurrency)"
                .into(),
        )
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.fake.txt_values(name.as_str())
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        self.fake
            .seed_record("example.test", "TXT", name.as_str(), value, 3600)
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let s = GoDaddySettings {
            api_secret: Some(Secret::new("not-the-secret-of-this-key")),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(build(&s), Case::BadCredentials))
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        let probe = ErrorProbe::contract(self.provider(), Case::MissingZone);
        Support::Yes((probe, DnsName::parse("nowhere.test").expect("name")))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        // 429 to everything for two minutes; the provider may wait 2 s in all.
        self.fake.rate_limit_for(Duration::from_secs(120));
        let s = GoDaddySettings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(build(&s), Case::RateLimit))
    }
}
