//! Integration tests of the hetzner provider against its Hetzner Cloud API fake
//! (providers/hetzner/tests/fake, on the kit's router), once backed by a real BIND zone with
//! Pebble validating a wildcard + apex certificate through it. The provider contract is the
//! conformance suite (`cargo test -p wildcert-hetzner --test it conformance`); the tests here
//! are Hetzner's own: action polling, never a replace of the RRset, migrated values, paging,
//! 429, token and zone errors.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Hetzner);

use std::time::{Duration, Instant};

use wildcert_conformance::issuance;
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_hetzner::{HetznerProvider, HetznerSettings};

use crate::fake::{DEFAULT_TOKEN, FakeToken, HetznerFake, HetznerFakeOptions};

const NAME: &str = "_acme-challenge.example.test";

use wildcert_conformance::init_logs;

/// A started fake.
pub fn fake(opts: HetznerFakeOptions) -> HetznerFake {
    init_logs();
    HetznerFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default token.
pub fn settings(fake: &HetznerFake) -> HetznerSettings {
    HetznerSettings {
        token: Some(Secret::new(DEFAULT_TOKEN)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &HetznerSettings) -> HetznerProvider {
    HetznerProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &HetznerProvider, fqdn: &str) -> Zone {
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
    let fake = fake(HetznerFakeOptions::backed_by(&topo));
    fake.seed_record("example.test", "TXT", NAME, "\"keep-me\"", 300)
        .expect("foreign value");
    let env = [
        ("HETZNER_API_TOKEN", DEFAULT_TOKEN.to_string()),
        ("HETZNER_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "hetzner", &env).await;
    // Both values went in through add_records (one action for the name) and out again.
    let done =
        |a: &&serde_json::Value| a["command"] == "add_rrset_records" && a["status"] == "success";
    let adds = fake.actions().iter().filter(done).count();
    assert!(adds >= 1, "{:?}", fake.actions());
    assert_eq!(
        fake.txt_values(NAME),
        ["keep-me"],
        "no record left, the foreign one kept"
    );
    assert_eq!(
        topo.txt_values(topo.primary_addr(), NAME).expect("dig"),
        ["keep-me"]
    );
    assert_eq!(
        fake.count_where(|r| r.path.ends_with("/set_records") || r.method == "PUT"),
        0
    );
}

#[tokio::test]
async fn publish_waits_for_the_actions_and_never_replaces_the_rrset() {
    let fake = fake(HetznerFakeOptions {
        action_delay: Duration::from_millis(600),
        ..Default::default()
    });
    fake.seed_record("example.test", "TXT", NAME, "\"foreign\"", 300)
        .expect("seed");
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    assert_eq!(
        zone.provider_id.as_deref(),
        Some("42"),
        "the zone's integer id"
    );
    let values = set(&[
        (NAME, "wildcard-token"),
        (NAME, "apex-token"),
        ("_acme-challenge.www.example.test", "www"),
    ]);
    let t = Instant::now();
    p.publish(&zone, &values).await.expect("publish");
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "returned before the action finished"
    );
    // Read straight from the fake's state: the actions are done when publish returns.
    assert_eq!(
        fake.txt_values(NAME),
        ["apex-token", "foreign", "wildcard-token"]
    );
    assert_eq!(fake.txt_values("_acme-challenge.www.example.test"), ["www"]);
    assert_eq!(
        fake.count(
            "POST",
            "/zones/42/rrsets/_acme-challenge/TXT/actions/add_records"
        ),
        1,
        "one action per name"
    );
    assert!(fake.count_prefix("GET", "/actions/") >= 2, "actions polled");
    assert_eq!(
        fake.records("example.test")
            .iter()
            .find(|r| r.content == "\"www\"")
            .map(|r| r.ttl),
        Some(60)
    );
    p.publish(&zone, &values).await.expect("publish again");
    assert_eq!(
        fake.count_prefix("POST", "/zones/42/rrsets/"),
        2,
        "nothing sent for values already there"
    );
    p.unpublish(&zone, &values).await.expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["foreign"]);
    assert!(
        fake.txt_values("_acme-challenge.www.example.test")
            .is_empty()
    );
    assert_eq!(
        fake.count_where(|r| r.path.ends_with("/set_records")
            || r.method == "PUT"
            || r.method == "DELETE"),
        0
    );
    p.unpublish(&zone, &values)
        .await
        .expect("removing values that are gone");
}

#[tokio::test]
async fn migrated_values_are_found_and_removed_in_their_stored_form() {
    // The DNS Console took TXT values unquoted; migrated zones may still hold them so.
    let fake = fake(HetznerFakeOptions::default());
    fake.seed_record("example.test", "TXT", NAME, "ours-from-an-old-run", 300)
        .expect("seed");
    fake.seed_record("example.test", "TXT", NAME, "foreign-unquoted", 300)
        .expect("seed");
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let values = set(&[(NAME, "ours-from-an-old-run"), (NAME, "new")]);
    p.publish(&zone, &values).await.expect("publish");
    assert_eq!(
        fake.txt_values(NAME),
        ["foreign-unquoted", "new", "ours-from-an-old-run"],
        "no duplicate added"
    );
    p.unpublish(&zone, &values).await.expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["foreign-unquoted"]);
}

#[tokio::test]
async fn a_failing_or_stuck_action_is_an_error() {
    let fake = fake(HetznerFakeOptions {
        failing_value: Some("bad".into()),
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let err = p
        .publish(&zone, &set(&[(NAME, "bad")]))
        .await
        .expect_err("action failed");
    assert!(
        matches!(&err, ProviderError::Rejected { message, .. } if message.contains("action_failed")),
        "{err}"
    );
    assert!(fake.txt_values(NAME).is_empty());
    let slow = self::fake(HetznerFakeOptions {
        action_delay: Duration::from_secs(30),
        ..Default::default()
    });
    let p = provider(&HetznerSettings {
        action_timeout: Some(1),
        ..settings(&slow)
    });
    let zone = zone_of(&p, NAME).await;
    let t = Instant::now();
    let err = p
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("still running");
    assert!(
        err.to_string().contains("HETZNER_ACTION_TIMEOUT") && t.elapsed() < Duration::from_secs(5),
        "{err}"
    );
}

#[tokio::test]
async fn zones_and_rrsets_beyond_one_page() {
    let mut zones: Vec<String> = (0..60).map(|i| format!("z{i:02}.test")).collect();
    zones.extend(["example.test".to_string(), "sub.example.test".to_string()]);
    let fake = fake(HetznerFakeOptions {
        zones,
        ..Default::default()
    });
    for i in 0..70 {
        let n = format!("seed{i}.example.test");
        fake.seed_record("example.test", "TXT", &n, &format!("\"s{i}\""), 300)
            .expect("seed");
    }
    let p = provider(&settings(&fake));
    let sub = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(sub.name, name("sub.example.test"), "the longest zone");
    assert!(fake.count("GET", "/zones") >= 2, "every page of zones read");
    let zone = zone_of(&p, NAME).await;
    // More than 4 names: all TXT RRsets listed, across pages.
    let names: Vec<String> = (0..6)
        .map(|i| format!("_acme-challenge.n{i}.example.test"))
        .collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), "v"))
        .chain([("seed65.example.test", "s65")])
        .collect();
    fake.clear_requests();
    p.publish(&zone, &set(&pairs)).await.expect("publish");
    let listing = format!(
        "/zones/{}/rrsets",
        zone.provider_id.clone().unwrap_or_default()
    );
    let pages = fake
        .count_where(|r| r.path == listing && r.query.iter().any(|(k, v)| k == "page" && v == "2"));
    assert!(
        pages >= 1,
        "{:?}",
        fake.requests()
            .iter()
            .map(|r| r.target.clone())
            .collect::<Vec<_>>()
    );
    p.unpublish(&zone, &set(&pairs)).await.expect("unpublish");
    assert!(names.iter().all(|n| fake.txt_values(n).is_empty()));
    assert!(
        fake.txt_values("seed65.example.test").is_empty(),
        "a value found on page 2 removed"
    );
    assert_eq!(
        fake.txt_values("seed64.example.test"),
        ["s64"],
        "its neighbour kept"
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(HetznerFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.fail_next(2, crate::fake::rate_limited());
    p.publish(&zone, &set(&[(NAME, "after-429")]))
        .await
        .expect("publish after 429s");
    assert_eq!(fake.count_where(|r| r.status == 429), 2);
    assert_eq!(fake.txt_values(NAME), ["after-429"]);
}

#[tokio::test]
async fn token_and_zone_errors_say_what_to_fix() {
    let read_only = "wildcertFakeHetznerCloudProjectTokenReadOnly00000000000000000002";
    let other = "wildcertFakeHetznerCloudProjectTokenOtherProject000000000000003";
    let fake = fake(HetznerFakeOptions {
        zones: vec!["example.test".into(), "other.test".into(), "z.test".into()],
        secondary: vec!["secondary.test".into()],
        ..Default::default()
    });
    fake.add_token(FakeToken {
        dns_edit: false,
        ..FakeToken::full(read_only)
    });
    fake.add_token(FakeToken {
        zones: Some(vec!["other.test".into(), "z.test".into()]),
        ..FakeToken::full(other)
    });
    let with = |t: &str| {
        provider(&HetznerSettings {
            token: Some(Secret::new(t)),
            ..settings(&fake)
        })
    };
    let err = with("unknown-token-value")
        .zone_for(&name(NAME))
        .await
        .expect_err("401");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::Auth { .. })
            && text.contains("HETZNER_API_TOKEN")
            && !text.contains("unknown-token-value"),
        "{text}"
    );
    let ro = with(read_only);
    let zone = zone_of(&ro, NAME).await;
    let err = ro
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("read-only");
    assert!(
        matches!(err, ProviderError::Auth { .. }) && err.to_string().contains("Read & Write"),
        "{err}"
    );
    let err = with(other)
        .zone_for(&name(NAME))
        .await
        .expect_err("not in this project");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::ZoneNotFound { .. }) && text.contains("other.test, z.test"),
        "{text}"
    );
    let err = provider(&settings(&fake))
        .zone_for(&name("_acme-challenge.secondary.test"))
        .await
        .expect_err("secondary");
    assert!(err.to_string().contains("secondary mode"), "{err}");
    // An explicit zone: no lookup, paths by name.
    let p = provider(&HetznerSettings {
        zone: Some("example.test".into()),
        ..settings(&fake)
    });
    fake.clear_requests();
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "by-name")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("GET", "/zones"), 0);
    assert_eq!(
        fake.count(
            "POST",
            "/zones/example.test/rrsets/_acme-challenge/TXT/actions/add_records"
        ),
        1
    );
    assert!(
        p.zone_for(&name("_acme-challenge.z.test"))
            .await
            .is_err_and(|e| e.to_string().contains("HETZNER_ZONE"))
    );
}
