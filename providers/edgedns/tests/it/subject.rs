//! The edgedns provider as a subject of the conformance suite: its Edge DNS fake, read back
//! through the fake's own view (every record, duplicates included).

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{EdgeFake, EdgeFakeOptions};
use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};
use wildcert_edgedns::{EdgeDnsProvider, EdgeDnsSettings};

/// The fake serving `example.test`.
pub struct EdgeDns {
    fake: EdgeFake,
}

impl EdgeDns {
    fn build(s: &EdgeDnsSettings) -> Provider {
        Arc::new(EdgeDnsProvider::new(s).expect("valid settings"))
    }
}

#[async_trait]
impl Subject for EdgeDns {
    async fn start() -> Option<Self> {
        Some(EdgeDns {
            fake: crate::fake(EdgeFakeOptions::default()),
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
            "Edge DNS replaces a whole record set on PUT and offers no compare-and-swap: the \
             read-merge-write is serialised per zone inside one process (and redone on 409 \
             concurrentZoneModification), two processes may lose a value (docs/providers/edgedns.md)"
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
        let s = EdgeDnsSettings {
            client_secret: Some(Secret::new("bm90LXRoZS1zZWNyZXQtb2YtdGhpcy1jbGllbnQ=")),
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
        let s = EdgeDnsSettings {
            rate_limit_wait: Some(2),
            ..crate::settings(&self.fake)
        };
        Support::Yes(ErrorProbe::contract(Self::build(&s), Case::RateLimit))
    }
}
