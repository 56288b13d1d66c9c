//! The rfc2136 provider as a subject of the conformance suite: the hidden primary of a
//! real BIND topology, read back with `dig`.

use std::sync::Arc;

use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};
use wildcert_rfc2136::{Rfc2136Provider, Rfc2136Settings};
use wildcert_testkit::BindTopology;

/// BIND serving `example.test`.
pub struct Bind {
    topo: BindTopology,
}

impl Bind {
    fn build(&self, s: &Rfc2136Settings) -> Provider {
        Arc::new(Rfc2136Provider::new(s).expect("valid settings"))
    }
}

#[async_trait]
impl Subject for Bind {
    async fn start() -> Option<Self> {
        crate::topology(&["example.test"]).map(|topo| Bind { topo })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        self.build(&crate::settings(&self.topo))
    }

    fn second_instance(&self) -> Concurrency {
        Concurrency::Independent(self.provider())
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.topo
            .txt_values(self.topo.primary_addr(), name.as_str())
            .expect("dig")
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        self.topo
            .add_records(
                "example.test",
                &[&format!("{}. 300 TXT \"{value}\"", name.as_str())],
            )
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let s = Rfc2136Settings {
            tsig_secret: Some(Secret::new("d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=")),
            ..crate::settings(&self.topo)
        };
        Support::Yes(ErrorProbe::contract(self.build(&s), Case::BadCredentials))
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        Support::Yes((
            ErrorProbe::contract(self.provider(), Case::MissingZone),
            DnsName::parse("nowhere.invalid").expect("name"),
        ))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        Support::NotApplicable(
            "RFC 2136 has no rate-limit answer: a server that limits updates drops them (a timeout: \
             Unreachable) or refuses them (REFUSED: Rejected); BIND's rate-limit applies to queries"
                .into(),
        )
    }
}
