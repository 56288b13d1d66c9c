//! The desec provider as a subject of the conformance suite: its deSEC API fake, read back
//! through the fake's own view.

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{DesecFake, DesecFakeOptions, throttled};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_desec::{DesecProvider, DesecSettings};
use wildcert_dns::{DnsName, Secret};

/// The fake serving `example.test`.
pub struct Desec {
    fake: DesecFake,
}

impl Desec {
    fn build(s: &DesecSettings) -> Provider {
        Arc::new(DesecProvider::new(s).expect("valid settings"))
    }
}

#[async_trait]
impl Subject for Desec {
    async fn start() -> Option<Self> {
        Some(Desec {
            fake: crate::fake(DesecFakeOptions::default()),
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
            "deSEC writes RRsets whole and has no conditional write: the read-merge-write is \
             serialised per zone inside one process, two processes may lose a value \
             (docs/providers/desec.md, Concurrency)"
                .into(),
        )
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.fake.txt_values(name.as_str())
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        let content = format!("\"{value}\"");
        self.fake
            .seed_record("example.test", "TXT", name.as_str(), &content, 3600)
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let s = DesecSettings {
            token: Some(Secret::new("not-a-token-of-this-account")),
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
        self.fake.block_for(Duration::from_secs(120), |left| {
            throttled(left.as_secs().max(1))
        });
        let s = DesecSettings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(Self::build(&s), Case::RateLimit))
    }
}
