//! Integration tests of the gandiv5 provider against its LiveDNS fake
//! (providers/gandiv5/tests/fake, on the kit's router), once backed by a real BIND zone with
//! Pebble validating a wildcard + apex certificate through it. The provider contract is the
//! conformance suite (`cargo test -p wildcert-gandiv5 --test it conformance`); the tests here
//! are Gandi's own: the whole-RRset PUT merged, never overwritten; stored forms kept; the
//! domain list beyond one page; 429; tokens, retired API keys and zone errors.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::GandiV5);

use std::time::Duration;

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_gandiv5::{GandiV5Provider, GandiV5Settings};

use crate::fake::{DEFAULT_TOKEN, FakeToken, GandiFake, GandiFakeOptions};

const NAME: &str = "_acme-challenge.example.test";
const RRSET: &str = "/domains/example.test/records/_acme-challenge/TXT";

/// A started fake.
pub fn fake(opts: GandiFakeOptions) -> GandiFake {
    init_logs();
    GandiFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default token.
pub fn settings(fake: &GandiFake) -> GandiV5Settings {
    GandiV5Settings {
        token: Some(Secret::new(DEFAULT_TOKEN)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &GandiV5Settings) -> GandiV5Provider {
    GandiV5Provider::new(s).expect("valid settings")
}

fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("valid name")
}

fn set(pairs: &[(&str, &str)]) -> TxtSet {
    let mut s = TxtSet::new();
    for (n, v) in pairs {
        s.insert(name(n), *v);
    }
    s
}

async fn zone_of(p: &GandiV5Provider, fqdn: &str) -> Zone {
    p.zone_for(&name(fqdn))
        .await
        .expect("zone_for")
        .expect("a zone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_issued_through_the_fake_and_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(GandiFakeOptions::backed_by(&topo));
    fake.seed_record("example.test", "TXT", NAME, "\"keep-me\"", 300)
        .expect("foreign value");
    let env = [
        ("GANDIV5_PERSONAL_ACCESS_TOKEN", DEFAULT_TOKEN.to_string()),
        ("GANDIV5_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "gandiv5", &env).await;
    assert!(
        fake.count("PUT", RRSET) >= 2,
        "published and cleaned up by PUT"
    );
    assert_eq!(
        fake.txt_values(NAME),
        ["keep-me"],
        "no record left, the foreign one kept"
    );
    assert_eq!(
        topo.txt_values(topo.primary_addr(), NAME).expect("dig"),
        ["keep-me"]
    );
}

#[tokio::test]
async fn the_whole_rrset_put_is_merged_never_overwritten() {
    let fake = fake(GandiFakeOptions::default());
    fake.seed_record("example.test", "TXT", NAME, "\"foreign\"", 3600)
        .expect("seed");
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let values = set(&[
        (NAME, "wildcard-token"),
        (NAME, "apex-token"),
        ("_acme-challenge.www.example.test", "www"),
    ]);
    p.publish(&zone, &values).await.expect("publish");
    assert_eq!(
        fake.txt_values(NAME),
        ["apex-token", "foreign", "wildcard-token"]
    );
    assert_eq!(fake.txt_values("_acme-challenge.www.example.test"), ["www"]);
    assert_eq!(fake.count("PUT", RRSET), 1, "one PUT per name");
    assert_eq!(
        fake.ttl_of(NAME, "TXT"),
        Some(3600),
        "the RRset keeps its TTL"
    );
    assert_eq!(
        fake.ttl_of("_acme-challenge.www.example.test", "TXT"),
        Some(300),
        "a new RRset gets at least Gandi's 300 s"
    );
    p.publish(&zone, &values).await.expect("publish again");
    assert_eq!(
        fake.count_prefix("PUT", "/domains/"),
        2,
        "nothing written twice"
    );
    p.unpublish(&zone, &values).await.expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["foreign"]);
    assert!(
        fake.txt_values("_acme-challenge.www.example.test")
            .is_empty()
    );
    assert_eq!(
        fake.count(
            "DELETE",
            "/domains/example.test/records/_acme-challenge.www/TXT"
        ),
        1,
        "an RRset left empty is deleted"
    );
    p.unpublish(&zone, &values)
        .await
        .expect("removing values that are gone");
    assert_eq!(fake.count_prefix("DELETE", "/domains/"), 1);
}

#[tokio::test]
async fn foreign_values_are_written_back_as_stored() {
    // A long value split into strings, and one our unquote reads as ours but stored unquoted.
    let fake = fake(GandiFakeOptions::default());
    let split = "\"v=DKIM1; k=rsa; p=MIIB\" \"IjANBgkq\"";
    fake.seed_record("example.test", "TXT", NAME, split, 300)
        .expect("seed");
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "ours")]))
        .await
        .expect("publish");
    let body = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .map(|r| r.body)
        .expect("a PUT");
    let sent: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(sent["rrset_values"], serde_json::json!([split, "\"ours\""]));
    p.unpublish(&zone, &set(&[(NAME, "ours")]))
        .await
        .expect("unpublish");
    let contents: Vec<String> = fake
        .records("example.test")
        .into_iter()
        .map(|r| r.content)
        .collect();
    assert_eq!(contents, [split]);
}

