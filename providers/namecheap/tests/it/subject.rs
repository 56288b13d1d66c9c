//! The namecheap provider as a subject of the conformance suite: its Namecheap API fake, read
//! back through the fake's own view (every host, duplicates included).

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{NamecheapFake, NamecheapFakeOptions};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};
use wildcert_namecheap::{NamecheapProvider, NamecheapSettings};

/// The fake serving `example.test`.
pub struct Namecheap {
    fake: NamecheapFake,
}

impl Namecheap {
    fn build(s: &NamecheapSettings) -> Provider {
        Arc::new(NamecheapProvider::new(s).expect("valid settings"))
    }
}

#[async_trait]
impl Subject for Namecheap {
    async fn start() -> Option<Self> {
        Some(Namecheap {
            fake: crate::fake(NamecheapFakeOptions::default()),
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
            "setHosts replaces the whole zone and Namecheap has no conditional write: two \
             processes writing one domain at once may each drop the other's value; one \
             instance serialises its writes per zone"
                .into(),
        )
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        let zone = "example.test";
        let rel = name.as_str().strip_suffix(".example.test").unwrap_or("@");
        let hosts = self.fake.hosts(zone).into_iter();
        hosts
            .filter(|h| h.1 == "TXT" && h.0 == rel)
            .map(|h| h.2)
            .collect()
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        self.fake.seed_host(
            "example.test",
            (name.as_str(), "TXT", value, "10"),
            1800,
            false,
        );
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let s = NamecheapSettings {
            api_key: Some(Secret::new("ffffffffffffffffffffffffffffffff")),
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
        self.fake
            .block_for(Duration::from_secs(120), |_| crate::fake::rate_limited());
        let s = NamecheapSettings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(Self::build(&s), Case::RateLimit))
    }
}
