//! Integration tests of the pdns provider against a real `pdns_server` (gsqlite3 backend) on
//! loopback. Skipped when PowerDNS is missing, except under CI=true. The provider contract
//! (foreign values kept, exact cleanup, 600 values, concurrency, error kinds) is the kit's
//! conformance suite (`cargo test -p wildcert-pdns --test it conformance`); the tests here
//! are PowerDNS's own behaviour (one PATCH per zone, TTLs, NOTIFY, server ids, 422s).

mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Pdns);

use std::time::{Duration, Instant};

use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_pdns::{PdnsProvider, PdnsSettings};
use wildcert_testkit::{PowerDns, PowerDnsOptions};

mod lego;

const APEX: &str = "_acme-challenge.example.test";

pub use wildcert_conformance::init_logs;

fn server_with(opts: PowerDnsOptions) -> Option<PowerDns> {
    init_logs();
    if !wildcert_testkit::require_pdns() {
        return None;
    }
    Some(PowerDns::start(opts).expect("start pdns_server"))
}

fn server(zones: &[&str]) -> Option<PowerDns> {
    server_with(PowerDnsOptions {
        zones: zones.iter().map(|z| z.to_string()).collect(),
        ..Default::default()
    })
}

fn settings(pdns: &PowerDns) -> PdnsSettings {
    PdnsSettings {
        api_url: Some(pdns.api_url()),
        api_key: Some(Secret::new(pdns.api_key())),
        timeout: Some(5),
        ..Default::default()
    }
}

