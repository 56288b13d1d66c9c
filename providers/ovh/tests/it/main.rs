//! Integration tests of the ovh provider against its OVH API fake (providers/ovh/tests/fake):
//! the conformance suite, a wildcard + apex certificate issued by Pebble through the fake and a
//! real BIND zone, and OVH's own traps (the zone refresh, clock skew and the server's time,
//! signatures, consumer-key rules, OAuth2, 429 + Retry-After, zone lookup).

#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Ovh);

use std::time::Duration;

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_ovh::{OvhProvider, OvhSettings};

use crate::fake::{
    APP_KEY, APP_SECRET, CLIENT, CONSUMER_KEY, FakeToken, OvhFake, OvhFakeOptions, sign,
};

const NAME: &str = "_acme-challenge.example.test";
const REFRESH: &str = "/1.0/domain/zone/example.test/refresh";

/// A started fake.
pub fn fake(opts: OvhFakeOptions) -> OvhFake {
    init_logs();
    OvhFake::start(opts).expect("fake starts")
}

/// Signed settings for the fake's application and full consumer key.
pub fn settings(fake: &OvhFake) -> OvhSettings {
    OvhSettings {
        base_url: Some(fake.base_url()),
        application_key: Some(APP_KEY.into()),
        application_secret: Some(Secret::new(APP_SECRET)),
        consumer_key: Some(Secret::new(CONSUMER_KEY)),
        ..Default::default()
    }
}

fn provider(s: &OvhSettings) -> OvhProvider {
    OvhProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &OvhProvider, fqdn: &str) -> Zone {
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
    let fake = fake(OvhFakeOptions::backed_by(&topo));
    fake.seed("example.test", NAME, "keep-me", 60);
    let env = [
        ("OVH_ENDPOINT", fake.base_url()),
        ("OVH_APPLICATION_KEY", APP_KEY.to_string()),
        ("OVH_APPLICATION_SECRET", APP_SECRET.to_string()),
        ("OVH_CONSUMER_KEY", CONSUMER_KEY.to_string()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "ovh", &env).await;
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "no record of ours left");
    let dns = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(dns, ["keep-me"]);
    assert!(
        fake.count("POST", REFRESH) >= 2,
        "refreshed after publish and cleanup"
    );
}

#[tokio::test]
async fn only_a_refresh_reaches_the_nameservers() {
    let fake = fake(OvhFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    // A record made through the API but never refreshed is not served (OVH's trap).
    fake.seed_record("example.test", "TXT", NAME, "\"unrefreshed\"", 60)
        .expect("seed");
    assert!(fake.served_values(NAME).is_empty());
    fake.clear_requests();
    p.publish(&zone, &set(&[(NAME, "ours-1"), (NAME, "ours-2")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("POST", REFRESH), 1);
    assert_eq!(
        fake.served_values(NAME),
        ["ours-1", "ours-2", "unrefreshed"]
    );
    // Publishing what is there already still refreshes: an interrupted run's records get served.
    p.publish(&zone, &set(&[(NAME, "ours-1")]))
        .await
        .expect("again");
    assert_eq!(fake.count("POST", REFRESH), 2);
    p.unpublish(&zone, &set(&[(NAME, "ours-1"), (NAME, "ours-2")]))
        .await
        .expect("unpublish");
    assert_eq!(fake.count("POST", REFRESH), 3);
    assert_eq!(fake.served_values(NAME), ["unrefreshed"]);
}

#[tokio::test]
async fn the_server_clock_is_used_and_a_local_one_is_refused() {
    // The fake's clock is an hour behind: a client signing with its own clock is refused.
    let fake = fake(OvhFakeOptions {
        clock_offset: -3600,
        ..Default::default()
    });
    let local = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        .to_string();
    let url = format!("{}/domain/zone", fake.base_url());
    let resp = reqwest::Client::new()
        .get(&url)
        .header("X-Ovh-Application", APP_KEY)
        .header("X-Ovh-Consumer", CONSUMER_KEY)
        .header("X-Ovh-Timestamp", &local)
        .header(
            "X-Ovh-Signature",
            sign(APP_SECRET, CONSUMER_KEY, "GET", &url, "", &local),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.expect("body").contains("QUERY_TIME_OUT"));
    // The provider asks /auth/time once and signs with the server's clock.
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "skewed")]))
        .await
        .expect("publish");
    p.unpublish(&zone, &set(&[(NAME, "skewed")]))
        .await
        .expect("unpublish");
    assert_eq!(fake.count("GET", "/1.0/auth/time"), 1);
    let refused = fake.requests().iter().filter(|r| r.status == 400).count();
    assert_eq!(refused, 1, "only the local-clock request");
    // The signature covers the body: the fake checked every POST.
    let posts = fake.count_where(|r| r.method == "POST" && r.status == 200);
    assert_eq!(posts, 3, "one create, two refreshes");
}

/// A change to the settings.
type Edit = fn(&mut OvhSettings);

