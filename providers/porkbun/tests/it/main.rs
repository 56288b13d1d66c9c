//! Integration tests of the porkbun provider against its Porkbun API fake
//! (providers/porkbun/tests/fake): the conformance suite, a wildcard + apex certificate issued
//! by Pebble through the fake and a real BIND zone, and Porkbun's own traps (the key pair in
//! the body and never in a log line, a domain not opted in to API access, TTL ≥ 600, the
//! domain list in chunks of 1,000, the 503 rate limit).

#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Porkbun);

use std::io::Write;
use std::sync::{Arc, Mutex};

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_porkbun::{PorkbunProvider, PorkbunSettings};

use crate::fake::{API_KEY, PbFake, PbFakeOptions, SECRET_KEY};

const NAME: &str = "_acme-challenge.example.test";

/// A started fake.
pub fn fake(opts: PbFakeOptions) -> PbFake {
    init_logs();
    PbFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default key pair.
pub fn settings(fake: &PbFake) -> PorkbunSettings {
    PorkbunSettings {
        api_key: Some(Secret::new(API_KEY)),
        secret_api_key: Some(Secret::new(SECRET_KEY)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &PorkbunSettings) -> PorkbunProvider {
    PorkbunProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &PorkbunProvider, fqdn: &str) -> Zone {
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
    let fake = fake(PbFakeOptions::backed_by(&topo));
    fake.seed("example.test", "TXT", NAME, "keep-me", 600);
    let env = [
        ("PORKBUN_API_KEY", API_KEY.to_string()),
        ("PORKBUN_SECRET_API_KEY", SECRET_KEY.to_string()),
        ("PORKBUN_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "porkbun", &env).await;
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "no record of ours left");
    let dns = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(dns, ["keep-me"]);
}

#[tokio::test]
async fn one_read_per_call_and_cleanup_deletes_exactly_ours_by_id() {
    let fake = fake(PbFakeOptions::default());
    fake.seed("example.test", "TXT", NAME, "foreign", 600);
    fake.seed("example.test", "TXT", NAME, "already-there", 600);
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.clear_requests();
    let ours = set(&[
        (NAME, "ours-wildcard"),
        (NAME, "ours-apex"),
        (NAME, "already-there"),
    ]);
    p.publish(&zone, &ours).await.expect("publish");
    assert_eq!(fake.count("POST", "/dns/retrieve/example.test"), 1);
    assert_eq!(
        fake.count("POST", "/dns/create/example.test"),
        2,
        "only the missing values"
    );
    let values = fake.txt_values(NAME);
    assert_eq!(
        values,
        ["already-there", "foreign", "ours-apex", "ours-wildcard"]
    );
    fake.clear_requests();
    p.unpublish(&zone, &set(&[(NAME, "ours-wildcard"), (NAME, "ours-apex")]))
        .await
        .expect("unpublish");
    assert_eq!(fake.count_prefix("POST", "/dns/delete/example.test/"), 2);
    assert_eq!(fake.count_prefix("POST", "/dns/deleteByNameType"), 0);
    assert_eq!(fake.txt_values(NAME), ["already-there", "foreign"]);
    // The API wants the key pair in every body; the audit shows it travelled there only.
    let reqs = fake.requests();
    assert!(
        reqs.iter()
            .all(|r| r.method == "POST" && r.body.contains("\"secretapikey\""))
    );
    assert!(
        reqs.iter()
            .all(|r| r.headers.iter().all(|(_, v)| !v.contains(SECRET_KEY)))
    );
}

/// A log sink for one test.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("sink").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_key_reaches_a_log_line_even_at_trace() {
    let fake = PbFake::start(PbFakeOptions::default()).expect("fake");
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let p = provider(&settings(&fake));
            let zone = zone_of(&p, NAME).await;
            p.publish(&zone, &set(&[(NAME, "v")]))
                .await
                .expect("publish");
            p.unpublish(&zone, &set(&[(NAME, "v")]))
                .await
                .expect("unpublish");
            let bad = provider(&PorkbunSettings {
                secret_api_key: Some(Secret::new("sk1_wrong_s3cret")),
                ..settings(&fake)
            });
            let e = bad
                .publish(&zone, &set(&[(NAME, "v")]))
                .await
                .expect_err("bad key");
            tracing::error!("{e}");
        });
    });
    let logs = String::from_utf8_lossy(&sink.0.lock().expect("sink")).into_owned();
    assert!(
        logs.contains("/dns/create/example.test"),
        "debug lines were written: {logs}"
    );
    for secret in [API_KEY, SECRET_KEY, "sk1_wrong_s3cret", "secretapikey"] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}

