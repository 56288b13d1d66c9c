//! The route53 provider as a subject of the conformance suite, twice: against moto (a
//! real XML server; its API reached through the kit's proxy, which plays Route53's
//! throttling) and against its own fake (SigV4 checked, AWS's strict DELETE).

use std::net::SocketAddr;
use std::sync::Arc;

use wildcert_conformance::{
    Case, Concurrency, ErrorProbe, Provider, Subject, Support, async_trait,
};
use wildcert_dns::{DnsName, Secret};
use wildcert_route53::{Route53Provider, Route53Settings};
use wildcert_testkit::{FaultProxy, HttpAnswer, Moto};

use crate::route53_fake::{Route53Fake, Route53FakeOptions, Route53Fault};

use crate::common::{init_tracing, settings};

fn build(s: &Route53Settings) -> Provider {
    Arc::new(Route53Provider::new(s).expect("provider builds"))
}

/// Why two route53 instances may lose a value.
const ONE_INSTANCE: &str = "publish is a read-merge-UPSERT, serialised per hosted zone inside one instance; \
    two instances (processes) may lose a value. A compare-and-swap (DELETE of the exact RRset read + CREATE \
    in one batch) is not done yet: moto and the kit's fake both refuse a DELETE and a CREATE of one name in \
    one batch";

fn example() -> DnsName {
    DnsName::parse("example.test").expect("name")
}

/// moto serving `example.test`, behind a proxy.
pub struct OnMoto {
    moto: Moto,
    proxy: FaultProxy,
    zone_id: String,
}

impl OnMoto {
    fn settings(&self) -> Route53Settings {
        Route53Settings {
            max_retries: Some(2),
            ..settings(
                &self.proxy.rewrite_url(&self.moto.endpoint_url()),
                "AKIAMOTO",
                "moto-secret",
            )
        }
    }
}

#[async_trait]
impl Subject for OnMoto {
    async fn start() -> Option<Self> {
        init_tracing();
        if !wildcert_testkit::require_moto() {
            return None;
        }
        let moto = Moto::start().expect("moto starts");
        let zone_id = moto
            .create_hosted_zone("example.test", false)
            .await
            .expect("zone");
        let upstream: SocketAddr = moto.addr();
        let proxy = FaultProxy::start(upstream).expect("proxy");
        Some(OnMoto {
            moto,
            proxy,
            zone_id,
        })
    }

    fn zone(&self) -> DnsName {
        example()
    }

    fn provider(&self) -> Provider {
        build(&self.settings())
    }

    fn second_instance(&self) -> Concurrency {
        Concurrency::OneInstance(ONE_INSTANCE.into())
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.moto
            .txt(&self.zone_id, name.as_str())
            .await
            .expect("read")
            .map(|(_, v)| v)
            .unwrap_or_default()
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        let mut values = self.served(name).await;
        values.push(value.to_string());
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        self.moto
            .upsert_txt(&self.zone_id, name.as_str(), 300, &refs)
            .await
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        Support::NotApplicable(
            "moto checks no signatures; the route53 fake subject (conformance_fake) checks SigV4"
                .into(),
        )
    }

    fn missing_zone(&self) -> Support<(ErrorProbe, DnsName)> {
        Support::Yes((
            ErrorProbe::contract(self.provider(), Case::MissingZone),
            DnsName::parse("nowhere.test").expect("name"),
        ))
    }

    async fn rate_limit(&self) -> Support<ErrorProbe> {
        // What Route53 answers when throttled: HTTP 400 with the code Throttling.
        self.proxy.answer_http(Some(HttpAnswer {
            status: 400,
            headers: vec![("Content-Type".into(), "text/xml".into())],
            body: "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>kit-proxy</RequestId></ErrorResponse>".into(),
        }));
        Support::Yes(ErrorProbe::contract(self.provider(), Case::RateLimit))
    }
}

/// The provider's Route53 fake serving `example.test`.
pub struct OnFake {
    fake: Route53Fake,
    zone_id: String,
}

impl OnFake {
    fn settings(&self) -> Route53Settings {
        Route53Settings {
            max_retries: Some(2),
            ..settings(
                &self.fake.endpoint_url(),
                &self.fake.access_key_id(),
                &self.fake.secret_access_key(),
            )
        }
    }
}

#[async_trait]
impl Subject for OnFake {
    async fn start() -> Option<Self> {
        init_tracing();
        let fake = Route53Fake::start(Route53FakeOptions::default()).expect("fake starts");
        let zone_id = fake.add_zone("example.test", false).expect("zone");
        Some(OnFake { fake, zone_id })
    }

    fn zone(&self) -> DnsName {
        example()
    }

    fn provider(&self) -> Provider {
        build(&self.settings())
    }

    fn second_instance(&self) -> Concurrency {
        Concurrency::OneInstance(ONE_INSTANCE.into())
    }

    async fn served(&self, name: &DnsName) -> Vec<String> {
        self.fake
            .txt(name.as_str())
            .map(|(_, v)| v)
            .unwrap_or_default()
    }

    async fn plant(&self, name: &DnsName, value: &str) {
        let mut values = self.served(name).await;
        values.push(value.to_string());
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        self.fake
            .seed_txt(&self.zone_id, name.as_str(), 300, &refs)
            .expect("plant a foreign value");
    }

    fn bad_credentials(&self) -> Support<ErrorProbe> {
        let s = Route53Settings {
            secret_access_key: Some(Secret::new("wrong-secret-value")),
            ..self.settings()
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
        self.fake.fail_next(Route53Fault::Throttling, 1_000);
        Support::Yes(ErrorProbe::contract(self.provider(), Case::RateLimit))
    }
}

/// The suite against the fake (its tests are `conformance_fake::…`).
pub mod conformance_fake {
    wildcert_conformance::conformance_suite!(crate::subject::OnFake);
}
