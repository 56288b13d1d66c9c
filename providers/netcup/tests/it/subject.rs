//! The netcup provider as a subject of the conformance suite: its CCP API fake, read back
//! through the fake's own view (every record, duplicates included).

use std::sync::Arc;

use crate::fake::{NetcupFake, NetcupFakeOptions};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};
use wildcert_netcup::{NetcupProvider, NetcupSettings};

/// The fake serving `example.test`.
pub struct Netcup {
    fake: NetcupFake,
}

impl Netcup {
    fn build(s: &NetcupSettings) -> Provider {
        Arc::new(NetcupProvider::new(s).expect("valid settings"))
    }
}

#[async_trait]
impl Subject for Netcup {
    async fn start() -> Option<Self> {
        Some(Netcup {
            fake: crate::fake(NetcupFakeOptions::default()),
        })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        Self::build(&crate::settings(&self.fake))
    }

    fn second_instance(&self) -> Concurrency {
        // updateDnsRecords creates and deletes single records (by id); records not listed stay,
        // so two independent instances never overwrite each other's values.
        Concurrency::Independent(self.provider())
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.fake.txt_values(name.as_str())
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        self.fake
            .seed_record(
                "example.test",
                "TXT",
                name.as_str(),
                &format!("\"{value}\""),
                300,
            )
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let s = NetcupSettings {
            api_password: Some(Secret::new("not-the-api-password")),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(Self::build(&s), Case::BadCredentials))
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        let probe = ErrorProbe::contract(self.provider(), Case::MissingZone);
        Support::Yes((probe, DnsName::parse("nowhere.test").expect("name")))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        // netcup's "More than 180 requests per minute" to everything; 2 s of waiting allowed.
        self.fake.set_requests_per_minute(0);
        let s = NetcupSettings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(Self::build(&s), Case::RateLimit))
    }
}
