//! Integration tests of the desec provider against its deSEC API fake
//! (providers/desec/tests/fake, on the kit's router), once backed by a real BIND zone with
//! Pebble validating a wildcard + apex certificate through it. The provider contract is the
//! conformance suite (`cargo test -p wildcert-desec --test it conformance`); the tests here are
//! deSEC's own: one bulk PATCH per zone, `minimum_ttl`, cursor pages, throttling, token and
//! domain errors.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Desec);

use std::time::Duration;

use wildcert_conformance::{init_logs, issuance};
use wildcert_desec::{DesecProvider, DesecSettings};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};

use crate::fake::{DEFAULT_TOKEN, DesecFake, DesecFakeOptions, FakeToken};

const NAME: &str = "_acme-challenge.example.test";
const RRSETS: &str = "/domains/example.test/rrsets/";

/// TTLs of the TXT records at `name` (one per record).
fn ttls(fake: &DesecFake, name: &str) -> Vec<u32> {
    let zone = if name.ends_with("dedyn.test") {
        "dedyn.test"
    } else {
        "example.test"
    };
    let recs = fake
        .records(zone)
        .into_iter()
        .filter(|r| r.name == name && r.rtype == "TXT");
    recs.map(|r| r.ttl).collect()
}

/// A started fake.
pub fn fake(opts: DesecFakeOptions) -> DesecFake {
    init_logs();
    crate::fake::start(opts).expect("fake starts")
}

/// Settings for the fake's default token.
pub fn settings(fake: &DesecFake) -> DesecSettings {
    DesecSettings {
        token: Some(Secret::new(DEFAULT_TOKEN)),
        base_url: Some(fake.url()),
        ..Default::default()
    }
}

fn provider(s: &DesecSettings) -> DesecProvider {
    DesecProvider::new(s).expect("valid settings")
}

fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("valid name")
}

fn set(pairs: &[(&str, &str)]) -> TxtSet {
    let mut s = TxtSet::with_ttl(120);
    for (n, v) in pairs {
        s.insert(name(n), *v);
    }
    s
}

async fn zone_of(p: &DesecProvider, fqdn: &str) -> Zone {
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
    let fake = fake(DesecFakeOptions::backed_by(&topo));
    fake.seed_record("example.test", "TXT", NAME, "\"keep-me\"", 3600)
        .expect("foreign value");
    let env = [
        ("DESEC_TOKEN", DEFAULT_TOKEN.to_string()),
        ("DESEC_API_URL", fake.url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "desec", &env).await;
    // Both values went in with one bulk PATCH and out with another.
    assert_eq!(fake.count("PATCH", RRSETS), 2, "{:?}", fake.requests());
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
async fn one_bulk_patch_per_zone_and_the_minimum_ttl() {
    let fake = fake(DesecFakeOptions {
        zones: vec!["example.test".into(), "dedyn.test".into()],
        minimum_ttl: vec![("dedyn.test".into(), 60)],
        ..Default::default()
    });
    fake.seed_record("example.test", "TXT", NAME, "\"foreign\"", 7200)
        .expect("seed");
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    assert_eq!(zone.name, name("example.test"));
    let www = "_acme-challenge.www.example.test";
    let values = set(&[(NAME, "wildcard"), (NAME, "apex"), (www, "www")]);
    p.publish(&zone, &values).await.expect("publish");
    assert_eq!(fake.txt_values(NAME), ["apex", "foreign", "wildcard"]);
    assert_eq!(fake.txt_values(www), ["www"]);
    assert_eq!(fake.count("PATCH", RRSETS), 1, "one write for the zone");
    assert_eq!(
        ttls(&fake, NAME),
        [7200; 3],
        "an existing RRset keeps its TTL"
    );
    assert_eq!(ttls(&fake, www), [3600], "a new one: at least minimum_ttl");
    p.publish(&zone, &values).await.expect("publish again");
    assert_eq!(
        fake.count("PATCH", RRSETS),
        1,
        "nothing sent for values already there"
    );
    p.unpublish(&zone, &values).await.expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["foreign"]);
    assert!(fake.txt_values(www).is_empty(), "the emptied RRset deleted");
    assert_eq!(fake.count("PATCH", RRSETS), 2);
    p.unpublish(&zone, &values)
        .await
        .expect("removing values that are gone");
    assert_eq!(
        fake.count_where(|r| r.method == "PUT" || r.method == "DELETE"),
        0
    );
    // A domain whose minimum_ttl is lower: wildcert's own TTL.
    let dedyn = "_acme-challenge.dedyn.test";
    let zone = zone_of(&p, dedyn).await;
    p.publish(&zone, &set(&[(dedyn, "v")]))
        .await
        .expect("publish");
    assert_eq!(ttls(&fake, dedyn), [120]);
    // The apex RRset is read at `@` and written with an empty subname.
    let apex = set(&[("example.test", "apex-txt")]);
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &apex).await.expect("publish at the apex");
    assert_eq!(fake.txt_values("example.test"), ["apex-txt"]);
    assert!(fake.count("GET", "/domains/example.test/rrsets/@/TXT/") >= 1);
    p.unpublish(&zone, &apex)
        .await
        .expect("unpublish at the apex");
    assert!(fake.txt_values("example.test").is_empty());
}

