//! The httpreq provider as a subject of the conformance suite: the fake in-house service, read
//! back through its own view.

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{HttpreqFake, HttpreqFakeOptions};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};
use wildcert_httpreq::{HttpreqProvider, HttpreqSettings};

/// The service managing `example.test`, with basic authentication.
pub struct Httpreq {
    fake: HttpreqFake,
}

impl Httpreq {
    fn build(s: &HttpreqSettings) -> Provider {
        Arc::new(HttpreqProvider::new(s).expect("valid settings"))
    }
}

#[async_trait]
impl Subject for Httpreq {
    async fn start() -> Option<Self> {
        let opts = HttpreqFakeOptions {
            basic: Some((crate::USER.into(), crate::PASSWORD.into())),
            ..Default::default()
        };
        Some(Httpreq {
            fake: crate::fake(opts),
        })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        Self::build(&crate::settings(&self.fake))
    }

    fn second_instance(&self) -> Concurrency {
        // Each request adds or removes one value; the service applies each atomically.
        Concurrency::Independent(self.provider())
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
        let s = HttpreqSettings {
            password: Some(Secret::new("not-the-password")),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(Self::build(&s), Case::BadCredentials))
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        // The service answers 404 for a name in none of its zones.
        let probe = ErrorProbe::contract(self.provider(), Case::MissingZone);
        Support::Yes((probe, DnsName::parse("nowhere.test").expect("name")))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        self.fake.rate_limit_for(Duration::from_secs(120));
        Support::Yes(ErrorProbe::contract(self.provider(), Case::RateLimit))
    }
}
