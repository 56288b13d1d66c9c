//! The azuredns provider as a subject of the conformance suite: its Azure fake, read back
//! through the fake's own view (every record, duplicates included).

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{AzureFake, AzureFakeOptions};
use wildcert_azuredns::{AzureDnsProvider, AzureDnsSettings};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};

/// The fake serving `example.test`.
pub struct Azure {
    fake: AzureFake,
}

fn build(s: &AzureDnsSettings) -> Provider {
    Arc::new(AzureDnsProvider::new(s).expect("valid settings"))
}

#[async_trait]
impl Subject for Azure {
    async fn start() -> Option<Self> {
        Some(Azure {
            fake: crate::fake(AzureFakeOptions::default()),
        })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        build(&crate::settings(&self.fake))
    }

    fn second_instance(&self) -> Concurrency {
        // Every write carries If-Match (or If-None-Match: *): a lost race is a 412, merged again.
        Concurrency::Independent(build(&crate::settings(&self.fake)))
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.fake.txt_values(name.as_str())
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        self.fake.seed(name.as_str(), value);
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let s = AzureDnsSettings {
            client_secret: Some(Secret::new("wrong")),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(build(&s), Case::BadCredentials))
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        let probe = ErrorProbe::contract(self.provider(), Case::MissingZone);
        Support::Yes((probe, DnsName::parse("nowhere.test").expect("name")))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        // 429 to everything for two minutes, Retry-After counting down; 2 s of patience.
        self.fake.block_for(Duration::from_secs(120));
        let s = AzureDnsSettings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(build(&s), Case::RateLimit))
    }
}