#[tokio::test]
async fn a_raised_minimum_ttl_is_a_refusal_naming_the_field() {
    let fake = fake(DesecFakeOptions {
        minimum_ttl: vec![("example.test".into(), 60)],
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    // deSEC support may raise (or lower) a domain's minimum_ttl.
    fake.with(|st| st.opts.minimum_ttl = vec![("example.test".into(), 3600)]);
    let err = p
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("ttl refused");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::Rejected { .. })
            && text.contains("RRset #1: ttl: Ensure this value is greater than or equal to 3600."),
        "{text}"
    );
}

#[tokio::test]
async fn rrsets_and_domains_beyond_one_page() {
    let mut zones: Vec<String> = (0..505).map(|i| format!("z{i:03}.test")).collect();
    zones.push("example.test".into());
    let fake = fake(DesecFakeOptions {
        zones,
        ..Default::default()
    });
    for i in 0..510 {
        let n = format!("seed{i}.example.test");
        fake.seed_record("example.test", "TXT", &n, &format!("\"s{i}\""), 3600)
            .expect("seed");
    }
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    // More than 4 names: every TXT RRset listed, across pages.
    let names: Vec<String> = (0..6)
        .map(|i| format!("_acme-challenge.n{i}.example.test"))
        .collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), "v"))
        .chain([("seed3.example.test", "s3")])
        .collect();
    fake.clear_requests();
    p.publish(&zone, &set(&pairs)).await.expect("publish");
    let paged = |r: &wildcert_testkit::Audited| {
        r.path == RRSETS && r.query.iter().any(|(k, v)| k == "cursor" && !v.is_empty())
    };
    assert!(fake.count_where(paged) >= 1, "{:?}", fake.requests());
    assert_eq!(
        fake.count_where(|r| r.status == 400),
        0,
        "cursor= sent from the first page"
    );
    p.unpublish(&zone, &set(&pairs)).await.expect("unpublish");
    assert!(names.iter().all(|n| fake.txt_values(n).is_empty()));
    assert!(
        fake.txt_values("seed3.example.test").is_empty(),
        "a value found on the last page removed"
    );
    assert_eq!(
        fake.txt_values("seed4.example.test"),
        ["s4"],
        "its neighbour kept"
    );
    // A name in no domain: the error names every domain, from every page.
    let err = p
        .zone_for(&name("x.nowhere.org"))
        .await
        .expect_err("no domain");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::ZoneNotFound { .. })
            && text.contains("z000.test")
            && text.contains("z504.test")
            && text.contains("example.test"),
        "{text}"
    );
}

#[tokio::test]
async fn throttling_is_waited_out() {
    let fake = fake(DesecFakeOptions {
        write_limit: Some((1, Duration::from_secs(1))),
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.fail_next(2, crate::fake::throttled(1));
    p.publish(&zone, &set(&[(NAME, "a")]))
        .await
        .expect("publish after 429s");
    p.unpublish(&zone, &set(&[(NAME, "a")]))
        .await
        .expect("unpublish, throttled");
    p.publish(&zone, &set(&[(NAME, "b")]))
        .await
        .expect("publish, throttled");
    let throttled = fake.requests().into_iter().filter(|r| r.status == 429);
    let bodies: Vec<String> = throttled.map(|r| r.tag.unwrap_or_default()).collect();
    assert!(bodies.len() >= 3, "{bodies:?}");
    assert!(
        bodies
            .iter()
            .all(|b| b.starts_with("Request was throttled.")),
        "{bodies:?}"
    );
    assert_eq!(fake.txt_values(NAME), ["b"]);
}

#[tokio::test]
async fn token_and_domain_errors_say_what_to_fix() {
    let read_only = "wildcertFakeDesecReadOnly002";
    let other = "wildcertFakeDesecOtherAcct03";
    let fake = fake(DesecFakeOptions {
        zones: vec!["example.test".into(), "other.test".into(), "z.test".into()],
        ..Default::default()
    });
    fake.with(|st| {
        st.opts.tokens.push(FakeToken {
            dns_edit: false,
            ..FakeToken::full(read_only)
        })
    });
    fake.with(|st| {
        st.opts.tokens.push(FakeToken {
            zones: Some(vec!["other.test".into(), "z.test".into()]),
            ..FakeToken::full(other)
        })
    });
    let with = |t: &str| {
        provider(&DesecSettings {
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
            && text.contains("Invalid token.")
            && text.contains("DESEC_TOKEN")
            && !text.contains("unknown-token-value"),
        "{text}"
    );
    let ro = with(read_only);
    let zone = zone_of(&ro, NAME).await;
    let err = ro
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("no write permission");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::Auth { .. })
            && text.contains("403 Insufficient token permissions.")
            && text.contains("policy"),
        "{text}"
    );
    let err = with(other)
        .zone_for(&name(NAME))
        .await
        .expect_err("another account");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::ZoneNotFound { .. }) && text.contains("other.test, z.test"),
        "{text}"
    );
}
