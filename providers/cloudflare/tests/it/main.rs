//! Integration tests of the cloudflare provider against its Cloudflare API fake
//! (providers/cloudflare/tests/fake, on the kit's router), once backed by a real BIND zone. The provider contract is
//! the conformance suite (`cargo test -p wildcert-cloudflare --test it conformance`);
//! the tests here are Cloudflare's own (record ids on disk, 81058, pagination, the block).

// Also compiled into the crate under its `fake` feature for the CLI's e2e tests, which use
// parts these tests do not.
#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Cloudflare);

use std::path::Path;
use std::time::{Duration, Instant};

use wildcert_cloudflare::{CloudflareProvider, CloudflareSettings};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_testkit::{BindOptions, BindTopology};

use crate::fake::{CloudflareFake, CloudflareFakeOptions, FakeToken};

const NAME: &str = "_acme-challenge.example.test";
const TOKEN: &str = "wildcert_fake_cloudflare_token_000000001";

use wildcert_conformance::init_logs;

/// A started fake.
pub fn fake(opts: CloudflareFakeOptions) -> CloudflareFake {
    init_logs();
    CloudflareFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default token.
pub fn settings(fake: &CloudflareFake) -> CloudflareSettings {
    CloudflareSettings {
        api_token: Some(Secret::new(TOKEN)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &CloudflareSettings, state: &Path) -> CloudflareProvider {
    CloudflareProvider::new(s, Some(state)).expect("valid settings")
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

fn ids_file(state: &Path, zone_id: &str) -> std::path::PathBuf {
    state
        .join("providers")
        .join("cloudflare")
        .join(format!("{zone_id}.json"))
}

async fn zone_of(p: &CloudflareProvider) -> Zone {
    p.zone_for(&name(NAME))
        .await
        .expect("zone_for")
        .expect("a zone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_are_two_records_in_real_dns_and_foreign_survives() {
    init_logs();
    if !wildcert_testkit::require_bind() {
        return;
    }
    let topo = BindTopology::start(BindOptions::default()).expect("BIND topology");
    let fake = fake(CloudflareFakeOptions::backed_by(&topo));
    fake.seed_record("example.test", "TXT", NAME, "\"keep-me\"", 60)
        .expect("foreign record");
    let state = tempfile::tempdir().expect("state");
    let p = provider(&settings(&fake), state.path());
    let zone = zone_of(&p).await;
    let zone_id = fake.zone_id("example.test").expect("zone id");
    assert_eq!(zone.name, name("example.test"));
    assert_eq!(zone.provider_id.as_deref(), Some(zone_id.as_str()));

    let values = set(&[(NAME, "wildcard-token"), (NAME, "apex-token")]);
    p.publish(&zone, &values).await.expect("publish");
    let records_path = format!("/zones/{zone_id}/dns_records");
    assert_eq!(fake.count("POST", &records_path), 2, "one POST per value");
    assert_eq!(
        fake.txt_values(NAME),
        ["apex-token", "keep-me", "wildcard-token"]
    );
    // Quoted content, as Cloudflare documents TXT content.
    assert!(
        fake.records("example.test")
            .iter()
            .filter(|r| r.content != "\"keep-me\"")
            .all(|r| r.content.starts_with('"') && r.ttl == 60)
    );
    let mut dns = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    dns.sort();
    assert_eq!(
        dns,
        ["apex-token", "keep-me", "wildcard-token"],
        "mirrored into the real zone"
    );
    let file = std::fs::read_to_string(ids_file(state.path(), &zone_id)).expect("ids on disk");
    assert!(
        file.contains("wildcard-token") && file.contains("apex-token"),
        "{file}"
    );

    p.unpublish(&zone, &values).await.expect("unpublish");
    assert_eq!(fake.count("DELETE", &format!("{records_path}/")), 0);
    assert_eq!(
        fake.count_prefix("DELETE", &format!("{records_path}/")),
        2,
        "deleted by id"
    );
    assert_eq!(
        fake.count("GET", &records_path),
        0,
        "no listing needed with the ids"
    );
    assert_eq!(fake.txt_values(NAME), ["keep-me"]);
    assert_eq!(
        topo.txt_values(topo.primary_addr(), NAME).expect("dig"),
        ["keep-me"]
    );
    assert!(
        !ids_file(state.path(), &zone_id).exists(),
        "the id file goes when empty"
    );
}

#[tokio::test]
async fn cleanup_after_a_crash_uses_the_ids_on_disk() {
    let fake = fake(CloudflareFakeOptions::default());
    let state = tempfile::tempdir().expect("state");
    let values = set(&[
        (NAME, "v1"),
        (NAME, "v2"),
        ("_acme-challenge.www.example.test", "v3"),
    ]);
    let zone = {
        let p = provider(&settings(&fake), state.path());
        let zone = zone_of(&p).await;
        p.publish(&zone, &values).await.expect("publish");
        zone
        // `p` is dropped here: the "crash".
    };
    assert_eq!(fake.records("example.test").len(), 3);
    fake.clear_requests();
    let again = provider(&settings(&fake), state.path());
    again.unpublish(&zone, &values).await.expect("unpublish");
    assert!(fake.records("example.test").is_empty());
    let zone_id = fake.zone_id("example.test").expect("id");
    assert_eq!(
        fake.count_prefix("DELETE", &format!("/zones/{zone_id}/dns_records/")),
        3
    );
    assert_eq!(
        fake.count("GET", &format!("/zones/{zone_id}/dns_records")),
        0,
        "ids came from disk"
    );
}

#[tokio::test]
async fn cleanup_without_state_matches_name_and_content_only() {
    let fake = fake(CloudflareFakeOptions::default());
    // Foreign values at the same name, quoted and not.
    fake.seed_record("example.test", "TXT", NAME, "keep-unquoted", 120)
        .expect("seed");
    fake.seed_record("example.test", "TXT", NAME, "\"keep-quoted\"", 120)
        .expect("seed");
    let state = tempfile::tempdir().expect("state");
    let values = set(&[(NAME, "ours-1"), (NAME, "ours-2")]);
    let p = provider(&settings(&fake), state.path());
    let zone = zone_of(&p).await;
    p.publish(&zone, &values).await.expect("publish");
    std::fs::remove_dir_all(state.path().join("providers")).expect("lose the state");
    let fresh = provider(&settings(&fake), state.path());
    fresh
        .unpublish(&zone, &values)
        .await
        .expect("unpublish by name and content");
    assert_eq!(fake.txt_values(NAME), ["keep-quoted", "keep-unquoted"]);
    let zone_id = fake.zone_id("example.test").expect("id");
    assert!(fake.count("GET", &format!("/zones/{zone_id}/dns_records")) >= 1);
}

#[tokio::test]
async fn pagination_with_one_item_per_page() {
    let fake = fake(CloudflareFakeOptions {
        zones: vec!["a.test".into(), "example.test".into(), "z.test".into()],
        max_per_page: Some(1),
        ..Default::default()
    });
    for v in ["f1", "f2", "f3"] {
        fake.seed_record("example.test", "TXT", NAME, &format!("\"{v}\""), 60)
            .expect("seed");
    }
    // One of "our" values already exists: Cloudflare answers 81058, we find its id by listing
    // (and leave it: it is not ours).
    fake.seed_record("example.test", "TXT", NAME, "\"ours-2\"", 60)
        .expect("seed");
    let state = tempfile::tempdir().expect("state");
    let p = provider(&settings(&fake), state.path());
    let zone = zone_of(&p).await;
    let values = set(&[(NAME, "ours-1"), (NAME, "ours-2")]);
    p.publish(&zone, &values)
        .await
        .expect("publish (one already there)");
    assert_eq!(
        fake.txt_values(NAME),
        ["f1", "f2", "f3", "ours-1", "ours-2"]
    );
    let zone_id = fake.zone_id("example.test").expect("id");
    let lists: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == format!("/zones/{zone_id}/dns_records"))
        .collect();
    assert!(
        lists
            .iter()
            .any(|r| r.query.iter().any(|(k, v)| k == "page" && v == "4")),
        "{lists:?}"
    );
    // Lost state: the fallback pages through every record.
    std::fs::remove_dir_all(state.path().join("providers")).expect("lose the state");
    let fresh = provider(&settings(&fake), state.path());
    fresh.unpublish(&zone, &values).await.expect("unpublish");
    // `ours-2` was there before the run (someone else's): it stays.
    assert_eq!(fake.txt_values(NAME), ["f1", "f2", "f3", "ours-2"]);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let fake = fake(CloudflareFakeOptions::default());
    let state = tempfile::tempdir().expect("state");
    let p = provider(&settings(&fake), state.path());
    let zone = zone_of(&p).await;
    fake.fail_next_with_429(2);
    let start = Instant::now();
    p.publish(&zone, &set(&[(NAME, "after-429")]))
        .await
        .expect("publish after 429s");
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured"
    );
    assert_eq!(
        fake.requests().iter().filter(|r| r.status == 429).count(),
        2
    );
    fake.fail_next_with_5xx(2);
    p.unpublish(&zone, &set(&[(NAME, "after-429")]))
        .await
        .expect("unpublish after 502s");
    assert!(fake.txt_values(NAME).is_empty());
    // Rate limited for good: waited out up to rate_limit_wait, then RateLimited.
    let p = provider(
        &CloudflareSettings {
            rate_limit_wait: Some(3),
            ..settings(&fake)
        },
        state.path(),
    );
    fake.fail_next_with_429(100);
    let err = p
        .publish(&zone, &set(&[(NAME, "never")]))
        .await
        .expect_err("rate limited");
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err}");
    assert!(fake.requests().iter().filter(|r| r.status == 429).count() <= 2 + 5);
}

#[tokio::test]
async fn bad_credentials_are_auth_errors() {
    let fake = fake(CloudflareFakeOptions::default());
    let state = tempfile::tempdir().expect("state");
    for token in ["wildcert_fake_cloudflare_token_999999999", "not-a-token"] {
        let s = CloudflareSettings {
            api_token: Some(Secret::new(token)),
            ..settings(&fake)
        };
        let err = provider(&s, state.path())
            .zone_for(&name(NAME))
            .await
            .expect_err("refused");
        let text = err.to_string();
        assert!(matches!(err, ProviderError::Auth { .. }), "{text}");
        assert!(text.contains("DNS:Edit") && !text.contains(token), "{text}");
    }
    // A token for another zone does not see this one.
    let other = "wildcert_fake_cloudflare_token_otherzone";
    fake.add_token(FakeToken {
        zones: Some(vec!["other.test".into()]),
        ..FakeToken::full(other)
    });
    let s = CloudflareSettings {
        api_token: Some(Secret::new(other)),
        ..settings(&fake)
    };
    let err = provider(&s, state.path())
        .zone_for(&name(NAME))
        .await
        .expect_err("not visible");
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    // The legacy Global API Key.
    let fake2 = self::fake(CloudflareFakeOptions {
        global_key: Some(("me@example.test".into(), "0123456789abcdef".into())),
        ..Default::default()
    });
    let legacy = CloudflareSettings {
        email: Some("me@example.test".into()),
        api_key: Some(Secret::new("0123456789abcdef")),
        base_url: Some(fake2.base_url()),
        ..Default::default()
    };
    let p = provider(&legacy, state.path());
    let zone = zone_of(&p).await;
    p.publish(&zone, &set(&[(NAME, "legacy")]))
        .await
        .expect("publish with the global key");
    p.unpublish(&zone, &set(&[(NAME, "legacy")]))
        .await
        .expect("unpublish");
    let wrong = CloudflareSettings {
        api_key: Some(Secret::new("wrong")),
        ..legacy
    };
    let err = provider(&wrong, state.path())
        .zone_for(&name(NAME))
        .await
        .expect_err("refused");
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
}

#[tokio::test]
async fn zone_id_setting_skips_the_zone_lookup() {
    let fake = fake(CloudflareFakeOptions::default());
    // DNS:Edit only: no Zone:Read.
    let dns_only = "wildcert_fake_cloudflare_token_dnsedit01";
    fake.add_token(FakeToken {
        zone_read: false,
        ..FakeToken::full(dns_only)
    });
    let zone_id = fake.zone_id("example.test").expect("id");
    let state = tempfile::tempdir().expect("state");
    let s = CloudflareSettings {
        api_token: Some(Secret::new(dns_only)),
        zone_id: Some(zone_id.clone()),
        ..settings(&fake)
    };
    let p = provider(&s, state.path());
    assert_eq!(
        p.zone_for(&name(NAME)).await.expect("zone_for"),
        None,
        "the zone name comes from DNS"
    );
    let zone = Zone::new(name("example.test"));
    let values = set(&[(NAME, "a"), (NAME, "b")]);
    p.publish(&zone, &values).await.expect("publish");
    assert_eq!(fake.txt_values(NAME), ["a", "b"]);
    p.unpublish(&zone, &values).await.expect("unpublish");
    assert!(fake.txt_values(NAME).is_empty());
    assert_eq!(
        fake.count_prefix("GET", "/zones") - fake.count_prefix("GET", &format!("/zones/{zone_id}")),
        0
    );
    assert_eq!(fake.count("GET", "/zones"), 0, "no zone lookup");
    // Without zone_id, that token cannot look the zone up: a clear error.
    let s = CloudflareSettings { zone_id: None, ..s };
    let err = provider(&s, state.path())
        .zone_for(&name(NAME))
        .await
        .expect_err("no Zone:Read");
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("Zone:Read"), "{err}");
}

#[tokio::test]
async fn a_refused_value_rolls_back_the_zone() {
    let fake = fake(CloudflareFakeOptions::default());
    let state = tempfile::tempdir().expect("state");
    let p = provider(&settings(&fake), state.path());
    let zone = zone_of(&p).await;
    let too_long = "x".repeat(5000);
    let values = set(&[(NAME, "ok-1"), (NAME, "ok-2"), (NAME, too_long.as_str())]);
    let err = p.publish(&zone, &values).await.expect_err("refused");
    assert!(
        matches!(&err, ProviderError::Rejected { message, .. } if message.contains("9009")),
        "{err}"
    );
    assert!(
        fake.records("example.test").is_empty(),
        "created records removed again"
    );
    let zone_id = fake.zone_id("example.test").expect("id");
    assert!(!ids_file(state.path(), &zone_id).exists());
    // Server errors that do not stop: a bounded number of tries, then a clear error.
    fake.fail_next_with_5xx(100);
    let err = p
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("502");
    assert!(err.to_string().contains("HTTP 502"), "{err}");
    assert!(fake.requests().iter().filter(|r| r.status == 502).count() <= 4);
}

#[tokio::test]
async fn the_five_minute_block_is_waited_out() {
    // Cloudflare's block answers 429 to everything for five minutes, without Retry-After;
    // here it lasts 9 s (longer than the old bounded retries waited in all).
    let fake = fake(CloudflareFakeOptions::default());
    let state = tempfile::tempdir().expect("state");
    let p = provider(
        &CloudflareSettings {
            rate_limit_wait: Some(60),
            ..settings(&fake)
        },
        state.path(),
    );
    let zone = zone_of(&p).await;
    fake.block_for(Duration::from_secs(9), false);
    // Capture the progress lines (this test's thread only).
    let buf = LogBuf::default();
    let sub = tracing_subscriber::fmt()
        .with_writer(buf.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let guard = tracing::subscriber::set_default(sub);
    let start = Instant::now();
    p.publish(&zone, &set(&[(NAME, "after-the-block")]))
        .await
        .expect("publish once the block is over");
    drop(guard);
    assert!(start.elapsed() >= Duration::from_secs(9));
    let log = buf.text();
    assert!(
        log.contains("rate limited (HTTP 429") && log.contains("of rate_limit_wait left"),
        "a progress line: {log}"
    );
    assert_eq!(fake.txt_values(NAME), ["after-the-block"]);
    let blocked = fake.requests().iter().filter(|r| r.status == 429).count();
    assert!(
        (3..=30).contains(&blocked),
        "backed off, not hammering: {blocked} requests answered 429"
    );
}

#[tokio::test]
async fn rate_limit_wait_bounds_the_waiting_per_run() {
    let fake = fake(CloudflareFakeOptions::default());
    let state = tempfile::tempdir().expect("state");
    let p = provider(
        &CloudflareSettings {
            rate_limit_wait: Some(2),
            ..settings(&fake)
        },
        state.path(),
    );
    let zone = zone_of(&p).await;
    // Retry-After counts down from 30 s: more than the run may wait.
    fake.block_for(Duration::from_secs(30), true);
    let start = Instant::now();
    let err = p
        .publish(&zone, &set(&[(NAME, "blocked")]))
        .await
        .expect_err("rate limited");
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "gave up at once: {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn an_identical_foreign_record_is_used_but_never_deleted() {
    let fake = fake(CloudflareFakeOptions::default());
    // Someone else's record with the very value we are about to publish.
    let foreign = fake
        .seed_record("example.test", "TXT", NAME, "\"shared-token\"", 120)
        .expect("seed");
    let state = tempfile::tempdir().expect("state");
    let values = set(&[(NAME, "shared-token"), (NAME, "ours")]);
    let p = provider(&settings(&fake), state.path());
    let zone = zone_of(&p).await;
    p.publish(&zone, &values)
        .await
        .expect("publish (81058 for one)");
    assert_eq!(fake.txt_values(NAME), ["ours", "shared-token"]);
    p.unpublish(&zone, &values).await.expect("unpublish");
    assert_eq!(
        fake.txt_values(NAME),
        ["shared-token"],
        "the foreign record stays"
    );
    assert!(fake.records("example.test").iter().any(|r| r.id == foreign));

    // After a crash (a new process, the record-id file gone) it stays too.
    p.publish(&zone, &values).await.expect("publish again");
    drop(p);
    std::fs::remove_dir_all(state.path().join("providers")).expect("lose the state");
    let fresh = provider(&settings(&fake), state.path());
    fresh.unpublish(&zone, &values).await.expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["shared-token"]);
}

#[tokio::test]
async fn an_identical_record_of_our_own_crashed_run_is_deleted() {
    let fake = fake(CloudflareFakeOptions::default());
    let state = tempfile::tempdir().expect("state");
    let values = set(&[(NAME, "v")]);
    let zone = {
        let p = provider(&settings(&fake), state.path());
        let zone = zone_of(&p).await;
        p.publish(&zone, &values).await.expect("publish");
        zone
        // crash: no cleanup
    };
    // The retry publishes the same value again (81058) and cleans up after itself.
    let p = provider(&settings(&fake), state.path());
    p.publish(&zone, &values).await.expect("publish again");
    p.unpublish(&zone, &values).await.expect("unpublish");
    assert!(
        fake.txt_values(NAME).is_empty(),
        "ours (in the journal): deleted"
    );
}

#[tokio::test]
async fn an_html_403_is_a_block_before_the_api_not_bad_credentials() {
    let fake = fake(CloudflareFakeOptions::default());
    let state = tempfile::tempdir().expect("state");
    let p = provider(&settings(&fake), state.path());
    let zone = zone_of(&p).await;
    fake.fail_next_with_html(403, 1);
    let err = p
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("blocked");
    let text = err.to_string();
    assert!(!matches!(err, ProviderError::Auth { .. }), "{text}");
    assert!(
        text.contains("blocked before the API (HTTP 403, not JSON — a firewall or WAF rule?)"),
        "{text}"
    );
    // A JSON 403 still is a credentials problem.
    let scoped = "wildcert_fake_cloudflare_token_readonly01";
    fake.add_token(FakeToken {
        token: scoped.into(),
        zones: None,
        zone_read: true,
        dns_edit: false,
    });
    let ro = provider(
        &CloudflareSettings {
            api_token: Some(Secret::new(scoped)),
            ..settings(&fake)
        },
        state.path(),
    );
    let err = ro
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("no DNS:Edit");
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
}

#[tokio::test]
async fn ttl_30_when_set_explicitly() {
    let fake = fake(CloudflareFakeOptions {
        min_ttl: 30,
        ..Default::default()
    });
    let state = tempfile::tempdir().expect("state");
    let mut low = TxtSet::with_ttl(30);
    low.insert(name(NAME), "from-the-run");
    // The run's TTL is raised to Cloudflare's usual minimum…
    let p = provider(&settings(&fake), state.path());
    let zone = zone_of(&p).await;
    p.publish(&zone, &low).await.expect("publish");
    assert_eq!(fake.records("example.test")[0].ttl, 60);
    p.unpublish(&zone, &low).await.expect("unpublish");
    // …an explicit ttl (CLOUDFLARE_TTL) is sent as is: 30 on Enterprise zones.
    let env: std::collections::HashMap<String, String> =
        [("CLOUDFLARE_TTL".to_string(), "30".to_string())].into();
    let from_env =
        <CloudflareSettings as wildcert_dns::LayeredSettings>::from_env_map(&env).expect("env");
    let explicit = provider(
        &CloudflareSettings {
            ttl: from_env.ttl,
            ..settings(&fake)
        },
        state.path(),
    );
    explicit
        .publish(&zone, &set(&[(NAME, "explicit")]))
        .await
        .expect("publish");
    assert_eq!(fake.records("example.test")[0].ttl, 30);
    let bad = CloudflareSettings {
        ttl: Some(20),
        ..settings(&fake)
    };
    assert!(bad.validate().is_err());
}

/// A log sink for one test.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for LogBuf {
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

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuf {
    type Writer = LogBuf;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    // The shared policy reads both forms of Retry-After; the old loop read seconds only and
    // came back after its own 0.5 s.
    init_logs();
    let s = wildcert_testkit::ScriptedHttp::start(wildcert_testkit::ScriptedReply::status(
        200,
        r#"{"success":true,"errors":[],"result":[]}"#,
    ))
    .expect("scripted server");
    let at = wildcert_testkit::http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    s.push([wildcert_testkit::ScriptedReply::with_header(
        429,
        "Retry-After",
        &at,
        "",
    )]);
    let api = wildcert_cloudflare::api::Api::new(&s.url(), Duration::from_secs(5))
        .expect("client")
        .with_rate_limit_wait(Duration::from_secs(60));
    let auth = wildcert_cloudflare::Auth::Token(Secret::new(TOKEN));
    api.call(reqwest::Method::GET, "/zones", &[], None, &auth)
        .await
        .expect("answered after the wait");
    let r = s.requests();
    assert_eq!(r.len(), 2);
    let gap = r[1].at.duration_since(r[0].at);
    assert!(
        gap >= Duration::from_millis(900),
        "waited until {at}: {gap:?}"
    );
    assert!(api.rate_limit_waited() >= Duration::from_secs(1));
}
