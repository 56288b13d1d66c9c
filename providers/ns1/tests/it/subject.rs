//! The ns1 provider as a subject of the conformance suite: its NS1 API fake, read back through
//! the fake's own view (every answer, duplicates included).

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{Ns1Fake, Ns1FakeOptions};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};
use wildcert_ns1::{Ns1Provider, Ns1Settings};

/// The fake serving `example.test`.
pub struct Ns1 {
    fake: Ns1Fake,
}

impl Ns1 {
    fn build(s: &Ns1Settings) -> Provider {
        Arc::new(Ns1Provider::new(s).expect("valid settings"))
    }
}

#[async_trait]
impl Subject for Ns1 {
    async fn start() -> Option<Self> {
        Some(Ns1 {
            fake: crate::fake(Ns1FakeOptions::default()),
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
            "NS1 keeps one record per name and type whose answer list is written whole (POST), \
             with no conditional write (no ETag / If-Match): the read-merge-write is serialised \
             per zone inside one process and redone when the record appeared or vanished \
             meanwhile, but two processes writing in the same moment may lose a value \
             (docs/providers/ns1.md, Concurrency)"
                .into(),
        )
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.fake.txt_values(name.as_str())
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        self.fake
            .seed_record("example.test", "TXT", name.as_str(), value, 300)
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let s = Ns1Settings {
            api_key: Some(Secret::new("NotAKeyOfThisAccount")),
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
        let s = Ns1Settings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(Self::build(&s), Case::RateLimit))
    }
}
