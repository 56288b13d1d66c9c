//! Integration tests of the netcup provider against its CCP API fake
//! (providers/netcup/tests/fake, on the kit's router), once backed by a real BIND zone with
//! Pebble validating a wildcard + apex certificate through it while the fake loads changes only
//! on its zone reload. The provider contract is the conformance suite
//! (`cargo test -p wildcert-netcup --test it conformance`); the tests here are netcup's own:
//! one session per change, always logged out; only our records sent; sessions netcup ends early;
//! its 180-a-minute answer; credentials and zone errors; no secret in any log line.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Netcup);

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_netcup::{NetcupProvider, NetcupSettings};

use crate::fake::{API_KEY, API_PASSWORD, CUSTOMER, NetcupFake, NetcupFakeOptions};

const NAME: &str = "_acme-challenge.example.test";

/// A started fake.
pub fn fake(opts: NetcupFakeOptions) -> NetcupFake {
    init_logs();
    NetcupFake::start(opts).expect("fake starts")
}

/// Settings for the fake's customer.
pub fn settings(fake: &NetcupFake) -> NetcupSettings {
    NetcupSettings {
        customer_number: Some(CUSTOMER.into()),
        api_key: Some(Secret::new(API_KEY)),
        api_password: Some(Secret::new(API_PASSWORD)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &NetcupSettings) -> NetcupProvider {
    NetcupProvider::new(s).expect("valid settings")
}

fn name(s: &str) -> DnsName {
    DnsName::parse(s).expect("valid name")
}

fn zone() -> Zone {
    Zone::new(name("example.test"))
}

fn set(pairs: &[(&str, &str)]) -> TxtSet {
    let mut s = TxtSet::new();
    for (n, v) in pairs {
        s.insert(name(n), *v);
    }
    s
}

/// The actions sent, in order (from the audit; bodies are the fake's business).
fn actions(fake: &NetcupFake) -> Vec<String> {
    let body = |b: &str| serde_json::from_str::<Value>(b).unwrap_or_default();
    let all = fake.requests().into_iter().map(|r| body(&r.body));
    all.map(|b| b["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The `dnsrecords` of every `updateDnsRecords` sent.
fn updates(fake: &NetcupFake) -> Vec<Vec<Value>> {
    let body = |b: &str| serde_json::from_str::<Value>(b).unwrap_or_default();
    let all = fake.requests().into_iter().map(|r| body(&r.body));
    all.filter(|b| b["action"] == "updateDnsRecords")
        .map(|b| {
            let list = &b["param"]["dnsrecordset"]["dnsrecords"];
            list.as_array().cloned().unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_issued_although_netcup_serves_changes_only_after_its_zone_reload() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = Arc::new(fake(NetcupFakeOptions {
        reload_manually: true,
        ..NetcupFakeOptions::backed_by(&topo)
    }));
    fake.seed_record("example.test", "TXT", NAME, "\"keep-me\"", 300)
        .expect("foreign value");
    // netcup's zone reload, every second here (about every 10 minutes at netcup): the records
    // reach the nameservers only then, and the propagation wait has to outlast it.
    let reloader = {
        let fake = fake.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            for _ in 0..600 {
                tick.tick().await;
                fake.reload().expect("zone reload");
            }
        })
    };
    let env = [
        ("NETCUP_CUSTOMER_NUMBER", CUSTOMER.to_string()),
        ("NETCUP_API_KEY", API_KEY.to_string()),
        ("NETCUP_API_PASSWORD", API_PASSWORD.to_string()),
        ("NETCUP_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "netcup", &env).await;
    reloader.abort();
    fake.reload().expect("the last reload");
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "the foreign value kept");
    assert_eq!(
        topo.txt_values(topo.primary_addr(), NAME).expect("dig"),
        ["keep-me"]
    );
    assert!(fake.logins() >= 2, "a session for publish and for cleanup");
    assert_eq!(fake.open_sessions(), 0, "every session logged out");
}

#[tokio::test]
async fn a_change_reaches_dns_only_at_the_zone_reload() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    let fake = fake(NetcupFakeOptions {
        reload_manually: true,
        ..NetcupFakeOptions::backed_by(&topo)
    });
    let p = provider(&settings(&fake));
    p.publish(&zone(), &set(&[(NAME, "after-reload")]))
        .await
        .expect("publish");
    assert_eq!(fake.txt_values(NAME), ["after-reload"], "the API has it");
    let served = || topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert!(served().is_empty(), "the nameservers not yet");
    fake.reload().expect("reload");
    assert_eq!(served(), ["after-reload"]);
    assert_eq!(
        p.tuning().propagation_timeout,
        Some(Duration::from_secs(900)),
        "the wait outlasts netcup's ~10 minute reload"
    );
}

#[tokio::test]
async fn only_our_records_are_sent_and_every_session_is_logged_out() {
    let fake = fake(NetcupFakeOptions::default());
    fake.seed_record("example.test", "TXT", NAME, "\"foreign\"", 300)
        .expect("seed");
    fake.seed_record(
        "example.test",
        "MX",
        "example.test",
        "mail.example.test",
        300,
    )
    .expect("seed");
    let p = provider(&settings(&fake));
    let values = set(&[
        (NAME, "wildcard-token"),
        (NAME, "apex-token"),
        ("_acme-challenge.www.example.test", "www"),
        ("example.test", "at-the-apex"),
    ]);
    p.publish(&zone(), &values).await.expect("publish");
    assert_eq!(
        fake.txt_values(NAME),
        ["apex-token", "foreign", "wildcard-token"]
    );
    assert_eq!(fake.txt_values("example.test"), ["at-the-apex"]);
    assert_eq!(
        actions(&fake),
        [
            "login",
            "infoDnsZone",
            "infoDnsRecords",
            "updateDnsRecords",
            "logout"
        ]
    );
    let sent = &updates(&fake)[0];
    assert_eq!(sent.len(), 4, "only the new records: {sent:?}");
    assert!(
        sent.iter()
            .all(|r| r.get("id").is_none() && r["type"] == "TXT")
    );
    let hosts: Vec<&str> = sent.iter().filter_map(|r| r["hostname"].as_str()).collect();
    assert!(
        hosts.contains(&"@") && hosts.contains(&"_acme-challenge.www"),
        "{hosts:?}"
    );
    fake.clear_requests();
    p.publish(&zone(), &values).await.expect("publish again");
    assert!(updates(&fake).is_empty(), "nothing sent twice");
    p.unpublish(&zone(), &values).await.expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["foreign"]);
    assert!(fake.txt_values("example.test").is_empty());
    let deleted = &updates(&fake)[0];
    assert_eq!(deleted.len(), 4);
    assert!(
        deleted.iter().all(|r| r["deleterecord"] == true
            && r["id"].is_string()
            && r["destination"].is_string())
    );
    assert_eq!(
        fake.records("example.test").len(),
        2,
        "the MX and the foreign TXT stay"
    );
    fake.clear_requests();
    p.unpublish(&zone(), &values)
        .await
        .expect("removing values that are gone");
    assert!(updates(&fake).is_empty());
    assert_eq!(fake.open_sessions(), 0);
    assert_eq!(fake.logins(), 4, "one session per change");
}

#[tokio::test]
async fn sessions_are_logged_out_when_a_step_fails() {
    let fake = fake(NetcupFakeOptions {
        zones: vec!["example.test".into(), "other.test".into()],
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let err = p
        .publish(
            &Zone::new(name("nowhere.test")),
            &set(&[("_acme-challenge.nowhere.test", "v")]),
        )
        .await
        .expect_err("no such zone");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::ZoneNotFound { .. }) && text.contains("nowhere.test"),
        "{text}"
    );
    assert!(
        !text.contains(API_KEY) && !text.contains(API_PASSWORD),
        "{text}"
    );
    assert_eq!(fake.open_sessions(), 0);
    // netcup refuses the update itself.
    let refused = crate::fake::refused("no-update", "updateDnsRecords", "example.test");
    fake.fail_after(3, 1, refused);
    let err = p
        .publish(&zone(), &set(&[(NAME, "v")]))
        .await
        .expect_err("refused");
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
    assert_eq!(actions(&fake).last().map(String::as_str), Some("logout"));
    assert_eq!(fake.open_sessions(), 0);
}

#[tokio::test]
async fn a_session_netcup_ends_early_is_renewed_once() {
    let fake = fake(NetcupFakeOptions::default());
    let p = provider(&settings(&fake));
    fake.end_sessions_early(1);
    p.publish(&zone(), &set(&[(NAME, "v")]))
        .await
        .expect("publish");
    assert_eq!(fake.txt_values(NAME), ["v"]);
    assert_eq!(fake.logins(), 2, "logged in again once");
    // Ended again at once: a credentials error, not a zone error; still logged out.
    fake.end_sessions_early(2);
    let err = p
        .unpublish(&zone(), &set(&[(NAME, "v")]))
        .await
        .expect_err("4001 twice");
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
    assert_eq!(fake.open_sessions(), 0);
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(NetcupFakeOptions::default());
    let p = provider(&settings(&fake));
    // netcup's own answer (HTTP 200, 4013), then a proxy's 429 with Retry-After.
    fake.fail_next(2, crate::fake::refused("rate", "", ""));
    fake.fail_after(
        2,
        1,
        wildcert_testkit::Reply::json(429, &serde_json::json!({})).header("Retry-After", "1"),
    );
    p.publish(&zone(), &set(&[(NAME, "after-limits")]))
        .await
        .expect("publish after the limits");
    assert_eq!(fake.count_where(|r| r.tag.as_deref() == Some("4013")), 2);
    assert_eq!(fake.count_where(|r| r.status == 429), 1);
    assert_eq!(fake.txt_values(NAME), ["after-limits"]);
    assert_eq!(fake.open_sessions(), 0);
}

#[tokio::test]
async fn credentials_and_zone_errors_say_what_to_fix() {
    let fake = fake(NetcupFakeOptions::default());
    for (customer, key, password) in [
        ("999999", API_KEY, API_PASSWORD),
        (CUSTOMER, "wrong-key-s3cret", API_PASSWORD),
        (CUSTOMER, API_KEY, "wrong-password-s3cret"),
    ] {
        let p = provider(&NetcupSettings {
            customer_number: Some(customer.into()),
            api_key: Some(Secret::new(key)),
            api_password: Some(Secret::new(password)),
            ..settings(&fake)
        });
        let err = p
            .publish(&zone(), &set(&[(NAME, "v")]))
            .await
            .expect_err("refused");
        let text = err.to_string();
        assert!(
            matches!(err, ProviderError::Auth { .. })
                && text.contains("NETCUP_API_PASSWORD")
                && text.contains("NETCUP_CUSTOMER_NUMBER")
                && !text.contains("s3cret")
                && !text.contains(API_KEY)
                && !text.contains(API_PASSWORD),
            "{text}"
        );
        assert!(err.hint().contains("Master Data"), "{}", err.hint());
    }
    assert_eq!(fake.logins(), 0);
    // A domain the customer does not have (netcup has no per-key permissions: this is its 403).
    let p = provider(&settings(&fake));
    let err = p
        .unpublish(
            &Zone::new(name("other.test")),
            &set(&[("_acme-challenge.other.test", "v")]),
        )
        .await
        .expect_err("not this customer's");
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    assert!(err.to_string().contains("other.test") && err.hint().contains("CloudDNS"));
    // A wrong endpoint is not taken for a credentials error.
    let p = provider(&NetcupSettings {
        base_url: Some(fake.url() + "/nowhere.php"),
        ..settings(&fake)
    });
    let err = p
        .publish(&zone(), &set(&[(NAME, "v")]))
        .await
        .expect_err("404");
    assert!(err.to_string().contains("NETCUP_API_URL"), "{err}");
}

/// A writer into a shared buffer, for the log capture.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_password_key_or_session_id_in_any_log_line() {
    let fake = fake(NetcupFakeOptions::default());
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let p = provider(&settings(&fake));
    {
        let _guard = tracing::subscriber::set_default(subscriber);
        fake.end_sessions_early(1);
        p.publish(&zone(), &set(&[(NAME, "v")]))
            .await
            .expect("publish");
        p.unpublish(&zone(), &set(&[(NAME, "v")]))
            .await
            .expect("unpublish");
        let bad = provider(&NetcupSettings {
            api_password: Some(Secret::new("wrong-password")),
            ..settings(&fake)
        });
        let _ = bad.publish(&zone(), &set(&[(NAME, "v")])).await;
    }
    let text = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    assert!(
        text.contains("updateDnsRecords"),
        "debug lines captured: {text}"
    );
    let mut secrets = vec![
        API_KEY.to_string(),
        API_PASSWORD.to_string(),
        "wrong-password".into(),
    ];
    let body = |b: &str| serde_json::from_str::<Value>(b).unwrap_or_default();
    for r in fake.requests() {
        if let Some(id) = body(&r.body)["param"]["apisessionid"].as_str() {
            secrets.push(id.to_string());
        }
    }
    assert!(secrets.len() > 5, "session ids collected");
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "a secret in the logs:\n{text}");
    }
    let debug = format!("{p:?}");
    assert!(
        secrets.iter().all(|s| !debug.contains(s.as_str())),
        "{debug}"
    );
}

#[tokio::test]
async fn lego_tuning_reaches_the_pipeline() {
    let fake = fake(NetcupFakeOptions::default());
    let p = provider(&settings(&fake));
    let t = p.tuning();
    assert_eq!(t.propagation_timeout, Some(Duration::from_secs(900)));
    assert_eq!(t.ttl, None, "netcup has no per-record TTL");
    assert_eq!(
        p.credential_source().as_deref(),
        Some("customer 123456 with an API key and API password")
    );
}
