//! Integration tests of the edgedns provider against its Edge DNS fake
//! (providers/edgedns/tests/fake, on the kit's router, verifying every EdgeGrid signature),
//! once backed by a real BIND zone with Pebble validating a wildcard + apex certificate through
//! it. The provider contract is the conformance suite (`cargo test -p wildcert-edgedns --test
//! it conformance`); the tests here are Akamai's own: the whole-set PUT merged, never
//! overwritten; 409 concurrentZoneModification; the zone list beyond one page of 25; 429;
//! credentials from the environment, section variables and .edgerc; grants and zone errors.

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::EdgeDns);

use std::time::Duration;

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_edgedns::{EdgeDnsProvider, EdgeDnsSettings};
use wildcert_provider::spec::{LayeredSettings, env_map};

use crate::fake::{ApiClient, CLIENT, EdgeFake, EdgeFakeOptions};

const NAME: &str = "_acme-challenge.example.test";
const SET: &str = "/zones/example.test/names/_acme-challenge.example.test/types/TXT";

/// A started fake.
pub fn fake(opts: EdgeFakeOptions) -> EdgeFake {
    init_logs();
    EdgeFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default API client.
pub fn settings(fake: &EdgeFake) -> EdgeDnsSettings {
    EdgeDnsSettings {
        host: Some(fake.base_url()),
        client_token: Some(Secret::new(CLIENT.0)),
        client_secret: Some(Secret::new(CLIENT.1)),
        access_token: Some(Secret::new(CLIENT.2)),
        ..Default::default()
    }
}

fn provider(s: &EdgeDnsSettings) -> EdgeDnsProvider {
    EdgeDnsProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &EdgeDnsProvider, fqdn: &str) -> Zone {
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
    let fake = fake(EdgeFakeOptions::backed_by(&topo));
    fake.seed_record("example.test", "TXT", NAME, "\"keep-me\"", 300)
        .expect("foreign value");
    let env = [
        ("AKAMAI_HOST", fake.base_url()),
        ("AKAMAI_CLIENT_TOKEN", CLIENT.0.to_string()),
        ("AKAMAI_CLIENT_SECRET", CLIENT.1.to_string()),
        ("AKAMAI_ACCESS_TOKEN", CLIENT.2.to_string()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "edgedns", &env).await;
    assert!(
        fake.count("PUT", SET) >= 2,
        "published and cleaned up by PUT"
    );
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
async fn the_whole_set_put_is_merged_never_overwritten() {
    let fake = fake(EdgeFakeOptions::default());
    fake.seed_record("example.test", "TXT", NAME, "\"foreign\"", 3600)
        .expect("seed");
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let www = "_acme-challenge.www.example.test";
    let values = set(&[(NAME, "wildcard-token"), (NAME, "apex-token"), (www, "www")]);
    p.publish(&zone, &values).await.expect("publish");
    assert_eq!(
        fake.txt_values(NAME),
        ["apex-token", "foreign", "wildcard-token"]
    );
    assert_eq!(fake.txt_values(www), ["www"]);
    assert_eq!(fake.count("PUT", SET), 1, "one PUT per name");
    let www_set = "/zones/example.test/names/_acme-challenge.www.example.test/types/TXT";
    assert_eq!(
        fake.count("POST", www_set),
        1,
        "a new set is created by POST"
    );
    assert_eq!(
        fake.records("example.test")
            .iter()
            .find(|r| r.name == NAME)
            .map(|r| r.ttl),
        Some(3600),
        "the set keeps its TTL"
    );
    p.publish(&zone, &values).await.expect("publish again");
    assert_eq!(
        fake.count_prefix("PUT", "/zones/") + fake.count_prefix("POST", "/zones/"),
        2
    );
    p.unpublish(&zone, &values).await.expect("unpublish");
    assert_eq!(fake.txt_values(NAME), ["foreign"]);
    assert!(fake.txt_values(www).is_empty());
    assert_eq!(
        fake.count("DELETE", www_set),
        1,
        "a set left empty is deleted"
    );
    p.unpublish(&zone, &values)
        .await
        .expect("removing values that are gone");
    assert_eq!(fake.count_prefix("DELETE", "/zones/"), 1);
    let nonces: std::collections::HashSet<String> = fake
        .requests()
        .iter()
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|h| h.0.eq_ignore_ascii_case("authorization"))
                .map(|h| h.1.clone())
        })
        .collect();
    assert_eq!(
        nonces.len(),
        1,
        "the Authorization header is redacted in the audit: {nonces:?}"
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| ![400, 401, 403].contains(&r.status)),
        "every signature verified"
    );
}

