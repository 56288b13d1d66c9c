//! Integration tests of the gcloud provider against its Cloud DNS fake (providers/gcloud/tests/
//! fake, on the kit's router, serving the token endpoint, the metadata server and
//! iamcredentials too), once backed by a real BIND zone with Pebble validating a wildcard + apex
//! certificate through it. The provider contract is the conformance suite (`cargo test -p
//! wildcert-gcloud --test it conformance`); the tests here are Cloud DNS's own: the 409/412
//! traps, changes polled until done, private zones, zone listing permission, the three kinds of
//! credentials, paging, 429 and bad input.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Gcloud);

use std::time::{Duration, Instant};

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_gcloud::{GcloudProvider, GcloudSettings};
use wildcert_provider::spec::{LayeredSettings as _, env_map};

use crate::fake::{ACCOUNT, FakeToken, GcloudFake, GcloudFakeOptions, gerr};

const NAME: &str = "_acme-challenge.example.test";
const CI: &str = "ci@wildcert-test.iam.gserviceaccount.com";

/// A started fake.
pub fn fake(opts: GcloudFakeOptions) -> GcloudFake {
    init_logs();
    GcloudFake::start(opts).expect("fake starts")
}

/// Settings with a key of the fake's DNS account (its `token_uri` the fake).
pub fn settings(fake: &GcloudFake) -> GcloudSettings {
    GcloudSettings {
        service_account: Some(Secret::new(fake.key_json(ACCOUNT))),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &GcloudSettings) -> GcloudProvider {
    GcloudProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &GcloudProvider, fqdn: &str) -> Zone {
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
    let fake = fake(GcloudFakeOptions::backed_by(&topo));
    fake.seed_record("example.test", "TXT", NAME, "\"keep-me\"", 300)
        .expect("foreign value");
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key.json");
    std::fs::write(&key, fake.key_json(ACCOUNT)).expect("key file");
    let env = [
        ("GCE_SERVICE_ACCOUNT_FILE", key.display().to_string()),
        ("GCE_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "gcloud", &env).await;
    assert!(
        fake.count("POST", "/token") >= 1,
        "a JWT grant at the key's token_uri"
    );
    assert!(!fake.changes().is_empty());
    assert_eq!(
        fake.txt_values(NAME),
        ["keep-me"],
        "no record left, the foreign one kept"
    );
    assert_eq!(
        topo.txt_values(topo.primary_addr(), NAME).expect("dig"),
        ["keep-me"]
    );
    let refused = fake.count_where(|r| r.status == 409 || r.status == 412);
    assert_eq!(
        refused, 0,
        "never an addition onto an RRset, never a stale deletion"
    );
}

#[tokio::test]
async fn one_change_replaces_the_rrset_as_stored_and_waits_until_done() {
    let fake = fake(GcloudFakeOptions {
        change_delay: Duration::from_millis(600),
        ..Default::default()
    });
    fake.seed_record("example.test", "TXT", NAME, "\"foreign\"", 3600)
        .expect("seed");
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    assert_eq!(zone.provider_id.as_deref(), Some("example-test"));
    let values = set(&[
        (NAME, "wildcard"),
        (NAME, "apex"),
        ("_acme-challenge.www.example.test", "www"),
    ]);
    let t = Instant::now();
    p.publish(&zone, &values).await.expect("publish");
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "returned while pending"
    );
    assert!(
        fake.count_prefix(
            "GET",
            "/dns/v1/projects/wildcert-test/managedZones/example-test/changes/"
        ) >= 1
    );
    assert_eq!(fake.txt_values(NAME), ["apex", "foreign", "wildcard"]);
    let changes = fake.changes();
    assert_eq!(changes.len(), 1, "one change for the batch");
    let c = &changes[0];
    assert_eq!(
        c["deletions"][0]["rrdatas"],
        serde_json::json!(["\"foreign\""])
    );
    assert_eq!(c["additions"].as_array().map(Vec::len), Some(2));
    let ttl = |n: &str| {
        fake.records("example.test")
            .iter()
            .find(|r| r.name == n)
            .map(|r| r.ttl)
    };
    assert_eq!(ttl(NAME), Some(3600), "the existing RRset keeps its TTL");
    assert_eq!(ttl("_acme-challenge.www.example.test"), Some(60));
    p.publish(&zone, &values).await.expect("again");
    assert_eq!(
        fake.changes().len(),
        1,
        "nothing sent for values already there"
    );
    p.unpublish(&zone, &values).await.expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["foreign"]);
    assert!(
        fake.txt_values("_acme-challenge.www.example.test")
            .is_empty()
    );
    p.unpublish(&zone, &values)
        .await
        .expect("values already gone");
}

#[tokio::test]
async fn a_stale_read_is_read_again() {
    let fake = fake(GcloudFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "first")]))
        .await
        .expect("warm up");
    // Let the read through, then refuse the change as Cloud DNS does when the RRset changed.
    let stale = gerr(
        412,
        "conditionNotMet",
        "Precondition not met for 'entity.change.deletions[0]'",
    );
    fake.fail_after(1, 1, stale);
    p.publish(&zone, &set(&[(NAME, "second")]))
        .await
        .expect("redone");
    fake.fail_after(1, 1, gerr(409, "alreadyExists", "already exists"));
    p.publish(&zone, &set(&[(NAME, "third")]))
        .await
        .expect("redone");
    assert_eq!(fake.txt_values(NAME), ["first", "second", "third"]);
    fake.fail_after(
        1,
        1,
        gerr(
            400,
            "invalid",
            "Invalid value for 'entity.change.additions[0].ttl'",
        ),
    );
    let e = p
        .publish(&zone, &set(&[(NAME, "x")]))
        .await
        .expect_err("not a conflict");
    assert!(
        matches!(e, ProviderError::Rejected { .. }) && e.to_string().contains("ttl"),
        "{e}"
    );
}