fn provider(pdns: &PowerDns) -> PdnsProvider {
    PdnsProvider::new(&settings(pdns)).expect("valid settings")
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

fn serial(pdns: &PowerDns, zone: &str) -> u32 {
    wildcert_testkit::soa_serial(pdns.dns_addr(), zone)
        .expect("dig")
        .expect("SOA")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_patch_per_change_and_the_existing_ttl_kept() {
    let Some(pdns) = server(&["example.test"]) else {
        return;
    };
    pdns.set_txt(APEX, &["foreign value"], 300)
        .expect("seed foreign value");
    let p = provider(&pdns);
    let z = p
        .zone_for(&name(APEX))
        .await
        .expect("zone_for")
        .expect("zone");
    assert_eq!(z.name, name("example.test"));
    assert_eq!(z.provider_id.as_deref(), Some("example.test."));

    let before = serial(&pdns, "example.test");
    let both = set(&[
        (APEX, "wildcard-token"),
        (APEX, "apex-token"),
        ("_acme-challenge.www.example.test", "www-token"),
    ]);
    p.publish(&z, &both).await.expect("publish");
    // SOA-EDIT-API bumps the serial once per PATCH: one PATCH for two names and three values.
    assert_eq!(serial(&pdns, "example.test"), before + 1);
    // The existing RRset keeps its TTL; a new one gets ours.
    assert_eq!(pdns.txt_ttl(APEX).expect("api"), Some(300));
    assert_eq!(
        pdns.txt_ttl("_acme-challenge.www.example.test")
            .expect("api"),
        Some(60)
    );

    // Publishing again changes nothing (no PATCH at all).
    let before = serial(&pdns, "example.test");
    p.publish(&z, &both).await.expect("publish again");
    assert_eq!(serial(&pdns, "example.test"), before);

    let before = serial(&pdns, "example.test");
    p.unpublish(&z, &both).await.expect("unpublish the rest");
    assert_eq!(serial(&pdns, "example.test"), before + 1);
    assert_eq!(pdns.txt_ttl(APEX).expect("api"), Some(300));
    // The www RRset was ours alone: deleted, not left empty.
    assert_eq!(
        pdns.txt_ttl("_acme-challenge.www.example.test")
            .expect("api"),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_when_empty_and_primary_zone_notified() {
    let Some(pdns) = server_with(PowerDnsOptions {
        zones: vec!["example.test".into(), "sub.example.test".into()],
        kind: "Master".into(),
        ..Default::default()
    }) else {
        return;
    };
    let p = provider(&pdns);
    // The deepest zone wins.
    let deep = "_acme-challenge.a.sub.example.test";
    let z = p
        .zone_for(&name(deep))
        .await
        .expect("zone_for")
        .expect("zone");
    assert_eq!(z.name, name("sub.example.test"));
    let ours = set(&[(deep, "one"), (deep, "two")]);
    p.publish(&z, &ours)
        .await
        .expect("publish to a Master zone");
    assert_eq!(pdns.txt_values(deep).expect("dig"), ["one", "two"]);
    p.unpublish(&z, &ours).await.expect("unpublish");
    assert!(pdns.txt_values(deep).expect("dig").is_empty());
    assert_eq!(pdns.txt_ttl(deep).expect("api"), None);
    // Removing what is not there is harmless.
    p.unpublish(&z, &ours).await.expect("unpublish again");
    let log = std::fs::read_to_string(pdns.log_path()).unwrap_or_default();
    assert!(!log.contains("Exception"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_names_read_the_zone_once() {
    let Some(pdns) = server(&["example.test"]) else {
        return;
    };
    let p = provider(&pdns);
    let z = Zone::new(name("example.test"));
    let names: Vec<String> = (0..7)
        .map(|i| format!("_acme-challenge.h{i}.example.test"))
        .collect();
    pdns.set_txt(&names[3], &["keep"], 120).expect("seed");
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "tok")).collect();
    let before = serial(&pdns, "example.test");
    p.publish(&z, &set(&pairs)).await.expect("publish");
    assert_eq!(serial(&pdns, "example.test"), before + 1);
    assert_eq!(pdns.txt_values(&names[3]).expect("dig"), ["keep", "tok"]);
    assert_eq!(pdns.txt_values(&names[6]).expect("dig"), ["tok"]);
    p.unpublish(&z, &set(&pairs)).await.expect("unpublish");
    assert_eq!(pdns.txt_values(&names[3]).expect("dig"), ["keep"]);
    assert!(pdns.txt_values(&names[0]).expect("dig").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_an_auth_error_without_the_key() {
    let Some(pdns) = server(&["example.test"]) else {
        return;
    };
    let wrong = "wrong-key-d3Jvbmc";
    let p = PdnsProvider::new(&PdnsSettings {
        api_key: Some(Secret::new(wrong)),
        ..settings(&pdns)
    })
    .expect("settings");
    let e = p.zone_for(&name(APEX)).await.expect_err("401");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("401"), "{e}");
    assert!(!e.to_string().contains(wrong) && !format!("{e:?}").contains(wrong));
    let e = p
        .publish(&Zone::new(name("example.test")), &set(&[(APEX, "x")]))
        .await
        .expect_err("401");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_server_id_is_named() {
    let Some(pdns) = server(&["example.test"]) else {
        return;
    };
    let other = PdnsProvider::new(&PdnsSettings {
        server_id: Some("ns9".into()),
        ..settings(&pdns)
    })
    .expect("settings");
    let e = other.zone_for(&name(APEX)).await.expect_err("404");
    assert!(e.to_string().contains("ns9"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_change_carries_the_server_message() {
    let Some(pdns) = server(&["example.test"]) else {
        return;
    };
    let p = provider(&pdns);
    // A CNAME and other data may not share a name: PowerDNS answers 422 with a JSON error.
    let (status, body) = pdns
        .api_request(
            "PATCH",
            "/zones/example.test.",
            Some(
                r#"{"rrsets":[{"name":"_acme-challenge.c.example.test.","type":"CNAME","ttl":60,"changetype":"REPLACE","records":[{"content":"elsewhere.example.test.","disabled":false}]}]}"#,
            ),
        )
        .expect("api");
    assert_eq!(status, 204, "{body}");
    let e = p
        .publish(
            &Zone::new(name("example.test")),
            &set(&[("_acme-challenge.c.example.test", "x")]),
        )
        .await
        .expect_err("422");
    assert!(matches!(e, ProviderError::Rejected { .. }), "{e:?}");
    assert!(
        e.to_string().contains("Conflicts with pre-existing RRset"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_api_is_retried_then_reported() {
    init_logs();
    let port = wildcert_testkit::free_tcp_port().expect("port");
    let p = PdnsProvider::new(&PdnsSettings {
        api_url: Some(format!("http://127.0.0.1:{port}")),
        api_key: Some(Secret::new("k")),
        timeout: Some(2),
        ..Default::default()
    })
    .expect("settings");
    let start = Instant::now();
    let e = p.zone_for(&name(APEX)).await.expect_err("refused");
    assert!(matches!(e, ProviderError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("4 attempts"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_copy_of_our_value_is_enabled() {
    let Some(pdns) = server(&["example.test"]) else {
        return;
    };
    let body = format!(
        r#"{{"rrsets":[{{"name":"{APEX}.","type":"TXT","ttl":60,"changetype":"REPLACE","records":[{{"content":"\"tok\"","disabled":true}},{{"content":"\"other\"","disabled":false}}]}}]}}"#
    );
    let (status, text) = pdns
        .api_request("PATCH", "/zones/example.test.", Some(&body))
        .expect("api");
    assert_eq!(status, 204, "{text}");
    assert_eq!(pdns.txt_values(APEX).expect("dig"), ["other"]);
    let p = provider(&pdns);
    let z = Zone::new(name("example.test"));
    p.publish(&z, &set(&[(APEX, "tok")]))
        .await
        .expect("publish");
    assert_eq!(pdns.txt_values(APEX).expect("dig"), ["other", "tok"]);
    p.unpublish(&z, &set(&[(APEX, "tok")]))
        .await
        .expect("unpublish");
    assert_eq!(pdns.txt_values(APEX).expect("dig"), ["other"]);
    assert_eq!(
        pdns.zone_snapshot("example.test").expect("zone"),
        [
            format!("{APEX}. TXT 60 \"other\""),
            "example.test. NS 1 ns1.example.test.".to_string(),
            format!("ns1.example.test. A 1 {}", pdns.dns_addr().ip()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_waited_out() {
    // A proxy in front of PowerDNS (or a rate-limiting webserver) answers 429: the shared
    // policy waits as asked; the old loop took the 429 for a final answer.
    init_logs();
    let s = wildcert_testkit::ScriptedHttp::start(wildcert_testkit::ScriptedReply::status(
        200,
        r#"[{"id":"example.test.","name":"example.test.","kind":"Native"}]"#,
    ))
    .expect("scripted server");
    s.push([wildcert_testkit::ScriptedReply::with_header(
        429,
        "Retry-After",
        "1",
        "",
    )]);
    let p = PdnsProvider::new(&PdnsSettings {
        api_url: Some(s.url()),
        api_key: Some(Secret::new("k")),
        timeout: Some(5),
        ..Default::default()
    })
    .expect("settings");
    let zone = p
        .zone_for(&name(APEX))
        .await
        .expect("zone after the wait")
        .expect("a zone");
    assert_eq!(zone.name, name("example.test"));
    let r = s.requests();
    assert!(r.len() >= 2, "{r:?}");
    let gap = r[1].at.duration_since(r[0].at);
    assert!(
        gap >= Duration::from_millis(900),
        "waited as asked: {gap:?}"
    );
    // Every attempt carries the key.
    assert!(r.iter().all(|q| {
        q.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-api-key") && v == "k")
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_past_the_budget_is_rate_limited() {
    // Still limited past the budget: RateLimited, not a generic error.
    init_logs();
    let s = wildcert_testkit::ScriptedHttp::start(wildcert_testkit::ScriptedReply::with_header(
        429,
        "Retry-After",
        "1",
        "",
    ))
    .expect("scripted server");
    let p = PdnsProvider::new(&PdnsSettings {
        api_url: Some(s.url()),
        api_key: Some(Secret::new("k")),
        timeout: Some(5),
        ..Default::default()
    })
    .expect("settings")
    .with_rate_limit_budget(wildcert_dns::http::RateLimitBudget::new(
        Duration::from_secs(1),
        "test budget",
    ));
    let e = p.zone_for(&name(APEX)).await.expect_err("rate limited");
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
    assert_eq!(s.count(), 2, "one wait of 1 s fits the budget");
}
