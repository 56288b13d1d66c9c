//! Integration tests of the httpreq provider against a fake in-house service
//! (providers/httpreq/tests/fake, on the kit's router), once backed by a real BIND zone with
//! Pebble validating a wildcard + apex certificate through it, and once driven by lego itself.
//! The provider contract is the conformance suite (`cargo test -p wildcert-httpreq --test it
//! conformance`); the tests here are httpreq's own: the body lego sends, basic authentication,
//! the service's refusals.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod lego;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Httpreq);

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_httpreq::{HttpreqProvider, HttpreqSettings};

use crate::fake::{HttpreqFake, HttpreqFakeOptions};

const NAME: &str = "_acme-challenge.example.test";
/// The service's basic-authentication user and password.
pub const USER: &str = "acme";
/// See [`USER`].
pub const PASSWORD: &str = "hook-pw-0001";

/// A started service.
pub fn fake(opts: HttpreqFakeOptions) -> HttpreqFake {
    init_logs();
    HttpreqFake::start(opts).expect("fake starts")
}

/// Settings for the service, with its credentials.
pub fn settings(fake: &HttpreqFake) -> HttpreqSettings {
    HttpreqSettings {
        endpoint: Some(fake.endpoint()),
        username: Some(USER.into()),
        password: Some(Secret::new(PASSWORD)),
        ..Default::default()
    }
}

fn provider(s: &HttpreqSettings) -> HttpreqProvider {
    HttpreqProvider::new(s).expect("valid settings")
}

fn set(pairs: &[(&str, &str)]) -> TxtSet {
    let mut s = TxtSet::new();
    for (n, v) in pairs {
        s.insert(DnsName::parse(n).expect("name"), *v);
    }
    s
}

fn zone() -> Zone {
    Zone::new(DnsName::parse("example.test").expect("name"))
}

fn with_auth() -> HttpreqFakeOptions {
    HttpreqFakeOptions {
        basic: Some((USER.into(), PASSWORD.into())),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_issued_through_the_service_and_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(HttpreqFakeOptions {
        basic: Some((USER.into(), PASSWORD.into())),
        ..HttpreqFakeOptions::backed_by(&topo)
    });
    fake.seed_record("example.test", "TXT", NAME, "keep-me", 300)
        .expect("foreign value");
    let env = [
        ("HTTPREQ_ENDPOINT", fake.endpoint()),
        ("HTTPREQ_USERNAME", USER.to_string()),
        ("HTTPREQ_PASSWORD", PASSWORD.to_string()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "httpreq", &env).await;
    assert_eq!(fake.txt_values(NAME), ["keep-me"]);
    assert_eq!(
        topo.txt_values(topo.primary_addr(), NAME).expect("dig"),
        ["keep-me"]
    );
    assert_eq!(fake.count("POST", "/present"), 2);
    assert_eq!(fake.count("POST", "/cleanup"), 2);
}

#[tokio::test]
async fn the_body_and_credentials_are_lego_s() {
    let fake = fake(with_auth());
    let p = provider(&settings(&fake));
    let values = set(&[(NAME, "wildcard"), (NAME, "apex")]);
    p.publish(&zone(), &values).await.expect("present");
    assert_eq!(fake.txt_values(NAME), ["apex", "wildcard"]);
    let sent = fake.requests();
    let bodies: Vec<serde_json::Value> = sent
        .iter()
        .map(|r| serde_json::from_str(&r.body).expect("JSON body"))
        .collect();
    assert_eq!(
        bodies,
        [
            serde_json::json!({ "fqdn": "_acme-challenge.example.test.", "value": "apex" }),
            serde_json::json!({ "fqdn": "_acme-challenge.example.test.", "value": "wildcard" }),
        ]
    );
    assert!(sent.iter().all(|r| r.principal.as_deref() == Some(USER)));
    let header = |r: &wildcert_testkit::Audited, k: &str| {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|h| h.1.clone())
    };
    assert_eq!(
        header(&sent[0], "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        header(&sent[0], "authorization").as_deref(),
        Some("<redacted>")
    );
    p.unpublish(&zone(), &set(&[(NAME, "wildcard")]))
        .await
        .expect("cleanup");
    assert_eq!(fake.txt_values(NAME), ["apex"]);
    assert_eq!(fake.count("POST", "/cleanup"), 1);
    // Without credentials configured, nothing is sent in an Authorization header.
    let open = self::fake(HttpreqFakeOptions::default());
    let p = provider(&HttpreqSettings {
        endpoint: Some(open.endpoint()),
        ..Default::default()
    });
    p.publish(&zone(), &set(&[(NAME, "v")]))
        .await
        .expect("present");
    assert!(
        open.requests()[0]
            .headers
            .iter()
            .all(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
    );
}

#[tokio::test]
async fn refusals_say_what_to_fix() {
    let fake = fake(with_auth());
    let wrong = provider(&HttpreqSettings {
        password: Some(Secret::new("wrong-pw-0002")),
        ..settings(&fake)
    });
    let e = wrong
        .publish(&zone(), &set(&[(NAME, "v")]))
        .await
        .expect_err("401");
    let text = e.to_string();
    assert!(
        matches!(e, ProviderError::Auth { .. })
            && text.contains("HTTPREQ_PASSWORD")
            && !text.contains("wrong-pw-0002"),
        "{text}"
    );
    let p = provider(&settings(&fake));
    let other = Zone::new(DnsName::parse("other.test").expect("name"));
    let e = p
        .publish(&other, &set(&[("_acme-challenge.other.test", "v")]))
        .await
        .expect_err("404");
    assert!(
        matches!(e, ProviderError::ZoneNotFound { .. }) && e.to_string().contains("other.test"),
        "{e}"
    );
    let gone = provider(&HttpreqSettings {
        endpoint: Some(format!("{}/nothing-here", fake.endpoint())),
        ..settings(&fake)
    });
    let e = gone
        .publish(&zone(), &set(&[(NAME, "v")]))
        .await
        .expect_err("no route");
    assert!(
        e.to_string()
            .contains("present of _acme-challenge.example.test"),
        "{e}"
    );
}