#[tokio::test]
async fn private_zones_are_skipped_unless_allowed() {
    let fake = fake(GcloudFakeOptions {
        zones: vec!["example.test".into()],
        private: vec!["example.test".into(), "internal.test".into()],
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    assert_eq!(
        zone.provider_id.as_deref(),
        Some("example-test"),
        "the public twin"
    );
    p.publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect("publish");
    assert_eq!(fake.txt_values(NAME), ["v"]);
    assert!(fake.private_txt_values(NAME).is_empty());
    let e = p
        .zone_for(&name("_acme-challenge.internal.test"))
        .await
        .expect_err("private");
    let text = e.to_string();
    assert!(
        matches!(e, ProviderError::ZoneNotFound { .. }) && text.contains("GCE_ALLOW_PRIVATE_ZONE"),
        "{text}"
    );
    assert!(
        text.contains("example.test, example.test (private), internal.test (private)"),
        "{text}"
    );
    let p = provider(&GcloudSettings {
        allow_private_zone: Some(true),
        ..settings(&fake)
    });
    let zone = zone_of(&p, "_acme-challenge.internal.test").await;
    assert_eq!(zone.provider_id.as_deref(), Some("internal-test-private"));
    p.publish(&zone, &set(&[("_acme-challenge.internal.test", "p")]))
        .await
        .expect("publish");
    assert_eq!(
        fake.private_txt_values("_acme-challenge.internal.test"),
        ["p"]
    );
}

#[tokio::test]
async fn without_the_list_permission_zone_id_names_the_zone() {
    let fake = fake(GcloudFakeOptions {
        accounts: vec![FakeToken {
            zone_read: false,
            ..FakeToken::full(ACCOUNT)
        }],
        ..Default::default()
    });
    let e = provider(&settings(&fake))
        .zone_for(&name(NAME))
        .await
        .expect_err("403");
    assert!(
        matches!(e, ProviderError::Auth { .. }) && e.to_string().contains("GCE_ZONE_ID"),
        "{e}"
    );
    let p = provider(&GcloudSettings {
        zone_id: Some("example-test".into()),
        ..settings(&fake)
    });
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect("publish");
    assert_eq!(fake.txt_values(NAME), ["v"]);
    let e = p
        .zone_for(&name("_acme-challenge.other.test"))
        .await
        .expect_err("outside");
    assert!(e.to_string().contains("GCE_ZONE_ID"), "{e}");
    let p = provider(&GcloudSettings {
        zone_id: Some("nope".into()),
        ..settings(&fake)
    });
    let e = p.zone_for(&name(NAME)).await.expect_err("unknown zone");
    assert!(
        matches!(e, ProviderError::ZoneNotFound { .. }) && e.to_string().contains("nope"),
        "{e}"
    );
}

#[tokio::test]
async fn the_metadata_server_and_impersonation_give_tokens() {
    let fake = fake(GcloudFakeOptions {
        accounts: vec![
            FakeToken::full(ACCOUNT),
            FakeToken {
                zones: Some(Vec::new()),
                zone_read: false,
                dns_edit: false,
                ..FakeToken::full(CI)
            },
        ],
        metadata_account: Some(ACCOUNT.into()),
        token_creators: vec![(CI.into(), ACCOUNT.into())],
        ..Default::default()
    });
    let on_gce = GcloudSettings {
        metadata_host: Some(fake.metadata_host()),
        base_url: Some(fake.base_url()),
        ..Default::default()
    };
    let p = provider(&on_gce);
    assert!(
        p.credential_source()
            .is_some_and(|s| s.contains("metadata"))
    );
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "from-metadata")]))
        .await
        .expect("publish");
    assert_eq!(
        fake.count("GET", "/computeMetadata/v1/project/project-id"),
        1,
        "project asked once"
    );
    assert_eq!(
        fake.count(
            "GET",
            "/computeMetadata/v1/instance/service-accounts/default/token"
        ),
        1,
        "token cached"
    );
    // CI's own key may do nothing in Cloud DNS, but may act as the DNS account.
    let ci = GcloudSettings {
        service_account: Some(Secret::new(fake.key_json(CI))),
        impersonate_service_account: Some(ACCOUNT.into()),
        iam_url: Some(fake.base_url()),
        ..settings(&fake)
    };
    let p = provider(&ci);
    p.publish(&zone, &set(&[(NAME, "impersonated")]))
        .await
        .expect("publish");
    assert_eq!(fake.txt_values(NAME), ["from-metadata", "impersonated"]);
    let path = format!("/v1/projects/-/serviceAccounts/{ACCOUNT}:generateAccessToken");
    assert_eq!(fake.count("POST", &path), 1);
    let p = provider(&GcloudSettings {
        impersonate_service_account: Some(CI.into()),
        ..ci.clone()
    });
    let e = p
        .publish(&zone, &set(&[(NAME, "x")]))
        .await
        .expect_err("no token creator");
    assert!(
        matches!(e, ProviderError::Auth { .. })
            && e.to_string().contains("GCE_IMPERSONATE_SERVICE_ACCOUNT"),
        "{e}"
    );
    let p = provider(&GcloudSettings {
        impersonate_service_account: None,
        ..ci
    });
    let e = p
        .publish(&zone, &set(&[(NAME, "x")]))
        .await
        .expect_err("CI may not write");
    assert!(
        matches!(e, ProviderError::Auth { .. }) && e.to_string().contains("roles/dns.admin"),
        "{e}"
    );
    let away = GcloudSettings {
        metadata_host: Some("127.0.0.1:9".into()),
        project: Some("p".into()),
        ..on_gce
    };
    let e = provider(&away)
        .zone_for(&name(NAME))
        .await
        .expect_err("no metadata server");
    assert!(
        matches!(e, ProviderError::Config { .. })
            && e.to_string().contains("GCE_SERVICE_ACCOUNT_FILE"),
        "{e}"
    );
}