#[tokio::test]
async fn wrong_keys_are_told_apart_and_never_printed() {
    let read_only = "ReadOnlyConsumerKey0000000000001";
    let fake = fake(OvhFakeOptions {
        consumers: vec![
            FakeToken::full(CONSUMER_KEY),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(read_only)
            },
        ],
        ..Default::default()
    });
    let with = |f: Edit| {
        let mut s = settings(&fake);
        f(&mut s);
        provider(&s)
    };
    let cases: [(Edit, &str, &str); 3] = [
        (
            |s| s.application_key = Some("UnknownAppKey001".into()),
            "OVH_APPLICATION_KEY",
            "UnknownAppKey001",
        ),
        (
            |s| s.application_secret = Some(Secret::new("WrongS3cretWrongS3cretWrongS3cre")),
            "signature",
            "WrongS3cret",
        ),
        (
            |s| s.consumer_key = Some(Secret::new("UnknownConsumerS3cret00000000001")),
            "OVH_CONSUMER_KEY",
            "UnknownConsumerS3cret",
        ),
    ];
    for (f, says, secret) in cases {
        let e = with(f).zone_for(&name(NAME)).await.expect_err("refused");
        assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(says), "{text}");
        assert!(
            secret == "UnknownAppKey001" || !text.contains(secret),
            "{text}"
        );
    }
    let ro = with(|s| s.consumer_key = Some(Secret::new("ReadOnlyConsumerKey0000000000001")));
    let zone = zone_of(&ro, NAME).await;
    let e = ro
        .publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect_err("403");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    assert!(
        e.to_string().contains("403") && e.to_string().contains("POST"),
        "{e}"
    );
    assert!(!e.to_string().contains(read_only));
    assert!(fake.txt_values(NAME).is_empty());
}

#[tokio::test]
async fn a_consumer_key_confined_to_one_zone_finds_it_through_dns() {
    let fake = fake(OvhFakeOptions {
        zones: vec!["example.test".into(), "other.test".into()],
        consumers: vec![FakeToken {
            zones: Some(vec!["example.test".into()]),
            ..FakeToken::full(CONSUMER_KEY)
        }],
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    // May not list zones (403 NOT_GRANTED_CALL): the engine finds the zone through DNS.
    assert_eq!(p.zone_for(&name(NAME)).await.expect("no error"), None);
    let zone = Zone::new(name("example.test"));
    p.publish(&zone, &set(&[(NAME, "scoped")]))
        .await
        .expect("publish");
    assert_eq!(fake.served_values(NAME), ["scoped"]);
    let other = Zone::new(name("other.test"));
    let e = p
        .publish(&other, &set(&[("_acme-challenge.other.test", "v")]))
        .await
        .expect_err("not granted");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
}

#[tokio::test]
async fn longest_zone_and_the_visible_zones_when_missing() {
    let fake = fake(OvhFakeOptions {
        zones: vec![
            "example.test".into(),
            "sub.example.test".into(),
            "z.test".into(),
        ],
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let z = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(z.name, name("sub.example.test"));
    let e = p
        .zone_for(&name("_acme-challenge.nowhere.test"))
        .await
        .expect_err("missing");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("example.test, sub.example.test, z.test"),
        "{text}"
    );
    let gone = Zone::new(name("gone.test"));
    let e = p
        .publish(&gone, &set(&[("_acme-challenge.gone.test", "v")]))
        .await
        .expect_err("404");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn oauth2_client_credentials_and_access_tokens() {
    let fake = fake(OvhFakeOptions {
        bearers: vec!["given-access-token".into()],
        ..Default::default()
    });
    let oauth = |secret: &str| OvhSettings {
        base_url: Some(fake.base_url()),
        client_id: Some(CLIENT.0.into()),
        client_secret: Some(Secret::new(secret)),
        token_url: Some(fake.token_url()),
        ..Default::default()
    };
    let p = provider(&oauth(CLIENT.1));
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "oauth")]))
        .await
        .expect("publish");
    p.unpublish(&zone, &set(&[(NAME, "oauth")]))
        .await
        .expect("unpublish");
    assert_eq!(fake.count("POST", "/auth/oauth2/token"), 1, "token reused");
    assert_eq!(fake.count("GET", "/1.0/auth/time"), 0);
    let e = provider(&oauth("wrong-client-s3cret"))
        .zone_for(&name(NAME))
        .await
        .expect_err("bad client");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("OVH_CLIENT_SECRET") && !text.contains("s3cret"),
        "{text}"
    );
    let token = |t: &str| OvhSettings {
        base_url: Some(fake.base_url()),
        access_token: Some(Secret::new(t)),
        ..Default::default()
    };
    let p = provider(&token("given-access-token"));
    p.publish(&zone, &set(&[(NAME, "bearer")]))
        .await
        .expect("publish");
    assert_eq!(fake.served_values(NAME), ["bearer"]);
    let e = provider(&token("unknown-t0ken"))
        .zone_for(&name(NAME))
        .await
        .expect_err("401");
    assert!(
        matches!(e, ProviderError::Auth { .. }) && e.to_string().contains("401"),
        "{e}"
    );
}

#[tokio::test]
async fn many_records_at_the_name_and_exactly_ours_removed() {
    // OVH lists every id at once (no pages); 45 foreign values sit at the name.
    let fake = fake(OvhFakeOptions::default());
    for i in 0..45 {
        fake.seed("example.test", NAME, &format!("foreign-{i:02}"), 60);
    }
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let ours = set(&[
        (NAME, "ours-wildcard"),
        (NAME, "ours-apex"),
        ("example.test", "apex"),
    ]);
    p.publish(&zone, &ours).await.expect("publish");
    assert_eq!(fake.records("example.test").len(), 48);
    let apex_post = fake
        .requests()
        .into_iter()
        .any(|r| r.method == "POST" && r.body.contains("\"subDomain\":\"\""));
    assert!(apex_post, "the apex is the empty sub-domain");
    fake.clear_requests();
    p.unpublish(&zone, &ours).await.expect("unpublish");
    let left = fake.served_values(NAME);
    assert_eq!(left.len(), 45, "{left:?}");
    assert!(left.iter().all(|v| v.starts_with("foreign-")));
    assert!(fake.txt_values("example.test").is_empty());
    assert_eq!(
        fake.count_prefix("DELETE", "/1.0/domain/zone/example.test/record/"),
        3
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(OvhFakeOptions::default());
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
    assert_eq!(fake.served_values(NAME), ["after-429"]);
    let limited = fake.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, 2);
}