#[tokio::test]
async fn domain_not_opted_in_is_told_apart_from_a_bad_key() {
    let fake = fake(PbFakeOptions {
        zones: vec!["example.test".into(), "closed.test".into()],
        api_access: Some(vec!["example.test".into()]),
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let closed = "_acme-challenge.closed.test";
    let zone = zone_of(&p, closed).await;
    assert_eq!(
        zone.name,
        name("closed.test"),
        "listAll shows it all the same"
    );
    let e = p
        .publish(&zone, &set(&[(closed, "v")]))
        .await
        .expect_err("closed");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("closed.test")
            && text.contains("not opted in")
            && text.contains("\"API Access\""),
        "{text}"
    );
    assert!(
        !text.contains("PORKBUN_API_KEY"),
        "the keys are not the problem: {text}"
    );
    let bad = provider(&PorkbunSettings {
        api_key: Some(Secret::new("pk1_s3cret_unknown")),
        ..settings(&fake)
    });
    let e = bad.zone_for(&name(NAME)).await.expect_err("bad key");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("Invalid API key") && text.contains("PORKBUN_API_KEY"),
        "{text}"
    );
    assert!(
        !text.contains("s3cret") && !text.contains(SECRET_KEY),
        "{text}"
    );
    assert!(fake.txt_values(closed).is_empty());
}

#[tokio::test]
async fn ttl_is_at_least_600_and_names_are_relative() {
    let fake = fake(PbFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let mut s = TxtSet::with_ttl(60);
    s.insert(name(NAME), "short");
    s.insert(name("example.test"), "apex");
    p.publish(&zone, &s).await.expect("publish");
    let recs = fake.records("example.test");
    assert!(
        recs.len() == 2 && recs.iter().all(|r| r.ttl == 600),
        "{recs:?}"
    );
    let bodies: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/dns/create"))
        .map(|r| r.body)
        .collect();
    assert!(
        bodies.iter().all(|b| b.contains("\"ttl\":\"600\"")),
        "{bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("\"name\":\"_acme-challenge\""))
    );
    assert!(
        bodies.iter().any(|b| b.contains("\"name\":\"\"")),
        "apex: {bodies:?}"
    );
}

#[tokio::test]
async fn the_503_rate_limit_is_waited_out() {
    let fake = fake(PbFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.clear_requests();
    fake.fail_next_with_503(2);
    p.publish(&zone, &set(&[(NAME, "after-503")]))
        .await
        .expect("publish after 503s");
    assert_eq!(fake.txt_values(NAME), ["after-503"]);
    let limited = fake.requests().iter().filter(|r| r.status == 503).count();
    assert_eq!(limited, 2);
}

#[tokio::test]
async fn longest_domain_across_listall_chunks_and_names_only_when_missing() {
    let mut zones: Vec<String> = (0..1003).map(|i| format!("d{i:04}.test")).collect();
    zones.extend(["example.test".into(), "sub.example.test".into()]);
    let fake = fake(PbFakeOptions {
        zones,
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let z = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(
        z.name,
        name("sub.example.test"),
        "found in the second chunk"
    );
    assert_eq!(
        fake.count("POST", "/domain/listAll"),
        3,
        "0, 1000, then the empty 2000"
    );
    let e = p
        .zone_for(&name("_acme-challenge.elsewhere.test"))
        .await
        .expect_err("missing");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("elsewhere.test") && text.contains("d0000.test") && text.contains("in all"),
        "{text}"
    );
    assert!(!text.contains(SECRET_KEY));
}

#[tokio::test]
async fn zone_setting_skips_the_lookup_and_a_subdomain_is_not_a_domain() {
    let fake = fake(PbFakeOptions::default());
    let p = provider(&PorkbunSettings {
        zone: Some("example.test".into()),
        ..settings(&fake)
    });
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("POST", "/domain/listAll"), 0);
    let e = p
        .zone_for(&name("_acme-challenge.other.test"))
        .await
        .expect_err("outside");
    assert!(e.to_string().contains("PORKBUN_ZONE"), "{e}");
    let sub = Zone::new(name("sub.example.test"));
    let e = p
        .publish(&sub, &set(&[("_acme-challenge.sub.example.test", "v")]))
        .await
        .expect_err("Invalid domain.");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("registered domain"), "{e}");
}
