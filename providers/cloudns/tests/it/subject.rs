//! The cloudns provider as a subject of the conformance suite: its ClouDNS API fake, read back
//! through the fake's own view (every record, duplicates included).

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{CloudnsFake, CloudnsFakeOptions};
use wildcert_cloudns::{CloudnsProvider, CloudnsSettings};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};

/// The fake serving `example.test`.
pub struct Cloudns {
    fake: CloudnsFake,
}

fn build(s: &CloudnsSettings) -> Provider {
    Arc::new(CloudnsProvider::new(s).expect("valid settings"))
}

#[async_trait]
impl Subject for Cloudns {
    async fn start() -> Option<Self> {
        Some(Cloudns {
            fake: crate::fake(CloudnsFakeOptions::default()),
        })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        build(&crate::settings(&self.fake))
    }

    fn second_instance(&self) -> Concurrency {
        // One record per value: two instances never rewrite each other's records.
        Concurrency::Independent(build(&crate::settings(&self.fake)))
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.fake.txt_values(name.as_str())
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        self.fake
            .seed("example.test", "TXT", name.as_str(), value, 120);
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let s = CloudnsSettings {
            auth_password: Some(Secret::new("WRONGPASSWORD")),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(build(&s), Case::BadCredentials))
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        Support::Yes((
            ErrorProbe::contract(self.provider(), Case::MissingZone),
            DnsName::parse("nowhere.test").expect("name"),
        ))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        // 429 to everything for two minutes, Retry-After counting down; 2 s of patience.
        self.fake.block_for(Duration::from_secs(120));
        let s = CloudnsSettings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(build(&s), Case::RateLimit))
    }
}
