//! Integration tests of the linode provider against its Linode API v4 fake
//! (providers/linode/tests/fake): the conformance suite, a wildcard + apex certificate issued by
//! Pebble through the fake and a real BIND zone that serves each change only seconds later (the
//! edge delay), and Linode's own traps (pages at cleanup and in the domain list, 401 token vs
//! 401 scope vs 403 restricted user, 429 + Retry-After, TTL rounding, zone lookup).

#[allow(dead_code)]
#[path = "../fake/mod.rs"]
mod fake;
mod sdk;
mod subject;

wildcert_conformance::conformance_suite!(crate::subject::Linode);

use std::time::{Duration, Instant};

use wildcert_conformance::{init_logs, issuance};
use wildcert_dns::{DnsName, DnsProvider, ProviderError, Secret, TxtSet, Zone};
use wildcert_linode::{LinodeProvider, LinodeSettings};

use crate::fake::{DEFAULT_TOKEN, FakeToken, LinodeFake, LinodeFakeOptions};

const NAME: &str = "_acme-challenge.example.test";

/// A started fake.
pub fn fake(opts: LinodeFakeOptions) -> LinodeFake {
    init_logs();
    LinodeFake::start(opts).expect("fake starts")
}

/// Settings for the fake's default token.
pub fn settings(fake: &LinodeFake) -> LinodeSettings {
    LinodeSettings {
        token: Some(Secret::new(DEFAULT_TOKEN)),
        base_url: Some(fake.base_url()),
        ..Default::default()
    }
}

fn provider(s: &LinodeSettings) -> LinodeProvider {
    LinodeProvider::new(s).expect("valid settings")
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

async fn zone_of(p: &LinodeProvider, fqdn: &str) -> Zone {
    p.zone_for(&name(fqdn))
        .await
        .expect("zone_for")
        .expect("a zone")
}

/// Pages of `path` the provider asked for, in order.
fn pages_read(fake: &LinodeFake, path: &str) -> Vec<String> {
    let lists = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == path);
    let page = |q: &[(String, String)]| q.iter().find(|(k, _)| k == "page").map(|p| p.1.clone());
    lists.filter_map(|r| page(&r.query)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_apex_certificate_through_the_fake_and_a_slow_edge() {
    let Some(topo) = issuance::topology() else {
        return;
    };
    // Every change reaches BIND 5 s after the API answered: Pebble validates at once when
    // asked, so the certificate is issued only if wildcert waited for the nameservers.
    let fake = fake(LinodeFakeOptions {
        edge_delay: Some(Duration::from_secs(5)),
        ..LinodeFakeOptions::backed_by(&topo)
    });
    fake.seed("example.test", "TXT", NAME, "keep-me", 300);
    let env = [
        ("LINODE_TOKEN", DEFAULT_TOKEN.to_string()),
        ("LINODE_API_URL", fake.base_url()),
    ];
    issuance::issue_wildcard_and_apex(&topo, "linode", &env).await;
    assert_eq!(fake.txt_values(NAME), ["keep-me"], "no record of ours left");
    fake.settle();
    let dns = topo.txt_values(topo.primary_addr(), NAME).expect("dig");
    assert_eq!(dns, ["keep-me"]);
    let posts = fake.count_prefix("POST", "/domains/");
    assert_eq!(posts, 2, "one record per value");
}

#[tokio::test]
async fn cleanup_reads_every_page_and_removes_exactly_ours() {
    // 1,100 foreign values at the name: three pages of 500, ours on the last one.
    let fake = fake(LinodeFakeOptions::default());
    for i in 0..1100 {
        fake.seed("example.test", "TXT", NAME, &format!("foreign-{i:04}"), 300);
    }
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let ours = set(&[(NAME, "ours-wildcard"), (NAME, "ours-apex")]);
    p.publish(&zone, &ours).await.expect("publish");
    assert_eq!(fake.records("example.test").len(), 1102);
    fake.clear_requests();
    p.unpublish(&zone, &ours).await.expect("unpublish");
    let path = format!("/domains/{}/records", fake.domain_id("example.test"));
    assert_eq!(pages_read(&fake, &path), ["1", "2", "3"], "every page read");
    let filters: Vec<String> = fake
        .requests()
        .iter()
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("x-filter"))
                .map(|h| h.1.clone())
        })
        .collect();
    assert!(
        filters
            .iter()
            .all(|f| f.contains("\"name\":\"_acme-challenge\"")),
        "{filters:?}"
    );
    let left = fake.txt_values(NAME);
    assert_eq!(left.len(), 1100);
    assert!(left.iter().all(|v| v.starts_with("foreign-")));
    assert_eq!(fake.count_prefix("DELETE", &format!("{path}/")), 2);
    // Publishing reads every page too: a value on page 3 is not created twice.
    fake.seed("example.test", "TXT", NAME, "already-there", 300);
    p.publish(&zone, &set(&[(NAME, "already-there")]))
        .await
        .expect("publish");
    assert_eq!(fake.count("POST", &path), 0);
}

