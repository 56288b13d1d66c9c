//! Integration tests of the digitalocean provider against its DigitalOcean API fake
//! (providers/digitalocean/tests/fake): the conformance suite, a wildcard + apex certificate
//! issued by Pebble through the fake and a real BIND zone, and DigitalOcean's own traps
//! (pagination at cleanup, 401 vs 403, 429 + Retry-After, TTL ≥ 30, zone lookup).

#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::DigitalOcean);

use std::time::Duration;

use wildcert_conformance::issuance;
use wildcert_digitalocean::{DigitalOceanProvider, DigitalOceanSettings};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};

use crate::fake::{DEFAULT_TOKEN, DoFake, DoFakeOptions, FakeToken, record_id};

const NAME: &str = "_acme-challenge.example.test";

use wildcert_conformance::init_logs;

/// A started fake.
pub fn fake(opts: DoFakeOptions) -> DoFake {
    init_logs();
    DoFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default token.
pub fn settings(fake: &DoFake) -> DigitalOceanSettings {
    DigitalOceanSettings {
        token: Some(Secret::new(DEFAULT_TOKEN)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &DigitalOceanSettings) -> DigitalOceanProvider {
    DigitalOceanProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &DigitalOceanProvider, fqdn: &str) -> Zone {
    p.zone_for(&name(fqdn))
        .await
        .expect("zone_for")
        .expect("a zone")
}

/// Pages of the record list the provider asked for.
fn pages_read(fake: &DoFake) -> Vec<String> {
    let path = "/domains/example.test/records";
    let lists = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == path);
    let page = |q: &[(String, String)]| q.iter().find(|(k, _)| k == "page").map(|p| p.1.clone());
    lists.filter_map(|r| page(&r.query)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_through_the_fake_and_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(DoFakeOptions::backed_by(&topo));
    fake.seed("example.test", "TXT", NAME, "keep-me", 60);
    let env = [
        ("DO_AUTH_TOKEN", DEFAULT_TOKEN.to_string()),
        ("DO_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "digitalocean", &env).await;
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "no record of ours left");
    let dns = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(dns, ["keep-me"]);
}

#[tokio::test]
async fn cleanup_reads_every_page_and_removes_exactly_ours() {
    // DigitalOcean's default page is 20 records; here the fake serves no more than 20 a page
    // whatever `per_page` asks, and 45 foreign values sit at the same name.
    let fake = fake(DoFakeOptions {
        max_per_page: 20,
        ..Default::default()
    });
    for i in 0..45 {
        fake.seed("example.test", "TXT", NAME, &format!("foreign-{i:02}"), 60);
    }
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let ours = set(&[(NAME, "ours-wildcard"), (NAME, "ours-apex")]);
    p.publish(&zone, &ours).await.expect("publish");
    let all = fake.records("example.test");
    assert_eq!(all.len(), 47);
    // Ours are the newest, on the third page: a cleanup reading one page would leak both.
    let first_page: Vec<u64> = all.iter().take(20).map(record_id).collect();
    let ours_ids: Vec<u64> = all
        .iter()
        .filter(|r| r.content.starts_with("ours"))
        .map(record_id)
        .collect();
    assert!(ours_ids.iter().all(|id| !first_page.contains(id)));
    fake.clear_requests();
    p.unpublish(&zone, &ours).await.expect("unpublish");
    assert_eq!(pages_read(&fake), ["1", "2", "3"], "every page read");
    let left = fake.txt_values(NAME);
    assert_eq!(left.len(), 45, "{left:?}");
    assert!(left.iter().all(|v| v.starts_with("foreign-")));
    assert_eq!(
        fake.count_prefix("DELETE", "/domains/example.test/records/"),
        2
    );
    // Publishing reads every page too: a value on page 3 is not created twice.
    fake.seed("example.test", "TXT", NAME, "already-there", 60);
    p.publish(&zone, &set(&[(NAME, "already-there")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("POST", "/domains/example.test/records"), 0);
}

#[tokio::test]
async fn ttl_is_at_least_30_and_names_are_relative() {
    let fake = fake(DoFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let mut s = TxtSet::with_ttl(10);
    s.insert(name(NAME), "short");
    s.insert(name("example.test"), "apex");
    p.publish(&zone, &s).await.expect("publish");
    let recs = fake.records("example.test");
    assert!(recs.iter().all(|r| r.ttl == 30), "{recs:?}");
    let bodies: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.body)
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("\"name\":\"_acme-challenge\"")),
        "{bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| b.contains("\"name\":\"@\"")),
        "{bodies:?}"
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(DoFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.clear_requests();
    fake.fail_next_with_429(2);
    let t = std::time::Instant::now();
    p.publish(&zone, &set(&[(NAME, "after-429")]))
        .await
        .expect("publish after 429s");
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "Retry-After: 1 honoured twice"
    );
    assert_eq!(fake.txt_values(NAME), ["after-429"]);
    let limited = fake.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, 2);
}

#[tokio::test]
async fn unknown_token_and_missing_scope_are_told_apart() {
    let read_only = "dop_v1_readonly";
    let fake = fake(DoFakeOptions {
        tokens: vec![
            FakeToken::full(DEFAULT_TOKEN),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(read_only)
            },
        ],
        ..Default::default()
    });
    let unknown = provider(&DigitalOceanSettings {
        token: Some(Secret::new("dop_v1_s3cret_unknown")),
        ..settings(&fake)
    });
    let e = unknown.zone_for(&name(NAME)).await.expect_err("401");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("401") && text.contains("DO_AUTH_TOKEN"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    let ro = provider(&DigitalOceanSettings {
        token: Some(Secret::new(read_only)),
        ..settings(&fake)
    });
    let zone = zone_of(&ro, NAME).await;
    let e = ro
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("403");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    assert!(
        e.to_string().contains("403") && e.to_string().contains("domain:update"),
        "{e}"
    );
    assert!(fake.txt_values(NAME).is_empty());
}

#[tokio::test]
async fn longest_visible_domain_across_pages_and_names_only_when_missing() {
    let mut zones: Vec<String> = (0..25).map(|i| format!("z{i:02}.test")).collect();
    zones.extend([
        "example.test".into(),
        "sub.example.test".into(),
        "hidden.test".into(),
    ]);
    let visible: Vec<String> = zones
        .iter()
        .filter(|z| *z != "hidden.test")
        .cloned()
        .collect();
    let fake = fake(DoFakeOptions {
        zones,
        tokens: vec![FakeToken {
            zones: Some(visible),
            ..FakeToken::full(DEFAULT_TOKEN)
        }],
        max_per_page: 20,
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let z = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(z.name, name("sub.example.test"));
    assert_eq!(zone_of(&p, NAME).await.name, name("example.test"));
    let lists = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/domains")
        .count();
    assert_eq!(lists, 4, "two pages per lookup (28 domains, 20 a page)");
    let e = p
        .zone_for(&name("_acme-challenge.hidden.test"))
        .await
        .expect_err("hidden");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("hidden.test") && text.contains("example.test") && text.contains("in all"),
        "{text}"
    );
    assert!(!text.contains(DEFAULT_TOKEN));
}

#[tokio::test]
async fn zone_setting_skips_the_lookup() {
    let fake = fake(DoFakeOptions::default());
    let p = provider(&DigitalOceanSettings {
        zone: Some("example.test".into()),
        ..settings(&fake)
    });
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("GET", "/domains"), 0);
    let e = p
        .zone_for(&name("_acme-challenge.other.test"))
        .await
        .expect_err("outside");
    assert!(e.to_string().contains("DO_ZONE"), "{e}");
    let gone = Zone::new(name("gone.test"));
    let e = p
        .publish(&gone, &set(&[("_acme-challenge.gone.test", "v")]))
        .await
        .expect_err("404");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
}
