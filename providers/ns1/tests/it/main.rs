//! Integration tests of the ns1 provider against its NS1 API fake (providers/ns1/tests/fake, on
//! the kit's router), once backed by a real BIND zone with Pebble validating a wildcard + apex
//! certificate through it. The provider contract is the conformance suite (`cargo test -p
//! wildcert-ns1 --test it conformance`); the tests here are NS1's own: one record holding every
//! value (a second `PUT` fails), other answers kept as they are, the record deleted only with its
//! last answer, a write that lost a race redone, zones over pages, 429, key and zone errors.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Ns1);

use serde_json::json;
use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_ns1::{Ns1Provider, Ns1Settings};

use crate::fake::{DEFAULT_KEY, FakeToken, Ns1Fake, Ns1FakeOptions, err};

const NAME: &str = "_acme-challenge.example.test";
const PATH: &str = "/zones/example.test/_acme-challenge.example.test/TXT";

/// A started fake.
pub fn fake(opts: Ns1FakeOptions) -> Ns1Fake {
    init_logs();
    Ns1Fake::start(opts).expect("fake starts")
}

/// Settings for the fake's default key.
pub fn settings(fake: &Ns1Fake) -> Ns1Settings {
    Ns1Settings {
        api_key: Some(Secret::new(DEFAULT_KEY)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &Ns1Settings) -> Ns1Provider {
    Ns1Provider::new(s).expect("valid settings")
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

async fn zone_of(p: &Ns1Provider, fqdn: &str) -> Zone {
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
    let fake = fake(Ns1FakeOptions::backed_by(&topo));
    fake.seed_record("example.test", "TXT", NAME, "keep-me", 300)
        .expect("foreign value");
    let env = [
        ("NS1_API_KEY", DEFAULT_KEY.to_string()),
        ("NS1_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "ns1", &env).await;
    assert_eq!(
        fake.txt_values(NAME),
        ["keep-me"],
        "no value left, the foreign one kept"
    );
    assert_eq!(
        topo.txt_values(topo.primary_addr(), NAME).expect("dig"),
        ["keep-me"]
    );
    // Both values went into the existing record's answers; it was never created again.
    assert!(fake.count("POST", PATH) >= 2, "{:?}", fake.requests());
    assert_eq!(
        fake.count_where(|r| r.method == "PUT" || r.method == "DELETE"),
        0
    );
}

#[tokio::test]
async fn a_second_value_goes_into_the_answers_and_the_last_one_deletes_the_record() {
    let fake = fake(Ns1FakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    assert_eq!(zone.provider_id.as_deref(), Some("example.test"));
    // Two runs (wildcard, then apex) at one name: the second must not PUT again.
    p.publish(&zone, &set(&[(NAME, "wildcard")]))
        .await
        .expect("publish");
    p.publish(&zone, &set(&[(NAME, "apex")]))
        .await
        .expect("second value");
    assert_eq!(fake.txt_values(NAME), ["apex", "wildcard"]);
    assert_eq!(
        fake.count_where(|r| r.tag.as_deref() == Some("record already exists")),
        0
    );
    assert_eq!((fake.count("PUT", PATH), fake.count("POST", PATH)), (1, 1));
    let rec = fake.txt_record("example.test", NAME).expect("one record");
    assert_eq!(rec["answers"].as_array().map(Vec::len), Some(2));
    assert_eq!(rec["ttl"], 60, "a new record gets the set's TTL");
    p.unpublish(&zone, &set(&[(NAME, "wildcard")]))
        .await
        .expect("unpublish one");
    assert_eq!(fake.txt_values(NAME), ["apex"]);
    assert_eq!(
        fake.count("DELETE", PATH),
        0,
        "the record stays while it has answers"
    );
    p.unpublish(&zone, &set(&[(NAME, "apex")]))
        .await
        .expect("unpublish the last");
    assert_eq!(fake.count("DELETE", PATH), 1);
    assert!(fake.txt_record("example.test", NAME).is_none());
    p.unpublish(&zone, &set(&[(NAME, "apex")]))
        .await
        .expect("gone already");
    // What a client that creates one record per value meets: the trap is in the fake.
    let client = reqwest::Client::new();
    let url = format!("{}{PATH}", fake.base_url());
    for status in [200, 400] {
        let body = json!({ "zone": "example.test", "domain": NAME, "type": "TXT",
            "answers": [{ "answer": ["v"] }] });
        let put = client
            .put(&url)
            .header("X-NSONE-Key", DEFAULT_KEY)
            .json(&body);
        let resp = put.send().await.expect("answer");
        assert_eq!(resp.status().as_u16(), status);
    }
}

#[tokio::test]
async fn other_answers_are_written_back_as_they_were() {
    let fake = fake(Ns1FakeOptions::default());
    // A user's record with an answer carrying metadata (NS1's answer meta).
    let client = reqwest::Client::new();
    let url = format!("{}{PATH}", fake.base_url());
    let mine = json!({ "zone": "example.test", "domain": NAME, "type": "TXT", "ttl": 900,
        "answers": [{ "answer": ["v=mine"], "meta": { "note": "keep" } }] });
    let put = client
        .put(&url)
        .header("X-NSONE-Key", DEFAULT_KEY)
        .json(&mine);
    assert!(put.send().await.expect("answer").status().is_success());
    let before = fake.txt_record("example.test", NAME).expect("record");
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let ours = set(&[(NAME, "wildcard"), (NAME, "apex")]);
    p.publish(&zone, &ours).await.expect("publish");
    let during = fake.txt_record("example.test", NAME).expect("record");
    assert_eq!(
        during["answers"][0], before["answers"][0],
        "id and meta kept"
    );
    assert_eq!(
        (during["ttl"].clone(), during["id"].clone()),
        (json!(900), before["id"].clone())
    );
    assert_eq!(fake.txt_values(NAME), ["apex", "v=mine", "wildcard"]);
    p.publish(&zone, &ours).await.expect("publish again");
    assert_eq!(
        fake.count("POST", PATH),
        1,
        "nothing sent for values already there"
    );
    p.unpublish(&zone, &ours).await.expect("unpublish");
    assert_eq!(fake.txt_record("example.test", NAME), Some(before));
    assert_eq!(fake.count("DELETE", PATH), 0);
}

#[tokio::test]
async fn a_write_that_lost_a_race_is_done_again_from_a_fresh_read() {
    let fake = fake(Ns1FakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    // Another client creates the record between our read and our PUT.
    fake.fail_after(1, 1, err(400, "record already exists"));
    p.publish(&zone, &set(&[(NAME, "v1")]))
        .await
        .expect("redone");
    assert_eq!(fake.txt_values(NAME), ["v1"]);
    assert_eq!(fake.count("GET", PATH), 2, "read again after the lost race");
    // …and one that deletes it between our read and our POST.
    fake.fail_after(1, 1, err(404, "record not found"));
    p.publish(&zone, &set(&[(NAME, "v2")]))
        .await
        .expect("redone");
    assert_eq!(fake.txt_values(NAME), ["v1", "v2"]);
    // A record that keeps changing is reported, not looped on.
    for _ in 0..3 {
        fake.fail_after(1, 1, err(404, "record not found"));
    }
    let e = p
        .publish(&zone, &set(&[(NAME, "v3")]))
        .await
        .expect_err("gives up");
    assert!(e.to_string().contains("kept changing"), "{e}");
    // A zone that vanished is not a race.
    fake.fail_after(1, 1, err(404, "zone not found"));
    let e = p
        .publish(&zone, &set(&[(NAME, "v4")]))
        .await
        .expect_err("zone gone");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e}");
}

#[tokio::test]
async fn zones_over_several_pages_and_the_longest_one_wins() {
    let mut zones: Vec<String> = (0..7).map(|i| format!("z{i}.test")).collect();
    zones.extend(["example.test".into(), "sub.example.test".into()]);
    let fake = fake(Ns1FakeOptions {
        zones,
        page_size: 2,
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let sub = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(sub.name, name("sub.example.test"));
    assert_eq!(fake.count("GET", "/zones"), 5, "every page read, once");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.query.iter().any(|(k, _)| k == "after"))
    );
    assert_eq!(zone_of(&p, NAME).await.name, name("example.test"));
    let e = p
        .zone_for(&name("_acme-challenge.nowhere.org"))
        .await
        .expect_err("none");
    let text = e.to_string();
    assert!(
        matches!(e, ProviderError::ZoneNotFound { .. })
            && text.contains("example.test, sub.example.test, z0.test"),
        "{text}"
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(Ns1FakeOptions::default());
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
async fn key_and_zone_errors_say_what_to_fix() {
    let view_only = "WcFakeNs1ViewOnly002";
    let narrow = "WcFakeNs1OtherZone03";
    let fake = fake(Ns1FakeOptions {
        zones: vec!["example.test".into(), "other.test".into()],
        ..Default::default()
    });
    fake.add_key(FakeToken {
        dns_edit: false,
        ..FakeToken::full(view_only)
    });
    fake.add_key(FakeToken {
        zones: Some(vec!["other.test".into()]),
        ..FakeToken::full(narrow)
    });
    let with = |k: &str| {
        provider(&Ns1Settings {
            api_key: Some(Secret::new(k)),
            ..settings(&fake)
        })
    };
    let e = with("NotAKeyOfThisAccount")
        .zone_for(&name(NAME))
        .await
        .expect_err("401");
    let text = e.to_string();
    assert!(
        matches!(e, ProviderError::Auth { .. })
            && text.contains("NS1_API_KEY")
            && text.contains("401")
            && !text.contains("NotAKeyOfThisAccount"),
        "{text}"
    );
    let view = with(view_only);
    let zone = zone_of(&view, NAME).await;
    let e = view
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("403");
    let text = e.to_string();
    assert!(
        matches!(e, ProviderError::Auth { .. })
            && text.contains("403")
            && text.contains("Manage zones"),
        "{text}"
    );
    let e = with(narrow)
        .zone_for(&name(NAME))
        .await
        .expect_err("not allowed");
    assert!(e.to_string().contains("the key sees: other.test"), "{e}");
    // An explicit zone: no lookup.
    let p = provider(&Ns1Settings {
        zone: Some("example.test".into()),
        ..settings(&fake)
    });
    fake.clear_requests();
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "by-name")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("GET", "/zones"), 0);
    let e = p
        .zone_for(&name("_acme-challenge.other.test"))
        .await
        .expect_err("outside");
    assert!(e.to_string().contains("NS1_ZONE"), "{e}");
    // A zone the key may not see, given explicitly: NS1 hides it (404 zone not found).
    let p = provider(&Ns1Settings {
        api_key: Some(Secret::new(narrow)),
        zone: Some("example.test".into()),
        ..settings(&fake)
    });
    let zone = zone_of(&p, NAME).await;
    let e = p
        .publish(&zone, &set(&[(NAME, "x")]))
        .await
        .expect_err("hidden");
    assert!(
        matches!(e, ProviderError::ZoneNotFound { .. }) && e.to_string().contains("zone not found"),
        "{e}"
    );
}