#[tokio::test]
async fn ttls_are_linodes_and_names_relative() {
    let fake = fake(LinodeFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    let mut s = TxtSet::with_ttl(10);
    s.insert(name(NAME), "short");
    s.insert(name("example.test"), "apex");
    p.publish(&zone, &s).await.expect("publish");
    let mut long = TxtSet::with_ttl(3000);
    long.insert(name("_acme-challenge.www.example.test"), "long");
    p.publish(&zone, &long).await.expect("publish");
    let ttls: Vec<u32> = fake.records("example.test").iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [300, 300, 3600]);
    let bodies: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.body)
        .collect();
    for part in [
        "\"name\":\"_acme-challenge\"",
        "\"name\":\"\"",
        "\"name\":\"_acme-challenge.www\"",
        "\"target\":\"apex\"",
    ] {
        assert!(
            bodies.iter().any(|b| b.contains(part)),
            "{part} in {bodies:?}"
        );
    }
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let fake = fake(LinodeFakeOptions::default());
    let p = provider(&settings(&fake));
    let zone = zone_of(&p, NAME).await;
    fake.clear_requests();
    fake.fail_next_with_429(2);
    let t = Instant::now();
    p.publish(&zone, &set(&[(NAME, "after-429")]))
        .await
        .expect("publish after 429s");
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "Retry-After: 1 honoured twice"
    );
    assert_eq!(fake.txt_values(NAME), ["after-429"]);
    assert_eq!(
        fake.requests().iter().filter(|r| r.status == 429).count(),
        2
    );
}