#[tokio::test]
async fn concurrent_zone_modification_is_read_merged_and_written_again() {
    let fake = fake(EdgeFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.busy_writes(2);
    p.publish(&zone, &set(&[(NAME, "after-409")]))
        .await
        .expect("publish after 409s");
    assert_eq!(fake.count_where(|r| r.status == 409), 2);
    assert_eq!(fake.count("GET", SET), 3, "each try reads the set again");
    assert_eq!(fake.txt_values(NAME), ["after-409"]);
    fake.busy_writes(100);
    let err = p
        .unpublish(&zone, &set(&[(NAME, "after-409")]))
        .await
        .expect_err("busy");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::Rejected { .. })
            && text.contains("409")
            && text.contains("6 times"),
        "{text}"
    );
    assert_eq!(fake.txt_values(NAME), ["after-409"], "nothing half-done");
}

#[tokio::test]
async fn zones_beyond_one_page_of_25_and_the_longest_wins() {
    let mut zones: Vec<String> = (0..40).map(|i| format!("z{i:03}.test")).collect();
    zones.extend(["example.test".to_string(), "sub.example.test".to_string()]);
    let fake = fake(EdgeFakeOptions {
        zones,
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let sub = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(
        sub.name,
        name("sub.example.test"),
        "the longest zone, on page 2"
    );
    let page2 = |r: &wildcert_testkit::Audited| {
        r.path == "/zones" && r.query.iter().any(|(k, v)| k == "page" && v == "2")
    };
    assert_eq!(fake.count_where(page2), 1, "the second page read");
    assert_eq!(
        fake.count("GET", "/zones"),
        2,
        "and no more: totalElements reached"
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(EdgeFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.fail_next(2, crate::fake::rate_limited(1));
    p.publish(&zone, &set(&[(NAME, "after-429")]))
        .await
        .expect("publish after 429s");
    assert_eq!(fake.count_where(|r| r.status == 429), 2);
    assert_eq!(fake.txt_values(NAME), ["after-429"]);
}

#[tokio::test]
async fn credentials_grants_and_zone_errors_say_what_to_fix() {
    let fake = fake(EdgeFakeOptions {
        zones: vec!["example.test".into(), "other.test".into()],
        ..Default::default()
    });
    let ro = (
        "akab-readonly-client-token",
        "cmVhZC1vbmx5LXNlY3JldA==",
        "akab-readonly-access",
    );
    fake.add_client(ApiClient {
        read_write: false,
        ..ApiClient::full(ro)
    });
    let other = (
        "akab-other-client-token",
        "b3RoZXItc2VjcmV0",
        "akab-other-access",
    );
    fake.add_client(ApiClient {
        zones: Some(vec!["other.test".into()]),
        ..ApiClient::full(other)
    });
    let with = |c: (&str, &str, &str)| {
        provider(&EdgeDnsSettings {
            client_token: Some(Secret::new(c.0)),
            client_secret: Some(Secret::new(c.1)),
            access_token: Some(Secret::new(c.2)),
            ..settings(&fake)
        })
    };
    for creds in [
        (CLIENT.0, "d3Jvbmctc2VjcmV0", CLIENT.2),
        ("akab-unknown", CLIENT.1, CLIENT.2),
        (CLIENT.0, CLIENT.1, "akab-x"),
    ] {
        let err = with(creds).zone_for(&name(NAME)).await.expect_err("401");
        let text = err.to_string();
        assert!(
            matches!(err, ProviderError::Auth { .. })
                && text.contains("401")
                && text.contains("client_secret")
                && !text.contains(creds.1),
            "{text}"
        );
    }
    let p = with(ro);
    let zone = zone_of(&p, NAME).await;
    let err = p
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("read-only");
    assert!(
        matches!(err, ProviderError::Auth { .. }) && err.to_string().contains("READ-WRITE"),
        "{err}"
    );
    let err = with(other)
        .zone_for(&name(NAME))
        .await
        .expect_err("not in its contract");
    let text = err.to_string();
    assert!(
        matches!(err, ProviderError::ZoneNotFound { .. }) && text.contains("sees: other.test"),
        "{text}"
    );
    // A skewed clock: Akamai's 400 Invalid timestamp is a credentials problem that names the clock.
    fake.fail_next(
        1,
        wildcert_testkit::Reply::json(
            400,
            &serde_json::json!({
        "type": "https://problems.luna.akamaiapis.net/-/pep-authn/request-error",
        "title": "Bad request", "status": 400, "detail": "Invalid timestamp" }),
        ),
    );
    let err = with(CLIENT)
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("clock");
    assert!(
        matches!(err, ProviderError::Auth { .. }) && err.to_string().contains("clock"),
        "{err}"
    );
    // An explicit zone: no lookup, accountSwitchKey on every request.
    let p = provider(&EdgeDnsSettings {
        zone: Some("example.test".into()),
        account_switch_key: Some("1-ABCDE:1-2RBL".into()),
        ..settings(&fake)
    });
    fake.clear_requests();
    p.publish(&zone, &set(&[(NAME, "explicit")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("GET", "/zones"), 0);
    let switched = |r: &wildcert_testkit::Audited| {
        r.query
            .iter()
            .any(|(k, v)| k == "accountSwitchKey" && v == "1-ABCDE:1-2RBL")
    };
    assert_eq!(
        fake.count_where(switched),
        fake.requests().len(),
        "accountSwitchKey signed on every request"
    );
    assert!(
        p.zone_for(&name("_acme-challenge.z.test"))
            .await
            .is_err_and(|e| e.to_string().contains("AKAMAI_ZONE"))
    );
}

#[tokio::test]
async fn credentials_from_an_edgerc_section_and_section_variables() {
    let fake = fake(EdgeFakeOptions::default());
    let dir = tempfile::tempdir().expect("dir");
    let rc = dir.path().join(".edgerc");
    let text = format!(
        "[default]\nhost = wrong.example\nclient_token = x\nclient_secret = y\naccess_token = z\n\n\
         [dns]\nhost = {}\nclient_token = {}\nclient-secret = {}\naccess_token = {}\nmax_body = 131072\n",
        fake.base_url(),
        CLIENT.0,
        CLIENT.1,
        CLIENT.2
    );
    std::fs::write(&rc, text).expect("write .edgerc");
    let home = dir.path().to_string_lossy().to_string();
    let build = |pairs: &[(&str, &str)]| {
        let env = env_map(pairs);
        let mut s = EdgeDnsSettings::from_env_map(&env).expect("settings");
        s.read_env_only(&env).expect("env only");
        provider(&s)
    };
    let p = build(&[("HOME", &home), ("AKAMAI_EDGERC_SECTION", "dns")]);
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "from-edgerc")]))
        .await
        .expect("~/.edgerc [dns]");
    let base = fake.base_url();
    let p = build(&[
        ("AKAMAI_EDGERC", "/nonexistent"),
        ("AKAMAI_EDGERC_SECTION", "dns"),
        ("AKAMAI_DNS_HOST", &base),
        ("AKAMAI_DNS_CLIENT_TOKEN", CLIENT.0),
        ("AKAMAI_DNS_CLIENT_SECRET", CLIENT.1),
        ("AKAMAI_DNS_ACCESS_TOKEN", CLIENT.2),
    ]);
    p.unpublish(&zone, &set(&[(NAME, "from-edgerc")]))
        .await
        .expect("AKAMAI_DNS_*");
    assert!(fake.txt_values(NAME).is_empty());
    assert!(
        fake.requests()
            .iter()
            .all(|r| ![400, 401, 403].contains(&r.status))
    );
}

#[tokio::test]
async fn lego_tuning_reaches_the_pipeline() {
    let fake = fake(EdgeFakeOptions::default());
    let p = provider(&settings(&fake));
    assert_eq!(
        p.tuning().propagation_timeout,
        Some(Duration::from_secs(180))
    );
    assert!(
        p.credential_source()
            .is_some_and(|s| s.contains("127.0.0.1"))
    );
}
