//! Integration tests of the bunny provider against its Bunny DNS API fake
//! (providers/bunny/tests/fake): the conformance suite, a wildcard + apex certificate issued by
//! Pebble through the fake and a real BIND zone, and Bunny's own traps (delegated sub-zones,
//! the zone list across pages, records by zone id, 401, 429 + Retry-After, TTL ≥ 60).

#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Bunny);

use std::time::Duration;

use wildcert_bunny::{BunnyProvider, BunnySettings};
use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};

use crate::fake::{API_KEY, BunnyFake, BunnyFakeOptions};

const NAME: &str = "_acme-challenge.example.test";

/// A started fake.
pub fn fake(opts: BunnyFakeOptions) -> BunnyFake {
    init_logs();
    BunnyFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default key.
pub fn settings(fake: &BunnyFake) -> BunnySettings {
    BunnySettings {
        api_key: Some(Secret::new(API_KEY)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &BunnySettings) -> BunnyProvider {
    BunnyProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &BunnyProvider, fqdn: &str) -> Zone {
    p.zone_for(&name(fqdn))
        .await
        .expect("zone_for")
        .expect("a zone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_through_the_fake_and_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(BunnyFakeOptions::backed_by(&topo));
    fake.seed("example.test", "TXT", NAME, "keep-me", 60);
    let env = [
        ("BUNNY_API_KEY", API_KEY.to_string()),
        ("BUNNY_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "bunny", &env).await;
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "no record of ours left");
    let dns = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(dns, ["keep-me"]);
}

#[tokio::test]
async fn a_delegated_sub_zone_gets_its_own_records() {
    let fake = fake(BunnyFakeOptions {
        zones: vec!["example.test".into(), "sub.example.test".into()],
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let deep = "_acme-challenge.www.sub.example.test";
    let z = zone_of(&p, deep).await;
    assert_eq!(z.name, name("sub.example.test"));
    let sub_id = fake.zone_int_id("sub.example.test").to_string();
    assert_eq!(z.provider_id.as_deref(), Some(sub_id.as_str()));
    p.publish(&z, &set(&[(deep, "in-sub")]))
        .await
        .expect("publish");
    let recs = fake.records("sub.example.test");
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert!(
        fake.records("example.test").is_empty(),
        "nothing in the parent zone"
    );
    let body = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("PUT")
        .body;
    assert!(
        body.contains("\"Name\":\"_acme-challenge.www\"") && body.contains("\"Type\":3"),
        "{body}"
    );
    assert_eq!(zone_of(&p, NAME).await.name, name("example.test"));
    p.unpublish(&z, &set(&[(deep, "in-sub")]))
        .await
        .expect("unpublish");
    assert!(fake.txt_values(deep).is_empty());
}

#[tokio::test]
async fn one_read_per_call_and_cleanup_deletes_exactly_ours_by_id() {
    let fake = fake(BunnyFakeOptions::default());
    fake.seed("example.test", "TXT", NAME, "foreign", 60);
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let id = fake.zone_int_id("example.test");
    fake.clear_requests();
    let ours = set(&[
        (NAME, "ours-wildcard"),
        ("example.test", "ours-apex"),
        (NAME, "foreign"),
    ]);
    p.publish(&zone, &ours).await.expect("publish");
    assert_eq!(fake.count("GET", &format!("/dnszone/{id}")), 1);
    assert_eq!(
        fake.count("PUT", &format!("/dnszone/{id}/records")),
        2,
        "only the missing values"
    );
    p.publish(&zone, &ours).await.expect("again");
    assert_eq!(
        fake.count("PUT", &format!("/dnszone/{id}/records")),
        2,
        "no duplicate"
    );
    let apex: Vec<String> = fake.txt_values("example.test");
    assert_eq!(apex, ["ours-apex"]);
    p.unpublish(
        &zone,
        &set(&[(NAME, "ours-wildcard"), ("example.test", "ours-apex")]),
    )
    .await
    .expect("unpublish");
    assert_eq!(
        fake.count_prefix("DELETE", &format!("/dnszone/{id}/records/")),
        2
    );
    assert_eq!(fake.txt_values(NAME), ["foreign"]);
    assert!(fake.txt_values("example.test").is_empty());
}

#[tokio::test]
async fn the_zone_list_is_read_across_pages_and_named_when_missing() {
    let mut zones: Vec<String> = (0..1003).map(|i| format!("z{i:04}.test")).collect();
    zones.push("zz-last.test".into());
    let fake = fake(BunnyFakeOptions {
        zones,
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let z = zone_of(&p, "_acme-challenge.zz-last.test").await;
    assert_eq!(z.name, name("zz-last.test"), "on the second page");
    assert_eq!(fake.count("GET", "/dnszone"), 2);
    let e = p
        .zone_for(&name("_acme-challenge.elsewhere.test"))
        .await
        .expect_err("missing");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("elsewhere.test") && text.contains("z0000.test") && text.contains("in all"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_key_rate_limit_and_ttl() {
    let fake = fake(BunnyFakeOptions::default());
    let bad = provider(&BunnySettings {
        api_key: Some(Secret::new("s3cret-unknown")),
        ..settings(&fake)
    });
    let e = bad.zone_for(&name(NAME)).await.expect_err("401");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    assert!(
        e.to_string().contains("BUNNY_API_KEY") && !e.to_string().contains("s3cret"),
        "{e}"
    );
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.fail_next_with_429(2);
    let t = std::time::Instant::now();
    let mut s = TxtSet::with_ttl(10);
    s.insert(name(NAME), "after-429");
    p.publish(&zone, &s).await.expect("publish after 429s");
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "Retry-After: 1 honoured twice"
    );
    let recs = fake.records("example.test");
    assert!(recs.len() == 1 && recs[0].ttl == 60, "{recs:?}");
    let gone = Zone {
        provider_id: Some("999999".into()),
        name: name("gone.test"),
    };
    let e = p
        .publish(&gone, &set(&[("_acme-challenge.gone.test", "v")]))
        .await
        .expect_err("404");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
}