#[tokio::test]
async fn domains_beyond_one_page_and_the_longest_wins() {
    let mut zones: Vec<String> = (0..130).map(|i| format!("z{i:03}.test")).collect();
    zones.extend(["example.test".to_string(), "sub.example.test".to_string()]);
    let fake = fake(GandiFakeOptions {
        zones,
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let sub = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(sub.name, name("sub.example.test"), "the longest domain");
    let page2 = |r: &wildcert_testkit::Audited| {
        r.path == "/domains" && r.query.iter().any(|(k, v)| k == "page" && v == "2")
    };
    assert_eq!(fake.count_where(page2), 1, "the second page read");
    assert_eq!(
        fake.count("GET", "/domains"),
        2,
        "and no more: Total-Count reached"
    );
    assert_eq!(zone_of(&p, NAME).await.name, name("example.test"));
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(GandiFakeOptions::default());
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
async fn tokens_keys_and_zones_errors_say_what_to_fix() {
    let read_only = "pat_wildcert-fake-gandi-token-without-records-permission";
    let other_org = "pat_wildcert-fake-gandi-token-of-another-organization";
    let fake = fake(GandiFakeOptions {
        zones: vec!["example.test".into(), "other.test".into(), "z.test".into()],
        api_keys: vec!["StillValidKey0000000001".into()],
        ..Default::default()
    });
    fake.add_token(FakeToken {
        dns_edit: false,
        ..FakeToken::full(read_only)
    });
    fake.add_token(FakeToken {
        zones: Some(vec!["other.test".into(), "z.test".into()]),
        ..FakeToken::full(other_org)
    });
    let with = |token: Option<&str>, key: Option<&str>| {
        provider(&GandiV5Settings {
            token: token.map(Secret::new),
            api_key: key.map(Secret::new),
            ..settings(&fake)
        })
    };
    let err = with(Some("pat_unknown-s3cret"), None)
        .zone_for(&name(NAME))
        .await
        .expect_err("401");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::Auth { .. })
            && text.contains("GANDIV5_PERSONAL_ACCESS_TOKEN")
            && !text.contains("s3cret"),
        "{text}"
    );
    // The trap: an old API key is refused with 403.
    let err = with(None, Some("RetiredKey00000000000001"))
        .zone_for(&name(NAME))
        .await
        .expect_err("403");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::Auth { .. })
            && text.contains("deprecated")
            && text.contains("personal access token")
            && !text.contains("RetiredKey"),
        "{text}"
    );
    let key = with(None, Some("StillValidKey0000000001"));
    let zone = zone_of(&key, NAME).await;
    key.publish(&zone, &set(&[(NAME, "by-key")]))
        .await
        .expect("a valid key works");
    let auth = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .map(|r| r.principal);
    assert_eq!(auth, Some(Some("key".into())), "sent as `Apikey`");
    let ro = with(Some(read_only), None);
    let zone = zone_of(&ro, NAME).await;
    let err = ro
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("read-only");
    assert!(
        matches!(err, ProviderError::Auth { .. }) && err.to_string().contains("Manage domain name"),
        "{err}"
    );
    let err = with(Some(other_org), None)
        .zone_for(&name(NAME))
        .await
        .expect_err("not in this organization");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::ZoneNotFound { .. }) && text.contains("other.test, z.test"),
        "{text}"
    );
    // An explicit zone: no lookup; one the token cannot see is a zone error at the first write.
    let p = GandiV5Provider::new(&GandiV5Settings {
        zone: Some("example.test".into()),
        sharing_id: Some("org-1".into()),
        ..settings(&fake)
    })
    .expect("valid");
    fake.clear_requests();
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "explicit")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("GET", "/domains"), 0);
    let shared = |r: &wildcert_testkit::Audited| {
        r.query
            .iter()
            .any(|(k, v)| k == "sharing_id" && v == "org-1")
    };
    assert_eq!(
        fake.count_where(shared),
        fake.requests().len(),
        "sharing_id on every request"
    );
    assert!(
        p.zone_for(&name("_acme-challenge.z.test"))
            .await
            .is_err_and(|e| e.to_string().contains("GANDIV5_ZONE"))
    );
    let blind = provider(&GandiV5Settings {
        token: Some(Secret::new(other_org)),
        zone: Some("example.test".into()),
        ..settings(&fake)
    });
    let err = blind
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("404");
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
}

#[tokio::test]
async fn lego_tuning_reaches_the_pipeline() {
    let fake = fake(GandiFakeOptions::default());
    let p = provider(&settings(&fake));
    let t = p.tuning();
    assert_eq!(t.propagation_timeout, Some(Duration::from_secs(1200)));
    assert_eq!(t.ttl, Some(300));
    assert_eq!(
        p.credential_source().as_deref(),
        Some("personal access token")
    );
}
