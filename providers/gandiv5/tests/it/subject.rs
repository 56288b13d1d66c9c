//! The gandiv5 provider as a subject of the conformance suite: its LiveDNS fake, read back
//! through the fake's own view (every record, duplicates included).

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{GandiFake, GandiFakeOptions};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};
use wildcert_gandiv5::{GandiV5Provider, GandiV5Settings};

/// The fake serving `example.test`.
pub struct GandiV5 {
    fake: GandiFake,
}

impl GandiV5 {
    fn build(s: &GandiV5Settings) -> Provider {
        Arc::new(GandiV5Provider::new(s).expect("valid settings"))
    }
}

#[async_trait]
impl Subject for GandiV5 {
    async fn start() -> Option<Self> {
        Some(GandiV5 {
            fake: crate::fake(GandiFakeOptions::default()),
        })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        Self::build(&crate::settings(&self.fake))
    }

    fn second_instance(&self) -> Concurrency {
        Concurrency::OneInstance(
            "LiveDNS replaces a whole RRset on PUT and has no compare-and-swap (no ETag / If-Match): \
             the read-merge-write is serialised per zone inside one process, two processes may lose \
             a value (docs/providers/gandiv5.md, Concurrency)"
                .into(),
        )
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.fake.txt_values(name.as_str())
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        let content = format!("\"{value}\"");
        self.fake
            .seed_record("example.test", "TXT", name.as_str(), &content, 300)
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let s = GandiV5Settings {
            token: Some(Secret::new("pat_not-a-token-of-this-organization")),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(Self::build(&s), Case::BadCredentials))
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        let probe = ErrorProbe::contract(self.provider(), Case::MissingZone);
        Support::Yes((probe, DnsName::parse("nowhere.test").expect("name")))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        // 429 to everything for two minutes; the provider may wait 2 s in all.
        self.fake.rate_limit_for(Duration::from_secs(120));
        let s = GandiV5Settings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(Self::build(&s), Case::RateLimit))
    }
}