#[tokio::test]
async fn credential_errors_are_told_apart_and_never_show_the_key() {
    let reader = "reader@wildcert-test.iam.gserviceaccount.com";
    let fake = fake(GcloudFakeOptions {
        zones: vec!["example.test".into(), "other.test".into()],
        accounts: vec![
            FakeToken::full(ACCOUNT),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(reader)
            },
            FakeToken {
                zones: Some(vec!["other.test".into()]),
                ..FakeToken::full(CI)
            },
        ],
        ..Default::default()
    });
    let with = |email: &str| {
        provider(&GcloudSettings {
            service_account: Some(Secret::new(fake.key_json(email))),
            ..settings(&fake)
        })
    };
    let e = with("deleted@wildcert-test.iam.gserviceaccount.com")
        .zone_for(&name(NAME))
        .await
        .expect_err("unknown");
    let text = e.to_string();
    assert!(
        matches!(e, ProviderError::Auth { .. })
            && text.contains("invalid_grant")
            && text.contains("token endpoint"),
        "{text}"
    );
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    let p = with(reader);
    let zone = zone_of(&p, NAME).await;
    let e = p
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("read only");
    assert!(
        matches!(e, ProviderError::Auth { .. }) && e.to_string().contains("403"),
        "{e}"
    );
    let e = with(CI)
        .zone_for(&name(NAME))
        .await
        .expect_err("not visible");
    assert!(
        matches!(e, ProviderError::ZoneNotFound { .. })
            && e.to_string().contains("the project has: other.test"),
        "{e}"
    );
    // A key file: unreadable, not JSON, lacking the key, through the environment.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("key.json");
    std::fs::write(&file, "{\"private_key\": \"s3cret\", ").expect("write");
    let path = file.display().to_string();
    let env = env_map(&[("GCE_SERVICE_ACCOUNT_FILE", path.as_str())]);
    let e = GcloudSettings::from_env_map(&env)
        .and_then(|s| s.validate())
        .expect_err("not JSON");
    assert!(
        e.to_string().contains("not a JSON") && !e.to_string().contains("s3cret"),
        "{e}"
    );
    std::fs::write(
        &file,
        "{\"client_email\": \"a@b\", \"token_uri\": \"https://t\"}",
    )
    .expect("write");
    let e = GcloudSettings::from_env_map(&env)
        .and_then(|s| s.validate())
        .expect_err("no key");
    assert!(
        e.to_string().contains("lacks `private_key`")
            && e.to_string().contains("GCE_SERVICE_ACCOUNT_FILE"),
        "{e}"
    );
}

