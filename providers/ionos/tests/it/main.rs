//! Integration tests of the ionos provider against its IONOS DNS API fake
//! (providers/ionos/tests/fake): the conformance suite, a wildcard + apex certificate issued by
//! Pebble through the fake and a real BIND zone, and IONOS's own traps (TXT content shown
//! quoted but taken unquoted, one `POST` of an array per zone, an unpaged zone read whole at
//! cleanup, 401 and 403 both saying API access must be enabled, 429 + Retry-After, zone lookup,
//! the 900 s propagation default).

#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Ionos);

use std::time::Duration;

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_ionos::{IonosProvider, IonosSettings};

use crate::fake::{DEFAULT_KEY, FakeToken, IonosFake, IonosFakeOptions};

const NAME: &str = "_acme-challenge.example.test";

/// A started fake.
pub fn fake(opts: IonosFakeOptions) -> IonosFake {
    init_logs();
    IonosFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default key.
pub fn settings(fake: &IonosFake) -> IonosSettings {
    IonosSettings {
        api_key: Some(Secret::new(DEFAULT_KEY)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &IonosSettings) -> IonosProvider {
    IonosProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &IonosProvider, fqdn: &str) -> Zone {
    p.zone_for(&name(fqdn))
        .await
        .expect("zone_for")
        .expect("a zone")
}

fn records_path(fake: &IonosFake) -> String {
    format!("/v1/zones/{}/records", fake.zone_uuid("example.test"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_through_the_fake_and_bind() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(IonosFakeOptions::backed_by(&topo));
    fake.seed("example.test", "TXT", NAME, "keep-me", 60);
    let env = [
        ("IONOS_API_KEY", DEFAULT_KEY.to_string()),
        ("IONOS_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "ionos", &env).await;
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "no record of ours left");
    let dns = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(dns, ["keep-me"]);
}

#[tokio::test]
async fn one_post_per_zone_unquoted_content_full_names() {
    let fake = fake(IonosFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    // IONOS shows this value quoted; it is recognised as there already.
    fake.seed("example.test", "TXT", NAME, "there", 60);
    let raw = fake.records("example.test");
    assert_eq!(raw[0].content, "\"there\"", "IONOS keeps TXT quoted");
    let mut s = TxtSet::with_ttl(30);
    s.insert(name(NAME), "sub");
    s.insert(name(NAME), "there");
    s.insert(name("example.test"), "apex");
    fake.clear_requests();
    p.publish(&zone, &s).await.expect("publish");
    let posts: Vec<serde_json::Value> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| serde_json::from_str(&r.body).expect("json body"))
        .collect();
    assert_eq!(posts.len(), 1, "one POST for the zone: {posts:?}");
    let body = posts[0].as_array().expect("an array");
    assert_eq!(body.len(), 2, "{body:?}");
    let posted = |n: &str| body.iter().find(|b| b["name"] == n).cloned();
    let sub = posted(NAME).expect("full name");
    assert_eq!(sub["content"], "sub", "sent unquoted");
    assert_eq!(sub["ttl"], 60, "raised to IONOS's smallest TTL");
    assert_eq!(posted("example.test").expect("apex")["content"], "apex");
    assert_eq!(fake.txt_values(NAME), ["sub", "there"]);
    p.unpublish(&zone, &s).await.expect("unpublish");
    assert!(fake.txt_values(NAME).is_empty() && fake.txt_values("example.test").is_empty());
}

#[tokio::test]
async fn large_zone_cleanup_removes_exactly_ours_in_batches() {
    let fake = fake(IonosFakeOptions::default());
    for i in 0..120 {
        fake.seed("example.test", "TXT", NAME, &format!("foreign-{i:03}"), 60);
        fake.seed(
            "example.test",
            "A",
            &format!("h{i}.example.test"),
            "192.0.2.1",
            60,
        );
    }
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let mut ours = TxtSet::new();
    for i in 0..150 {
        ours.insert(
            name(&format!("_acme-challenge.n{i}.example.test")),
            format!("v{i}"),
        );
    }
    ours.insert(name(NAME), "ours");
    fake.clear_requests();
    p.publish(&zone, &ours).await.expect("publish");
    assert_eq!(
        fake.count("POST", &records_path(&fake)),
        2,
        "151 records: two batches"
    );
    let reads = fake.requests().into_iter().filter(|r| r.method == "GET");
    let queries: Vec<_> = reads.map(|r| r.query).collect();
    assert_eq!(queries.len(), 1, "the zone read once");
    assert!(
        queries[0]
            .iter()
            .any(|(k, v)| k == "recordType" && v == "TXT")
    );
    fake.clear_requests();
    p.unpublish(&zone, &ours).await.expect("unpublish");
    let prefix = format!("{}/", records_path(&fake));
    assert_eq!(fake.count_prefix("DELETE", &prefix), 151);
    let left = fake.txt_values(NAME);
    assert_eq!(left.len(), 120, "{left:?}");
    assert!(left.iter().all(|v| v.starts_with("foreign-")));
    assert_eq!(fake.records("example.test").len(), 240);
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(IonosFakeOptions::default());
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
    assert_eq!(
        fake.requests().iter().filter(|r| r.status == 429).count(),
        2
    );
}

#[tokio::test]
async fn unknown_key_and_key_without_api_access_are_told_apart() {
    let no_api = "fedcba9876543210fedcba9876543210.NOAPIACCESSSECRET";
    let fake = fake(IonosFakeOptions {
        tokens: vec![
            FakeToken::full(DEFAULT_KEY),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(no_api)
            },
        ],
        ..Default::default()
    });
    let unknown = provider(&IonosSettings {
        api_key: Some(Secret::new("abcd.S3CRETUNKNOWN")),
        ..settings(&fake)
    });
    let e = unknown.zone_for(&name(NAME)).await.expect_err("401");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("401 UNAUTHORIZED") && text.contains("IONOS_API_KEY"),
        "{text}"
    );
    assert!(
        text.contains("<public prefix>.<secret>") && text.contains("API access must be enabled")
    );
    assert!(!text.contains("S3CRET"), "{text}");
    let e = provider(&IonosSettings {
        api_key: Some(Secret::new(no_api)),
        ..settings(&fake)
    })
    .zone_for(&name(NAME))
    .await
    .expect_err("403");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("403 FORBIDDEN") && text.contains("API access must be enabled"),
        "{text}"
    );
    assert!(
        !text.contains("NOAPIACCESS") && !text.contains("IONOS_API_KEY must"),
        "{text}"
    );
    let hint = wildcert_ionos::KIND.hints;
    assert!(format!("{hint:?}").contains("API access"), "{hint:?}");
}

#[tokio::test]
async fn longest_zone_and_names_only_when_missing() {
    let zones = [
        "example.test",
        "sub.example.test",
        "other-account.test",
        "a.test",
    ];
    let visible = vec![
        "example.test".into(),
        "sub.example.test".into(),
        "a.test".into(),
    ];
    let fake = fake(IonosFakeOptions {
        zones: zones.iter().map(|z| z.to_string()).collect(),
        tokens: vec![FakeToken {
            zones: Some(visible),
            ..FakeToken::full(DEFAULT_KEY)
        }],
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let z = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(z.name, name("sub.example.test"));
    assert_eq!(
        z.provider_id.as_deref(),
        Some(fake.zone_uuid("sub.example.test").as_str())
    );
    assert_eq!(zone_of(&p, NAME).await.name, name("example.test"));
    let e = p
        .zone_for(&name("_acme-challenge.other-account.test"))
        .await
        .expect_err("not in this account");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    let text = e.to_string();
    let listed = text.split("it has: ").nth(1).unwrap_or_default();
    assert_eq!(listed, "a.test, example.test, sub.example.test", "{text}");
    assert!(!text.contains(DEFAULT_KEY), "{text}");
}

#[tokio::test]
async fn zone_setting_and_a_zone_that_is_gone() {
    let fake = fake(IonosFakeOptions {
        zones: vec!["example.test".into(), "sub.example.test".into()],
        ..Default::default()
    });
    let p = provider(&IonosSettings {
        zone: Some("example.test".into()),
        ..settings(&fake)
    });
    // The explicit zone wins over the longer sub.example.test.
    let zone = zone_of(&p, "_acme-challenge.sub.example.test").await;
    assert_eq!(zone.name, name("example.test"));
    let e = p
        .zone_for(&name("_acme-challenge.other.test"))
        .await
        .expect_err("outside");
    assert!(e.to_string().contains("IONOS_ZONE"), "{e}");
    // A zone found through DNS (no id) is looked up by name; one IONOS lacks is ZoneNotFound.
    let by_dns = Zone::new(name("example.test"));
    p.publish(&by_dns, &set(&[(NAME, "v")]))
        .await
        .expect("publish");
    assert_eq!(fake.txt_values(NAME), ["v"]);
    let gone = Zone::new(name("gone.test"));
    let e = p
        .publish(&gone, &set(&[("_acme-challenge.gone.test", "v")]))
        .await
        .expect_err("no such zone");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    let stale = Zone {
        provider_id: Some("00000000-0000-0000-0000-000000000000".into()),
        name: name("example.test"),
    };
    let e = p
        .publish(&stale, &set(&[(NAME, "w")]))
        .await
        .expect_err("404");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("ZONE_NOT_FOUND"), "{e}");
}
