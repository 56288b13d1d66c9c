//! Integration tests of the infomaniak provider against its API v1 fake
//! (providers/infomaniak/tests/fake, on the kit's router), once backed by a real BIND zone with
//! Pebble validating a wildcard + apex certificate through it. The provider contract is the
//! conformance suite (`cargo test -p wildcert-infomaniak --test it conformance`); the tests here
//! are Infomaniak's own: one record per value, the longest domain of the account, 429, a token
//! without the domain scope (403) told apart from an unknown one (401), other accounts' domains.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Infomaniak);

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_infomaniak::{InfomaniakProvider, InfomaniakSettings};

use crate::fake::{DEFAULT_TOKEN, FakeToken, InfomaniakFake, InfomaniakFakeOptions};

const NAME: &str = "_acme-challenge.example.test";

/// A started fake.
pub fn fake(opts: InfomaniakFakeOptions) -> InfomaniakFake {
    init_logs();
    InfomaniakFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default token.
pub fn settings(fake: &InfomaniakFake) -> InfomaniakSettings {
    InfomaniakSettings {
        token: Some(Secret::new(DEFAULT_TOKEN)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &InfomaniakSettings) -> InfomaniakProvider {
    InfomaniakProvider::new(s).expect("valid settings")
}

fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("valid name")
}

fn set(pairs: &[(&str, &str)]) -> TxtSet {
    let mut s = TxtSet::with_ttl(300);
    for (n, v) in pairs {
        s.insert(name(n), *v);
    }
    s
}

async fn zone_of(p: &InfomaniakProvider, fqdn: &str) -> Zone {
    let zone = p.zone_for(&name(fqdn)).await.expect("zone_for");
    zone.expect("a zone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_issued_through_the_fake_and_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(InfomaniakFakeOptions::backed_by(&topo));
    fake.seed_record("example.test", "TXT", NAME, "keep-me", 3600)
        .expect("foreign value");
    let env = [
        ("INFOMANIAK_ACCESS_TOKEN", DEFAULT_TOKEN.to_string()),
        ("INFOMANIAK_ENDPOINT", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "infomaniak", &env).await;
    assert!(
        fake.count_prefix("POST", "/domain/") >= 2,
        "one POST per value"
    );
    assert!(
        fake.count_prefix("DELETE", "/domain/") >= 2,
        "one DELETE per value"
    );
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "the foreign value kept");
    let served = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(served, ["keep-me"]);
}

#[tokio::test]
async fn one_record_per_value_in_the_longest_domain() {
    let fake = fake(InfomaniakFakeOptions {
        zones: vec!["example.test".into(), "sub.example.test".into()],
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let sub = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(sub.name, name("sub.example.test"), "the longest domain");
    let zone = zone_of(&p, NAME).await;
    assert_eq!(zone.name, name("example.test"));
    fake.seed_record("example.test", "TXT", NAME, "foreign", 3600)
        .expect("seed");
    let values = set(&[(NAME, "a"), (NAME, "b"), ("example.test", "apex")]);
    p.publish(&zone, &values).await.expect("publish");
    assert_eq!(fake.txt_values(NAME), ["a", "b", "foreign"]);
    assert_eq!(fake.txt_values("example.test"), ["apex"]);
    assert_eq!(fake.count_prefix("POST", "/domain/"), 3);
    p.publish(&zone, &values).await.expect("again");
    assert_eq!(
        fake.count_prefix("POST", "/domain/"),
        3,
        "nothing created twice"
    );
    p.unpublish(&zone, &values).await.expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["foreign"]);
    assert!(fake.txt_values("example.test").is_empty());
    assert_eq!(fake.count_prefix("DELETE", "/domain/"), 3);
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(InfomaniakFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.fail_next(2, crate::fake::rate_limited(1));
    p.publish(&zone, &set(&[(NAME, "after-429")]))
        .await
        .expect("publish after 429s");
    assert_eq!(fake.count_where(|r| r.status == 429), 2);
    assert_eq!(fake.txt_values(NAME), ["after-429"]);
}

#[tokio::test]
async fn tokens_and_zones_errors_say_what_to_fix() {
    let no_scope = "infomaniakTokenWithoutDomainScope";
    let other = "infomaniakTokenOfAnotherAccount";
    let mut opts = InfomaniakFakeOptions {
        zones: vec!["example.test".into(), "other.test".into(), "z.test".into()],
        ..Default::default()
    };
    opts.tokens.push(FakeToken {
        dns_edit: false,
        ..FakeToken::full(no_scope)
    });
    opts.tokens.push(FakeToken {
        zones: Some(vec!["other.test".into(), "z.test".into()]),
        ..FakeToken::full(other)
    });
    let fake = fake(opts);
    let with = |t: &str| {
        provider(&InfomaniakSettings {
            token: Some(Secret::new(t)),
            ..settings(&fake)
        })
    };
    let err = with("unknown-s3cret")
        .zone_for(&name(NAME))
        .await
        .expect_err("401");
    let text = err.to_string();
    assert!(matches!(err, ProviderError::Auth { .. }), "{text}");
    assert!(
        text.contains("INFOMANIAK_ACCESS_TOKEN") && !text.contains("s3cret"),
        "{text}"
    );
    let err = with(no_scope).zone_for(&name(NAME)).await.expect_err("403");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::Auth { .. }) && text.contains("scope"),
        "{text}"
    );
    let err = with(other)
        .zone_for(&name(NAME))
        .await
        .expect_err("not here");
    let text = err.to_string();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{text}");
    assert!(text.contains("other.test, z.test"), "{text}");
}
