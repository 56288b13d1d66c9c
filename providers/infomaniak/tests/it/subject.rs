//! The infomaniak provider as a subject of the conformance suite: its API v1 fake, read back
//! through the fake's own view (every record, duplicates included).

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{InfomaniakFake, InfomaniakFakeOptions};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};
use wildcert_infomaniak::{InfomaniakProvider, InfomaniakSettings};

/// The fake serving `example.test`.
pub struct Infomaniak {
    fake: InfomaniakFake,
}

fn build(s: &InfomaniakSettings) -> Provider {
    Arc::new(InfomaniakProvider::new(s).expect("valid settings"))
}

#[async_trait]
impl Subject for Infomaniak {
    async fn start() -> Option<Self> {
        Some(Infomaniak {
            fake: crate::fake(InfomaniakFakeOptions::default()),
        })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        build(&crate::settings(&self.fake))
    }

    fn second_instance(&self) -> Concurrency {
        // One record per value, created and deleted by id: nothing is read-modify-written.
        Concurrency::Independent(build(&crate::settings(&self.fake)))
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
        let s = InfomaniakSettings {
            token: Some(Secret::new("not-a-token-of-this-account")),
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
        let s = InfomaniakSettings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(build(&s), Case::RateLimit))
    }
}