#[tokio::test]
async fn unknown_token_missing_scope_and_restricted_user_are_told_apart() {
    let (read_only_scope, no_scope, restricted) =
        ("lin-ro-scope", "lin-no-domains", "lin-restricted");
    let fake = fake(LinodeFakeOptions {
        tokens: vec![
            FakeToken::full(DEFAULT_TOKEN),
            FakeToken {
                dns_edit: false,
                ..FakeToken::full(read_only_scope)
            },
            FakeToken {
                zone_read: false,
                dns_edit: false,
                ..FakeToken::full(no_scope)
            },
            FakeToken::full(restricted),
        ],
        read_only_users: vec![restricted.into()],
        ..Default::default()
    });
    let with = |token: &str| {
        provider(&LinodeSettings {
            token: Some(Secret::new(token)),
            ..settings(&fake)
        })
    };
    let e = with("lin-s3cret-unknown")
        .zone_for(&name(NAME))
        .await
        .expect_err("401");
    assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("Invalid Token") && text.contains("LINODE_TOKEN"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    let e = with(no_scope)
        .zone_for(&name(NAME))
        .await
        .expect_err("401 scope");
    assert!(e.to_string().contains("Domains Read/Write"), "{e}");
    for (token, says) in [(read_only_scope, "Domains Read/Write"), (restricted, "403")] {
        let p = with(token);
        let zone = zone_of(&p, NAME).await;
        let e = p
            .publish(&zone, &set(&[(NAME, "v")]))
            .await
            .expect_err("refused");
        assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
        assert!(e.to_string().contains(says), "{e}");
    }
    assert!(fake.txt_values(NAME).is_empty());
}

#[tokio::test]
async fn longest_visible_domain_across_pages_and_names_only_when_missing() {
    let mut zones: Vec<String> = (0..520).map(|i| format!("z{i:03}.test")).collect();
    zones.extend([
        "example.test".into(),
        "sub.example.test".into(),
        "hidden.test".into(),
    ]);
    let visible: Vec<String> = zones
        .iter()
        .filter(|z| *z != "hidden.test")
        .cloned()
        .collect();
    let fake = fake(LinodeFakeOptions {
        zones,
        tokens: vec![FakeToken {
            zones: Some(visible),
            ..FakeToken::full(DEFAULT_TOKEN)
        }],
        ..Default::default()
    });
    let p = provider(&settings(&fake));
    let z = zone_of(&p, "_acme-challenge.www.sub.example.test").await;
    assert_eq!(z.name, name("sub.example.test"));
    assert_eq!(
        z.provider_id,
        Some(fake.domain_id("sub.example.test").to_string())
    );
    assert_eq!(zone_of(&p, NAME).await.name, name("example.test"));
    assert_eq!(
        pages_read(&fake, "/domains"),
        ["1", "2", "1", "2"],
        "522 domains, 500 a page"
    );
    let e = p
        .zone_for(&name("_acme-challenge.hidden.test"))
        .await
        .expect_err("hidden");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("hidden.test") && text.contains("example.test") && text.contains("in all"),
        "{text}"
    );
    assert!(!text.contains(DEFAULT_TOKEN));
}

#[tokio::test]
async fn zone_setting_asks_for_that_domain_only() {
    let fake = fake(LinodeFakeOptions {
        zones: vec!["example.test".into(), "other.test".into()],
        ..Default::default()
    });
    let p = provider(&LinodeSettings {
        zone: Some("example.test".into()),
        ..settings(&fake)
    });
    let zone = zone_of(&p, NAME).await;
    p.publish(&zone, &set(&[(NAME, "v")]))
        .await
        .expect("publish");
    let lookup = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/domains")
        .expect("lookup");
    assert!(
        lookup
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-filter") && v.contains("example.test"))
    );
    let e = p
        .zone_for(&name("_acme-challenge.other.test"))
        .await
        .expect_err("outside");
    assert!(e.to_string().contains("LINODE_ZONE"), "{e}");
    let unseen = provider(&LinodeSettings {
        zone: Some("gone.test".into()),
        ..settings(&fake)
    });
    let e = unseen.zone_for(&name("_acme-challenge.gone.test")).await;
    let e = e.expect_err("not visible").to_string();
    assert!(e.contains("gone.test (LINODE_ZONE) is visible"), "{e}");
    // A zone known by name only (found through DNS) is looked up by name; a gone one is named.
    let p = provider(&settings(&fake));
    let by_name = Zone::new(name("example.test"));
    p.unpublish(&by_name, &set(&[(NAME, "v")]))
        .await
        .expect("unpublish");
    assert!(fake.txt_values(NAME).is_empty());
    let gone = Zone::new(name("gone.test"));
    let e = p
        .publish(&gone, &set(&[("_acme-challenge.gone.test", "v")]))
        .await
        .expect_err("gone");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
    let stale = Zone {
        provider_id: Some("999".into()),
        ..Zone::new(name("example.test"))
    };
    let e = p
        .publish(&stale, &set(&[(NAME, "v")]))
        .await
        .expect_err("404");
    assert!(matches!(e, ProviderError::ZoneNotFound { .. }), "{e:?}");
}
