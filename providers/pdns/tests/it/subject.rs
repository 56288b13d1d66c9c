//! The pdns provider as a subject of the conformance suite: a real `pdns_server`, its
//! API reached through the kit's proxy (which plays a rate-limiting reverse proxy: PowerDNS
//! itself has no rate limit).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::http::RateLimitBudget;
use wildcert_dns::{DnsName, Secret};
use wildcert_pdns::{PdnsProvider, PdnsSettings};
use wildcert_testkit::{FaultProxy, HttpAnswer, PowerDns, PowerDnsOptions};

/// PowerDNS serving `example.test`, behind a proxy.
pub struct Pdns {
    server: PowerDns,
    proxy: FaultProxy,
}

impl Pdns {
    fn settings(&self, key: &str) -> PdnsSettings {
        PdnsSettings {
            api_url: Some(self.proxy.rewrite_url(&self.server.api_url())),
            api_key: Some(Secret::new(key)),
            timeout: Some(5),
            ..Default::default()
        }
    }

    fn build(&self, key: &str) -> Provider {
        Arc::new(PdnsProvider::new(&self.settings(key)).expect("valid settings"))
    }
}

#[async_trait]
impl Subject for Pdns {
    async fn start() -> Option<Self> {
        crate::init_logs();
        if !wildcert_testkit::require_pdns() {
            return None;
        }
        let server = PowerDns::start(PowerDnsOptions {
            zones: vec!["example.test".into()],
            ..Default::default()
        })
        .expect("start pdns_server");
        let api: SocketAddr = server
            .api_url()
            .trim_start_matches("http://")
            .parse()
            .expect("API address");
        let proxy = FaultProxy::start(api).expect("proxy");
        Some(Pdns { server, proxy })
    }

    fn zone(&self) -> DnsName {
        DnsName::parse("example.test").expect("name")
    }

    fn provider(&self) -> Provider {
        self.build(self.server.api_key())
    }

    fn second_instance(&self) -> Concurrency {
        Concurrency::OneInstance(
            "the PowerDNS API has no compare-and-swap: the read-merge-write is serialised per zone inside one \
             process, two processes may lose a value (docs/providers/pdns.md, Concurrency)"
                .into(),
        )
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.server.txt_values(name.as_str()).expect("dig")
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        let mut values = self.server.txt_values(name.as_str()).expect("dig");
        values.push(value.to_string());
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        self.server
            .set_txt(name.as_str(), &refs, 300)
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        Support::Yes(ErrorProbe::contract(
            self.build("wrong-key-d3Jvbmc"),
            Case::BadCredentials,
        ))
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        Support::Yes((
            ErrorProbe::contract(self.provider(), Case::MissingZone),
            DnsName::parse("nowhere.test").expect("name"),
        ))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        self.proxy
            .answer_http(Some(HttpAnswer::too_many_requests(1)));
        // A run that may wait 2 s in all for rate limits.
        let p = PdnsProvider::new(&self.settings(self.server.api_key()))
            .expect("valid settings")
            .with_rate_limit_budget(RateLimitBudget::new(
                Duration::from_secs(2),
                "rate_limit_wait",
            ));
        Support::Yes(ErrorProbe::contract(Arc::new(p), Case::RateLimit))
    }
}