#[tokio::test]
async fn pages_of_zones_and_rrsets_and_429() {
    let mut zones: Vec<String> = (0..120).map(|i| format!("z{i:03}.test")).collect();
    zones.extend(["example.test".to_string(), "sub.example.test".to_string()]);
    let fake = fake(GcloudFakeOptions {
        zones,
        ..Default::default()
    });
    for i in 0..130 {
        let n = format!("seed{i}.example.test");
        fake.seed_record("example.test", "TXT", &n, &format!("\"s{i}\""), 300)
            .expect("seed");
    }
    let p = provider(&settings(&fake));
    let sub = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(sub.name, name("sub.example.test"), "the longest zone");
    let zone = zone_of(&p, NAME).await;
    let names: Vec<String> = (0..6)
        .map(|i| format!("_acme-challenge.n{i}.example.test"))
        .collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), "v"))
        .chain([("seed125.example.test", "s125")])
        .collect();
    p.publish(&zone, &set(&pairs)).await.expect("publish");
    let pages = fake.count_where(|r| {
        r.path.ends_with("/rrsets") && r.query.iter().any(|(k, _)| k == "pageToken")
    });
    assert!(pages >= 1, "every page of RRsets read");
    p.unpublish(&zone, &set(&pairs)).await.expect("unpublish");
    assert!(names.iter().all(|n| fake.txt_values(n).is_empty()));
    assert!(
        fake.txt_values("seed125.example.test").is_empty(),
        "a value found on page 2 removed"
    );
    assert_eq!(
        fake.txt_values("seed124.example.test"),
        ["s124"],
        "its neighbour kept"
    );
    fake.fail_next(2, crate::fake::rate_limited(Duration::from_secs(1)));
    p.publish(&zone, &set(&[(NAME, "after-429")]))
        .await
        .expect("publish after 429s");
    assert_eq!(fake.count_where(|r| r.status == 429), 2);
    assert_eq!(fake.txt_values(NAME), ["after-429"]);
}
